//! Filesystem views of a state: the snapshots of its layers, an overlay
//! over them with a fresh upper directory, and the layer an upper
//! directory makes.

use super::Worker;
use super::error::{WorkerError, io_err};
use crate::archive::Blob;
use crate::overlay::OverlayMount;
use crate::state::LayerRef;
use std::fs;
use std::path::{Path, PathBuf};
use strata_layer::rootfs::RootFs;
use strata_layer::{ExtractMode, LayerSource, extract, media_type, write_layer};
use strata_store::Digest;

/// An overlay over a state's layers whose writes land in a private upper
/// directory. Dropping it unmounts the overlay and removes its scratch
/// directories (the upper one too, unless [`Worker::commit_upper`] took
/// it as a snapshot).
pub(crate) struct View {
    // Drop order matters: the fd inside the mount, then the mount, then
    // the directories.
    root: RootFs,
    mount: OverlayMount,
    upper: PathBuf,
    scratch: tempfile::TempDir,
}

impl View {
    /// The merged directory on the host.
    pub(crate) fn path(&self) -> &Path {
        self.mount.path()
    }

    /// The merged tree, opened for confined access.
    pub(crate) fn root(&self) -> &RootFs {
        &self.root
    }

    /// Unmounts the overlay and returns the upper directory, with the
    /// guard that removes the scratch directories when dropped.
    pub(crate) fn finish(self) -> (PathBuf, tempfile::TempDir) {
        let View {
            root,
            mount,
            upper,
            scratch,
        } = self;
        drop(root);
        drop(mount);
        (upper, scratch)
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
        let digest: Digest = layer
            .blob
            .digest
            .parse()
            .map_err(|e| WorkerError::Invalid(format!("layer {}: {e}", layer.blob.digest)))?;
        let store = &self.store;
        let imported = self.opts.imported.as_deref();
        Ok(self.snapshots.ensure(&layer.diff_id, |dir| {
            if !store.has_blob(&digest)
                && let Some(imported) = imported
            {
                imported
                    .fetch_blob(digest.as_str())
                    .map_err(|e| format!("fetching {digest} from an imported cache: {e}"))?;
            }
            let reader = store.open_verified(&digest).map_err(|e| e.to_string())?;
            extract(reader, dir, ExtractMode::Overlay, Some(&layer.diff_id))
                .map_err(|e| e.to_string())
        })?)
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

    /// Mounts an overlay of `layers` with an empty upper directory.
    pub(crate) fn view(&self, layers: &[LayerRef]) -> Result<View, WorkerError> {
        let lowers = self.lowers(layers)?;
        let scratch = self.scratch()?;
        let merged = scratch.dir.path().join("merged");
        fs::create_dir(&merged).map_err(io_err(&merged))?;
        let mount = OverlayMount::mount(&lowers, &scratch.upper, &scratch.work, &merged)?;
        let root = RootFs::open(&merged).map_err(io_err(&merged))?;
        Ok(View {
            mount,
            root,
            upper: scratch.upper,
            scratch: scratch.dir,
        })
    }

    /// Turns a finished upper directory into a layer: writes the blob into
    /// the store and keeps the directory as the layer's snapshot. An empty
    /// upper directory makes no layer.
    pub(crate) fn commit_upper(&self, upper: &Path) -> Result<Option<LayerRef>, WorkerError> {
        let mut entries = fs::read_dir(upper).map_err(io_err(upper))?;
        if entries.next().is_none() {
            return Ok(None);
        }
        let out = self.store.blob_writer()?;
        let (out, digests) = write_layer(upper, LayerSource::OverlayUpper, &self.layer_opts, out)?;
        let expected: Digest = digests
            .digest
            .parse()
            .map_err(|e| WorkerError::Invalid(format!("layer digest: {e}")))?;
        // Claimed before it appears, so a concurrent prune never sees it
        // unclaimed between the commit and the cache record.
        self.lease
            .hold(std::slice::from_ref(&expected), &[digests.diff_id.as_str()])?;
        let existed = self.store.has_blob(&expected);
        let (digest, size) = out.commit(Some(&expected))?;
        if !existed {
            self.bytes_written
                .fetch_add(size, std::sync::atomic::Ordering::Relaxed);
        }
        self.snapshots.adopt(&digests.diff_id, upper)?;
        Ok(Some(LayerRef {
            diff_id: digests.diff_id,
            blob: Blob {
                digest: digest.to_string(),
                size,
                media_type: media_type(self.layer_opts.compression).to_string(),
            },
        }))
    }
}
