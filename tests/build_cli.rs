//! `strata build` inputs and outputs as docker's: `-f -`, a context tar
//! on stdin, `-f` outside the context with `NAME.dockerignore`, `-q`,
//! `--iidfile`, and `strata images`.

mod common;

use common::{Env, dockerfile_context, run, write};
use std::io::Write as _;
use std::process::{Command, Stdio};

fn with_stdin(mut cmd: Command, input: &[u8]) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn strata");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

#[test]
fn dockerfile_from_stdin_and_quiet_prints_only_the_image_id() {
    let env = Env::new();
    let ctx = env.context("ctx", &[("f.txt", "from context\n")]);
    let mut cmd = env.strata();
    cmd.args(["build", "-q", "-t", "stdin", "-f", "-"])
        .arg(&ctx);
    let out = with_stdin(cmd, b"FROM busybox\nCOPY f.txt /f.txt\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let image = env.image("stdin");
    assert_eq!(stdout, format!("{}\n", image.config_digest));
    assert_eq!(image.file("/f.txt").text(), "from context\n");
}

#[test]
fn context_tar_from_stdin() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\nCOPY . /in/\n",
        &[("a.txt", "a\n"), ("sub/b.txt", "b\n")],
    );
    let tar = run(Command::new("tar")
        .arg("-C")
        .arg(&ctx)
        .args(["-czf", "-", "."]));
    assert!(tar.status.success());
    let mut cmd = env.strata();
    cmd.args(["build", "--progress=plain", "-t", "tarctx", "-"]);
    let out = with_stdin(cmd, &tar.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = env.image("tarctx").files();
    assert_eq!(files["in/a.txt"].text(), "a\n");
    assert_eq!(files["in/sub/b.txt"].text(), "b\n");
    assert_eq!(files["in/Dockerfile"].text(), "FROM busybox\nCOPY . /in/\n");
}

#[test]
fn dockerfile_outside_the_context_with_its_own_dockerignore() {
    let env = Env::new();
    let ctx = env.context(
        "ctx",
        &[
            ("keep.txt", "keep\n"),
            ("drop.txt", "drop\n"),
            (".dockerignore", "keep.txt\n"),
        ],
    );
    let dockerfile = env.path("build/app.Dockerfile");
    write(&dockerfile, "FROM busybox\nCOPY . /in/\n");
    // NAME.dockerignore beside the Dockerfile wins over the context's.
    write(&env.path("build/app.Dockerfile.dockerignore"), "drop.txt\n");
    let df = dockerfile.to_string_lossy().into_owned();
    env.build(&ctx, &["-t", "outside", "-f", &df]).ok();
    let files = env.image("outside").files();
    let copied: Vec<&str> = files.keys().filter_map(|k| k.strip_prefix("in/")).collect();
    assert_eq!(copied, [".dockerignore", "keep.txt"]);
}

#[test]
fn images_lists_what_builds_tagged() {
    let env = Env::new();
    let ctx = dockerfile_context(&env, "ctx", "FROM busybox\nRUN echo x > /x\n", &[]);
    let b = env
        .build(&ctx, &["-t", "one", "-t", "example.com/team/two:v2"])
        .ok();
    let out = common::run_ok(env.strata().args(["images", "--json"]));
    for name in ["one", "example.com/team/two:v2", "busybox"] {
        assert!(out.contains(name), "{name} in {out}");
    }
    assert!(out.contains(&b.manifest_digest()), "{out}");
    let quiet = common::run_ok(env.strata().args(["images", "-q"]));
    assert!(quiet.contains(&b.manifest_digest()), "{quiet}");
    // rmi removes the name, and the image stays under its other name.
    common::run_ok(env.strata().args(["rmi", "one"]));
    let out = common::run_ok(env.strata().args(["images", "--json"]));
    assert!(!out.contains("\"one"), "{out}");
    assert_eq!(
        env.image("example.com/team/two:v2").manifest_digest,
        b.manifest_digest()
    );
    env.assert_store_clean();
}

/// Regression: `-t UPPER:tag` (or a tag with a space or a digest) built
/// and wrote the bad name into the store; buildx refuses it before
/// building.
#[test]
fn invalid_tags_are_refused_before_building() {
    let env = Env::new();
    let ctx = dockerfile_context(&env, "ctx", "FROM busybox\nRUN touch /ran\n", &[]);
    for (tag, says) in [
        ("UPPER:tag", "repository name (UPPER) must be lowercase"),
        ("ok:bad tag", "invalid tag \"bad tag\""),
        (
            "a@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "build tag cannot contain a digest",
        ),
    ] {
        let b = env.build(&ctx, &["-t", tag]).failed();
        assert!(
            b.stderr.contains(&format!("invalid tag {tag:?}")),
            "{}",
            b.stderr
        );
        assert!(b.stderr.contains(says), "{}", b.stderr);
        assert!(!b.stderr.contains("RUN touch"), "nothing ran: {}", b.stderr);
    }
    let images = run(env.strata().arg("images"));
    let listed = String::from_utf8_lossy(&images.stdout);
    assert!(!listed.contains("UPPER"), "{listed}");
}
