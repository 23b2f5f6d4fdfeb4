//! Host-side preparation shared by the executors: a private scratch
//! directory with
//!
//! ```text
//! scratch/
//!   root/        empty directory: the overlay's mount point
//!   stubs/       a lower layer put on top of the image's layers, holding the
//!                mount points the image lacks (/etc/hosts, /proc, a bind
//!                target…), so nothing the executor needs lands in the upper dir
//!   l/s, l/0…    short symlinks to stubs and the lower dirs, u and w to the
//!                upper and work dirs: the overlay options stay short with
//!                hundreds of layers (they are relative to scratch/)
//!   files/       /etc/hosts, /etc/resolv.conf and secret contents
//! ```
//!
//! The working directory, when missing, is created in the upper dir (mode
//! 0755, owned by the user), which BuildKit keeps in the layer too.

use crate::error::ExecError;
use crate::plain::PlainStubs;
use crate::spec::{MountSpec, RunSpec, container_path};
use crate::view::{Entry, MergedView};
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A mount ready to perform: host sources are files in the scratch dir or
/// the caller's paths.
#[derive(Debug, Clone)]
pub(crate) struct PreparedMount {
    /// Absolute, clean container path.
    pub target: String,
    /// What to mount.
    pub kind: PreparedKind,
}

/// The kinds of [`PreparedMount`].
#[derive(Debug, Clone)]
pub(crate) enum PreparedKind {
    /// Bind a host path.
    Bind {
        source: PathBuf,
        read_only: bool,
        is_dir: bool,
    },
    /// A tmpfs.
    Tmpfs { size: Option<u64> },
}

/// The name prefix of scratch directories under the scratch root.
const SCRATCH_PREFIX: &str = "strata-exec-";

/// Everything the executors need on the host side.
pub(crate) struct Prepared {
    /// The scratch directory (removed on drop).
    pub scratch: tempfile::TempDir,
    /// An exclusive `flock` on the scratch directory while it is in use, so
    /// [`remove_stale`] (and `strata store check`) can tell a live run's
    /// directory from one a killed process left behind.
    _lock: fs::File,
    /// Mount points made in a plain root, removed on drop.
    _plain: PlainStubs,
    /// `scratch/root` (the overlay's mount point), or the plain root.
    pub rootfs: PathBuf,
    /// The overlay mount options, relative to the scratch directory.
    pub overlay_data: String,
    /// `/etc/hosts`, `/etc/resolv.conf` and the spec's mounts, parents first.
    pub mounts: Vec<PreparedMount>,
    /// The environment with `HOME` filled in.
    pub env: Vec<(String, String)>,
}

/// Container paths that are not on the overlay (virtual filesystems).
const VIRTUAL: [&str; 3] = ["dev", "proc", "sys"];

