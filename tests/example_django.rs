//! Issue 5's "Must hold" items 1–10, end to end on `examples/django`
//! itself: its files copied per test, built on the test base image
//! (busybox with a fake `pip`, no network; `tests/common/django.rs`) given
//! through `--build-arg BASE=…`, with the `cacert` secret its Dockerfile
//! mounts.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::django::{self, COPY_ALL, COPY_REQ, INSTALL, INSTALLED, WORKDIR};
use common::kill::{kill_sleepers, spawn_until_started, wait_with_timeout};
use common::{Build, Env, touch_tree, write};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

const ALL: [&str; 4] = [WORKDIR, COPY_REQ, INSTALL, COPY_ALL];
const REQUIREMENTS: &str = "Django>=4.2,<5.0\n";

/// Instructions with the (multi-line) install RUN shortened to [`INSTALL`].
fn short(steps: Vec<String>) -> Vec<String> {
    steps
        .into_iter()
        .map(|s| {
            if s.starts_with(INSTALL) {
                INSTALL.to_string()
            } else {
                s
            }
        })
        .collect()
}

fn ran(b: &Build) -> Vec<String> {
    short(b.ran())
}

fn cached(b: &Build) -> Vec<String> {
    short(b.cached())
}

fn all_cached(b: &Build) {
    assert_eq!(ran(b), Vec::<String>::new(), "{}", b.stderr);
    assert_eq!(cached(b), ALL);
}

/// The example's own text of one of its files.
fn original(rel: &str) -> String {
    std::fs::read_to_string(django::source().join(rel)).expect("example file")
}

