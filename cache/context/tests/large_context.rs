//! Timing of a large context (20,000 files, ~230 MB): cold hash, then a
//! no-op rebuild with the stat cache loaded from disk. Ignored by default;
//! run with
//! `cargo test -p strata-context --release --test large_context -- --ignored --nocapture`.

#![allow(clippy::unwrap_used)] // test helpers

mod common;

use std::fs;
use std::time::{Duration, Instant};
use strata_context::{BuildContext, ContentHasher, CopyRequest, DigestOptions, StatCache};

fn generate(root: &std::path::Path) -> u64 {
    let mut total = 0u64;
    let small = vec![b'x'; 4096];
    for d in 0..20 {
        for e in 0..20 {
            let dir = root.join(format!("pkg{d:02}/mod{e:02}"));
            fs::create_dir_all(&dir).unwrap();
            for f in 0..49 {
                let mut content = small.clone();
                content.extend_from_slice(format!("{d}/{e}/{f}").as_bytes());
                fs::write(dir.join(format!("file{f:02}.py")), &content).unwrap();
                total += content.len() as u64;
            }
        }
    }
    let big = vec![b'y'; 375 * 1024];
    fs::create_dir_all(root.join("assets")).unwrap();
    for i in 0..400 {
        let mut content = big.clone();
        content.extend_from_slice(&(i as u64).to_le_bytes());
        fs::write(root.join(format!("assets/blob{i:03}.bin")), &content).unwrap();
        total += content.len() as u64;
    }
    fs::write(root.join("requirements.txt"), "django\n").unwrap();
    total
}

fn run(
    root: &std::path::Path,
    cache_dir: &std::path::Path,
    sources: &[String],
    rules: &[strata_plan::IgnoreRule],
) -> (Duration, Duration, Duration, u64, String) {
    let t0 = Instant::now();
    let mut hasher = ContentHasher::new(StatCache::open(cache_dir).unwrap());
    let t_load = t0.elapsed();
    let ctx = BuildContext::new(root, rules).unwrap();
    let sel = ctx
        .select(&CopyRequest {
            sources,
            ..Default::default()
        })
        .unwrap();
    let t_select = t0.elapsed() - t_load;
    let d = hasher.digest(root, &sel, DigestOptions::default()).unwrap();
    hasher.save().unwrap();
    let t_total = t0.elapsed();
    (
        t_load,
        t_select,
        t_total,
        hasher.bytes_read(),
        format!("{} ({} entries)", d.digest, sel.entries.len()),
    )
}

#[test]
#[ignore = "benchmark: writes ~230 MB; run explicitly with --release"]
fn large_context_cold_and_warm() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ctx");
    let cache = dir.path().join("statcache");
    let bytes = generate(&root);
    println!("generated 20,001 files, {} MB", bytes / 1_000_000);
    std::thread::sleep(Duration::from_millis(1100)); // let mtimes age past the racy window

    let all = vec![".".to_string()];
    let (l, s, t, read, digest) = run(&root, &cache, &all, &[]);
    println!(
        "cold  COPY . .: total {t:?} (load {l:?}, select {s:?}), read {} MB, {digest}",
        read / 1_000_000
    );
    for round in 0..3 {
        let (l, s, t, read, digest) = run(&root, &cache, &all, &[]);
        println!(
            "warm{round} COPY . .: total {t:?} (load {l:?}, select {s:?}), read {read} B, {digest}"
        );
        assert_eq!(read, 0);
    }
    let one = vec!["requirements.txt".to_string()];
    let (l, s, t, read, _) = run(&root, &cache, &one, &[]);
    println!("warm  COPY requirements.txt: total {t:?} (load {l:?}, select {s:?}), read {read} B");
    let rules = common::rules(&[
        ".git",
        "**/*.pyc",
        "pkg1*/mod0[0-4]",
        "!pkg10/mod00/file0?.py",
        "*.log",
    ]);
    for round in 0..2 {
        let (l, s, t, read, digest) = run(&root, &cache, &all, &rules);
        println!(
            "warm{round} COPY . . with 5 ignore rules: total {t:?} (load {l:?}, select {s:?}), read {read} B, {digest}"
        );
    }
}
