//! Tags: `index.json` entries annotated with a reference name.

use crate::{Digest, Store, StoreError, io_err};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The annotation that names a tag in an OCI layout.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Other fields (`platform`, `urls`, `artifactType`, `data`), kept as
    /// they are so rewriting `index.json` loses nothing.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Descriptor {
    /// A descriptor without annotations.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            annotations: BTreeMap::new(),
            extra: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    #[serde(flatten)]
    extra: BTreeMap<String, serde_json::Value>,
}

pub(crate) fn empty_index() -> Vec<u8> {
    serde_json::to_vec(&Index {
        schema_version: 2,
        media_type: Some("application/vnd.oci.image.index.v1+json".into()),
        manifests: Vec::new(),
        extra: BTreeMap::new(),
    })
    .unwrap_or_default()
}

impl Store {
    fn read_index(&self) -> Result<Index, StoreError> {
        let path = self.root().join("index.json");
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Invalid {
            path,
            message: e.to_string(),
        })
    }

    fn update_index(&self, edit: impl FnOnce(&mut Vec<Descriptor>)) -> Result<(), StoreError> {
        let _lock = self.lock_exclusive("index")?;
        let mut index = self.read_index()?;
        let before = index.manifests.clone();
        edit(&mut index.manifests);
        if index.manifests == before {
            return Ok(()); // nothing to write (and no fsync to wait for)
        }
        let bytes = serde_json::to_vec(&index).map_err(|e| StoreError::Invalid {
            path: self.root().join("index.json"),
            message: e.to_string(),
        })?;
        self.write_file_atomic(&self.root().join("index.json"), &bytes)
    }

    /// Every descriptor in `index.json`, tagged or not, in file order.
    pub fn index_manifests(&self) -> Result<Vec<Descriptor>, StoreError> {
        Ok(self.read_index()?.manifests)
    }

    /// Points `name` at a manifest (replacing what it pointed at). A tag
    /// that already points at it (a rebuild with nothing changed) leaves
    /// `index.json` as it is.
    pub fn set_tag(&self, name: &str, manifest: &Descriptor) -> Result<(), StoreError> {
        let mut desc = manifest.clone();
        desc.annotations
            .insert(REF_NAME.to_string(), name.to_string());
        self.update_index(|list| {
            let named =
                |d: &&Descriptor| d.annotations.get(REF_NAME).map(String::as_str) == Some(name);
            if list.iter().filter(named).eq([&desc]) {
                return;
            }
            list.retain(|d| d.annotations.get(REF_NAME).map(String::as_str) != Some(name));
            list.push(desc);
        })
    }

    /// Removes a tag; returns whether it existed.
    pub fn remove_tag(&self, name: &str) -> Result<bool, StoreError> {
        let mut found = false;
        self.update_index(|list| {
            let before = list.len();
            list.retain(|d| d.annotations.get(REF_NAME).map(String::as_str) != Some(name));
            found = list.len() != before;
        })?;
        Ok(found)
    }

    /// The manifest a tag points at.
    pub fn resolve(&self, name: &str) -> Result<Option<Descriptor>, StoreError> {
        Ok(self
            .read_index()?
            .manifests
            .into_iter()
            .find(|d| d.annotations.get(REF_NAME).map(String::as_str) == Some(name)))
    }

    /// Every tag with its manifest, sorted by name.
    pub fn tags(&self) -> Result<Vec<(String, Descriptor)>, StoreError> {
        let mut tags: Vec<(String, Descriptor)> = self
            .read_index()?
            .manifests
            .into_iter()
            .filter_map(|d| Some((d.annotations.get(REF_NAME)?.clone(), d)))
            .collect();
        tags.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(tags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(store: &Store, content: &[u8]) -> Descriptor {
        Descriptor::new(
            "application/vnd.oci.image.manifest.v1+json",
            store.write_blob(content).unwrap(),
            content.len() as u64,
        )
    }

    #[test]
    fn tag_resolve_retag_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b) = (desc(&store, b"a"), desc(&store, b"b"));
        store.set_tag("app:latest", &a).unwrap();
        store.set_tag("localhost:5000/app:1", &a).unwrap();
        store.set_tag("app:latest", &b).unwrap();
        assert_eq!(
            store.resolve("app:latest").unwrap().unwrap().digest,
            b.digest
        );
        let names: Vec<String> = store.tags().unwrap().into_iter().map(|t| t.0).collect();
        assert_eq!(names, ["app:latest", "localhost:5000/app:1"]);
        assert!(store.remove_tag("app:latest").unwrap());
        assert!(!store.remove_tag("app:latest").unwrap());
        assert!(store.resolve("app:latest").unwrap().is_none());
    }

    #[test]
    fn retagging_the_same_manifest_leaves_the_index_file_alone() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b) = (desc(&store, b"a"), desc(&store, b"b"));
        store.set_tag("app:latest", &a).unwrap();
        store.set_tag("other:1", &b).unwrap();
        let index = dir.path().join("index.json");
        let inode = || std::fs::metadata(&index).unwrap().ino();
        let before = (inode(), std::fs::read(&index).unwrap());
        store.set_tag("app:latest", &a).unwrap();
        assert_eq!((inode(), std::fs::read(&index).unwrap()), before);
        store.set_tag("app:latest", &b).unwrap();
        assert_ne!(inode(), before.0, "a moved tag rewrites the file");
        assert_eq!(
            store.resolve("app:latest").unwrap().unwrap().digest,
            b.digest
        );
    }

    #[test]
    fn unknown_descriptor_fields_survive_a_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = desc(&store, b"m");
        let foreign = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{}","digest":"{}","size":1,"platform":{{"architecture":"arm64","os":"linux"}},"annotations":{{"{REF_NAME}":"other:1"}}}}]}}"#,
            d.media_type, d.digest
        );
        std::fs::write(dir.path().join("index.json"), foreign).unwrap();
        store.set_tag("app:latest", &d).unwrap();
        let other = store.resolve("other:1").unwrap().unwrap();
        assert_eq!(other.extra["platform"]["architecture"], "arm64");
        let text = std::fs::read_to_string(dir.path().join("index.json")).unwrap();
        assert!(
            text.contains(r#""platform":{"architecture":"arm64","os":"linux"}"#),
            "{text}"
        );
    }

    #[test]
    fn concurrent_tagging_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = desc(&store, b"m");
        std::thread::scope(|s| {
            for i in 0..8 {
                let (store, d) = (store.clone(), d.clone());
                s.spawn(move || store.set_tag(&format!("t{i}:latest"), &d).unwrap());
            }
        });
        assert_eq!(store.tags().unwrap().len(), 8);
    }
}
