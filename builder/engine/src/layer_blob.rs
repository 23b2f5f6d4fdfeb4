//! Layer blobs written into the store, reusing the compressed chunks of
//! the store's earlier layers ([`StoreChunks`]) and recording the new
//! blob's chunks for later builds: after a one-file change, a rebuild
//! compresses one or two chunks instead of the whole layer.

use crate::archive::Blob;
use crate::state::LayerRef;
use crate::worker::WorkerError;
use std::path::Path;
use std::sync::Arc;
use strata_layer::{
    ExtraFiles, LayerSource, LayerWriter, StoreChunks, WriteOptions, append_tree_with, media_type,
};
use strata_store::{Digest, Store};

/// A layer written by [`store_layer`].
#[derive(Debug, Clone)]
pub struct StoredLayer {
    /// The layer.
    pub layer: LayerRef,
    /// True when the blob was not in the store before.
    pub new: bool,
}

/// Writes the layer of the tree under `dir` into the store (verified,
/// crash-safe) and records its chunks. `claim` is called with the blob
/// digest and the diffID once they are known, before the blob appears in
/// the store (so a concurrent prune never sees it unclaimed).
pub fn store_layer(
    store: &Store,
    dir: &Path,
    source: LayerSource,
    opts: &WriteOptions,
    claim: impl FnOnce(&Digest, &str) -> Result<(), WorkerError>,
) -> Result<StoredLayer, WorkerError> {
    store_layer_with(store, dir, source, &ExtraFiles::new(), opts, claim)
}

/// [`store_layer`] of a tree with the files of `extra` added to it (see
/// [`append_tree_with`]).
pub fn store_layer_with(
    store: &Store,
    dir: &Path,
    source: LayerSource,
    extra: &ExtraFiles,
    opts: &WriteOptions,
    claim: impl FnOnce(&Digest, &str) -> Result<(), WorkerError>,
) -> Result<StoredLayer, WorkerError> {
    let chunks = Arc::new(StoreChunks::new(store, opts.compression));
    let mut writer = LayerWriter::with_chunk_cache(store.blob_writer()?, opts, chunks.clone())?;
    append_tree_with(&mut writer, dir, source, extra)?;
    let (out, digests, written) = writer.finish_with_chunks()?;
    let expected: Digest = digests
        .digest
        .parse()
        .map_err(|e| WorkerError::Invalid(format!("layer digest: {e}")))?;
    claim(&expected, &digests.diff_id)?;
    let new = !store.has_blob(&expected);
    let (digest, size) = out.commit(Some(&expected))?;
    chunks.record(&digest, &written)?;
    Ok(StoredLayer {
        layer: LayerRef {
            diff_id: digests.diff_id,
            blob: Blob {
                digest: digest.to_string(),
                size,
                media_type: media_type(opts.compression).to_string(),
            },
        },
        new,
    })
}
