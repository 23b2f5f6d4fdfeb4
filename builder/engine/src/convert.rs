//! An image with its layers in another compression (`strata push
//! --compression`, `-o type=image,compression=…`).
//!
//! A layer whose blob is already in the requested compression is kept. A
//! converted blob is made once and remembered by diffID, so the next
//! push finds it instead of compressing again:
//!
//! ```text
//! ROOT/layer-variants-v1/<diffID hex>.json   media type → [digest, size]
//! ```
//!
//! A Docker schema 2 manifest becomes an OCI one (zstd layers exist only
//! in OCI); the config blob and its diffIDs do not change, except for
//! eStargz (`crate::estargz`), whose tar holds a table of contents: its
//! layers get their own diffIDs, written into a new config. An eStargz
//! layer is a gzip layer, kept as it is when gzip is asked for; a
//! zstd:chunked layer (`crate::zchunked`: same tar, so same diffID, and
//! annotations locating its table of contents) is a zstd layer, kept when
//! zstd is asked for.

use crate::estargz::estargz_variant;
use crate::image::{OCI_CONFIG, OCI_MANIFEST};
use crate::worker::WorkerError;
use crate::zchunked::zstd_chunked_variant;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_layer::{
    ChunkCache, ChunkEntry, Compression, LEGACY_MANIFEST_CHECKSUM_ANNOTATION,
    MANIFEST_CHECKSUM_ANNOTATION, StoreChunks, TOC_DIGEST_ANNOTATION, media_type,
    recompress_chunked,
};
use strata_store::{BlobWriter, DOCKER_MANIFEST, Descriptor, Digest, Store, VerifiedReader};

type Variants = BTreeMap<String, (String, u64)>;

/// The compression a layer media type names.
fn compression_of(media: &str) -> Option<&'static str> {
    if media.ends_with("zstd") {
        Some("zstd")
    } else if media.ends_with("gzip") {
        Some("gzip")
    } else if media.ends_with(".tar") || media.ends_with(".diff.tar") {
        Some("none")
    } else {
        None
    }
}

/// The compression of a layer descriptor: its media type's, `estargz`
/// for a gzip layer with a table of contents, `zstd:chunked` for a zstd
/// layer with one.
fn format_of(layer: &Value) -> Option<&'static str> {
    let media = layer["mediaType"].as_str().unwrap_or_default();
    let notes = &layer["annotations"];
    match compression_of(media) {
        Some("gzip") if notes[TOC_DIGEST_ANNOTATION].is_string() => Some("estargz"),
        Some("zstd")
            if notes[MANIFEST_CHECKSUM_ANNOTATION].is_string()
                || notes[LEGACY_MANIFEST_CHECKSUM_ANNOTATION].is_string() =>
        {
            Some("zstd:chunked")
        }
        other => other,
    }
}

fn name_of(c: Compression) -> &'static str {
    match c {
        Compression::None => "none",
        Compression::Gzip { .. } => "gzip",
        Compression::Zstd { .. } => "zstd",
        Compression::Estargz { .. } => "estargz",
        Compression::ZstdChunked { .. } => "zstd:chunked",
    }
}

/// The OCI media type of a Docker layer media type (others unchanged).
fn oci_layer_type(media: &str) -> String {
    match media {
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => {
            "application/vnd.oci.image.layer.v1.tar+gzip".into()
        }
        "application/vnd.docker.image.rootfs.diff.tar" => {
            "application/vnd.oci.image.layer.v1.tar".into()
        }
        other => other.into(),
    }
}

/// Where the converted forms of the layer `diff_id` are remembered.
pub(crate) fn variants_path(store: &Store, diff_id: &str) -> Result<PathBuf, WorkerError> {
    let hex = diff_id
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            WorkerError::invalid("diffID", format!("{diff_id:?} is not sha256:<hex>"))
        })?;
    Ok(store
        .root()
        .join("layer-variants-v1")
        .join(format!("{hex}.json")))
}

/// The blob of `diff_id` in `media`, made before, if the store still has it.
fn known_variant(store: &Store, diff_id: &str, media: &str) -> Option<Descriptor> {
    let variants: Variants = read_json(&variants_path(store, diff_id).ok()?)?;
    let (digest, size) = variants.get(media)?;
    let digest: Digest = digest.parse().ok()?;
    store
        .has_blob(&digest)
        .then(|| Descriptor::new(media, digest, *size))
}

