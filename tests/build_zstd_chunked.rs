//! `compression=zstd:chunked`: the image's layers are zstd:chunked (each
//! file's data in frames of its own, the TOC, tar-split data, the
//! footer), their descriptors carry the annotations containers/storage
//! reads, and the tars are the layers' own, so diffIDs and config do not
//! change. containers/storage's own partial-pull code verifies every
//! layer (`tests/zstd-chunked-verify`, Go, built against Debian's
//! containers/storage 1.43 and tar-split); skopeo copies the image; podman
//! pulls it from a registry partially (range requests) and runs it; two
//! stores write the same blobs. The layout is also checked frame by frame
//! in `builder/layer/tests/zstd_chunked.rs`.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::lazy::{DOCKERFILE, OUTPUT, context, go_checker, sha};
use common::registry::Registry;
use common::{Env, Image, decompress, have_tool, in_ci, run_ok};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const ZSTD_CHUNKED: &str = "type=image,compression=zstd:chunked,force-compression=true";

const CHECKSUM: &str = "io.github.containers.zstd-chunked.manifest-checksum";
const LEGACY_CHECKSUM: &str = "io.containers.zstd-chunked.manifest-checksum";

/// `tests/zstd-chunked-verify` built: containers/storage's partial-pull
/// code checking blobs (Debian's golang-github-containers-storage-dev).
fn reference_verifier(env: &Env) -> Option<PathBuf> {
    go_checker(
        env,
        "zstd-chunked-verify",
        "github.com/containers/storage/pkg/chunked",
    )
}

