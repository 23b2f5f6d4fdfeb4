//! Mount points made in a plain root (see [`crate::RunSpec::plain_root`]):
//! without an overlay there is no private stub layer, so a mount point the
//! image lacks is created in the root itself and removed after the run,
//! with its parent directory's times put back when the command did not
//! change that directory too. The caller's diff then sees no trace of it.

use crate::error::ExecError;
use crate::view::MergedView;
use std::fs::{self, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One created mount point: the topmost new entry and its parent's
/// metadata before and right after it was made.
struct Made {
    top: PathBuf,
    parent: PathBuf,
    before: Metadata,
    after: Metadata,
}

/// Mount points created in a plain root; removed when dropped.
#[derive(Default)]
pub(crate) struct PlainStubs {
    made: Vec<Made>,
}

impl PlainStubs {
    /// Makes `comps` exist in `root` (a directory, or an empty file when
    /// `!is_dir`), remembering what it created.
    pub(crate) fn ensure(
        &mut self,
        view: &MergedView,
        root: &Path,
        comps: &[String],
        make: impl FnOnce() -> Result<(), ExecError>,
    ) -> Result<(), ExecError> {
        let resolved = view.resolve(comps).map_err(|e| {
            ExecError::prepare("resolve mount point", root.join(comps.join("/")), e)
        })?;
        if resolved.existing == resolved.comps.len() {
            return make();
        }
        let parent = root.join(resolved.comps[..resolved.existing].join("/"));
        let top = parent.join(&resolved.comps[resolved.existing]);
        let before = metadata(&parent)?;
        make()?;
        let after = metadata(&parent)?;
        self.made.push(Made {
            top,
            parent,
            before,
            after,
        });
        Ok(())
    }
}

fn metadata(path: &Path) -> Result<Metadata, ExecError> {
    fs::symlink_metadata(path).map_err(|e| ExecError::prepare("stat", path, e))
}

impl Drop for PlainStubs {
    fn drop(&mut self) {
        for made in self.made.iter().rev() {
            let untouched = fs::symlink_metadata(&made.parent).is_ok_and(|now| {
                (now.mtime(), now.mtime_nsec()) == (made.after.mtime(), made.after.mtime_nsec())
            });
            let removed = if made.top.is_dir() {
                fs::remove_dir_all(&made.top)
            } else {
                fs::remove_file(&made.top)
            };
            if removed.is_ok() && untouched {
                let _ = crate::prepare::set_times(&made.parent, &made.before);
            }
        }
    }
}
