//! `RUN --mount=type=ssh`: the step sees an SSH agent socket that forwards
//! to an agent of the host (`strata build --ssh ID=SOCKET`).
//!
//! As BuildKit, the socket inside the step is not the host's own: a proxy
//! socket is made for the step with the mount's `uid`, `gid` and `mode`
//! (so a non-root `USER` can use it without the host socket changing
//! hands), and each connection to it is relayed to the host agent. The
//! proxy ends with the step.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// A listening proxy socket relaying to a host agent; stops when dropped.
#[derive(Debug)]
pub(crate) struct AgentProxy {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    // Last: removed after `drop` stopped the thread. A short path in the
    // system's temp dir, since socket paths are limited to 107 bytes.
    _dir: tempfile::TempDir,
}

impl AgentProxy {
    /// Listens on a new socket (owned by `uid`:`gid` with `mode`) and relays
    /// each connection to the agent at `agent`.
    pub(crate) fn start(agent: &Path, uid: u32, gid: u32, mode: u32) -> io::Result<AgentProxy> {
        // Fail now, not in the step, when the agent is not there.
        UnixStream::connect(agent)?;
        let dir = tempfile::Builder::new().prefix("strata-ssh-").tempdir()?;
        let path = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&path)?;
        std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o7777))?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            let agent = agent.to_path_buf();
            std::thread::Builder::new()
                .name("ssh-agent-proxy".into())
                .spawn(move || serve(&listener, &agent, &stop))?
        };
        Ok(AgentProxy {
            path,
            stop,
            thread: Some(thread),
            _dir: dir,
        })
    }

    /// The proxy socket on the host.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for AgentProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = UnixStream::connect(&self.path);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(listener: &UnixListener, agent: &Path, stop: &AtomicBool) {
    for client in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(upstream) = UnixStream::connect(agent) else {
            continue;
        };
        relay(client, upstream);
    }
}

/// Copies both ways until either side closes; the threads end with the
/// connection (the step's processes die with the step).
fn relay(client: UnixStream, upstream: UnixStream) {
    let pairs = [
        (client.try_clone(), upstream.try_clone()),
        (upstream.try_clone(), client.try_clone()),
    ];
    for pair in pairs {
        if let (Ok(mut from), Ok(mut to)) = pair {
            let _ = std::thread::Builder::new()
                .name("ssh-agent-relay".into())
                .spawn(move || {
                    let _ = io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn relays_both_ways_and_stops_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let agent_path = dir.path().join("agent.sock");
        let agent = UnixListener::bind(&agent_path).unwrap();
        let echo = std::thread::spawn(move || {
            // The proxy's probe connection, then the client's.
            let _probe = agent.accept().unwrap();
            let (mut s, _) = agent.accept().unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).unwrap();
            s.write_all(&buf.map(|b| b.to_ascii_uppercase())).unwrap();
        });
        let (uid, gid) = (rustix::process::geteuid(), rustix::process::getegid());
        let proxy = AgentProxy::start(&agent_path, uid.as_raw(), gid.as_raw(), 0o600).unwrap();
        let proxy_path = proxy.path().to_path_buf();
        let md = std::fs::metadata(&proxy_path).unwrap();
        assert_eq!(md.permissions().mode() & 0o777, 0o600);
        let mut c = UnixStream::connect(proxy.path()).unwrap();
        c.write_all(b"hello").unwrap();
        let mut back = [0u8; 5];
        c.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"HELLO");
        echo.join().unwrap();
        drop(proxy);
        assert!(!proxy_path.exists());
    }

    #[test]
    fn a_missing_agent_is_an_error_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let err = AgentProxy::start(&dir.path().join("nothing.sock"), 0, 0, 0o600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
