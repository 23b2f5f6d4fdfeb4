//! Extracting a layer into a directory, confined to it.
//!
//! Every path is resolved inside the target with `openat2(RESOLVE_IN_ROOT)`
//! (see [`crate::rootfs`]), so nothing can be written outside it. On top of
//! that, entries that try are refused with an error naming the layer and the
//! entry: a `..` component, a path through a symlink whose relative target
//! climbs above the target, a hard link to a path with `..` or through any
//! symlink. A leading `/` is dropped, as docker does. Absolute symlink
//! targets resolve inside the target, as they would in the container.

use crate::compress::detect_reader;
use crate::rootfs::{EntryMeta, RootFs, RootFsError};
use rustix::fs::FileType;
use std::collections::BTreeSet;
use std::fmt;
use std::io::{self, Read};
use std::path::Path;

/// How whiteouts are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractMode {
    /// Flatten onto what is already in the target: `.wh.NAME` deletes NAME,
    /// an opaque marker empties the directory of what was there before
    /// this layer.
    Apply,
    /// A snapshot used as an overlayfs lower layer: `.wh.NAME` becomes a
    /// 0/0 character device and an opaque marker the
    /// `trusted.overlay.opaque=y` attribute.
    Overlay,
}

/// What is wrong with an entry.
#[derive(Debug, thiserror::Error)]
pub enum ExtractErrorKind {
    /// The path has a `..` component.
    #[error("the path contains '..'")]
    DotDot,
    /// The path goes through a symlink that leads out of the target.
    #[error(
        "the path goes through the symlink {link:?} -> {target:?}, which leads outside the target"
    )]
    SymlinkEscape {
        /// The symlink, relative to the target.
        link: String,
        /// Where it points.
        target: String,
    },
    /// A hard link to a path with `..`.
    #[error("the hard link target {0:?} is outside the target")]
    HardLinkOutside(String),
    /// A hard link whose target path goes through a symlink.
    #[error("the hard link target {target:?} goes through the symlink {link:?}")]
    HardLinkThroughSymlink {
        /// The link target.
        target: String,
        /// The symlink on its way.
        link: String,
    },
    /// Too many symlinks to resolve a path.
    #[error("too many levels of symlinks")]
    SymlinkLoop,
    /// An entry type layers do not have.
    #[error("unsupported entry type {0:?}")]
    Unsupported(char),
    /// A symlink or hard link entry without a target.
    #[error("a link without a target")]
    MissingLinkTarget,
    /// The archive or its compression is corrupt or truncated.
    #[error("reading the archive: {0}")]
    Archive(#[source] io::Error),
    /// Creating the entry failed.
    #[error(transparent)]
    Fs(#[from] RootFsError),
}

/// A layer that could not be extracted.
#[derive(Debug, thiserror::Error)]
pub struct ExtractError {
    /// The layer (its digest, when the caller gave it).
    pub layer: Option<String>,
    /// The entry's name in the archive (empty before the first entry).
    pub entry: String,
    /// What went wrong.
    #[source]
    pub kind: ExtractErrorKind,
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(layer) = &self.layer {
            write!(f, "layer {layer}: ")?;
        }
        if !self.entry.is_empty() {
            write!(f, "entry {:?}: ", self.entry)?;
        }
        write!(f, "{}", self.kind)
    }
}

/// Parents created for entries whose directories are not in the archive.
const PARENT: EntryMeta = EntryMeta {
    mode: 0o755,
    uid: 0,
    gid: 0,
    mtime: (0, 0),
};

const MAX_SYMLINKS: usize = 40;

