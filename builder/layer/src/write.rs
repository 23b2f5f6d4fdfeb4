//! Layers from the host: a whole directory tree (plain, or an overlayfs
//! upper directory with its whiteouts), or an explicit list of files.
//!
//! Entries go out sorted by path component by component (names compared as
//! bytes, a directory right before its content), with numeric owners and
//! no user or group names; a file with several links inside the layer is
//! written once and then as hard links to its first path; sockets are
//! skipped.

use crate::compress::LayerDigests;
use crate::out::BlobSink;
use crate::writer::{Entry, EntryKind, LayerWriter, WriteError, WriteOptions};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
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
pub fn write_layer<W: BlobSink>(
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
pub fn append_tree<W: BlobSink>(
    writer: &mut LayerWriter<W>,
    dir: &Path,
    source: LayerSource,
) -> Result<(), WriteError> {
    append_tree_with(writer, dir, source, &ExtraFiles::new())
}

/// A regular file of a layer that is not in the tree being written but
/// on the host elsewhere (see [`append_tree_with`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFile {
    /// Where its content is.
    pub path: PathBuf,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time (seconds).
    pub mtime: i64,
}

/// An entry added to a tree (see [`append_tree_with`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extra {
    /// A regular file read from the host.
    File(HostFile),
    /// A directory that is not in the tree; what it holds is in the same
    /// [`ExtraFiles`], under its path.
    Dir {
        /// Permission bits.
        mode: u32,
        /// Owner.
        uid: u32,
        /// Group.
        gid: u32,
        /// Modification time (seconds).
        mtime: i64,
    },
    /// A symbolic link.
    Symlink {
        /// Where it points, as written.
        target: String,
        /// Owner.
        uid: u32,
        /// Group.
        gid: u32,
        /// Modification time (seconds).
        mtime: i64,
    },
}

/// Entries to add to a tree, by directory (relative to the tree, `""` for
/// its top, or an added directory) and name.
pub type ExtraFiles = BTreeMap<String, BTreeMap<String, Extra>>;

/// Like [`append_tree`], with the entries of `extra` added to the tree:
/// file content and size come from the host file, everything else from
/// the [`Extra`]. A COPY into an overlay lists what it would create there
/// instead of creating it, so each byte is read once, into the layer.
/// Every directory named in `extra` must be in the tree or added, and a
/// name must not be in both.
pub fn append_tree_with<W: BlobSink>(
    writer: &mut LayerWriter<W>,
    dir: &Path,
    source: LayerSource,
    extra: &ExtraFiles,
) -> Result<(), WriteError> {
    let mut state = Walk {
        links: HashMap::new(),
        open_dir: None,
        extra,
        dirs_seen: 0,
    };
    walk(writer, Some(dir), "", source, &mut state)?;
    if state.dirs_seen != extra.len() {
        let missing = extra.keys().next().cloned().unwrap_or_default();
        return Err(WriteError::BadPath {
            path: missing,
            reason: "a directory with entries to add is not in the layer",
        });
    }
    Ok(())
}

/// What a walk of a tree carries along.
struct Walk<'a> {
    /// First path of each multiply linked file, by (device, inode).
    links: HashMap<(u64, u64), String>,
    /// The directory of the last added file read, kept open: added files
    /// come directory by directory, and opening each relative to its
    /// directory spares the kernel resolving the whole path again.
    open_dir: Option<(PathBuf, rustix::fd::OwnedFd)>,
    /// Files to add.
    extra: &'a ExtraFiles,
    /// Directories of `extra` walked so far.
    dirs_seen: usize,
}

/// One name of a directory being walked.
enum Item<'a> {
    /// In the tree.
    Tree(std::ffi::OsString),
    /// Added.
    Extra(&'a str, &'a Extra),
}

impl Item<'_> {
    fn name(&self) -> &[u8] {
        match self {
            Item::Tree(n) => n.as_bytes(),
            Item::Extra(n, _) => n.as_bytes(),
        }
    }
}

