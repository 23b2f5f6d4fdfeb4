//! Chunks of a layer: each compressed on its own (a gzip member or a zstd
//! frame), so a chunk whose bytes did not change can be copied from an
//! earlier blob instead of being compressed again.
//!
//! Decoders read concatenated gzip members (RFC 1952) and zstd frames as
//! one stream. Where chunks end is decided by `cut.rs`; the parallel
//! compression by `pipeline.rs`.
//!
//! A [`ChunkCache`] supplies the compressed form of a chunk seen before,
//! keyed by the BLAKE3 of its uncompressed bytes and the compression
//! (BLAKE3: collision resistant like SHA-256, and about four times faster
//! here, where every byte of a rebuilt layer is keyed);
//! [`MemoryChunkCache`] keeps them in memory, [`crate::StoreChunks`] finds
//! them in the layer blobs of a store.

use crate::compress::Compression;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use strata_store::{ChunkRecord, Midstate};

/// Version of the chunk format: bumped whenever the cut points or the
/// encoder settings change, or a dependency upgrade changes the compressed
/// bytes, so that chunks made by another version are never mixed into a
/// blob (the same files must give the same blob on every machine), or
/// the chunk key changes (2: BLAKE3 instead of SHA-256, with hash states).
pub const CHUNK_FORMAT_VERSION: u32 = 2;

/// Identifies a compressed chunk: what it holds and how it was compressed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChunkKey {
    /// BLAKE3 of the uncompressed chunk.
    pub blake3: [u8; 32],
    /// The compression (algorithm and level) of the stored form.
    pub compression: Compression,
}

/// One chunk of a written blob, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkEntry {
    /// BLAKE3 of the uncompressed chunk (its key).
    pub blake3: [u8; 32],
    /// Size of the uncompressed chunk.
    pub uncompressed_size: u64,
    /// Where the compressed chunk starts in the blob.
    pub offset: u64,
    /// Size of the compressed chunk.
    pub size: u64,
    /// SHA-256 of the compressed chunk.
    pub compressed_sha256: [u8; 32],
    /// [`strata_store::chunk_checksum`] of the compressed chunk, to check
    /// a copy later.
    pub compressed_xxh3: u64,
    /// True when the compressed bytes came from the cache.
    pub reused: bool,
    /// True when neither digest hashed the chunk: it and every chunk
    /// before it are those of an earlier blob, whose hash states after it
    /// were taken.
    pub resumed: bool,
    /// The SHA-256 state of the uncompressed stream after this chunk.
    pub stream_state: Option<Midstate>,
    /// The SHA-256 state of the blob after this chunk.
    pub blob_state: Option<Midstate>,
}

impl ChunkEntry {
    /// Whether `record` (a chunk of an earlier blob) is this chunk at the
    /// same place: same key, same compressed bytes, same offset.
    pub(crate) fn same_as(&self, record: &ChunkRecord) -> bool {
        record.offset == self.offset
            && record.size == self.size
            && record.key == hex::encode(self.blake3)
            && record.compressed_sha256 == hex::encode(self.compressed_sha256)
    }
}

/// The compressed form of a chunk with the SHA-256 and the checksum of
/// those bytes, so a chunk copied from a cache that checked it is not
/// hashed again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressedChunk {
    /// The gzip member or zstd frame.
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`.
    pub sha256: [u8; 32],
    /// [`strata_store::chunk_checksum`] of `bytes`.
    pub xxh3: u64,
}

impl CompressedChunk {
    /// Wraps compressed bytes, hashing them.
    pub fn new(bytes: Vec<u8>) -> CompressedChunk {
        let sha256 = Sha256::digest(&bytes).into();
        let xxh3 = strata_store::chunk_checksum(&bytes);
        CompressedChunk {
            bytes,
            sha256,
            xxh3,
        }
    }
}

/// A store of compressed chunks, to reuse them between exports.
pub trait ChunkCache: Send + Sync {
    /// Whether to compute keys at all (hashing every chunk costs time).
    fn enabled(&self) -> bool {
        true
    }
    /// The compressed form of a chunk, when known; its `sha256` must be
    /// that of its bytes (checked by the cache, or computed by it).
    fn lookup(&self, key: &ChunkKey) -> Option<CompressedChunk>;
    /// Remembers the compressed form of a chunk (caches that learn chunks
    /// from the finished blob instead, as [`crate::StoreChunks`] does, keep
    /// the default, which does nothing).
    fn store(&self, _key: &ChunkKey, _chunk: &CompressedChunk) {}
    /// The chunk lists of earlier blobs of this compression that start
    /// with the chunk `key`, with the hash states after each chunk (see
    /// [`strata_store::ChunkIndex::blobs_starting_with`]): the writer of a
    /// blob with the same first chunks resumes both digests after them
    /// instead of hashing them. None by default.
    fn blobs_starting_with(&self, _key: &ChunkKey) -> Vec<Arc<[ChunkRecord]>> {
        Vec::new()
    }
}

/// A cache that never holds anything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoChunkCache;

impl ChunkCache for NoChunkCache {
    fn enabled(&self) -> bool {
        false
    }
    fn lookup(&self, _key: &ChunkKey) -> Option<CompressedChunk> {
        None
    }
}

/// A chunk cache in memory, counting its hits.
#[derive(Debug, Default)]
pub struct MemoryChunkCache {
    chunks: Mutex<HashMap<ChunkKey, CompressedChunk>>,
    hits: AtomicU64,
}

impl MemoryChunkCache {
    /// How many lookups found a chunk.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// How many chunks are stored.
    pub fn len(&self) -> usize {
        self.chunks.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ChunkCache for MemoryChunkCache {
    fn lookup(&self, key: &ChunkKey) -> Option<CompressedChunk> {
        let found = self.chunks.lock().ok()?.get(key).cloned();
        if found.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        found
    }
    fn store(&self, key: &ChunkKey, chunk: &CompressedChunk) {
        if let Ok(mut chunks) = self.chunks.lock() {
            chunks.insert(key.clone(), chunk.clone());
        }
    }
}

/// Compresses one chunk as a complete gzip member or zstd frame.
///
/// Both encoders run in their single-thread mode with fixed settings, so
/// the bytes depend only on the chunk, the level and the encoder version
/// ([`CHUNK_FORMAT_VERSION`]). zstd frames carry their content size and a
/// checksum, as the `zstd` command writes them.
pub(crate) fn compress_chunk(data: &[u8], compression: Compression) -> io::Result<Vec<u8>> {
    match compression {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip { level } | Compression::Estargz { level } => {
            let mut enc = flate2::GzBuilder::new().mtime(0).write(
                Vec::with_capacity(data.len() / 3 + 64),
                flate2::Compression::new(level.min(9)),
            );
            enc.write_all(data)?;
            enc.finish()
        }
        Compression::Zstd { level } | Compression::ZstdChunked { level } => {
            let mut enc = zstd::bulk::Compressor::new(level)?;
            enc.include_checksum(true)?;
            enc.include_contentsize(true)?;
            enc.compress(data)
        }
    }
}
