//! File operations inside a root filesystem that can never leave it.
//!
//! COPY, ADD and WORKDIR write into a mounted snapshot whose content comes
//! from images and earlier steps, so any path component may be a symlink
//! pointing anywhere. Paths are resolved with `openat2(RESOLVE_IN_ROOT)`:
//! the kernel treats the root as `/` for every symlink and `..`, exactly as
//! inside the container. The final component is handled with `*at` calls
//! that do not follow symlinks, so an existing symlink is replaced, never
//! written through.

use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use rustix::fs::{
    AtFlags, CWD, FileType, Gid, Mode, OFlags, ResolveFlags, Stat, Timespec, Timestamps, Uid,
    chmodat, chownat, fchmod, fchown, fstat, futimens, mkdirat, openat, openat2, readlinkat,
    statat, symlinkat, unlinkat, utimensat,
};
use rustix::io::Errno;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Metadata to give a created entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryMeta {
    /// Permission bits, including setuid/setgid/sticky.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time (seconds, nanoseconds).
    pub mtime: (i64, u32),
}

/// Where [`RootFs::locate_new_file`] would put a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The directory, relative to the root, symlinks resolved (`""` for
    /// the root).
    pub dir: String,
    /// The file's name in it.
    pub name: String,
    /// The type of the entry already at that name.
    pub existing: Option<FileType>,
}

/// A root filesystem directory, opened once.
#[derive(Debug)]
pub struct RootFs {
    fd: OwnedFd,
    path: PathBuf,
}

/// An error on a path inside a root filesystem.
#[derive(Debug, thiserror::Error)]
#[error("{op} {path}: {source}")]
pub struct RootFsError {
    /// What was being done.
    pub op: &'static str,
    /// The path inside the root.
    pub path: String,
    /// The cause.
    pub source: io::Error,
}

type Result<T> = std::result::Result<T, RootFsError>;

fn err<'a>(op: &'static str, path: &'a str) -> impl FnOnce(Errno) -> RootFsError + 'a {
    move |e| RootFsError {
        op,
        path: path.to_string(),
        source: e.into(),
    }
}

/// Splits a path inside the root into its parent and final name.
/// `"/a/b/"` → `("a", "b")`; the root itself has no name. `..` is applied
/// lexically and stops at the root, so a name is never `..` (which `*at`
/// calls would follow out of the root).
fn split(path: &str) -> (String, Option<String>) {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    match parts.split_last() {
        Some((name, parent)) => (parent.join("/"), Some((*name).to_string())),
        None => (String::new(), None),
    }
}

fn rel(path: &str) -> &str {
    let trimmed = path.trim_start_matches('/');
    if trimmed.is_empty() { "." } else { trimmed }
}

