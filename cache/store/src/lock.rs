//! Store-wide advisory locks (`ROOT/locks/<name>`), shared or exclusive.

use crate::{Store, StoreError, io_err};
use std::fs;
use std::path::PathBuf;

/// A held advisory lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct StoreLock {
    file: fs::File,
    path: PathBuf,
}

impl StoreLock {
    /// The lock file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first makes the
        // release immediate even if the descriptor was duplicated.
        let _ = self.file.unlock();
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Shared,
    Exclusive,
}

impl Store {
    /// Takes an exclusive lock named `name`, waiting for other holders.
    ///
    /// Names are plain words (`index`, `gc`, `cache-v1`); other crates pick
    /// their own. The lock is advisory: it orders strata processes only.
    pub fn lock_exclusive(&self, name: &str) -> Result<StoreLock, StoreError> {
        self.take_lock(name, Mode::Exclusive, true)
            .map(|l| l.ok_or_else(|| self.lock_name_error(name)))?
    }

    /// Takes a shared lock named `name`, waiting for an exclusive holder.
    pub fn lock_shared(&self, name: &str) -> Result<StoreLock, StoreError> {
        self.take_lock(name, Mode::Shared, true)
            .map(|l| l.ok_or_else(|| self.lock_name_error(name)))?
    }

    /// Takes an exclusive lock without waiting; `None` when it is held.
    pub fn try_lock_exclusive(&self, name: &str) -> Result<Option<StoreLock>, StoreError> {
        self.take_lock(name, Mode::Exclusive, false)
    }

    fn lock_name_error(&self, name: &str) -> StoreError {
        StoreError::Invalid {
            path: self.root().join("locks").join(name),
            message: "lock not acquired".into(),
        }
    }

    fn take_lock(
        &self,
        name: &str,
        mode: Mode,
        wait: bool,
    ) -> Result<Option<StoreLock>, StoreError> {
        let path = self.root().join("locks").join(name);
        let valid = !name.is_empty()
            && name != "."
            && name != ".."
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !valid {
            return Err(StoreError::Invalid {
                path,
                message: "a lock name is letters, digits, '-', '_' and '.'".into(),
            });
        }
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let got = match (mode, wait) {
            (Mode::Exclusive, true) => file.lock().map(|()| true),
            (Mode::Shared, true) => file.lock_shared().map(|()| true),
            (Mode::Exclusive, false) => match file.try_lock() {
                Ok(()) => Ok(true),
                Err(fs::TryLockError::WouldBlock) => Ok(false),
                Err(fs::TryLockError::Error(e)) => Err(e),
            },
            (Mode::Shared, false) => match file.try_lock_shared() {
                Ok(()) => Ok(true),
                Err(fs::TryLockError::WouldBlock) => Ok(false),
                Err(fs::TryLockError::Error(e)) => Err(e),
            },
        }
        .map_err(io_err(&path))?;
        Ok(got.then_some(StoreLock { file, path }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_locks_coexist_and_exclude_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = store.lock_shared("gc").unwrap();
        let b = store.lock_shared("gc").unwrap();
        assert!(store.try_lock_exclusive("gc").unwrap().is_none());
        drop((a, b));
        let x = store.try_lock_exclusive("gc").unwrap();
        assert!(x.is_some());
        assert!(store.try_lock_exclusive("gc").unwrap().is_none());
        assert!(store.try_lock_exclusive("other").unwrap().is_some());
    }

    #[test]
    fn lock_names_cannot_escape() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for bad in ["", "..", "a/b", "../x"] {
            assert!(store.lock_exclusive(bad).is_err(), "{bad}");
        }
    }
}
