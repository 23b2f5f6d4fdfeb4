//! zstd:chunked: a zstd layer that containers/storage (podman, buildah,
//! CRI-O) can pull file by file, and every other consumer reads as an
//! ordinary zstd layer.
//!
//! [`to_zstd_chunked`] rewrites a finished layer (any compression) in the
//! layout containers/storage's `pkg/chunked` writes:
//!
//! - the layer's tar, byte for byte (so the diffID and the image config
//!   do not change), in zstd frames: headers (with the padding before
//!   them) share frames, but the data of every regular file starts a new
//!   frame and ends its last one, and a file larger than [`CHUNK_SIZE`] is
//!   cut into frames of that size (`chunk` entries of the TOC);
//! - a skippable frame with the zstd-compressed TOC (JSON: the entries'
//!   metadata, `digest`, `offset`/`endOffset` of their frames,
//!   `chunkSize`/`chunkOffset`/`chunkDigest`, and `tarSplitDigest`);
//! - a skippable frame with the zstd-compressed tar-split data (the tar
//!   without file contents, from which the exact tar is put together
//!   again: containers/storage 1.5x pulls a layer partially only with it,
//!   and checks the result against the diffID);
//! - a skippable frame with the 64-byte footer.
//!
//! The descriptor carries the TOC's position and digest
//! ([`ManifestPositions::annotations`], under both annotation names in
//! use). Frames are ordinary zstd chunks (the zstd level's chunk format,
//! shared with zstd layers), compressed in parallel and copied from a
//! [`ChunkCache`] when known. The same layer gives the same blob.

mod header;
mod tarsplit;
mod toc;

use crate::chunk::{ChunkCache, ChunkEntry, compress_chunk};
use crate::compress::{Compression, LayerDigests, detect_reader};
use crate::out::BlobSink;
use crate::pipeline::ChunkPipeline;
use crate::recompress::check_diff_id;
use crate::tarfmt;
use header::GoHeader;
use sha2::{Digest as _, Sha256};
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::sync::Arc;
use tarsplit::{CRC64, TarSplit};
pub use toc::{
    LEGACY_MANIFEST_CHECKSUM_ANNOTATION, LEGACY_MANIFEST_POSITION_ANNOTATION,
    MANIFEST_CHECKSUM_ANNOTATION, MANIFEST_POSITION_ANNOTATION, ManifestPositions,
    TARSPLIT_POSITION_ANNOTATION,
};
use toc::{Toc, TocEntry, skippable_frame};

/// Largest piece of a file in one frame (a `chunk` entry of the TOC).
pub const CHUNK_SIZE: u64 = 4 << 20;

/// What [`to_zstd_chunked`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZstdChunkedDigests {
    /// Digests of the new blob; its diffID is the source layer's.
    pub layer: LayerDigests,
    /// Where the TOC and the tar-split data are, for the annotations.
    pub positions: ManifestPositions,
}

/// Writes the layer `blob` (of `diff_id`, checked) to `out` as
/// zstd:chunked at zstd `level`, reusing frames from `cache`; returns the
/// digests and the frames written (for [`crate::StoreChunks::record`]).
pub fn to_zstd_chunked<R: Read, W: BlobSink>(
    blob: R,
    diff_id: &str,
    level: i32,
    out: W,
    cache: Arc<dyn ChunkCache>,
) -> io::Result<(W, ZstdChunkedDigests, Vec<ChunkEntry>)> {
    let tape = Tape {
        inner: detect_reader(blob)?,
        recorded: Rc::default(),
    };
    let recorded = Rc::clone(&tape.recorded);
    let mut writer = ChunkedWriter::new(out, level, cache)?;
    let mut archive = tar::Archive::new(tape);
    for entry in archive.entries()? {
        let mut entry = entry?;
        // What the archive read since the last entry's data: its padding
        // and this entry's headers.
        let raw = recorded.take();
        let header = GoHeader::of(&mut entry)?;
        writer.entry(&raw, &header, &mut entry, &recorded)?;
    }
    // The end-of-archive blocks, and anything after them.
    let mut tape = archive.into_inner();
    io::copy(&mut tape, &mut io::sink())?;
    writer.end(&recorded.take())?;
    let (out, digests, chunks) = writer.finish()?;
    check_diff_id(&digests.layer.diff_id, diff_id)?;
    Ok((out, digests, chunks))
}

/// A reader that keeps what passes through it, so the raw bytes of each
/// tar header reach the blob unchanged.
struct Tape<R> {
    inner: R,
    recorded: Rc<RefCell<Vec<u8>>>,
}

impl<R: Read> Read for Tape<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.recorded.borrow_mut().extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// A TOC entry and the frames it points at, by sequence number.
struct Pending {
    entry: TocEntry,
    /// The frame where the entry's data (or chunk) starts.
    start: Option<u64>,
    /// The frame after the file's data (main entries only).
    end: Option<u64>,
}

/// Writes the tar into frames, a new frame at each file's data, and lists
/// the entries for the TOC and the tar-split data.
struct ChunkedWriter<W: BlobSink> {
    pipeline: ChunkPipeline<W>,
    level: i32,
    split: TarSplit,
    entries: Vec<Pending>,
    buf: Vec<u8>,
}

