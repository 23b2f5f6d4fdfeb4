//! `RUN --mount=type=cache`: directories kept between builds, by id.
//!
//! ```text
//! ROOT/cache-mounts-v1/
//!   <sha256(id) hex>/        the cache's content
//!   <sha256(id) hex>.lock    flock: shared for sharing=shared users,
//!                            exclusive for sharing=locked and private
//!   .tmp-*/                  private caches of a busy id (removed after use)
//! ```

use super::error::{WorkerError, io_err};
use sha2::{Digest as _, Sha256};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use strata_plan::{CacheMount, CacheSharing};

/// The cache-mount directory of a store.
#[derive(Debug, Clone)]
pub struct CacheMounts {
    dir: PathBuf,
}

/// A cache directory in use by one step; the lock (and a private
/// directory) go away with it.
#[derive(Debug)]
pub(crate) struct CacheLease {
    /// The directory to mount.
    pub(crate) path: PathBuf,
    /// True when the directory was created for this step (seed it).
    pub(crate) fresh: bool,
    _lock: Option<File>,
    _private: Option<tempfile::TempDir>,
}

impl CacheMounts {
    /// Opens (creating) the directory.
    pub fn open(dir: PathBuf) -> Result<CacheMounts, WorkerError> {
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(CacheMounts { dir })
    }

    /// The directory holding every cache mount.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the cache of `mount.id` according to its sharing mode.
    pub(crate) fn lease(&self, mount: &CacheMount) -> Result<CacheLease, WorkerError> {
        let name = hex::encode(Sha256::digest(mount.id.as_bytes()));
        let path = self.dir.join(&name);
        let lock_path = self.dir.join(format!("{name}.lock"));
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match mount.sharing {
            CacheSharing::Shared => lock.lock_shared().map_err(io_err(&lock_path))?,
            CacheSharing::Locked => lock.lock().map_err(io_err(&lock_path))?,
            CacheSharing::Private => {
                if lock.try_lock().is_err() {
                    let tmp = tempfile::Builder::new()
                        .prefix(".tmp-")
                        .tempdir_in(&self.dir)
                        .map_err(io_err(&self.dir))?;
                    let dir = tmp.path().join("cache");
                    make_dir(&dir, mount)?;
                    return Ok(CacheLease {
                        path: dir,
                        fresh: true,
                        _lock: None,
                        _private: Some(tmp),
                    });
                }
            }
        }
        let fresh = !path.is_dir();
        if fresh {
            // Made under a temp name and renamed, so a crash never leaves a
            // half-initialised cache that looks ready.
            let tmp = tempfile::Builder::new()
                .prefix(".tmp-")
                .tempdir_in(&self.dir)
                .map_err(io_err(&self.dir))?;
            let dir = tmp.path().join("cache");
            make_dir(&dir, mount)?;
            match fs::rename(&dir, &path) {
                Ok(()) => {}
                Err(_) if path.is_dir() => {}
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
        Ok(CacheLease {
            path,
            fresh,
            _lock: Some(lock),
            _private: None,
        })
    }
}

fn make_dir(dir: &Path, mount: &CacheMount) -> Result<(), WorkerError> {
    fs::create_dir(dir).map_err(io_err(dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mount.mode & 0o7777))
        .map_err(io_err(dir))?;
    chown(dir, Some(mount.uid), Some(mount.gid)).map_err(io_err(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(id: &str, sharing: CacheSharing) -> CacheMount {
        CacheMount {
            target: "/c".into(),
            id: id.into(),
            sharing,
            from: None,
            source: None,
            read_only: false,
            mode: 0o755,
            uid: 0,
            gid: 0,
        }
    }

    #[test]
    fn a_cache_persists_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let caches = CacheMounts::open(dir.path().join("c")).unwrap();
        let first = caches.lease(&mount("pip", CacheSharing::Shared)).unwrap();
        assert!(first.fresh);
        fs::write(first.path.join("wheel"), "w").unwrap();
        drop(first);
        let again = caches.lease(&mount("pip", CacheSharing::Locked)).unwrap();
        assert!(!again.fresh);
        assert!(again.path.join("wheel").exists());
        let other = caches.lease(&mount("npm", CacheSharing::Shared)).unwrap();
        assert_ne!(other.path, again.path);
    }

    #[test]
    fn a_busy_private_cache_gives_a_fresh_directory() {
        let dir = tempfile::tempdir().unwrap();
        let caches = CacheMounts::open(dir.path().join("c")).unwrap();
        let held = caches.lease(&mount("x", CacheSharing::Private)).unwrap();
        fs::write(held.path.join("f"), "f").unwrap();
        let second = caches.lease(&mount("x", CacheSharing::Private)).unwrap();
        assert_ne!(second.path, held.path);
        assert!(!second.path.join("f").exists());
        let private = second.path.clone();
        drop(second);
        assert!(!private.exists(), "a private copy is removed after use");
    }
}
