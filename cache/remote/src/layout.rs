//! A cache in a local directory (`type=local`): an OCI image layout whose
//! `index.json` lists the cache manifest (with its `artifactType`).
//!
//! ```text
//! DIR/oci-layout
//! DIR/index.json        the cache manifest, annotated ref.name "latest"
//! DIR/blobs/sha256/…    manifest, config and layer blobs
//! ```
//!
//! Blobs are copied in through a temp file in the same directory, fsynced
//! and renamed; `index.json` is replaced the same way, last, so a reader
//! never sees a manifest whose blobs are missing. Blob paths come from
//! validated digests only.

use crate::error::{RemoteError, io_err};
use crate::format::CACHE_ARTIFACT_TYPE;
use serde_json::{Value, json};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use strata_store::{Descriptor, Digest, REF_NAME, Store, StoreError};

pub(crate) fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join("blobs/sha256").join(digest.hex())
}

/// Writes `bytes` to `path` atomically (temp file beside it, fsync, rename).
fn write_atomic(path: &Path, bytes: &mut dyn Read) -> Result<(), RemoteError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    io::copy(bytes, &mut tmp).map_err(io_err(path))?;
    tmp.as_file().sync_all().map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| io_err(path)(e.error))?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Copies a store blob into the layout (skipped when it is there).
pub(crate) fn put_blob(dir: &Path, store: &Store, digest: &Digest) -> Result<(), RemoteError> {
    let path = blob_path(dir, digest);
    if path.is_file() {
        return Ok(());
    }
    let mut reader = store.open_verified(digest)?;
    write_atomic(&path, &mut reader)?;
    Ok(())
}

/// Points `index.json` at the cache manifest, keeping entries of other
/// artifact types.
pub(crate) fn set_manifest(dir: &Path, manifest: &Descriptor) -> Result<(), RemoteError> {
    write_atomic(
        &dir.join("oci-layout"),
        &mut &br#"{"imageLayoutVersion":"1.0.0"}"#[..],
    )?;
    let index_path = dir.join("index.json");
    let mut others: Vec<Value> = match fs::read(&index_path) {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["manifests"].as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m["artifactType"] != CACHE_ARTIFACT_TYPE)
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_err(&index_path)(e)),
    };
    others.push(json!({
        "mediaType": manifest.media_type,
        "digest": manifest.digest,
        "size": manifest.size,
        "artifactType": CACHE_ARTIFACT_TYPE,
        "annotations": {REF_NAME: "latest"},
    }));
    let index = json!({
        "schemaVersion": 2,
        "mediaType": strata_store::OCI_INDEX,
        "manifests": others,
    });
    let bytes = serde_json::to_vec(&index).unwrap_or_default();
    write_atomic(&index_path, &mut &bytes[..])
}

/// The cache manifest `index.json` lists.
pub(crate) fn find_manifest(dir: &Path) -> Result<Descriptor, RemoteError> {
    let index_path = dir.join("index.json");
    let bytes = fs::read(&index_path).map_err(io_err(&index_path))?;
    let index: Value = serde_json::from_slice(&bytes).map_err(|e| {
        crate::error::invalid(index_path.display().to_string(), format!("not JSON: {e}"))
    })?;
    let entry = index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["artifactType"] == CACHE_ARTIFACT_TYPE)
        .ok_or_else(|| {
            crate::error::invalid(
                index_path.display().to_string(),
                format!("lists no {CACHE_ARTIFACT_TYPE} manifest"),
            )
        })?;
    serde_json::from_value(entry.clone()).map_err(|e| {
        crate::error::invalid(
            index_path.display().to_string(),
            format!("bad descriptor: {e}"),
        )
    })
}

/// Copies a layout blob into the store, verified by digest and size; a
/// mismatch leaves nothing in the store.
pub(crate) fn fetch_blob(dir: &Path, store: &Store, desc: &Descriptor) -> Result<(), RemoteError> {
    if store.has_blob(&desc.digest) {
        return Ok(());
    }
    let path = blob_path(dir, &desc.digest);
    let mut file = fs::File::open(&path).map_err(io_err(&path))?;
    let mut writer = store.blob_writer()?;
    let copied =
        io::copy(&mut (&mut file).take(desc.size + 1), &mut writer).map_err(io_err(&path))?;
    writer.flush().map_err(io_err(&path))?;
    if copied != desc.size {
        return Err(crate::error::invalid(
            path.display().to_string(),
            format!("{copied} bytes, the manifest says {}", desc.size),
        ));
    }
    writer.commit(Some(&desc.digest)).map_err(|e| match e {
        StoreError::DigestMismatch { expected, found } => RemoteError::DigestMismatch {
            what: path.display().to_string(),
            expected,
            found,
        },
        e => e.into(),
    })?;
    Ok(())
}
