//! Cache records: what a step produced, stored under its key.
//!
//! Layout under the cache directory (`ROOT/cache-v1/`):
//!
//! ```text
//! records/ab/abcdef….json   one record per step key; file mtime = last use
//! manifests/ab/abcdef….json per-file digests of a COPY selection, by selection digest
//! history/<id>.json         the last build of one Dockerfile + target (for --explain),
//!                           under ids the builder chooses (by place, by Dockerfile text)
//! ```
//!
//! Records are small JSON files written atomically (temp file in the same
//! directory, fsync, rename) rather than rows in an embedded database: a key
//! is written once and never changed, two builds writing the same key write
//! the same content, a crash leaves either the old state or the new one, and
//! garbage collection is a directory walk. The last-use time is the file's
//! modification time, so a cache hit costs one `utimensat`, not a rewrite.

use crate::Key;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Errors reading or writing records.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// An I/O error on a record file.
    #[error("cache record {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A record file that does not parse (treated as a miss by callers that
    /// prefer to rebuild).
    #[error("cache record {path} is corrupt: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

/// A layer a step produced, with its blobs by compression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerBlob {
    /// SHA-256 of the uncompressed tar (`sha256:…`).
    pub diff_id: String,
    /// Compressed blobs: media type → (digest, size). Filled lazily: a blob
    /// is compressed once and reused by every later export.
    pub blobs: BTreeMap<String, (String, u64)>,
}

/// What went into a key, kept so a later miss can say what changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepInputs {
    /// The parent's result identity.
    pub parent: Option<Key>,
    /// Named input digests or values (`definition`, `context`, `mount:/x`, `arg:V`…).
    pub inputs: BTreeMap<String, String>,
}

/// One step's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheRecord {
    /// The step key.
    pub key: Key,
    /// The instruction, for listings.
    pub description: String,
    /// The layer the step added, or none.
    pub layer: Option<LayerBlob>,
    /// What the key was made of.
    pub inputs: StepInputs,
    /// Seconds since the Unix epoch when the step ran.
    pub created: u64,
    /// How long the step took to run, in milliseconds.
    pub duration_ms: u64,
    /// What the builder needs to run the step again (`strata cache
    /// verify`): opaque here, versioned by the builder. Absent in records
    /// written before it existed and for steps that cannot be replayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<serde_json::Value>,
}

/// The directory of records.
#[derive(Debug, Clone)]
pub struct RecordStore {
    dir: PathBuf,
}

