//! Extracted layers, one directory per diffID, used as overlay lower layers.
//!
//! ```text
//! ROOT/snapshots-v1/
//!   <diffid hex>/        the layer's files; whiteouts in overlayfs form
//!                        (0/0 character devices, trusted.overlay.opaque)
//!   .tmp-*/              snapshots being made and scratch dirs of running steps
//!                        (a killed build's are removed by the next build that
//!                        runs alone: [`Snapshots::remove_temp_dirs`])
//! ```
//!
//! A snapshot appears by `rename` of a complete directory, so a reader
//! never sees a half-extracted layer, and a crash leaves only a `.tmp-`
//! directory behind. The upper directory of a finished overlay step already
//! has this form and is renamed in directly, without re-extraction.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// An error making or finding a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A file system error.
    #[error("snapshot {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A diffID that is not `sha256:<hex>`.
    #[error("invalid layer diffID {0:?}")]
    BadDiffId(String),
    /// Filling the snapshot failed.
    #[error("extracting layer {diff_id}: {message}")]
    Fill {
        /// The layer.
        diff_id: String,
        /// What went wrong.
        message: String,
    },
}

/// The snapshot directory of a store.
#[derive(Debug, Clone)]
pub struct Snapshots {
    dir: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Snapshots {
    /// Opens (creating when missing) `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, SnapshotError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(Snapshots { dir })
    }

    /// The directory holding all snapshots.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the snapshot of a layer is (whether or not it exists yet).
    pub fn path(&self, diff_id: &str) -> Result<PathBuf, SnapshotError> {
        let hex = diff_id
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| SnapshotError::BadDiffId(diff_id.to_string()))?;
        Ok(self.dir.join(hex))
    }

    /// True when the layer's snapshot exists.
    pub fn contains(&self, diff_id: &str) -> bool {
        self.path(diff_id).is_ok_and(|p| p.is_dir())
    }

    /// A fresh, empty working directory inside the snapshot area (same file
    /// system, so it can be renamed into place).
    pub fn temp_dir(&self) -> Result<tempfile::TempDir, SnapshotError> {
        tempfile::Builder::new()
            .prefix(".tmp-")
            .tempdir_in(&self.dir)
            .map_err(io_err(&self.dir))
    }

    /// Returns the layer's snapshot, making it with `fill` (which writes the
    /// layer's files into the directory it is given) when it is missing.
    pub fn ensure(
        &self,
        diff_id: &str,
        fill: impl FnOnce(&Path) -> Result<(), String>,
    ) -> Result<PathBuf, SnapshotError> {
        let path = self.path(diff_id)?;
        if path.is_dir() {
            return Ok(path);
        }
        let tmp = self.temp_dir()?;
        let dir = tmp.path().join("fs");
        fs::create_dir(&dir).map_err(io_err(&dir))?;
        fill(&dir).map_err(|message| SnapshotError::Fill {
            diff_id: diff_id.to_string(),
            message,
        })?;
        self.adopt(diff_id, &dir)
    }

    /// Moves a complete directory (an overlay upper directory, or a filled
    /// temp directory) into place as the layer's snapshot. When another
    /// build got there first, its snapshot is kept and `dir` is left as is.
    pub fn adopt(&self, diff_id: &str, dir: &Path) -> Result<PathBuf, SnapshotError> {
        let path = self.path(diff_id)?;
        match fs::rename(dir, &path) {
            Ok(()) => {}
            Err(_) if path.is_dir() => {}
            Err(e) => return Err(io_err(&path)(e)),
        }
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(path)
    }

    /// Removes every `.tmp-*` directory: what killed processes left. Call
    /// it only while no other process uses the snapshots (strata holds the
    /// store's exclusive `builds` lock). Returns what was removed, sorted.
    pub fn remove_temp_dirs(&self) -> Result<Vec<PathBuf>, SnapshotError> {
        let mut stale = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let entry = entry.map_err(io_err(&self.dir))?;
            if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                stale.push(entry.path());
            }
        }
        stale.sort();
        for dir in &stale {
            match fs::remove_dir_all(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(dir)(e)),
            }
        }
        Ok(stale)
    }

    /// Removes a snapshot (for GC).
    pub fn remove(&self, diff_id: &str) -> Result<(), SnapshotError> {
        let path = self.path(diff_id)?;
        match fs::remove_dir_all(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn ensure_fills_once() {
        let dir = tempfile::tempdir().unwrap();
        let snaps = Snapshots::open(dir.path()).unwrap();
        let p = snaps
            .ensure(ID, |d| {
                fs::write(d.join("f"), "x").map_err(|e| e.to_string())
            })
            .unwrap();
        assert_eq!(fs::read_to_string(p.join("f")).unwrap(), "x");
        let again = snaps.ensure(ID, |_| Err("must not run".into())).unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn failed_fill_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let snaps = Snapshots::open(dir.path()).unwrap();
        let e = snaps.ensure(ID, |_| Err("bad tar".into())).unwrap_err();
        assert!(e.to_string().contains("bad tar"));
        assert!(!snaps.contains(ID));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn remove_temp_dirs_keeps_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let snaps = Snapshots::open(dir.path()).unwrap();
        let kept = snaps
            .ensure(ID, |d| {
                fs::write(d.join("f"), "x").map_err(|e| e.to_string())
            })
            .unwrap();
        let left = snaps.temp_dir().unwrap().keep();
        fs::create_dir(left.join("upper")).unwrap();
        assert_eq!(snaps.remove_temp_dirs().unwrap(), vec![left.clone()]);
        assert!(!left.exists());
        assert!(kept.join("f").is_file());
    }

    #[test]
    fn rejects_bad_ids() {
        let dir = tempfile::tempdir().unwrap();
        let snaps = Snapshots::open(dir.path()).unwrap();
        assert!(snaps.path("sha256:../../etc").is_err());
        assert!(snaps.path("md5:00").is_err());
    }
}
