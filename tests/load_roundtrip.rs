//! Images from other tools into the store: `podman save` archives (OCI and
//! docker formats) load with the same digests and go back to podman
//! unchanged; one image is picked out of a layout by tag or digest.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, Podman, build_image, have_tool, run_ok};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn json_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The manifest digest a store tags `name` with.
fn store_manifest(env: &Env, name: &str) -> String {
    let index = json_file(&env.root.join("index.json"));
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
        .unwrap_or_else(|| panic!("{name} not in the store: {index}"))["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Builds `app` and puts it into a fresh podman as `localhost/app:latest`.
fn app_in_podman(env: &Env) -> Podman {
    build_image(
        env,
        "FROM busybox\nCOPY hello.txt /\nCMD [\"cat\", \"/hello.txt\"]\n",
        &[("hello.txt", "hello from strata\n")],
        "app",
    );
    let archive = env.path("app.tar");
    run_ok(
        env.strata()
            .args(["build", "-q", "-t", "app", "-o"])
            .arg(format!("type=docker,dest={}", archive.display()))
            .arg(env.path("ctx-app")),
    );
    let pm = Podman::new(env);
    run_ok(pm.cmd().arg("load").arg("-i").arg(&archive));
    pm
}

#[test]
fn podman_oci_archive_round_trips_with_the_same_digests() {
    if !have_tool("podman") || !have_tool("skopeo") {
        return;
    }
    let env = Env::new();
    let pm = app_in_podman(&env);
    let saved = env.path("saved-oci.tar");
    run_ok(
        pm.cmd()
            .args(["save", "--format", "oci-archive", "-o"])
            .arg(&saved)
            .arg("app:latest"),
    );
    // What podman wrote: its manifest digest, from the archive's index.json.
    let unpacked = env.path("saved-oci");
    std::fs::create_dir_all(&unpacked).unwrap();
    run_ok(
        Command::new("tar")
            .arg("-xf")
            .arg(&saved)
            .arg("-C")
            .arg(&unpacked),
    );
    let podman_manifest = json_file(&unpacked.join("index.json"))["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();

    let out = run_ok(
        env.strata()
            .args(["load", "-t", "roundtrip:oci", "-i"])
            .arg(&saved),
    );
    assert!(out.contains("roundtrip:oci"), "{out}");
    assert_eq!(store_manifest(&env, "roundtrip:oci"), podman_manifest);
    env.assert_store_clean();

    // Back to podman from the store: the same image ID.
    let back = env.path("back.tar");
    run_ok(
        Command::new("skopeo")
            .arg("copy")
            .arg(format!("oci:{}:roundtrip:oci", env.root.display()))
            .arg(format!("oci-archive:{}", back.display())),
    );
    let before = run_ok(
        pm.cmd()
            .args(["image", "inspect", "--format", "{{.Id}}", "app:latest"]),
    );
    run_ok(pm.cmd().args(["rmi", "-f", "app:latest"]));
    run_ok(pm.cmd().arg("load").arg("-i").arg(&back));
    let after = run_ok(
        pm.cmd()
            .args(["image", "inspect", "--format", "{{.Id}}"])
            .arg(
                run_ok(pm.cmd().args(["images", "-q", "--no-trunc"]))
                    .lines()
                    .next()
                    .unwrap(),
            ),
    );
    assert_eq!(before, after);
}

#[test]
fn podman_docker_archive_loads_keeps_the_image_id_and_serves_as_a_base() {
    if !have_tool("podman") {
        return;
    }
    let env = Env::new();
    let pm = app_in_podman(&env);
    let saved = env.path("saved-docker.tar");
    run_ok(
        pm.cmd()
            .args(["save", "--format", "docker-archive", "-o"])
            .arg(&saved)
            .arg("app:latest"),
    );
    let podman_id =
        run_ok(
            pm.cmd()
                .args(["image", "inspect", "--format", "{{.Id}}", "app:latest"]),
        );

    let out = run_ok(
        env.strata()
            .args(["load", "-t", "fromdocker", "-i"])
            .arg(&saved),
    );
    assert!(out.contains("fromdocker"), "{out}");
    // No manifest travels in this format; the config (the image ID) does.
    let image = env.image("fromdocker");
    assert_eq!(image.config_digest, format!("sha256:{}", podman_id.trim()));
    assert_eq!(image.file("hello.txt").text(), "hello from strata\n");
    env.assert_store_clean();

    // Its uncompressed layers serve as a base for a build.
    let child = build_image(
        &env,
        "FROM fromdocker\nRUN cat /hello.txt > /copy.txt\n",
        &[],
        "child",
    );
    assert_eq!(child.file("copy.txt").text(), "hello from strata\n");
}

#[test]
fn one_image_of_a_layout_is_picked_by_tag_or_digest() {
    if !have_tool("skopeo") {
        return;
    }
    let env = Env::new();
    build_image(
        &env,
        "FROM busybox\nCOPY a.txt /\n",
        &[("a.txt", "a\n")],
        "one",
    );
    build_image(
        &env,
        "FROM busybox\nCOPY b.txt /\n",
        &[("b.txt", "b\n")],
        "two",
    );
    let layout = env.path("layout");
    for (name, tag) in [("one", "first"), ("two", "second")] {
        run_ok(
            Command::new("skopeo")
                .arg("copy")
                .arg(format!("oci:{}:{name}:latest", env.root.display()))
                .arg(format!("oci:{}:{tag}", layout.display())),
        );
    }
    let second = store_manifest(&env, "two:latest");

    let other = Env::new();
    run_ok(
        other
            .strata()
            .args(["load", "-t", "picked", "-i"])
            .arg(format!("{}:second", layout.display())),
    );
    assert_eq!(store_manifest(&other, "picked:latest"), second);
    let all = json_file(&other.root.join("index.json"));
    assert!(!all.to_string().contains("first"), "{all}");

    let first = store_manifest(&env, "one:latest");
    run_ok(
        other
            .strata()
            .args(["load", "-t", "bydigest", "-i"])
            .arg(format!("{}@{first}", layout.display())),
    );
    assert_eq!(store_manifest(&other, "bydigest:latest"), first);

    let missing = common::run(
        other
            .strata()
            .args(["load", "-i"])
            .arg(format!("{}:nope", layout.display())),
    );
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no image named"),
        "{missing:?}"
    );
    other.assert_store_clean();
}
