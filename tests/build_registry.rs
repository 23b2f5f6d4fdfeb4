//! Images through a real registry (Debian's `docker-registry` on
//! 127.0.0.1): what strata pushes, skopeo copies back and podman runs;
//! what skopeo pushes, strata pulls as a base; compression on push.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::registry::{Registry, USER};
use common::{Env, Podman, dockerfile_context, have_tool, run_ok};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

const DOCKERFILE: &str = "\
FROM busybox
COPY hello.txt /hello.txt
RUN echo built-by-run > /built
CMD [\"cat\", \"/built\", \"/hello.txt\"]
";

/// A registry, a store and the app's context; `None` outside CI when a
/// tool is missing.
fn setup(auth: bool) -> Option<(Registry, Env, PathBuf)> {
    let reg = Registry::start(auth)?;
    if !(have_tool("skopeo") && have_tool("podman")) {
        return None;
    }
    let env = Env::new();
    let ctx = dockerfile_context(&env, "app", DOCKERFILE, &[("hello.txt", "hello\n")]);
    Some((reg, env, ctx))
}

/// `skopeo inspect --raw` of a pushed manifest.
fn raw_manifest(reference: &str, creds: Option<&str>) -> Value {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--raw", "--tls-verify=false"]);
    if let Some(c) = creds {
        cmd.args(["--creds", c]);
    }
    serde_json::from_str(&run_ok(cmd.arg(format!("docker://{reference}")))).unwrap()
}

fn layer_types(manifest: &Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap().to_string())
        .collect()
}

/// Copies `reference` out of the registry with skopeo into an OCI layout
/// and has podman pull and run it.
fn copy_back_and_run(env: &Env, reference: &str, creds: Option<&str>) -> String {
    let layout = env.path("copied");
    let mut copy = Command::new("skopeo");
    copy.args(["copy", "--src-tls-verify=false"]);
    if let Some(c) = creds {
        copy.args(["--src-creds", c]);
    }
    run_ok(
        copy.arg(format!("docker://{reference}"))
            .arg(format!("oci:{}:copied", layout.display())),
    );
    let pm = Podman::new(env);
    let mut pull = pm.cmd();
    pull.args(["pull", "-q", "--tls-verify=false"]);
    if let Some(c) = creds {
        pull.args(["--creds", c]);
    }
    run_ok(pull.arg(reference));
    run_ok(pm.cmd().args(["run", "--rm", "--network=none", reference]))
}

#[test]
fn images_pushed_by_strata_are_copied_back_by_skopeo_and_run_by_podman() {
    let Some((reg, env, ctx)) = setup(false) else {
        return;
    };
    let app = format!("{}/team/app:1", reg.host());
    let built = env.build(&ctx, &["-t", &app, "--push"]).ok();
    let pushed = raw_manifest(&app, None);
    assert_eq!(pushed["config"]["digest"], built.image_id().trim());
    assert_eq!(copy_back_and_run(&env, &app, None), "built-by-run\nhello\n");

    // -o type=image,push=true: the same image under another name; its
    // blobs are already in the registry.
    let other = format!("{}/team/app:2", reg.host());
    let again = env
        .build(&ctx, &["-o", &format!("type=image,name={other},push=true")])
        .ok();
    assert!(
        again.stderr.contains("0 blobs uploaded"),
        "{}",
        again.stderr
    );
    assert_eq!(raw_manifest(&other, None), pushed);
}

#[test]
fn an_image_pushed_by_skopeo_is_pulled_by_strata_as_a_base() {
    let Some((reg, env, _)) = setup(false) else {
        return;
    };
    let layout = env.path("base-layout");
    run_ok(
        env.strata()
            .args([
                "build",
                "-o",
                &format!("type=oci,dest={},tar=false", layout.display()),
            ])
            .arg(dockerfile_context(
                &env,
                "base",
                "FROM busybox\nRUN echo from-skopeo > /origin\n",
                &[],
            )),
    );
    let base = format!("{}/lib/base:1", reg.host());
    run_ok(
        Command::new("skopeo")
            .args(["copy", "--dest-tls-verify=false"])
            .arg(format!("oci:{}", layout.display()))
            .arg(format!("docker://{base}")),
    );
    let fresh = Env::new();
    let ctx = dockerfile_context(
        &fresh,
        "app",
        &format!("FROM {base}\nRUN cat /origin > /copied\n"),
        &[],
    );
    let built = fresh.build(&ctx, &["-t", "app"]).ok();
    assert_eq!(built.ran(), ["RUN cat /origin > /copied"]);
    assert_eq!(fresh.image("app").file("/copied").text(), "from-skopeo\n");
    fresh.assert_store_clean();
}

