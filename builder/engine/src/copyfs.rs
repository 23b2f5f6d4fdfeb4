//! The copying snapshotter, for stores where overlayfs cannot be mounted:
//! a step gets a plain directory holding its parent's whole root filesystem
//! (the parent's layers applied in order), runs there, and the change is
//! found by comparing the tree with a [`Baseline`] recorded before the step.
//!
//! [`diff`] writes the change in the form of an overlayfs upper directory
//! (changed entries with their parent directories, 0/0 character devices
//! for deletions, `trusted.overlay.opaque` on replaced directories), so the
//! rest of the builder (layer writing, snapshots) treats both snapshotters
//! alike and the same change gives the same layer.
//!
//! A non-directory changed when its inode or its ctime changed: the kernel
//! updates the ctime on every write, chmod, chown, xattr, link or rename,
//! and nothing can set it back. Directories are compared by mode, owner,
//! mtime and xattrs instead, since the executor creates and removes mount
//! points in them (restoring the mtime) without changing the directory as
//! the step sees it.

use rustix::fs::{FileType, Mode, XattrFlags};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The attribute overlayfs marks an opaque directory with.
const OPAQUE: &str = "trusted.overlay.opaque";

/// A file system error of the copying snapshotter.
#[derive(Debug, thiserror::Error)]
#[error("copying snapshotter: {path}: {source}")]
pub struct CopyFsError {
    /// The path involved.
    pub path: PathBuf,
    /// The cause.
    pub source: io::Error,
}

fn err(path: &Path) -> impl FnOnce(io::Error) -> CopyFsError + '_ {
    move |source| CopyFsError {
        path: path.to_path_buf(),
        source,
    }
}

fn errno(path: &Path) -> impl FnOnce(rustix::io::Errno) -> CopyFsError + '_ {
    move |e| CopyFsError {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// What an entry looked like before the step.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    dir: bool,
    ctime: (i64, i64),
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, i64),
    xattrs: BTreeMap<String, Vec<u8>>,
}

impl Stamp {
    fn of(path: &Path, md: &fs::Metadata) -> Result<Stamp, CopyFsError> {
        let dir = md.is_dir();
        Ok(Stamp {
            ino: md.ino(),
            dir,
            ctime: (md.ctime(), md.ctime_nsec()),
            mode: md.mode(),
            uid: md.uid(),
            gid: md.gid(),
            mtime: (md.mtime(), md.mtime_nsec()),
            xattrs: if dir { xattrs(path)? } else { BTreeMap::new() },
        })
    }

    /// Whether `now` is a different entry, or the same one changed.
    fn changed(&self, now: &Stamp) -> bool {
        if self.ino != now.ino || self.dir != now.dir {
            return true;
        }
        if !self.dir {
            return self.ctime != now.ctime;
        }
        (self.mode, self.uid, self.gid, self.mtime, &self.xattrs)
            != (now.mode, now.uid, now.gid, now.mtime, &now.xattrs)
    }
}

/// Every entry of a root filesystem before a step, by relative path.
#[derive(Debug, Default)]
pub struct Baseline {
    entries: BTreeMap<PathBuf, Stamp>,
}

impl Baseline {
    /// Records the tree under `root` (not `root` itself).
    pub fn record(root: &Path) -> Result<Baseline, CopyFsError> {
        let mut entries = BTreeMap::new();
        walk(root, Path::new(""), &mut |rel, host, md| {
            entries.insert(rel.to_path_buf(), Stamp::of(host, md)?);
            Ok(true)
        })?;
        Ok(Baseline { entries })
    }
}

/// Calls `visit(rel, host, metadata)` for every entry under `dir`, sorted,
/// a directory before its content (skipped when `visit` returns false).
fn walk(
    dir: &Path,
    rel: &Path,
    visit: &mut dyn FnMut(&Path, &Path, &fs::Metadata) -> Result<bool, CopyFsError>,
) -> Result<(), CopyFsError> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .and_then(|entries| entries.map(|e| e.map(|e| e.file_name())).collect())
        .map_err(err(dir))?;
    names.sort();
    for name in names {
        let host = dir.join(&name);
        let rel = rel.join(&name);
        let md = fs::symlink_metadata(&host).map_err(err(&host))?;
        if visit(&rel, &host, &md)? && md.is_dir() {
            walk(&host, &rel, visit)?;
        }
    }
    Ok(())
}

