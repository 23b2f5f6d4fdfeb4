//! Compression of layer streams with both digests computed on the way.

use crate::chunk::{ChunkCache, ChunkEntry};
use crate::cut::CutPoint;
use crate::out::{BlobOut, BlobSink};
use crate::pipeline::ChunkPipeline;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::Arc;
use strata_store::ResumableSha256;

/// How layer blobs are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip at a level (0-9).
    Gzip {
        /// Level.
        level: u32,
    },
    /// zstd at a level: independent frames, each compressed in
    /// single-thread mode, so the bytes do not depend on the machine.
    Zstd {
        /// Level.
        level: i32,
    },
    /// eStargz (stargz-snapshotter's lazily pullable gzip layout) at a gzip
    /// level. Made from a finished layer by [`crate::to_estargz`], never
    /// written directly: its tar stream gains a landmark and a table of
    /// contents, so its diffID is not the plain layer's.
    Estargz {
        /// gzip level.
        level: u32,
    },
    /// zstd:chunked (containers/storage's lazily pullable zstd layout) at
    /// a zstd level. Made from a finished layer by
    /// [`crate::to_zstd_chunked`], never written directly: its frames
    /// follow the files and a table of contents is appended (the tar, and
    /// so the diffID, stay the layer's).
    ZstdChunked {
        /// zstd level.
        level: i32,
    },
}

impl Default for Compression {
    fn default() -> Self {
        Compression::Gzip { level: 6 }
    }
}

/// The digests of a written layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDigests {
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
    /// Size of the uncompressed tar.
    pub uncompressed_size: u64,
    /// `sha256:` of the blob as stored.
    pub digest: String,
    /// Size of the blob.
    pub size: u64,
}

/// Plain tar, hashed here for the diffID.
struct Plain<W> {
    out: BlobOut<W>,
    tar_sha: ResumableSha256,
    tar_size: u64,
}

/// Where compressed bytes go.
enum Stage<W: BlobSink> {
    Plain(Box<Plain<W>>),
    /// gzip members or zstd frames of content-defined chunks, compressed
    /// in parallel; the pipeline computes both digests.
    Chunked(Box<ChunkPipeline<W>>),
}

/// A compressing sink: tar bytes in, compressed bytes out to `W`, with the
/// diffID and the blob digest computed on the way.
pub(crate) struct Sink<W: BlobSink> {
    stage: Stage<W>,
}

impl<W: BlobSink> Sink<W> {
    /// A sink compressing with `threads` worker threads (0: one per core).
    pub fn new(
        out: W,
        compression: Compression,
        threads: usize,
        cache: Arc<dyn ChunkCache>,
    ) -> io::Result<Self> {
        let stage = match compression {
            Compression::None => Stage::Plain(Box::new(Plain {
                out: BlobOut::new(out),
                tar_sha: ResumableSha256::new(),
                tar_size: 0,
            })),
            Compression::Gzip { .. } | Compression::Zstd { .. } => Stage::Chunked(Box::new(
                ChunkPipeline::new(out, compression, threads, cache)?,
            )),
            Compression::Estargz { .. } => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "eStargz layers are made from a written layer (to_estargz), not written directly",
                ));
            }
            Compression::ZstdChunked { .. } => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "zstd:chunked layers are made from a written layer (to_zstd_chunked), not written directly",
                ));
            }
        };
        Ok(Sink { stage })
    }

    /// A point where the compressed stream may be cut into independent chunks.
    pub fn cut_point(&mut self, point: CutPoint) -> io::Result<()> {
        match &mut self.stage {
            Stage::Plain(_) => Ok(()),
            Stage::Chunked(p) => p.cut_point(point),
        }
    }

    /// The distance between [`CutPoint::FileData`] points in a file.
    pub fn step(&self) -> u64 {
        match &self.stage {
            Stage::Plain(_) => u64::MAX,
            Stage::Chunked(p) => p.step(),
        }
    }

    /// Finishes the stream; returns the sink, the digests and the chunks
    /// (listed only when a chunk cache is enabled).
    pub fn finish(self) -> io::Result<(W, LayerDigests, Vec<ChunkEntry>)> {
        let (out, tar_sha, tar_size, chunks) = match self.stage {
            Stage::Plain(p) => (p.out, p.tar_sha, p.tar_size, Vec::new()),
            Stage::Chunked(p) => {
                let f = p.finish()?;
                (f.out, f.tar_sha, f.tar_size, f.entries)
            }
        };
        let (mut sink, digest, size) = out.finish()?;
        sink.flush()?;
        Ok((
            sink,
            LayerDigests {
                diff_id: format!("sha256:{}", hex::encode(tar_sha.finalize())),
                uncompressed_size: tar_size,
                digest,
                size,
            },
            chunks,
        ))
    }
}

impl<W: BlobSink> Sink<W> {
    /// Reads up to `max` bytes of `from` into the stream (straight into
    /// the chunk being filled when chunked; through `scratch`, at most its
    /// length, when plain); returns how many.
    pub fn read_from(
        &mut self,
        from: &mut dyn Read,
        max: usize,
        scratch: &mut [u8],
    ) -> io::Result<usize> {
        match &mut self.stage {
            Stage::Plain(_) => {
                let max = max.min(scratch.len());
                let n = from.read(&mut scratch[..max])?;
                self.write_all(&scratch[..n])?;
                Ok(n)
            }
            Stage::Chunked(p) => p.read_from(from, max),
        }
    }
}

impl<W: BlobSink> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.stage {
            Stage::Plain(p) => {
                let n = p.out.write(buf)?;
                p.tar_sha.update(&buf[..n]);
                p.tar_size += n as u64;
                Ok(n)
            }
            Stage::Chunked(p) => p.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.stage {
            Stage::Plain(p) => p.out.flush(),
            Stage::Chunked(p) => p.flush(),
        }
    }
}

/// Wraps a layer blob reader in the right decoder: gzip (several members
/// allowed), zstd (several frames allowed) or plain tar.
pub fn detect_reader<'a, R: Read + 'a>(reader: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut buf = BufReader::new(reader);
    let head = buf.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(buf)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Box::new(zstd::stream::read::Decoder::with_buffer(buf)?))
    } else {
        Ok(Box::new(buf))
    }
}
