//! Overlay mounts in the builder's own mount namespace, for steps that the
//! builder performs itself (COPY, ADD, WORKDIR): the parent's snapshots are
//! the lower layers, a fresh upper directory collects the change, and the
//! upper directory is the layer.
//!
//! The mount is made with the new mount API (`fsopen`/`fsconfig` with
//! `lowerdir+`, Linux 6.8+), which has no limit on the number of lower
//! layers; older kernels fall back to `mount(2)` with a `lowerdir=` list,
//! which is limited to one page of options. New-API mounts are
//! `volatile`: nothing syncs on unmount (see `Worker::commit_upper`).

use rustix::fs::CWD;
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags, UnmountFlags,
    fsconfig_create, fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, mount, move_mount,
    unmount,
};
use std::io;
use std::path::{Path, PathBuf};

/// Options that keep the upper directory a plain diff: no index, no
/// metadata-only copy-up, no directory redirects (renames of lower
/// directories fall back to copies).
const CLEAN_DIFF_OPTIONS: [(&str, &str); 3] = [
    ("index", "off"),
    ("metacopy", "off"),
    ("redirect_dir", "off"),
];

/// An error mounting an overlay.
#[derive(Debug, thiserror::Error)]
#[error("mounting overlay at {target}: {step}: {source}")]
pub struct OverlayError {
    /// Mount point.
    pub target: PathBuf,
    /// Which part failed.
    pub step: &'static str,
    /// The cause.
    pub source: io::Error,
}

/// A mounted overlay, unmounted (lazily) when dropped.
#[derive(Debug)]
pub struct OverlayMount {
    target: PathBuf,
}

impl OverlayMount {
    /// Mounts `lowers` (top first, may be empty) under `upper` at `target`.
    /// `work` must be an empty directory on the same filesystem as `upper`.
    pub fn mount(
        lowers: &[PathBuf],
        upper: &Path,
        work: &Path,
        target: &Path,
    ) -> Result<Self, OverlayError> {
        let err = |step, source: rustix::io::Errno| OverlayError {
            target: target.to_path_buf(),
            step,
            source: source.into(),
        };
        // With no lower layer, overlay still needs one: an empty directory.
        let empty;
        let lowers: Vec<PathBuf> = if lowers.is_empty() {
            empty = work.with_extension("empty");
            std::fs::create_dir_all(&empty).map_err(|source| OverlayError {
                target: target.to_path_buf(),
                step: "create empty lower",
                source,
            })?;
            vec![empty.clone()]
        } else {
            lowers.to_vec()
        };
        match mount_new_api(&lowers, upper, work, target) {
            Ok(()) => {}
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
                mount_legacy(&lowers, upper, work, target).map_err(|e| err("mount", e))?
            }
            Err(e) => return Err(err("fsmount", e)),
        }
        Ok(OverlayMount {
            target: target.to_path_buf(),
        })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.target
    }
}

impl Drop for OverlayMount {
    fn drop(&mut self) {
        // Detach: nothing can hold the builder's own mount busy for long,
        // and a failure here must not hide the build's real result.
        let _ = unmount(&self.target, UnmountFlags::DETACH);
    }
}

/// Whether an overlay can be mounted with upper and work directories in
/// `dir` (its file system may not support being an upper layer, or the
/// kernel may lack overlayfs): mounts a tiny one in a temp dir there.
pub fn supported_in(dir: &Path) -> bool {
    let Ok(tmp) = tempfile::Builder::new()
        .prefix(".tmp-probe-")
        .tempdir_in(dir)
    else {
        return false;
    };
    let [lower, upper, work, merged] = ["l", "u", "w", "m"].map(|d| tmp.path().join(d));
    for d in [&lower, &upper, &work, &merged] {
        if std::fs::create_dir(d).is_err() {
            return false;
        }
    }
    OverlayMount::mount(&[lower], &upper, &work, &merged).is_ok()
}

fn mount_new_api(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> rustix::io::Result<()> {
    let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    for lower in lowers {
        fsconfig_set_string(&fs, "lowerdir+", lower)?;
    }
    fsconfig_set_string(&fs, "upperdir", upper)?;
    fsconfig_set_string(&fs, "workdir", work)?;
    for (key, value) in CLEAN_DIFF_OPTIONS {
        fsconfig_set_string(&fs, key, value)?;
    }
    // Without `volatile` the unmount syncs the whole upper file system
    // (a third of a second after a 230 MB COPY); the builder syncs the
    // upper directory itself before keeping it as a snapshot, while the
    // layer is compressed. Kernels before 5.10 lack the option.
    match fsconfig_set_flag(&fs, "volatile") {
        Ok(()) | Err(rustix::io::Errno::INVAL) => {}
        Err(e) => return Err(e),
    }
    fsconfig_create(&fs)?;
    let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())?;
    move_mount(
        &mnt,
        "",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
}

fn mount_legacy(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> rustix::io::Result<()> {
    let lowerdir: Vec<String> = lowers
        .iter()
        .map(|p| escape_option(&p.to_string_lossy()))
        .collect();
    let mut data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowerdir.join(":"),
        escape_option(&upper.to_string_lossy()),
        escape_option(&work.to_string_lossy())
    );
    for (key, value) in CLEAN_DIFF_OPTIONS {
        data.push_str(&format!(",{key}={value}"));
    }
    let data = std::ffi::CString::new(data).map_err(|_| rustix::io::Errno::INVAL)?;
    mount(
        "overlay",
        target,
        "overlay",
        MountFlags::empty(),
        Some(data.as_c_str()),
    )
}

/// Escapes `:` and `,` (and the escape itself) in an overlay option value.
fn escape_option(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ':' | ',') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    #[test]
    fn upper_holds_only_the_change() {
        if !is_root() {
            assert!(std::env::var_os("CI").is_none(), "CI runs as root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (lower, upper, work, merged) = (
            dir.path().join("l"),
            dir.path().join("u"),
            dir.path().join("w"),
            dir.path().join("m"),
        );
        for d in [&lower, &upper, &work, &merged] {
            fs::create_dir(d).unwrap();
        }
        fs::write(lower.join("keep"), "k").unwrap();
        fs::write(lower.join("gone"), "g").unwrap();
        {
            let m =
                OverlayMount::mount(std::slice::from_ref(&lower), &upper, &work, &merged).unwrap();
            assert_eq!(fs::read_to_string(m.path().join("keep")).unwrap(), "k");
            fs::write(m.path().join("new"), "n").unwrap();
            fs::remove_file(m.path().join("gone")).unwrap();
        }
        assert!(!merged.join("keep").exists(), "unmounted on drop");
        let mut names: Vec<_> = fs::read_dir(&upper)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["gone", "new"]); // "gone" is a whiteout
        use std::os::unix::fs::FileTypeExt;
        assert!(
            fs::symlink_metadata(upper.join("gone"))
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }

    #[test]
    fn probe_finds_overlay_support_and_leaves_nothing() {
        if !is_root() {
            assert!(std::env::var_os("CI").is_none(), "CI runs as root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        assert!(supported_in(dir.path()), "the test machine has overlayfs");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(!supported_in(&dir.path().join("missing")));
    }

    #[test]
    fn option_values_are_escaped() {
        assert_eq!(escape_option("/a:b,c\\d"), "/a\\:b\\,c\\\\d");
    }
}
