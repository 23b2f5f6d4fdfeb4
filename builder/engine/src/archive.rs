//! Image archives: an OCI layout as a directory or a tar (`type=oci`), and
//! the `docker load` format (`type=docker`), which is the OCI layout plus
//! Docker's `manifest.json`, as `docker save` has written since Docker 25.
//!
//! Archive entries are written with fixed metadata (mode 0644/0755, owner
//! 0:0, the image's timestamp) so the same image gives the same bytes.

use serde_json::json;
use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;
use strata_registry::{Reference, ReferenceError};

/// A blob of an image: digest, size, media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// `sha256:…`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
}

/// An image to export: its manifest, config and layer blobs.
#[derive(Debug, Clone)]
pub struct ImageBlobs {
    /// The manifest.
    pub manifest: Blob,
    /// The config.
    pub config: Blob,
    /// The layers, bottom first.
    pub layers: Vec<Blob>,
}

/// Where archive writers read blobs from.
pub trait BlobSource {
    /// Opens a blob by digest.
    fn open_blob(&self, digest: &str) -> io::Result<Box<dyn Read + '_>>;
}

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// The names an archive gives its image, as BuildKit's `oci` and `docker`
/// exporters write them from `name=` (or `-t`): each parsed and normalised
/// (`app` → `docker.io/library/app:latest`).
pub fn output_names(names: &[String]) -> Result<Vec<Reference>, ReferenceError> {
    names.iter().map(|n| Reference::parse(n)).collect()
}

/// What `docker load` lists for a name: docker's short form
/// (`docker.io/library/app:latest` → `app:latest`), for `RepoTags`.
pub fn docker_repo_tag(name: &Reference) -> String {
    name.familiar()
}

fn index_json(image: &ImageBlobs, names: &[Reference]) -> Vec<u8> {
    let manifests: Vec<serde_json::Value> = if names.is_empty() {
        vec![descriptor(&image.manifest, None)]
    } else {
        names
            .iter()
            .map(|n| descriptor(&image.manifest, Some(n)))
            .collect()
    };
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    serde_json::to_vec(&index).unwrap_or_default()
}

fn descriptor(blob: &Blob, name: Option<&Reference>) -> serde_json::Value {
    let mut d = json!({
        "mediaType": blob.media_type,
        "digest": blob.digest,
        "size": blob.size,
    });
    if let Some(name) = name {
        d["annotations"] = json!({
            IMAGE_NAME: name.to_string(),
            REF_NAME: ref_name(name),
        });
    }
    d
}

/// containerd's annotation with an image's full name.
const IMAGE_NAME: &str = "io.containerd.image.name";
/// The OCI annotation naming a manifest in a layout.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The `org.opencontainers.image.ref.name` of a name: what follows the
/// repository, as containerd and BuildKit write it
/// (`docker.io/library/app:1` → `1`, a digest as `@sha256:…`).
fn ref_name(name: &Reference) -> String {
    match (name.tag(), name.digest()) {
        (Some(tag), None) => tag.to_string(),
        (Some(tag), Some(d)) => format!("{tag}@{d}"),
        (None, Some(d)) => format!("@{d}"),
        (None, None) => strata_registry::DEFAULT_TAG.to_string(),
    }
}

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Writes an image archive as a tar stream: the OCI layout, plus Docker's
/// `manifest.json` when `docker` is set.
pub fn write_tar(
    out: impl Write,
    image: &ImageBlobs,
    names: &[Reference],
    docker: bool,
    blobs: &dyn BlobSource,
    mtime: u64,
) -> io::Result<()> {
    let mut tar = tar::Builder::new(out);
    let dir = |tar: &mut tar::Builder<_>, path: &str| -> io::Result<()> {
        let mut h = header(tar::EntryType::Directory, 0o755, 0, mtime);
        tar.append_data(&mut h, path, io::empty())
    };
    let file = |tar: &mut tar::Builder<_>, path: &str, data: &[u8]| -> io::Result<()> {
        let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64, mtime);
        tar.append_data(&mut h, path, data)
    };
    dir(&mut tar, "blobs/")?;
    dir(&mut tar, "blobs/sha256/")?;
    let mut seen = std::collections::BTreeSet::new();
    for blob in std::iter::once(&image.manifest)
        .chain(std::iter::once(&image.config))
        .chain(&image.layers)
    {
        if !seen.insert(blob.digest.clone()) {
            continue;
        }
        let mut h = header(tar::EntryType::Regular, 0o644, blob.size, mtime);
        let reader = blobs.open_blob(&blob.digest)?;
        tar.append_data(
            &mut h,
            format!("blobs/sha256/{}", hex(&blob.digest)),
            reader.take(blob.size),
        )?;
    }
    file(&mut tar, "index.json", &index_json(image, names))?;
    if docker {
        let manifest = json!([{
            "Config": format!("blobs/sha256/{}", hex(&image.config.digest)),
            "RepoTags": names.iter().filter(|n| n.digest().is_none()).map(docker_repo_tag).collect::<Vec<_>>(),
            "Layers": image.layers.iter().map(|l| format!("blobs/sha256/{}", hex(&l.digest))).collect::<Vec<_>>(),
        }]);
        file(
            &mut tar,
            "manifest.json",
            &serde_json::to_vec(&manifest).unwrap_or_default(),
        )?;
    }
    file(&mut tar, "oci-layout", OCI_LAYOUT)?;
    tar.into_inner()?.flush()
}

