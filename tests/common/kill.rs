//! Builds interrupted on purpose: start one until a step says it started,
//! wait with a limit, and find or kill the step processes left behind.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Spawns `cmd` (a `strata build --progress=plain …`) and waits until a
/// step prints a line ending in ` started`.
pub fn spawn_until_started(cmd: &mut Command) -> Child {
    let mut child = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn strata");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.ends_with(" started") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the RUN step started");
    child
}

/// Waits for `child`, killing it and failing after `limit`.
pub fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("strata did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Processes whose command line is `sleep <marker>`.
pub fn sleepers(marker: u32) -> Vec<String> {
    let wanted = format!("sleep\0{marker}\0");
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == wanted.as_bytes()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Kills `sleep <marker>` processes and their parents (the step's shell
/// and init), so a failing test leaves no orphans behind.
pub fn kill_sleepers(marker: u32) {
    for pid in sleepers(marker) {
        let parent = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit(')').next().map(str::to_string))
            .and_then(|s| s.split_whitespace().nth(1).map(str::to_string));
        for p in [Some(pid), parent].into_iter().flatten() {
            let _ = std::process::Command::new("kill")
                .args(["-9", &p])
                .stderr(Stdio::null())
                .status();
        }
    }
}
