//! Layers from the host: a whole directory tree (plain, or an overlayfs
//! upper directory with its whiteouts), or an explicit list of files.
//!
//! Entries go out sorted by path component by component (names compared as
//! bytes, a directory right before its content), with numeric owners and
//! no user or group names; a file with several links inside the layer is
//! written once and then as hard links to its first path; sockets are
//! skipped.

use crate::compress::LayerDigests;
use crate::writer::{Entry, EntryKind, LayerWriter, WriteError, WriteOptions};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// What a directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerSource {
    /// Every entry is layer content.
    Plain,
    /// An overlayfs upper directory: 0/0 character devices are whiteouts and
    /// `trusted.overlay.opaque=y` marks opaque directories; both become OCI
    /// `.wh.` entries.
    OverlayUpper,
}

const OPAQUE: &str = "trusted.overlay.opaque";

/// Writes the layer of the tree under `dir` into `out`.
pub fn write_layer<W: Write>(
    dir: &Path,
    source: LayerSource,
    opts: &WriteOptions,
    out: W,
) -> Result<(W, LayerDigests), WriteError> {
    let mut writer = LayerWriter::new(out, opts)?;
    append_tree(&mut writer, dir, source)?;
    writer.finish()
}

/// Appends every entry under `dir` (not `dir` itself) to `writer`.
pub fn append_tree<W: Write>(
    writer: &mut LayerWriter<W>,
    dir: &Path,
    source: LayerSource,
) -> Result<(), WriteError> {
    let mut links = HashMap::new();
    walk(writer, dir, "", source, &mut links)
}

fn read_err(path: &Path) -> impl FnOnce(io::Error) -> WriteError + '_ {
    move |source| WriteError::Read {
        path: path.to_path_buf(),
        source,
    }
}

fn walk<W: Write>(
    writer: &mut LayerWriter<W>,
    dir: &Path,
    rel: &str,
    source: LayerSource,
    links: &mut HashMap<(u64, u64), String>,
) -> Result<(), WriteError> {
    let mut names: Vec<std::ffi::OsString> = fs::read_dir(dir)
        .and_then(|entries| entries.map(|e| e.map(|e| e.file_name())).collect())
        .map_err(read_err(dir))?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let host = dir.join(&name);
        let name = String::from_utf8_lossy(name.as_bytes());
        let path = if rel.is_empty() {
            name.into_owned()
        } else {
            format!("{rel}/{name}")
        };
        let meta = fs::symlink_metadata(&host).map_err(read_err(&host))?;
        let ft = meta.file_type();
        if source == LayerSource::OverlayUpper && ft.is_char_device() && meta.rdev() == 0 {
            let entry = Entry {
                kind: EntryKind::Whiteout,
                mtime: 0,
                uid: 0,
                gid: 0,
                ..base_entry(&path, &meta)
            };
            writer.append(&entry, &mut io::empty())?;
            continue;
        }
        let Some(entry) = host_entry_opt(&path, &host, &meta, links)? else {
            continue;
        };
        append_host(writer, &entry, &host)?;
        if ft.is_dir() {
            if source == LayerSource::OverlayUpper
                && xattr::get(&host, OPAQUE).ok().flatten().as_deref() == Some(b"y")
            {
                let marker = Entry {
                    kind: EntryKind::OpaqueDirectory,
                    mtime: 0,
                    uid: 0,
                    gid: 0,
                    xattrs: BTreeMap::new(),
                    ..entry.clone()
                };
                writer.append(&marker, &mut io::empty())?;
            }
            walk(writer, &host, &path, source, links)?;
        }
    }
    Ok(())
}

/// Appends `entry`, reading file content from `host`.
fn append_host<W: Write>(
    writer: &mut LayerWriter<W>,
    entry: &Entry,
    host: &Path,
) -> Result<(), WriteError> {
    if let EntryKind::File { .. } = entry.kind {
        let mut file = fs::File::open(host).map_err(read_err(host))?;
        writer.append(entry, &mut file)
    } else {
        writer.append(entry, &mut io::empty())
    }
}

/// An entry with the owner, mode and mtime of `meta` (kind to be set).
fn base_entry(path: &str, meta: &fs::Metadata) -> Entry {
    Entry {
        path: path.to_string(),
        kind: EntryKind::Fifo,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        mtime: meta.mtime(),
        xattrs: BTreeMap::new(),
    }
}

