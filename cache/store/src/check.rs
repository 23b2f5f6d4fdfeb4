//! Consistency checks, leftover temp files, and garbage-collection input.

use crate::walk::Dangling;
use crate::{Descriptor, Digest, Store, StoreError, io_err};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What [`Store::check`] found. Every list is sorted.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// How many blobs were verified.
    pub blobs_checked: usize,
    /// Blobs whose content does not hash to their name.
    pub corrupt: Vec<CorruptBlob>,
    /// Blobs referenced from `index.json` (directly or through manifests
    /// and indexes) that are missing.
    pub dangling: Vec<Dangling>,
    /// Manifests or indexes that are present but cannot be read or parsed,
    /// with the reason.
    pub unreadable: Vec<(Digest, String)>,
    /// Files under `blobs/` that are not named like a blob.
    pub stray: Vec<PathBuf>,
    /// Temp files left behind by interrupted writes.
    pub temp_files: Vec<TempFile>,
}

impl CheckReport {
    /// True when nothing is wrong (temp files in use by a live writer do
    /// not count).
    pub fn is_clean(&self) -> bool {
        self.corrupt.is_empty()
            && self.dangling.is_empty()
            && self.unreadable.is_empty()
            && self.stray.is_empty()
            && self.temp_files.iter().all(|t| t.in_use)
    }
}

/// A blob whose content does not match its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptBlob {
    /// Its name.
    pub digest: Digest,
    /// What its content hashes to.
    pub found: Digest,
}

/// A temp file of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempFile {
    /// Where it is.
    pub path: PathBuf,
    /// True when a live writer holds it (it is locked).
    pub in_use: bool,
}

/// A blob, for garbage-collection policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written.
    pub modified: SystemTime,
}

impl Store {
    /// Every blob in the store, sorted by digest, with files under
    /// `blobs/sha256` that are not named like a blob.
    pub fn list_blobs(&self) -> Result<(Vec<BlobInfo>, Vec<PathBuf>), StoreError> {
        let dir = self.root().join("blobs/sha256");
        let mut blobs = Vec::new();
        let mut stray = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let path = entry.path();
            let digest = entry
                .file_name()
                .to_str()
                .and_then(|n| format!("sha256:{n}").parse::<Digest>().ok());
            let meta = entry.metadata().map_err(io_err(&path))?;
            match digest {
                Some(digest) if meta.is_file() => blobs.push(BlobInfo {
                    digest,
                    size: meta.len(),
                    modified: meta.modified().map_err(io_err(&path))?,
                }),
                _ => stray.push(path),
            }
        }
        blobs.sort_by(|a, b| a.digest.cmp(&b.digest));
        stray.sort();
        Ok((blobs, stray))
    }

    /// Verifies every blob, follows every tag through its manifests, and
    /// lists leftover temp files. Reads the whole store: slow on a big one.
    pub fn check(&self) -> Result<CheckReport, StoreError> {
        let (blobs, stray) = self.list_blobs()?;
        let mut report = CheckReport {
            blobs_checked: blobs.len(),
            stray,
            temp_files: self.temp_files()?,
            ..CheckReport::default()
        };
        for blob in &blobs {
            match self.open_verified(&blob.digest)?.finish() {
                Ok(()) => {}
                Err(StoreError::DigestMismatch { found, .. }) => report.corrupt.push(CorruptBlob {
                    digest: blob.digest.clone(),
                    found,
                }),
                Err(e) => return Err(e),
            }
        }
        let walk = self.walk(self.index_manifests()?);
        report.dangling = walk.dangling;
        report.unreadable = walk.unreadable.into_iter().collect();
        Ok(report)
    }

    /// Temp files in `ROOT/tmp` and half-written `.tmp-*` files beside
    /// `index.json` and `oci-layout`, sorted by path.
    pub fn temp_files(&self) -> Result<Vec<TempFile>, StoreError> {
        let mut out = Vec::new();
        let tmp = self.root().join("tmp");
        for entry in fs::read_dir(&tmp).map_err(io_err(&tmp))? {
            out.push(temp_file(entry.map_err(io_err(&tmp))?.path()));
        }
        let root = self.root();
        for entry in fs::read_dir(root).map_err(io_err(root))? {
            let entry = entry.map_err(io_err(root))?;
            if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                out.push(temp_file(entry.path()));
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Removes temp files no live writer holds; returns what was removed.
    pub fn clean_temp(&self) -> Result<Vec<PathBuf>, StoreError> {
        let mut removed = Vec::new();
        for t in self.temp_files()? {
            if t.in_use {
                continue;
            }
            let result = if t.path.is_dir() {
                fs::remove_dir_all(&t.path)
            } else {
                fs::remove_file(&t.path)
            };
            match result {
                Ok(()) => removed.push(t.path),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&t.path)(e)),
            }
        }
        Ok(removed)
    }

    /// Blobs reachable neither from `index.json` nor from `extra_roots`
    /// (walking manifests and indexes), sorted by digest: what a garbage
    /// collector may delete with [`Store::remove_blob`].
    ///
    /// The policy is the caller's: it should hold an exclusive lock that
    /// writers take shared (for example `lock_exclusive("gc")`), and may
    /// spare recent blobs using [`BlobInfo::modified`]. Fails when a
    /// reachable manifest cannot be read, since its references are unknown.
    pub fn gc_candidates(&self, extra_roots: &[Descriptor]) -> Result<Vec<BlobInfo>, StoreError> {
        let mut roots = self.index_manifests()?;
        roots.extend_from_slice(extra_roots);
        let walk = self.walk(roots);
        if let Some((digest, message)) = walk.unreadable.into_iter().next() {
            return Err(StoreError::Invalid {
                path: self.blob_path(&digest),
                message,
            });
        }
        let (blobs, _) = self.list_blobs()?;
        Ok(blobs
            .into_iter()
            .filter(|b| !walk.present.contains(&b.digest))
            .collect())
    }
}

fn temp_file(path: PathBuf) -> TempFile {
    TempFile {
        in_use: is_locked(&path),
        path,
    }
}

/// True when another open file description holds a lock on `path`.
pub(crate) fn is_locked(path: &Path) -> bool {
    let Ok(file) = fs::File::open(path) else {
        return false;
    };
    matches!(file.try_lock_shared(), Err(fs::TryLockError::WouldBlock))
}
