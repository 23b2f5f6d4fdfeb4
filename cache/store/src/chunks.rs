//! Chunk maps: where the independently compressed chunks of a layer blob
//! are, so a later export can copy a chunk out of the blob instead of
//! compressing its bytes again, and resume the layer's digests after the
//! chunks it shares with the blob's beginning.
//!
//! ```text
//! ROOT/chunks-v1/<format>/<blob hex>.json   one map per chunked layer blob
//! ```
//!
//! `<format>` names the compression and the chunk format version (for
//! example `gzip-6-v2`): chunks of another format are never mixed in. A map
//! lists, in order, each chunk's key (a hash of its uncompressed bytes,
//! chosen by the writer), its offset and size in the blob, the SHA-256 of
//! its compressed bytes and their XXH3-64 ([`chunk_checksum`]), checked on
//! every copy, and the SHA-256 states ([`Midstate`]) of the uncompressed
//! stream and of the blob after the chunk.
//!
//! The check on a copy is the XXH3-64, not the SHA-256: about 20 times
//! faster, it catches a blob whose bytes changed under its map (corruption
//! on disk, truncation, other bytes) except with a probability of 2^-64. A
//! forgery that collides on purpose needs write access to the store,
//! which could rewrite the map's SHA-256 as well, so SHA-256 would not
//! guard against it either. The chunks themselves are not stored twice:
//! they are read from the blob, so a map costs about 400 bytes per chunk,
//! and a map whose blob was deleted is garbage
//! ([`Store::unreferenced_chunk_maps`]). Maps are written like any store
//! file (temp file, fsync, rename); two writers of one blob write the same
//! map.

use crate::{Digest, Midstate, Store, StoreError, io_err};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The folder of the chunk maps under the store root.
pub const CHUNKS_DIR: &str = "chunks-v1";

/// How many maps of a format [`Store::chunk_index`] reads: the most
/// recently written, so the time a build spends reading maps does not grow
/// with every blob the store keeps. A rebuilt layer's chunks are nearly
/// all in the map of its previous build, and each new map lists the
/// chunks it copied, so recent maps hold the chunks still in use.
pub const MAX_INDEXED_MAPS: usize = 16;

/// One chunk of a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRecord {
    /// The chunk's key: a hash of its uncompressed bytes, hex (the chunk
    /// format says which hash).
    pub key: String,
    /// Where the compressed chunk starts in the blob.
    pub offset: u64,
    /// Size of the compressed chunk.
    pub size: u64,
    /// SHA-256 of the compressed chunk, hex.
    pub compressed_sha256: String,
    /// [`chunk_checksum`] of the compressed chunk, hex.
    pub xxh3: String,
    /// The SHA-256 state of the uncompressed stream after this chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_state: Option<Midstate>,
    /// The SHA-256 state of the blob after this chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_state: Option<Midstate>,
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
    compressed_sha256: [u8; 32],
    xxh3: u64,
}

/// The chunks of one format known to a store, by key.
#[derive(Debug)]
pub struct ChunkIndex {
    store: Store,
    by_key: HashMap<String, Location>,
    /// Maps that give the hash states after each chunk, by their first
    /// chunk's key.
    by_first: HashMap<String, Vec<Arc<[ChunkRecord]>>>,
}

impl ChunkIndex {
    /// How many distinct chunks are known.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// True when no chunk is known.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The compressed bytes of the chunk whose key is `key` (hex), read
    /// from its blob and checked by the map's checksum; `None` when
    /// unknown, or when the blob is gone or does not hold the expected
    /// bytes any more (the caller then compresses the chunk again).
    pub fn read(&self, key: &str) -> Option<StoredChunk> {
        let at = self.by_key.get(key)?;
        let file = fs::File::open(self.store.blob_path(&at.blob)).ok()?;
        let mut bytes = vec![0; usize::try_from(at.size).ok()?];
        file.read_exact_at(&mut bytes, at.offset).ok()?;
        let xxh3 = chunk_checksum(&bytes);
        (xxh3 == at.xxh3).then_some(StoredChunk {
            bytes,
            sha256: at.compressed_sha256,
            xxh3,
        })
    }

    /// The chunk lists, in order, of the blobs whose first chunk has key
    /// `key` (hex) and whose maps give both hash states after every chunk:
    /// a writer whose first chunks are the same resumes both digests after
    /// them.
    pub fn blobs_starting_with(&self, key: &str) -> &[Arc<[ChunkRecord]>] {
        self.by_first.get(key).map_or(&[], Vec::as_slice)
    }
}