impl Prepared {
    /// Prepares `spec` in a new scratch directory under `scratch_root`.
    pub(crate) fn new(spec: &RunSpec, scratch_root: &Path) -> Result<Self, ExecError> {
        spec.validate()?;
        for dir in [&spec.upper_dir, &spec.work_dir] {
            if !dir.is_dir() {
                return Err(ExecError::prepare(
                    "overlay directory",
                    dir,
                    io::Error::from_raw_os_error(libc::ENOENT),
                ));
            }
        }
        let scratch = tempfile::Builder::new()
            .prefix(SCRATCH_PREFIX)
            .tempdir_in(scratch_root)
            .map_err(|e| ExecError::prepare("create scratch dir in", scratch_root, e))?;
        let base = scratch.path().to_path_buf();
        let lock = fs::File::open(&base).map_err(|e| ExecError::prepare("open", &base, e))?;
        lock.lock()
            .map_err(|e| ExecError::prepare("lock", &base, e))?;
        let rootfs = base.join("root");
        let stubs = base.join("stubs");
        let files = base.join("files");
        for d in [&rootfs, &stubs, &files, &base.join("l")] {
            fs::create_dir(d).map_err(|e| ExecError::prepare("mkdir", d, e))?;
        }

        let mut layers = vec![spec.upper_dir.clone()];
        layers.extend(spec.lower_dirs.iter().cloned());
        let view = MergedView::new(layers);

        let mut lowers = vec!["l/s".to_string()];
        link(&stubs, &base.join("l/s"))?;
        for (i, lower) in spec.lower_dirs.iter().enumerate() {
            link(lower, &base.join(format!("l/{i}")))?;
            lowers.push(format!("l/{i}"));
        }
        link(&spec.upper_dir, &base.join("u"))?;
        link(&spec.work_dir, &base.join("w"))?;
        let overlay_data = format!("lowerdir={},upperdir=u,workdir=w", lowers.join(":"));

        create_cwd(spec, &view)?;

        let mut mounts = Vec::new();
        for (name, content) in [("hosts", &spec.hosts), ("resolv.conf", &spec.resolv_conf)] {
            if let Some(content) = content {
                let source = files.join(name);
                write_file(&source, content, 0o644, 0, 0)?;
                mounts.push(PreparedMount {
                    target: format!("/etc/{name}"),
                    kind: PreparedKind::Bind {
                        source,
                        read_only: true,
                        is_dir: false,
                    },
                });
            }
        }
        let mut user_mounts = Vec::new();
        for (i, m) in spec.mounts.iter().enumerate() {
            let target = format!("/{}", container_path(m.target())?.join("/"));
            let kind = match m {
                MountSpec::Bind {
                    source, read_only, ..
                } => {
                    let md = fs::metadata(source)
                        .map_err(|e| ExecError::prepare("bind mount source", source, e))?;
                    PreparedKind::Bind {
                        source: source.clone(),
                        read_only: *read_only,
                        is_dir: md.is_dir(),
                    }
                }
                MountSpec::Tmpfs { size, .. } => PreparedKind::Tmpfs { size: *size },
                MountSpec::File {
                    content,
                    mode,
                    uid,
                    gid,
                    ..
                } => {
                    let source = files.join(format!("file-{i}"));
                    write_file(&source, content, *mode, *uid, *gid)?;
                    PreparedKind::Bind {
                        source,
                        read_only: true,
                        is_dir: false,
                    }
                }
            };
            user_mounts.push(PreparedMount { target, kind });
        }
        user_mounts.sort_by_key(|m| m.target.split('/').count());
        mounts.extend(user_mounts);

        let mut needed: Vec<(Vec<String>, bool)> = VIRTUAL
            .iter()
            .filter(|v| **v != "sys" || spec.mount_sysfs)
            .map(|v| (vec![v.to_string()], true))
            .collect();
        let mut done: Vec<String> = Vec::new();
        for m in &mounts {
            let comps = container_path(&m.target)?;
            let under_mount = done.iter().any(|d| m.target.starts_with(&format!("{d}/")));
            let is_virtual = comps.first().is_some_and(|c| VIRTUAL.contains(&c.as_str()));
            if !under_mount && !is_virtual {
                let is_dir = match &m.kind {
                    PreparedKind::Bind { is_dir, .. } => *is_dir,
                    PreparedKind::Tmpfs { .. } => true,
                };
                needed.push((comps, is_dir));
            }
            done.push(m.target.clone());
        }
        let mut times = Vec::new();
        let mut plain = PlainStubs::default();
        for (comps, is_dir) in needed {
            if spec.plain_root {
                let root = &spec.upper_dir;
                plain.ensure(&view, root, &comps, || {
                    add_stub(&view, root, &comps, is_dir, &mut times)
                })?;
            } else {
                add_stub(&view, &stubs, &comps, is_dir, &mut times)?;
            }
        }
        for (path, md) in times.iter().rev() {
            set_times(path, md)?;
        }

        let mut env = spec.env.clone();
        if spec.env_var("HOME").is_none() {
            let passwd = view
                .read("/etc/passwd")
                .map_err(|e| ExecError::prepare("read /etc/passwd in", &spec.upper_dir, e))?
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            env.push((
                "HOME".to_string(),
                crate::user::home_of(passwd.as_deref(), spec.user.uid),
            ));
        }
        let rootfs = if spec.plain_root {
            std::path::absolute(&spec.upper_dir)
                .map_err(|e| ExecError::prepare("absolute", &spec.upper_dir, e))?
        } else {
            rootfs
        };
        Ok(Prepared {
            scratch,
            _lock: lock,
            _plain: plain,
            rootfs,
            overlay_data,
            mounts,
            env,
        })
    }

