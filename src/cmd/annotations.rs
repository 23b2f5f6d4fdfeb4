//! Image annotations as buildx gives them: `--annotation [TYPE:]KEY=VALUE`
//! for every image of the build, `annotation.KEY=VALUE` and
//! `annotation-manifest.KEY=VALUE` in one `-o` for that output's image.
//! strata writes one single-platform manifest, so only manifest
//! annotations exist; index and descriptor ones are refused (BuildKit
//! refuses index annotations of a single-platform export too).

use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use strata_builder::archive::{Blob, ImageBlobs};
use strata_store::Store;

/// `--annotation` values: `KEY=VALUE` or `manifest:KEY=VALUE` (buildx's
/// default level is the manifest).
pub fn from_flags(specs: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let Some((key, value)) = spec.split_once('=') else {
            bail!("--annotation {spec}: expected [TYPE:]KEY=VALUE");
        };
        let key = match key.split_once(':') {
            Some((types, key)) => {
                for level in types.split(',') {
                    check_level(level).with_context(|| format!("--annotation {spec}"))?;
                }
                key
            }
            None => key,
        };
        if key.is_empty() {
            bail!("--annotation {spec}: the key is empty");
        }
        out.insert(key.to_string(), value.to_string());
    }
    Ok(out)
}

/// Only `manifest` can be annotated (with or without the host's platform
/// would need a platform match; refused like the other levels).
fn check_level(level: &str) -> Result<()> {
    match level {
        "manifest" => Ok(()),
        "index" => bail!(
            "index annotations are not supported: strata writes a single-platform image, no index"
        ),
        "manifest-descriptor" | "index-descriptor" => {
            bail!("{level} annotations are not supported (only manifest annotations are)")
        }
        other if other.contains('[') => {
            bail!("platform-qualified annotations ({other}) are not supported")
        }
        other => bail!(
            "unknown annotation type {other:?} (manifest, index, manifest-descriptor, index-descriptor)"
        ),
    }
}

/// Takes the `annotation…` keys out of one `-o` value: the value without
/// them, and the manifest annotations they give.
pub fn from_output(spec: &str) -> Result<(String, BTreeMap<String, String>)> {
    let mut rest = Vec::new();
    let mut notes = BTreeMap::new();
    for part in spec.split(',') {
        let Some(name) = part.strip_prefix("annotation") else {
            rest.push(part);
            continue;
        };
        let Some((name, value)) = name.split_once('=') else {
            bail!("--output {spec}: {part:?} needs a value");
        };
        let key = match name.split_once('.') {
            Some(("", key)) => key,
            Some((level, key)) => {
                check_level(level.trim_start_matches('-'))
                    .with_context(|| format!("--output {spec}"))?;
                key
            }
            None => bail!("--output {spec}: {part:?}: expected annotation.KEY=VALUE"),
        };
        if key.is_empty() {
            bail!("--output {spec}: {part:?}: the key is empty");
        }
        notes.insert(key.to_string(), value.to_string());
    }
    if !notes.is_empty() {
        let kind = rest
            .iter()
            .find_map(|p| p.strip_prefix("type="))
            .unwrap_or("local");
        if !matches!(kind, "image" | "registry" | "oci" | "docker") {
            bail!("--output {spec}: type={kind} writes no manifest to annotate");
        }
    }
    Ok((rest.join(","), notes))
}

/// The image with `notes` added to its manifest's annotations (a new
/// manifest blob in the store; keys sorted, as BuildKit's Go maps are
/// encoded). The image itself when there are none.
pub fn annotate(
    store: &Store,
    image: &ImageBlobs,
    notes: &BTreeMap<String, String>,
) -> Result<ImageBlobs> {
    if notes.is_empty() {
        return Ok(image.clone());
    }
    let digest = image.manifest.digest.parse()?;
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&store.read_blob(&digest)?).context("reading the image manifest")?;
    let mut merged: BTreeMap<String, serde_json::Value> = manifest
        .get("annotations")
        .and_then(|a| a.as_object())
        .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    for (k, v) in notes {
        merged.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    manifest["annotations"] = serde_json::json!(merged);
    let bytes = serde_json::to_vec(&manifest)?;
    let digest = store.write_blob(&bytes)?;
    Ok(ImageBlobs {
        manifest: Blob {
            digest: digest.to_string(),
            size: bytes.len() as u64,
            media_type: image.manifest.media_type.clone(),
        },
        ..image.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_default_to_the_manifest_and_values_keep_colons() {
        let notes = from_flags(&[
            "org.opencontainers.image.source=https://example.com/x".into(),
            "manifest:a=b".into(),
        ])
        .ok();
        assert_eq!(
            notes.map(|n| n.into_iter().collect::<Vec<_>>()),
            Some(vec![
                ("a".into(), "b".into()),
                (
                    "org.opencontainers.image.source".into(),
                    "https://example.com/x".into()
                ),
            ])
        );
        assert!(from_flags(&["index:a=b".into()]).is_err());
        assert!(from_flags(&["manifest[linux/amd64]:a=b".into()]).is_err());
    }

    #[test]
    fn output_keys_are_taken_out() {
        let (rest, notes) = from_output("type=image,annotation.a=1,name=x,annotation-manifest.b=2")
            .unwrap_or_default();
        assert_eq!(rest, "type=image,name=x");
        assert_eq!(notes.len(), 2);
        assert!(from_output("type=image,annotation-index.a=1").is_err());
        assert!(from_output("type=local,dest=d,annotation.a=1").is_err());
    }
}