fn remember_variant(store: &Store, diff_id: &str, desc: &Descriptor) -> Result<(), WorkerError> {
    let path = variants_path(store, diff_id)?;
    let mut variants: Variants = read_json(&path).unwrap_or_default();
    variants.insert(
        desc.media_type.clone(),
        (desc.digest.to_string(), desc.size),
    );
    write_json(store, &path, &variants)
}

/// A file of the variants directory; `None` when missing or unreadable
/// (it is only a memo: the variant is made again).
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes a file of the variants directory, crash-safe.
pub(crate) fn write_json<T: serde::Serialize>(
    store: &Store,
    path: &Path,
    value: &T,
) -> Result<(), WorkerError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| WorkerError::invalid(dir.display(), e))?;
    }
    let bytes = serde_json::to_vec(value).map_err(|e| WorkerError::invalid(path.display(), e))?;
    Ok(store.write_file_atomic(path, &bytes)?)
}

/// The descriptor of a converted layer whose memo file records its blob
/// as `digest` (`sha256:…`), with the annotations its format (`name` in
/// errors) needs.
pub(crate) fn variant_descriptor(
    name: &str,
    compression: Compression,
    digest: &str,
    size: u64,
    annotations: BTreeMap<String, String>,
) -> Result<Descriptor, WorkerError> {
    let parsed: Digest = digest
        .parse()
        .map_err(|e| WorkerError::invalid(format!("{name} layer {digest}"), e))?;
    let mut desc = Descriptor::new(media_type(compression), parsed, size);
    desc.annotations = annotations;
    Ok(desc)
}

/// A variant remembered in `path` whose blob (`digest_of`) the store still
/// has.
pub(crate) fn known_blob<T: serde::de::DeserializeOwned>(
    store: &Store,
    path: &Path,
    digest_of: impl Fn(&T) -> &str,
) -> Option<T> {
    let known: T = read_json(path)?;
    let digest: Digest = digest_of(&known).parse().ok()?;
    store.has_blob(&digest).then_some(known)
}

/// A new blob made from the layer `blob` by `write`, which gets the
/// verified source, a blob writer and the store's chunks in `compression`
/// (chunks of earlier variants are copied, not compressed again), and
/// returns what it computed; the blob is committed against the digest
/// `digest_of` finds there and its chunks are recorded for later variants.
pub(crate) fn write_variant<D>(
    store: &Store,
    blob: &Digest,
    compression: Compression,
    write: impl FnOnce(
        VerifiedReader,
        BlobWriter,
        Arc<dyn ChunkCache>,
    ) -> std::io::Result<(BlobWriter, D, Vec<ChunkEntry>)>,
    digest_of: impl Fn(&D) -> &str,
) -> Result<(Digest, u64, D), WorkerError> {
    let what = format!("layer {blob}");
    let reader = store.open_verified(blob)?;
    let chunks = Arc::new(StoreChunks::new(store, compression));
    let (writer, digests, written) =
        write(reader, store.blob_writer()?, chunks.clone()).map_err(|e| {
            WorkerError::invalid(
                &what,
                format!("writing it as {}: {e}", name_of(compression)),
            )
        })?;
    let expected: Digest = digest_of(&digests)
        .parse()
        .map_err(|e| WorkerError::invalid(&what, e))?;
    let (digest, size) = writer.commit(Some(&expected))?;
    chunks.record(&digest, &written)?;
    Ok((digest, size, digests))
}

/// The layer `blob` (of `diff_id`) in `compression`: a remembered variant,
/// or a new blob compressed now and remembered.
fn variant(
    store: &Store,
    blob: &Digest,
    diff_id: &str,
    compression: Compression,
) -> Result<Descriptor, WorkerError> {
    let media = media_type(compression);
    if let Some(known) = known_variant(store, diff_id, media) {
        return Ok(known);
    }
    let (digest, size, _) = write_variant(
        store,
        blob,
        compression,
        |reader, out, chunks| recompress_chunked(reader, diff_id, compression, out, chunks),
        |digests| &digests.digest,
    )?;
    let desc = Descriptor::new(media, digest, size);
    remember_variant(store, diff_id, &desc)?;
    Ok(desc)
}

