//! `--cache-to`: the artifact is built in the store (config and manifest
//! blobs), then copied to an OCI layout directory or pushed to a registry.
//! A layer blob the store lacks (a step that hit an imported cache and was
//! never extracted) is fetched from that cache first, except when the
//! destination registry has it already.

use crate::error::RemoteError;
use crate::format::{self, CACHE_ARTIFACT_TYPE, CacheConfig, FORMAT_VERSION, MountLayer};
use crate::{CacheImport, layout};
use std::collections::BTreeMap;
use std::path::Path;
use strata_cache::CacheRecord;
use strata_registry::{Client, PushOptions, PushReport, Reference, no_progress};
use strata_store::{Descriptor, Digest, OCI_MANIFEST, Store};

/// Which steps go into the cache (buildx's `mode=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// The steps of the final image's stages only (the default).
    #[default]
    Min,
    /// The steps of every stage built.
    Max,
}

/// An artifact written to the store, ready to be copied or pushed.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The manifest.
    pub manifest: Descriptor,
    /// The config blob ([`CacheConfig`]).
    pub config: Descriptor,
    /// The layer blobs, sorted by digest.
    pub layers: Vec<Descriptor>,
    /// How many records it holds.
    pub records: usize,
}

/// Builds the artifact for `records` and `mounts`. A record's layer is
/// exported in `media_type` when it has a blob of that type, else in the
/// first it has; records are sorted by key, so the same records give the
/// same artifact.
pub fn build_artifact(
    store: &Store,
    records: &[CacheRecord],
    mounts: &[MountLayer],
    media_type: &str,
) -> Result<Artifact, RemoteError> {
    let mut by_key: BTreeMap<_, CacheRecord> = BTreeMap::new();
    let mut layers: BTreeMap<Digest, Descriptor> = BTreeMap::new();
    for record in records {
        let mut record = record.clone();
        if let Some(layer) = &mut record.layer {
            let Some((media, (digest, size))) = layer
                .blobs
                .get_key_value(media_type)
                .or_else(|| layer.blobs.iter().next())
                .map(|(m, b)| (m.clone(), b.clone()))
            else {
                continue;
            };
            let Ok(parsed) = digest.parse::<Digest>() else {
                continue;
            };
            layers.insert(parsed.clone(), Descriptor::new(media.clone(), parsed, size));
            layer.blobs = [(media, (digest, size))].into();
        }
        by_key.insert(record.key, record);
    }
    let mut mounts = mounts.to_vec();
    mounts.sort_by(|a, b| a.id.cmp(&b.id));
    for m in &mounts {
        layers.insert(m.blob.digest.clone(), m.blob.clone());
    }
    let config = CacheConfig {
        version: FORMAT_VERSION,
        records: by_key.into_values().collect(),
        mounts,
    };
    let n = config.records.len();
    let config_bytes = serde_json::to_vec(&config)
        .map_err(|e| crate::error::invalid("cache config", format!("cannot serialise: {e}")))?;
    let config = Descriptor::new(
        CACHE_ARTIFACT_TYPE,
        store.write_blob(&config_bytes)?,
        config_bytes.len() as u64,
    );
    let layers: Vec<Descriptor> = layers.into_values().collect();
    let manifest_bytes = format::manifest_bytes(&config, &layers);
    let mut manifest = Descriptor::new(
        OCI_MANIFEST,
        store.write_blob(&manifest_bytes)?,
        manifest_bytes.len() as u64,
    );
    manifest
        .extra
        .insert("artifactType".into(), CACHE_ARTIFACT_TYPE.into());
    Ok(Artifact {
        manifest,
        config,
        layers,
        records: n,
    })
}

fn ensure(store: &Store, import: Option<&CacheImport>, digest: &Digest) -> Result<(), RemoteError> {
    if store.has_blob(digest) {
        return Ok(());
    }
    match import {
        Some(i) if i.fetch(digest)? => Ok(()),
        _ => Err(RemoteError::MissingBlob(digest.clone())),
    }
}

/// Writes the artifact into the OCI layout `dir` (`type=local,dest=DIR`),
/// blobs first, `index.json` last.
pub fn export_local(
    store: &Store,
    artifact: &Artifact,
    dir: &Path,
    import: Option<&CacheImport>,
) -> Result<(), RemoteError> {
    for desc in artifact
        .layers
        .iter()
        .chain([&artifact.config, &artifact.manifest])
    {
        if layout::blob_path(dir, &desc.digest).is_file() {
            continue;
        }
        ensure(store, import, &desc.digest)?;
        layout::put_blob(dir, store, &desc.digest)?;
    }
    layout::set_manifest(dir, &artifact.manifest)
}

/// Pushes the artifact under `dest` (`type=registry,ref=REF`); blobs the
/// registry has are not uploaded (nor fetched from an imported cache).
pub fn export_registry(
    store: &Store,
    artifact: &Artifact,
    client: &Client,
    dest: &Reference,
    import: Option<&CacheImport>,
) -> Result<PushReport, RemoteError> {
    for desc in &artifact.layers {
        if !store.has_blob(&desc.digest) && !client.blob_exists(dest, &desc.digest)? {
            ensure(store, import, &desc.digest)?;
        }
    }
    let blobs: Vec<Descriptor> = std::iter::once(artifact.config.clone())
        .chain(artifact.layers.iter().cloned())
        .collect();
    Ok(client.push_manifest(
        store,
        dest,
        &artifact.manifest,
        &blobs,
        &PushOptions::default(),
        &no_progress,
    )?)
}
