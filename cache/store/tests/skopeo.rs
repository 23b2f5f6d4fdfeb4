//! A real consumer reads the store: skopeo's `oci:` transport.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use strata_store::Store;

fn skopeo(args: &[&str]) -> std::process::Output {
    let out = Command::new("skopeo").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn skopeo_inspects_and_copies_a_tagged_image() {
    if !common::have_tool("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = Store::open(&root).unwrap();
    let image = common::minimal_image(&store, "one");
    let other = common::minimal_image(&store, "two");
    store.set_tag("app:latest", &image.manifest).unwrap();
    store
        .set_tag("localhost:5000/app:1", &other.manifest)
        .unwrap();
    let root = root.to_str().unwrap();

    for (tag, img) in [("app:latest", &image), ("localhost:5000/app:1", &other)] {
        let out = skopeo(&["inspect", &format!("oci:{root}:{tag}")]);
        let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(info["Digest"], img.manifest.digest.to_string(), "{tag}");
        assert_eq!(info["Layers"][0], img.layer.to_string(), "{tag}");
        assert_eq!(info["Os"], "linux");
        let out = skopeo(&["inspect", "--config", &format!("oci:{root}:{tag}")]);
        let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            config["rootfs"]["diff_ids"][0],
            strata_store::Digest::of(&[0u8; 1024]).to_string()
        );
    }

    let copy = dir.path().join("copy");
    let copy_str = copy.to_str().unwrap();
    skopeo(&[
        "copy",
        "--quiet",
        &format!("oci:{root}:app:latest"),
        &format!("oci:{copy_str}:app:latest"),
    ]);
    let copied = Store::open(&copy).unwrap();
    let resolved = copied.resolve("app:latest").unwrap().unwrap();
    assert_eq!(resolved.digest, image.manifest.digest);
    assert!(copied.has_blob(&image.layer));
    assert!(copied.has_blob(&image.config));
    assert!(copied.check().unwrap().is_clean());
}

#[test]
fn a_missing_tag_is_refused_by_skopeo() {
    if !common::have_tool("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let image = common::minimal_image(&store, "one");
    store.set_tag("app:latest", &image.manifest).unwrap();
    let out = Command::new("skopeo")
        .args([
            "inspect",
            &format!("oci:{}:app:other", dir.path().display()),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