/// The image `manifest` with its layers in `compression`: every layer, or
/// only those whose diffID is in `only`. Returns the manifest unchanged
/// when no layer needed converting, else a new manifest in the store.
pub fn convert_image(
    store: &Store,
    manifest: &Descriptor,
    compression: Compression,
    only: Option<&BTreeSet<String>>,
) -> Result<Descriptor, WorkerError> {
    let what = format!("manifest {}", manifest.digest);
    if manifest.media_type != OCI_MANIFEST && manifest.media_type != DOCKER_MANIFEST {
        return Err(WorkerError::invalid(
            &what,
            format!(
                "{} cannot be recompressed (only single-platform image manifests can)",
                manifest.media_type
            ),
        ));
    }
    let mut value: Value = serde_json::from_slice(&store.read_blob(&manifest.digest)?)
        .map_err(|e| WorkerError::invalid(&what, e))?;
    let config_digest: Digest = value["config"]["digest"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .map_err(|e| WorkerError::invalid(&what, e))?;
    let config: Value = serde_json::from_slice(&store.read_blob(&config_digest)?)
        .map_err(|e| WorkerError::invalid(&config_digest, e))?;
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str().map(str::to_string))
        .collect();
    let layers = value["layers"].as_array().cloned().unwrap_or_default();
    if layers.len() != diff_ids.len() {
        return Err(WorkerError::invalid(
            &what,
            format!("{} layers but {} diffIDs", layers.len(), diff_ids.len()),
        ));
    }
    let want = name_of(compression);
    let mut changed = false;
    let mut out = Vec::new();
    let mut new_diff_ids = diff_ids.clone();
    for ((layer, diff_id), new_diff_id) in layers.iter().zip(&diff_ids).zip(&mut new_diff_ids) {
        let media = layer["mediaType"].as_str().unwrap_or_default();
        let wanted = only.is_none_or(|o| o.contains(diff_id));
        let have = format_of(layer);
        // A lazily pullable layer is also what its base compression asks.
        let kept = have == Some(want)
            || (want == "gzip" && have == Some("estargz"))
            || (want == "zstd" && have == Some("zstd:chunked"));
        if !wanted || kept {
            let mut layer = layer.clone();
            layer["mediaType"] = json!(oci_layer_type(media));
            out.push(layer);
            continue;
        }
        if compression_of(media).is_none() {
            return Err(WorkerError::invalid(
                &what,
                format!("layer media type {media:?} cannot be recompressed"),
            ));
        }
        let blob: Digest = layer["digest"]
            .as_str()
            .unwrap_or_default()
            .parse()
            .map_err(|e| WorkerError::invalid(&what, e))?;
        if let Compression::Estargz { level } = compression {
            let layer = estargz_variant(store, &blob, diff_id, level)?;
            let desc = layer.descriptor()?;
            out.push(serde_json::to_value(&desc).map_err(|e| WorkerError::invalid(&what, e))?);
            *new_diff_id = layer.diff_id;
        } else if let Compression::ZstdChunked { level } = compression {
            let desc = zstd_chunked_variant(store, &blob, diff_id, level)?.descriptor()?;
            out.push(serde_json::to_value(&desc).map_err(|e| WorkerError::invalid(&what, e))?);
        } else {
            let desc = variant(store, &blob, diff_id, compression)?;
            out.push(
                json!({"mediaType": desc.media_type, "digest": desc.digest, "size": desc.size}),
            );
        }
        changed = true;
    }
    if !changed {
        return Ok(manifest.clone());
    }
    value["mediaType"] = json!(OCI_MANIFEST);
    value["config"]["mediaType"] = json!(OCI_CONFIG);
    if new_diff_ids != diff_ids {
        let mut config = config;
        config["rootfs"]["diff_ids"] = json!(new_diff_ids);
        let bytes =
            serde_json::to_vec(&config).map_err(|e| WorkerError::invalid(&config_digest, e))?;
        value["config"]["digest"] = json!(store.write_blob(&bytes)?);
        value["config"]["size"] = json!(bytes.len());
    }
    value["layers"] = Value::Array(out);
    let bytes = serde_json::to_vec(&value).map_err(|e| WorkerError::invalid(&what, e))?;
    let digest = store.write_blob(&bytes)?;
    Ok(Descriptor::new(OCI_MANIFEST, digest, bytes.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_name_their_compression() {
        assert_eq!(
            compression_of("application/vnd.oci.image.layer.v1.tar+zstd"),
            Some("zstd")
        );
        assert_eq!(
            compression_of("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some("gzip")
        );
        assert_eq!(
            compression_of("application/vnd.oci.image.layer.v1.tar"),
            Some("none")
        );
        assert_eq!(compression_of("application/x-unknown"), None);
    }
}
