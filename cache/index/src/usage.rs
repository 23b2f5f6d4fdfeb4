//! What the cache holds on disk: the inventory behind `strata cache du`,
//! `strata cache ls` and the garbage collector.
//!
//! The cache's folders beside the OCI layout (`ROOT/`):
//!
//! ```text
//! cache-v1/records/        step records (this crate)
//! snapshots-v1/<hex>/      extracted layers by diffID (the builder); .tmp-*/ in flight
//! cache-mounts-v1/<hex>/   RUN --mount=type=cache directories, <hex>.lock beside
//! statcache-v1/<hash>/     stat caches of build contexts
//! ```

use crate::{CacheRecord, RecordError, RecordStore};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use strata_store::{BlobInfo, Descriptor, Digest, Store, StoreError, is_manifest_or_index};

/// The records folder of a store.
pub const RECORDS_DIR: &str = "cache-v1";
/// The snapshot folder of a store.
pub const SNAPSHOTS_DIR: &str = "snapshots-v1";
/// The cache-mount folder of a store.
pub const CACHE_MOUNTS_DIR: &str = "cache-mounts-v1";
/// The stat-cache folder of a store.
pub const STATCACHE_DIR: &str = "statcache-v1";

/// Errors taking stock of the cache or collecting garbage.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The records failed.
    #[error(transparent)]
    Records(#[from] RecordError),
    /// A file system error.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A tagged image's configuration that cannot be read: its layers are
    /// unknown, so nothing is collected.
    #[error("image configuration {digest}: {message}")]
    BadConfig {
        /// The configuration blob.
        digest: Digest,
        /// What is wrong.
        message: String,
    },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> GcError + '_ {
    move |source| GcError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One cache record with its use time and the bytes of its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordEntry {
    /// The record.
    pub record: CacheRecord,
    /// Last use, seconds since the epoch.
    pub last_used: u64,
}

impl RecordEntry {
    /// The blobs of the record's layer (every compression).
    pub fn blobs(&self) -> Vec<Digest> {
        self.record
            .layer
            .iter()
            .flat_map(|l| l.blobs.values())
            .filter_map(|(d, _)| d.parse().ok())
            .collect()
    }

    /// The record's layer diffID, if it made a layer.
    pub fn diff_id(&self) -> Option<&str> {
        self.record.layer.as_ref().map(|l| l.diff_id.as_str())
    }
}

/// A directory the cache keeps, with its disk usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirUsage {
    /// The directory.
    pub path: PathBuf,
    /// Bytes on disk.
    pub bytes: u64,
}

/// Everything the cache and the store hold, read once.
#[derive(Debug, Default)]
pub struct Inventory {
    /// Every record, by key.
    pub records: Vec<RecordEntry>,
    /// Every blob, by digest.
    pub blobs: BTreeMap<Digest, BlobInfo>,
    /// Blobs reachable from `index.json` (tagged images and what they need).
    pub tagged_blobs: BTreeSet<Digest>,
    /// Layer diffIDs of the images in `index.json`.
    pub tagged_layers: BTreeSet<String>,
    /// Snapshots by diffID (`sha256:…`) with their disk usage.
    pub snapshots: BTreeMap<String, u64>,
    /// Cache-mount directories, by path.
    pub mounts: Vec<DirUsage>,
    /// Stat caches, by path.
    pub statcaches: Vec<DirUsage>,
}

/// Totals of [`Inventory`] for `strata cache du`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Records and the bytes of their layer blobs (each blob once).
    pub records: (usize, u64),
    /// Layer blobs that only cache records hold (no tagged image).
    pub cache_only_blobs: (usize, u64),
    /// Blobs tagged images need.
    pub image_blobs: (usize, u64),
    /// Blobs nothing refers to (collected by the next prune).
    pub unreferenced_blobs: (usize, u64),
    /// Snapshots.
    pub snapshots: (usize, u64),
    /// Cache mounts.
    pub mounts: (usize, u64),
    /// Stat caches.
    pub statcaches: (usize, u64),
}

impl Usage {
    /// Bytes that `strata cache prune --all --mounts` could free.
    pub fn reclaimable(&self) -> u64 {
        self.cache_only_blobs.1
            + self.unreferenced_blobs.1
            + self.snapshots.1
            + self.mounts.1
            + self.statcaches.1
    }
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

#[derive(Deserialize)]
struct ConfigLayers {
    rootfs: Option<RootFs>,
}

fn is_image_config(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/vnd.oci.image.config.v1+json"
            | "application/vnd.docker.container.image.v1+json"
    )
}

