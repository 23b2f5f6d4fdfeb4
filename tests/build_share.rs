//! Cache sharing between stores, as between CI runners: `--cache-to` on
//! store A, then `--cache-from` on a store with no records.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::registry::Registry;
use common::{Build, Env, dockerfile_context};
use serde_json::Value;
use std::path::{Path, PathBuf};

const DOCKERFILE: &str = "\
FROM busybox AS build
COPY gen.txt /gen.txt
RUN cat /gen.txt /gen.txt > /out.txt
FROM busybox AS app
WORKDIR /app
COPY --from=build /out.txt /app/
COPY app.txt /app/
RUN cat /app/out.txt /app/app.txt > /app/all.txt
CMD [\"cat\", \"/app/all.txt\"]
FROM app AS test
RUN echo tested > /app/tested
";

fn project(env: &Env) -> PathBuf {
    dockerfile_context(
        env,
        "project",
        DOCKERFILE,
        &[("gen.txt", "generated\n"), ("app.txt", "app\n")],
    )
}

/// A store with the base image but no records, snapshots or cache mounts:
/// a fresh CI runner.
fn empty_runner() -> Env {
    let env = Env::new();
    for dir in ["cache-v1", "snapshots-v1", "cache-mounts-v1"] {
        let _ = std::fs::remove_dir_all(env.root.join(dir));
    }
    env
}

/// `--cache-from type=local,src=DIR`.
fn from(dir: &Path) -> String {
    format!("type=local,src={}", dir.display())
}

/// `--cache-to type=local,dest=DIR` and more options (`,mode=max`).
fn to(dir: &Path, more: &str) -> String {
    format!("type=local,dest={}{more}", dir.display())
}

fn blobs(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("blobs/sha256"))
        .map(|d| {
            d.map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The records of the cache artifact in an OCI layout directory.
fn layout_records(dir: &Path) -> Vec<String> {
    let read = |digest: &str| -> Value {
        serde_json::from_slice(&std::fs::read(common::blob_path(dir, digest)).unwrap()).unwrap()
    };
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifest = read(index["manifests"][0]["digest"].as_str().unwrap());
    assert_eq!(
        manifest["artifactType"],
        "application/vnd.strata.cache.v1+json"
    );
    let config = read(manifest["config"]["digest"].as_str().unwrap());
    let mut out: Vec<String> = config["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["description"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

fn assert_all_cached(b: &Build) {
    assert!(b.ran().is_empty(), "ran {:?}\n{}", b.ran(), b.stderr);
    assert!(!b.cached().is_empty());
}

#[test]
fn cache_to_local_then_empty_store_hits_every_step_with_the_same_digest() {
    let a = Env::new();
    let ctx = project(&a);
    let cache = a.path("ci-cache");
    let spec = to(&cache, ",mode=max");
    let built = a
        .build(&ctx, &["--target", "app", "-t", "app", "--cache-to", &spec])
        .ok();
    assert_eq!(built.ran().len(), 6, "{:?}", built.statuses());

    let b = empty_runner();
    let from = from(&cache);
    let again = b
        .build(
            &ctx,
            &["--target", "app", "-t", "app", "--cache-from", &from],
        )
        .ok();
    assert_all_cached(&again);
    assert_eq!(again.manifest_digest(), built.manifest_digest());
    assert_eq!(again.image_id(), built.image_id());
    assert_eq!(
        b.image("app").file("/app/all.txt").text(),
        "generated\ngenerated\napp\n"
    );
    b.assert_store_clean();

    // The hits were kept: the next build needs no --cache-from.
    let third = b.build(&ctx, &["--target", "app"]).ok();
    assert_all_cached(&third);

    // An edit reruns only what it invalidates, over fetched parents.
    common::write(&ctx.join("app.txt"), "app 2\n");
    let edited = b
        .build(
            &ctx,
            &["--target", "app", "-t", "app2", "--cache-from", &from],
        )
        .ok();
    assert_eq!(
        edited.ran(),
        [
            "COPY app.txt /app/",
            "RUN cat /app/out.txt /app/app.txt > /app/all.txt"
        ]
    );
    assert_eq!(
        b.image("app2").file("/app/all.txt").text(),
        "generated\ngenerated\napp 2\n"
    );
}

#[test]
fn mode_min_exports_only_the_final_images_stages() {
    let a = Env::new();
    let ctx = project(&a);
    let (min, max) = (a.path("min"), a.path("max"));
    a.build(
        &ctx,
        &[
            "--target",
            "app",
            "--cache-to",
            &to(&min, ""),
            "--cache-to",
            &to(&max, ",mode=max"),
        ],
    )
    .ok();
    let (min, max) = (layout_records(&min), layout_records(&max));
    assert!(!min.iter().any(|d| d.contains("gen.txt")), "{min:?}");
    assert!(max.iter().any(|d| d.contains("gen.txt")), "{max:?}");
    assert_eq!(max.len(), min.len() + 2, "{min:?} {max:?}");
}

#[test]
fn cache_from_downloads_only_the_layers_the_target_needs() {
    let a = Env::new();
    let ctx = project(&a);
    let cache = a.path("ci-cache");
    let test = a
        .build(
            &ctx,
            &["--target", "test", "--cache-to", &to(&cache, ",mode=max")],
        )
        .ok();
    let tested_layer = {
        let image = common::Image::from_manifest(&a.root, &test.manifest_digest());
        image.manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let b = empty_runner();
    let built = b
        .build(
            &ctx,
            &[
                "--target",
                "app",
                "-t",
                "app",
                "--cache-from",
                &from(&cache),
            ],
        )
        .ok();
    assert_all_cached(&built);
    assert!(common::blob_path(&cache, &tested_layer).is_file());
    assert!(
        !blobs(&b.root).contains(&tested_layer),
        "the test stage's layer was downloaded"
    );
    b.assert_store_clean();
}

#[test]
fn unreadable_caches_are_warnings_and_corrupt_blobs_are_never_used() {
    let a = Env::new();
    let ctx = project(&a);
    let b = empty_runner();
    let missing = b
        .build(
            &ctx,
            &[
                "--target",
                "app",
                "--cache-from",
                "type=local,src=/nonexistent/cache",
            ],
        )
        .ok();
    assert!(
        missing
            .stderr
            .contains("cannot import cache from /nonexistent/cache"),
        "{}",
        missing.stderr
    );
    assert_eq!(missing.cached().len(), 0);

    // An image layout is not a cache.
    let image_layout = a.path("image-layout");
    a.build(
        &ctx,
        &[
            "--target",
            "app",
            "-o",
            &format!("type=oci,dest={},tar=false", image_layout.display()),
        ],
    )
    .ok();
    let not_cache = empty_runner()
        .build(
            &ctx,
            &["--target", "app", "--cache-from", &from(&image_layout)],
        )
        .ok();
    assert!(
        not_cache.stderr.contains("cannot import cache"),
        "{}",
        not_cache.stderr
    );

    // A layer blob whose bytes do not match its digest fails the build
    // with the digest named, and nothing of it enters the store.
    let cache = a.path("ci-cache");
    let built = a
        .build(&ctx, &["--target", "app", "--cache-to", &to(&cache, "")])
        .ok();
    let image = common::Image::from_manifest(&a.root, &built.manifest_digest());
    let last = image.manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let path = common::blob_path(&cache, &last);
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let c = empty_runner();
    let bad = c
        .build(&ctx, &["--target", "app", "--cache-from", &from(&cache)])
        .failed();
    assert!(
        bad.stderr.contains("digest mismatch") && bad.stderr.contains(&last),
        "{}",
        bad.stderr
    );
    assert!(!blobs(&c.root).contains(&last));
    c.assert_store_clean();
}

#[test]
fn cache_mounts_travel_with_mounts_true() {
    let dockerfile = "\
FROM busybox
COPY req.txt /req.txt
RUN --mount=type=cache,target=/root/.cache/pip,id=pip \
    if [ -f /root/.cache/pip/wheel ]; then echo reused; else cat /req.txt > /root/.cache/pip/wheel; echo downloaded; fi; \
    cp /root/.cache/pip/wheel /installed
";
    let a = Env::new();
    let ctx = dockerfile_context(&a, "pip", dockerfile, &[("req.txt", "django==5\n")]);
    let cache = a.path("ci-cache");
    a.build(&ctx, &["--cache-to", &to(&cache, ",mounts=true")])
        .ok();

    // Store B gets the pip cache back: a changed requirement reruns the
    // step, which finds the cached wheel.
    let b = empty_runner();
    common::write(&ctx.join("req.txt"), "django==5\nflask\n");
    let built = b
        .build(&ctx, &["-t", "app", "--cache-from", &from(&cache)])
        .ok();
    assert!(
        built.stderr.contains("restored 1 cache mounts"),
        "{}",
        built.stderr
    );
    assert!(built.stderr.contains("reused"), "{}", built.stderr);
    assert_eq!(b.image("app").file("/installed").text(), "django==5\n");

    // Without mounts=true nothing but records travels.
    let plain = a.path("plain-cache");
    a.build(&ctx, &["--cache-to", &to(&plain, "")]).ok();
    let c = empty_runner();
    common::write(&ctx.join("req.txt"), "other\n");
    let built = c.build(&ctx, &["--cache-from", &from(&plain)]).ok();
    assert!(built.stderr.contains("downloaded"), "{}", built.stderr);
}

fn registry_round_trip(auth: bool) {
    let Some(reg) = Registry::start(auth) else {
        return;
    };
    let docker_config = reg.docker_config();
    let with_auth = |cmd: &mut std::process::Command| {
        cmd.env("DOCKER_CONFIG", &docker_config);
    };
    let a = Env::new();
    let ctx = project(&a);
    let cache_ref = format!("{}/ci/cache:app", reg.host());
    let to = format!("type=registry,ref={cache_ref},mode=max");
    let export = || {
        a.build_with(&ctx, &["--target", "app", "--cache-to", &to], with_auth)
            .ok()
    };
    let built = export();
    // Exported again: every blob is already there (HEAD), none uploaded.
    let twice = export();
    assert!(
        twice.stderr.contains("0 blobs uploaded"),
        "{}",
        twice.stderr
    );

    let b = empty_runner();
    let again = b
        .build_with(
            &ctx,
            &["--target", "app", "-t", "app", "--cache-from", &cache_ref],
            with_auth,
        )
        .ok();
    assert_all_cached(&again);
    assert_eq!(again.manifest_digest(), built.manifest_digest());
    b.assert_store_clean();
    if auth {
        let anonymous = empty_runner()
            .build(
                &ctx,
                &[
                    "--target",
                    "app",
                    "--cache-from",
                    &format!("type=registry,ref={cache_ref}"),
                ],
            )
            .ok();
        assert!(
            anonymous.stderr.contains("unauthorized"),
            "{}",
            anonymous.stderr
        );
        assert!(!anonymous.stderr.contains("s3cret"));
    }
}

#[test]
fn cache_to_registry_then_empty_store_hits_every_step() {
    registry_round_trip(false);
}

#[test]
fn cache_to_registry_with_basic_auth() {
    registry_round_trip(true);
}

#[test]
fn cache_flags_reject_unsupported_types() {
    let env = Env::new();
    let ctx = project(&env);
    let b = env.build(&ctx, &["--cache-to", "type=gha"]).failed();
    assert!(b.stderr.contains("type=gha"), "{}", b.stderr);
    let b = env
        .build(&ctx, &["--cache-to", "type=local,dest=x,compression=zstd"])
        .failed();
    assert!(b.stderr.contains("compression"), "{}", b.stderr);
}
