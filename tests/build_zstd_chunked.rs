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
use serde_json::Value;
use std::path::PathBuf;
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
}