impl Inventory {
    /// Reads the store's records, blobs, tags, snapshots, cache mounts and
    /// stat caches.
    pub fn read(store: &Store, records: &RecordStore) -> Result<Inventory, GcError> {
        let mut inv = Inventory {
            records: records
                .list()?
                .into_iter()
                .map(|(record, last_used)| RecordEntry { record, last_used })
                .collect(),
            ..Inventory::default()
        };
        let (blobs, _) = store.list_blobs()?;
        inv.blobs = blobs.into_iter().map(|b| (b.digest.clone(), b)).collect();
        inv.read_tags(store)?;
        let root = store.root();
        for (name, path) in subdirs(&root.join(SNAPSHOTS_DIR))? {
            if !name.starts_with(".tmp-") {
                let bytes = disk_usage(&path)?;
                inv.snapshots.insert(format!("sha256:{name}"), bytes);
            }
        }
        for (name, path) in subdirs(&root.join(CACHE_MOUNTS_DIR))? {
            if !name.starts_with(".tmp-") {
                let bytes = disk_usage(&path)?;
                inv.mounts.push(DirUsage { path, bytes });
            }
        }
        for (_, path) in subdirs(&root.join(STATCACHE_DIR))? {
            let bytes = disk_usage(&path)?;
            inv.statcaches.push(DirUsage { path, bytes });
        }
        Ok(inv)
    }

    /// Follows `index.json` through manifests and indexes to configs and
    /// layers. An unreadable manifest or config is an error: what it
    /// refers to would be unknown, and collecting then could break an
    /// image.
    fn read_tags(&mut self, store: &Store) -> Result<(), GcError> {
        let mut todo: Vec<Descriptor> = store.index_manifests()?;
        while let Some(desc) = todo.pop() {
            if !self.tagged_blobs.insert(desc.digest.clone()) || !store.has_blob(&desc.digest) {
                continue;
            }
            if is_manifest_or_index(&desc.media_type) {
                todo.extend(store.references(&desc)?);
            } else if is_image_config(&desc.media_type) {
                let bytes = store.read_blob(&desc.digest)?;
                let config: ConfigLayers =
                    serde_json::from_slice(&bytes).map_err(|e| GcError::BadConfig {
                        digest: desc.digest.clone(),
                        message: e.to_string(),
                    })?;
                self.tagged_layers
                    .extend(config.rootfs.map(|r| r.diff_ids).unwrap_or_default());
            }
        }
        Ok(())
    }

    fn blob_size(&self, digest: &Digest) -> u64 {
        self.blobs.get(digest).map_or(0, |b| b.size)
    }

    /// Totals by kind.
    pub fn usage(&self) -> Usage {
        let mut usage = Usage::default();
        let mut record_blobs = BTreeSet::new();
        for entry in &self.records {
            record_blobs.extend(
                entry
                    .blobs()
                    .into_iter()
                    .filter(|b| self.blobs.contains_key(b)),
            );
        }
        usage.records = (
            self.records.len(),
            record_blobs.iter().map(|b| self.blob_size(b)).sum(),
        );
        for (digest, info) in &self.blobs {
            let slot = if self.tagged_blobs.contains(digest) {
                &mut usage.image_blobs
            } else if record_blobs.contains(digest) {
                &mut usage.cache_only_blobs
            } else {
                &mut usage.unreferenced_blobs
            };
            slot.0 += 1;
            slot.1 += info.size;
        }
        usage.snapshots = (self.snapshots.len(), self.snapshots.values().sum());
        usage.mounts = (self.mounts.len(), self.mounts.iter().map(|m| m.bytes).sum());
        usage.statcaches = (
            self.statcaches.len(),
            self.statcaches.iter().map(|m| m.bytes).sum(),
        );
        usage
    }
}

/// The subdirectories of `dir` (name, path), sorted; none when `dir` is
/// missing.
pub(crate) fn subdirs(dir: &Path) -> Result<Vec<(String, PathBuf)>, GcError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        if entry.file_type().map_err(io_err(dir))?.is_dir() {
            out.push((
                entry.file_name().to_string_lossy().into_owned(),
                entry.path(),
            ));
        }
    }
    out.sort();
    Ok(out)
}

/// Disk usage of a tree like `du -s` (allocated blocks, hard links
/// once), without following symlinks. Entries that vanish meanwhile are
/// skipped.
pub fn disk_usage(path: &Path) -> Result<u64, GcError> {
    let mut seen = BTreeSet::new();
    let mut total = 0;
    let mut todo = vec![path.to_path_buf()];
    while let Some(p) = todo.pop() {
        let meta = match fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&p)(e)),
        };
        if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
            continue;
        }
        total += meta.blocks() * 512;
        if meta.is_dir() {
            let entries = match fs::read_dir(&p) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&p)(e)),
            };
            for entry in entries {
                todo.push(entry.map_err(io_err(&p))?.path());
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_usage_counts_hard_links_once() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a"), vec![1u8; 64 * 1024]).unwrap();
        let one = disk_usage(dir.path()).unwrap();
        fs::hard_link(dir.path().join("a"), dir.path().join("b")).unwrap();
        assert_eq!(disk_usage(dir.path()).unwrap(), one);
        fs::write(dir.path().join("c"), vec![1u8; 64 * 1024]).unwrap();
        assert!(disk_usage(dir.path()).unwrap() >= one + 64 * 1024);
        assert_eq!(disk_usage(&dir.path().join("missing")).unwrap(), 0);
    }
}