impl<W: BlobSink> ChunkedWriter<W> {
    fn new(out: W, level: i32, cache: Arc<dyn ChunkCache>) -> io::Result<Self> {
        let zstd = Compression::Zstd { level };
        Ok(ChunkedWriter {
            pipeline: ChunkPipeline::new(out, zstd, 0, cache)?,
            level,
            split: TarSplit::new(level)?,
            entries: Vec::new(),
            buf: vec![0; 256 * 1024],
        })
    }

    /// Bytes of the tar stream (the pipeline hashes them).
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.pipeline.write_all(bytes)
    }

    /// One entry: `raw` (padding and headers) as read, then its data from
    /// `content` (whose raw copy in `recorded` is dropped as it is read).
    fn entry(
        &mut self,
        raw: &[u8],
        h: &GoHeader,
        content: &mut dyn Read,
        recorded: &RefCell<Vec<u8>>,
    ) -> io::Result<()> {
        self.put(raw)?;
        self.split.segment(raw)?;
        let mut main = h.toc_entry();
        if h.size == 0 {
            self.split.entry(&h.name, 0, None)?;
            self.entries.push(Pending {
                entry: main,
                start: None,
                end: None,
            });
            return Ok(());
        }
        let first = self.entries.len();
        let mut file_sha = Sha256::new();
        let mut crc = CRC64.digest();
        let mut done = 0u64;
        let mut chunks = Vec::new();
        while done < h.size {
            let len = (h.size - done).min(CHUNK_SIZE);
            let seq = self.pipeline.force_cut()?;
            let mut chunk_sha = Sha256::new();
            let mut left = len;
            while left > 0 {
                let want = left.min(self.buf.len() as u64) as usize;
                let n = tarfmt::read_data(content, &mut self.buf[..want], &h.name)?;
                recorded.borrow_mut().clear();
                let data = std::mem::take(&mut self.buf);
                file_sha.update(&data[..n]);
                chunk_sha.update(&data[..n]);
                crc.update(&data[..n]);
                let put = self.put(&data[..n]);
                self.buf = data;
                put?;
                left -= n as u64;
            }
            chunks.push((seq, done, len, sha256_text(chunk_sha)));
            done += len;
        }
        let end = self.pipeline.force_cut()?;
        self.split.entry(&h.name, h.size, Some(crc.finalize()))?;
        main.digest = sha256_text(file_sha);
        let several = chunks.len() > 1;
        for (i, (seq, offset, len, digest)) in chunks.into_iter().enumerate() {
            let mut entry = if i == 0 {
                std::mem::take(&mut main)
            } else {
                TocEntry {
                    kind: "chunk",
                    name: h.name.clone(),
                    chunk_offset: offset,
                    ..TocEntry::default()
                }
            };
            // A file in one frame has no chunk fields, as the reference
            // writer leaves them out.
            if several {
                entry.chunk_size = len;
                entry.chunk_digest = digest;
            }
            self.entries.push(Pending {
                entry,
                start: Some(seq),
                end: (i == 0).then_some(end),
            });
        }
        debug_assert_eq!(self.entries[first].entry.kind, "reg");
        Ok(())
    }

    /// The bytes after the last entry.
    fn end(&mut self, rest: &[u8]) -> io::Result<()> {
        self.put(rest)?;
        self.split.segment(rest)
    }

    fn finish(self) -> io::Result<(W, ZstdChunkedDigests, Vec<ChunkEntry>)> {
        let finished = self.pipeline.finish()?;
        let (starts, chunks) = (finished.starts, finished.entries);
        let mut out = finished.out;
        let data_end = out.size();
        let offset_of = |seq: u64| starts.get(seq as usize).copied().unwrap_or(data_end);
        let entries = self
            .entries
            .into_iter()
            .map(|p| TocEntry {
                offset: p.start.map_or(0, offset_of),
                end_offset: p.end.map_or(0, offset_of),
                ..p.entry
            })
            .collect();
        let (split, split_size) = self.split.finish()?;
        let toc = serde_json::to_vec(&Toc {
            version: 1,
            entries,
            tar_split_digest: sha256_text(Sha256::new_with_prefix(&split)),
        })
        .map_err(io::Error::other)?;
        let manifest = compress_chunk(&toc, Compression::Zstd { level: self.level })?;
        let manifest_offset = data_end + 8;
        let positions = ManifestPositions {
            manifest_checksum: sha256_text(Sha256::new_with_prefix(&manifest)),
            manifest_offset,
            manifest_size: manifest.len() as u64,
            manifest_uncompressed_size: toc.len() as u64,
            tarsplit_offset: manifest_offset + manifest.len() as u64 + 8,
            tarsplit_size: split.len() as u64,
            tarsplit_uncompressed_size: split_size,
        };
        out.write_all(&skippable_frame(&manifest)?)?;
        out.write_all(&skippable_frame(&split)?)?;
        out.write_all(&skippable_frame(&positions.footer())?)?;
        let (mut sink, digest, size) = out.finish()?;
        sink.flush()?;
        let layer = LayerDigests {
            diff_id: format!("sha256:{}", hex::encode(finished.tar_sha.finalize())),
            uncompressed_size: finished.tar_size,
            digest,
            size,
        };
        Ok((sink, ZstdChunkedDigests { layer, positions }, chunks))
    }
}

fn sha256_text(sha: Sha256) -> String {
    format!("sha256:{}", hex::encode(sha.finalize()))
}