    /// The scratch directory.
    pub(crate) fn dir(&self) -> &Path {
        self.scratch.path()
    }
}

/// Removes the scratch directories under `scratch_root` that no live run
/// holds (left by a process that was killed), calling `before` on each
/// first; returns what was removed, sorted.
///
/// A directory is locked right after it is created, so the caller must
/// make sure no other process is creating runs in `scratch_root` at the
/// same time (strata holds the store's exclusive `builds` lock).
pub(crate) fn remove_stale(
    scratch_root: &Path,
    before: impl Fn(&Path),
) -> Result<Vec<PathBuf>, ExecError> {
    let entries = match fs::read_dir(scratch_root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ExecError::prepare("read", scratch_root, e)),
    };
    let mut stale = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ExecError::prepare("read", scratch_root, e))?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir
            && entry
                .file_name()
                .to_string_lossy()
                .starts_with(SCRATCH_PREFIX)
        {
            stale.push(entry.path());
        }
    }
    stale.sort();
    let mut removed = Vec::new();
    for dir in stale {
        let Ok(lock) = fs::File::open(&dir) else {
            continue;
        };
        if lock.try_lock().is_err() {
            continue; // a live run
        }
        before(&dir);
        match fs::remove_dir_all(&dir) {
            Ok(()) => removed.push(dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(ExecError::prepare("remove stale scratch dir", &dir, e)),
        }
    }
    Ok(removed)
}

fn link(target: &Path, at: &Path) -> Result<(), ExecError> {
    let target =
        std::path::absolute(target).map_err(|e| ExecError::prepare("absolute", target, e))?;
    std::os::unix::fs::symlink(&target, at).map_err(|e| ExecError::prepare("symlink", at, e))
}

fn write_file(path: &Path, content: &[u8], mode: u32, uid: u32, gid: u32) -> Result<(), ExecError> {
    fs::write(path, content).map_err(|e| ExecError::prepare("write", path, e))?;
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .map_err(|e| ExecError::prepare("chown", path, e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o7777))
        .map_err(|e| ExecError::prepare("chmod", path, e))
}

/// Creates the missing components of the working directory in the upper
/// dir; existing parents are copied up (mode and owner) as overlayfs would.
fn create_cwd(spec: &RunSpec, view: &MergedView) -> Result<(), ExecError> {
    let comps = container_path(&spec.cwd)?;
    let resolved = view
        .resolve(&comps)
        .map_err(|e| ExecError::prepare("resolve working directory in", &spec.upper_dir, e))?;
    if resolved.existing == resolved.comps.len() {
        return Ok(());
    }
    let mut path = spec.upper_dir.clone();
    for (i, comp) in resolved.comps.iter().enumerate() {
        path.push(comp);
        if i < resolved.existing {
            if path.symlink_metadata().is_err() {
                let md = dir_metadata(view, &resolved.comps[..=i], &spec.upper_dir)?;
                mkdir_like(&path, &md)?;
            }
        } else {
            fs::create_dir(&path)
                .map_err(|e| ExecError::prepare("create working directory", &path, e))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
                .map_err(|e| ExecError::prepare("chmod", &path, e))?;
            std::os::unix::fs::chown(&path, Some(spec.user.uid), Some(spec.user.gid))
                .map_err(|e| ExecError::prepare("chown", &path, e))?;
        }
    }
    Ok(())
}

fn dir_metadata(view: &MergedView, comps: &[String], at: &Path) -> Result<Metadata, ExecError> {
    match view.lookup(comps) {
        Ok(Some(Entry::Dir(md))) => Ok(md),
        Ok(_) => Err(ExecError::prepare(
            "expected a directory",
            at.join(comps.join("/")),
            io::Error::from_raw_os_error(libc::ENOTDIR),
        )),
        Err(e) => Err(ExecError::prepare("lookup", at.join(comps.join("/")), e)),
    }
}

