//! Filesystem views of a state: the snapshots of its layers, an overlay
//! over them with a fresh upper directory (or, with the copying
//! snapshotter, a copy of the whole root diffed afterwards), and the layer
//! an upper directory makes.

use super::Worker;
use super::error::{WorkerError, io_err};
use crate::copyfs::{self, Baseline};
use crate::layer_blob::store_layer_with;
use crate::overlay::OverlayMount;
use crate::snapshots::SnapshotError;
use crate::state::LayerRef;
use std::fs;
use std::path::{Path, PathBuf};
use strata_layer::rootfs::RootFs;
use strata_layer::{ExtraFiles, ExtractMode, LayerSource, extract};
use strata_store::{Digest, VerifiedReader};

/// An overlay over a state's layers whose writes land in a private upper
/// directory. Dropping it unmounts the overlay and removes its scratch
/// directories (the upper one too, unless [`Worker::commit_upper`] took
/// it as a snapshot).
pub(crate) struct View {
    // Drop order matters: the fd inside the mount, then the mount, then
    // the directories.
    root: RootFs,
    mount: Option<OverlayMount>,
    /// The copied root and its state before the step (copy snapshotter).
    copied: Option<CopiedRoot>,
    merged: PathBuf,
    upper: PathBuf,
    scratch: tempfile::TempDir,
}

/// A root filesystem copied for one step, with what it held before.
pub(crate) struct CopiedRoot {
    /// The directory.
    pub(crate) path: PathBuf,
    baseline: Baseline,
}

impl CopiedRoot {
    /// Writes what the step changed into `upper`, as an overlay upper dir.
    pub(crate) fn diff_into(&self, upper: &Path) -> Result<(), WorkerError> {
        Ok(copyfs::diff(&self.path, &self.baseline, upper)?)
    }
}

impl View {
    /// The merged directory on the host.
    pub(crate) fn path(&self) -> &Path {
        &self.merged
    }

    /// The merged tree, opened for confined access.
    pub(crate) fn root(&self) -> &RootFs {
        &self.root
    }

    /// Unmounts the overlay (or diffs the copied root) and returns the
    /// upper directory, with the guard that removes the scratch directories
    /// when dropped.
    pub(crate) fn finish(self) -> Result<(PathBuf, tempfile::TempDir), WorkerError> {
        let View {
            root,
            mount,
            copied,
            upper,
            scratch,
            ..
        } = self;
        drop(root);
        drop(mount);
        if let Some(copied) = copied {
            copied.diff_into(&upper)?;
        }
        Ok((upper, scratch))
    }
}

/// Fresh `upper`, `work` and mount-point directories in the snapshot area
/// (so an upper directory can be renamed into place as a snapshot).
pub(crate) struct Scratch {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) upper: PathBuf,
    pub(crate) work: PathBuf,
}

impl Worker {
    /// The snapshot of one layer, extracted from its blob when missing.
    pub(crate) fn snapshot(&self, layer: &LayerRef) -> Result<PathBuf, WorkerError> {
        Ok(self.snapshots.ensure(&layer.diff_id, |dir| {
            let reader = self.open_layer(layer)?;
            extract(reader, dir, ExtractMode::Overlay, Some(&layer.diff_id))
                .map_err(|e| e.to_string())
        })?)
    }

    /// A layer's blob, verified while read; fetched first from an imported
    /// cache when the store lacks it.
    fn open_layer(&self, layer: &LayerRef) -> Result<VerifiedReader, String> {
        let digest: Digest = layer
            .blob
            .digest
            .parse()
            .map_err(|e| format!("layer {}: {e}", layer.blob.digest))?;
        if !self.store.has_blob(&digest)
            && let Some(imported) = self.opts.imported.as_deref()
        {
            imported
                .fetch_blob(digest.as_str())
                .map_err(|e| format!("fetching {digest} from an imported cache: {e}"))?;
        }
        self.store.open_verified(&digest).map_err(|e| e.to_string())
    }

    /// Snapshots of a layer chain, top (newest) first, as overlay wants them.
    pub(crate) fn lowers(&self, layers: &[LayerRef]) -> Result<Vec<PathBuf>, WorkerError> {
        let mut dirs = layers
            .iter()
            .map(|l| self.snapshot(l))
            .collect::<Result<Vec<_>, _>>()?;
        dirs.reverse();
        Ok(dirs)
    }

    /// New scratch directories for one step.
    pub(crate) fn scratch(&self) -> Result<Scratch, WorkerError> {
        let dir = self.snapshots.temp_dir()?;
        let upper = dir.path().join("upper");
        let work = dir.path().join("work");
        for d in [&upper, &work] {
            fs::create_dir(d).map_err(io_err(d))?;
        }
        Ok(Scratch { dir, upper, work })
    }

