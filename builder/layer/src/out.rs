//! Where a layer blob goes ([`BlobSink`]) and the blob digest: computed by
//! the sink when it hashes what it is given anyway (the store's
//! [`BlobWriter`]), else on the way into it ([`BlobOut`]), never twice;
//! bytes whose hash state is known from an earlier blob not at all.

use std::io::{self, Write};
use strata_store::{BlobWriter, Digest, Midstate, ResumableSha256};

/// A writer a layer blob can be written to. Chunked layers are written on
/// a thread of their own, hence `Send + 'static`.
pub trait BlobSink: Write + Send + 'static {
    /// The SHA-256 state of every byte written to the sink so far, when
    /// the sink computes it itself; the layer writer then does not hash
    /// the blob a second time. `None` (the default): the layer writer
    /// hashes what it writes.
    fn hash_state(&self) -> Option<Midstate> {
        None
    }

    /// Writes bytes whose hash the caller knows (`after`: the state once
    /// they are written), without hashing them. Only called on sinks that
    /// give a [`BlobSink::hash_state`].
    fn write_known(&mut self, _bytes: &[u8], _after: &Midstate) -> io::Result<()> {
        Err(io::Error::other(
            "this blob sink does not hash what it is given",
        ))
    }
}

impl BlobSink for Vec<u8> {}
impl BlobSink for io::Sink {}
impl BlobSink for std::fs::File {}
impl BlobSink for Box<dyn Write + Send> {}
impl<W: Write + Send + 'static> BlobSink for io::BufWriter<W> {}

impl BlobSink for BlobWriter {
    fn hash_state(&self) -> Option<Midstate> {
        Some(self.midstate())
    }

    fn write_known(&mut self, bytes: &[u8], after: &Midstate) -> io::Result<()> {
        BlobWriter::write_known(self, bytes, after)
    }
}

/// A [`BlobSink`] with the digest of what passes through it: hashed here
/// unless the sink reports it, fresh, when this starts.
pub(crate) struct BlobOut<W> {
    inner: W,
    /// `None` when `inner` hashes what it is given.
    sha: Option<ResumableSha256>,
    size: u64,
}

impl<W: BlobSink> BlobOut<W> {
    pub fn new(inner: W) -> Self {
        let hashes_itself = inner.hash_state().is_some_and(|s| s.is_empty());
        BlobOut {
            inner,
            sha: (!hashes_itself).then(ResumableSha256::new),
            size: 0,
        }
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The SHA-256 state of what was written so far.
    pub fn midstate(&self) -> io::Result<Midstate> {
        match &self.sha {
            Some(sha) => Ok(sha.midstate()),
            None => self.inner_state(),
        }
    }

    /// The inner sink's state, which must cover what was written here.
    fn inner_state(&self) -> io::Result<Midstate> {
        match self.inner.hash_state() {
            Some(state) if state.len() == self.size => Ok(state),
            found => Err(io::Error::other(format!(
                "the blob sink's digest covers {:?} bytes, {} were written",
                found.map(|f| f.len()),
                self.size
            ))),
        }
    }

    /// Writes bytes whose hash is known: `after` is the blob's state once
    /// they are written (see [`BlobWriter::write_known`]).
    pub fn write_known(&mut self, bytes: &[u8], after: &Midstate) -> io::Result<()> {
        let end = self.size + bytes.len() as u64;
        if after.len() != end {
            return Err(io::Error::other(format!(
                "a hash state after {} bytes does not fit a blob of {end}",
                after.len()
            )));
        }
        match &mut self.sha {
            Some(sha) => {
                self.inner.write_all(bytes)?;
                *sha = ResumableSha256::resume(after);
            }
            None => self.inner.write_known(bytes, after)?,
        }
        self.size = end;
        Ok(())
    }

    /// The sink, the `sha256:` digest of what was written and its size.
    pub fn finish(self) -> io::Result<(W, String, u64)> {
        let state = self.midstate()?;
        let digest = Digest::from_sha256(ResumableSha256::resume(&state).finalize());
        Ok((self.inner, digest.to_string(), self.size))
    }
}

impl<W: BlobSink> Write for BlobOut<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(sha) = &mut self.sha {
            sha.update(&buf[..n]);
        }
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sink_that_hashes_itself_is_not_hashed_again_and_gives_the_same_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = strata_store::Store::open(dir.path()).unwrap();
        let mut out = BlobOut::new(store.blob_writer().unwrap());
        assert!(out.sha.is_none());
        out.write_all(b"layer bytes").unwrap();
        let (writer, digest, size) = out.finish().unwrap();
        let mut plain = BlobOut::new(Vec::new());
        assert!(plain.sha.is_some());
        plain.write_all(b"layer bytes").unwrap();
        assert_eq!(plain.finish().unwrap().1, digest);
        assert_eq!(size, 11);
        let (stored, _) = writer.commit(Some(&digest.parse().unwrap())).unwrap();
        assert_eq!(stored.to_string(), digest);
    }

    fn known_prefix_then_more<W: BlobSink>(sink: W) -> String {
        let mut first = BlobOut::new(Vec::new());
        first.write_all(b"same start|").unwrap();
        let after = first.midstate().unwrap();
        let mut out = BlobOut::new(sink);
        assert!(out.write_known(b"same", &after).is_err());
        out.write_known(b"same start|", &after).unwrap();
        out.write_all(b"new end").unwrap();
        assert_eq!(out.midstate().unwrap().len(), 18);
        out.finish().unwrap().1
    }

    #[test]
    fn known_bytes_resume_the_digest_in_both_kinds_of_sink() {
        let dir = tempfile::tempdir().unwrap();
        let store = strata_store::Store::open(dir.path()).unwrap();
        let want = strata_store::Digest::of(b"same start|new end").to_string();
        assert_eq!(known_prefix_then_more(Vec::new()), want);
        assert_eq!(known_prefix_then_more(store.blob_writer().unwrap()), want);
    }

    #[test]
    fn a_sink_written_before_is_hashed_here() {
        let dir = tempfile::tempdir().unwrap();
        let store = strata_store::Store::open(dir.path()).unwrap();
        let mut writer = store.blob_writer().unwrap();
        writer.write_all(b"before ").unwrap();
        let mut out = BlobOut::new(writer);
        assert!(out.sha.is_some());
        out.write_all(b"layer").unwrap();
        let (_, digest, size) = out.finish().unwrap();
        assert_eq!(digest, strata_store::Digest::of(b"layer").to_string());
        assert_eq!(size, 5);
    }
}
