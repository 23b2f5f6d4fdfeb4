//! What other tools see of a build: the store as an OCI layout (skopeo,
//! umoci), `-o type=docker` loaded and run by podman, `-o type=oci`,
//! `-o type=local`, `-o type=tar`, and a clean `store check`. The image
//! has a layer of several chunks (gzip members, zstd frames), and the
//! consumers read both compressions.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, Image, dockerfile_context, have_tool, run, run_ok};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

const DOCKERFILE: &str = "\
FROM busybox
WORKDIR /srv
COPY greeting.txt ./
COPY big.txt ./
RUN echo built-by-run > /srv/made.txt && ln -s made.txt /srv/link
CMD [\"cat\", \"/srv/made.txt\", \"/srv/greeting.txt\"]
";

/// The layer compressions consumers must read.
const COMPRESSIONS: [&str; 2] = ["gzip", "zstd"];

/// About 7 MB of text: several chunks in either compression.
fn big_text() -> String {
    (0..400_000u64)
        .map(|i| format!("line {i} {}\n", i * i % 9973))
        .collect()
}

fn built(env: &Env, extra: &[&str]) -> (PathBuf, common::Build) {
    let ctx = dockerfile_context(
        env,
        "ctx",
        DOCKERFILE,
        &[
            ("greeting.txt", "hello from the context\n"),
            ("big.txt", &big_text()),
        ],
    );
    let mut args = vec!["-t", "app"];
    args.extend_from_slice(extra);
    let b = env.build(&ctx, &args).ok();
    // The store maps the chunks of multi-chunk layers: big.txt's is one.
    let maps = std::fs::read_dir(env.root.join("chunks-v1"))
        .expect("chunks-v1")
        .flat_map(|format| std::fs::read_dir(format.expect("entry").path()).expect("format dir"))
        .count();
    assert!(maps >= 1, "no layer of several chunks");
    (ctx, b)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

#[test]
fn skopeo_reads_the_store_as_an_oci_layout() {
    if !have_tool("skopeo") {
        return;
    }
    for compression in COMPRESSIONS {
        skopeo_reads_the_store(compression);
    }
}

fn skopeo_reads_the_store(compression: &str) {
    let env = Env::new();
    let (_, b) = built(&env, &["--compression", compression]);
    let layout = format!("oci:{}:app:latest", env.root.display());
    let inspect = json(&run_ok(Command::new("skopeo").args(["inspect", &layout])));
    assert_eq!(inspect["Digest"], b.manifest_digest());
    assert_eq!(inspect["Os"], "linux");
    let image = env.image("app");
    let layers: Vec<Value> = image.manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["digest"].clone())
        .collect();
    assert_eq!(inspect["Layers"], Value::Array(layers));
    let config = json(&run_ok(
        Command::new("skopeo").args(["inspect", "--config", &layout]),
    ));
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["cat", "/srv/made.txt", "/srv/greeting.txt"])
    );
    assert_eq!(config["config"]["WorkingDir"], "/srv");
    // skopeo copy verifies every blob digest on the way.
    let copy = env.path("copy");
    run_ok(Command::new("skopeo").args(["copy", &layout, &format!("oci:{}:x", copy.display())]));
    env.assert_store_clean();
}

#[test]
fn umoci_unpacks_the_image_from_the_store() {
    if !have_tool("umoci") {
        return;
    }
    // umoci 0.4 (Debian 12) refuses tar+zstd layers whatever their
    // content ("blob is not correct mediatype"); zstd support came in 0.5.
    let env = Env::new();
    built(&env, &["--compression", "gzip"]);
    let bundle = common::umoci_unpack(&env, "app:latest");
    let rootfs = bundle.join("rootfs");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("srv/made.txt")).expect("made.txt"),
        "built-by-run\n"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("srv/greeting.txt")).expect("greeting"),
        "hello from the context\n"
    );
    assert_eq!(
        std::fs::read_link(rootfs.join("srv/link")).expect("link"),
        PathBuf::from("made.txt")
    );
    assert!(rootfs.join("bin/busybox").is_file());
    assert!(std::fs::read_to_string(rootfs.join("srv/big.txt")).expect("big") == big_text());
    let config = json(&std::fs::read_to_string(bundle.join("config.json")).expect("config.json"));
    assert_eq!(config["process"]["cwd"], "/srv");
    assert_eq!(
        config["process"]["args"],
        serde_json::json!(["cat", "/srv/made.txt", "/srv/greeting.txt"])
    );
}

#[test]
fn podman_loads_and_runs_docker_and_oci_archives() {
    if !have_tool("podman") {
        return;
    }
    for compression in COMPRESSIONS {
        podman_loads_and_runs(compression);
    }
}