#[test]
fn push_with_zstd_is_read_by_skopeo_and_podman_and_not_recompressed_twice() {
    let Some((reg, env, ctx)) = setup(false) else {
        return;
    };
    let zstd = format!("{}/team/app:zstd", reg.host());
    let built = env
        .build(
            &ctx,
            &[
                "-t",
                "app",
                "-o",
                &format!("type=image,name={zstd},push=true,compression=zstd"),
            ],
        )
        .ok();
    let pushed = raw_manifest(&zstd, None);
    let types = layer_types(&pushed);
    // Only the layers this build made; the base keeps its gzip.
    assert_eq!(
        types,
        [
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ]
    );
    assert_eq!(pushed["config"]["digest"], built.image_id().trim());
    assert_eq!(
        copy_back_and_run(&env, &zstd, None),
        "built-by-run\nhello\n"
    );

    // strata push --compression zstd converts every layer; the two made
    // above are reused, not compressed again.
    let blobs_before = std::fs::read_dir(env.root.join("blobs/sha256"))
        .unwrap()
        .count();
    let all = format!("{}/team/app:all-zstd", reg.host());
    run_ok(
        env.strata()
            .args(["push", "--compression", "zstd", "app", &all]),
    );
    let blobs_after = std::fs::read_dir(env.root.join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(
        blobs_after,
        blobs_before + 2,
        "one base layer and one manifest are new"
    );
    let all_zstd = raw_manifest(&all, None);
    assert!(layer_types(&all_zstd).iter().all(|t| t.ends_with("+zstd")));
    assert_eq!(all_zstd["layers"][1], pushed["layers"][1]);
    run_ok(
        env.strata()
            .args(["push", "--compression", "zstd", "app", &all]),
    );
    assert_eq!(
        std::fs::read_dir(env.root.join("blobs/sha256"))
            .unwrap()
            .count(),
        blobs_after
    );

    // gzip again: the store's own blobs, the original manifest.
    let gz = format!("{}/team/app:gzip", reg.host());
    run_ok(
        env.strata()
            .args(["push", "--compression", "gzip", "app", &gz]),
    );
    assert_eq!(
        layer_types(&raw_manifest(&gz, None)),
        vec!["application/vnd.oci.image.layer.v1.tar+gzip"; 3]
    );
    env.assert_store_clean();
}

#[test]
fn push_and_pull_through_a_registry_with_basic_auth() {
    let Some((reg, env, ctx)) = setup(true) else {
        return;
    };
    let creds = format!("{}:{}", USER.0, USER.1);
    let app = format!("{}/private/app:1", reg.host());
    let denied = env.build(&ctx, &["-t", &app, "--push"]).failed();
    assert!(denied.stderr.contains("unauthorized"), "{}", denied.stderr);
    let config = reg.docker_config();
    env.build_with(&ctx, &["-t", &app, "--push"], |c| {
        c.env("DOCKER_CONFIG", &config);
    })
    .ok();
    assert_eq!(
        copy_back_and_run(&env, &app, Some(&creds)),
        "built-by-run\nhello\n"
    );

    // And back as a base image on another store.
    let fresh = Env::new();
    let ctx = dockerfile_context(
        &fresh,
        "child",
        &format!("FROM {app}\nRUN cat /built > /again\n"),
        &[],
    );
    fresh
        .build_with(&ctx, &["-t", "child"], |c| {
            c.env("DOCKER_CONFIG", &config);
        })
        .ok();
    assert_eq!(fresh.image("child").file("/again").text(), "built-by-run\n");
}
