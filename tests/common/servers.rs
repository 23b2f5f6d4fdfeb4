//! Servers the end-to-end tests of remote sources start on 127.0.0.1: a
//! tiny HTTP server and `git daemon`, and a git helper with a fixed
//! identity and date.

use super::run_ok;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A file the server hands out: its bytes, `Last-Modified` and `ETag`.
#[derive(Clone)]
pub struct Served {
    body: Vec<u8>,
    last_modified: Option<&'static str>,
    etag: Option<String>,
}

/// A tiny HTTP/1.1 server on 127.0.0.1 (one thread, one request per
/// connection), counting the requests it answers and the bodies it sends.
/// It answers `304 Not Modified` to a matching `If-None-Match` (or, for a
/// file without an ETag, `If-Modified-Since`).
pub struct Server {
    pub port: u16,
    files: Arc<Mutex<BTreeMap<String, Served>>>,
    requests: Arc<AtomicUsize>,
    bodies: Arc<AtomicUsize>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let files: Arc<Mutex<BTreeMap<String, Served>>> = Arc::default();
        let requests = Arc::new(AtomicUsize::new(0));
        let bodies = Arc::new(AtomicUsize::new(0));
        let (f, r, b) = (files.clone(), requests.clone(), bodies.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                r.fetch_add(1, Ordering::SeqCst);
                answer(stream, &f, &b);
            }
        });
        Server {
            port,
            files,
            requests,
            bodies,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn put(&self, path: &str, body: &[u8], last_modified: Option<&'static str>) {
        self.put_tagged(path, body, last_modified, None);
    }

    pub fn put_tagged(
        &self,
        path: &str,
        body: &[u8],
        last_modified: Option<&'static str>,
        etag: Option<&str>,
    ) {
        self.files.lock().unwrap().insert(
            path.to_string(),
            Served {
                body: body.to_vec(),
                last_modified,
                etag: etag.map(str::to_string),
            },
        );
    }

    pub fn bodies(&self) -> usize {
        self.bodies.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn answer(stream: TcpStream, files: &Mutex<BTreeMap<String, Served>>, bodies: &AtomicUsize) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {
                if let Some((k, v)) = line.split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                }
            }
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let path = target.split('?').next().unwrap_or("/");
    let served = files.lock().unwrap().get(path).cloned();
    let mut stream = reader.into_inner();
    let unchanged = served.as_ref().is_some_and(|s| match &s.etag {
        Some(etag) => headers.get("if-none-match") == Some(etag),
        None => {
            s.last_modified.is_some()
                && headers.get("if-modified-since").map(String::as_str) == s.last_modified
        }
    });
    let _ = match served {
        Some(_) if unchanged => {
            stream.write_all(b"HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n")
        }
        Some(s) => {
            bodies.fetch_add(1, Ordering::SeqCst);
            let mut head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n",
                s.body.len()
            );
            if let Some(lm) = s.last_modified {
                head.push_str(&format!("Last-Modified: {lm}\r\n"));
            }
            if let Some(etag) = &s.etag {
                head.push_str(&format!("ETag: {etag}\r\n"));
            }
            head.push_str("\r\n");
            stream
                .write_all(head.as_bytes())
                .and_then(|()| stream.write_all(&s.body))
        }
        None => stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    };
}

/// `git daemon` serving the repositories under `base` on 127.0.0.1.
pub struct GitDaemon {
    child: Child,
    pub port: u16,
}

impl GitDaemon {
    /// Starts `git-daemon` itself (not the `git daemon` wrapper, which
    /// runs it as a child that killing the wrapper leaves behind) in a
    /// process group of its own, so that dropping it ends the daemon and
    /// the processes it forked per connection.
    pub fn start(base: &Path) -> GitDaemon {
        use std::os::unix::process::CommandExt as _;
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let exec_path = run_ok(Command::new("git").arg("--exec-path"));
        let child = Command::new(Path::new(exec_path.trim()).join("git-daemon"))
            .args(["--reuseaddr", "--export-all", "--listen=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("git-daemon");
        // Wait until it accepts connections (readiness, not a timing check).
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        GitDaemon { child, port }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        use rustix::process::{Pid, Signal, kill_process_group};
        if let Some(group) = Pid::from_raw(self.child.id() as i32) {
            let _ = kill_process_group(group, Signal::KILL);
        }
        let _ = self.child.wait();
    }
}

/// Runs git in `repo` with a fixed identity and commit date.
pub fn git(repo: &Path, args: &[&str]) -> String {
    run_ok(
        Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(["-c", "init.defaultBranch=main", "-c", "tag.gpgSign=false"])
            .args(args)
            .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z"),
    )
}
