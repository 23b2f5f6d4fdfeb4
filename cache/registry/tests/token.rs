//! The bearer token flow against a real `docker-registry` configured for
//! token auth, with a token server in the test that signs JWTs (RS256,
//! `x5c` chain) with a key made by `openssl`.

#![allow(clippy::unwrap_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use strata_registry::{
    Anonymous, Client, Credential, PullOptions, PushOptions, Reference, RegistryError,
    StaticCredentials, no_progress,
};
use strata_store::Store;
use support::{Registry, Seen, TinyServer, b64, b64url, blobs_of, bytes, image};

const SERVICE: &str = "strata-registry";
const ISSUER: &str = "strata-test-issuer";

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn query(target: &str) -> Vec<(String, String)> {
    let q = target.split_once('?').map_or("", |(_, q)| q);
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect()
}

/// A signed JWT granting every action of every requested scope.
fn token(dir: &Path, scopes: &[String]) -> String {
    let cert_der = std::fs::read(dir.join("cert.der")).unwrap();
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [b64(&cert_der)]});
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .flat_map(|s| s.split(' '))
        .filter_map(|s| {
            let (kind, rest) = s.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            Some(serde_json::json!({
                "type": kind,
                "name": name,
                "actions": actions.split(',').collect::<Vec<_>>(),
            }))
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": "bob", "aud": SERVICE,
        "exp": now + 600, "nbf": now - 60, "iat": now - 60,
        "jti": format!("{now}-{}", scopes.len()),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let input = dir.join(format!("input-{}", std::process::id()));
    std::fs::write(&input, &signing_input).unwrap();
    let sig = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(dir.join("key.pem"))
        .arg(&input)
        .output()
        .unwrap();
    assert!(sig.status.success());
    format!("{signing_input}.{}", b64url(&sig.stdout))
}

fn keys(dir: &Path) {
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=strata-token",
            "-keyout",
        ])
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let ok = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(dir.join("cert.pem"))
        .arg("-out")
        .arg(dir.join("cert.der"))
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn bearer_token_flow() {
    if !support::have("openssl") {
        return;
    }
    let keydir = tempfile::tempdir().unwrap();
    keys(keydir.path());
    let dir = keydir.path().to_path_buf();
    let expected = format!("Basic {}", b64(b"bob:pw"));
    let server = TinyServer::start(move |req: &Seen| {
        if req.header("authorization") != Some(expected.as_str()) {
            return (401, vec![], br#"{"details":"bad credentials"}"#.to_vec());
        }
        let scopes: Vec<String> = query(&req.target)
            .into_iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v)
            .collect();
        let body = serde_json::json!({"token": token(&dir, &scopes), "expires_in": 600});
        (
            200,
            vec![("Content-Type".into(), "application/json".into())],
            body.to_string().into_bytes(),
        )
    });
    let Some(reg) = Registry::start(&format!(
        "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
        server.port,
        keydir.path().join("cert.pem").display()
    )) else {
        return;
    };
    let srcdir = tempfile::tempdir().unwrap();
    let src = Store::open(srcdir.path()).unwrap();
    let manifest = image(&src, &[bytes(40, 4000), bytes(41, 100)], "linux", "amd64");
    let dest = Reference::parse(&format!("{}/test/tok:1", reg.host())).unwrap();
    let creds = |password: &str| {
        StaticCredentials(BTreeMap::from([(
            reg.host(),
            Credential::Basic {
                username: "bob".into(),
                password: password.into(),
            },
        )]))
    };

    let client = Client::builder().credentials(creds("pw")).build().unwrap();
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
    let seen = server.seen();
    let first = query(&seen[0].target);
    assert!(
        first.contains(&("service".into(), SERVICE.into())),
        "{first:?}"
    );
    assert!(
        first.contains(&("account".into(), "bob".into())),
        "{first:?}"
    );
    assert!(
        first.contains(&("scope".into(), "repository:test/tok:pull,push".into())),
        "{first:?}"
    );
    assert_eq!(seen.len(), 1, "one token serves the whole push (cached)");

    let dstdir = tempfile::tempdir().unwrap();
    let dst = Store::open(dstdir.path()).unwrap();
    let pulled = client
        .pull(&dst, &dest, &PullOptions::default(), &no_progress)
        .unwrap();
    assert_eq!(pulled.manifest.digest, manifest.digest);
    let last = query(&server.seen().last().unwrap().target);
    assert!(
        last.contains(&("scope".into(), "repository:test/tok:pull".into())),
        "{last:?}"
    );

    let err = Client::builder()
        .credentials(creds("nope"))
        .build()
        .unwrap()
        .pull(&dst, &dest, &PullOptions::default(), &no_progress)
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("token server"), "{err}");
    let err = Client::builder()
        .credentials(Anonymous)
        .build()
        .unwrap()
        .pull(&dst, &dest, &PullOptions::default(), &no_progress)
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
}
