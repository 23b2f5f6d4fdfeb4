//! `docker save` archives without `index.json` (Docker before 25, `podman
//! save --format docker-archive`): `manifest.json` lists each image's
//! config file, layer files and `RepoTags`. Such an archive has no
//! manifest, so one is written: an OCI manifest over the archive's config
//! blob (unchanged, so the image ID, the config digest, stays the same)
//! and its layer files as they are (uncompressed tars, usually).

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use strata_store::{Descriptor, OCI_MANIFEST, Store};

/// One entry of `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// A path of `manifest.json`, which must stay inside the archive.
fn member(dir: &Path, name: &str) -> Result<PathBuf> {
    let rel = Path::new(name);
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        bail!("manifest.json names {name:?}, which is outside the archive");
    }
    Ok(dir.join(rel))
}

/// The OCI layer media type for a layer file, from its first bytes.
fn layer_media_type(path: &Path) -> Result<&'static str> {
    let mut magic = [0u8; 4];
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let n = file
        .read(&mut magic)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(match &magic[..n] {
        [0x1f, 0x8b, ..] => "application/vnd.oci.image.layer.v1.tar+gzip",
        [0x28, 0xb5, 0x2f, 0xfd] => "application/vnd.oci.image.layer.v1.tar+zstd",
        _ => "application/vnd.oci.image.layer.v1.tar",
    })
}

/// Imports every image of an unpacked legacy archive into the store; returns
/// each image's manifest and its `RepoTags`.
pub fn import(store: &Store, dir: &Path) -> Result<Vec<(Descriptor, Vec<String>)>> {
    let path = dir.join("manifest.json");
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let entries: Vec<Entry> =
        serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))?;
    let mut out = Vec::new();
    for entry in entries {
        let config_path = member(dir, &entry.config)?;
        let (digest, size) = store
            .import_blob_file(&config_path, None)
            .with_context(|| format!("importing {}", entry.config))?;
        let config = Descriptor::new("application/vnd.oci.image.config.v1+json", digest, size);
        let mut layers = Vec::new();
        for layer in &entry.layers {
            let layer_path = member(dir, layer)?;
            let media_type = layer_media_type(&layer_path)?;
            let (digest, size) = store
                .import_blob_file(&layer_path, None)
                .with_context(|| format!("importing {layer}"))?;
            layers.push(Descriptor::new(media_type, digest, size));
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config,
            "layers": layers,
        });
        let (digest, size) = store
            .put_json(&manifest)
            .context("writing the image manifest")?;
        out.push((
            Descriptor::new(OCI_MANIFEST, digest, size),
            entry.repo_tags.unwrap_or_default(),
        ));
    }
    Ok(out)
}
