//! Cache mounts that travel with an exported cache (`--cache-to …,mounts=true`):
//! each `RUN --mount=type=cache` directory a plan uses is packed as a
//! content-addressed layer blob, and restored from an imported cache into
//! a store whose directory of that id is missing or empty.
//!
//! A restore extracts into a temp directory beside the caches (with the
//! extractor that never writes outside its target) and renames it into
//! place under the cache's lock, so a build never sees half a cache.

use super::cache_mounts::CacheMounts;
use super::error::{WorkerError, io_err};
use crate::layer_blob::store_layer;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::path::Path;
use strata_cache_remote::{CacheImport, MountLayer};
use strata_layer::{ExtractMode, LayerSource, WriteOptions, extract};
use strata_plan::{Mount, Plan, StepKind};
use strata_store::{Descriptor, Digest, Store};

/// Directory names (hex SHA-256 of the id) of the cache mounts in the
/// plan's stages, sorted.
pub fn plan_cache_mounts(plan: &Plan) -> BTreeSet<String> {
    plan.stages
        .iter()
        .flat_map(|s| &s.steps)
        .filter_map(|step| match &step.kind {
            StepKind::Run(run) => Some(&run.mounts),
            _ => None,
        })
        .flatten()
        .filter_map(|m| match m {
            Mount::Cache(c) => Some(hex::encode(Sha256::digest(c.id.as_bytes()))),
            _ => None,
        })
        .collect()
}

fn is_empty_dir(path: &Path) -> bool {
    fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
}

/// Packs every non-empty cache directory named in `names` into a layer
/// blob in the store.
pub fn pack_cache_mounts(
    store: &Store,
    caches: &CacheMounts,
    names: &BTreeSet<String>,
    opts: &WriteOptions,
) -> Result<Vec<MountLayer>, WorkerError> {
    let mut out = Vec::new();
    for name in names {
        let dir = caches.dir().join(name);
        if !dir.is_dir() || is_empty_dir(&dir) {
            continue;
        }
        let lock = lock(caches, name)?;
        let layer = store_layer(store, &dir, LayerSource::Plain, opts, |_, _| Ok(()))?.layer;
        drop(lock);
        let digest: Digest = layer
            .blob
            .digest
            .parse()
            .map_err(|e| WorkerError::Invalid(format!("cache mount layer: {e}")))?;
        out.push(MountLayer {
            id: name.clone(),
            diff_id: layer.diff_id,
            blob: Descriptor::new(layer.blob.media_type, digest, layer.blob.size),
        });
    }
    Ok(out)
}

fn lock(caches: &CacheMounts, name: &str) -> Result<fs::File, WorkerError> {
    let path = caches.dir().join(format!("{name}.lock"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    file.lock().map_err(io_err(&path))?;
    Ok(file)
}

/// Restores the imported cache mounts among `wanted` whose local
/// directory is missing or empty; returns how many were restored.
pub fn restore_cache_mounts(
    import: &CacheImport,
    caches: &CacheMounts,
    store: &Store,
    wanted: &BTreeSet<String>,
) -> Result<usize, WorkerError> {
    let mut restored = 0;
    for mount in import.mounts() {
        // The id names a directory: only a SHA-256 in hex is accepted.
        let valid = mount.id.len() == 64
            && mount
                .id
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !valid || !wanted.contains(&mount.id) {
            continue;
        }
        let path = caches.dir().join(&mount.id);
        if path.is_dir() && !is_empty_dir(&path) {
            continue;
        }
        let _lock = lock(caches, &mount.id)?;
        if path.is_dir() && !is_empty_dir(&path) {
            continue;
        }
        import
            .fetch(&mount.blob.digest)
            .map_err(|e| WorkerError::Invalid(format!("cache mount {}: {e}", mount.id)))?;
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempdir_in(caches.dir())
            .map_err(io_err(caches.dir()))?;
        let dir = tmp.path().join("cache");
        fs::create_dir(&dir).map_err(io_err(&dir))?;
        let reader = store.open_verified(&mount.blob.digest)?;
        extract(reader, &dir, ExtractMode::Apply, Some(&mount.diff_id))?;
        if path.is_dir() {
            fs::remove_dir(&path).map_err(io_err(&path))?;
        }
        fs::rename(&dir, &path).map_err(io_err(&path))?;
        restored += 1;
    }
    Ok(restored)
}