/// Cleans an entry name into a path inside the target (no leading `/`,
/// no `.` or empty components), refusing `..`.
fn clean_entry(raw: &str) -> Result<String, ExtractErrorKind> {
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(ExtractErrorKind::DotDot),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// Walks the parent directories of `path` as they are on disk and returns
/// the first symlink met (with its target); refuses a path whose symlinks
/// climb above the root with `..`.
fn symlink_in_parents(
    root: &RootFs,
    path: &str,
) -> Result<Option<(String, String)>, ExtractErrorKind> {
    let mut pending: Vec<String> = path.split('/').rev().skip(1).map(String::from).collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut first = None;
    let mut last: Option<(String, String)> = None;
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                if resolved.pop().is_none() {
                    // Only a symlink's target can bring a `..` here: the
                    // entry's own `..` were refused when cleaning it.
                    let (link, target) = last.clone().unwrap_or_default();
                    return Err(ExtractErrorKind::SymlinkEscape { link, target });
                }
                continue;
            }
            _ => {}
        }
        let here = if resolved.is_empty() {
            part.clone()
        } else {
            format!("{}/{part}", resolved.join("/"))
        };
        match root.lstat_type(&here)? {
            Some(FileType::Symlink) => {
                hops += 1;
                if hops > MAX_SYMLINKS {
                    return Err(ExtractErrorKind::SymlinkLoop);
                }
                let target = root.read_link(&here)?;
                first.get_or_insert_with(|| (here.clone(), target.clone()));
                last = Some((here, target.clone()));
                if target.starts_with('/') {
                    resolved.clear();
                }
                pending.extend(target.split('/').rev().map(String::from));
            }
            // Missing parts become directories; a `..` after them is still
            // counted, so a symlink's target cannot hide an escape there.
            Some(_) | None => resolved.push(part),
        }
    }
    Ok(first)
}

/// Extracts a layer blob (gzip, zstd, several members or frames allowed,
/// or plain tar) into `target`. `layer` names it in errors.
pub fn extract(
    reader: impl Read,
    target: &Path,
    mode: ExtractMode,
    layer: Option<&str>,
) -> Result<(), ExtractError> {
    extract_owned(reader, target, mode, layer, None)
}

/// [`extract`], with every entry owned by `owner` (uid, gid) instead of
/// the ids in its header when given: `ADD --chown` of a local archive, as
/// BuildKit's unpacking lets an explicit `--chown` override the archive's
/// ownership.
pub fn extract_owned(
    reader: impl Read,
    target: &Path,
    mode: ExtractMode,
    layer: Option<&str>,
    owner: Option<(u32, u32)>,
) -> Result<(), ExtractError> {
    let fail = |entry: &str, kind: ExtractErrorKind| ExtractError {
        layer: layer.map(str::to_string),
        entry: entry.to_string(),
        kind,
    };
    let root = RootFs::open(target).map_err(|e| {
        fail(
            "",
            RootFsError {
                op: "open target",
                path: target.display().to_string(),
                source: e,
            }
            .into(),
        )
    })?;
    let decoder = detect_reader(reader).map_err(|e| fail("", ExtractErrorKind::Archive(e)))?;
    let mut archive = tar::Archive::new(decoder);
    let mut state = State {
        root: &root,
        mode,
        is_root: rustix::process::geteuid().is_root(),
        owner,
        created: BTreeSet::new(),
        dir_times: Vec::new(),
    };
    let entries = archive
        .entries()
        .map_err(|e| fail("", ExtractErrorKind::Archive(e)))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| fail("", ExtractErrorKind::Archive(e)))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        state
            .entry(&raw, &mut entry)
            .map_err(|kind| fail(&raw, kind))?;
    }
    // Directory times last, deepest first: writing their content changed them.
    state.dir_times.sort();
    for (path, mtime) in state.dir_times.iter().rev() {
        root.set_mtime(path, *mtime)
            .map_err(|e| fail(path, e.into()))?;
    }
    Ok(())
}

struct State<'a> {
    root: &'a RootFs,
    mode: ExtractMode,
    is_root: bool,
    /// Ids every entry gets instead of its header's (`ADD --chown`).
    owner: Option<(u32, u32)>,
    /// Paths this layer wrote (kept by its opaque markers).
    created: BTreeSet<String>,
    dir_times: Vec<(String, (i64, u32))>,
}

