//! Where a layer blob goes ([`BlobSink`]) and the blob digest: computed by
//! the sink when it hashes what it is given anyway (the store's
//! [`BlobWriter`]), else on the way into it ([`BlobOut`]), never twice.

use sha2::{Digest as _, Sha256};
use std::io::{self, Write};
use strata_store::BlobWriter;

/// A writer a layer blob can be written to. Chunked layers are written on
/// a thread of their own, hence `Send + 'static`.
pub trait BlobSink: Write + Send + 'static {
    /// `sha256:<hex>` of every byte written to the sink so far, and how
    /// many, when the sink computes it itself; the layer writer then does
    /// not hash the blob a second time. `None` (the default): the layer
    /// writer hashes what it writes.
    fn written_digest(&self) -> Option<(String, u64)> {
        None
    }
}

impl BlobSink for Vec<u8> {}
impl BlobSink for io::Sink {}
impl BlobSink for std::fs::File {}
impl BlobSink for Box<dyn Write + Send> {}
impl<W: Write + Send + 'static> BlobSink for io::BufWriter<W> {}

impl BlobSink for BlobWriter {
    fn written_digest(&self) -> Option<(String, u64)> {
        Some((self.digest().to_string(), self.size()))
    }
}

/// A [`BlobSink`] with the digest of what passes through it: hashed here
/// unless the sink reports it, fresh, when this starts.
pub(crate) struct BlobOut<W> {
    inner: W,
    /// `None` when `inner` hashes what it is given.
    sha: Option<Sha256>,
    size: u64,
}

impl<W: BlobSink> BlobOut<W> {
    pub fn new(inner: W) -> Self {
        let hashes_itself = inner.written_digest().is_some_and(|(_, size)| size == 0);
        BlobOut {
            inner,
            sha: (!hashes_itself).then(Sha256::new),
            size: 0,
        }
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The sink, the `sha256:` digest of what was written and its size.
    pub fn finish(self) -> io::Result<(W, String, u64)> {
        let digest = match self.sha {
            Some(sha) => format!("sha256:{}", hex::encode(sha.finalize())),
            None => match self.inner.written_digest() {
                Some((digest, size)) if size == self.size => digest,
                found => {
                    return Err(io::Error::other(format!(
                        "the blob sink's digest covers {:?} bytes, {} were written",
                        found.map(|f| f.1),
                        self.size
                    )));
                }
            },
        };
        Ok((self.inner, digest, self.size))
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