/// The entry for a host file, or `None` for a socket.
fn host_entry_opt(
    path: &str,
    host: &Path,
    meta: &fs::Metadata,
    links: &mut HashMap<(u64, u64), String>,
) -> Result<Option<Entry>, WriteError> {
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        EntryKind::Directory
    } else if ft.is_symlink() {
        let target = fs::read_link(host).map_err(read_err(host))?;
        EntryKind::Symlink {
            target: String::from_utf8_lossy(target.as_os_str().as_bytes()).into_owned(),
        }
    } else if ft.is_file() {
        let key = (meta.dev(), meta.ino());
        match links.get(&key) {
            Some(first) if meta.nlink() > 1 => EntryKind::HardLink {
                target: first.clone(),
            },
            _ => {
                if meta.nlink() > 1 {
                    links.insert(key, path.to_string());
                }
                EntryKind::File { size: meta.len() }
            }
        }
    } else if ft.is_char_device() || ft.is_block_device() {
        let (major, minor) = (
            rustix::fs::major(meta.rdev()),
            rustix::fs::minor(meta.rdev()),
        );
        if ft.is_char_device() {
            EntryKind::CharDevice { major, minor }
        } else {
            EntryKind::BlockDevice { major, minor }
        }
    } else if ft.is_fifo() {
        EntryKind::Fifo
    } else {
        return Ok(None);
    };
    let xattrs = if ft.is_symlink() {
        BTreeMap::new()
    } else {
        read_xattrs(host)
    };
    Ok(Some(Entry {
        kind,
        xattrs,
        ..base_entry(path, meta)
    }))
}

fn read_xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let Ok(names) = xattr::list(path) else {
        return BTreeMap::new();
    };
    names
        .filter_map(|n| {
            let name = n.to_str()?.to_string();
            if name.starts_with("trusted.overlay.") {
                return None;
            }
            let value = xattr::get(path, &n).ok().flatten()?;
            Some((name, value))
        })
        .collect()
}

/// Where a listed entry comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListSource {
    /// A file, directory (only the directory itself), symlink, device or
    /// fifo on the host, read without following a final symlink.
    Host(PathBuf),
    /// A directory that exists only in the layer (for example a parent of
    /// copied files); its metadata comes from the overrides, defaulting
    /// to 0755, root, mtime 0.
    Directory,
}

/// Metadata that replaces what the source has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Overrides {
    /// Owner.
    pub uid: Option<u32>,
    /// Group.
    pub gid: Option<u32>,
    /// Permission bits (the file type is kept).
    pub mode: Option<u32>,
    /// Modification time.
    pub mtime: Option<i64>,
}

/// One entry of an explicit list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Path in the layer.
    pub path: String,
    /// Where it comes from.
    pub source: ListSource,
    /// Metadata to impose.
    pub overrides: Overrides,
}

/// Orders layer paths component by component: a directory comes right
/// before its content (`a`, `a/b`, `a-b`).
pub fn path_order(a: &str, b: &str) -> Ordering {
    let parts = |p: &str| {
        p.trim_matches('/')
            .split('/')
            .map(|c| c.as_bytes().to_vec())
            .collect::<Vec<_>>()
    };
    parts(a).cmp(&parts(b))
}

/// Appends an explicit list of entries (sorted here with [`path_order`]);
/// files linked to each other on the host become hard links in the layer.
/// A path listed twice is an error.
pub fn append_list<W: Write>(
    writer: &mut LayerWriter<W>,
    mut entries: Vec<ListEntry>,
) -> Result<(), WriteError> {
    entries.sort_by(|a, b| path_order(&a.path, &b.path));
    for pair in entries.windows(2) {
        if path_order(&pair[0].path, &pair[1].path) == Ordering::Equal {
            return Err(WriteError::BadPath {
                path: pair[1].path.clone(),
                reason: "listed twice",
            });
        }
    }
    let mut links = HashMap::new();
    for item in &entries {
        let path = item.path.trim_matches('/');
        let o = &item.overrides;
        match &item.source {
            ListSource::Directory => {
                let entry = Entry {
                    path: path.to_string(),
                    kind: EntryKind::Directory,
                    mode: o.mode.unwrap_or(0o755) & 0o7777,
                    uid: o.uid.unwrap_or(0),
                    gid: o.gid.unwrap_or(0),
                    mtime: o.mtime.unwrap_or(0),
                    xattrs: BTreeMap::new(),
                };
                writer.append(&entry, &mut io::empty())?;
            }
            ListSource::Host(host) => {
                let meta = fs::symlink_metadata(host).map_err(read_err(host))?;
                let Some(mut entry) = host_entry_opt(path, host, &meta, &mut links)? else {
                    continue;
                };
                entry.uid = o.uid.unwrap_or(entry.uid);
                entry.gid = o.gid.unwrap_or(entry.gid);
                entry.mode = o.mode.map_or(entry.mode, |m| m & 0o7777);
                entry.mtime = o.mtime.unwrap_or(entry.mtime);
                append_host(writer, &entry, host)?;
            }
        }
    }
    Ok(())
}
