//! Following references from manifests and image indexes.

use crate::{Descriptor, Digest, Store, StoreError};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The fields of a manifest or an index that point at other content.
#[derive(Debug, Deserialize)]
struct Links {
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    #[serde(default)]
    subject: Option<Descriptor>,
}

/// True for media types whose content lists further descriptors.
pub fn is_manifest_or_index(media_type: &str) -> bool {
    matches!(
        media_type,
        OCI_MANIFEST | OCI_INDEX | DOCKER_MANIFEST | DOCKER_MANIFEST_LIST
    )
}

/// Layers that registries may keep elsewhere (`urls`), so their absence is
/// not damage.
fn is_foreign(media_type: &str) -> bool {
    media_type.contains("nondistributable") || media_type.contains(".foreign.")
}

/// A referenced blob that is not in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dangling {
    /// The missing blob.
    pub descriptor: Descriptor,
    /// The manifest or index that refers to it; `None` for `index.json`.
    pub referenced_by: Option<Digest>,
}

/// What a walk from some roots found.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    /// Every referenced blob that is present.
    pub present: BTreeSet<Digest>,
    /// Referenced blobs that are missing.
    pub dangling: Vec<Dangling>,
    /// Manifests that could not be read or parsed, with the reason.
    pub unreadable: BTreeMap<Digest, String>,
}

impl Store {
    /// The descriptors a manifest or index refers to (config, layers,
    /// manifests, subject), read and verified from the store. Content of any
    /// other media type refers to nothing.
    pub fn references(&self, desc: &Descriptor) -> Result<Vec<Descriptor>, StoreError> {
        if !is_manifest_or_index(&desc.media_type) {
            return Ok(Vec::new());
        }
        let bytes = self.read_blob(&desc.digest)?;
        let links: Links = serde_json::from_slice(&bytes).map_err(|e| StoreError::Invalid {
            path: self.blob_path(&desc.digest),
            message: format!("{} is not a valid {}: {e}", desc.digest, desc.media_type),
        })?;
        let mut out: Vec<Descriptor> = links.config.into_iter().collect();
        out.extend(links.layers);
        out.extend(links.manifests);
        out.extend(links.subject);
        Ok(out)
    }

    /// Walks from `roots` through every manifest and index reachable.
    pub(crate) fn walk(&self, roots: Vec<Descriptor>) -> Walk {
        let mut walk = Walk::default();
        let mut todo: Vec<(Descriptor, Option<Digest>)> =
            roots.into_iter().rev().map(|d| (d, None)).collect();
        while let Some((desc, parent)) = todo.pop() {
            if walk.present.contains(&desc.digest) {
                continue;
            }
            if !self.has_blob(&desc.digest) {
                if !is_foreign(&desc.media_type) {
                    walk.dangling.push(Dangling {
                        descriptor: desc,
                        referenced_by: parent,
                    });
                }
                continue;
            }
            walk.present.insert(desc.digest.clone());
            match self.references(&desc) {
                Ok(children) => {
                    let from = Some(desc.digest.clone());
                    todo.extend(children.into_iter().rev().map(|c| (c, from.clone())));
                }
                Err(e) => {
                    walk.unreadable.insert(desc.digest, e.to_string());
                }
            }
        }
        walk.dangling.sort_by(|a, b| {
            (&a.descriptor.digest, &a.referenced_by).cmp(&(&b.descriptor.digest, &b.referenced_by))
        });
        walk.dangling.dedup();
        walk
    }
}
