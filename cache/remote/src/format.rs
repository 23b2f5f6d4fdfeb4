//! The cache artifact.
//!
//! ```text
//! manifest (application/vnd.oci.image.manifest.v1+json)
//!   artifactType: application/vnd.strata.cache.v1+json
//!   config:  application/vnd.strata.cache.v1+json   → CacheConfig (JSON)
//!   layers:  every layer blob a record or a cache mount points at,
//!            sorted by digest, with its own media type (tar+gzip, tar+zstd)
//! ```
//!
//! The config lists the records (key → description, layer diffID and the
//! one blob exported for it, inputs, creation time) sorted by key, and the
//! packed `RUN --mount=type=cache` directories sorted by id. A reader
//! refuses a manifest of another artifact type or a config of another
//! [`FORMAT_VERSION`]; a record whose blob is not among the layers is
//! dropped.

use crate::error::{RemoteError, invalid};
use serde::{Deserialize, Serialize};
use serde_json::json;
use strata_cache::CacheRecord;
use strata_store::{Descriptor, OCI_MANIFEST};

/// The artifact type of a strata cache, also the media type of its config.
pub const CACHE_ARTIFACT_TYPE: &str = "application/vnd.strata.cache.v1+json";

/// The version of [`CacheConfig`]; another version is not read.
pub const FORMAT_VERSION: u32 = 1;

/// A packed cache-mount directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountLayer {
    /// The mount's directory name in the store: hex SHA-256 of its id.
    pub id: String,
    /// SHA-256 of the uncompressed tar.
    pub diff_id: String,
    /// The blob (one of the manifest's layers).
    pub blob: Descriptor,
}

/// The config blob of a cache artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheConfig {
    /// [`FORMAT_VERSION`].
    pub version: u32,
    /// Step records, sorted by key; each layer lists exactly one blob.
    pub records: Vec<CacheRecord>,
    /// Cache mounts (`mounts=true`), sorted by id.
    #[serde(default)]
    pub mounts: Vec<MountLayer>,
}

/// The manifest bytes of an artifact with this config and these layers.
pub fn manifest_bytes(config: &Descriptor, layers: &[Descriptor]) -> Vec<u8> {
    let desc =
        |d: &Descriptor| json!({"mediaType": d.media_type, "digest": d.digest, "size": d.size});
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": CACHE_ARTIFACT_TYPE,
        "config": desc(config),
        "layers": layers.iter().map(desc).collect::<Vec<_>>(),
    });
    // A `Value` always serialises.
    serde_json::to_vec(&manifest).unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    #[serde(default)]
    artifact_type: Option<String>,
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// Parses a cache manifest: its config and layers. Anything else (an
/// image, another tool's cache) is refused.
pub fn parse_manifest(
    what: &str,
    bytes: &[u8],
) -> Result<(Descriptor, Vec<Descriptor>), RemoteError> {
    let m: Manifest =
        serde_json::from_slice(bytes).map_err(|e| invalid(what, format!("not a manifest: {e}")))?;
    if m.schema_version != 2 {
        return Err(invalid(what, format!("schemaVersion {}", m.schema_version)));
    }
    let kind = m.artifact_type.as_deref().unwrap_or(&m.config.media_type);
    if kind != CACHE_ARTIFACT_TYPE || m.config.media_type != CACHE_ARTIFACT_TYPE {
        return Err(invalid(
            what,
            format!("not a strata cache (artifact type {kind:?}, expected {CACHE_ARTIFACT_TYPE})"),
        ));
    }
    Ok((m.config, m.layers))
}

/// Parses a config blob of this [`FORMAT_VERSION`].
pub fn parse_config(what: &str, bytes: &[u8]) -> Result<CacheConfig, RemoteError> {
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    let v: Version = serde_json::from_slice(bytes)
        .map_err(|e| invalid(what, format!("not a cache config: {e}")))?;
    if v.version != FORMAT_VERSION {
        return Err(invalid(
            what,
            format!(
                "cache format version {}, this strata reads {FORMAT_VERSION}",
                v.version
            ),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| invalid(what, format!("not a cache config: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_store::Digest;

    #[test]
    fn manifest_round_trips_and_images_are_refused() {
        let config = Descriptor::new(CACHE_ARTIFACT_TYPE, Digest::of(b"c"), 1);
        let layer = Descriptor::new(
            "application/vnd.oci.image.layer.v1.tar+gzip",
            Digest::of(b"l"),
            1,
        );
        let bytes = manifest_bytes(&config, std::slice::from_ref(&layer));
        let (c, l) = parse_manifest("m", &bytes).unwrap();
        assert_eq!((c, l), (config, vec![layer]));
        let image = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}"#;
        let err = parse_manifest("m", image).unwrap_err().to_string();
        assert!(err.contains("not a strata cache"), "{err}");
    }

    #[test]
    fn other_versions_are_refused() {
        let err = parse_config("c", br#"{"version":2,"records":[]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("version 2"), "{err}");
        assert!(parse_config("c", br#"{"version":1,"records":[]}"#).is_ok());
    }
}
