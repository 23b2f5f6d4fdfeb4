//! eStargz: a gzip layer that a lazy puller (stargz-snapshotter) can read
//! file by file, and every other consumer as an ordinary gzip layer.
//!
//! [`to_estargz`] rewrites a finished layer (any compression) in the
//! layout of stargz-snapshotter's `docs/estargz.md`:
//!
//! - a `.no.prefetch.landmark` entry first (one byte, `0x0f`);
//! - every entry of the layer, in order, with our own headers; headers
//!   share gzip members, but the data of every regular file starts a new
//!   member, and a file larger than [`CHUNK_SIZE`] is cut into members of
//!   that size (`chunk` entries of the table of contents);
//! - the table of contents, a tar entry `stargz.index.json` followed by
//!   the end of the archive, in a member of its own;
//! - the 51-byte footer member giving the offset of that member.
//!
//! The tar inside is therefore not the layer's tar: the diffID changes
//! (the image config must follow), and the descriptor carries the
//! annotations [`TOC_DIGEST_ANNOTATION`] and
//! [`UNCOMPRESSED_SIZE_ANNOTATION`]. Members are ordinary gzip chunks
//! (the gzip level's chunk format, shared with gzip layers), compressed in
//! parallel and copied from a [`ChunkCache`] when known. Nothing depends
//! on the machine: the same layer gives the same blob.

mod toc;

use crate::chunk::{ChunkCache, ChunkEntry, compress_chunk};
use crate::compress::{Compression, LayerDigests, detect_reader};
use crate::out::BlobSink;
use crate::pipeline::ChunkPipeline;
use crate::recompress::check_diff_id;
use crate::tarfmt::{self, BLOCK, TarHeader, TypeFlag};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::Arc;
use toc::{
    LANDMARK_CONTENT, NO_PREFETCH_LANDMARK, PREFETCH_LANDMARK, TOC_NAME, Toc, TocEntry, footer,
};

/// Descriptor annotation: the SHA-256 of the table of contents' JSON.
pub const TOC_DIGEST_ANNOTATION: &str = "containerd.io/snapshot/stargz/toc.digest";
/// Descriptor annotation: the size of the blob's uncompressed tar.
pub const UNCOMPRESSED_SIZE_ANNOTATION: &str = "io.containers.estargz.uncompressed-size";
/// Largest uncompressed file chunk in one gzip member (the reference
/// writer's default).
pub const CHUNK_SIZE: u64 = 4 << 20;

/// What [`to_estargz`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EstargzDigests {
    /// Digests of the new blob (its diffID is the eStargz tar's).
    pub layer: LayerDigests,
    /// `sha256:` of the table of contents' JSON
    /// ([`TOC_DIGEST_ANNOTATION`]).
    pub toc_digest: String,
}

/// Writes the layer `blob` (of `diff_id`, checked) to `out` as eStargz at
/// gzip `level`, reusing members from `cache`; returns the digests and
/// the members written (for [`crate::StoreChunks::record`]).
pub fn to_estargz<R: Read, W: BlobSink>(
    blob: R,
    diff_id: &str,
    level: u32,
    out: W,
    cache: Arc<dyn ChunkCache>,
) -> io::Result<(W, EstargzDigests, Vec<ChunkEntry>)> {
    let mut source = HashingReader {
        inner: detect_reader(blob)?,
        sha: Sha256::new(),
    };
    let mut writer = TocWriter::new(out, level, cache)?;
    writer.append(&landmark(), &mut &[LANDMARK_CONTENT][..])?;
    {
        let mut archive = tar::Archive::new(&mut source);
        for entry in archive.entries()? {
            let mut entry = entry?;
            if let Some(header) = header_of(&mut entry)? {
                writer.append(&header, &mut entry)?;
            }
        }
    }
    // The end-of-archive blocks, and anything after them, count for the
    // diffID of the source.
    io::copy(&mut source, &mut io::sink())?;
    let source_diff_id = format!("sha256:{}", hex::encode(source.sha.finalize()));
    check_diff_id(&source_diff_id, diff_id)?;
    writer.finish()
}