impl RootFs {
    /// Opens a directory as a root.
    pub fn open(path: &Path) -> io::Result<Self> {
        let fd = openat(
            CWD,
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(RootFs {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The directory on the host.
    pub fn host_path(&self) -> &Path {
        &self.path
    }

    fn open_in_root(&self, path: &str, flags: OFlags) -> rustix::io::Result<OwnedFd> {
        openat2(
            &self.fd,
            rel(path),
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
    }

    /// Stats `path`, following symlinks inside the root. `None` when missing.
    pub fn stat(&self, path: &str) -> Result<Option<Stat>> {
        match self.open_in_root(path, OFlags::PATH) {
            Ok(fd) => fstat(&fd).map(Some).map_err(err("stat", path)),
            Err(Errno::NOENT | Errno::NOTDIR) => Ok(None),
            Err(e) => Err(err("stat", path)(e)),
        }
    }

    /// True when `path` exists and is (or links to) a directory.
    pub fn is_dir(&self, path: &str) -> Result<bool> {
        Ok(self
            .stat(path)?
            .is_some_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory))
    }

    /// Reads a whole file (following symlinks inside the root); `None` when missing.
    pub fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match self.open_in_root(path, OFlags::RDONLY) {
            Ok(fd) => {
                let mut buf = Vec::new();
                std::fs::File::from(fd)
                    .read_to_end(&mut buf)
                    .map_err(|source| RootFsError {
                        op: "read",
                        path: path.to_string(),
                        source,
                    })?;
                Ok(Some(buf))
            }
            Err(Errno::NOENT | Errno::NOTDIR) => Ok(None),
            Err(e) => Err(err("open", path)(e)),
        }
    }

    /// Creates `path` and its missing parents. New directories get `meta`;
    /// existing ones are left as they are. Returns the directory's fd.
    pub fn mkdir_all(&self, path: &str, meta: &EntryMeta) -> Result<OwnedFd> {
        self.mkdir_all_depth(path, meta, 0)
    }

    fn mkdir_all_depth(&self, path: &str, meta: &EntryMeta, depth: usize) -> Result<OwnedFd> {
        if depth > 40 {
            return Err(err("mkdir", path)(Errno::LOOP));
        }
        match self.open_in_root(path, OFlags::RDONLY | OFlags::DIRECTORY) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) => {}
            Err(e) => return Err(err("open directory", path)(e)),
        }
        let (parent, name) = split(path);
        let Some(name) = name else {
            return self
                .open_in_root(".", OFlags::RDONLY | OFlags::DIRECTORY)
                .map_err(err("open directory", path));
        };
        let parent_fd = self.mkdir_all_depth(&parent, meta, depth + 1)?;
        match mkdirat(&parent_fd, name.as_str(), Mode::from_raw_mode(0o700)) {
            Ok(()) => {
                set_meta(&parent_fd, &name, meta).map_err(err("set metadata", path))?;
            }
            Err(Errno::EXIST) => {
                // A dangling symlink: create what it points to, inside the root.
                if let Ok(target) = readlinkat(&parent_fd, name.as_str(), Vec::new()) {
                    let target = target.to_string_lossy().into_owned();
                    let resolved = if target.starts_with('/') {
                        target
                    } else {
                        format!("{parent}/{target}")
                    };
                    return self.mkdir_all_depth(&resolved, meta, depth + 1);
                }
            }
            Err(e) => return Err(err("mkdir", path)(e)),
        }
        openat(
            &parent_fd,
            name.as_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(err("open directory", path))
    }

    /// The parent directory of `path` (created with `parent_meta` when
    /// missing) and the final name, with any non-directory already at that
    /// name removed so nothing is written through a symlink.
    pub fn prepare(&self, path: &str, parent_meta: &EntryMeta) -> Result<(OwnedFd, String)> {
        let (dir, name, existing) = self.parent_of(path, parent_meta)?;
        if existing.is_some_and(|t| t != FileType::Directory) {
            unlinkat(&dir, name.as_str(), AtFlags::empty()).map_err(err("replace", path))?;
        }
        Ok((dir, name))
    }

    /// The parent directory of `path` (created with `parent_meta` when
    /// missing), the final name, and the type of what is at that name.
    fn parent_of(
        &self,
        path: &str,
        parent_meta: &EntryMeta,
    ) -> Result<(OwnedFd, String, Option<FileType>)> {
        let (parent, name) = split(path);
        let Some(name) = name else {
            return Err(RootFsError {
                op: "create",
                path: path.to_string(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "cannot replace the root"),
            });
        };
        let dir = self.mkdir_all(&parent, parent_meta)?;
        let existing = match statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Some(FileType::from_raw_mode(st.st_mode)),
            Err(Errno::NOENT) => None,
            Err(e) => return Err(err("stat", path)(e)),
        };
        Ok((dir, name, existing))
    }

    /// Creates a directory at `path` (parents with `parent_meta`), or updates
    /// the metadata of the one that is there.
    pub fn create_dir(&self, path: &str, meta: &EntryMeta, parent_meta: &EntryMeta) -> Result<()> {
        let (dir, name) = self.prepare(path, parent_meta)?;
        match mkdirat(&dir, name.as_str(), Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(err("mkdir", path)(e)),
        }
        set_meta(&dir, &name, meta).map_err(err("set metadata", path))
    }

    /// Writes a regular file at `path` from `content`.
    pub fn write_file(
        &self,
        path: &str,
        content: &mut dyn Read,
        meta: &EntryMeta,
        parent_meta: &EntryMeta,
    ) -> Result<()> {
        self.create_file(path, meta, parent_meta, |file| {
            io::copy(content, file).map(|_| ())
        })
    }

    /// Writes a regular file at `path` with the content of `source`: the
    /// kernel copies the bytes (`copy_file_range` or `sendfile`), so they
    /// never pass through this process.
    pub fn copy_file(
        &self,
        path: &str,
        source: &std::fs::File,
        meta: &EntryMeta,
        parent_meta: &EntryMeta,
    ) -> Result<()> {
        self.create_file(path, meta, parent_meta, |file| kernel_copy(source, file))
    }

    /// Where a new regular file at `path` would land, without creating
    /// it: its parents are created (with `parent_meta`) and the directory
    /// that would hold it is opened; returns that directory relative to
    /// the root after symlinks were followed inside the root (`srv` for
    /// `/app/x` when `/app` links to `/srv`), the name, and the type of
    /// what is already there, if anything.
    pub fn locate_new_file(&self, path: &str, parent_meta: &EntryMeta) -> Result<Located> {
        let (dir, name, existing) = self.parent_of(path, parent_meta)?;
        let located = |fd: &OwnedFd| {
            let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
            std::fs::read_link(link).map_err(|source| RootFsError {
                op: "locate",
                path: path.to_string(),
                source,
            })
        };
        let (dir, root) = (located(&dir)?, located(&self.fd)?);
        let outside = |what: &str| RootFsError {
            op: "locate",
            path: path.to_string(),
            source: io::Error::other(format!("{} {what} {}", dir.display(), root.display())),
        };
        let rel = dir
            .strip_prefix(&root)
            .map_err(|_| outside("is not below the root"))?;
        let dir = rel
            .to_str()
            .ok_or_else(|| outside("has a name that is not UTF-8, below"))?
            .to_string();
        Ok(Located {
            dir,
            name,
            existing,
        })
    }

    /// Gives the directory `dir` its own owner again, which changes
    /// nothing visible; on an overlay it copies a lower directory up into
    /// the upper one, as creating a file in it would.
    pub fn copy_up_dir(&self, dir: &str) -> Result<()> {
        let fd = self
            .open_in_root(dir, OFlags::RDONLY | OFlags::DIRECTORY)
            .map_err(err("open directory", dir))?;
        let st = fstat(&fd).map_err(err("stat", dir))?;
        fchown(
            &fd,
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
        )
        .map_err(err("chown", dir))
    }

    /// Creates the regular file `path`, lets `fill` write its content and
    /// gives it `meta` through the open descriptor (no path lookups).
    fn create_file(
        &self,
        path: &str,
        meta: &EntryMeta,
        parent_meta: &EntryMeta,
        fill: impl FnOnce(&mut std::fs::File) -> io::Result<()>,
    ) -> Result<()> {
        let (dir, name) = self.prepare(path, parent_meta)?;
        let fd = openat(
            &dir,
            name.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| match e {
            Errno::ISDIR | Errno::EXIST => err("create file (a directory is there)", path)(e),
            e => err("create file", path)(e),
        })?;
        let mut file = std::fs::File::from(fd);
        fill(&mut file).map_err(|source| RootFsError {
            op: "write",
            path: path.to_string(),
            source,
        })?;
        set_meta_fd(&file, meta).map_err(err("set metadata", path))
    }

    /// Creates a symlink at `path` pointing to `target` (not resolved).
    pub fn symlink(
        &self,
        path: &str,
        target: &str,
        meta: &EntryMeta,
        parent_meta: &EntryMeta,
    ) -> Result<()> {
        let (dir, name) = self.prepare(path, parent_meta)?;
        symlinkat(target, &dir, name.as_str()).map_err(err("symlink", path))?;
        chownat(
            &dir,
            name.as_str(),
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(err("chown", path))?;
        utimensat(
            &dir,
            name.as_str(),
            &times(meta.mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(err("set times", path))
    }

    /// Sets the modification time of an existing entry (not following a
    /// final symlink).
    pub fn set_mtime(&self, path: &str, mtime: (i64, u32)) -> Result<()> {
        let (parent, name) = split(path);
        let dir = self
            .open_in_root(&parent, OFlags::RDONLY | OFlags::DIRECTORY)
            .map_err(err("open directory", path))?;
        let name = name.unwrap_or_else(|| ".".to_string());
        utimensat(
            &dir,
            name.as_str(),
            &times(mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(err("set times", path))
    }
    /// The existing parent directory of `path` and the final name, without
    /// creating anything. `None` when the parent does not exist.
    pub fn existing_parent(&self, path: &str) -> Result<Option<(OwnedFd, String)>> {
        let (parent, name) = split(path);
        let Some(name) = name else {
            return Ok(None);
        };
        match self.open_in_root(&parent, OFlags::RDONLY | OFlags::DIRECTORY) {
            Ok(fd) => Ok(Some((fd, name))),
            Err(Errno::NOENT | Errno::NOTDIR) => Ok(None),
            Err(e) => Err(err("open directory", path)(e)),
        }
    }

    /// Removes `path` and everything below it (not following symlinks);
    /// a missing path is fine.
    pub fn remove_all(&self, path: &str) -> Result<()> {
        let Some((dir, name)) = self.existing_parent(path)? else {
            return Ok(());
        };
        remove_at(&dir, &name).map_err(err("remove", path))
    }

    /// Removes everything below the directory `path` except the paths
    /// `keep` accepts (given relative to the root, like `path`); inside a
    /// kept directory the same rule applies to its content.
    pub fn clear_dir(&self, path: &str, keep: &dyn Fn(&str) -> bool) -> Result<()> {
        let fd = match self.open_in_root(path, OFlags::RDONLY | OFlags::DIRECTORY) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(err("open directory", path)(e)),
        };
        let prefix = path.trim_matches('/');
        clear_at(&fd, prefix, keep).map_err(err("clear directory", path))
    }

    /// The type of the entry at `path` without following a final symlink;
    /// `None` when it (or a parent) is missing.
    pub fn lstat_type(&self, path: &str) -> Result<Option<FileType>> {
        let Some((dir, name)) = self.existing_parent(path)? else {
            return Ok(None);
        };
        match statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(err("stat", path)(e)),
        }
    }

    /// The target of the symlink at `path`.
    pub fn read_link(&self, path: &str) -> Result<String> {
        let Some((dir, name)) = self.existing_parent(path)? else {
            return Err(err("read link", path)(Errno::NOENT));
        };
        readlinkat(&dir, name.as_str(), Vec::new())
            .map(|t| t.to_string_lossy().into_owned())
            .map_err(err("read link", path))
    }

    /// Creates a device node or fifo at `path` (replacing a non-directory).
    pub fn mknod(
        &self,
        path: &str,
        kind: FileType,
        dev: u64,
        meta: &EntryMeta,
        parent_meta: &EntryMeta,
    ) -> Result<()> {
        let (dir, name) = self.prepare(path, parent_meta)?;
        rustix::fs::mknodat(&dir, name.as_str(), kind, Mode::from_raw_mode(0o600), dev)
            .map_err(err("mknod", path))?;
        set_meta(&dir, &name, meta).map_err(err("set metadata", path))
    }

    /// Makes `path` a hard link to `target` (both inside the root).
    pub fn hardlink(&self, path: &str, target: &str, parent_meta: &EntryMeta) -> Result<()> {
        let Some((tdir, tname)) = self.existing_parent(target)? else {
            return Err(err("link", path)(Errno::NOENT));
        };
        let (dir, name) = self.prepare(path, parent_meta)?;
        rustix::fs::linkat(&tdir, tname.as_str(), &dir, name.as_str(), AtFlags::empty())
            .map_err(err("link", path))
    }

    /// Sets an extended attribute on a file or directory (not a symlink).
    pub fn set_xattr(&self, path: &str, key: &str, value: &[u8]) -> Result<()> {
        let fd = self
            .open_in_root(path, OFlags::RDONLY | OFlags::NOFOLLOW)
            .map_err(err("open", path))?;
        rustix::fs::fsetxattr(&fd, key, value, rustix::fs::XattrFlags::empty())
            .map_err(err("set xattr", path))
    }
}

fn dir_names(fd: &OwnedFd) -> rustix::io::Result<Vec<String>> {
    let dup = rustix::io::fcntl_dupfd_cloexec(fd, 0)?;
    let mut dir = rustix::fs::Dir::new(dup)?;
    let mut names = Vec::new();
    while let Some(entry) = dir.read() {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "." && name != ".." {
            names.push(name);
        }
    }
    Ok(names)
}

fn clear_at(fd: &OwnedFd, prefix: &str, keep: &dyn Fn(&str) -> bool) -> rustix::io::Result<()> {
    for name in dir_names(fd)? {
        let full = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if !keep(&full) {
            remove_at(fd, &name)?;
            continue;
        }
        let st = statat(fd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            let sub = openat(
                fd,
                name.as_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            clear_at(&sub, &full, keep)?;
        }
    }
    Ok(())
}

/// Removes `name` in `dir`, recursively for directories, never following symlinks.
fn remove_at(dir: &OwnedFd, name: &str) -> rustix::io::Result<()> {
    match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e),
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
            let sub = openat(
                dir,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            for child in dir_names(&sub)? {
                remove_at(&sub, &child)?;
            }
            unlinkat(dir, name, AtFlags::REMOVEDIR)
        }
        Ok(_) => unlinkat(dir, name, AtFlags::empty()),
    }
}

fn times((sec, nsec): (i64, u32)) -> Timestamps {
    let ts = Timespec {
        tv_sec: sec,
        tv_nsec: nsec.into(),
    };
    Timestamps {
        last_access: ts,
        last_modification: ts,
    }
}

/// Copies `source` from its current offset to its end into `dest` with
/// `sendfile` (no bytes through user space, no probing syscalls), or with
/// reads and writes where the kernel cannot.
fn kernel_copy(source: &std::fs::File, dest: &mut std::fs::File) -> io::Result<()> {
    let mut copied = 0u64;
    loop {
        match rustix::fs::sendfile(&*dest, source, None, 1 << 30) {
            Ok(0) => return Ok(()),
            Ok(n) => copied += n as u64,
            Err(Errno::INTR) => {}
            Err(Errno::INVAL | Errno::NOSYS) if copied == 0 => {
                let mut source = source;
                return io::copy(&mut source, dest).map(|_| ());
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// [`set_meta`] on an open file.
fn set_meta_fd(fd: &impl AsFd, meta: &EntryMeta) -> rustix::io::Result<()> {
    // chown first: it clears setuid/setgid bits that chmod then restores.
    fchown(
        fd,
        Some(Uid::from_raw(meta.uid)),
        Some(Gid::from_raw(meta.gid)),
    )?;
    fchmod(fd, Mode::from_raw_mode(meta.mode & 0o7777))?;
    futimens(fd, &times(meta.mtime))
}

fn set_meta(dir: &impl AsFd, name: &str, meta: &EntryMeta) -> rustix::io::Result<()> {
    // chown first: it clears setuid/setgid bits that chmod then restores.
    chownat(
        dir,
        name,
        Some(Uid::from_raw(meta.uid)),
        Some(Gid::from_raw(meta.gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )?;
    chmodat(
        dir,
        name,
        Mode::from_raw_mode(meta.mode & 0o7777),
        AtFlags::empty(),
    )?;
    utimensat(dir, name, &times(meta.mtime), AtFlags::SYMLINK_NOFOLLOW)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, symlink};

    const META: EntryMeta = EntryMeta {
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: (1_000_000, 0),
    };

    #[test]
    fn absolute_symlink_in_path_stays_inside_root() {
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("root"), dir.path().join("outside"));
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        symlink(&outside, root.join("link")).unwrap();
        symlink("../../../..", root.join("up")).unwrap();
        let r = RootFs::open(&root).unwrap();
        r.write_file("/link/x", &mut &b"hi"[..], &META, &META)
            .unwrap();
        r.write_file("/up/y", &mut &b"hi"[..], &META, &META)
            .unwrap();
        assert!(!outside.join("x").exists());
        assert!(!dir.path().join("y").exists());
        // The absolute link resolves inside the root: ROOT/<outside path>/x.
        assert!(
            root.join(outside.strip_prefix("/").unwrap())
                .join("x")
                .exists()
        );
        assert!(root.join("y").exists());
    }

    #[test]
    fn final_symlink_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(&root).unwrap();
        fs::write(dir.path().join("victim"), "keep").unwrap();
        symlink(dir.path().join("victim"), root.join("f")).unwrap();
        let r = RootFs::open(&root).unwrap();
        r.write_file("f", &mut &b"new"[..], &META, &META).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("victim")).unwrap(),
            "keep"
        );
        assert_eq!(fs::read_to_string(root.join("f")).unwrap(), "new");
    }

    #[test]
    fn mkdir_all_sets_meta_on_new_dirs_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("a")).unwrap();
        let before = fs::metadata(root.join("a")).unwrap().mtime();
        let r = RootFs::open(&root).unwrap();
        let meta = EntryMeta {
            mode: 0o750,
            ..META
        };
        r.mkdir_all("/a/b/c", &meta).unwrap();
        let c = fs::metadata(root.join("a/b/c")).unwrap();
        assert_eq!(c.mode() & 0o7777, 0o750);
        assert_eq!(c.mtime(), 1_000_000);
        assert_ne!(fs::metadata(root.join("a")).unwrap().mode() & 0o7777, 0o750);
        let _ = before;
        assert!(r.is_dir("/a/b").unwrap());
        assert!(!r.is_dir("/a/missing").unwrap());
    }

    #[test]
    fn writing_a_file_over_a_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("d")).unwrap();
        let r = RootFs::open(&root).unwrap();
        let e = r.write_file("d", &mut &b"x"[..], &META, &META).unwrap_err();
        assert!(e.to_string().contains("d"), "{e}");
    }

    #[test]
    fn split_paths() {
        assert_eq!(split("/a/b/"), ("a".to_string(), Some("b".to_string())));
        assert_eq!(split("/"), (String::new(), None));
        assert_eq!(split("x"), (String::new(), Some("x".to_string())));
    }
}
