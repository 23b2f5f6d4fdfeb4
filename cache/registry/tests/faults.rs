//! A misbehaving registry (a tiny server in the test): retries of 429 and
//! 5xx are bounded, and wrong, short or long blobs leave nothing in the
//! store.

#![allow(clippy::unwrap_used, clippy::panic)]

mod support;

use std::time::Duration;
use strata_registry::{Anonymous, Client, PullOptions, Reference, RegistryError, no_progress};
use strata_store::{OCI_MANIFEST, Store};
use support::{Answer, Seen, TinyServer, sha, temp_files};

fn client(retries: u32) -> Client {
    Client::builder()
        .credentials(Anonymous)
        .retries(retries, Duration::from_millis(1))
        .build()
        .unwrap()
}

fn ok(content_type: &str, body: &[u8]) -> Answer {
    (
        200,
        vec![
            ("Content-Type".into(), content_type.into()),
            ("Docker-Content-Digest".into(), sha(body).to_string()),
        ],
        body.to_vec(),
    )
}

fn manifest(config: &[u8], layer: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config).to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(layer).to_string(), "size": layer.len()}],
    }))
    .unwrap()
}

#[test]
fn retries_429_and_5xx_then_succeeds() {
    let m = manifest(b"{}", b"layer");
    let m2 = m.clone();
    let server = TinyServer::start(move |req: &Seen| {
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        if req.target == "/v2/" {
            return (200, vec![], vec![]);
        }
        match CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => (429, vec![("Retry-After".into(), "0".into())], vec![]),
            1 => (503, vec![], b"busy".to_vec()),
            _ => ok(OCI_MANIFEST, &m2),
        }
    });
    let r = Reference::parse(&format!("127.0.0.1:{}/x/app:1", server.port)).unwrap();
    let desc = client(3).resolve(&r).unwrap();
    assert_eq!(desc.digest, sha(&m));
    assert_eq!(desc.size, m.len() as u64);
    assert_eq!(desc.media_type, OCI_MANIFEST);
    let heads = server.seen().iter().filter(|s| s.method == "HEAD").count();
    assert_eq!(heads, 3);
}

#[test]
fn retries_are_bounded() {
    let server = TinyServer::start(|req: &Seen| {
        if req.target == "/v2/" {
            return (200, vec![], vec![]);
        }
        (
            503,
            vec![],
            br#"{"errors":[{"code":"UNAVAILABLE","message":"down for maintenance"}]}"#.to_vec(),
        )
    });
    let r = Reference::parse(&format!("127.0.0.1:{}/x/app:1", server.port)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let err = client(2)
        .pull(&store, &r, &PullOptions::default(), &no_progress)
        .unwrap_err();
    match &err {
        RegistryError::Status {
            status, message, ..
        } => {
            assert_eq!(*status, 503);
            assert_eq!(message, "UNAVAILABLE: down for maintenance");
        }
        other => panic!("{other:?}"),
    }
    let gets = server
        .seen()
        .iter()
        .filter(|s| s.target.contains("/manifests/"))
        .count();
    assert_eq!(gets, 3, "one try and two retries");
}

/// Serves a manifest whose layer is `layer` but sends `served` for it.
fn pull_with_served_layer(
    layer: &'static [u8],
    served: &'static [u8],
) -> (RegistryError, Store, tempfile::TempDir) {
    let config = b"{\"os\":\"linux\"}";
    let m = manifest(config, layer);
    let server = TinyServer::start(move |req: &Seen| {
        let t = req.target.as_str();
        if t == "/v2/" {
            (200, vec![], vec![])
        } else if t.starts_with("/v2/x/app/manifests/") {
            ok(OCI_MANIFEST, &m)
        } else if t == format!("/v2/x/app/blobs/{}", sha(config)) {
            ok("application/octet-stream", config)
        } else if t == format!("/v2/x/app/blobs/{}", sha(layer)) {
            (200, vec![], served.to_vec())
        } else {
            (404, vec![], vec![])
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let r = Reference::parse(&format!("127.0.0.1:{}/x/app:1", server.port)).unwrap();
    let err = client(0)
        .pull(&store, &r, &PullOptions::default(), &no_progress)
        .unwrap_err();
    assert!(!store.has_blob(&sha(layer)), "no blob for a bad download");
    assert_eq!(temp_files(&store), 0, "no temp file left");
    assert!(
        store.tags().unwrap().is_empty(),
        "a failed pull tags nothing"
    );
    (err, store, dir)
}

#[test]
fn corrupt_blob_is_refused() {
    let (err, store, _dir) = pull_with_served_layer(b"the real layer", b"the fake layer");
    match err {
        RegistryError::DigestMismatch {
            expected, found, ..
        } => {
            assert_eq!(expected, sha(b"the real layer"));
            assert_eq!(found, sha(b"the fake layer"));
            assert!(!store.has_blob(&found));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn short_and_long_blobs_are_refused() {
    let (err, _s, _d) = pull_with_served_layer(b"the real layer", b"the real");
    assert!(
        matches!(
            err,
            RegistryError::SizeMismatch {
                expected: 14,
                found: 8,
                ..
            }
        ),
        "{err}"
    );
    let (err, _s, _d) = pull_with_served_layer(b"the real layer", b"the real layer, and more");
    assert!(
        matches!(err, RegistryError::SizeMismatch { expected: 14, .. }),
        "{err}"
    );
}

#[test]
fn manifest_not_matching_its_digest_is_refused() {
    let m = manifest(b"{}", b"l");
    let server = TinyServer::start(move |req: &Seen| {
        if req.target == "/v2/" {
            return (200, vec![], vec![]);
        }
        let mut a = ok(OCI_MANIFEST, &m);
        a.1[1].1 = sha(b"something else").to_string();
        a
    });
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let r = Reference::parse(&format!("127.0.0.1:{}/x/app:1", server.port)).unwrap();
    let err = client(0)
        .pull(&store, &r, &PullOptions::default(), &no_progress)
        .unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
    assert_eq!(store.check().unwrap().blobs_checked, 0, "nothing stored");
}

#[test]
fn single_blob_calls_report_absence_errors_and_corruption() {
    let good = b"cache layer";
    let server = TinyServer::start(move |req: &Seen| {
        let t = req.target.as_str();
        if t == "/v2/" {
            (200, vec![], vec![])
        } else if t == format!("/v2/c/cache/blobs/{}", sha(good)) {
            // HEAD says it is there; GET serves other bytes.
            (200, vec![], b"cache layeR".to_vec())
        } else if t.contains("/v2/broken/") {
            (500, vec![], b"internal".to_vec())
        } else {
            (404, vec![], vec![])
        }
    });
    let r = Reference::parse(&format!("127.0.0.1:{}/c/cache:1", server.port)).unwrap();
    let broken = Reference::parse(&format!("127.0.0.1:{}/broken/x:1", server.port)).unwrap();
    let c = client(1);
    assert!(c.blob_exists(&r, &sha(good)).unwrap());
    assert!(!c.blob_exists(&r, &sha(b"other")).unwrap());
    let err = c.blob_exists(&broken, &sha(good)).unwrap_err();
    assert!(
        matches!(err, RegistryError::Status { status: 500, .. }),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let desc = strata_store::Descriptor::new("application/octet-stream", sha(good), 11);
    let err = c.fetch_blob_into(&store, &r, &desc).unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
    assert!(!store.has_blob(&sha(good)));
    assert_eq!(temp_files(&store), 0, "no temp file left");
    let missing = strata_store::Descriptor::new("application/octet-stream", sha(b"gone"), 4);
    let err = c.fetch_blob_into(&store, &r, &missing).unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");
}
