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

/// Normalises a tag the way `docker load` lists it: a missing tag is
/// `latest`.
pub fn docker_repo_tag(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || name.contains('@') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

fn index_json(image: &ImageBlobs, names: &[String]) -> Vec<u8> {
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

fn descriptor(blob: &Blob, name: Option<&String>) -> serde_json::Value {
    let mut d = json!({
        "mediaType": blob.media_type,
        "digest": blob.digest,
        "size": blob.size,
    });
    if let Some(name) = name {
        d["annotations"] = json!({
            "io.containerd.image.name": name,
            "org.opencontainers.image.ref.name": ref_name(name),
        });
    }
    d
}

/// The `org.opencontainers.image.ref.name` of a tag: its tag part, as
/// containerd and BuildKit write it (`docker.io/library/app:1` → `1`).
fn ref_name(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        Some((_, tag)) => tag.to_string(),
        None => "latest".to_string(),
    }
}

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Writes an image archive as a tar stream: the OCI layout, plus Docker's
/// `manifest.json` when `docker` is set.
pub fn write_tar(
    out: impl Write,
    image: &ImageBlobs,
    names: &[String],
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
            "RepoTags": names.iter().map(|n| docker_repo_tag(n)).collect::<Vec<_>>(),
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

/// Writes an OCI layout directory (created when missing; an existing
/// layout's other images are kept, and its tags for `names` replaced).
pub fn write_dir(
    dir: &Path,
    image: &ImageBlobs,
    names: &[String],
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
    let new: serde_json::Value = serde_json::from_slice(&index_json(image, names))
        .unwrap_or_else(|_| json!({"manifests": []}));
    let new_refs: Vec<String> = names.iter().map(|n| ref_name(n)).collect();
    manifests.retain(|m| {
        let r = m["annotations"]["org.opencontainers.image.ref.name"].as_str();
        !r.is_some_and(|r| new_refs.iter().any(|n| n == r))
    });
    if let Some(list) = new["manifests"].as_array() {
        manifests.extend(list.iter().cloned());
    }
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

    #[test]
    fn docker_archive_has_manifest_json_and_layout() {
        let (img, mem) = image();
        let mut out = Vec::new();
        write_tar(&mut out, &img, &["app".into()], true, &mem, 0).unwrap();
        let mut ar = tar::Archive::new(&out[..]);
        let mut files = BTreeMap::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let mut s = Vec::new();
            e.read_to_end(&mut s).unwrap();
            files.insert(e.path().unwrap().to_string_lossy().into_owned(), s);
        }
        let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
        assert_eq!(manifest[0]["RepoTags"][0], "app:latest");
        assert_eq!(
            manifest[0]["Layers"][0],
            format!("blobs/sha256/{}", "c".repeat(64))
        );
        assert_eq!(files[&format!("blobs/sha256/{}", "c".repeat(64))], b"layer");
        assert!(files.contains_key("oci-layout"));
        let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
        assert_eq!(
            index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
            "latest"
        );
    }

    #[test]
    fn archives_are_reproducible() {
        let (img, mem) = image();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write_tar(&mut a, &img, &["x:1".into()], false, &mem, 7).unwrap();
        write_tar(&mut b, &img, &["x:1".into()], false, &mem, 7).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn layout_dir_replaces_a_tag_and_keeps_others() {
        let (img, mem) = image();
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), &img, &["x:1".into(), "x:2".into()], &mem).unwrap();
        write_dir(dir.path(), &img, &["x:1".into()], &mem).unwrap();
        let index: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn repo_tags() {
        assert_eq!(docker_repo_tag("app"), "app:latest");
        assert_eq!(
            docker_repo_tag("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
        assert_eq!(
            docker_repo_tag("localhost:5000/app:v1"),
            "localhost:5000/app:v1"
        );
    }
}
