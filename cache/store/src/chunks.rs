//! Chunk maps: where the independently compressed chunks of a layer blob
//! are, so a later export can copy a chunk out of the blob instead of
//! compressing its bytes again.
//!
//! ```text
//! ROOT/chunks-v1/<format>/<blob hex>.json   one map per chunked layer blob
//! ```
//!
//! `<format>` names the compression and the chunk format version (for
//! example `gzip-6-v1`): chunks of another format are never mixed in. A map
//! lists, in order, each chunk's uncompressed SHA-256, its offset and size
//! in the blob, the SHA-256 of its compressed bytes and their XXH3-64
//! ([`chunk_checksum`]), checked on every copy.
//!
//! The check on a copy is the XXH3-64, not the SHA-256 (which maps written
//! before the checksum was recorded still get): about 20 times faster,
//! it catches a blob whose bytes changed under its map (corruption on
//! disk, truncation, other bytes) except with a probability of 2^-64. A
//! forgery that collides on purpose needs write access to the store,
//! which could rewrite the map's SHA-256 as well, so SHA-256 would not
//! guard against it either. The chunks themselves are not stored twice: they are read from
//! the blob, so a map costs about 200 bytes per chunk, and a map
//! whose blob was deleted is garbage ([`Store::unreferenced_chunk_maps`]).
//! Maps are written like any store file (temp file, fsync, rename); two
//! writers of one blob write the same map.

use crate::{Digest, Store, StoreError, io_err};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The folder of the chunk maps under the store root.
pub const CHUNKS_DIR: &str = "chunks-v1";

/// One chunk of a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRecord {
    /// SHA-256 of the uncompressed chunk, hex.
    pub sha256: String,
    /// Where the compressed chunk starts in the blob.
    pub offset: u64,
    /// Size of the compressed chunk.
    pub size: u64,
    /// SHA-256 of the compressed chunk, hex.
    pub compressed_sha256: String,
    /// [`chunk_checksum`] of the compressed chunk, hex; absent in maps
    /// written before it was recorded (their chunks are checked by
    /// SHA-256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xxh3: Option<String>,
}

/// The checksum a chunk map records for a compressed chunk, checked when
/// the chunk is copied (XXH3-64).
pub fn chunk_checksum(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// A compressed chunk read from a blob and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChunk {
    /// The compressed bytes.
    pub bytes: Vec<u8>,
    /// Their SHA-256 (checked, or recorded in a map whose checksum
    /// matched).
    pub sha256: [u8; 32],
    /// Their [`chunk_checksum`].
    pub xxh3: u64,
}

/// The map file of one blob.
#[derive(Debug, Serialize, Deserialize)]
struct ChunkMap {
    blob: Digest,
    chunks: Vec<ChunkRecord>,
}

/// Where a chunk can be copied from.
#[derive(Debug, Clone)]
struct Location {
    blob: Digest,
    offset: u64,
    size: u64,
    compressed_sha256: String,
    xxh3: Option<String>,
}

/// The chunks of one format known to a store, by uncompressed SHA-256.
#[derive(Debug)]
pub struct ChunkIndex {
    store: Store,
    by_sha: HashMap<String, Location>,
}

impl ChunkIndex {
    /// How many distinct chunks are known.
    pub fn len(&self) -> usize {
        self.by_sha.len()
    }

    /// True when no chunk is known.
    pub fn is_empty(&self) -> bool {
        self.by_sha.is_empty()
    }

    /// The compressed bytes of the chunk whose uncompressed SHA-256 is
    /// `sha256` (hex), read from its blob and verified; `None` when
    /// unknown, or when the blob is gone or does not hold the expected
    /// bytes any more (the caller then compresses the chunk again).
    /// Checked by the map's checksum when it has one, else by SHA-256.
    pub fn read(&self, sha256: &str) -> Option<StoredChunk> {
        let at = self.by_sha.get(sha256)?;
        let file = fs::File::open(self.store.blob_path(&at.blob)).ok()?;
        let mut bytes = vec![0; usize::try_from(at.size).ok()?];
        file.read_exact_at(&mut bytes, at.offset).ok()?;
        let xxh3 = chunk_checksum(&bytes);
        let sha256: [u8; 32] = match &at.xxh3 {
            Some(want) => {
                if *want != format!("{xxh3:016x}") {
                    return None;
                }
                hex::decode(&at.compressed_sha256).ok()?.try_into().ok()?
            }
            None => {
                let found: [u8; 32] = Sha256::digest(&bytes).into();
                if hex::encode(found) != at.compressed_sha256 {
                    return None;
                }
                found
            }
        };
        Some(StoredChunk {
            bytes,
            sha256,
            xxh3,
        })
    }
}