fn podman_loads_and_runs(compression: &str) {
    let env = Env::new();
    let docker = env.path("app-docker.tar");
    let oci = env.path("app-oci.tar");
    built(
        &env,
        &[
            "-o",
            &format!("type=docker,dest={}", docker.display()),
            "-o",
            &format!("type=oci,dest={}", oci.display()),
            "--compression",
            compression,
        ],
    );
    let pm = common::Podman::new(&env);
    let podman = || pm.cmd();
    let loaded = run_ok(podman().arg("load").arg("-i").arg(&docker));
    assert!(loaded.contains("app:latest"), "{loaded}");
    let out = run_ok(podman().args(["run", "--rm", "--network=none", "app:latest"]));
    assert_eq!(out, "built-by-run\nhello from the context\n");
    let out = run_ok(podman().args(["run", "--rm", "--network=none", "app:latest", "pwd"]));
    assert_eq!(out, "/srv\n");
    let out = run_ok(podman().args([
        "run",
        "--rm",
        "--network=none",
        "app:latest",
        "md5sum",
        "big.txt",
    ]));
    let want = run_ok(
        Command::new("md5sum")
            .arg("big.txt")
            .current_dir(env.path("ctx")),
    );
    assert_eq!(out, want);
    let docker_id =
        run_ok(podman().args(["image", "inspect", "--format", "{{.Id}}", "app:latest"]));
    run_ok(podman().args(["rmi", "-f", "app:latest"]));

    // The OCI archive: the same image.
    let loaded = run_ok(podman().arg("load").arg("-i").arg(&oci));
    assert!(loaded.contains("app:latest"), "{loaded}");
    let oci_id = run_ok(podman().args(["image", "inspect", "--format", "{{.Id}}", "app:latest"]));
    assert_eq!(oci_id, docker_id);
    let out = run_ok(podman().args(["run", "--rm", "--network=none", "app:latest"]));
    assert_eq!(out, "built-by-run\nhello from the context\n");
}

#[test]
fn oci_archive_output_is_read_by_skopeo() {
    if !have_tool("skopeo") {
        return;
    }
    let env = Env::new();
    let archive = env.path("app-oci.tar");
    let dir = env.path("app-oci-dir");
    let (_, b) = built(
        &env,
        &[
            "-o",
            &format!("type=oci,dest={}", archive.display()),
            "-o",
            &format!("type=oci,dest={},tar=false", dir.display()),
        ],
    );
    let inspect =
        json(&run_ok(Command::new("skopeo").args([
            "inspect",
            &format!("oci-archive:{}", archive.display()),
        ])));
    assert_eq!(inspect["Digest"], b.manifest_digest());
    // The directory form is a layout with the same image.
    // As BuildKit: the tag is the ref.name, the full name another annotation.
    let from_dir = Image::load(&dir, "latest");
    assert_eq!(from_dir.manifest_digest, b.manifest_digest());
    assert_eq!(from_dir.file("/srv/made.txt").text(), "built-by-run\n");
    let inspect = json(&run_ok(
        Command::new("skopeo").args(["inspect", &format!("oci:{}:latest", dir.display())]),
    ));
    assert_eq!(inspect["Digest"], b.manifest_digest());
}

#[test]
fn local_and_tar_outputs_hold_the_root_filesystem() {
    let env = Env::new();
    let local = env.path("rootfs");
    let tar = env.path("rootfs.tar");
    built(
        &env,
        &[
            "-o",
            &format!("type=local,dest={}", local.display()),
            "-o",
            &format!("type=tar,dest={}", tar.display()),
        ],
    );
    assert_eq!(
        std::fs::read_to_string(local.join("srv/made.txt")).expect("made"),
        "built-by-run\n"
    );
    assert_eq!(
        std::fs::read_to_string(local.join("srv/greeting.txt")).expect("greeting"),
        "hello from the context\n"
    );
    assert_eq!(
        std::fs::read_link(local.join("srv/link")).expect("link"),
        PathBuf::from("made.txt")
    );
    assert!(local.join("bin/busybox").is_file());
    let listing = run_ok(Command::new("tar").arg("-tf").arg(&tar));
    let names: Vec<&str> = listing
        .lines()
        .map(|l| l.trim_start_matches("./"))
        .collect();
    assert!(names.contains(&"srv/made.txt"), "{listing}");
    assert!(names.contains(&"bin/busybox"), "{listing}");
    let made = run_ok(
        Command::new("tar")
            .arg("-xOf")
            .arg(&tar)
            .arg("srv/made.txt"),
    );
    assert_eq!(made, "built-by-run\n");
}

