//! Manifests and indexes as far as pulling and pushing need them: media
//! types, the descriptors they point at, and choosing a platform.

use crate::{Platform, RegistryError};
use serde::Deserialize;
use strata_store::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Descriptor, OCI_INDEX, OCI_MANIFEST};

/// What `Accept` asks for when fetching a manifest: every type strata
/// reads, single manifests first.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// The largest manifest accepted (as containerd: 4 MiB).
pub const MAX_MANIFEST_SIZE: u64 = 4 << 20;

/// True for an image index or a Docker manifest list.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// True for an OCI image manifest or a Docker schema 2 manifest.
pub fn is_manifest(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// Layers a registry need not serve (Windows base layers with `urls`).
pub(crate) fn is_foreign(media_type: &str) -> bool {
    media_type.contains("nondistributable") || media_type.contains(".foreign.")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Links {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

/// A parsed manifest or index.
#[derive(Debug, Clone)]
pub(crate) enum Parsed {
    /// An image (or artifact) manifest: its config and layers.
    Manifest {
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
    /// An index: its manifests.
    Index { manifests: Vec<Descriptor> },
}

/// The media type of manifest bytes: the one the server sent, else the
/// one inside, else by shape. Schema 1 and unknown types are refused.
pub(crate) fn media_type_of(
    what: &str,
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<String, RegistryError> {
    let invalid = |message: String| RegistryError::InvalidManifest {
        what: what.to_string(),
        message,
    };
    let links: Links =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("not a JSON manifest: {e}")))?;
    let header = content_type
        .map(|c| c.split(';').next().unwrap_or(c).trim())
        .filter(|c| is_manifest(c) || is_index(c));
    let media_type = match (header, links.media_type.as_deref()) {
        (Some(h), _) => h.to_string(),
        (None, Some(m)) => m.to_string(),
        (None, None) if links.schema_version == Some(2) && links.manifests.is_some() => {
            OCI_INDEX.to_string()
        }
        (None, None) if links.schema_version == Some(2) && links.config.is_some() => {
            OCI_MANIFEST.to_string()
        }
        _ => {
            return Err(invalid(format!(
                "unsupported manifest type {:?} (schema 1 manifests are not supported)",
                content_type.unwrap_or("")
            )));
        }
    };
    if !is_manifest(&media_type) && !is_index(&media_type) {
        return Err(invalid(format!(
            "unsupported manifest media type {media_type:?}"
        )));
    }
    Ok(media_type)
}

/// Parses a manifest or an index of a known media type.
pub(crate) fn parse(what: &str, media_type: &str, bytes: &[u8]) -> Result<Parsed, RegistryError> {
    let invalid = |message: String| RegistryError::InvalidManifest {
        what: what.to_string(),
        message,
    };
    let links: Links =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
    if links.schema_version != Some(2) {
        return Err(invalid(format!(
            "schemaVersion {:?}, expected 2",
            links.schema_version
        )));
    }
    if is_index(media_type) {
        Ok(Parsed::Index {
            manifests: links.manifests.unwrap_or_default(),
        })
    } else {
        Ok(Parsed::Manifest {
            config: links
                .config
                .ok_or_else(|| invalid("manifest without a config".into()))?,
            layers: links.layers.unwrap_or_default(),
        })
    }
}

/// The index entry for `platform`: the first whose platform matches
/// (attestation manifests carry `unknown/unknown` and never match).
pub(crate) fn choose<'a>(
    reference: &str,
    manifests: &'a [Descriptor],
    platform: &Platform,
) -> Result<&'a Descriptor, RegistryError> {
    let found = manifests.iter().find(|d| {
        d.extra
            .get("platform")
            .and_then(Platform::from_json)
            .is_some_and(|p| platform.matches(&p))
    });
    found.ok_or_else(|| RegistryError::NoMatchingPlatform {
        reference: reference.to_string(),
        platform: platform.to_string(),
        available: {
            let mut names: Vec<String> = manifests
                .iter()
                .filter_map(|d| d.extra.get("platform").and_then(Platform::from_json))
                .map(|p| p.to_string())
                .collect();
            names.sort();
            names.dedup();
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_store::Digest;

    fn entry(platform: serde_json::Value, content: &[u8]) -> Descriptor {
        let mut d = Descriptor::new(OCI_MANIFEST, Digest::of(content), content.len() as u64);
        d.extra.insert("platform".into(), platform);
        d
    }

    #[test]
    fn choose_a_platform() {
        let list = vec![
            entry(
                serde_json::json!({"os":"linux","architecture":"arm","variant":"v6"}),
                b"1",
            ),
            entry(
                serde_json::json!({"os":"linux","architecture":"arm64","variant":"v8"}),
                b"2",
            ),
            entry(
                serde_json::json!({"os":"linux","architecture":"amd64"}),
                b"3",
            ),
            entry(
                serde_json::json!({"os":"unknown","architecture":"unknown"}),
                b"4",
            ),
        ];
        let pick = |p: &str| choose("x", &list, &p.parse().unwrap()).map(|d| d.digest.clone());
        assert_eq!(pick("linux/amd64").unwrap(), Digest::of(b"3"));
        assert_eq!(pick("linux/arm64").unwrap(), Digest::of(b"2"));
        assert_eq!(pick("linux/arm/v6").unwrap(), Digest::of(b"1"));
        let err = pick("linux/s390x").unwrap_err().to_string();
        assert_eq!(
            err,
            "x: no manifest for platform linux/s390x (available: linux/amd64, linux/arm/v6, linux/arm64/v8, unknown/unknown)"
        );
    }

    #[test]
    fn media_types_from_header_body_or_shape() {
        let m = br#"{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
        assert_eq!(media_type_of("x", None, m).unwrap(), OCI_MANIFEST);
        assert_eq!(
            media_type_of(
                "x",
                Some("application/vnd.docker.distribution.manifest.v2+json; charset=utf-8"),
                m
            )
            .unwrap(),
            DOCKER_MANIFEST
        );
        let i = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}"#;
        assert_eq!(
            media_type_of("x", Some("text/plain"), i).unwrap(),
            DOCKER_MANIFEST_LIST
        );
        let v1 = br#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
        let err = media_type_of(
            "x",
            Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
            v1,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("schema 1"), "{err}");
        assert!(media_type_of("x", None, b"not json").is_err());
        assert!(
            matches!(parse("x", OCI_MANIFEST, m).unwrap(), Parsed::Manifest { layers, .. } if layers.is_empty())
        );
        assert!(parse("x", OCI_MANIFEST, br#"{"schemaVersion":2,"layers":[]}"#).is_err());
    }
}