fn header(kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// Writes an OCI layout directory (created when missing), as buildx
/// updates one for `type=oci,tar=false`: an existing layout's other images
/// are kept, and an entry with the same full name and tag as one of
/// `names` is replaced. Without names the image is tagged `latest` (a
/// `ref.name` and no full name).
pub fn write_dir(
    dir: &Path,
    image: &ImageBlobs,
    names: &[Reference],
    blobs: &dyn BlobSource,
) -> io::Result<()> {
    let blob_dir = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blob_dir)?;
    for blob in std::iter::once(&image.manifest)
        .chain(std::iter::once(&image.config))
        .chain(&image.layers)
    {
        let path = blob_dir.join(hex(&blob.digest));
        if path.exists() {
            continue;
        }
        let mut tmp = tempfile::NamedTempFile::new_in(&blob_dir)?;
        io::copy(&mut blobs.open_blob(&blob.digest)?, &mut tmp)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
    }
    let index_path = dir.join("index.json");
    let mut manifests: Vec<serde_json::Value> = match fs::read(&index_path) {
        Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("manifests").and_then(|m| m.as_array()).cloned())
            .unwrap_or_default(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    // (full name, ref.name) of each new entry; no names: `latest` alone.
    let new: Vec<(Option<String>, String)> = if names.is_empty() {
        vec![(None, strata_registry::DEFAULT_TAG.to_string())]
    } else {
        names
            .iter()
            .map(|n| (Some(n.to_string()), ref_name(n)))
            .collect()
    };
    manifests.retain(|m| {
        let image_name = m["annotations"][IMAGE_NAME].as_str();
        let ref_name = m["annotations"][REF_NAME].as_str();
        !new.iter()
            .any(|(n, r)| n.as_deref() == image_name && Some(r.as_str()) == ref_name)
    });
    if names.is_empty() {
        let mut d = descriptor(&image.manifest, None);
        d["annotations"] = json!({ REF_NAME: strata_registry::DEFAULT_TAG });
        manifests.push(d);
    }
    manifests.extend(names.iter().map(|n| descriptor(&image.manifest, Some(n))));
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    write_atomic(&index_path, &serde_json::to_vec(&index).unwrap_or_default())?;
    write_atomic(&dir.join("oci-layout"), OCI_LAYOUT)
}

fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(parent)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Mem(BTreeMap<String, Vec<u8>>);
    impl BlobSource for Mem {
        fn open_blob(&self, digest: &str) -> io::Result<Box<dyn Read + '_>> {
            self.0
                .get(digest)
                .map(|b| Box::new(&b[..]) as Box<dyn Read>)
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, digest.to_string()))
        }
    }

    fn image() -> (ImageBlobs, Mem) {
        let blob = |d: &str, t: &str, data: &[u8]| Blob {
            digest: format!("sha256:{}", d.repeat(64)),
            size: data.len() as u64,
            media_type: t.into(),
        };
        let m = blob("a", "application/vnd.oci.image.manifest.v1+json", b"{}");
        let c = blob(
            "b",
            "application/vnd.oci.image.config.v1+json",
            b"{\"c\":1}",
        );
        let l = blob("c", "application/vnd.oci.image.layer.v1.tar+gzip", b"layer");
        let mem = Mem([
            (m.digest.clone(), b"{}".to_vec()),
            (c.digest.clone(), b"{\"c\":1}".to_vec()),
            (l.digest.clone(), b"layer".to_vec()),
        ]
        .into());
        (
            ImageBlobs {
                manifest: m,
                config: c,
                layers: vec![l],
            },
            mem,
        )
    }

    fn names(n: &[&str]) -> Vec<Reference> {
        output_names(&n.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn read_tar(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
        let mut ar = tar::Archive::new(bytes);
        let mut files = BTreeMap::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let mut s = Vec::new();
            e.read_to_end(&mut s).unwrap();
            files.insert(e.path().unwrap().to_string_lossy().into_owned(), s);
        }
        files
    }

    #[test]
    fn docker_archive_has_manifest_json_and_layout() {
        let (img, mem) = image();
        let mut out = Vec::new();
        let n = names(&["app", "localhost:5000/team/app:v1"]);
        write_tar(&mut out, &img, &n, true, &mem, 0).unwrap();
        let files = read_tar(&out);
        let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
        assert_eq!(
            manifest[0]["RepoTags"],
            json!(["app:latest", "localhost:5000/team/app:v1"])
        );
        assert_eq!(
            manifest[0]["Layers"][0],
            format!("blobs/sha256/{}", "c".repeat(64))
        );
        assert_eq!(files[&format!("blobs/sha256/{}", "c".repeat(64))], b"layer");
        assert!(files.contains_key("oci-layout"));
        let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
        let annotations: Vec<_> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["annotations"].clone())
            .collect();
        assert_eq!(
            annotations,
            [
                json!({IMAGE_NAME: "docker.io/library/app:latest", REF_NAME: "latest"}),
                json!({IMAGE_NAME: "localhost:5000/team/app:v1", REF_NAME: "v1"}),
            ]
        );
    }

    #[test]
    fn an_archive_without_names_has_no_annotations() {
        let (img, mem) = image();
        let mut out = Vec::new();
        write_tar(&mut out, &img, &[], true, &mem, 0).unwrap();
        let files = read_tar(&out);
        let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
        assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
        assert!(index["manifests"][0].get("annotations").is_none());
        let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
        assert_eq!(manifest[0]["RepoTags"], json!([]));
    }

    #[test]
    fn names_are_checked() {
        let err = output_names(&["App".into()]).unwrap_err();
        assert!(err.to_string().contains("lowercase"), "{err}");
        assert!(output_names(&["".into()]).is_err());
    }

    #[test]
    fn archives_are_reproducible() {
        let (img, mem) = image();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write_tar(&mut a, &img, &names(&["x:1"]), false, &mem, 7).unwrap();
        write_tar(&mut b, &img, &names(&["x:1"]), false, &mem, 7).unwrap();
        assert_eq!(a, b);
    }

    fn dir_annotations(dir: &Path) -> Vec<serde_json::Value> {
        let index: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["annotations"].clone())
            .collect()
    }

    #[test]
    fn layout_dir_replaces_a_name_and_keeps_others() {
        let (img, mem) = image();
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), &img, &names(&["x:1", "x:2"]), &mem).unwrap();
        // Same tag, other repository: a separate entry, as in buildx.
        write_dir(dir.path(), &img, &names(&["y:1"]), &mem).unwrap();
        write_dir(dir.path(), &img, &names(&["x:1"]), &mem).unwrap();
        assert_eq!(
            dir_annotations(dir.path()),
            [
                json!({IMAGE_NAME: "docker.io/library/x:2", REF_NAME: "2"}),
                json!({IMAGE_NAME: "docker.io/library/y:1", REF_NAME: "1"}),
                json!({IMAGE_NAME: "docker.io/library/x:1", REF_NAME: "1"}),
            ]
        );
    }

    #[test]
    fn layout_dir_without_names_is_tagged_latest() {
        let (img, mem) = image();
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), &img, &[], &mem).unwrap();
        write_dir(dir.path(), &img, &[], &mem).unwrap();
        assert_eq!(dir_annotations(dir.path()), [json!({REF_NAME: "latest"})]);
    }

    #[test]
    fn repo_tags() {
        let tag = |n: &str| docker_repo_tag(&Reference::parse(n).unwrap());
        assert_eq!(tag("app"), "app:latest");
        assert_eq!(tag("docker.io/library/app:1"), "app:1");
        assert_eq!(tag("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(tag("localhost:5000/app:v1"), "localhost:5000/app:v1");
    }
}
