//! Reading blobs, with the digest checked while the bytes stream by.

use crate::{Digest, Store, StoreError, io_err};
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io::{self, Read};

/// Reads a blob and checks its digest as it goes.
///
/// At end of file the SHA-256 of everything read is compared with the
/// blob's name; on a mismatch the final `read` fails with
/// [`io::ErrorKind::InvalidData`] wrapping [`StoreError::DigestMismatch`],
/// so a truncated or corrupted blob is never taken for complete. A consumer
/// that may stop before the end (a tar reader stops at the end-of-archive
/// blocks) must call [`VerifiedReader::finish`] before trusting its result.
#[derive(Debug)]
pub struct VerifiedReader {
    file: fs::File,
    sha: Sha256,
    expected: Digest,
    path: std::path::PathBuf,
    done: bool,
}

impl VerifiedReader {
    /// Reads what is left and verifies the whole blob.
    pub fn finish(mut self) -> Result<(), StoreError> {
        let mut buf = [0u8; 64 * 1024];
        loop {
            match self.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(from_io(&self.path, e)),
            }
        }
    }

    fn verify(&mut self) -> io::Result<()> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        let found = Digest::from_sha256(std::mem::take(&mut self.sha).finalize().into());
        if found == self.expected {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                StoreError::DigestMismatch {
                    expected: self.expected.clone(),
                    found,
                },
            ))
        }
    }
}

impl Read for VerifiedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.file.read(buf)?;
        if n == 0 {
            self.verify()?;
        } else {
            self.sha.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// Turns an I/O error from a [`VerifiedReader`] back into a store error.
fn from_io(path: &std::path::Path, e: io::Error) -> StoreError {
    if e.get_ref().is_some_and(|inner| inner.is::<StoreError>()) {
        if let Some(inner) = e.into_inner()
            && let Ok(store_err) = inner.downcast::<StoreError>()
        {
            return *store_err;
        }
        return StoreError::Invalid {
            path: path.to_path_buf(),
            message: "unreadable verification error".into(),
        };
    }
    io_err(path)(e)
}

impl Store {
    /// Opens a blob for reading, unverified (for callers that verify by
    /// other means, or need `Seek`). Prefer [`Store::open_verified`].
    pub fn open_blob(&self, digest: &Digest) -> Result<fs::File, StoreError> {
        let path = self.blob_path(digest);
        fs::File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::NotFound(digest.clone())
            } else {
                io_err(&path)(e)
            }
        })
    }

    /// Opens a blob for reading with its digest checked at end of file.
    pub fn open_verified(&self, digest: &Digest) -> Result<VerifiedReader, StoreError> {
        Ok(VerifiedReader {
            file: self.open_blob(digest)?,
            sha: Sha256::new(),
            expected: digest.clone(),
            path: self.blob_path(digest),
            done: false,
        })
    }

    /// Reads a whole blob, verifying its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let mut reader = self.open_verified(digest)?;
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| from_io(&self.blob_path(digest), e))?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_blob_fails_at_end_of_stream() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let content = vec![7u8; 200_000];
        let d = store.write_blob(&content).unwrap();
        let mut sink = Vec::new();
        store
            .open_verified(&d)
            .unwrap()
            .read_to_end(&mut sink)
            .unwrap();
        assert_eq!(sink, content);

        // Truncate in place (as a crash of a non-atomic writer would).
        let f = fs::OpenOptions::new()
            .write(true)
            .open(store.blob_path(&d))
            .unwrap();
        f.set_len(100_000).unwrap();
        let err = store
            .open_verified(&d)
            .unwrap()
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        match store.read_blob(&d) {
            Err(StoreError::DigestMismatch { expected, found }) => {
                assert_eq!(expected, d);
                assert_eq!(found, Digest::of(&content[..100_000]));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn finish_verifies_an_unread_tail() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = store.write_blob(b"header and tail").unwrap();
        let mut r = store.open_verified(&d).unwrap();
        let mut head = [0u8; 6];
        r.read_exact(&mut head).unwrap();
        r.finish().unwrap();

        fs::write(store.blob_path(&d), b"header and TAIL").unwrap();
        let mut r = store.open_verified(&d).unwrap();
        r.read_exact(&mut head).unwrap();
        assert!(matches!(r.finish(), Err(StoreError::DigestMismatch { .. })));
    }

    #[test]
    fn missing_blob_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = Digest::of(b"absent");
        assert!(matches!(store.open_verified(&d), Err(StoreError::NotFound(x)) if x == d));
    }
}
