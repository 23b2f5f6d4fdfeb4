//! [`LayerWriter`]: entries in, a compressed layer blob and its digests out.

use crate::chunk::{ChunkCache, ChunkEntry, NoChunkCache};
use crate::compress::{Compression, LayerDigests, Sink};
use crate::cut::{CutPoint, name_hash};
use crate::out::BlobSink;
use crate::tarfmt::{self, BLOCK, TarHeader, TypeFlag};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// The most file data read by one `read` call (into the chunk being
/// filled, when chunked).
const MAX_READ: u64 = 4 << 20;

/// How to write a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOptions {
    /// Blob compression.
    pub compression: Compression,
    /// Clamp mtimes to this time (seconds since the epoch): each entry gets
    /// `min(mtime, epoch)`, as BuildKit does with `SOURCE_DATE_EPOCH`.
    pub source_date_epoch: Option<i64>,
    /// Compression threads; 0 means one per core. The output does not
    /// depend on it.
    pub threads: usize,
}

/// What a layer entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Directory,
    /// A regular file of this many bytes (the content is passed to
    /// [`LayerWriter::append`]).
    File {
        /// Size in bytes.
        size: u64,
    },
    /// A symbolic link.
    Symlink {
        /// Its target, as written.
        target: String,
    },
    /// A hard link to an earlier entry of the same layer.
    HardLink {
        /// The layer path of the earlier entry.
        target: String,
    },
    /// A character device.
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
    /// The path was deleted: written as `DIR/.wh.NAME`.
    Whiteout,
    /// The directory hides what lower layers have in it: written as
    /// `DIR/.wh..wh..opq`.
    OpaqueDirectory,
}