impl RecordStore {
    /// Opens (creating when missing) the record directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, RecordError> {
        let dir = dir.into();
        for sub in ["records", "manifests", "history"] {
            let path = dir.join(sub);
            fs::create_dir_all(&path).map_err(|source| RecordError::Io { path, source })?;
        }
        Ok(RecordStore { dir })
    }

    /// The directory this store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn sharded(&self, kind: &str, name: &str) -> PathBuf {
        let shard = name.get(..2).unwrap_or("__");
        self.dir.join(kind).join(shard).join(format!("{name}.json"))
    }

    /// Looks a key up; a hit also marks the record as used now.
    pub fn get(&self, key: &Key) -> Result<Option<CacheRecord>, RecordError> {
        let path = self.sharded("records", &key.to_string());
        let record: Option<CacheRecord> = read_json(&path)?;
        if record.is_some() {
            touch(&path);
        }
        Ok(record)
    }

    /// Stores a record (atomically; a record already there is replaced with
    /// the new one, which describes the same key).
    pub fn put(&self, record: &CacheRecord) -> Result<(), RecordError> {
        write_json(&self.sharded("records", &record.key.to_string()), record)
    }

    /// Removes a record.
    pub fn remove(&self, key: &Key) -> Result<(), RecordError> {
        remove_if_present(self.sharded("records", &key.to_string())).map(|_| ())
    }

    /// Every record with its last-use time (seconds since the epoch), in key order.
    pub fn list(&self) -> Result<Vec<(CacheRecord, u64)>, RecordError> {
        let mut out = Vec::new();
        let root = self.dir.join("records");
        for shard in sorted_dir(&root)? {
            for file in sorted_dir(&shard)? {
                if file.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                let used = fs::metadata(&file)
                    .and_then(|m| m.modified())
                    .map(secs)
                    .unwrap_or(0);
                if let Some(record) = read_json::<CacheRecord>(&file)? {
                    out.push((record, used));
                }
            }
        }
        out.sort_by_key(|a| a.0.key);
        Ok(out)
    }

    /// Whether a per-file manifest is stored under `digest`.
    pub fn has_manifest(&self, digest: &str) -> bool {
        self.sharded("manifests", &file_name(digest)).exists()
    }

    /// Stores a per-file manifest of a selection under its digest.
    pub fn put_manifest(
        &self,
        digest: &str,
        manifest: &BTreeMap<String, String>,
    ) -> Result<(), RecordError> {
        if self.has_manifest(digest) {
            return Ok(());
        }
        write_json(&self.sharded("manifests", &file_name(digest)), manifest)
    }

    /// Reads a manifest stored by [`RecordStore::put_manifest`].
    pub fn get_manifest(
        &self,
        digest: &str,
    ) -> Result<Option<BTreeMap<String, String>>, RecordError> {
        read_json(&self.sharded("manifests", &file_name(digest)))
    }

    /// Removes the per-file manifests that `keep` rejects; `keep` is
    /// given the hex part of the selection digest (what follows `sha256:`).
    /// Returns how many went.
    pub fn retain_manifests(&self, keep: impl Fn(&str) -> bool) -> Result<usize, RecordError> {
        let mut removed = 0;
        for shard in sorted_dir(&self.dir.join("manifests"))? {
            for file in sorted_dir(&shard)? {
                let Some(hex) = file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".json"))
                else {
                    continue;
                };
                if hex.starts_with(".tmp-") || keep(hex) {
                    continue;
                }
                removed += usize::from(remove_if_present(file)?);
            }
        }
        Ok(removed)
    }

    fn history_path(&self, id: &str) -> PathBuf {
        self.dir
            .join("history")
            .join(format!("{}.json", file_name(id)))
    }

    /// Stores a document under `history/<id>.json`. A document that is
    /// already stored byte for byte (a rebuild with nothing changed) is
    /// only marked as used now: no rewrite, none of its two fsyncs.
    pub fn put_history<T: Serialize>(&self, id: &str, value: &T) -> Result<(), RecordError> {
        let path = self.history_path(id);
        let bytes = serde_json::to_vec(value).map_err(|e| RecordError::Io {
            path: path.clone(),
            source: io::Error::other(e),
        })?;
        if fs::read(&path).is_ok_and(|old| old == bytes) {
            touch(&path);
            return Ok(());
        }
        write_bytes(&path, &bytes)
    }

    /// Reads a document stored by [`RecordStore::put_history`]; finding
    /// it also marks it as used now (its mtime, as for records).
    pub fn get_history<T: DeserializeOwned>(&self, id: &str) -> Result<Option<T>, RecordError> {
        let path = self.history_path(id);
        let history: Option<T> = read_json(&path)?;
        if history.is_some() {
            touch(&path);
        }
        Ok(history)
    }

    /// Removes the histories that `keep` rejects; `keep` is given the last
    /// time (seconds since the epoch) a history was written or read.
    /// Returns how many went.
    pub fn retain_histories(&self, keep: impl Fn(u64) -> bool) -> Result<usize, RecordError> {
        let mut removed = 0;
        for file in sorted_dir(&self.dir.join("history"))? {
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with(".tmp-") || !name.ends_with(".json") {
                continue;
            }
            let used = match fs::metadata(&file).and_then(|m| m.modified()) {
                Ok(t) => secs(t),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(RecordError::Io { path: file, source }),
            };
            if keep(used) {
                continue;
            }
            removed += usize::from(remove_if_present(file)?);
        }
        Ok(removed)
    }
}

/// Removes a file; whether it was there.
fn remove_if_present(path: PathBuf) -> Result<bool, RecordError> {
    match fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(RecordError::Io { path, source }),
    }
}

