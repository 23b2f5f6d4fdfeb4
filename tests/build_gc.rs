#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
//! The cache's upkeep: bytes written in the summary, `strata cache
//! ls|du|prune` (policies, tagged images, running builds) and `strata
//! cache verify`.

mod common;

use common::{Env, dockerfile_context, run};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

/// Blob digests (hex) of the store with their sizes.
fn blobs(root: &Path) -> BTreeMap<String, u64> {
    std::fs::read_dir(root.join("blobs/sha256"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                e.metadata().unwrap().len(),
            )
        })
        .collect()
}

/// `strata cache ls --format json`.
fn cache_ls(env: &Env) -> Vec<Value> {
    let out = run(env.strata().args(["cache", "ls", "--format", "json"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn cache_keys(env: &Env) -> Vec<String> {
    let mut keys: Vec<String> = cache_ls(env)
        .iter()
        .map(|v| v["key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    keys
}

/// `strata cache ARGS`, which must succeed; returns stdout.
fn cache(env: &Env, args: &[&str]) -> String {
    let out = run(env.strata().arg("cache").args(args));
    assert!(
        out.status.success(),
        "cache {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The key of the step whose instruction starts with `prefix`.
fn key_of(build: &common::Build, prefix: &str) -> String {
    build
        .steps()
        .iter()
        .find(|s| s["instruction"].as_str().unwrap().starts_with(prefix))
        .and_then(|s| s["key"].as_str())
        .unwrap_or_else(|| panic!("no key for {prefix}"))
        .to_string()
}

fn record_path(env: &Env, key: &str) -> PathBuf {
    env.root
        .join("cache-v1/records")
        .join(&key[..2])
        .join(format!("{key}.json"))
}

/// Makes a record look last used `secs` ago.
fn age_record(env: &Env, key: &str, secs: u64) {
    let when = SystemTime::now() - Duration::from_secs(secs);
    std::fs::File::options()
        .append(true)
        .open(record_path(env, key))
        .unwrap()
        .set_modified(when)
        .unwrap();
}

/// A test world whose cache starts empty (the template store warms its
/// own cache up).
fn empty_cache_env() -> Env {
    let env = Env::new();
    cache(&env, &["prune", "--all"]);
    assert!(cache_keys(&env).is_empty());
    env
}

fn snapshot_dirs(env: &Env) -> Vec<String> {
    std::fs::read_dir(env.root.join("snapshots-v1"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| !n.starts_with(".tmp-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn summary_reports_the_layer_bytes_a_build_wrote() {
    let env = empty_cache_env();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\nRUN echo one > /one\nCOPY f.txt /f.txt\n",
        &[("f.txt", "payload\n")],
    );
    let before = blobs(&env.root);
    let first = env.build(&ctx, &["-t", "app"]).ok();
    let after = blobs(&env.root);
    let meta = &first.metadata;
    let not_layers = [
        meta["containerimage.digest"].as_str().unwrap(),
        meta["containerimage.config.digest"].as_str().unwrap(),
    ];
    let new_layer_bytes: u64 = after
        .iter()
        .filter(|(hex, _)| !before.contains_key(*hex))
        .filter(|(hex, _)| !not_layers.iter().any(|d| d.ends_with(hex.as_str())))
        .map(|(_, size)| size)
        .sum();
    assert!(new_layer_bytes > 0);
    assert_eq!(
        meta["strata.summary"]["bytesWritten"].as_u64(),
        Some(new_layer_bytes),
        "{meta:#}"
    );
    assert!(first.stderr.contains("wrote "), "{}", first.stderr);
    let again = env.build(&ctx, &["-t", "app"]).ok();
    assert_eq!(again.metadata["strata.summary"]["bytesWritten"], 0);
}

#[test]
fn cache_ls_and_du_show_the_records() {
    let env = empty_cache_env();
    let ctx = dockerfile_context(&env, "ctx", "FROM busybox\nRUN echo hi > /hi\n", &[]);
    let build = env.build(&ctx, &[]).ok();
    let key = key_of(&build, "RUN echo hi");
    let listed = cache_ls(&env);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["key"], key.as_str());
    assert_eq!(listed[0]["description"], "RUN echo hi > /hi");
    assert!(listed[0]["size"].as_u64().unwrap() > 0);
    assert_eq!(listed[0]["replayable"], true);
    let table = cache(&env, &["ls"]);
    assert!(
        table.contains(&key[..12]) && table.contains("RUN echo hi > /hi"),
        "{table}"
    );
    let du = cache(&env, &["du"]);
    assert!(
        du.contains("snapshots") && du.contains("reclaimable"),
        "{du}"
    );
}

#[test]
fn prune_all_keeps_tagged_images_and_the_store_clean_and_a_rebuild_misses() {
    let env = empty_cache_env();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\nCOPY f.txt /f.txt\nRUN echo built > /built\nCMD [\"cat\", \"/built\"]\n",
        &[("f.txt", "f\n")],
    );
    env.build(&ctx, &["-t", "app"]).ok();
    let statcaches = || {
        std::fs::read_dir(env.root.join("statcache-v1"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert_eq!(statcaches(), 1);
    // A second, untagged result: its blobs go with its records.
    let other = dockerfile_context(&env, "other", "FROM busybox\nRUN echo x > /x\n", &[]);
    env.build(&other, &[]).ok();
    let out = cache(&env, &["prune", "--all"]);
    assert!(out.contains("removed 3 cache records"), "{out}");
    assert!(out.contains("histories of earlier builds"), "{out}");
    let histories = std::fs::read_dir(env.root.join("cache-v1/history")).expect("history dir");
    assert_eq!(histories.count(), 0);
    assert!(cache_keys(&env).is_empty());
    assert!(snapshot_dirs(&env).is_empty(), "{:?}", snapshot_dirs(&env));
    env.assert_store_clean();
    assert_eq!(statcaches(), 0);
    // The tagged image is whole: its files read back, and a build on top
    // of it runs (its layers are extracted again from the blobs).
    assert_eq!(env.image("app").file("/built").text(), "built\n");
    let on_top = dockerfile_context(&env, "top", "FROM app\nRUN cat /built > /copy\n", &[]);
    env.build(&on_top, &["-t", "top"]).ok();
    assert_eq!(env.image("top").file("/copy").text(), "built\n");
    // The cache is gone: the same build runs its step again.
    let rebuilt = env.build(&ctx, &["-t", "app"]).ok();
    assert_eq!(
        rebuilt.ran(),
        vec![
            "COPY f.txt /f.txt".to_string(),
            "RUN echo built > /built".to_string()
        ]
    );
    env.assert_store_clean();
}

#[test]
fn prune_keep_duration_removes_only_records_unused_for_that_long() {
    let env = empty_cache_env();
    let old = dockerfile_context(&env, "old", "FROM busybox\nRUN echo old > /old\n", &[]);
    let new = dockerfile_context(&env, "new", "FROM busybox\nRUN echo new > /new\n", &[]);
    let old_key = key_of(&env.build(&old, &[]).ok(), "RUN echo old");
    let new_key = key_of(&env.build(&new, &[]).ok(), "RUN echo new");
    age_record(&env, &old_key, 3 * 86_400);
    age_record(&env, &new_key, 3600);
    cache(&env, &["prune", "--keep-duration", "24h"]);
    assert_eq!(cache_keys(&env), vec![new_key.clone()]);
    env.assert_store_clean();
    assert_eq!(env.build(&new, &[]).ok().ran(), Vec::<String>::new());
    assert_eq!(
        env.build(&old, &[]).ok().ran(),
        vec!["RUN echo old > /old".to_string()]
    );
    // docker's spelling works too.
    age_record(&env, &new_key, 2 * 86_400);
    cache(&env, &["prune", "--filter", "until=1d"]);
    assert!(!cache_keys(&env).contains(&new_key));
}

#[test]
fn prune_keep_storage_removes_least_recently_used_records_first() {
    let env = empty_cache_env();
    // Random bytes do not compress: each layer is ~300 kB as a blob and
    // as a snapshot.
    let make = |name: &str| {
        dockerfile_context(
            &env,
            name,
            &format!("FROM busybox\nRUN head -c 300000 /dev/urandom > /{name}\n"),
            &[],
        )
    };
    let (a, b, c) = (make("a"), make("b"), make("c"));
    let ka = key_of(&env.build(&a, &[]).ok(), "RUN");
    let kb = key_of(&env.build(&b, &[]).ok(), "RUN");
    let kc = key_of(&env.build(&c, &[]).ok(), "RUN");
    age_record(&env, &ka, 300);
    age_record(&env, &kb, 100);
    age_record(&env, &kc, 200);
    // Room for one record (blob + snapshot ≈ 600 kB) but not two.
    cache(&env, &["prune", "--keep-storage", "900KB"]);
    assert_eq!(cache_keys(&env), vec![kb]);
    env.assert_store_clean();
    cache(&env, &["prune", "--keep-storage", "0"]);
    assert!(cache_keys(&env).is_empty());
}

#[test]
fn prune_during_a_running_build_does_not_break_it() {
    let env = empty_cache_env();
    // The second RUN waits (up to a minute) for a file the test creates
    // in the context, which it sees through a read-only bind mount.
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\nRUN echo one > /one\nRUN --mount=type=bind,target=/ctx i=0; \\\n  while [ ! -e /ctx/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; \\\n  cat /one > /two\n",
        &[],
    );
    let child = env
        .strata()
        .args(["build", "--progress=plain", "-t", "app"])
        .arg(&ctx)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first step is recorded: the build is now waiting on
    // a parent that only its lease protects.
    let deadline = Instant::now() + Duration::from_secs(60);
    while cache_keys(&env).is_empty() {
        assert!(Instant::now() < deadline, "the build never recorded a step");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = cache(&env, &["prune", "--all"]);
    std::fs::write(ctx.join("go"), "").unwrap();
    assert!(out.contains("running build"), "{out}");
    let done = child.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(env.image("app").file("/two").text(), "one\n");
    env.assert_store_clean();
    // With the build over, its cache can go; the tagged image stays whole.
    cache(&env, &["prune", "--all"]);
    env.assert_store_clean();
    assert_eq!(env.image("app").file("/one").text(), "one\n");
}

#[test]
fn cache_mounts_go_only_with_mounts_or_all() {
    let env = empty_cache_env();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\nRUN --mount=type=cache,target=/c,id=pip echo kept > /c/f\n",
        &[],
    );
    env.build(&ctx, &[]).ok();
    let mounts = || {
        std::fs::read_dir(env.root.join("cache-mounts-v1"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_dir())
            .count()
    };
    assert_eq!(mounts(), 1);
    cache(&env, &["prune", "--keep-storage", "0"]);
    assert_eq!(mounts(), 1, "a prune without --mounts keeps cache mounts");
    let out = cache(&env, &["prune", "--mounts"]);
    assert!(out.contains("removed 1 cache mounts"), "{out}");
    assert_eq!(mounts(), 0);
}

/// Regression: a record whose blob was removed behind the cache's back was
/// a hit, and the build failed reading the blob.
#[test]
fn a_cache_hit_whose_blob_is_gone_runs_the_step() {
    let env = empty_cache_env();
    let ctx = dockerfile_context(&env, "ctx", "FROM busybox\nRUN echo hi > /hi\n", &[]);
    env.build(&ctx, &[]).ok();
    let listed = cache_ls(&env);
    for blob in listed[0]["blobs"].as_array().unwrap() {
        let hex = blob.as_str().unwrap().trim_start_matches("sha256:");
        std::fs::remove_file(env.root.join("blobs/sha256").join(hex)).unwrap();
    }
    let again = env.build(&ctx, &["-t", "app"]).ok();
    assert_eq!(again.ran(), vec!["RUN echo hi > /hi".to_string()]);
    assert_eq!(env.image("app").file("/hi").text(), "hi\n");
    env.assert_store_clean();
}

#[test]
fn verify_flags_a_nondeterministic_run_and_passes_a_deterministic_one() {
    let env = empty_cache_env();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\nRUN echo same > /same\nRUN date +%N > /n && cat /proc/sys/kernel/random/uuid >> /n\n",
        &[],
    );
    env.build(&ctx, &["-t", "app"]).ok();
    let out = run(env.strata().args(["cache", "verify", "--all"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
            .to_string()
    };
    assert!(line("RUN date").starts_with("NONDETERMINISTIC"), "{text}");
    assert!(line("differs:").ends_with("differs: /n"), "{text}");
    assert!(line("RUN echo same").starts_with("ok"), "{text}");
    assert!(text.contains("1 same, 1 nondeterministic"), "{text}");
    env.assert_store_clean();

    // A store whose steps are all deterministic passes.
    let env = empty_cache_env();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\nRUN mkdir -p /a/b && echo x > /a/b/x && ln -s x /a/b/y\n",
        &[],
    );
    env.build(&ctx, &[]).ok();
    let out = run(env.strata().args(["cache", "verify", "--sample", "5"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 same, 0 nondeterministic"), "{text}");
}