/// One entry of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path in the layer, relative, `/`-separated, without a trailing `/`.
    pub path: String,
    /// What it is.
    pub kind: EntryKind,
    /// Permission bits, including setuid, setgid and sticky.
    pub mode: u32,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Extended attributes (`trusted.overlay.*` never belong here).
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// A layer that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A source file or directory could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file on the host.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A file shrank while it was being written.
    #[error("{path}: {expected} bytes announced but only {actual} could be read")]
    Truncated {
        /// The layer path.
        path: String,
        /// Size in the header.
        expected: u64,
        /// Bytes read.
        actual: u64,
    },
    /// A path that cannot be a layer entry (empty, `..`, or listed twice).
    #[error("{path:?}: {reason}")]
    BadPath {
        /// The layer path.
        path: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The sink or the compressor failed.
    #[error("writing the layer: {0}")]
    Sink(#[source] io::Error),
}

/// Writes layer entries, in the order given, into a compressed tar stream.
///
/// Callers append entries sorted by path component by component (a
/// directory right before its content), as [`crate::write_layer`] and
/// [`crate::append_list`] do.
pub struct LayerWriter<W: BlobSink> {
    sink: Sink<W>,
    epoch: Option<i64>,
    buf: Vec<u8>,
    /// The cut point after the last entry, offered before the next one
    /// (the end-of-archive blocks stay with the last chunk).
    after_last: Option<CutPoint>,
}

impl<W: BlobSink> LayerWriter<W> {
    /// A writer into `out`.
    pub fn new(out: W, opts: &WriteOptions) -> Result<Self, WriteError> {
        Self::with_chunk_cache(out, opts, Arc::new(NoChunkCache))
    }

    /// A writer into `out` that reuses compressed chunks from `cache`.
    pub fn with_chunk_cache(
        out: W,
        opts: &WriteOptions,
        cache: Arc<dyn ChunkCache>,
    ) -> Result<Self, WriteError> {
        Ok(LayerWriter {
            sink: Sink::new(out, opts.compression, opts.threads, cache)
                .map_err(WriteError::Sink)?,
            epoch: opts.source_date_epoch,
            buf: vec![0; 256 * 1024],
            after_last: None,
        })
    }

    /// Appends one entry; `content` is read for files (exactly `size`
    /// bytes) and ignored otherwise.
    pub fn append(&mut self, entry: &Entry, content: &mut dyn Read) -> Result<(), WriteError> {
        let path = entry.path.trim_matches('/');
        if path.is_empty() || path.split('/').any(|c| c == ".." || c == ".") {
            return Err(WriteError::BadPath {
                path: entry.path.clone(),
                reason: "not a clean relative path",
            });
        }
        let mut h = TarHeader {
            name: path.to_string(),
            flag: TypeFlag::Regular,
            mode: entry.mode & 0o7777,
            uid: entry.uid.into(),
            gid: entry.gid.into(),
            size: 0,
            mtime: self.epoch.map_or(entry.mtime, |e| entry.mtime.min(e)),
            linkname: String::new(),
            devmajor: 0,
            devminor: 0,
            xattrs: entry.xattrs.clone(),
        };
        h.xattrs.retain(|k, _| !k.starts_with("trusted.overlay."));
        match &entry.kind {
            EntryKind::Directory => {
                h.flag = TypeFlag::Directory;
                h.name.push('/');
            }
            EntryKind::File { size } => h.size = *size,
            EntryKind::Symlink { target } => {
                h.flag = TypeFlag::Symlink;
                h.linkname = target.clone();
            }
            EntryKind::HardLink { target } => {
                h.flag = TypeFlag::HardLink;
                h.linkname = target.trim_matches('/').to_string();
            }
            EntryKind::CharDevice { major, minor } | EntryKind::BlockDevice { major, minor } => {
                h.flag = if matches!(entry.kind, EntryKind::CharDevice { .. }) {
                    TypeFlag::Char
                } else {
                    TypeFlag::Block
                };
                h.devmajor = (*major).into();
                h.devminor = (*minor).into();
            }
            EntryKind::Fifo => h.flag = TypeFlag::Fifo,
            EntryKind::Whiteout | EntryKind::OpaqueDirectory => {
                h.name = if entry.kind == EntryKind::Whiteout {
                    match path.rsplit_once('/') {
                        Some((dir, base)) => format!("{dir}/.wh.{base}"),
                        None => format!(".wh.{path}"),
                    }
                } else {
                    format!("{path}/.wh..wh..opq")
                };
                h.mode = 0;
                h.xattrs.clear();
            }
        }
        if let Some(point) = self.after_last.take() {
            self.sink.cut_point(point).map_err(WriteError::Sink)?;
        }
        let header = tarfmt::encode(&h);
        self.sink.write_all(&header).map_err(WriteError::Sink)?;
        if h.size > 0 {
            self.copy_data(path, h.size, content)?;
        }
        self.after_last = Some(CutPoint::AfterEntry {
            hash: name_hash(&h.name),
            len: header.len() as u64 + h.size + tarfmt::padding(h.size) as u64,
        });
        Ok(())
    }

    /// Copies exactly `size` bytes of file data, offering a cut point at
    /// every multiple of the sink's step into the file, then the padding.
    fn copy_data(
        &mut self,
        path: &str,
        size: u64,
        content: &mut dyn Read,
    ) -> Result<(), WriteError> {
        let step = self.sink.step();
        let mut done = 0u64;
        while done < size {
            let to_boundary = step - done % step;
            let want = (size - done).min(to_boundary).min(MAX_READ) as usize;
            let n = match self.sink.read_from(content, want, &mut self.buf) {
                Ok(0) => {
                    return Err(WriteError::Truncated {
                        path: path.to_string(),
                        expected: size,
                        actual: done,
                    });
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(WriteError::Read {
                        path: PathBuf::from(path),
                        source,
                    });
                }
            };
            done += n as u64;
            if done.is_multiple_of(step) && done < size {
                self.sink
                    .cut_point(CutPoint::FileData)
                    .map_err(WriteError::Sink)?;
            }
        }
        let pad = tarfmt::padding(size);
        self.sink
            .write_all(&[0u8; BLOCK][..pad])
            .map_err(WriteError::Sink)
    }

    /// Ends the archive (two zero blocks); returns the sink and the digests.
    pub fn finish(self) -> Result<(W, LayerDigests), WriteError> {
        self.finish_with_chunks()
            .map(|(out, digests, _)| (out, digests))
    }

    /// Like [`LayerWriter::finish`], and lists the blob's chunks in order
    /// when the writer has an enabled chunk cache (for
    /// [`crate::StoreChunks::record`]).
    pub fn finish_with_chunks(mut self) -> Result<(W, LayerDigests, Vec<ChunkEntry>), WriteError> {
        self.sink
            .write_all(&[0u8; 2 * BLOCK])
            .map_err(WriteError::Sink)?;
        self.sink.finish().map_err(WriteError::Sink)
    }
}
