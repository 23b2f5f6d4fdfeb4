//! Streaming, verified, crash-safe blob writes.

use crate::{Digest, Store, StoreError, io_err, sync_dir};
use crate::{Midstate, ResumableSha256};
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Writes a blob: bytes go to a temp file under `ROOT/tmp` while they are
/// hashed; [`BlobWriter::commit`] checks the digest, fsyncs and renames the
/// file into `blobs/sha256/`. Dropped without commit, the temp file is
/// removed; a crash leaves only a temp file, never a wrong blob.
pub struct BlobWriter {
    tmp: tempfile::NamedTempFile,
    sha: ResumableSha256,
    size: u64,
    /// Bytes already handed to the disk (see [`start_writeback`]).
    submitted: u64,
    blobs: PathBuf,
}

/// Bytes written between two requests to start writing them to disk.
const WRITEBACK_STEP: u64 = 8 << 20;

impl std::fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobWriter")
            .field("tmp", &self.tmp.path())
            .field("size", &self.size)
            .finish()
    }
}

impl BlobWriter {
    pub(crate) fn new(store: &Store) -> Result<Self, StoreError> {
        Ok(BlobWriter {
            tmp: store.temp_file()?,
            sha: ResumableSha256::new(),
            size: 0,
            submitted: 0,
            blobs: store.root().join("blobs/sha256"),
        })
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The digest of the bytes written so far (what [`BlobWriter::commit`]
    /// will find if nothing more is written), so a writer that needs the
    /// digest before the commit does not hash the blob a second time.
    pub fn digest(&self) -> Digest {
        Digest::from_sha256(self.sha.clone().finalize())
    }

    /// The hash state after the bytes written so far, to resume from when
    /// a later blob starts with the same bytes ([`BlobWriter::write_known`]).
    pub fn midstate(&self) -> Midstate {
        self.sha.midstate()
    }

    /// Writes bytes whose hash the caller knows: `after` is the state of
    /// the blob's SHA-256 once they are written, saved when an earlier blob
    /// starting with the same bytes was written. The bytes are not hashed
    /// again; the digest goes on from `after`. Fails, writing nothing, when
    /// `after` does not end where these bytes do.
    pub fn write_known(&mut self, bytes: &[u8], after: &Midstate) -> io::Result<()> {
        if after.len() != self.size + bytes.len() as u64 {
            return Err(io::Error::other(format!(
                "a hash state after {} bytes does not fit {} bytes written after {}",
                after.len(),
                bytes.len(),
                self.size
            )));
        }
        self.write_unhashed(bytes)?;
        self.sha = ResumableSha256::resume(after);
        Ok(())
    }

    fn write_unhashed(&mut self, buf: &[u8]) -> io::Result<()> {
        self.tmp.write_all(buf)?;
        self.size += buf.len() as u64;
        if self.size - self.submitted >= WRITEBACK_STEP {
            start_writeback(
                self.tmp.as_file(),
                self.submitted,
                self.size - self.submitted,
            );
            self.submitted = self.size;
        }
        Ok(())
    }

    /// Finishes the blob: verifies it against `expected` (if given), makes
    /// it durable and moves it into place. Returns its digest and size.
    ///
    /// A blob already present with the same size is kept as it is.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<(Digest, u64), StoreError> {
        self.tmp.flush().map_err(io_err(self.tmp.path()))?;
        let found = Digest::from_sha256(self.sha.clone().finalize());
        if let Some(expected) = expected
            && *expected != found
        {
            return Err(StoreError::DigestMismatch {
                expected: expected.clone(),
                found,
            });
        }
        let path = self.blobs.join(found.hex());
        if fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == self.size) {
            touch(&path);
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
        self.write_unhashed(buf)?;
        self.sha.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

impl Store {
    /// A new temp file under `ROOT/tmp` (same file system as the blobs, so
    /// it can be renamed in), locked while it is open so that
    /// [`Store::clean_temp`] leaves it alone. Removed when dropped.
    pub fn temp_file(&self) -> Result<tempfile::NamedTempFile, StoreError> {
        let dir = self.root().join("tmp");
        let tmp = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&dir)
            .map_err(io_err(&dir))?;
        // A brand-new file cannot be locked by anyone else; an error here
        // means the file system has no flock, and the file is still usable.
        let _ = tmp.as_file().try_lock();
        Ok(tmp)
    }

    /// Starts writing a blob; see [`BlobWriter`].
    pub fn blob_writer(&self) -> Result<BlobWriter, StoreError> {
        BlobWriter::new(self)
    }

    /// Writes bytes as a blob and returns its digest.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let mut w = self.blob_writer()?;
        w.write_all(bytes).map_err(io_err(self.root()))?;
        w.commit(None).map(|(d, _)| d)
    }

    /// Writes a value as a JSON blob and returns its digest and size.
    ///
    /// The bytes are canonical for a given value: compact (no spaces, no
    /// trailing newline), struct fields in declaration order. Maps that
    /// reach a digest must be `BTreeMap`s so their keys come out sorted.
    pub fn put_json<T: serde::Serialize>(&self, value: &T) -> Result<(Digest, u64), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StoreError::Invalid {
            path: self.root().to_path_buf(),
            message: format!("cannot encode JSON: {e}"),
        })?;
        let digest = self.write_blob(&bytes)?;
        Ok((digest, bytes.len() as u64))
    }

    /// True when the store has the blob, which is then marked as written
    /// now, as if written again: a writer that skips a blob it is about to
    /// reference (a pull, a cache import) must use this rather than
    /// [`Store::has_blob`], so a concurrent prune keeps the blob.
    pub fn claim_blob(&self, digest: &Digest) -> bool {
        let path = self.blob_path(digest);
        if !path.is_file() {
            return false;
        }
        touch(&path);
        true
    }

    /// Copies a file into the store, hashing it on the way; with `expected`
    /// the copy is refused (and nothing stored) unless the digest matches.
    pub fn import_blob_file(
        &self,
        path: &Path,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64), StoreError> {
        if let Some(d) = expected
            && self.has_blob(d)
        {
            touch(&self.blob_path(d));
            return Ok((d.clone(), self.blob_size(d)?));
        }
        let mut src = fs::File::open(path).map_err(io_err(path))?;
        let mut w = self.blob_writer()?;
        copy(&mut src, &mut w, path)?;
        w.commit(expected)
    }

    /// Moves a file the caller owns into the store (a rename when it is on
    /// the same file system, else a copy), after hashing it. The caller must
    /// not change the file meanwhile. On a digest mismatch the file stays
    /// where it was.
    pub fn adopt_blob_file(
        &self,
        path: &Path,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64), StoreError> {
        let file = fs::File::open(path).map_err(io_err(path))?;
        let mut sha = Sha256::new();
        let size = copy(&mut &file, &mut HashSink(&mut sha), path)?;
        let found = Digest::from_sha256(sha.finalize().into());
        if let Some(expected) = expected
            && *expected != found
        {
            return Err(StoreError::DigestMismatch {
                expected: expected.clone(),
                found,
            });
        }
        let dest = self.blob_path(&found);
        if fs::metadata(&dest).is_ok_and(|m| m.is_file() && m.len() == size) {
            touch(&dest);
            fs::remove_file(path).map_err(io_err(path))?;
            return Ok((found, size));
        }
        file.sync_all().map_err(io_err(path))?;
        match fs::rename(path, &dest) {
            Ok(()) => {
                sync_dir(&self.root().join("blobs/sha256"));
                Ok((found, size))
            }
            Err(e) if e.raw_os_error() == Some(libc_exdev()) => {
                let stored = self.import_blob_file(path, Some(&found))?;
                fs::remove_file(path).map_err(io_err(path))?;
                Ok(stored)
            }
            Err(e) => Err(io_err(&dest)(e)),
        }
    }

    /// Deletes a blob; a missing one is fine. Policy (what is garbage) is
    /// the caller's: see [`Store::gc_candidates`].
    pub fn remove_blob(&self, digest: &Digest) -> Result<(), StoreError> {
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&path)(e)),
        }
    }
}