fn xattrs(path: &Path) -> Result<BTreeMap<String, Vec<u8>>, CopyFsError> {
    let mut out = BTreeMap::new();
    let mut names = vec![0u8; 4096];
    let n = match rustix::fs::llistxattr(path, &mut names) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP) => return Ok(out),
        Err(e) => return Err(errno(path)(e)),
    };
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        if name.starts_with("trusted.overlay.") {
            continue;
        }
        let mut value = vec![0u8; 65536];
        let len = rustix::fs::lgetxattr(path, name.as_str(), &mut value).map_err(errno(path))?;
        value.truncate(len);
        out.insert(name, value);
    }
    Ok(out)
}

/// Writes what changed under `root` since `baseline` into the empty
/// directory `upper`, as an overlayfs upper directory.
pub fn diff(root: &Path, baseline: &Baseline, upper: &Path) -> Result<(), CopyFsError> {
    let mut out = Upper {
        root,
        upper,
        made: BTreeSet::new(),
        opaque: BTreeSet::new(),
        links: HashMap::new(),
        times: Vec::new(),
    };
    let mut seen = BTreeSet::new();
    // Paths under a replaced directory: everything there is new, and the
    // opaque directory hides what was below it, so no whiteouts.
    let mut fresh: Option<PathBuf> = None;
    walk(root, Path::new(""), &mut |rel, host, md| {
        seen.insert(rel.to_path_buf());
        if fresh.as_ref().is_some_and(|f| rel.starts_with(f)) {
            out.copy(rel, host, md, false)?;
            return Ok(true);
        }
        fresh = None;
        let now = Stamp::of(host, md)?;
        match baseline.entries.get(rel) {
            Some(before) if !before.changed(&now) => {}
            before => {
                let replaced = before.is_some_and(|b| b.ino != now.ino || !b.dir);
                let opaque = md.is_dir() && replaced;
                if opaque {
                    fresh = Some(rel.to_path_buf());
                }
                out.copy(rel, host, md, opaque)?;
            }
        }
        Ok(true)
    })?;
    for rel in baseline.entries.keys() {
        if seen.contains(rel) {
            continue;
        }
        // Below a deleted parent, the parent's whiteout hides it; below a
        // replaced one, the opaque directory does.
        let parent_kept = rel.parent().is_none_or(|p| {
            p.as_os_str().is_empty() || (seen.contains(p) && !out.opaque_at_or_above(p))
        });
        if parent_kept {
            out.whiteout(rel)?;
        }
    }
    out.finish()
}

/// The upper directory being written.
struct Upper<'a> {
    root: &'a Path,
    upper: &'a Path,
    /// Relative paths already in `upper`.
    made: BTreeSet<PathBuf>,
    /// Directories made opaque.
    opaque: BTreeSet<PathBuf>,
    /// Inodes of `root` already copied, by their first path in `upper`.
    links: HashMap<u64, PathBuf>,
    /// Directories whose times are set last (after their content).
    times: Vec<(PathBuf, fs::Metadata)>,
}

impl Upper<'_> {
    /// Whether `rel` or a directory above it was made opaque (its lower
    /// content is hidden, so nothing below needs a whiteout).
    fn opaque_at_or_above(&self, rel: &Path) -> bool {
        rel.ancestors().any(|a| self.opaque.contains(a))
    }

    /// Makes the parent directories of `rel` in `upper`, as in `root`.
    fn parents(&mut self, rel: &Path) -> Result<(), CopyFsError> {
        let Some(parent) = rel.parent() else {
            return Ok(());
        };
        if parent.as_os_str().is_empty() || self.made.contains(parent) {
            return Ok(());
        }
        self.parents(parent)?;
        let host = self.root.join(parent);
        let md = fs::symlink_metadata(&host).map_err(err(&host))?;
        self.copy(parent, &host, &md, false)
    }

    fn copy(
        &mut self,
        rel: &Path,
        host: &Path,
        md: &fs::Metadata,
        opaque: bool,
    ) -> Result<(), CopyFsError> {
        if self.made.contains(rel) {
            return Ok(());
        }
        self.parents(rel)?;
        let to = self.upper.join(rel);
        let ft = md.file_type();
        if ft.is_dir() {
            fs::create_dir(&to).map_err(err(&to))?;
            if opaque {
                rustix::fs::lsetxattr(&to, OPAQUE, b"y", XattrFlags::empty())
                    .map_err(errno(&to))?;
                self.opaque.insert(rel.to_path_buf());
            }
            self.times.push((to.clone(), md.clone()));
        } else if ft.is_symlink() {
            let target = fs::read_link(host).map_err(err(host))?;
            std::os::unix::fs::symlink(&target, &to).map_err(err(&to))?;
        } else if ft.is_file() {
            match self.links.get(&md.ino()) {
                Some(first) if md.nlink() > 1 => {
                    fs::hard_link(first, &to).map_err(err(&to))?;
                    self.made.insert(rel.to_path_buf());
                    return Ok(());
                }
                _ => {
                    fs::copy(host, &to).map_err(err(&to))?;
                    self.links.insert(md.ino(), to.clone());
                }
            }
        } else {
            let kind = FileType::from_raw_mode(md.mode());
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &to,
                kind,
                Mode::from_raw_mode(md.mode() & 0o7777),
                md.rdev(),
            )
            .map_err(errno(&to))?;
        }
        std::os::unix::fs::lchown(&to, Some(md.uid()), Some(md.gid())).map_err(err(&to))?;
        if !ft.is_symlink() {
            fs::set_permissions(&to, fs::Permissions::from_mode(md.mode() & 0o7777))
                .map_err(err(&to))?;
            for (key, value) in xattrs(host)? {
                rustix::fs::lsetxattr(&to, key.as_str(), &value, XattrFlags::empty())
                    .map_err(errno(&to))?;
            }
        }
        if !ft.is_dir() {
            set_times(&to, md)?;
        }
        self.made.insert(rel.to_path_buf());
        Ok(())
    }

    /// A 0/0 character device: overlayfs's mark of a deleted entry.
    fn whiteout(&mut self, rel: &Path) -> Result<(), CopyFsError> {
        self.parents(rel)?;
        let to = self.upper.join(rel);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &to,
            FileType::CharacterDevice,
            Mode::empty(),
            0,
        )
        .map_err(errno(&to))?;
        self.made.insert(rel.to_path_buf());
        Ok(())
    }

    /// Sets directory times, deepest first, now that their content is in.
    fn finish(self) -> Result<(), CopyFsError> {
        for (path, md) in self.times.iter().rev() {
            set_times(path, md)?;
        }
        Ok(())
    }
}