impl State<'_> {
    fn entry<R: Read>(
        &mut self,
        raw: &str,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<(), ExtractErrorKind> {
        let root = self.root;
        let path = clean_entry(raw)?;
        if path.is_empty() {
            return Ok(());
        }
        symlink_in_parents(root, &path)?;
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        if let Some(hidden) = name.strip_prefix(".wh.") {
            return self.whiteout(parent, hidden);
        }
        let header = entry.header().clone();
        let kind = header.entry_type();
        // Empty numeric fields read as 0, as Go's archive/tar does.
        let (uid, gid) = self.owner.unwrap_or((
            header.uid().unwrap_or(0) as u32,
            header.gid().unwrap_or(0) as u32,
        ));
        let meta = EntryMeta {
            mode: header.mode().map_err(ExtractErrorKind::Archive)? & 0o7777,
            uid: if self.is_root {
                uid
            } else {
                rustix::process::geteuid().as_raw()
            },
            gid: if self.is_root {
                gid
            } else {
                rustix::process::getegid().as_raw()
            },
            mtime: (header.mtime().unwrap_or(0) as i64, 0),
        };
        if !kind.is_dir() && root.lstat_type(&path)? == Some(FileType::Directory) {
            // A non-directory replaces a directory of an older layer.
            root.remove_all(&path)?;
        }
        let xattrs: Vec<(String, Vec<u8>)> = match entry.pax_extensions() {
            Ok(Some(exts)) => exts
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let key = e.key().ok()?.strip_prefix("SCHILY.xattr.")?.to_string();
                    Some((key, e.value_bytes().to_vec()))
                })
                .collect(),
            _ => Vec::new(),
        };
        let link_target = || {
            entry
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .ok_or(ExtractErrorKind::MissingLinkTarget)
        };
        match kind {
            tar::EntryType::Directory => {
                root.create_dir(&path, &meta, &PARENT)?;
                self.dir_times.push((path.clone(), meta.mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                root.write_file(&path, entry, &meta, &PARENT)?;
            }
            tar::EntryType::Symlink => {
                let target = link_target()?;
                root.symlink(&path, &target, &meta, &PARENT)?;
            }
            tar::EntryType::Link => {
                let raw_target = link_target()?;
                let target = clean_entry(&raw_target)
                    .map_err(|_| ExtractErrorKind::HardLinkOutside(raw_target.clone()))?;
                if let Some((link, _)) = symlink_in_parents(root, &target)? {
                    return Err(ExtractErrorKind::HardLinkThroughSymlink {
                        target: raw_target,
                        link,
                    });
                }
                root.hardlink(&path, &target, &PARENT)?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let ft = match kind {
                    tar::EntryType::Char => FileType::CharacterDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let dev = rustix::fs::makedev(
                    header.device_major().ok().flatten().unwrap_or(0),
                    header.device_minor().ok().flatten().unwrap_or(0),
                );
                root.mknod(&path, ft, dev, &meta, &PARENT)?;
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => return Ok(()),
            other => return Err(ExtractErrorKind::Unsupported(other.as_byte() as char)),
        }
        if !matches!(kind, tar::EntryType::Symlink | tar::EntryType::Link) {
            for (key, value) in &xattrs {
                if !key.starts_with("trusted.overlay.") {
                    root.set_xattr(&path, key, value)?;
                }
            }
        }
        self.created.insert(path);
        Ok(())
    }

    fn whiteout(&mut self, parent: &str, hidden: &str) -> Result<(), ExtractErrorKind> {
        let root = self.root;
        if hidden == ".wh..opq" {
            match self.mode {
                ExtractMode::Overlay => {
                    root.mkdir_all(parent, &PARENT)?;
                    root.set_xattr(parent, "trusted.overlay.opaque", b"y")?;
                }
                ExtractMode::Apply => {
                    let created = &self.created;
                    root.clear_dir(parent, &|p| created.contains(p))?;
                }
            }
            return Ok(());
        }
        let victim = if parent.is_empty() {
            hidden.to_string()
        } else {
            format!("{parent}/{hidden}")
        };
        root.remove_all(&victim)?;
        if self.mode == ExtractMode::Overlay {
            root.mknod(&victim, FileType::CharacterDevice, 0, &PARENT, &PARENT)?;
        }
        Ok(())
    }
}
