//! [`StoreChunks`]: a [`ChunkCache`] over the chunk maps of a store, so
//! a layer written by one build reuses the compressed chunks of layers
//! written by earlier builds (in other processes too).

use crate::chunk::{CHUNK_FORMAT_VERSION, ChunkCache, ChunkEntry, ChunkKey, CompressedChunk};
use crate::compress::Compression;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use strata_store::{ChunkIndex, ChunkRecord, Digest, Store, StoreError};

/// The chunks of a store's layer blobs in one compression. The maps are
/// read on the first lookup; [`StoreChunks::record`] adds a written blob.
#[derive(Debug)]
pub struct StoreChunks {
    store: Store,
    compression: Compression,
    index: OnceLock<Option<ChunkIndex>>,
    hits: AtomicU64,
}

impl StoreChunks {
    /// The chunks of `store` compressed as `compression`.
    pub fn new(store: &Store, compression: Compression) -> StoreChunks {
        StoreChunks {
            store: store.clone(),
            compression,
            index: OnceLock::new(),
            hits: AtomicU64::new(0),
        }
    }

    /// The name of a compression's chunk format in the store, with the
    /// chunk format version; `None` for uncompressed layers, which have no
    /// chunks.
    pub fn format(compression: Compression) -> Option<String> {
        match compression {
            Compression::None => None,
            // eStargz members are gzip members: they share the gzip chunks.
            Compression::Gzip { level } | Compression::Estargz { level } => {
                Some(format!("gzip-{level}-v{CHUNK_FORMAT_VERSION}"))
            }
            // zstd:chunked frames are zstd frames: they share the zstd chunks.
            Compression::Zstd { level } | Compression::ZstdChunked { level } => {
                Some(format!("zstd-{level}-v{CHUNK_FORMAT_VERSION}"))
            }
        }
    }

    /// How many chunks were copied from the store so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Records where the chunks of `blob` (written with this cache, now in
    /// the store) are, for later builds.
    pub fn record(&self, blob: &Digest, chunks: &[ChunkEntry]) -> Result<(), StoreError> {
        let Some(format) = Self::format(self.compression) else {
            return Ok(());
        };
        let records: Vec<ChunkRecord> = chunks
            .iter()
            .map(|c| ChunkRecord {
                key: hex::encode(c.blake3),
                offset: c.offset,
                size: c.size,
                compressed_sha256: hex::encode(c.compressed_sha256),
                xxh3: format!("{:016x}", c.compressed_xxh3),
                stream_state: c.stream_state.clone(),
                blob_state: c.blob_state.clone(),
            })
            .collect();
        self.store.write_chunk_map(&format, blob, &records)
    }
}

impl ChunkCache for StoreChunks {
    fn enabled(&self) -> bool {
        Self::format(self.compression).is_some()
    }

    fn lookup(&self, key: &ChunkKey) -> Option<CompressedChunk> {
        let chunk = self.index(key)?.read(&hex::encode(key.blake3))?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(CompressedChunk {
            bytes: chunk.bytes,
            sha256: chunk.sha256,
            xxh3: chunk.xxh3,
        })
    }

    fn blobs_starting_with(&self, key: &ChunkKey) -> Vec<Arc<[ChunkRecord]>> {
        self.index(key)
            .map(|index| index.blobs_starting_with(&hex::encode(key.blake3)).to_vec())
            .unwrap_or_default()
    }
}

impl StoreChunks {
    /// The index of the chunks of `key`'s compression, read on first use;
    /// `None` for another compression, or when it cannot be read (which
    /// only means compressing again).
    fn index(&self, key: &ChunkKey) -> Option<&ChunkIndex> {
        if Self::format(key.compression) != Self::format(self.compression) {
            return None;
        }
        self.index
            .get_or_init(|| {
                let format = Self::format(self.compression)?;
                self.store.chunk_index(&format).ok()
            })
            .as_ref()
    }
}