fn landmark() -> TarHeader {
    TarHeader {
        name: NO_PREFETCH_LANDMARK.into(),
        flag: TypeFlag::Regular,
        mode: 0,
        uid: 0,
        gid: 0,
        size: 1,
        mtime: 0,
        linkname: String::new(),
        devmajor: 0,
        devminor: 0,
        xattrs: BTreeMap::new(),
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// The header to write for a source entry; `None` for entries eStargz
/// makes itself (table of contents, landmarks) and global PAX headers.
fn header_of<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Option<TarHeader>> {
    let raw = entry.header().clone();
    let flag = match raw.entry_type() {
        tar::EntryType::Regular | tar::EntryType::Continuous => TypeFlag::Regular,
        tar::EntryType::Link => TypeFlag::HardLink,
        tar::EntryType::Symlink => TypeFlag::Symlink,
        tar::EntryType::Char => TypeFlag::Char,
        tar::EntryType::Block => TypeFlag::Block,
        tar::EntryType::Directory => TypeFlag::Directory,
        tar::EntryType::Fifo => TypeFlag::Fifo,
        tar::EntryType::XGlobalHeader => return Ok(None),
        other => {
            return Err(invalid(format!(
                "tar entry type {:?} cannot be written as eStargz",
                other.as_byte() as char
            )));
        }
    };
    let path = String::from_utf8(entry.path_bytes().into_owned())
        .map_err(|_| invalid("a tar name is not UTF-8".into()))?;
    let bare = path.trim_start_matches("./").trim_matches('/');
    if [TOC_NAME, NO_PREFETCH_LANDMARK, PREFETCH_LANDMARK].contains(&bare) {
        return Ok(None);
    }
    let linkname = match entry.link_name_bytes() {
        Some(l) => String::from_utf8(l.into_owned())
            .map_err(|_| invalid(format!("{path}: the link target is not UTF-8")))?,
        None => String::new(),
    };
    let mut h = TarHeader {
        name: if flag == TypeFlag::Directory && !path.ends_with('/') {
            format!("{path}/")
        } else {
            path.clone()
        },
        flag,
        mode: raw.mode()? & 0o7777,
        uid: raw.uid()?,
        gid: raw.gid()?,
        size: if flag == TypeFlag::Regular {
            entry.size()
        } else {
            0
        },
        mtime: raw.mtime()? as i64,
        linkname,
        devmajor: raw.device_major()?.unwrap_or(0).into(),
        devminor: raw.device_minor()?.unwrap_or(0).into(),
        xattrs: BTreeMap::new(),
    };
    if let Some(pax) = entry.pax_extensions()? {
        for record in pax {
            let record = record?;
            let value = record.value_bytes();
            let number = || std::str::from_utf8(value).ok().map(str::trim);
            match record.key_bytes() {
                b"uid" => h.uid = number().and_then(|v| v.parse().ok()).unwrap_or(h.uid),
                b"gid" => h.gid = number().and_then(|v| v.parse().ok()).unwrap_or(h.gid),
                b"mtime" => {
                    // Whole seconds, as the layer writer keeps them.
                    let whole = number().map(|v| v.split('.').next().unwrap_or(v));
                    h.mtime = whole.and_then(|v| v.parse().ok()).unwrap_or(h.mtime);
                }
                key => {
                    if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                        let name = String::from_utf8(name.to_vec())
                            .map_err(|_| invalid(format!("{path}: an xattr name is not UTF-8")))?;
                        h.xattrs.insert(name, value.to_vec());
                    }
                }
            }
        }
    }
    Ok(Some(h))
}

struct HashingReader<R> {
    inner: R,
    sha: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
}

/// Writes entries into gzip members, a new member at each file's data,
/// and lists them for the table of contents.
struct TocWriter<W: BlobSink> {
    pipeline: ChunkPipeline<W>,
    level: u32,
    /// Entries, with the sequence number of the member their data starts.
    entries: Vec<(TocEntry, Option<u64>)>,
    buf: Vec<u8>,
}

impl<W: BlobSink> TocWriter<W> {
    fn new(out: W, level: u32, cache: Arc<dyn ChunkCache>) -> io::Result<Self> {
        let gzip = Compression::Gzip { level };
        Ok(TocWriter {
            pipeline: ChunkPipeline::new(out, gzip, 0, cache)?,
            level,
            entries: Vec::new(),
            buf: vec![0; 256 * 1024],
        })
    }

    /// Uncompressed bytes of the tar stream (the pipeline hashes them).
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.pipeline.write_all(bytes)
    }

    fn append(&mut self, h: &TarHeader, content: &mut dyn Read) -> io::Result<()> {
        self.put(&tarfmt::encode(h))?;
        let entry = TocEntry::of(h);
        if h.flag != TypeFlag::Regular {
            self.entries.push((entry, None));
            return Ok(());
        }
        let first = self.entries.len();
        self.entries.push((entry, None));
        let mut file_sha = Sha256::new();
        let mut done = 0u64;
        while done < h.size {
            let len = (h.size - done).min(CHUNK_SIZE);
            let seq = self.pipeline.force_cut()?;
            let mut chunk_sha = Sha256::new();
            let mut left = len;
            while left > 0 {
                let want = left.min(self.buf.len() as u64) as usize;
                let n = tarfmt::read_data(content, &mut self.buf[..want], &h.name)?;
                let data = std::mem::take(&mut self.buf);
                file_sha.update(&data[..n]);
                chunk_sha.update(&data[..n]);
                let put = self.put(&data[..n]);
                self.buf = data;
                put?;
                left -= n as u64;
            }
            let chunk = TocEntry {
                chunk_offset: done,
                // The last chunk's size is left out (zero).
                chunk_size: if done + len < h.size { len } else { 0 },
                chunk_digest: format!("sha256:{}", hex::encode(chunk_sha.finalize())),
                ..if done == 0 {
                    self.entries[first].0.clone()
                } else {
                    TocEntry {
                        name: h.name.clone(),
                        kind: "chunk",
                        ..TocEntry::default()
                    }
                }
            };
            if done == 0 {
                self.entries[first] = (chunk, Some(seq));
            } else {
                self.entries.push((chunk, Some(seq)));
            }
            done += len;
        }
        self.entries[first].0.digest = format!("sha256:{}", hex::encode(file_sha.finalize()));
        self.put(&[0u8; BLOCK][..tarfmt::padding(h.size)])
    }

    fn finish(self) -> io::Result<(W, EstargzDigests, Vec<ChunkEntry>)> {
        let finished = self.pipeline.finish()?;
        let (starts, chunks) = (finished.starts, finished.entries);
        let (mut out, mut tar_sha) = (finished.out, finished.tar_sha);
        let toc_offset = out.size();
        let mut entries = Vec::with_capacity(self.entries.len());
        for (mut entry, seq) in self.entries {
            if let Some(seq) = seq {
                entry.offset = *starts
                    .get(seq as usize)
                    .ok_or_else(|| io::Error::other("a member of the layer was not written"))?;
            }
            entries.push(entry);
        }
        let json = serde_json::to_vec_pretty(&Toc {
            version: 1,
            entries,
        })
        .map_err(io::Error::other)?;
        let toc_digest = format!("sha256:{}", hex::encode(Sha256::digest(&json)));
        let mut tar = tarfmt::encode(&TarHeader {
            name: TOC_NAME.into(),
            size: json.len() as u64,
            ..landmark()
        });
        tar.extend_from_slice(&json);
        tar.resize(
            tar.len() + tarfmt::padding(json.len() as u64) + 2 * BLOCK,
            0,
        );
        tar_sha.update(&tar);
        let tar_size = finished.tar_size + tar.len() as u64;
        out.write_all(&compress_chunk(
            &tar,
            Compression::Gzip { level: self.level },
        )?)?;
        out.write_all(&footer(toc_offset))?;
        let (mut sink, digest, size) = out.finish()?;
        sink.flush()?;
        let layer = LayerDigests {
            diff_id: format!("sha256:{}", hex::encode(tar_sha.finalize())),
            uncompressed_size: tar_size,
            digest,
            size,
        };
        Ok((sink, EstargzDigests { layer, toc_digest }, chunks))
    }
}
