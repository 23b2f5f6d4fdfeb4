//! The zstd:chunked form of a layer (`compression=zstd:chunked`): made
//! once from the layer's blob and remembered by the layer's diffID, with
//! the annotations its descriptor needs (the tar inside is the layer's,
//! so the diffID and the image config do not change):
//!
//! ```text
//! ROOT/layer-variants-v1/<diffID hex>.zstd-chunked-<level>.json
//! ```

use crate::convert::{known_blob, variant_descriptor, variants_path, write_json, write_variant};
use crate::worker::WorkerError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use strata_layer::{Compression, to_zstd_chunked};
use strata_store::{Descriptor, Digest, Store};

/// A layer in zstd:chunked: its blob and the annotations that locate the
/// table of contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZstdChunkedLayer {
    /// `sha256:` of the blob.
    pub digest: String,
    /// Size of the blob.
    pub size: u64,
    /// The descriptor's annotations (TOC digest and positions).
    pub annotations: BTreeMap<String, String>,
}

impl ZstdChunkedLayer {
    /// The layer descriptor, annotated as containers/storage reads it.
    pub fn descriptor(&self) -> Result<Descriptor, WorkerError> {
        variant_descriptor(
            "zstd:chunked",
            Compression::ZstdChunked { level: 0 },
            &self.digest,
            self.size,
            self.annotations.clone(),
        )
    }
}

/// The layer `blob` (of `diff_id`) in zstd:chunked at zstd `level`: made
/// before and still in the store, or made now (copying the zstd frames
/// the store holds) and remembered.
pub fn zstd_chunked_variant(
    store: &Store,
    blob: &Digest,
    diff_id: &str,
    level: i32,
) -> Result<ZstdChunkedLayer, WorkerError> {
    let path = variants_path(store, diff_id)?.with_extension(format!("zstd-chunked-{level}.json"));
    if let Some(known) = known_blob(store, &path, |l: &ZstdChunkedLayer| &l.digest) {
        return Ok(known);
    }
    let (digest, size, digests) = write_variant(
        store,
        blob,
        Compression::ZstdChunked { level },
        |reader, out, chunks| to_zstd_chunked(reader, diff_id, level, out, chunks),
        |digests| &digests.layer.digest,
    )?;
    let layer = ZstdChunkedLayer {
        digest: digest.to_string(),
        size,
        annotations: digests.positions.annotations(),
    };
    write_json(store, &path, &layer)?;
    Ok(layer)
}
