//! Failures: a failing RUN, Dockerfile syntax errors, unsupported features,
//! and interrupted builds (SIGINT, SIGKILL) that leave the store usable.
#![allow(clippy::panic)]

mod common;

use common::kill::{kill_sleepers, sleepers, spawn_until_started, wait_with_timeout};
use common::{Env, dockerfile_context, mounts_under, write};
use std::process::Child;
use std::time::{Duration, Instant};

#[test]
fn a_failing_run_names_the_step_the_command_and_the_exit_code() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\nRUN echo fine > /fine\nRUN echo out-line && echo err-line >&2 && exit 3\nRUN echo never\n",
        &[],
    );
    let b = env.build(&ctx, &["-t", "fail"]).failed();
    assert_eq!(b.code, Some(1));
    let last = b.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: "), "{last}");
    assert!(last.contains("[stage-0 3/4]"), "names the step: {last}");
    assert!(last.contains("line 3"), "names the line: {last}");
    assert!(
        last.contains("/bin/sh -c echo out-line && echo err-line >&2 && exit 3"),
        "names the command: {last}"
    );
    assert!(last.contains("exit code: 3"), "{last}");
    // The command's output is shown, stdout and stderr.
    assert!(b.stderr.contains("out-line"), "{}", b.stderr);
    assert!(b.stderr.contains("err-line"), "{}", b.stderr);
    assert!(!b.stderr.contains("never\n"), "later steps do not run");
    // No image is tagged, and the step that succeeded is kept.
    let out = common::run_ok(env.strata().args(["images", "--json"]));
    assert!(!out.contains("fail"), "{out}");
    write(
        &ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo fine > /fine\nRUN echo fixed\n",
    );
    let fixed = env.build(&ctx, &["-t", "fail"]).ok();
    assert_eq!(fixed.cached(), vec!["RUN echo fine > /fine".to_string()]);
    env.assert_store_clean();
}

#[test]
fn dockerfile_syntax_errors_name_file_line_and_column() {
    let env = Env::new();
    let cases = [
        ("FROM busybox\nFOO bar\n", ":2:1:", "unknown instruction"),
        ("FROM busybox\nCOPY --frm=x a b\n", ":2:", "unknown flag"),
        (
            "FROM busybox\n\nRUN --mount=type=bogus true\n",
            ":3:",
            "bogus",
        ),
        ("FROM busybox\nCOPY <<EOF /x\nunterminated\n", ":2:", ""),
    ];
    for (i, (dockerfile, location, message)) in cases.iter().enumerate() {
        let ctx = dockerfile_context(&env, &format!("ctx{i}"), dockerfile, &[]);
        let b = env.build(&ctx, &[]).failed();
        let expected = format!("{}{location}", ctx.join("Dockerfile").display());
        assert!(
            b.stderr.contains(&expected),
            "{dockerfile:?}: expected {expected:?} in\n{}",
            b.stderr
        );
        assert!(b.stderr.contains(message), "{dockerfile:?}:\n{}", b.stderr);
    }
}

#[test]
fn unsupported_features_fail_with_a_clear_message() {
    let env = Env::new();
    let ctx = dockerfile_context(&env, "plat", "FROM busybox\nRUN true\n", &[]);
    let b = env.build(&ctx, &["--platform=linux/s390x"]).failed();
    assert!(b.stderr.contains("linux/s390x"), "{}", b.stderr);
    assert!(b.stderr.contains("not supported"), "{}", b.stderr);
}

#[test]
fn from_platform_of_another_architecture_is_refused() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\nFROM --platform=linux/s390x busybox AS cross\nRUN true\n",
        &[],
    );
    let b = env.build(&ctx, &[]).failed();
    assert!(b.stderr.contains("linux/s390x"), "{}", b.stderr);
    assert!(b.stderr.contains("not supported"), "{}", b.stderr);
    // The file, the FROM line and the stage are named.
    assert!(b.stderr.contains("Dockerfile:2"), "{}", b.stderr);
    assert!(b.stderr.contains("\"cross\""), "{}", b.stderr);
    // Nothing ran.
    assert!(!b.stderr.contains("RUN true"), "{}", b.stderr);
}

#[test]
fn from_platform_of_the_host_builds() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM --platform=$BUILDPLATFORM busybox AS a\nRUN echo a > /a\n\
         FROM --platform=$TARGETPLATFORM a\nRUN cat /a\n",
        &[],
    );
    let b = env.build(&ctx, &["-t", "host"]).ok();
    assert_eq!(b.ran().len(), 2, "{}", b.stderr);
    assert_eq!(env.image("host").file("/a").text(), "a\n");
}

#[test]
fn a_missing_runtime_binary_is_a_clear_error() {
    let env = Env::new();
    let ctx = dockerfile_context(&env, "ctx", "FROM busybox\nRUN true\n", &[]);
    let b = env
        .build(&ctx, &["--runtime", "no-such-runtime-x"])
        .failed();
    assert!(
        b.stderr
            .contains("--runtime no-such-runtime-x: no such executable"),
        "{}",
        b.stderr
    );
    let b = env
        .build(&ctx, &["--runtime", "/nonexistent/runc"])
        .failed();
    assert!(b.stderr.contains("/nonexistent/runc"), "{}", b.stderr);
}