fn set_times(path: &Path, md: &fs::Metadata) -> Result<(), CopyFsError> {
    strata_exec::copy_times(path, md).map_err(errno(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    fn names(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        walk(dir, Path::new(""), &mut |rel, _, _| {
            out.push(rel.to_string_lossy().into_owned());
            Ok(true)
        })
        .unwrap();
        out
    }

    #[test]
    fn diff_is_an_overlay_upper_dir_of_the_change() {
        if !rustix::process::geteuid().is_root() {
            assert!(std::env::var_os("CI").is_none(), "CI runs as root");
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let (root, upper) = (t.path().join("root"), t.path().join("upper"));
        for d in ["etc", "keep/deep", "gone/sub", "replaced", "var"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in [
            "etc/passwd",
            "etc/group",
            "keep/deep/f",
            "gone/sub/f",
            "replaced/old",
            "var/a",
        ] {
            fs::write(root.join(f), f).unwrap();
        }
        let baseline = Baseline::record(&root).unwrap();
        fs::create_dir(&upper).unwrap();

        fs::write(root.join("etc/new"), "n").unwrap();
        fs::remove_file(root.join("etc/group")).unwrap();
        fs::remove_dir_all(root.join("gone")).unwrap();
        fs::rename(root.join("replaced"), root.join("moved")).unwrap();
        fs::create_dir(root.join("replaced")).unwrap();
        fs::write(root.join("replaced/new"), "r").unwrap();
        fs::set_permissions(root.join("var/a"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::hard_link(root.join("var/a"), root.join("var/b")).unwrap();
        diff(&root, &baseline, &upper).unwrap();

        assert_eq!(
            names(&upper),
            [
                "etc",
                "etc/group",
                "etc/new",
                "gone",
                "moved",
                "moved/old",
                "replaced",
                "replaced/new",
                "var",
                "var/a",
                "var/b",
            ]
        );
        let is_whiteout = |p: &str| {
            let md = fs::symlink_metadata(upper.join(p)).unwrap();
            md.file_type().is_char_device() && md.rdev() == 0
        };
        assert!(is_whiteout("etc/group") && is_whiteout("gone"));
        let mut flag = [0u8; 1];
        assert!(rustix::fs::lgetxattr(upper.join("replaced"), OPAQUE, &mut flag).is_ok());
        assert!(rustix::fs::lgetxattr(upper.join("var"), OPAQUE, &mut flag).is_err());
        let (a, b) = (
            fs::metadata(upper.join("var/a")).unwrap(),
            fs::metadata(upper.join("var/b")).unwrap(),
        );
        assert_eq!(
            (a.ino(), a.mode() & 0o777),
            (b.ino(), 0o600),
            "hard links kept"
        );
        assert_eq!(fs::read_to_string(upper.join("etc/new")).unwrap(), "n");
    }
}
