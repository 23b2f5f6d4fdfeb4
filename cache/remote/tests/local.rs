//! Export to an OCI layout directory and import into another store,
//! without root: records first, blobs on demand, bad blobs refused.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use strata_cache::{CacheRecord, ImportedCache, KeyHasher, LayerBlob, RecordStore, StepInputs};
use strata_cache_remote::{CacheImport, RemoteError, build_artifact, export_local};
use strata_store::{Digest, Store};

const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    (dir, store)
}

fn record(name: &str, blob: Option<(&Digest, u64)>) -> CacheRecord {
    CacheRecord {
        key: KeyHasher::new(name).finish(),
        description: format!("RUN {name}"),
        layer: blob.map(|(d, size)| LayerBlob {
            diff_id: format!("sha256:{}", "0".repeat(64)),
            blobs: [(GZIP.to_string(), (d.to_string(), size))].into(),
        }),
        inputs: StepInputs::default(),
        created: 7,
        duration_ms: 1,
        replay: None,
    }
}

#[test]
fn records_come_first_and_blobs_only_when_fetched() {
    let (_a, a) = store();
    let blob = a.write_blob(b"layer bytes").unwrap();
    let records = vec![record("x", Some((&blob, 11))), record("empty", None)];
    let artifact = build_artifact(&a, &records, &[], GZIP).unwrap();
    assert_eq!(artifact.records, 2);
    let out = tempfile::tempdir().unwrap();
    export_local(&a, &artifact, out.path(), None).unwrap();

    let (_b, b) = store();
    let mut import = CacheImport::new(b.clone());
    assert_eq!(import.add_local(out.path()).unwrap(), 2);
    assert!(!b.has_blob(&blob), "no layer is fetched on import");
    let got = import.lookup(&records[0].key).unwrap();
    assert_eq!(got, records[0]);
    assert!(import.fetch(&blob).unwrap());
    assert_eq!(b.read_blob(&blob).unwrap(), b"layer bytes");
    assert!(!import.fetch(&Digest::of(b"unknown")).unwrap());

    // The hit is kept locally now that its blob is here.
    let local = RecordStore::open(b.root().join("cache-v1")).unwrap();
    assert_eq!(import.adopt_hits(&local).unwrap(), 1);
    assert_eq!(
        local.get(&records[0].key).unwrap(),
        Some(records[0].clone())
    );

    // The same records give the same artifact.
    let again = build_artifact(&a, &records, &[], GZIP).unwrap();
    assert_eq!(again.manifest.digest, artifact.manifest.digest);
}

#[test]
fn a_blob_not_matching_its_digest_is_refused_and_leaves_nothing() {
    let (_a, a) = store();
    let blob = a.write_blob(b"layer bytes").unwrap();
    let artifact = build_artifact(&a, &[record("x", Some((&blob, 11)))], &[], GZIP).unwrap();
    let out = tempfile::tempdir().unwrap();
    export_local(&a, &artifact, out.path(), None).unwrap();
    std::fs::write(
        out.path().join("blobs/sha256").join(blob.hex()),
        b"layer bytez",
    )
    .unwrap();

    let (_b, b) = store();
    let mut import = CacheImport::new(b.clone());
    import.add_local(out.path()).unwrap();
    let err = import.fetch(&blob).unwrap_err();
    assert!(matches!(err, RemoteError::DigestMismatch { .. }), "{err}");
    assert!(!b.has_blob(&blob));
    assert!(b.temp_files().unwrap().is_empty());
}

#[test]
fn a_layer_without_a_blob_is_not_exported_and_other_layouts_are_refused() {
    let (_a, a) = store();
    let out = tempfile::tempdir().unwrap();
    let mut listed = record("x", None);
    listed.layer = Some(LayerBlob {
        diff_id: "sha256:00".into(),
        blobs: BTreeMap::new(),
    });
    let artifact = build_artifact(&a, &[listed], &[], GZIP).unwrap();
    assert_eq!(artifact.records, 0);
    export_local(&a, &artifact, out.path(), None).unwrap();
    let (_b, b) = store();
    let mut import = CacheImport::new(b);
    assert_eq!(import.add_local(out.path()).unwrap(), 0);

    let empty = tempfile::tempdir().unwrap();
    std::fs::write(
        empty.path().join("index.json"),
        r#"{"schemaVersion":2,"manifests":[]}"#,
    )
    .unwrap();
    let err = import.add_local(empty.path()).unwrap_err().to_string();
    assert!(
        err.contains("lists no application/vnd.strata.cache.v1+json"),
        "{err}"
    );
}

#[test]
fn an_imported_record_whose_blob_is_not_a_layer_is_dropped() {
    use strata_cache_remote::format::manifest_bytes;
    use strata_cache_remote::{CACHE_ARTIFACT_TYPE, CacheConfig, FORMAT_VERSION};
    use strata_store::Descriptor;
    let dir = tempfile::tempdir().unwrap();
    let put = |bytes: &[u8]| {
        let d = Digest::of(bytes);
        let path = dir.path().join("blobs/sha256").join(d.hex());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
        Descriptor::new(CACHE_ARTIFACT_TYPE, d, bytes.len() as u64)
    };
    let unlisted = Digest::of(b"not in the manifest");
    let config = CacheConfig {
        version: FORMAT_VERSION,
        records: vec![record("x", Some((&unlisted, 3))), record("empty", None)],
        mounts: Vec::new(),
    };
    let config = put(&serde_json::to_vec(&config).unwrap());
    let manifest = put(&manifest_bytes(&config, &[]));
    std::fs::write(
        dir.path().join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"{CACHE_ARTIFACT_TYPE}","digest":"{}","size":{}}}]}}"#,
            manifest.digest, manifest.size
        ),
    )
    .unwrap();
    let (_b, b) = store();
    let mut import = CacheImport::new(b);
    assert_eq!(import.add_local(dir.path()).unwrap(), 1);
    assert!(import.record(&KeyHasher::new("x").finish()).is_none());
    assert!(import.record(&KeyHasher::new("empty").finish()).is_some());
}
