//! Named build contexts (`--build-context NAME=DIR|docker-image://REF|
//! oci-layout://PATH[:TAG|@DIGEST]`) as BuildKit uses them: the base of a
//! stage (`FROM NAME`), `COPY --from=NAME`, `RUN --mount=from=NAME`, and in
//! place of an image or of a stage of the same name.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, Podman, chmod, dockerfile_context, run_ok, write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `--build-context NAME=SOURCE`.
fn context(name: &str, source: impl AsRef<Path>) -> [String; 2] {
    [
        "--build-context".to_string(),
        format!("{name}={}", source.as_ref().display()),
    ]
}

/// A small root filesystem (busybox, /etc/passwd) in the test directory.
fn rootfs(env: &Env, name: &str) -> PathBuf {
    let dir = env.path(name);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/rootfs/host-rootfs.sh");
    run_ok(
        Command::new("sh")
            .arg(&script)
            .arg(&dir)
            .env("NO_BASH", "1"),
    );
    dir
}

fn args(list: &[&[String]]) -> Vec<String> {
    list.iter().flat_map(|a| a.iter().cloned()).collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn from_a_local_directory_context_is_its_root_filesystem() {
    let env = Env::new();
    let tree = rootfs(&env, "tree");
    write(&tree.join("app/hello.txt"), "hi\n");
    chmod(&tree.join("app/hello.txt"), 0o640);
    std::os::unix::fs::chown(tree.join("app/hello.txt"), Some(1234), Some(1234)).unwrap();
    run_ok(
        Command::new("touch")
            .args(["-h", "-d", "@1000000000"])
            .arg(tree.join("app/hello.txt")),
    );
    write(&tree.join("ignored.txt"), "left out\n");
    write(&tree.join(".dockerignore"), "ignored.txt\n");
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM tree\n\
         RUN cat /app/hello.txt > /app/seen && ls /ignored.txt || echo absent > /app/ignored\n\
         COPY note.txt /app/\n\
         CMD [\"cat\", \"/app/seen\", \"/app/ignored\", \"/app/note.txt\"]\n",
        &[("note.txt", "note\n")],
    );
    let named = context("tree", &tree);
    let docker = env.path("fromdir.tar");
    let out = [
        "-o".to_string(),
        format!("type=docker,dest={},name=fromdir", docker.display()),
    ];
    let all = args(&[&["-t".into(), "fromdir".into()], &named, &out]);
    let first = env.build(&ctx, &strs(&all)).ok();
    let image = env.image("fromdir");
    let hello = image.file("/app/hello.txt");
    assert_eq!(hello.text(), "hi\n");
    assert_eq!(
        (hello.uid, hello.gid, hello.mode & 0o7777, hello.mtime),
        (0, 0, 0o640, 1_000_000_000),
        "root-owned as buildx sends local files, mode and time kept"
    );
    assert_eq!(image.file("/app/seen").text(), "hi\n");
    assert_eq!(image.file("/app/ignored").text(), "absent\n");
    assert!(!image.files().contains_key("ignored.txt"));
    // One layer for the directory, then RUN and COPY; an empty
    // configuration with the default PATH.
    assert_eq!(image.layer_paths.len(), 3);
    let env_list = image.runtime_config()["Env"].to_string();
    assert!(env_list.contains("PATH=/usr/local/sbin"), "{env_list}");

    // A real consumer runs it.
    let pm = Podman::new(&env);
    run_ok(pm.cmd().arg("load").arg("-i").arg(&docker));
    let ran = run_ok(
        pm.cmd()
            .args(["run", "--rm", "--network=none", "fromdir:latest"]),
    );
    assert_eq!(ran, "hi\nabsent\nnote\n");

    // Unchanged, the directory gives the same layer and every step hits.
    let again = env.build(&ctx, &strs(&all)).ok();
    assert_eq!(again.manifest_digest(), first.manifest_digest());
    assert!(again.ran().is_empty(), "{:?}", again.statuses());

    // A changed file is a new base: the steps on it run again.
    write(&tree.join("app/hello.txt"), "changed\n");
    let changed = env.build(&ctx, &strs(&all)).ok();
    assert_ne!(changed.manifest_digest(), first.manifest_digest());
    assert_eq!(env.image("fromdir").file("/app/seen").text(), "changed\n");
    assert!(!changed.ran().is_empty(), "{:?}", changed.statuses());
}

#[test]
fn copy_and_mount_from_a_local_directory_context() {
    let env = Env::new();
    let docs = env.context("docs", &[("guide.md", "guide\n"), ("skip.md", "no\n")]);
    write(&docs.join(".dockerignore"), "skip.md\n");
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\n\
         COPY --from=docs . /docs/\n\
         RUN --mount=from=docs,target=/d cat /d/guide.md > /mounted && \
             (test -e /d/skip.md && echo present || echo absent) >> /mounted\n",
        &[],
    );
    let all = args(&[&["-t".into(), "docs".into()], &context("docs", &docs)]);
    env.build(&ctx, &strs(&all)).ok();
    let image = env.image("docs");
    assert_eq!(image.file("/docs/guide.md").text(), "guide\n");
    assert!(!image.files().contains_key("docs/skip.md"));
    assert_eq!(image.file("/mounted").text(), "guide\nabsent\n");
}

