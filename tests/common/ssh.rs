//! SSH for the tests: an ssh-agent holding a fresh key, and an sshd on
//! 127.0.0.1 that accepts that key (both killed when dropped).

use super::{Env, run_ok};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// An ssh-agent of the test's own, killed at the end.
pub struct Agent {
    child: Child,
    pub socket: PathBuf,
    /// The key's public half (`ssh-ed25519 AAAA… strata-test`).
    pub public_key: PathBuf,
    /// The key's fingerprint as `ssh-add -l` prints it.
    pub fingerprint: String,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = self.socket.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Waits until `ready` holds (readiness of a process just started, not a
/// timing check), for up to ten seconds.
fn wait_for(mut ready: impl FnMut() -> bool) {
    for _ in 0..200 {
        if ready() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Starts an ssh-agent with a new ed25519 key (comment `strata-test`).
pub fn agent_with_a_key(env: &Env) -> Agent {
    let key = env.path("id_ed25519");
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "strata-test", "-f"])
            .arg(&key),
    );
    // A short socket path: sockets are limited to 107 bytes.
    let dir = tempfile::Builder::new()
        .prefix("strata-agent-")
        .tempdir_in("/tmp")
        .unwrap()
        .keep();
    let socket = dir.join("agent.sock");
    let child = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(|| socket.exists());
    let public_key = key.with_extension("pub");
    let fingerprint = run_ok(Command::new("ssh-keygen").arg("-lf").arg(&public_key));
    let agent = Agent {
        child,
        socket,
        public_key,
        fingerprint: fingerprint.split_whitespace().nth(1).unwrap().to_string(),
    };
    run_ok(
        Command::new("ssh-add")
            .arg(&key)
            .env("SSH_AUTH_SOCK", &agent.socket),
    );
    agent
}

/// The sshd binary (in /usr/sbin, often not on a user's PATH); None
/// outside CI when it is not installed.
pub fn sshd_binary() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/sbin/sshd");
    if path.exists() {
        return Some(path);
    }
    assert!(
        !super::in_ci(),
        "sshd (openssh-server) is required in CI but is not installed"
    );
    eprintln!("note: sshd not installed; skipping this test");
    None
}

/// An sshd on 127.0.0.1 that lets the current user in with one key.
pub struct Sshd {
    child: Child,
    pub port: u16,
    /// The server's host key line (`ssh-ed25519 AAAA…`).
    pub host_key: String,
    /// The user to log in as (the one running the tests).
    pub user: String,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    /// Starts sshd with its files under `dir`, accepting `authorized` (a
    /// public key file).
    pub fn start(sshd: &Path, dir: &Path, authorized: &Path) -> Sshd {
        std::fs::create_dir_all(dir).unwrap();
        // The privilege separation directory sshd insists on.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let host_key = dir.join("host_ed25519");
        run_ok(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&host_key),
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join("sshd_config");
        super::write(
            &config,
            &format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n\
                 StrictModes no\nUsePAM no\nPidFile {}\n",
                host_key.display(),
                authorized.display(),
                dir.join("sshd.pid").display(),
            ),
        );
        let child = Command::new(sshd)
            .args(["-D", "-f"])
            .arg(&config)
            .arg("-E")
            .arg(dir.join("sshd.log"))
            .spawn()
            .unwrap();
        wait_for(|| TcpStream::connect(("127.0.0.1", port)).is_ok());
        let public = std::fs::read_to_string(host_key.with_extension("pub")).unwrap();
        let host_key = public.split_whitespace().take(2).collect::<Vec<_>>();
        let user = run_ok(Command::new("id").arg("-un")).trim().to_string();
        Sshd {
            child,
            port,
            host_key: host_key.join(" "),
            user,
        }
    }

    /// `ssh://USER@127.0.0.1:PORT/ABSOLUTE/PATH`.
    pub fn url(&self, path: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        )
    }
}

/// An agent holding a fresh key and an sshd accepting it, for a test of
/// git over ssh; None outside CI when git, ssh-agent or sshd is missing.
pub fn agent_and_sshd(env: &Env) -> Option<(Agent, Sshd)> {
    if !super::have_tool("git") || !super::have_tool("ssh-agent") {
        return None;
    }
    let sshd_bin = sshd_binary()?;
    let agent = agent_with_a_key(env);
    let sshd = Sshd::start(&sshd_bin, &env.path("sshd"), &agent.public_key);
    Some((agent, sshd))
}
