//! Leases: what a running build (or verify) uses, so a concurrent prune
//! leaves it alone.
//!
//! ```text
//! ROOT/leases-v1/
//!   <random>.lease    one per live process, flocked exclusively by its
//!                     holder for its whole life. Lines:
//!                       started <seconds since the epoch>
//!                       blob sha256:<hex>
//!                       snapshot sha256:<diffID hex>
//! ```
//!
//! The rules, which [`Lease::hold`] and the garbage collector follow:
//!
//! - A holder appends what it uses *before* relying on it, under the shared
//!   side of the `gc` store lock, and checks there that the blobs still
//!   exist; the collector reads the leases and deletes under the exclusive
//!   side. So either the collector saw the entry, or the holder sees the
//!   deletion (a cache hit whose blob is gone becomes a miss).
//! - A lease whose file is not locked belongs to a dead process: the
//!   collector removes it.
//! - Blobs written after the oldest live lease started are kept too (image
//!   configs and manifests between their write and their tag, pulls).

use crate::{Digest, Store, StoreError, io_err};
use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The directory of lease files, beside the layout.
pub const LEASES_DIR: &str = "leases-v1";

/// The store lock that orders lease updates against garbage collection:
/// holders take it shared for a moment, the collector exclusive.
pub const GC_LOCK: &str = "gc";

/// A live process's claim on blobs and snapshots; released when dropped
/// (or when the process dies).
#[derive(Debug)]
pub struct Lease {
    store: Store,
    path: PathBuf,
    file: Mutex<fs::File>,
}

/// What the live leases of a store protect.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Leased {
    /// How many live leases there are.
    pub live: usize,
    /// Blobs in use.
    pub blobs: BTreeSet<Digest>,
    /// Snapshots in use, by layer diffID (`sha256:…`).
    pub snapshots: BTreeSet<String>,
    /// When the oldest live lease started (seconds since the epoch).
    pub oldest_start: Option<u64>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Store {
    /// Takes a new lease for this process.
    pub fn lease(&self) -> Result<Lease, StoreError> {
        let dir = self.root().join(LEASES_DIR);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let tmp = tempfile::Builder::new()
            .suffix(".lease")
            .tempfile_in(&dir)
            .map_err(io_err(&dir))?;
        let (mut file, path) = tmp.keep().map_err(|e| io_err(&dir)(e.error))?;
        file.lock().map_err(io_err(&path))?;
        // Started one second early: blob mtimes have whole-second
        // precision on some file systems.
        writeln!(file, "started {}", now_secs().saturating_sub(1)).map_err(io_err(&path))?;
        Ok(Lease {
            store: self.clone(),
            path,
            file: Mutex::new(file),
        })
    }

    /// Reads every live lease and removes the files of dead ones. The
    /// caller should hold [`GC_LOCK`] exclusively while it acts on the
    /// result.
    pub fn live_leases(&self) -> Result<Leased, StoreError> {
        let dir = self.root().join(LEASES_DIR);
        let mut out = Leased::default();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io_err(&dir)(e)),
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.extension().is_none_or(|e| e != "lease") {
                continue;
            }
            let Ok(file) = fs::File::open(&path) else {
                continue;
            };
            match file.try_lock_shared() {
                Ok(()) => {
                    // Nobody holds it: its process is gone.
                    let _ = fs::remove_file(&path);
                }
                Err(fs::TryLockError::WouldBlock) => {
                    out.live += 1;
                    let text = fs::read_to_string(&path).map_err(io_err(&path))?;
                    parse_lease(&text, &mut out);
                }
                Err(fs::TryLockError::Error(e)) => return Err(io_err(&path)(e)),
            }
        }
        Ok(out)
    }
}

fn parse_lease(text: &str, out: &mut Leased) {
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("started", t)) => {
                if let Ok(t) = t.parse::<u64>() {
                    out.oldest_start = Some(out.oldest_start.map_or(t, |o| o.min(t)));
                }
            }
            Some(("blob", d)) => {
                if let Ok(d) = d.parse() {
                    out.blobs.insert(d);
                }
            }
            Some(("snapshot", d)) => {
                out.snapshots.insert(d.to_string());
            }
            // A line cut short by a crash, or from a newer version.
            _ => {}
        }
    }
}

impl Lease {
    /// The lease file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Claims blobs and snapshots (by diffID) for the rest of this lease,
    /// then says whether every one of the blobs is in the store. Call it
    /// before relying on them: on a cache hit, a `false` means a prune
    /// removed the blob and the step must run; before committing a new
    /// blob, the answer does not matter.
    pub fn hold(&self, blobs: &[Digest], snapshots: &[&str]) -> Result<bool, StoreError> {
        let mut text = String::new();
        for b in blobs {
            text.push_str(&format!("blob {b}\n"));
        }
        for s in snapshots {
            text.push_str(&format!("snapshot {s}\n"));
        }
        let _gc = self.store.lock_shared(GC_LOCK)?;
        {
            let mut file = self
                .file
                .lock()
                .map_err(|_| io_err(&self.path)(std::io::Error::other("lease poisoned")))?;
            file.write_all(text.as_bytes())
                .map_err(io_err(&self.path))?;
        }
        Ok(blobs.iter().all(|b| self.store.has_blob(b)))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_leases_are_read_and_dead_ones_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let blob = store.write_blob(b"x").unwrap();
        let lease = store.lease().unwrap();
        assert!(
            lease
                .hold(std::slice::from_ref(&blob), &["sha256:ab"])
                .unwrap()
        );
        let missing = Digest::from_sha256([7; 32]);
        assert!(!lease.hold(&[missing], &[]).unwrap());
        let dead = dir.path().join(LEASES_DIR).join("dead.lease");
        fs::write(&dead, "started 1\nblob sha256:00\n").unwrap();
        let leased = store.live_leases().unwrap();
        assert_eq!(leased.live, 1);
        assert!(leased.blobs.contains(&blob));
        assert!(leased.snapshots.contains("sha256:ab"));
        assert!(leased.oldest_start.is_some());
        assert!(!dead.exists(), "a lease nobody holds is removed");
        drop(lease);
        assert_eq!(store.live_leases().unwrap(), Leased::default());
    }
}