/// Items 1–5 and 7 (and `--no-cache`) in one edit sequence, as a
/// developer makes it.
#[test]
fn the_example_reruns_only_what_each_edit_invalidated() {
    let env = django::env();
    let app = django::copy(&env, "app");
    // What a local run leaves behind, which the example's .dockerignore
    // keeps out of the image (and out of the keys).
    write(&app.join("mysite/__pycache__/views.cpython-311.pyc"), "pyc");

    // 1. Cold: every step runs, not built before.
    let cold = django::build(&env, &app, &["-t", "app"]).ok();
    assert_eq!(ran(&cold), ALL);
    for step in ALL {
        assert_eq!(cold.reason(step), "not built before");
    }
    assert_eq!(cold.metadata["strata.summary"]["run"], 4);
    assert!(
        cold.stderr
            .contains("Successfully installed Django>=4.2,<5.0"),
        "the install's output is shown:\n{}",
        cold.stderr
    );
    let image = env.image("app");
    assert_eq!(cold.manifest_digest(), image.manifest_digest);
    assert_eq!(cold.image_id(), image.config_digest);
    let files = image.files();
    assert_eq!(
        files[INSTALLED.trim_start_matches('/')].text(),
        REQUIREMENTS
    );
    assert_eq!(
        files["code/mysite/views.py"].text(),
        original("mysite/views.py")
    );
    assert!(files.contains_key("code/manage.py"));
    assert!(
        !files.contains_key("code/mysite/__pycache__"),
        ".dockerignore holds"
    );
    assert!(
        !files.contains_key("etc/ssl/certs/ca-certificates.crt"),
        "the secret reaches no layer"
    );
    let env_vars = image.runtime_config()["Env"].to_string();
    assert!(env_vars.contains("PYTHONUNBUFFERED=1"), "{env_vars}");

    // 2. Nothing changed: every step cached, the very same image.
    let again = django::build(&env, &app, &["-t", "app"]).ok();
    all_cached(&again);
    assert_eq!(again.metadata["strata.summary"]["hitRate"], 100.0);
    assert_eq!(again.manifest_digest(), cold.manifest_digest());

    // 3. Edit a .py file: only `COPY . /code/` runs, and says why.
    let views = original("mysite/views.py").replace("Hello from", "Hello again from");
    write(&app.join("mysite/views.py"), &views);
    let edit = django::build(&env, &app, &["-t", "app"]).ok();
    assert_eq!(ran(&edit), [COPY_ALL]);
    assert_eq!(edit.reason(COPY_ALL), "1 file changed: mysite/views.py");
    assert_eq!(env.image("app").file("/code/mysite/views.py").text(), views);

    // 4. Add a requirement: the install and what follows run.
    write(
        &app.join("requirements.txt"),
        &format!("{REQUIREMENTS}six\n"),
    );
    let dep = django::build(&env, &app, &["-t", "app"]).ok();
    assert_eq!(cached(&dep), [WORKDIR]);
    assert_eq!(ran(&dep), [COPY_REQ, INSTALL, COPY_ALL]);
    assert_eq!(dep.reason(COPY_REQ), "1 file changed: requirements.txt");
    assert_eq!(
        dep.reason(INSTALL),
        "parent changed: COPY requirements.txt /code/ (1 file changed: requirements.txt)"
    );
    assert_eq!(
        env.image("app").file(INSTALLED).text(),
        format!("{REQUIREMENTS}six\n")
    );

    // 5. `touch` every file (mtime only): every step cached; so is a
    // change to an ignored file.
    touch_tree(&app, "2030-01-01 00:00:00");
    write(
        &app.join("mysite/__pycache__/views.cpython-311.pyc"),
        "pyc 2",
    );
    let touched = django::build(&env, &app, &["-t", "app"]).ok();
    all_cached(&touched);
    assert_eq!(touched.image_id(), dep.image_id());

    // 7. Revert the edits: each hits the earlier result.
    write(&app.join("requirements.txt"), REQUIREMENTS);
    let reverted = django::build(&env, &app, &["-t", "app"]).ok();
    all_cached(&reverted);
    assert_eq!(reverted.image_id(), edit.image_id());
    write(&app.join("mysite/views.py"), &original("mysite/views.py"));
    let back = django::build(&env, &app, &["-t", "app"]).ok();
    all_cached(&back);
    assert_eq!(back.image_id(), cold.image_id());

    // --no-cache: everything runs again.
    let fresh = django::build(&env, &app, &["-t", "app", "--no-cache"]).ok();
    assert_eq!(ran(&fresh), ALL);
    assert_eq!(fresh.reason(INSTALL), "--no-cache");
    env.assert_store_clean();
}

/// Item 6: a copy at another path (new inodes and times, as a fresh
/// clone) hits every step and gives the same image.
#[test]
fn a_copy_of_the_example_at_another_path_hits_every_step() {
    let env = django::env();
    let here = django::copy(&env, "here");
    let first = django::build(&env, &here, &["-t", "app"]).ok();
    assert_eq!(ran(&first), ALL);
    let elsewhere = django::copy(&env, "somewhere/else/clone");
    let clone = django::build(&env, &elsewhere, &["-t", "clone"]).ok();
    all_cached(&clone);
    assert_eq!(clone.manifest_digest(), first.manifest_digest());
}

/// A CA bundle whose line makes the fake pip print "install started" and
/// sleep `seconds` (see `testdata/rootfs/fake-pip.sh`).
fn stalling_cacert(env: &Env, seconds: u32) -> std::path::PathBuf {
    let file = env.path(&format!("cacert-sleep-{seconds}.pem"));
    write(&file, &format!("fake-pip: sleep {seconds}\n"));
    file
}