    /// Mounts an overlay of `layers` with an empty upper directory (or
    /// copies them into a plain directory, with the copy snapshotter).
    pub(crate) fn view(&self, layers: &[LayerRef]) -> Result<View, WorkerError> {
        let scratch = self.scratch()?;
        let (mount, copied, merged) = if self.copy_snapshots {
            let copied = self.copy_root(layers, &scratch)?;
            let merged = copied.path.clone();
            (None, Some(copied), merged)
        } else {
            let lowers = self.lowers(layers)?;
            let merged = scratch.dir.path().join("merged");
            fs::create_dir(&merged).map_err(io_err(&merged))?;
            let mount = OverlayMount::mount(&lowers, &scratch.upper, &scratch.work, &merged)?;
            (Some(mount), None, merged)
        };
        let root = RootFs::open(&merged).map_err(io_err(&merged))?;
        Ok(View {
            mount,
            copied,
            root,
            merged,
            upper: scratch.upper,
            scratch: scratch.dir,
        })
    }

    /// The root filesystem of `layers` (applied in order from their blobs)
    /// in `scratch/rootfs`, with its baseline (copy snapshotter).
    pub(crate) fn copy_root(
        &self,
        layers: &[LayerRef],
        scratch: &Scratch,
    ) -> Result<CopiedRoot, WorkerError> {
        let path = scratch.dir.path().join("rootfs");
        fs::create_dir(&path).map_err(io_err(&path))?;
        for layer in layers {
            let reader = self.open_layer(layer).map_err(|message| {
                WorkerError::Snapshot(SnapshotError::Fill {
                    diff_id: layer.diff_id.clone(),
                    message,
                })
            })?;
            extract(reader, &path, ExtractMode::Apply, Some(&layer.diff_id))?;
        }
        let baseline = Baseline::record(&path)?;
        Ok(CopiedRoot { path, baseline })
    }

    /// Turns a finished upper directory into a layer: writes the blob into
    /// the store and keeps the directory as the layer's snapshot. An empty
    /// upper directory makes no layer.
    ///
    /// The upper directory is one of the executor's, whose unmount synced
    /// it.
    pub(crate) fn commit_upper(&self, upper: &Path) -> Result<Option<LayerRef>, WorkerError> {
        self.commit(upper, &ExtraFiles::new(), false)
    }

    /// [`Worker::commit_upper`] of an upper directory that lacks the files
    /// of `extra` (a COPY listed them instead of copying them): the layer
    /// reads them from the host, and the directory, which is not the
    /// layer's whole content, is not kept as a snapshot (a later step that
    /// needs one extracts it from the blob).
    /// The upper directory is one of a [`View`], mounted `volatile`: it is
    /// synced here before it becomes a snapshot.
    pub(crate) fn commit_upper_with(
        &self,
        upper: &Path,
        extra: &ExtraFiles,
    ) -> Result<Option<LayerRef>, WorkerError> {
        self.commit(upper, extra, true)
    }

    fn commit(
        &self,
        upper: &Path,
        extra: &ExtraFiles,
        sync: bool,
    ) -> Result<Option<LayerRef>, WorkerError> {
        // Entries listed at the top (`COPY f /f`) leave the upper
        // directory empty: they still make a layer.
        let mut entries = fs::read_dir(upper).map_err(io_err(upper))?;
        if entries.next().is_none() && extra.is_empty() {
            return Ok(None);
        }
        let keep = extra.is_empty();
        // The overlay was volatile: the upper directory's files reach the
        // disk here, while the layer is written, before the directory
        // becomes a snapshot.
        let (stored, synced) = std::thread::scope(|scope| {
            let sync = (keep && sync).then(|| scope.spawn(|| sync_dir_fs(upper)));
            let stored = store_layer_with(
                &self.store,
                upper,
                LayerSource::OverlayUpper,
                extra,
                &self.layer_opts,
                |digest, diff_id| {
                    // Claimed before it appears, so a concurrent prune never
                    // sees it unclaimed between the commit and the cache record.
                    self.lease.hold(std::slice::from_ref(digest), &[diff_id])?;
                    Ok(())
                },
            );
            let synced = sync.map_or(Ok(()), |sync| {
                sync.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("the sync thread panicked")))
            });
            (stored, synced)
        });
        let stored = stored?;
        synced.map_err(io_err(upper))?;
        if stored.new {
            self.bytes_written
                .fetch_add(stored.layer.blob.size, std::sync::atomic::Ordering::Relaxed);
        }
        if keep {
            self.snapshots.adopt(&stored.layer.diff_id, upper)?;
        }
        Ok(Some(stored.layer))
    }
}

/// `syncfs` of the file system that holds `dir`.
fn sync_dir_fs(dir: &Path) -> std::io::Result<()> {
    let fd = fs::File::open(dir)?;
    rustix::fs::syncfs(&fd)?;
    Ok(())
}