#[test]
fn store_check_is_clean_after_builds_and_outputs() {
    let env = Env::new();
    let (ctx, _) = built(
        &env,
        &[
            "-o",
            &format!("type=local,dest={}", env.path("out").display()),
        ],
    );
    common::write(&ctx.join("greeting.txt"), "changed\n");
    env.build(&ctx, &["-t", "app"]).ok();
    env.build(&ctx, &["-t", "other", "--no-cache"]).ok();
    let out = run(env.strata().args(["store", "check"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A corrupted blob is found.
    let image = env.image("app");
    let layer = image.layer_paths.last().expect("a layer").clone();
    let mut bytes = std::fs::read(&layer).expect("layer");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&layer, bytes).expect("corrupt");
    let out = run(env.strata().args(["store", "check"]));
    assert!(
        !out.status.success(),
        "store check should find the corrupted blob"
    );
}

/// One file of a tar archive.
fn tar_member(archive: &std::path::Path, member: &str) -> Value {
    json(&run_ok(
        Command::new("tar").arg("-xOf").arg(archive).arg(member),
    ))
}

fn annotations(index: &Value) -> Vec<Value> {
    index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| m["annotations"].clone())
        .collect()
}

/// As buildx: every `-t` (or `name=`) names the image in `type=oci`/
/// `type=docker` archives, normalised: `io.containerd.image.name`
/// is the full name, `org.opencontainers.image.ref.name` the tag, and
/// docker's `RepoTags` the short form; podman and skopeo find the names.
#[test]
fn archives_name_the_image_as_buildx() {
    let env = Env::new();
    let oci = env.path("app-oci.tar");
    let docker = env.path("app-docker.tar");
    let dir = env.path("app-oci-dir");
    let ctx = dockerfile_context(&env, "ctx", "FROM busybox\nRUN echo named > /n\n", &[]);
    let b = env
        .build(
            &ctx,
            &[
                "-t",
                "app",
                "-t",
                "localhost:5000/team/app:v2",
                "-o",
                &format!("type=oci,dest={}", oci.display()),
                "-o",
                &format!("type=docker,dest={}", docker.display()),
                "-o",
                &format!("type=oci,dest={},tar=false", dir.display()),
            ],
        )
        .ok();
    let expected = vec![
        serde_json::json!({
            "io.containerd.image.name": "docker.io/library/app:latest",
            "org.opencontainers.image.ref.name": "latest",
        }),
        serde_json::json!({
            "io.containerd.image.name": "localhost:5000/team/app:v2",
            "org.opencontainers.image.ref.name": "v2",
        }),
    ];
    assert_eq!(annotations(&tar_member(&oci, "index.json")), expected);
    assert_eq!(annotations(&tar_member(&docker, "index.json")), expected);
    let dir_index = json(&std::fs::read_to_string(dir.join("index.json")).expect("index"));
    assert_eq!(annotations(&dir_index), expected);
    assert_eq!(
        tar_member(&docker, "manifest.json")[0]["RepoTags"],
        serde_json::json!(["app:latest", "localhost:5000/team/app:v2"])
    );

    // name= names the archive (it wins over -t); a bad name fails before
    // the build.
    let named = env.path("named-oci.tar");
    env.build(
        &ctx,
        &[
            "-o",
            &format!(
                "type=oci,dest={},name=localhost:5000/x/y:z",
                named.display()
            ),
        ],
    )
    .ok();
    assert_eq!(
        annotations(&tar_member(&named, "index.json")),
        [serde_json::json!({
            "io.containerd.image.name": "localhost:5000/x/y:z",
            "org.opencontainers.image.ref.name": "z",
        })]
    );
    let bad = env
        .build(
            &ctx,
            &[
                "-o",
                &format!("type=oci,dest={},name=Bad", env.path("bad.tar").display()),
            ],
        )
        .failed();
    assert!(bad.stderr.contains("must be lowercase"), "{}", bad.stderr);
    assert!(!env.path("bad.tar").exists());

    if have_tool("skopeo") {
        let inspect = json(&run_ok(
            Command::new("skopeo").args(["inspect", &format!("oci:{}:v2", dir.display())]),
        ));
        assert_eq!(inspect["Digest"], b.manifest_digest());
    }
    if have_tool("podman") {
        let pm = common::Podman::new(&env);
        let loaded = run_ok(pm.cmd().arg("load").arg("-i").arg(&docker));
        assert!(loaded.contains("localhost/app:latest"), "{loaded}");
        assert!(loaded.contains("localhost:5000/team/app:v2"), "{loaded}");
        let loaded = run_ok(pm.cmd().arg("load").arg("-i").arg(&named));
        assert!(
            loaded.contains("Loaded image: localhost:5000/x/y:z"),
            "{loaded}"
        );
        let id = run_ok(pm.cmd().args([
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            "localhost:5000/x/y:z",
        ]));
        assert_eq!(format!("sha256:{}", id.trim()), b.image_id());
    }
}