/// Every layer is zstd:chunked with both annotation spellings, its tar is
/// the config's diffID, and the reference reader takes it.
fn assert_zstd_chunked(env: &Env, image: &Image) {
    let verifier = reference_verifier(env);
    let layers = image.manifest["layers"].as_array().unwrap();
    let diff_ids = image.config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "busybox, COPY, RUN");
    for ((layer, path), diff_id) in layers.iter().zip(&image.layer_paths).zip(diff_ids) {
        assert_eq!(
            layer["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
        let notes = &layer["annotations"];
        assert!(notes[CHECKSUM].as_str().unwrap().starts_with("sha256:"));
        assert_eq!(notes[CHECKSUM], notes[LEGACY_CHECKSUM]);
        // A plain zstd reader passes over the metadata frames: the tar.
        assert_eq!(diff_id.as_str().unwrap(), sha(&decompress(path)));
        if let Some(verifier) = &verifier {
            let out = run_ok(
                Command::new(verifier)
                    .arg(path)
                    .arg(diff_id.as_str().unwrap())
                    .arg(notes.to_string()),
            );
            assert!(out.starts_with("ok "), "{out}");
        }
    }
}

#[test]
fn zstd_chunked_output_keeps_the_layers_tars_and_checks_out() {
    let env = Env::new();
    let ctx = context(&env, DOCKERFILE);
    env.build(&ctx, &["-t", "plain"]).ok();
    env.build(&ctx, &["-t", "app", "-o", ZSTD_CHUNKED]).ok();
    let image = env.image("app");
    assert_zstd_chunked(&env, &image);
    // The same tars, so the same config: the image ID does not change.
    let plain = env.image("plain");
    assert_eq!(image.config_digest, plain.config_digest);
    assert_eq!(image.layer_tars(), plain.layer_tars());

    // A second export finds the variants made before: the same image.
    env.build(&ctx, &["-t", "again", "-o", ZSTD_CHUNKED]).ok();
    assert_eq!(env.image("again").manifest_digest, image.manifest_digest);

    if have_tool("skopeo") {
        // skopeo copy verifies every blob digest on the way.
        let layout = format!("oci:{}:app:latest", env.root.display());
        let copy = env.path("copy");
        run_ok(Command::new("skopeo").args([
            "copy",
            &layout,
            &format!("oci:{}:x", copy.display()),
        ]));
    }
    env.assert_store_clean();
}

#[test]
fn two_stores_write_the_same_zstd_chunked_blobs() {
    // Without RUN, two clean builds of one context give the same layers
    // (COPY keeps the files' mtimes, so the context is shared).
    let first = Env::new();
    let ctx = context(&first, "FROM busybox\nCOPY greeting.txt big.txt /srv/\n");
    let second = Env::new();
    let digests: Vec<String> = [&first, &second]
        .iter()
        .map(|env| {
            env.build(&ctx, &["-t", "app", "-o", ZSTD_CHUNKED]).ok();
            env.image("app").manifest_digest
        })
        .collect();
    assert_eq!(digests[0], digests[1]);
}

/// A podman with overlay storage and partial pulls enabled: the
/// containers/storage configuration is the only place it reads
/// `enable_partial_images` from.
struct PartialPodman {
    conf: PathBuf,
    storage: PathBuf,
    _runroot: tempfile::TempDir,
}

impl PartialPodman {
    fn new(env: &Env) -> PartialPodman {
        // podman refuses a runroot longer than 50 characters.
        let runroot = tempfile::Builder::new()
            .prefix("strata-pm-")
            .tempdir_in("/tmp")
            .unwrap();
        let conf = env.path("containers.conf");
        common::write(
            &conf,
            "[containers]\ndefault_ulimits = []\n[engine]\nruntime = \"runc\"\n",
        );
        let storage = env.path("storage.conf");
        common::write(
            &storage,
            &format!(
                "[storage]\ndriver = \"overlay\"\ngraphroot = {:?}\nrunroot = {:?}\n\
                 [storage.options]\npull_options = {{enable_partial_images = \"true\"}}\n",
                env.path("podman-overlay").display().to_string(),
                runroot.path().display().to_string(),
            ),
        );
        PartialPodman {
            conf,
            storage,
            _runroot: runroot,
        }
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::new("podman");
        cmd.env("CONTAINERS_CONF", &self.conf)
            .env("CONTAINERS_STORAGE_CONF", &self.storage);
        cmd
    }
}

impl Drop for PartialPodman {
    fn drop(&mut self) {
        let _ = self.cmd().args(["rmi", "-a", "-f"]).output();
    }
}

#[test]
fn push_compression_zstd_chunked_is_pulled_partially_by_podman() {
    let Some(reg) = Registry::start(false) else {
        return;
    };
    if !have_tool("podman") {
        assert!(!in_ci(), "podman is required in CI");
        return;
    }
    let env = Env::new();
    let ctx = context(&env, DOCKERFILE);
    env.build(&ctx, &["-t", "app"]).ok();
    let dest = format!("{}/team/app:zc", reg.host());
    run_ok(
        env.strata()
            .args(["push", "--compression", "zstd:chunked", "app", &dest]),
    );
    let raw: Value = serde_json::from_str(&run_ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{dest}"),
    ])))
    .unwrap();
    let layers = raw["layers"].as_array().unwrap();
    for layer in layers {
        assert!(layer["annotations"][CHECKSUM].is_string(), "{layer}");
    }
    let pm = PartialPodman::new(&env);
    let pull =
        common::run(
            pm.cmd()
                .args(["--log-level=debug", "pull", "--tls-verify=false", &dest]),
        );
    let log = String::from_utf8_lossy(&pull.stderr);
    assert!(pull.status.success(), "{log}");
    // containers/storage's differ took every layer, by range requests.
    for layer in layers {
        let digest = layer["digest"].as_str().unwrap();
        assert!(
            log.contains(&format!("Retrieved partial blob {digest}")),
            "{digest} not pulled partially:\n{log}"
        );
    }
    assert!(reg.log().contains("\" 206 "), "no range request answered");
    let out = run_ok(pm.cmd().args(["run", "--rm", "--network=none", &dest]));
    assert_eq!(out, OUTPUT);
    let out = run_ok(pm.cmd().args([
        "run",
        "--rm",
        "--network=none",
        &dest,
        "md5sum",
        "/srv/big.txt",
    ]));
    let want = run_ok(Command::new("md5sum").arg(ctx.join("big.txt")));
    assert_eq!(out.split(' ').next(), want.split(' ').next());

    // One small file edited: the new COPY layer is pulled as its TOC and
    // that file's frame; big.txt comes from the layer pulled before.
    common::write(&ctx.join("greeting.txt"), "hello again\n");
    env.build(&ctx, &["-t", "app2"]).ok();
    let dest2 = format!("{}/team/app:zc2", reg.host());
    run_ok(
        env.strata()
            .args(["push", "--compression", "zstd:chunked", "app2", &dest2]),
    );
    let before = reg.log().len();
    run_ok(pm.cmd().args(["pull", "-q", "--tls-verify=false", &dest2]));
    let pushed: Value = serde_json::from_str(&run_ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{dest2}"),
    ])))
    .unwrap();
    let copy_layer = &pushed["layers"][1];
    let digest = copy_layer["digest"].as_str().unwrap();
    let sent = served_bytes(&reg.log()[before..], digest);
    let size = copy_layer["size"].as_u64().unwrap();
    assert!(
        sent > 0 && sent < 4096,
        "{sent} of {size} bytes of {digest} sent"
    );
    let out = run_ok(pm.cmd().args(["run", "--rm", "--network=none", &dest2]));
    assert_eq!(out, "built-by-run\nhello again\n");
}