/// Item 8: two different projects built at once on one store both
/// succeed, and `store check` is clean. Both installs stall a second, so
/// they run at the same time.
#[test]
fn two_different_projects_build_at_once_on_one_store() {
    let env = django::env();
    let a = django::copy(&env, "a");
    let b = django::copy(&env, "b");
    write(&b.join("requirements.txt"), "flask\n");
    write(&b.join("mysite/views.py"), "# project b\n");
    let cacert = stalling_cacert(&env, 1);
    let spawn = |ctx: &Path, tag: &str| {
        env.strata_build()
            .args(["--progress=plain", "-t", tag])
            .args(django::args(&cacert))
            .arg(ctx)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn strata")
    };
    let builds = [spawn(&a, "a"), spawn(&b, "b")];
    for child in builds {
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
    }
    assert_eq!(env.image("a").file(INSTALLED).text(), REQUIREMENTS);
    assert_eq!(env.image("b").file(INSTALLED).text(), "flask\n");
    assert_eq!(
        env.image("b").file("/code/mysite/views.py").text(),
        "# project b\n"
    );
    env.assert_store_clean();
    // Both results are cached afterwards.
    all_cached(&django::build(&env, &a, &["-t", "a"]).ok());
    all_cached(&django::build(&env, &b, &["-t", "b"]).ok());
}

/// Item 9: `kill -9` during the install, then a rebuild: it succeeds, the
/// steps that finished before the kill are cached and sound, and `store
/// check` is clean.
#[test]
fn kill_9_during_the_install_then_a_rebuild_keeps_the_steps_before_it() {
    let env = django::env();
    let app = django::copy(&env, "app");
    let marker = 36;
    let mut child = spawn_until_started(
        env.strata_build()
            .args(["--progress=plain", "-t", "app"])
            .args(django::args(&stalling_cacert(&env, marker)))
            .arg(&app),
    );
    child.kill().expect("SIGKILL");
    wait_with_timeout(&mut child, Duration::from_secs(10));
    kill_sleepers(marker);
    // The secret's content is not in any key: the same steps.
    let b = django::build(&env, &app, &["-t", "app"]).ok();
    assert_eq!(cached(&b), [WORKDIR, COPY_REQ]);
    assert_eq!(ran(&b), [INSTALL, COPY_ALL]);
    let image = env.image("app");
    assert_eq!(image.file(INSTALLED).text(), REQUIREMENTS);
    assert_eq!(image.file("/code/requirements.txt").text(), REQUIREMENTS);
    assert_eq!(common::mounts_under(&env.root), Vec::<String>::new());
    env.assert_store_clean();
}

/// The example's Dockerfile without its RUN instruction (and the comment
/// lines before it).
fn without_run(dockerfile: &str) -> String {
    let mut out = String::new();
    let mut in_run = false;
    for line in dockerfile.lines() {
        in_run = in_run || line.starts_with("RUN ");
        if !in_run {
            out.push_str(line);
            out.push('\n');
        }
        in_run = in_run && line.ends_with('\\');
    }
    out
}

/// Item 10: two clean builds (fresh stores) give the same image digest:
/// without RUN as is, and with `SOURCE_DATE_EPOCH` also with the
/// (deterministic) install.
#[test]
fn clean_builds_in_fresh_stores_give_one_digest() {
    let build = |run: bool| {
        let env = django::env();
        let app = django::copy(&env, "app");
        if !run {
            let dockerfile = std::fs::read_to_string(app.join("Dockerfile")).expect("Dockerfile");
            write(&app.join("Dockerfile"), &without_run(&dockerfile));
        }
        // COPY keeps mtimes; a checkout at one commit has equal ones.
        touch_tree(&app, "2024-01-01 00:00:00");
        let mut args = django::args(&django::cacert(&env));
        args.extend(["-t".to_string(), "repro".to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let b = env
            .build_with(&app, &args, |cmd| {
                if run {
                    cmd.env("SOURCE_DATE_EPOCH", "1700000000");
                }
            })
            .ok();
        assert_eq!(ran(&b).contains(&INSTALL.to_string()), run);
        (b.manifest_digest(), env.image("repro").config)
    };
    let (plain, _) = build(false);
    assert_eq!(build(false).0, plain, "two clean builds without RUN");
    let (dated, config) = build(true);
    assert_eq!(
        build(true).0,
        dated,
        "two clean builds with SOURCE_DATE_EPOCH"
    );
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
}
