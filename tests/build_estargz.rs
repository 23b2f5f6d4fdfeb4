//! `compression=estargz`: the image's layers are eStargz (gzip members per
//! file, a table of contents, the footer), their descriptors carry the
//! annotations stargz-snapshotter reads, the config lists the eStargz
//! tars' diffIDs, and ordinary consumers (skopeo copy, umoci unpack,
//! podman load/pull + run) take the image. stargz-snapshotter's own
//! reader (`tests/estargz-verify`, Go) verifies every layer; the layout is
//! also checked member by member in `builder/layer/tests/estargz.rs`.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::lazy::{DOCKERFILE, OUTPUT, big_text, context, go_checker, sha};
use common::registry::Registry;
use common::{Env, Image, decompress, have_tool, run_ok};
use flate2::read::GzDecoder;
use serde_json::Value;
use std::io::Read;
use std::process::Command;

const ESTARGZ: &str = "type=image,compression=estargz,force-compression=true";

/// The TOC digest of an eStargz blob, found through its footer.
fn toc_digest(blob: &[u8]) -> String {
    let footer = &blob[blob.len() - 51..];
    let mut dec = GzDecoder::new(footer);
    std::io::copy(&mut dec, &mut std::io::sink()).unwrap();
    let extra = dec.header().unwrap().extra().unwrap();
    let text = std::str::from_utf8(&extra[4..]).unwrap();
    let offset = u64::from_str_radix(text.strip_suffix("STARGZ").unwrap(), 16).unwrap();
    let mut member = Vec::new();
    GzDecoder::new(&blob[offset as usize..])
        .read_to_end(&mut member)
        .unwrap();
    let mut archive = tar::Archive::new(&member[..]);
    let mut toc = archive.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(&*toc.path_bytes(), b"stargz.index.json");
    let mut json = Vec::new();
    toc.read_to_end(&mut json).unwrap();
    sha(&json)
}

/// `tests/estargz-verify` built: stargz-snapshotter's reader checking
/// blobs (Debian's golang-github-containerd-stargz-snapshotter-dev).
fn reference_verifier(env: &Env) -> Option<std::path::PathBuf> {
    go_checker(
        env,
        "estargz-verify",
        "github.com/containerd/stargz-snapshotter/estargz",
    )
}

/// Every layer is eStargz with matching annotations and diffID, and
/// passes the reference reader when there is one.
fn assert_estargz(env: &Env, image: &Image) {
    let verifier = reference_verifier(env);
    let layers = image.manifest["layers"].as_array().unwrap();
    let diff_ids = image.config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "busybox, COPY, RUN");
    for ((layer, path), diff_id) in layers.iter().zip(&image.layer_paths).zip(diff_ids) {
        assert_eq!(
            layer["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let notes = &layer["annotations"];
        let blob = std::fs::read(path).unwrap();
        assert_eq!(
            notes["containerd.io/snapshot/stargz/toc.digest"],
            toc_digest(&blob)
        );
        let tar = decompress(path);
        assert_eq!(diff_id.as_str().unwrap(), sha(&tar));
        assert_eq!(
            notes["io.containers.estargz.uncompressed-size"],
            tar.len().to_string()
        );
        if let Some(verifier) = &verifier {
            let toc = notes["containerd.io/snapshot/stargz/toc.digest"]
                .as_str()
                .unwrap();
            let out = run_ok(Command::new(verifier).arg(path).arg(toc));
            assert!(out.starts_with("ok "), "{out}");
        }
    }
}

#[test]
fn estargz_output_keeps_the_files_and_checks_out() {
    let env = Env::new();
    let ctx = context(&env, DOCKERFILE);
    env.build(&ctx, &["-t", "plain"]).ok();
    env.build(&ctx, &["-t", "app", "-o", ESTARGZ]).ok();
    let image = env.image("app");
    assert_estargz(&env, &image);
    // The same files as the gzip image, plus the landmark and the TOC.
    let mut files = image.files();
    for extra in ["stargz.index.json", ".no.prefetch.landmark"] {
        assert!(
            files.remove(extra).is_some(),
            "{extra} in {:?}",
            files.keys()
        );
    }
    let plain = env.image("plain").files();
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        plain.keys().collect::<Vec<_>>()
    );
    assert_eq!(files["srv/big.txt"].data, big_text().as_bytes());
    assert_eq!(env.image("plain").runtime_config(), image.runtime_config());

    // A second export finds the variants made before: the same image.
    env.build(&ctx, &["-t", "again", "-o", ESTARGZ]).ok();
    assert_eq!(env.image("again").manifest_digest, image.manifest_digest);

    let layout = format!("oci:{}:app:latest", env.root.display());
    if have_tool("skopeo") {
        // skopeo copy verifies every blob digest on the way.
        let copy = env.path("copy");
        run_ok(Command::new("skopeo").args([
            "copy",
            &layout,
            &format!("oci:{}:x", copy.display()),
        ]));
    }
    if have_tool("umoci") {
        let rootfs = common::umoci_unpack(&env, "app:latest").join("rootfs");
        assert_eq!(
            std::fs::read_to_string(rootfs.join("srv/big.txt")).unwrap(),
            big_text()
        );
        assert!(rootfs.join("bin/busybox").is_file());
    }
    if have_tool("podman") && have_tool("skopeo") {
        let archive = env.path("app-oci.tar");
        run_ok(Command::new("skopeo").args([
            "copy",
            &layout,
            &format!("oci-archive:{}:app:latest", archive.display()),
        ]));
        let pm = common::Podman::new(&env);
        run_ok(pm.cmd().arg("load").arg("-i").arg(&archive));
        let out = run_ok(
            pm.cmd()
                .args(["run", "--rm", "--network=none", "app:latest"]),
        );
        assert_eq!(out, OUTPUT);
        let out = run_ok(pm.cmd().args([
            "run",
            "--rm",
            "--network=none",
            "app:latest",
            "md5sum",
            "/srv/big.txt",
        ]));
        let want = run_ok(Command::new("md5sum").arg(ctx.join("big.txt")));
        assert_eq!(out.split(' ').next(), want.split(' ').next());
    }
    env.assert_store_clean();
}

#[test]
fn push_compression_estargz_is_pulled_and_run_by_podman() {
    let Some(reg) = Registry::start(false) else {
        return;
    };
    let env = Env::new();
    let ctx = context(&env, DOCKERFILE);
    env.build(&ctx, &["-t", "app"]).ok();
    let dest = format!("{}/team/app:esgz", reg.host());
    run_ok(
        env.strata()
            .args(["push", "--compression", "estargz", "app", &dest]),
    );
    let raw: Value = serde_json::from_str(&run_ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{dest}"),
    ])))
    .unwrap();
    for layer in raw["layers"].as_array().unwrap() {
        let toc = layer["annotations"]["containerd.io/snapshot/stargz/toc.digest"].as_str();
        assert!(toc.is_some_and(|t| t.starts_with("sha256:")), "{layer}");
    }
    let pm = common::Podman::new(&env);
    run_ok(pm.cmd().args(["pull", "-q", "--tls-verify=false", &dest]));
    let out = run_ok(pm.cmd().args(["run", "--rm", "--network=none", &dest]));
    assert_eq!(out, OUTPUT);
}
