//! `check()` finds damage; `gc_candidates()` finds unreferenced blobs.
#![allow(clippy::unwrap_used)]

mod common;

use serde_json::json;
use strata_store::{Descriptor, Digest, OCI_INDEX, Store};

#[test]
fn check_finds_a_corrupted_blob_and_a_dangling_reference() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let good = common::minimal_image(&store, "good");
    let broken = common::minimal_image(&store, "broken");
    store.set_tag("good:1", &good.manifest).unwrap();
    store.set_tag("broken:1", &broken.manifest).unwrap();
    assert!(store.check().unwrap().is_clean());

    // Both images share the layer; corrupt the good one's config and
    // remove the broken one's config.
    std::fs::write(store.blob_path(&good.config), b"{}").unwrap();
    store.remove_blob(&broken.config).unwrap();
    std::fs::write(dir.path().join("blobs/sha256/not-a-digest"), b"x").unwrap();

    let report = store.check().unwrap();
    assert!(!report.is_clean());
    assert_eq!(report.corrupt.len(), 1);
    assert_eq!(report.corrupt[0].digest, good.config);
    assert_eq!(report.corrupt[0].found, Digest::of(b"{}"));
    assert_eq!(report.dangling.len(), 1);
    assert_eq!(report.dangling[0].descriptor.digest, broken.config);
    assert_eq!(
        report.dangling[0].referenced_by.as_ref(),
        Some(&broken.manifest.digest)
    );
    assert_eq!(
        report.stray,
        vec![dir.path().join("blobs/sha256/not-a-digest")]
    );
    assert!(report.unreadable.is_empty());
}

#[test]
fn check_reports_a_missing_tagged_manifest_and_a_corrupt_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let missing = Descriptor::new(strata_store::OCI_MANIFEST, Digest::of(b"gone"), 4);
    store.set_tag("gone:1", &missing).unwrap();
    let image = common::minimal_image(&store, "x");
    store.set_tag("x:1", &image.manifest).unwrap();
    std::fs::write(store.blob_path(&image.manifest.digest), b"not json").unwrap();

    let report = store.check().unwrap();
    assert_eq!(report.dangling.len(), 1);
    assert_eq!(report.dangling[0].descriptor.digest, missing.digest);
    assert_eq!(report.dangling[0].referenced_by, None);
    assert_eq!(report.unreadable.len(), 1);
    assert_eq!(report.unreadable[0].0, image.manifest.digest);
    // The references of an unreadable manifest are unknown: no GC.
    assert!(store.gc_candidates(&[]).is_err());
}

#[test]
fn gc_candidates_are_blobs_no_root_reaches_through_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let kept = common::minimal_image(&store, "kept");
    let extra = common::minimal_image(&store, "extra");
    let dropped = common::minimal_image(&store, "dropped");
    let loose = store.write_blob(b"loose").unwrap();

    // Tag an image index that lists the kept manifest.
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [kept.manifest],
    });
    let (digest, size) = store.put_json(&index).unwrap();
    store
        .set_tag("multi:1", &Descriptor::new(OCI_INDEX, digest, size))
        .unwrap();

    let candidates: Vec<Digest> = store
        .gc_candidates(std::slice::from_ref(&extra.manifest))
        .unwrap()
        .into_iter()
        .map(|b| b.digest)
        .collect();
    let mut want = vec![dropped.config, dropped.manifest.digest, loose];
    want.sort();
    assert_eq!(candidates, want);
    // The shared layer is still referenced.
    assert!(!candidates.contains(&kept.layer));
    for d in &candidates {
        store.remove_blob(d).unwrap();
    }
    assert!(store.check().unwrap().is_clean());
}

#[test]
fn claim_blob_marks_a_present_blob_as_written_now() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let digest = store.write_blob(b"layer bytes").unwrap();
    let path = store.blob_path(&digest);
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    std::fs::File::options()
        .append(true)
        .open(&path)
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert!(store.claim_blob(&digest));
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    assert!(modified > old + std::time::Duration::from_secs(86_400 * 365));
    assert!(!store.claim_blob(&Digest::of(b"absent")));
}