#[test]
fn a_stage_named_like_a_context_is_replaced_by_it() {
    let env = Env::new();
    let dockerfile = "\
FROM busybox AS base
RUN echo from-the-stage > /which

FROM busybox
COPY --from=base /which /which
";
    let ctx = dockerfile_context(&env, "ctx", dockerfile, &[]);
    let replacement = env.context("replacement", &[("which", "from-the-context\n")]);
    let all = args(&[
        &["-t".into(), "over".into()],
        &context("base", &replacement),
    ]);
    let b = env.build(&ctx, &strs(&all)).ok();
    assert_eq!(
        env.image("over").file("/which").text(),
        "from-the-context\n"
    );
    assert!(
        !b.statuses()
            .iter()
            .any(|(i, _)| i.contains("from-the-stage")),
        "the replaced stage's instructions do not run: {:?}",
        b.statuses()
    );
    // Without the context, the stage is built.
    env.build(&ctx, &["-t", "plain"]).ok();
    assert_eq!(env.image("plain").file("/which").text(), "from-the-stage\n");
}

#[test]
fn a_docker_image_context_replaces_the_image_a_dockerfile_names() {
    let env = Env::new();
    // `alpine` is not in the store (and the tests never pull): every
    // spelling of it must come from the context.
    let dockerfile = "\
FROM alpine:latest AS first
RUN echo ok > /ok

FROM docker.io/library/alpine
COPY --from=first /ok /ok
COPY --from=index.docker.io/library/alpine /bin/busybox /copied-busybox
RUN --mount=from=alpine,target=/m test -x /m/bin/busybox && echo mounted > /mounted
";
    let ctx = dockerfile_context(&env, "ctx", dockerfile, &[]);
    let all = args(&[
        &["-t".into(), "swapped".into()],
        &[
            "--build-context".into(),
            "alpine=docker-image://busybox:latest".into(),
        ],
    ]);
    env.build(&ctx, &strs(&all)).ok();
    let image = env.image("swapped");
    let busybox = env.image("busybox");
    assert_eq!(image.file("/ok").text(), "ok\n");
    assert_eq!(image.file("/mounted").text(), "mounted\n");
    assert_eq!(
        image.file("/copied-busybox").data,
        busybox.file("/bin/busybox").data
    );
    assert_eq!(
        image.config["rootfs"]["diff_ids"][0], busybox.config["rootfs"]["diff_ids"][0],
        "the stage starts from busybox's layers"
    );
    // A tag other than `latest` is another name (the plan, which needs no
    // image, shows what FROM refers to).
    let other = dockerfile_context(&env, "other", "FROM alpine:3.19\nFROM alpine:latest\n", &[]);
    let plan = run_ok(
        env.strata_build()
            .args([
                "--print=plan",
                "--build-context",
                "alpine=docker-image://busybox:latest",
            ])
            .arg(&other),
    );
    assert!(plan.contains("image \"alpine:3.19\""), "{plan}");
    assert!(plan.contains("image \"busybox:latest\""), "{plan}");
}

#[test]
fn an_oci_layout_context_by_tag_or_digest() {
    // The layout comes from another store, so the build reads it.
    let maker = Env::new();
    let lib_ctx = dockerfile_context(
        &maker,
        "lib",
        "FROM busybox\nRUN echo from-layout > /lib.txt\n",
        &[],
    );
    let layout = maker.path("layout");
    let made = maker
        .build(
            &lib_ctx,
            &[
                "-t",
                "lib:v1",
                "-o",
                &format!("type=oci,dest={},tar=false", layout.display()),
            ],
        )
        .ok();
    let digest = made.manifest_digest();

    let env = Env::new();
    let dockerfile = "\
FROM lib
RUN cat /lib.txt > /seen
COPY --from=lib /lib.txt /copied.txt
RUN --mount=from=lib,target=/m cat /m/lib.txt > /mounted
";
    let ctx = dockerfile_context(&env, "ctx", dockerfile, &[]);
    let check = |tag: &str| {
        let image = env.image(tag);
        for file in ["/seen", "/copied.txt", "/mounted"] {
            assert_eq!(image.file(file).text(), "from-layout\n", "{file}");
        }
    };
    let by_tag = format!("lib=oci-layout://{}:v1", layout.display());
    env.build(&ctx, &["-t", "bytag", "--build-context", &by_tag])
        .ok();
    check("bytag");
    let by_digest = format!("lib=oci-layout://{}@{digest}", layout.display());
    env.build(&ctx, &["-t", "bydigest", "--build-context", &by_digest])
        .ok();
    check("bydigest");

    // A digest also names a manifest the layout's index does not list.
    write(
        &layout.join("index.json"),
        r#"{"schemaVersion":2,"manifests":[]}"#,
    );
    let missing = env.build(&ctx, &["--build-context", &by_tag]).failed();
    assert!(
        missing.stderr.contains("no image tagged v1"),
        "{}",
        missing.stderr
    );
    env.build(&ctx, &["-t", "unlisted", "--build-context", &by_digest])
        .ok();
    check("unlisted");
}
