//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use serde_json::json;
use std::io::Write;
use strata_store::{Descriptor, Digest, OCI_MANIFEST, Store};

/// The parts of a minimal valid image.
pub struct Image {
    /// The manifest descriptor (what a tag points at).
    pub manifest: Descriptor,
    /// The config blob.
    pub config: Digest,
    /// The one (empty) layer, gzip-compressed.
    pub layer: Digest,
}

/// Writes a minimal valid OCI image: one empty layer (an empty tar,
/// gzipped), a config whose rootfs.diff_ids names the uncompressed tar, and
/// a manifest. `seed` varies the config so several images can coexist.
pub fn minimal_image(store: &Store, seed: &str) -> Image {
    let tar = vec![0u8; 1024]; // an empty tar archive: two zero blocks
    let diff_id = Digest::of(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let layer_bytes = gz.finish().unwrap();
    let layer = store.write_blob(&layer_bytes).unwrap();
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Env": [format!("SEED={seed}")] },
        "rootfs": { "type": "layers", "diff_ids": [diff_id.to_string()] },
        "history": [{ "created_by": "strata-store test" }],
    });
    let (config_digest, config_size) = store.put_json(&config).unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest.to_string(),
            "size": config_size,
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer.to_string(),
            "size": layer_bytes.len(),
        }],
    });
    let (digest, size) = store.put_json(&manifest).unwrap();
    Image {
        manifest: Descriptor::new(OCI_MANIFEST, digest, size),
        config: config_digest,
        layer,
    }
}

/// Whether an external tool is usable; in CI (`CI=true`) a missing tool is
/// a failure, elsewhere the test prints a note and is skipped.
pub fn have_tool(name: &str) -> bool {
    let found = std::process::Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{name} is required in CI but was not found"
        );
        eprintln!("note: {name} not found; skipping");
    }
    found
}