/// The checksum and compressed SHA-256 of a record, when they parse.
fn location(blob: &Digest, c: &ChunkRecord) -> Option<Location> {
    Some(Location {
        blob: blob.clone(),
        offset: c.offset,
        size: c.size,
        compressed_sha256: hex::decode(&c.compressed_sha256).ok()?.try_into().ok()?,
        xxh3: u64::from_str_radix(&c.xxh3, 16).ok()?,
    })
}

/// Whether a map can resume digests: its chunks follow each other from
/// the blob's start and each gives both states.
fn resumable(chunks: &[ChunkRecord]) -> bool {
    let mut end = 0;
    chunks.iter().all(|c| {
        let ok = c.offset == end
            && c.blob_state
                .as_ref()
                .is_some_and(|s| s.len() == end + c.size)
            && c.stream_state.is_some();
        end += c.size;
        ok
    })
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

    /// Loads the [`MAX_INDEXED_MAPS`] most recently written maps of one
    /// format whose blobs are present. A map that does not parse is
    /// skipped: it only costs a recompression.
    pub fn chunk_index(&self, format: &str) -> Result<ChunkIndex, StoreError> {
        let dir = self.chunks_dir().join(check_format(self, format)?);
        let mut by_key = HashMap::new();
        let mut by_first: HashMap<String, Vec<Arc<[ChunkRecord]>>> = HashMap::new();
        let mut maps: Vec<(std::time::SystemTime, PathBuf, Digest)> = map_files(&dir)?
            .into_iter()
            .filter(|(_, blob)| self.has_blob(blob))
            .filter_map(|(path, blob)| {
                let written = fs::metadata(&path).and_then(|m| m.modified()).ok()?;
                Some((written, path, blob))
            })
            .collect();
        // Newest first; the path breaks ties, so the choice is stable.
        maps.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        maps.truncate(MAX_INDEXED_MAPS);
        for (_, path, blob) in maps {
            let Ok(bytes) = fs::read(&path) else { continue };
            let Ok(map) = serde_json::from_slice::<ChunkMap>(&bytes) else {
                continue;
            };
            if map.blob != blob {
                continue;
            }
            for c in &map.chunks {
                if let Some(at) = location(&blob, c) {
                    by_key.entry(c.key.clone()).or_insert(at);
                }
            }
            if let Some(first) = map.chunks.first()
                && resumable(&map.chunks)
            {
                let key = first.key.clone();
                by_first.entry(key).or_default().push(map.chunks.into());
            }
        }
        Ok(ChunkIndex {
            store: self.clone(),
            by_key,
            by_first,
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

    use crate::ResumableSha256;
    use sha2::{Digest as _, Sha256};

    fn record(blob: &[u8], offset: usize, size: usize, uncompressed: &str) -> ChunkRecord {
        let compressed = &blob[offset..offset + size];
        ChunkRecord {
            key: hex::encode(Sha256::digest(uncompressed)),
            offset: offset as u64,
            size: size as u64,
            compressed_sha256: hex::encode(Sha256::digest(compressed)),
            xxh3: format!("{:016x}", chunk_checksum(compressed)),
            stream_state: None,
            blob_state: None,
        }
    }

    /// Records of `blob` cut at `cuts`, with both hash states.
    fn resumable_records(blob: &[u8], cuts: &[usize]) -> Vec<ChunkRecord> {
        let mut sha = ResumableSha256::new();
        let mut start = 0;
        cuts.iter()
            .map(|&end| {
                let mut r = record(blob, start, end - start, &end.to_string());
                sha.update(&blob[start..end]);
                r.blob_state = Some(sha.midstate());
                r.stream_state = Some(sha.midstate());
                start = end;
                r
            })
            .collect()
    }

    #[test]
    fn chunks_are_read_back_from_their_blob_and_checked_by_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let blob = b"AAAABBBBBB".to_vec();
        let digest = store.write_blob(&blob).unwrap();
        let chunks = [record(&blob, 0, 4, "a"), record(&blob, 4, 6, "b")];
        store
            .write_chunk_map("gzip-6-v2", &digest, &chunks)
            .unwrap();
        let index = store.chunk_index("gzip-6-v2").unwrap();
        assert_eq!(index.len(), 2);
        let chunk = index.read(&chunks[1].key).unwrap();
        assert_eq!(chunk.bytes, b"BBBBBB");
        assert_eq!(hex::encode(chunk.sha256), chunks[1].compressed_sha256);
        assert_eq!(chunk.xxh3, chunk_checksum(b"BBBBBB"));
        assert_eq!(index.read(&hex::encode(Sha256::digest("c"))), None);
        assert!(store.chunk_index("zstd-3-v2").unwrap().is_empty());
        // Without hash states, the map offers no prefix.
        assert!(index.blobs_starting_with(&chunks[0].key).is_empty());

        // A blob that no longer holds the bytes gives no chunk.
        fs::write(store.blob_path(&digest), b"AAAAXXXXXX").unwrap();
        assert_eq!(index.read(&chunks[1].key), None);
        assert_eq!(index.read(&chunks[0].key).unwrap().bytes, b"AAAA");
    }

    #[test]
    fn only_the_most_recently_written_maps_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let base = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1 << 30);
        let mut keys = Vec::new();
        for i in 0..MAX_INDEXED_MAPS + 2 {
            let blob = format!("blob number {i:04}").into_bytes();
            let digest = store.write_blob(&blob).unwrap();
            let chunks = [
                record(&blob, 0, 4, &format!("{i}a")),
                record(&blob, 4, 6, &format!("{i}b")),
            ];
            store
                .write_chunk_map("gzip-6-v2", &digest, &chunks)
                .unwrap();
            let map = dir
                .path()
                .join(CHUNKS_DIR)
                .join("gzip-6-v2")
                .join(format!("{}.json", digest.hex()));
            // Written in this order, oldest first, whatever the clock did.
            let written = base + std::time::Duration::from_secs(i as u64);
            fs::File::options()
                .write(true)
                .open(&map)
                .unwrap()
                .set_modified(written)
                .unwrap();
            keys.push(chunks[0].key.clone());
        }
        let index = store.chunk_index("gzip-6-v2").unwrap();
        assert_eq!(index.len(), 2 * MAX_INDEXED_MAPS);
        assert!(index.read(&keys[0]).is_none());
        assert!(index.read(&keys[1]).is_none());
        assert!(index.read(&keys[2]).is_some());
        assert!(index.read(&keys[MAX_INDEXED_MAPS + 1]).is_some());
    }

    #[test]
    fn maps_with_hash_states_are_offered_by_their_first_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let blob = b"AAAABBBBBBCC".to_vec();
        let digest = store.write_blob(&blob).unwrap();
        let chunks = resumable_records(&blob, &[4, 10, 12]);
        store
            .write_chunk_map("gzip-6-v2", &digest, &chunks)
            .unwrap();
        // A map whose chunks leave a gap is not offered.
        let other = b"AAAAxxBBBBBB".to_vec();
        let other_digest = store.write_blob(&other).unwrap();
        let mut gap = resumable_records(&other, &[4, 12]);
        gap[1].offset = 6;
        gap[1].size = 6;
        store
            .write_chunk_map("gzip-6-v2", &other_digest, &gap)
            .unwrap();

        let index = store.chunk_index("gzip-6-v2").unwrap();
        let found = index.blobs_starting_with(&chunks[0].key);
        assert_eq!(found.len(), 1);
        assert_eq!(&found[0][..], &chunks[..]);
        let after_two = found[0][1].blob_state.as_ref().unwrap();
        let mut sha = ResumableSha256::resume(after_two);
        sha.update(b"CC");
        assert_eq!(Digest::from_sha256(sha.finalize()), digest);
        assert!(index.blobs_starting_with(&chunks[1].key).is_empty());
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
            store.write_chunk_map("gzip-6-v2", digest, &chunks).unwrap();
        }
        assert!(store.unreferenced_chunk_maps().unwrap().is_empty());
        store.remove_blob(&gone_digest).unwrap();
        let gone_map = dir
            .path()
            .join(CHUNKS_DIR)
            .join("gzip-6-v2")
            .join(format!("{}.json", gone_digest.hex()));
        assert_eq!(
            store.unreferenced_chunk_maps().unwrap(),
            std::slice::from_ref(&gone_map)
        );
        // Its chunks are not offered meanwhile.
        let index = store.chunk_index("gzip-6-v2").unwrap();
        assert_eq!(index.len(), 2);
        assert_eq!(store.remove_unreferenced_chunk_maps().unwrap(), [gone_map]);
        assert!(store.unreferenced_chunk_maps().unwrap().is_empty());
        assert_eq!(store.chunk_index("gzip-6-v2").unwrap().len(), 2);
    }

    #[test]
    fn single_chunk_blobs_and_bad_format_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let digest = store.write_blob(b"one").unwrap();
        let one = [record(b"one", 0, 3, "one")];
        store.write_chunk_map("gzip-6-v2", &digest, &one).unwrap();
        assert!(!dir.path().join(CHUNKS_DIR).exists());
        for bad in ["", "../x", "a/b", ".hidden", "Gzip"] {
            assert!(store.write_chunk_map(bad, &digest, &one).is_err(), "{bad}");
            assert!(store.chunk_index(bad).is_err(), "{bad}");
        }
    }
}