/// Starts a build whose RUN sleeps, and waits until the RUN has started.
fn start_sleeping_build(env: &Env, marker: u32) -> (Child, std::path::PathBuf) {
    let dockerfile = format!(
        "FROM busybox\nARG T={marker}\nRUN echo started && sleep $T && echo slept > /slept\n"
    );
    start_build_until_started(env, &dockerfile)
}

/// Starts a build of `dockerfile` and waits until a step prints a line
/// ending in ` started`.
fn start_build_until_started(env: &Env, dockerfile: &str) -> (Child, std::path::PathBuf) {
    let ctx = dockerfile_context(env, "ctx", dockerfile, &[]);
    let child = spawn_until_started(
        env.strata_build()
            .args(["--progress=plain", "-t", "slow"])
            .arg(&ctx),
    );
    (child, ctx)
}

fn leftovers(env: &Env) -> Vec<String> {
    let snapshots = env.root.join("snapshots-v1");
    std::fs::read_dir(&snapshots)
        .expect("snapshots")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp"))
        .collect()
}

#[test]
fn sigint_during_a_long_run_ends_the_build_promptly_and_cleanly() {
    let env = Env::new();
    let marker = 31;
    let (mut child, ctx) = start_sleeping_build(&env, marker);
    let pid = rustix::process::Pid::from_child(&child);
    let sent = Instant::now();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT");
    let status = wait_with_timeout(&mut child, Duration::from_secs(10));
    assert!(!status.success(), "an interrupted build fails");
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "ended promptly: {:?}",
        sent.elapsed()
    );
    assert_eq!(mounts_under(&env.root), Vec::<String>::new());
    assert_eq!(
        sleepers(marker),
        Vec::<String>::new(),
        "the step's processes are gone"
    );
    assert_eq!(
        leftovers(&env),
        Vec::<String>::new(),
        "no scratch directories left"
    );
    env.assert_store_clean();
    // The store is usable: the same build succeeds with a short sleep.
    let b = env.build(&ctx, &["-t", "slow", "--build-arg", "T=0"]).ok();
    assert_eq!(b.ran().len(), 1);
}

#[test]
fn sigkill_during_a_run_then_rebuild_succeeds() {
    let env = Env::new();
    let marker = 33;
    let (mut child, ctx) = start_sleeping_build(&env, marker);
    child.kill().expect("SIGKILL");
    let status = wait_with_timeout(&mut child, Duration::from_secs(10));
    assert!(!status.success());
    assert_eq!(mounts_under(&env.root), Vec::<String>::new());
    // A safety net only: sigkill_of_the_build_kills_the_step_processes
    // checks that none are left.
    kill_sleepers(marker);
    let b = env.build(&ctx, &["-t", "slow", "--build-arg", "T=0"]).ok();
    assert_eq!(b.ran().len(), 1);
    assert_eq!(env.image("slow").file("/slept").text(), "slept\n");
    // Blobs and references are sound.
    let out = common::run(env.strata().args(["store", "check"]));
    let report = String::from_utf8_lossy(&out.stdout);
    let problems: Vec<&str> = report
        .lines()
        .filter(|l| !l.contains("blobs verified") && !l.starts_with("store "))
        .collect();
    assert_eq!(problems, Vec::<&str>::new(), "{report}");
}

crate::for_each_executor!(
    store_check_is_clean_after_kill_and_rebuild,
    sigkill_of_the_build_kills_the_step_processes,
);

/// A `sleep` argument no other test (nor the other executor's run of the
/// same test) uses.
fn marker(env: &Env, base: u32) -> u32 {
    base + if env.runtime.is_some() { 100 } else { 0 }
}

fn store_check_is_clean_after_kill_and_rebuild(env: Env) {
    let marker = marker(&env, 34);
    let (mut child, ctx) = start_sleeping_build(&env, marker);
    child.kill().expect("SIGKILL");
    wait_with_timeout(&mut child, Duration::from_secs(10));
    kill_sleepers(marker);
    assert!(
        !leftovers(&env).is_empty(),
        "the killed build left its step's scratch directory"
    );
    env.build(&ctx, &["-t", "slow", "--build-arg", "T=0"]).ok();
    assert_eq!(leftovers(&env), Vec::<String>::new());
    env.assert_store_clean();
}

fn sigkill_of_the_build_kills_the_step_processes(env: Env) {
    let marker = marker(&env, 35);
    let (mut child, ctx) = start_sleeping_build(&env, marker);
    child.kill().expect("SIGKILL");
    wait_with_timeout(&mut child, Duration::from_secs(10));
    let started = Instant::now();
    while !sleepers(marker).is_empty() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left = sleepers(marker);
    kill_sleepers(marker);
    assert_eq!(left, Vec::<String>::new(), "orphaned step processes");
    // The next build removes what the killed one left (for runc: its
    // container state and cgroup, through `runc delete --force`).
    env.build(&ctx, &["-t", "slow", "--build-arg", "T=0"]).ok();
}