fn mkdir_like(path: &Path, md: &Metadata) -> Result<(), ExecError> {
    fs::create_dir(path).map_err(|e| ExecError::prepare("mkdir", path, e))?;
    std::os::unix::fs::lchown(path, Some(md.uid()), Some(md.gid()))
        .map_err(|e| ExecError::prepare("chown", path, e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(md.mode() & 0o7777))
        .map_err(|e| ExecError::prepare("chmod", path, e))
}

/// Makes `comps` exist in the stub layer when the image lacks it. Existing
/// parents get the image's mode, owner and times so the merged view looks
/// unchanged; new ones are root-owned 0755 directories (and an empty 0644
/// file for a file mount point).
fn add_stub(
    view: &MergedView,
    stubs: &Path,
    comps: &[String],
    is_dir: bool,
    times: &mut Vec<(PathBuf, Metadata)>,
) -> Result<(), ExecError> {
    let resolved = view
        .resolve(comps)
        .map_err(|e| ExecError::prepare("resolve mount point", stubs.join(comps.join("/")), e))?;
    if resolved.existing == resolved.comps.len() {
        return Ok(());
    }
    let mut path = stubs.to_path_buf();
    let last = resolved.comps.len() - 1;
    for (i, comp) in resolved.comps.iter().enumerate() {
        path.push(comp);
        if path.symlink_metadata().is_ok() {
            continue;
        }
        if i < resolved.existing {
            let md = dir_metadata(view, &resolved.comps[..=i], stubs)?;
            mkdir_like(&path, &md)?;
            times.push((path.clone(), md));
        } else if i == last && !is_dir {
            write_file(&path, b"", 0o644, 0, 0)?;
        } else {
            fs::create_dir(&path).map_err(|e| ExecError::prepare("mkdir", &path, e))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
                .map_err(|e| ExecError::prepare("chmod", &path, e))?;
        }
    }
    Ok(())
}

pub(crate) fn set_times(path: &Path, md: &Metadata) -> Result<(), ExecError> {
    copy_times(path, md).map_err(|e| ExecError::prepare("set times", path, e.into()))
}

/// Gives `path` (not following a symlink there) the access and
/// modification times of `md`, to the nanosecond.
pub fn copy_times(path: &Path, md: &Metadata) -> rustix::io::Result<()> {
    let ts = |s: i64, ns: i64| rustix::fs::Timespec {
        tv_sec: s,
        tv_nsec: ns as _,
    };
    let times = rustix::fs::Timestamps {
        last_access: ts(md.atime(), md.atime_nsec()),
        last_modification: ts(md.mtime(), md.mtime_nsec()),
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &times,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_stale_keeps_locked_and_foreign_entries() {
        let root = tempfile::tempdir().unwrap();
        let dir = |name: &str| {
            let d = root.path().join(name);
            fs::create_dir(&d).unwrap();
            d
        };
        let (dead, live, other) = (
            dir("strata-exec-dead"),
            dir("strata-exec-live"),
            dir("blob-writer"),
        );
        fs::create_dir(dead.join("state")).unwrap();
        let held = fs::File::open(&live).unwrap();
        held.lock().unwrap();
        let seen = std::cell::RefCell::new(Vec::new());
        let removed =
            remove_stale(root.path(), |d| seen.borrow_mut().push(d.to_path_buf())).unwrap();
        assert_eq!(removed, vec![dead.clone()]);
        assert_eq!(seen.into_inner(), vec![dead.clone()]);
        assert!(!dead.exists());
        assert!(live.is_dir() && other.is_dir());
        drop(held);
        assert_eq!(remove_stale(root.path(), |_| {}).unwrap(), vec![live]);
        assert!(
            remove_stale(&root.path().join("missing"), |_| {})
                .unwrap()
                .is_empty()
        );
    }
}