fn file_name(digest: &str) -> String {
    digest.rsplit(':').next().unwrap_or(digest).to_string()
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn touch(path: &Path) {
    // Best effort: a failed use-time update only makes GC less precise.
    if let Ok(file) = fs::File::options().append(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

fn sorted_dir(dir: &Path) -> Result<Vec<PathBuf>, RecordError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RecordError::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    Ok(paths)
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, RecordError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(RecordError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| RecordError::Corrupt {
            path: path.to_path_buf(),
            source,
        })
}

/// Writes `value` as JSON to `path` atomically: temp file in the same
/// directory, fsync, rename, fsync of the directory.
fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), RecordError> {
    let bytes = serde_json::to_vec(value).map_err(|e| RecordError::Io {
        path: path.to_path_buf(),
        source: io::Error::other(e),
    })?;
    write_bytes(path, &bytes)
}

/// Writes `path` crash-safely: a temp file in its directory, fsynced,
/// renamed into place, then the directory fsynced.
fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), RecordError> {
    let io_err = |source| RecordError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(io_err)?;
    tmp.write_all(bytes).map_err(io_err)?;
    tmp.as_file().sync_all().map_err(io_err)?;
    tmp.persist(path).map_err(|e| io_err(e.error))?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyHasher;

    fn record(n: &str) -> CacheRecord {
        CacheRecord {
            key: KeyHasher::new(n).finish(),
            description: format!("RUN {n}"),
            layer: Some(LayerBlob {
                diff_id: "sha256:00".into(),
                blobs: BTreeMap::new(),
            }),
            inputs: StepInputs::default(),
            created: 1,
            duration_ms: 2,
            replay: None,
        }
    }

    #[test]
    fn put_get_list_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = RecordStore::open(dir.path()).unwrap();
        let (a, b) = (record("a"), record("b"));
        assert_eq!(store.get(&a.key).unwrap(), None);
        store.put(&a).unwrap();
        store.put(&b).unwrap();
        assert_eq!(store.get(&a.key).unwrap(), Some(a.clone()));
        let listed: Vec<Key> = store.list().unwrap().into_iter().map(|r| r.0.key).collect();
        let mut want = vec![a.key, b.key];
        want.sort();
        assert_eq!(listed, want);
        store.remove(&a.key).unwrap();
        assert_eq!(store.get(&a.key).unwrap(), None);
    }

    #[test]
    fn no_temp_files_left_after_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = RecordStore::open(dir.path()).unwrap();
        let a = record("a");
        store.put(&a).unwrap();
        let shard = store.sharded("records", &a.key.to_string());
        let names: Vec<_> = fs::read_dir(shard.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![format!("{}.json", a.key)]);
    }

    #[test]
    fn corrupt_record_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = RecordStore::open(dir.path()).unwrap();
        let a = record("a");
        let path = store.sharded("records", &a.key.to_string());
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, b"{not json").unwrap();
        let err = store.get(&a.key).unwrap_err().to_string();
        assert!(
            err.contains("corrupt") && err.contains(&a.key.to_string()),
            "{err}"
        );
    }

    #[test]
    fn manifests_and_history_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = RecordStore::open(dir.path()).unwrap();
        let m: BTreeMap<String, String> = [("a.py".to_string(), "sha256:1".to_string())].into();
        store.put_manifest("sha256:abcd", &m).unwrap();
        assert_eq!(store.get_manifest("sha256:abcd").unwrap(), Some(m));
        store.put_history("h1", &vec![1, 2, 3]).unwrap();
        assert_eq!(
            store.get_history::<Vec<i32>>("h1").unwrap(),
            Some(vec![1, 2, 3])
        );
    }

    #[test]
    fn an_unchanged_history_is_not_written_again() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let store = RecordStore::open(dir.path()).unwrap();
        let file = dir.path().join("history/h1.json");
        let inode = || fs::metadata(&file).unwrap().ino();
        store.put_history("h1", &vec![1, 2, 3]).unwrap();
        let first = inode();
        let old = SystemTime::now() - std::time::Duration::from_secs(86400);
        fs::File::options()
            .append(true)
            .open(&file)
            .unwrap()
            .set_modified(old)
            .unwrap();
        store.put_history("h1", &vec![1, 2, 3]).unwrap();
        assert_eq!(inode(), first, "same document: the file was kept");
        let used = fs::metadata(&file).unwrap().modified().unwrap();
        assert!(used > old, "and marked as used now");
        store.put_history("h1", &vec![1, 2]).unwrap();
        assert_ne!(inode(), first, "a new document replaces the file");
        assert_eq!(
            store.get_history::<Vec<i32>>("h1").unwrap(),
            Some(vec![1, 2])
        );
    }
}