/// A chunk format name: lowercase letters, digits, `-`, `.` and `_`.
fn check_format<'a>(store: &Store, format: &'a str) -> Result<&'a str, StoreError> {
    let ok = !format.is_empty()
        && !format.starts_with('.')
        && format
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b));
    if ok {
        Ok(format)
    } else {
        Err(StoreError::Invalid {
            path: store.root().join(CHUNKS_DIR),
            message: format!("{format:?} is not a chunk format name"),
        })
    }
}

impl Store {
    fn chunks_dir(&self) -> PathBuf {
        self.root().join(CHUNKS_DIR)
    }

    /// Records the chunks of a blob of the store, in order. Blobs of one
    /// chunk are not worth a map and are skipped.
    pub fn write_chunk_map(
        &self,
        format: &str,
        blob: &Digest,
        chunks: &[ChunkRecord],
    ) -> Result<(), StoreError> {
        let dir = self.chunks_dir().join(check_format(self, format)?);
        if chunks.len() < 2 {
            return Ok(());
        }
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let map = ChunkMap {
            blob: blob.clone(),
            chunks: chunks.to_vec(),
        };
        let bytes = serde_json::to_vec(&map).map_err(|e| StoreError::Invalid {
            path: dir.clone(),
            message: format!("cannot encode a chunk map: {e}"),
        })?;
        self.write_file_atomic(&dir.join(format!("{}.json", blob.hex())), &bytes)
    }

    /// Loads the maps of one format whose blobs are present. A map that
    /// does not parse is skipped: it only costs a recompression.
    pub fn chunk_index(&self, format: &str) -> Result<ChunkIndex, StoreError> {
        let dir = self.chunks_dir().join(check_format(self, format)?);
        let mut by_sha = HashMap::new();
        for (path, blob) in map_files(&dir)? {
            if !self.has_blob(&blob) {
                continue;
            }
            let Ok(bytes) = fs::read(&path) else { continue };
            let Ok(map) = serde_json::from_slice::<ChunkMap>(&bytes) else {
                continue;
            };
            if map.blob != blob {
                continue;
            }
            for c in map.chunks {
                by_sha.entry(c.sha256).or_insert_with(|| Location {
                    blob: blob.clone(),
                    offset: c.offset,
                    size: c.size,
                    compressed_sha256: c.compressed_sha256,
                    xxh3: c.xxh3,
                });
            }
        }
        Ok(ChunkIndex {
            store: self.clone(),
            by_sha,
        })
    }

    /// Chunk map files whose blob is no longer in the store (and stray
    /// files), sorted: what a garbage collector removes after deleting
    /// blobs, with [`Store::remove_unreferenced_chunk_maps`].
    pub fn unreferenced_chunk_maps(&self) -> Result<Vec<PathBuf>, StoreError> {
        let root = self.chunks_dir();
        let mut out = Vec::new();
        for format in read_dir_sorted(&root)? {
            if !format.is_dir() {
                out.push(format);
                continue;
            }
            let maps = map_files(&format)?;
            for path in read_dir_sorted(&format)? {
                let known = maps.get(&path);
                if !known.is_some_and(|blob| self.has_blob(blob)) {
                    out.push(path);
                }
            }
        }
        Ok(out)
    }

    /// Removes what [`Store::unreferenced_chunk_maps`] lists, except temp
    /// files a live writer holds; returns what was removed.
    pub fn remove_unreferenced_chunk_maps(&self) -> Result<Vec<PathBuf>, StoreError> {
        let mut removed = Vec::new();
        for path in self.unreferenced_chunk_maps()? {
            if crate::check::is_locked(&path) {
                continue;
            }
            let result = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            match result {
                Ok(()) => removed.push(path),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
        Ok(removed)
    }
}

/// Entries of a directory, sorted; a missing directory is empty.
fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut out = entries
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_err(dir))?;
    out.sort();
    Ok(out)
}

