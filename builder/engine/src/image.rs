//! Images in the store: reading a base image (tag → manifest → config and
//! layers) and writing a built one (config and manifest blobs, tags).

use crate::archive::{Blob, ImageBlobs};
use crate::image_config::ImageConfig;
use crate::solve::host_architecture;
use crate::state::LayerRef;
/// Kept here for callers that format image times from `image`.
pub use crate::time::rfc3339;
use crate::worker::WorkerError;
use serde_json::{Value, json};
pub use strata_store::OCI_MANIFEST;
use strata_store::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Descriptor, Digest, OCI_INDEX, Store};

/// OCI image config media type.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// The name a reference is stored under: docker's familiar form with a tag
/// (`python` → `python:latest`, `docker.io/library/python:3` → `python:3`,
/// `localhost:5000/app` → `localhost:5000/app:latest`); a digest reference
/// keeps its digest.
pub fn store_name(reference: &str) -> String {
    if let Ok(r) = strata_registry::Reference::parse(reference.trim()) {
        return r.familiar();
    }
    lexical_store_name(reference)
}

/// [`store_name`] for names docker's grammar rejects (upper case, …),
/// which can still name images in the store.
fn lexical_store_name(reference: &str) -> String {
    let mut name = reference.trim();
    for prefix in ["docker.io/library/", "index.docker.io/library/"] {
        if let Some(rest) = name.strip_prefix(prefix) {
            name = rest;
        }
    }
    for prefix in ["docker.io/", "index.docker.io/"] {
        if let Some(rest) = name.strip_prefix(prefix) {
            name = rest;
        }
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    if name.contains('@') || last.contains(':') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// A base image read from the store.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// The manifest (after choosing the host's platform in an index).
    pub manifest: Descriptor,
    /// The configuration.
    pub config: ImageConfig,
    /// The layers, bottom first.
    pub layers: Vec<LayerRef>,
}

fn bad(reference: &str, reason: impl Into<String>) -> WorkerError {
    WorkerError::BadImage {
        reference: reference.to_string(),
        reason: reason.into(),
    }
}

fn read_json(store: &Store, digest: &Digest) -> Result<Value, WorkerError> {
    let bytes = store.read_blob(digest)?;
    serde_json::from_slice(&bytes).map_err(|e| WorkerError::Invalid(format!("{digest}: {e}")))
}

fn descriptor_of(reference: &str, value: &Value) -> Result<Descriptor, WorkerError> {
    serde_json::from_value(value.clone())
        .map_err(|e| bad(reference, format!("bad descriptor: {e}")))
}

/// Reads an image from the store by reference (see [`store_name`]) or by
/// manifest digest; `None` when the store does not have it.
pub fn load_image(store: &Store, reference: &str) -> Result<Option<StoredImage>, WorkerError> {
    let name = store_name(reference);
    let Some(mut desc) = store.resolve(&name)? else {
        return Ok(None);
    };
    // An index: the manifest for this host.
    for _ in 0..4 {
        if desc.media_type != OCI_INDEX && desc.media_type != DOCKER_MANIFEST_LIST {
            break;
        }
        let index = read_json(store, &desc.digest)?;
        let arch = host_architecture();
        let chosen = index["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["platform"]["os"] == "linux" && m["platform"]["architecture"] == arch)
            .ok_or_else(|| bad(reference, format!("no manifest for linux/{arch}")))?;
        desc = descriptor_of(reference, chosen)?;
    }
    if desc.media_type != OCI_MANIFEST && desc.media_type != DOCKER_MANIFEST {
        return Err(bad(
            reference,
            format!("unsupported manifest type {}", desc.media_type),
        ));
    }
    let manifest = read_json(store, &desc.digest)?;
    let config_desc = descriptor_of(reference, &manifest["config"])?;
    let config_bytes = store.read_blob(&config_desc.digest)?;
    let config: ImageConfig = serde_json::from_slice(&config_bytes)
        .map_err(|e| bad(reference, format!("bad image configuration: {e}")))?;
    let layer_descs = manifest["layers"].as_array().cloned().unwrap_or_default();
    if layer_descs.len() != config.rootfs.diff_ids.len() {
        return Err(bad(
            reference,
            format!(
                "{} layers but {} diff_ids",
                layer_descs.len(),
                config.rootfs.diff_ids.len()
            ),
        ));
    }
    let mut layers = Vec::new();
    for (d, diff_id) in layer_descs.iter().zip(&config.rootfs.diff_ids) {
        let d = descriptor_of(reference, d)?;
        layers.push(LayerRef {
            diff_id: diff_id.clone(),
            blob: Blob {
                digest: d.digest.to_string(),
                size: d.size,
                media_type: d.media_type,
            },
        });
    }
    Ok(Some(StoredImage {
        manifest: desc,
        config,
        layers,
    }))
}

/// When base images are fetched from their registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Only when the store does not have the image (the default).
    #[default]
    Missing,
    /// Check the registry for a newer image once per build (`--pull`).
    Always,
    /// Never: the store must have it.
    Never,
}

/// Base images for one build: from the store, pulled when the policy says
/// so. Each reference is resolved once per build, so every stage (and the
/// frontend, for ENV and ONBUILD) sees the same image.
pub struct BaseImages {
    store: Store,
    client: Option<strata_registry::Client>,
    policy: PullPolicy,
    resolved: std::sync::Mutex<std::collections::BTreeMap<String, StoredImage>>,
    progress: Box<dyn Fn(&str) + Send + Sync>,
}

impl std::fmt::Debug for BaseImages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BaseImages")
            .field("store", &self.store.root())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl BaseImages {
    /// Base images from `store`, pulled with `client` (none: never pull).
    /// `progress` hears one line per pull.
    pub fn new(
        store: Store,
        client: Option<strata_registry::Client>,
        policy: PullPolicy,
        progress: Box<dyn Fn(&str) + Send + Sync>,
    ) -> BaseImages {
        BaseImages {
            store,
            client,
            policy,
            resolved: Default::default(),
            progress,
        }
    }

    /// The image a reference names.
    pub fn get(&self, reference: &str) -> Result<StoredImage, WorkerError> {
        if let Ok(resolved) = self.resolved.lock()
            && let Some(image) = resolved.get(reference)
        {
            return Ok(image.clone());
        }
        let image = self.fetch(reference)?;
        if let Ok(mut resolved) = self.resolved.lock() {
            resolved.insert(reference.to_string(), image.clone());
        }
        Ok(image)
    }

    fn fetch(&self, reference: &str) -> Result<StoredImage, WorkerError> {
        let local = load_image(&self.store, reference)?;
        let pull = match (self.policy, &local) {
            (PullPolicy::Never, _) => false,
            (PullPolicy::Always, _) => true,
            (PullPolicy::Missing, found) => found.is_none(),
        };
        if pull && let Some(client) = &self.client {
            let parsed = strata_registry::Reference::parse(reference)
                .map_err(|e| bad(reference, e.to_string()))?;
            (self.progress)(&format!("pulling {parsed}"));
            let opts = strata_registry::PullOptions {
                tag: false,
                ..Default::default()
            };
            match client.pull(&self.store, &parsed, &opts, &strata_registry::no_progress) {
                Ok(pulled) => {
                    // The platform's manifest: other platforms of an index
                    // are not downloaded.
                    self.store
                        .set_tag(&store_name(reference), &pulled.manifest)?;
                }
                // With --pull, a store copy still builds when the registry
                // cannot be reached, as docker does.
                Err(e) if local.is_some() => {
                    (self.progress)(&format!("could not check {parsed} for updates: {e}"));
                }
                Err(e) => {
                    return Err(WorkerError::Pull {
                        reference: reference.to_string(),
                        message: e.to_string(),
                    });
                }
            }
            if let Some(image) = load_image(&self.store, reference)? {
                return Ok(image);
            }
        }
        local.ok_or_else(|| WorkerError::ImageNotFound(reference.to_string()))
    }
}

/// Writes an image's configuration and manifest into the store (layers must
/// be there already) and returns its blobs.
pub fn write_image(
    store: &Store,
    config: &ImageConfig,
    layers: &[LayerRef],
    annotations: &std::collections::BTreeMap<String, String>,
) -> Result<ImageBlobs, WorkerError> {
    let config_bytes = serde_json::to_vec(config)
        .map_err(|e| WorkerError::Invalid(format!("image configuration: {e}")))?;
    let config_digest = store.write_blob(&config_bytes)?;
    let config_blob = Blob {
        digest: config_digest.to_string(),
        size: config_bytes.len() as u64,
        media_type: OCI_CONFIG.to_string(),
    };
    let blob_json =
        |b: &Blob| json!({"mediaType": b.media_type, "digest": b.digest, "size": b.size});
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": blob_json(&config_blob),
        "layers": layers.iter().map(|l| blob_json(&l.blob)).collect::<Vec<_>>(),
    });
    if !annotations.is_empty() {
        manifest["annotations"] = json!(annotations);
    }
    let manifest_bytes = serde_json::to_vec(&manifest)
        .map_err(|e| WorkerError::Invalid(format!("image manifest: {e}")))?;
    let manifest_digest = store.write_blob(&manifest_bytes)?;
    Ok(ImageBlobs {
        manifest: Blob {
            digest: manifest_digest.to_string(),
            size: manifest_bytes.len() as u64,
            media_type: OCI_MANIFEST.to_string(),
        },
        config: config_blob,
        layers: layers.iter().map(|l| l.blob.clone()).collect(),
    })
}

/// Tags an image in the store under each name (see [`store_name`]).
pub fn tag_image(store: &Store, image: &ImageBlobs, names: &[String]) -> Result<(), WorkerError> {
    let digest: Digest = image
        .manifest
        .digest
        .parse()
        .map_err(|e| WorkerError::Invalid(format!("manifest digest: {e}")))?;
    let desc = Descriptor::new(OCI_MANIFEST, digest, image.manifest.size);
    for name in names {
        store.set_tag(&store_name(name), &desc)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_names_are_familiar_and_tagged() {
        assert_eq!(store_name("python"), "python:latest");
        assert_eq!(store_name("docker.io/library/python:3.12"), "python:3.12");
        assert_eq!(store_name("docker.io/me/app"), "me/app:latest");
        assert_eq!(
            store_name("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
        assert_eq!(store_name("localhost:5000/app:1"), "localhost:5000/app:1");
        assert_eq!(store_name("a@sha256:00"), "a@sha256:00");
    }
}
