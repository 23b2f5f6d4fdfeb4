//! The eStargz form of a layer (`compression=estargz`): made once from
//! the layer's blob and remembered by the layer's diffID, with what its
//! descriptor and the image config need (its own diffID, the TOC digest,
//! the uncompressed size):
//!
//! ```text
//! ROOT/layer-variants-v1/<diffID hex>.estargz-<level>.json
//! ```

use crate::convert::{known_blob, variant_descriptor, variants_path, write_json, write_variant};
use crate::worker::WorkerError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use strata_layer::{Compression, TOC_DIGEST_ANNOTATION, UNCOMPRESSED_SIZE_ANNOTATION, to_estargz};
use strata_store::{Descriptor, Digest, Store};

/// A layer in eStargz: its descriptor (with the eStargz annotations) and
/// the diffID the image config must list for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EstargzLayer {
    /// `sha256:` of the blob.
    pub digest: String,
    /// Size of the blob.
    pub size: u64,
    /// `sha256:` of its uncompressed tar (not the source layer's).
    pub diff_id: String,
    /// Size of its uncompressed tar.
    pub uncompressed_size: u64,
    /// `sha256:` of its table of contents.
    pub toc_digest: String,
}

impl EstargzLayer {
    /// The layer descriptor, annotated as stargz-snapshotter reads it.
    pub fn descriptor(&self) -> Result<Descriptor, WorkerError> {
        variant_descriptor(
            "eStargz",
            Compression::Estargz { level: 0 },
            &self.digest,
            self.size,
            BTreeMap::from([
                (TOC_DIGEST_ANNOTATION.to_string(), self.toc_digest.clone()),
                (
                    UNCOMPRESSED_SIZE_ANNOTATION.to_string(),
                    self.uncompressed_size.to_string(),
                ),
            ]),
        )
    }
}

/// The layer `blob` (of `diff_id`) in eStargz at gzip `level`: made
/// before and still in the store, or made now (copying the gzip members
/// the store holds) and remembered.
pub fn estargz_variant(
    store: &Store,
    blob: &Digest,
    diff_id: &str,
    level: u32,
) -> Result<EstargzLayer, WorkerError> {
    let path = variants_path(store, diff_id)?.with_extension(format!("estargz-{level}.json"));
    if let Some(known) = known_blob(store, &path, |l: &EstargzLayer| &l.digest) {
        return Ok(known);
    }
    let (digest, size, digests) = write_variant(
        store,
        blob,
        Compression::Estargz { level },
        |reader, out, chunks| to_estargz(reader, diff_id, level, out, chunks),
        |digests| &digests.layer.digest,
    )?;
    let layer = EstargzLayer {
        digest: digest.to_string(),
        size,
        diff_id: digests.layer.diff_id,
        uncompressed_size: digests.layer.uncompressed_size,
        toc_digest: digests.toc_digest,
    };
    write_json(store, &path, &layer)?;
    Ok(layer)
}
