//! Streaming, verified, crash-safe blob writes.

use crate::{Digest, Store, StoreError, io_err, sync_dir};
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io::{self, Write};

/// Writes a blob: bytes go to a temp file under `ROOT/tmp` while they are
/// hashed; [`BlobWriter::commit`] checks the digest, fsyncs and renames the
/// file into `blobs/sha256/`. Dropped without commit, the temp file is
/// removed; a crash leaves only a temp file, never a wrong blob.
pub struct BlobWriter {
    tmp: tempfile::NamedTempFile,
    sha: Sha256,
    size: u64,
    blobs: std::path::PathBuf,
}

impl BlobWriter {
    pub(crate) fn new(store: &Store) -> Result<Self, StoreError> {
        let dir = store.root().join("tmp");
        let tmp = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&dir)
            .map_err(io_err(&dir))?;
        Ok(BlobWriter {
            tmp,
            sha: Sha256::new(),
            size: 0,
            blobs: store.root().join("blobs/sha256"),
        })
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Finishes the blob: verifies it against `expected` (if given), makes
    /// it durable and moves it into place. Returns its digest and size.
    pub fn commit(self, expected: Option<&Digest>) -> Result<(Digest, u64), StoreError> {
        let found = Digest::from_sha256(self.sha.finalize().into());
        if let Some(expected) = expected
            && *expected != found
        {
            return Err(StoreError::DigestMismatch {
                expected: expected.clone(),
                found,
            });
        }
        let path = self.blobs.join(found.hex());
        if path.exists() {
            return Ok((found, self.size)); // the temp file is removed on drop
        }
        self.tmp.as_file().sync_all().map_err(io_err(&path))?;
        self.tmp
            .persist(&path)
            .map_err(|e| io_err(&path)(e.error))?;
        sync_dir(&self.blobs);
        Ok((found, self.size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.tmp.write(buf)?;
        self.sha.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

/// Removes blobs from the store (for garbage collection).
impl Store {
    /// Deletes a blob; a missing one is fine.
    pub fn remove_blob(&self, digest: &Digest) -> Result<(), StoreError> {
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatch_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut w = store.blob_writer().unwrap();
        w.write_all(b"abc").unwrap();
        let wrong = Digest::of(b"abd");
        match w.commit(Some(&wrong)) {
            Err(StoreError::DigestMismatch { expected, found }) => {
                assert_eq!(expected, wrong);
                assert_eq!(found, Digest::of(b"abc"));
            }
            other => panic!("{other:?}"),
        }
        assert!(!store.has_blob(&Digest::of(b"abc")));
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn dropped_writer_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        {
            let mut w = store.blob_writer().unwrap();
            w.write_all(b"partial").unwrap();
        }
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        assert_eq!(
            fs::read_dir(dir.path().join("blobs/sha256"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn corrupted_blob_is_detected_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = store.write_blob(b"good").unwrap();
        fs::write(store.blob_path(&d), b"evil").unwrap();
        assert!(matches!(
            store.read_blob(&d),
            Err(StoreError::DigestMismatch { .. })
        ));
    }
}