/// Marks an existing blob as written now: a garbage collector keeps blobs
/// written after a live build started (see `lease`), and a build that
/// rewrites a blob it is about to tag relies on that. Best effort.
fn touch(path: &Path) {
    if let Ok(file) = fs::File::options().append(true).open(path) {
        let _ = file.set_modified(std::time::SystemTime::now());
    }
}

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to
/// disk now, without waiting for them: the fsync of the commit then finds
/// most of a large blob written while the rest was being made, instead of
/// writing it all then (80 ms for a 110 MB layer here). Durability still
/// comes from that fsync alone; a failure here only leaves it more to do.
fn start_writeback(file: &fs::File, offset: u64, len: u64) {
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: sync_file_range takes plain integers and touches no memory of
    // ours; a bad descriptor or range only gives an error code.
    let _ = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
}

/// `EXDEV`: rename across file systems.
fn libc_exdev() -> i32 {
    rustix::io::Errno::XDEV.raw_os_error()
}

struct HashSink<'a>(&'a mut Sha256);

impl Write for HashSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Copies `src` (the file at `path`) into `dst`, naming `path` in errors.
fn copy(src: &mut impl Read, dst: &mut impl Write, path: &Path) -> Result<u64, StoreError> {
    io::copy(src, dst).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(dir: &Path) -> usize {
        fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn a_known_prefix_is_written_without_hashing_and_the_digest_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut first = store.blob_writer().unwrap();
        first.write_all(b"unchanged prefix, ").unwrap();
        let after = first.midstate();
        first.write_all(b"old end").unwrap();
        assert_eq!(first.digest(), Digest::of(b"unchanged prefix, old end"));

        let mut second = store.blob_writer().unwrap();
        let wrong = second.write_known(b"unchanged", &after).unwrap_err();
        assert!(wrong.to_string().contains("does not fit"), "{wrong}");
        assert_eq!(second.size(), 0);
        second.write_known(b"unchanged prefix, ", &after).unwrap();
        second.write_all(b"new end").unwrap();
        let (digest, size) = second.commit(None).unwrap();
        assert_eq!(digest, Digest::of(b"unchanged prefix, new end"));
        assert_eq!(size, 25);
        assert_eq!(
            store.read_blob(&digest).unwrap(),
            b"unchanged prefix, new end"
        );
    }

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
        assert_eq!(count(&dir.path().join("tmp")), 0);
    }

    #[test]
    fn temp_file_is_not_a_blob_and_drop_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        {
            let mut w = store.blob_writer().unwrap();
            w.write_all(b"partial").unwrap();
            assert_eq!(count(&dir.path().join("tmp")), 1);
            assert_eq!(count(&dir.path().join("blobs/sha256")), 0);
            assert!(!store.has_blob(&Digest::of(b"partial")));
        }
        assert_eq!(count(&dir.path().join("tmp")), 0);
        assert_eq!(count(&dir.path().join("blobs/sha256")), 0);
    }

    #[test]
    fn streaming_commit_with_expected_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut w = store.blob_writer().unwrap();
        for _ in 0..100 {
            w.write_all(&[1u8; 1000]).unwrap();
        }
        let want = Digest::of(&[1u8; 100_000]);
        assert_eq!(w.digest(), want);
        assert_eq!(w.commit(Some(&want)).unwrap(), (want.clone(), 100_000));
        assert_eq!(store.blob_size(&want).unwrap(), 100_000);
        // Writing it again is fine and changes nothing.
        assert_eq!(store.write_blob(&[1u8; 100_000]).unwrap(), want);
        assert_eq!(count(&dir.path().join("blobs/sha256")), 1);
    }

    #[test]
    fn a_blob_written_to_disk_on_the_way_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let piece: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
        let mut all = Vec::new();
        let mut w = store.blob_writer().unwrap();
        for i in 0..17u8 {
            let mut p = piece.clone();
            p[0] = i;
            w.write_all(&p).unwrap();
            all.extend_from_slice(&p);
        }
        assert_eq!(w.submitted, 2 * WRITEBACK_STEP);
        let (digest, size) = w.commit(Some(&Digest::of(&all))).unwrap();
        assert_eq!(size, 17 << 20);
        assert!(store.read_blob(&digest).unwrap() == all);
    }

    #[test]
    fn a_truncated_present_blob_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = store.write_blob(b"complete").unwrap();
        fs::write(store.blob_path(&d), b"comp").unwrap();
        store.write_blob(b"complete").unwrap();
        assert_eq!(store.read_blob(&d).unwrap(), b"complete");
    }

    #[test]
    fn put_json_is_compact() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let value: std::collections::BTreeMap<&str, u32> = [("b", 2), ("a", 1)].into();
        let (d, size) = store.put_json(&value).unwrap();
        assert_eq!(store.read_blob(&d).unwrap(), br#"{"a":1,"b":2}"#);
        assert_eq!(size, 13);
    }

    #[test]
    fn import_copies_and_adopt_moves() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let src = dir.path().join("layer.tar");
        fs::write(&src, b"layer bytes").unwrap();
        let want = Digest::of(b"layer bytes");

        let bad = Digest::of(b"other");
        assert!(matches!(
            store.import_blob_file(&src, Some(&bad)),
            Err(StoreError::DigestMismatch { .. })
        ));
        assert_eq!(
            store.import_blob_file(&src, Some(&want)).unwrap(),
            (want.clone(), 11)
        );
        assert!(src.exists());
        store.remove_blob(&want).unwrap();
        assert!(!store.has_blob(&want));
        store.remove_blob(&want).unwrap();

        assert!(matches!(
            store.adopt_blob_file(&src, Some(&bad)),
            Err(StoreError::DigestMismatch { .. })
        ));
        assert!(src.exists());
        assert_eq!(
            store.adopt_blob_file(&src, None).unwrap(),
            (want.clone(), 11)
        );
        assert!(!src.exists());
        assert_eq!(store.read_blob(&want).unwrap(), b"layer bytes");
    }
}