/// The bytes a registry's access log says it sent of the blob `digest`.
fn served_bytes(log: &str, digest: &str) -> u64 {
    log.lines()
        .filter(|l| l.contains(&format!("/blobs/{digest} ")))
        .filter_map(|l| {
            l.split("\" ")
                .nth(1)?
                .split(' ')
                .nth(1)?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// An OCI layout at `dir` with one image, tag `v1`, of the uncompressed
/// layer `tar`.
fn layout_of(dir: &Path, tar: &[u8]) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let digest = sha(bytes);
        std::fs::write(blobs.join(&digest[7..]), bytes).unwrap();
        json!({"digest": digest, "size": bytes.len()})
    };
    let layer = put(tar);
    let config = put(json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
    })
    .to_string()
    .as_bytes());
    let with = |mut d: Value, media: &str| {
        d["mediaType"] = json!(media);
        d
    };
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": with(config, "application/vnd.oci.image.config.v1+json"),
        "layers": [with(layer, "application/vnd.oci.image.layer.v1.tar")],
    });
    let mut entry = with(
        put(manifest.to_string().as_bytes()),
        "application/vnd.oci.image.manifest.v1+json",
    );
    entry["annotations"] = json!({"org.opencontainers.image.ref.name": "v1"});
    common::write(&dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#);
    common::write(
        &dir.join("index.json"),
        &json!({"schemaVersion": 2, "manifests": [entry]}).to_string(),
    );
}

/// Layers strata did not write, as GNU tar writes them (POSIX format: PAX
/// records with nanosecond mtime, atime and ctime; GNU format: long names
/// in `L` entries), keep their tar and are read by containers/storage as
/// Go reads those headers (the TOC matches the tar-split headers).
#[test]
fn layers_gnu_tar_wrote_keep_their_tar_and_check_out() {
    let env = Env::new();
    let Some(verifier) = reference_verifier(&env) else {
        return;
    };
    let tree = env.path("tree");
    let long = tree.join("d".repeat(120));
    std::fs::create_dir_all(&long).unwrap();
    std::fs::write(long.join("f".repeat(110)), "long\n").unwrap();
    let big: Vec<u8> = (0..9_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(tree.join("big.bin"), big).unwrap();
    std::fs::write(tree.join("a.txt"), "a\n").unwrap();
    std::os::unix::fs::symlink("a.txt", tree.join("link")).unwrap();
    std::fs::hard_link(tree.join("a.txt"), tree.join("hard")).unwrap();
    run_ok(Command::new("mkfifo").arg(tree.join("fifo")));
    run_ok(
        Command::new("touch")
            .args(["-d", "2021-05-06 07:08:09.123456789"])
            .arg(tree.join("a.txt")),
    );
    for format in ["posix", "gnu"] {
        let tar = env.path(&format!("{format}.tar"));
        run_ok(
            Command::new("tar")
                .arg(format!("--format={format}"))
                .arg("-C")
                .arg(&tree)
                .arg("-cf")
                .arg(&tar)
                .arg("."),
        );
        let tar = std::fs::read(&tar).unwrap();
        let layout = env.path(&format!("layout-{format}"));
        layout_of(&layout, &tar);
        let raw = format!("raw-{format}");
        run_ok(
            env.strata()
                .args(["load", "-t", &raw, "-i"])
                .arg(format!("{}:v1", layout.display())),
        );
        let ctx = common::dockerfile_context(
            &env,
            &format!("ctx-{format}"),
            &format!("FROM {raw}\nCOPY x /x\n"),
            &[("x", "x\n")],
        );
        let tag = format!("z-{format}");
        env.build(&ctx, &["-t", &tag, "-o", ZSTD_CHUNKED]).ok();
        let image = env.image(&tag);
        let diff_ids = image.config["rootfs"]["diff_ids"].as_array().unwrap();
        assert_eq!(diff_ids[0].as_str().unwrap(), sha(&tar), "the tar is kept");
        let layers = image.manifest["layers"].as_array().unwrap();
        for ((layer, path), diff_id) in layers.iter().zip(&image.layer_paths).zip(diff_ids) {
            let out = run_ok(
                Command::new(&verifier)
                    .arg(path)
                    .arg(diff_id.as_str().unwrap())
                    .arg(layer["annotations"].to_string()),
            );
            assert!(out.starts_with("ok "), "{format}: {out}");
        }
    }
}
