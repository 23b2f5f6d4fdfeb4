//! Crash safety and concurrency across real processes: the test binary
//! re-runs itself as a child (`--ignored --exact child`) with a role in
//! the environment.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use strata_store::{Digest, Store};

const ROLE: &str = "STRATA_STORE_TEST_ROLE";
const ROOT: &str = "STRATA_STORE_TEST_ROOT";

fn spawn(role: &str, root: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, role)
        .env(ROOT, root)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// The child side; does nothing unless started by a test below.
#[test]
#[ignore = "run as a child process by the other tests"]
fn child() {
    let (Ok(role), Some(root)) = (std::env::var(ROLE), std::env::var_os(ROOT)) else {
        return;
    };
    let store = Store::open(root).unwrap();
    if role == "partial-writer" {
        let mut w = store.blob_writer().unwrap();
        w.write_all(&[42u8; 300_000]).unwrap();
        w.flush().unwrap();
        println!("READY");
        std::io::stdout().flush().unwrap();
        std::thread::sleep(std::time::Duration::from_secs(600));
    } else if let Some(prefix) = role.strip_prefix("tagger-") {
        let image = common::minimal_image(&store, prefix);
        for i in 0..15 {
            store
                .set_tag(&format!("{prefix}/app:{i}"), &image.manifest)
                .unwrap();
        }
    }
}

#[test]
fn a_killed_writer_leaves_no_blob_and_its_temp_file_can_be_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut child = spawn("partial-writer", dir.path());
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let ready = stdout.lines().any(|l| l.unwrap().contains("READY"));
    assert!(ready, "the child did not start writing");

    // While it writes, its temp file is in use and not a blob.
    let temps = store.temp_files().unwrap();
    assert_eq!(temps.len(), 1, "{temps:?}");
    assert!(temps[0].in_use);
    assert!(store.clean_temp().unwrap().is_empty());
    assert!(!store.has_blob(&Digest::of(&[42u8; 300_000])));

    child.kill().unwrap(); // SIGKILL: no destructor runs
    child.wait().unwrap();

    let (blobs, stray) = store.list_blobs().unwrap();
    assert!(blobs.is_empty() && stray.is_empty(), "{blobs:?} {stray:?}");
    let report = store.check().unwrap();
    assert_eq!(report.temp_files.len(), 1);
    assert!(!report.temp_files[0].in_use);
    assert!(!report.is_clean());
    let removed = store.clean_temp().unwrap();
    assert_eq!(removed, vec![report.temp_files[0].path.clone()]);
    assert!(store.check().unwrap().is_clean());
}

#[test]
fn processes_tagging_at_once_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let children: Vec<Child> = (0..4)
        .map(|i| spawn(&format!("tagger-p{i}"), dir.path()))
        .collect();
    // Readers meanwhile always see a whole index.json.
    for _ in 0..50 {
        store.tags().unwrap();
    }
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let tags = store.tags().unwrap();
    assert_eq!(tags.len(), 60);
    let names: Vec<&str> = tags.iter().map(|t| t.0.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(names.contains(&"p3/app:14"));
    assert!(store.check().unwrap().is_clean());
}
