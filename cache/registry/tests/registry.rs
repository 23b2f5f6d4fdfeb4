//! Pull and push against a real `docker-registry` on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::sync::Mutex;
use strata_registry::{
    Anonymous, Client, Credential, DockerConfig, Platform, Progress, ProgressEvent, PullOptions,
    PushOptions, Reference, RegistryError, StaticCredentials, no_progress,
};
use strata_store::Store;
use support::{Registry, blobs_of, bytes, image, index, temp_files};

fn anonymous() -> Client {
    Client::builder().credentials(Anonymous).build().unwrap()
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn push_then_pull_round_trip_with_chunks_and_skips() {
    let Some(reg) = Registry::start("") else {
        return;
    };
    let (_a, src) = store();
    // 3 MiB in 1 MiB chunks (PATCH), two small layers in one PUT each.
    let layers = vec![bytes(1, 3 << 20), bytes(2, 1000), bytes(3, 10)];
    let manifest = image(&src, &layers, "linux", "amd64");
    src.set_tag("app:latest", &manifest).unwrap();
    let dest = Reference::parse(&format!("{}/test/app:v1", reg.host())).unwrap();
    let opts = PushOptions {
        chunk_size: 1 << 20,
        ..PushOptions::default()
    };
    let events = Mutex::new(Vec::<Progress>::new());
    let record = |p: &Progress| events.lock().unwrap().push(p.clone());
    let client = anonymous();
    let report = client
        .push_tag(&src, "app:latest", &dest, &opts, &record)
        .unwrap();
    assert_eq!(report.uploaded, blobs_of(&src, &manifest));
    assert!(report.existing.is_empty() && report.mounted.is_empty());
    assert_eq!(report.manifests, vec![manifest.digest.clone()]);
    let big = support::sha(&layers[0]);
    let sent: Vec<u64> = events
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.digest == big)
        .filter_map(|p| match p.event {
            ProgressEvent::Bytes(n) => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(sent.last(), Some(&(3 << 20)), "progress reaches the size");
    assert!(sent.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(
        reg.count("PATCH /v2/test/app/blobs/uploads/"),
        3,
        "{}",
        reg.log()
    );
    let posts = reg.count("POST /v2/test/app/blobs/uploads/");
    assert_eq!(posts, 4, "config and three layers");

    // A second push uploads nothing: HEAD finds every blob.
    let again = anonymous()
        .push_tag(&src, "app:latest", &dest, &opts, &no_progress)
        .unwrap();
    assert!(again.uploaded.is_empty(), "{again:?}");
    assert_eq!(again.existing, blobs_of(&src, &manifest));
    assert_eq!(reg.count("POST /v2/test/app/blobs/uploads/"), posts);

    // Pull into an empty store.
    let (_b, dst) = store();
    let pulled = anonymous()
        .pull(&dst, &dest, &PullOptions::default(), &no_progress)
        .unwrap();
    assert_eq!(pulled.manifest.digest, manifest.digest);
    assert!(pulled.index.is_none());
    assert_eq!(pulled.downloaded, blobs_of(&src, &manifest));
    for d in blobs_of(&src, &manifest) {
        assert_eq!(dst.read_blob(&d).unwrap(), src.read_blob(&d).unwrap());
    }
    let tagged = dst.resolve(&dest.to_string()).unwrap().unwrap();
    assert_eq!(tagged.digest, manifest.digest);
    assert!(dst.check().unwrap().dangling.is_empty());
    assert_eq!(temp_files(&dst), 0);

    // Again: nothing downloaded. By digest: the same manifest.
    let by_digest = dest.with_digest(&manifest.digest);
    let again = anonymous()
        .pull(&dst, &by_digest, &PullOptions::default(), &no_progress)
        .unwrap();
    assert!(again.downloaded.is_empty());
    assert_eq!(again.present, blobs_of(&src, &manifest));
    assert_eq!(
        anonymous().resolve(&dest).unwrap().digest,
        manifest.digest,
        "HEAD names the pushed manifest"
    );

    // skopeo reads what strata pushed.
    if support::have("skopeo") {
        let out = std::process::Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{}/test/app:v1", reg.host()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(support::sha(&out.stdout), manifest.digest);
        let out = std::process::Command::new("skopeo")
            .args(["inspect", "--tls-verify=false"])
            .arg(format!("docker://{}/test/app:v1", reg.host()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["Digest"], manifest.digest.to_string());
        assert_eq!(v["Architecture"], "amd64");
        assert_eq!(v["Layers"].as_array().unwrap().len(), 3);
    }
}

#[test]
fn cross_repository_mounts() {
    let Some(reg) = Registry::start("") else {
        return;
    };
    let (_a, src) = store();
    let manifest = image(&src, &[bytes(10, 5000), bytes(11, 7000)], "linux", "amd64");
    let a = Reference::parse(&format!("{}/test/a:1", reg.host())).unwrap();
    let b = Reference::parse(&format!("{}/test/b:1", reg.host())).unwrap();
    let client = anonymous();
    let opts = PushOptions::default();
    client
        .push(&src, &manifest, &a, &opts, &no_progress)
        .unwrap();
    // The same client knows test/a holds the blobs.
    let report = client
        .push(&src, &manifest, &b, &opts, &no_progress)
        .unwrap();
    assert_eq!(report.mounted, blobs_of(&src, &manifest), "{report:?}");
    assert!(report.uploaded.is_empty());
    assert_eq!(reg.count("POST /v2/test/b/blobs/uploads/?mount="), 3);

    // A new client learns it from the store: a store that pulled test/a.
    let (_b, other) = store();
    anonymous()
        .pull(&other, &a, &PullOptions::default(), &no_progress)
        .unwrap();
    let c = Reference::parse(&format!("{}/test/c:1", reg.host())).unwrap();
    let report = anonymous()
        .push(&other, &manifest, &c, &opts, &no_progress)
        .unwrap();
    assert_eq!(report.mounted, blobs_of(&src, &manifest));

    // Or from an explicit source repository.
    let d = Reference::parse(&format!("{}/test/d:1", reg.host())).unwrap();
    let explicit = PushOptions {
        mount_from: vec![a.clone()],
        ..PushOptions::default()
    };
    let report = anonymous()
        .push(&src, &manifest, &d, &explicit, &no_progress)
        .unwrap();
    assert_eq!(report.mounted, blobs_of(&src, &manifest));
    // A wrong guess falls back to an upload.
    let e = Reference::parse(&format!("{}/test/e:1", reg.host())).unwrap();
    let wrong = PushOptions {
        mount_from: vec![Reference::parse(&format!("{}/test/nothing", reg.host())).unwrap()],
        ..PushOptions::default()
    };
    let report = anonymous()
        .push(&src, &manifest, &e, &wrong, &no_progress)
        .unwrap();
    assert_eq!(report.uploaded, blobs_of(&src, &manifest));
}

#[test]
fn index_is_pushed_and_resolved_to_a_platform() {
    let Some(reg) = Registry::start("") else {
        return;
    };
    let host = Platform::host();
    let other = if host.architecture == "s390x" {
        "amd64"
    } else {
        "s390x"
    };
    let (_a, src) = store();
    let mine = image(&src, &[bytes(20, 300)], "linux", &host.architecture);
    let theirs = image(&src, &[bytes(21, 400)], "linux", other);
    let idx = index(
        &src,
        &[
            (&theirs, "linux", other),
            (&mine, "linux", &host.architecture),
        ],
    );
    let dest = Reference::parse(&format!("{}/multi/app:1", reg.host())).unwrap();
    let report = anonymous()
        .push(&src, &idx, &dest, &PushOptions::default(), &no_progress)
        .unwrap();
    assert_eq!(
        report.manifests,
        [
            theirs.digest.clone(),
            mine.digest.clone(),
            idx.digest.clone()
        ]
    );

    let (_b, dst) = store();
    let host_only = PullOptions {
        platform: Platform {
            variant: None,
            ..host.clone()
        },
        ..PullOptions::default()
    };
    let pulled = anonymous()
        .pull(&dst, &dest, &host_only, &no_progress)
        .unwrap();
    assert_eq!(pulled.manifest.digest, mine.digest);
    assert_eq!(pulled.index.as_ref().unwrap().digest, idx.digest);
    assert!(dst.has_blob(&idx.digest), "the index is kept");
    assert!(!dst.has_blob(&theirs.digest));
    for d in blobs_of(&src, &theirs) {
        assert!(!dst.has_blob(&d), "other platform's blobs are not fetched");
    }
    assert_eq!(
        dst.resolve(&dest.to_string()).unwrap().unwrap().digest,
        mine.digest
    );
    assert_eq!(
        pulled.manifest.extra["platform"]["architecture"],
        host.architecture.as_str()
    );

    let s390 = PullOptions {
        platform: format!("linux/{other}").parse().unwrap(),
        tag: false,
        ..PullOptions::default()
    };
    let pulled = anonymous().pull(&dst, &dest, &s390, &no_progress).unwrap();
    assert_eq!(pulled.manifest.digest, theirs.digest);
    let none = PullOptions {
        platform: "linux/riscv64".parse().unwrap(),
        ..PullOptions::default()
    };
    match anonymous().pull(&dst, &dest, &none, &no_progress) {
        Err(RegistryError::NoMatchingPlatform { available, .. }) => {
            assert!(available.contains(other), "{available}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_things_are_not_found() {
    let Some(reg) = Registry::start("") else {
        return;
    };
    let (_a, dst) = store();
    let r = Reference::parse(&format!("{}/nope/app:1", reg.host())).unwrap();
    let err = anonymous()
        .pull(&dst, &r, &PullOptions::default(), &no_progress)
        .unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("nope/app:1"), "{err}");
    let err = anonymous()
        .push_tag(
            &dst,
            "absent:tag",
            &r,
            &PushOptions::default(),
            &no_progress,
        )
        .unwrap_err();
    assert!(matches!(err, RegistryError::NoSuchTag(_)), "{err}");
}

fn htpasswd_registry() -> Option<(Registry, tempfile::TempDir)> {
    if !support::have("htpasswd") {
        return None;
    }
    let out = std::process::Command::new("htpasswd")
        .args(["-Bbn", "alice", "s3cret"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    std::fs::write(&file, &out.stdout).unwrap();
    let reg = Registry::start(&format!(
        "auth:\n  htpasswd:\n    realm: strata-test\n    path: {}\n",
        file.display()
    ))?;
    Some((reg, dir))
}

#[test]
fn basic_auth_with_htpasswd() {
    let Some((reg, _htpasswd)) = htpasswd_registry() else {
        return;
    };
    let (_a, src) = store();
    let manifest = image(&src, &[bytes(30, 2000)], "linux", "amd64");
    let dest = Reference::parse(&format!("{}/private/app:1", reg.host())).unwrap();

    let err = anonymous()
        .push(
            &src,
            &manifest,
            &dest,
            &PushOptions::default(),
            &no_progress,
        )
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");

    let creds = |user: &str, password: &str| {
        StaticCredentials(BTreeMap::from([(
            reg.host(),
            Credential::Basic {
                username: user.into(),
                password: password.into(),
            },
        )]))
    };
    let wrong = Client::builder()
        .credentials(creds("alice", "wrong"))
        .build()
        .unwrap();
    let err = wrong
        .push(
            &src,
            &manifest,
            &dest,
            &PushOptions::default(),
            &no_progress,
        )
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
    assert!(!err.to_string().contains("wrong"), "no secret in {err}");

    let client = Client::builder()
        .credentials(creds("alice", "s3cret"))
        .build()
        .unwrap();
    let report = client
        .push(
            &src,
            &manifest,
            &dest,
            &PushOptions::default(),
            &no_progress,
        )
        .unwrap();
    assert_eq!(report.uploaded, blobs_of(&src, &manifest));
    let shown = format!("{client:?}");
    assert!(
        !shown.contains("s3cret") && shown.contains("<redacted>"),
        "{shown}"
    );

    // Pull with credentials from a docker config file.
    let conf = tempfile::tempdir().unwrap();
    let path = conf.path().join("config.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            reg.host(),
            support::b64(b"alice:s3cret")
        ),
    )
    .unwrap();
    let from_config = Client::builder()
        .credentials(DockerConfig::from_file(&path).unwrap())
        .build()
        .unwrap();
    let (_b, dst) = store();
    let pulled = from_config
        .pull(&dst, &dest, &PullOptions::default(), &no_progress)
        .unwrap();
    assert_eq!(pulled.manifest.digest, manifest.digest);
}