/// Appends an added entry (not a directory's content).
fn append_extra<W: BlobSink>(
    writer: &mut LayerWriter<W>,
    path: String,
    extra: &Extra,
    open_dir: &mut Option<(PathBuf, rustix::fd::OwnedFd)>,
) -> Result<(), WriteError> {
    let entry = |kind, mode: u32, uid, gid, mtime| Entry {
        path,
        kind,
        mode: mode & 0o7777,
        uid,
        gid,
        mtime,
        xattrs: BTreeMap::new(),
    };
    match extra {
        Extra::File(file) => {
            let mut content = open_in_dir(&file.path, open_dir).map_err(read_err(&file.path))?;
            let size = content.metadata().map_err(read_err(&file.path))?.len();
            let kind = EntryKind::File { size };
            let file_entry = entry(kind, file.mode, file.uid, file.gid, file.mtime);
            writer.append(&file_entry, &mut content)
        }
        Extra::Dir {
            mode,
            uid,
            gid,
            mtime,
        } => {
            let dir = entry(EntryKind::Directory, *mode, *uid, *gid, *mtime);
            writer.append(&dir, &mut io::empty())
        }
        Extra::Symlink {
            target,
            uid,
            gid,
            mtime,
        } => {
            let kind = EntryKind::Symlink {
                target: target.clone(),
            };
            writer.append(&entry(kind, 0o777, *uid, *gid, *mtime), &mut io::empty())
        }
    }
}

/// Opens `path` for reading (following symlinks, as `File::open`)
/// relative to its directory, kept open in `open_dir` for the next file.
fn open_in_dir(
    path: &Path,
    open_dir: &mut Option<(PathBuf, rustix::fd::OwnedFd)>,
) -> io::Result<fs::File> {
    use rustix::fs::{Mode, OFlags};
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return fs::File::open(path);
    };
    let dir = match open_dir.take() {
        Some((dir_path, fd)) if dir_path == parent => (dir_path, fd),
        _ => {
            let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
            (
                parent.to_path_buf(),
                rustix::fs::open(parent, flags, Mode::empty())?,
            )
        }
    };
    let file = rustix::fs::openat(
        &dir.1,
        name,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    );
    *open_dir = Some(dir);
    Ok(fs::File::from(file?))
}

fn read_err(path: &Path) -> impl FnOnce(io::Error) -> WriteError + '_ {
    move |source| WriteError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// Appends what is below `rel`: the entries of `dir` on the host (none
/// for a directory that is only added) and those added there.
fn walk<W: BlobSink>(
    writer: &mut LayerWriter<W>,
    dir: Option<&Path>,
    rel: &str,
    source: LayerSource,
    state: &mut Walk<'_>,
) -> Result<(), WriteError> {
    let names: Vec<std::ffi::OsString> = match dir {
        Some(dir) => fs::read_dir(dir)
            .and_then(|entries| entries.map(|e| e.map(|e| e.file_name())).collect())
            .map_err(read_err(dir))?,
        None => Vec::new(),
    };
    let mut items: Vec<Item<'_>> = names.into_iter().map(Item::Tree).collect();
    if let Some(extra) = state.extra.get(rel) {
        state.dirs_seen += 1;
        items.extend(extra.iter().map(|(n, f)| Item::Extra(n, f)));
    }
    items.sort_by(|a, b| a.name().cmp(b.name()));
    for pair in items.windows(2) {
        if pair[0].name() == pair[1].name() {
            return Err(WriteError::BadPath {
                path: format!("{rel}/{}", String::from_utf8_lossy(pair[0].name())),
                reason: "both in the tree and added",
            });
        }
    }
    for item in items {
        let (name, dir) = match (item, dir) {
            (Item::Tree(name), Some(dir)) => (name, dir),
            (Item::Tree(_), None) => continue,
            (Item::Extra(name, extra), _) => {
                let path = if rel.is_empty() {
                    name.to_string()
                } else {
                    format!("{rel}/{name}")
                };
                append_extra(writer, path.clone(), extra, &mut state.open_dir)?;
                if let Extra::Dir { .. } = extra {
                    walk(writer, None, &path, source, state)?;
                }
                continue;
            }
        };
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
        let Some(entry) = host_entry_opt(&path, &host, &meta, &mut state.links)? else {
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
            walk(writer, Some(&host), &path, source, state)?;
        }
    }
    Ok(())
}

/// Appends `entry`, reading file content from `host`.
fn append_host<W: BlobSink>(
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
pub fn append_list<W: BlobSink>(
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
