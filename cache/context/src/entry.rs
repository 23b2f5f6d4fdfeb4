//! What the walk records about each file: type and `lstat` metadata.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// The type of a context entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (never followed inside a walked tree).
    Symlink,
    /// A FIFO, socket or device node.
    Other,
}

/// `lstat` metadata of an entry. The identity fields (`dev`, `ino`,
/// times) feed the stat cache only; they never reach a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// The type.
    pub kind: EntryKind,
    /// The full `st_mode` (type and permission bits).
    pub mode: u32,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Device of the file system holding the entry.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Status change time, nanoseconds since the epoch.
    pub ctime_ns: i64,
}

impl Meta {
    /// Reads the fields from `std` metadata (obtained without following symlinks).
    pub fn from_metadata(md: &Metadata) -> Meta {
        let ft = md.file_type();
        let kind = if ft.is_file() {
            EntryKind::File
        } else if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            EntryKind::Symlink
        } else {
            EntryKind::Other
        };
        Meta {
            kind,
            mode: md.mode(),
            uid: md.uid(),
            gid: md.gid(),
            size: md.size(),
            dev: md.dev(),
            ino: md.ino(),
            mtime_ns: md
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(md.mtime_nsec()),
            ctime_ns: md
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(md.ctime_nsec()),
        }
    }

    /// Reads the fields from a `stat` structure (taken without following
    /// symlinks).
    // The fields' integer types differ between architectures.
    #[allow(clippy::unnecessary_cast)]
    pub(crate) fn from_stat(st: &rustix::fs::Stat) -> Meta {
        let mode = st.st_mode as u32;
        let kind = match mode & 0o170000 {
            0o100000 => EntryKind::File,
            0o040000 => EntryKind::Dir,
            0o120000 => EntryKind::Symlink,
            _ => EntryKind::Other,
        };
        let ns = |secs: i64, nsec: i64| secs.saturating_mul(1_000_000_000).saturating_add(nsec);
        Meta {
            kind,
            mode,
            uid: st.st_uid as u32,
            gid: st.st_gid as u32,
            size: st.st_size as u64,
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            mtime_ns: ns(st.st_mtime as i64, st.st_mtime_nsec as i64),
            ctime_ns: ns(st.st_ctime as i64, st.st_ctime_nsec as i64),
        }
    }

    /// The permission bits (including setuid, setgid and sticky).
    pub fn permissions(&self) -> u32 {
        self.mode & 0o7777
    }
}

/// One entry found by a walk, before it is attached to a source root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawEntry {
    /// Path relative to the source root (`""` for the root itself).
    pub rel: String,
    /// Path relative to the context root, where it is on disk.
    pub path: String,
    pub meta: Meta,
    pub link_target: Option<PathBuf>,
}