/// The map files of one format folder by their blob: `<hex>.json`.
fn map_files(dir: &Path) -> Result<BTreeMap<PathBuf, Digest>, StoreError> {
    let mut out = BTreeMap::new();
    for path in read_dir_sorted(dir)? {
        let blob = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
            .and_then(|hex| format!("sha256:{hex}").parse::<Digest>().ok());
        if let Some(blob) = blob {
            out.insert(path, blob);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(blob: &[u8], offset: usize, size: usize, uncompressed: &str) -> ChunkRecord {
        let compressed = &blob[offset..offset + size];
        ChunkRecord {
            sha256: hex::encode(Sha256::digest(uncompressed)),
            offset: offset as u64,
            size: size as u64,
            compressed_sha256: hex::encode(Sha256::digest(compressed)),
            xxh3: Some(format!("{:016x}", chunk_checksum(compressed))),
        }
    }

    /// Chunks are checked by the map's checksum, or by SHA-256 in maps
    /// written before the checksum was recorded (`old_map`).
    fn chunks_are_read_back_from_their_blob_and_checked(old_map: bool) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let blob = b"AAAABBBBBB".to_vec();
        let digest = store.write_blob(&blob).unwrap();
        let mut chunks = [record(&blob, 0, 4, "a"), record(&blob, 4, 6, "b")];
        if old_map {
            chunks.iter_mut().for_each(|c| c.xxh3 = None);
        }
        store
            .write_chunk_map("gzip-6-v1", &digest, &chunks)
            .unwrap();
        let text = fs::read_to_string(
            dir.path()
                .join(CHUNKS_DIR)
                .join("gzip-6-v1")
                .join(format!("{}.json", digest.hex())),
        )
        .unwrap();
        assert_eq!(text.contains("xxh3"), !old_map);
        let index = store.chunk_index("gzip-6-v1").unwrap();
        assert_eq!(index.len(), 2);
        let chunk = index.read(&chunks[1].sha256).unwrap();
        assert_eq!(chunk.bytes, b"BBBBBB");
        assert_eq!(hex::encode(chunk.sha256), chunks[1].compressed_sha256);
        assert_eq!(chunk.xxh3, chunk_checksum(b"BBBBBB"));
        assert_eq!(index.read(&hex::encode(Sha256::digest("c"))), None);
        assert!(store.chunk_index("zstd-3-v1").unwrap().is_empty());

        // A blob that no longer holds the bytes gives no chunk.
        fs::write(store.blob_path(&digest), b"AAAAXXXXXX").unwrap();
        assert_eq!(index.read(&chunks[1].sha256), None);
        assert_eq!(index.read(&chunks[0].sha256).unwrap().bytes, b"AAAA");
    }

    #[test]
    fn chunks_are_read_back_from_their_blob_and_checked_by_checksum() {
        chunks_are_read_back_from_their_blob_and_checked(false);
    }

    #[test]
    fn chunks_of_maps_without_checksums_are_checked_by_sha256() {
        chunks_are_read_back_from_their_blob_and_checked(true);
    }

    #[test]
    fn maps_of_deleted_blobs_are_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let kept = b"0123456789".to_vec();
        let gone = b"abcdefghij".to_vec();
        let kept_digest = store.write_blob(&kept).unwrap();
        let gone_digest = store.write_blob(&gone).unwrap();
        for (blob, digest) in [(&kept, &kept_digest), (&gone, &gone_digest)] {
            let chunks = [record(blob, 0, 5, "x"), record(blob, 5, 5, "y")];
            store.write_chunk_map("gzip-6-v1", digest, &chunks).unwrap();
        }
        assert!(store.unreferenced_chunk_maps().unwrap().is_empty());
        store.remove_blob(&gone_digest).unwrap();
        let gone_map = dir
            .path()
            .join(CHUNKS_DIR)
            .join("gzip-6-v1")
            .join(format!("{}.json", gone_digest.hex()));
        assert_eq!(
            store.unreferenced_chunk_maps().unwrap(),
            std::slice::from_ref(&gone_map)
        );
        // Its chunks are not offered meanwhile.
        let index = store.chunk_index("gzip-6-v1").unwrap();
        assert_eq!(index.len(), 2);
        assert_eq!(store.remove_unreferenced_chunk_maps().unwrap(), [gone_map]);
        assert!(store.unreferenced_chunk_maps().unwrap().is_empty());
        assert_eq!(store.chunk_index("gzip-6-v1").unwrap().len(), 2);
    }

    #[test]
    fn single_chunk_blobs_and_bad_format_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let digest = store.write_blob(b"one").unwrap();
        let one = [record(b"one", 0, 3, "one")];
        store.write_chunk_map("gzip-6-v1", &digest, &one).unwrap();
        assert!(!dir.path().join(CHUNKS_DIR).exists());
        for bad in ["", "../x", "a/b", ".hidden", "Gzip"] {
            assert!(store.write_chunk_map(bad, &digest, &one).is_err(), "{bad}");
            assert!(store.chunk_index(bad).is_err(), "{bad}");
        }
    }
}
