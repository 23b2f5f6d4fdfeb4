//! A real registry for end-to-end tests: Debian's `docker-registry` on
//! 127.0.0.1 (no auth, or htpasswd basic auth), killed on drop.

use super::{have_tool, run_ok};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// User and password of the htpasswd registry.
pub const USER: (&str, &str) = ("alice", "s3cret");

/// A running `docker-registry serve`.
pub struct Registry {
    child: Child,
    port: u16,
    /// Holds the storage, config, log and htpasswd file.
    pub dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry, with htpasswd basic auth for [`USER`] when `auth`.
    /// `None` outside CI when `docker-registry` (or `htpasswd`) is missing.
    pub fn start(auth: bool) -> Option<Registry> {
        if !have_tool("docker-registry") || (auth && !have_tool("htpasswd")) {
            return None;
        }
        let dir = tempfile::tempdir().expect("registry dir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let auth_yaml = if auth {
            let line = run_ok(Command::new("htpasswd").args(["-Bbn", USER.0, USER.1]));
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, line).expect("htpasswd file");
            format!(
                "auth:\n  htpasswd:\n    realm: strata-test\n    path: {}\n",
                file.display()
            )
        } else {
            String::new()
        };
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: strata-test\n{auth_yaml}",
                dir.path().join("data").display()
            ),
        )
        .expect("registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("docker-registry starts");
        let reg = Registry { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(reg)
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A docker `config.json` directory with [`USER`]'s credentials for
    /// this registry (for `DOCKER_CONFIG`).
    pub fn docker_config(&self) -> PathBuf {
        let dir = self.dir.path().join("docker-config");
        std::fs::create_dir_all(&dir).expect("docker config dir");
        let auth = base64(format!("{}:{}", USER.0, USER.1).as_bytes());
        std::fs::write(
            dir.join("config.json"),
            format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, self.host()),
        )
        .expect("config.json");
        dir
    }

    /// Whether the registry's storage holds a blob.
    pub fn has_blob(&self, digest: &str) -> bool {
        let hex = digest.trim_start_matches("sha256:");
        Path::new(&self.dir.path().join("data/docker/registry/v2/blobs/sha256"))
            .join(&hex[..2])
            .join(hex)
            .join("data")
            .is_file()
    }

    /// What the registry logged so far (an access line per request).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
