//! Pull: manifest (index resolved to a platform), then config and layers
//! streamed into the store in parallel, each verified by digest.

use crate::client::{Payload, Req, Scope, error_text};
use crate::manifest::{self, MANIFEST_ACCEPT, MAX_MANIFEST_SIZE, Parsed};
use crate::progress::{Progress, ProgressEvent, ProgressFn};
use crate::{Client, Platform, Reference, RegistryError};
use std::io::{Read, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use strata_store::{Descriptor, Digest, Store, StoreError};

/// How to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The platform an index is resolved to (default: the host's).
    pub platform: Platform,
    /// Blobs downloaded at once (default 3).
    pub jobs: usize,
    /// Tag the platform's manifest in the store under the normalised
    /// reference (default true).
    pub tag: bool,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            platform: Platform::host(),
            jobs: 3,
            tag: true,
        }
    }
}

/// What a pull stored.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The image manifest for the platform; its digest identifies the
    /// base image. Index entries keep their `platform` in `extra`.
    pub manifest: Descriptor,
    /// The index the reference named, when it named one (stored as well;
    /// manifests of other platforms are not downloaded).
    pub index: Option<Descriptor>,
    /// Blobs downloaded, sorted.
    pub downloaded: Vec<Digest>,
    /// Blobs the store already had, sorted.
    pub present: Vec<Digest>,
}

impl Client {
    /// The descriptor a reference names now (index or manifest), asking
    /// the registry with `HEAD` (a `GET` when it sends no digest): what
    /// `--pull` compares with the store's copy.
    pub fn resolve(&self, r: &Reference) -> Result<Descriptor, RegistryError> {
        let url = self.url(r, &format!("manifests/{}", r.manifest_reference()))?;
        let req = Req::new("HEAD", url.clone()).header("Accept", MANIFEST_ACCEPT);
        let resp = self.execute(r, &Scope::pull(r.repository()), &req)?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Err(not_found_manifest(r)),
            status => {
                return Err(RegistryError::Status {
                    method: "HEAD",
                    url,
                    status,
                    message: error_text(resp),
                });
            }
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let digest = header("docker-content-digest").and_then(|d| d.parse::<Digest>().ok());
        let size = header("content-length").and_then(|s| s.parse::<u64>().ok());
        let media_type = header("content-type");
        match (digest, size, media_type) {
            (Some(d), Some(size), Some(mt))
                if manifest::is_index(&mt) || manifest::is_manifest(&mt) =>
            {
                if let Some(want) = r.digest()
                    && *want != d
                {
                    return Err(RegistryError::DigestMismatch {
                        what: format!("manifest {r}"),
                        expected: want.clone(),
                        found: d,
                    });
                }
                Ok(Descriptor::new(mt, d, size))
            }
            _ => {
                let (bytes, mt, d) = self.fetch_manifest(r, r.manifest_reference())?;
                Ok(Descriptor::new(mt, d, bytes.len() as u64))
            }
        }
    }

    /// Pulls `r` into `store`: the manifest (an index is stored too and
    /// resolved to `options.platform`), then the config and layers the
    /// store lacks, `options.jobs` at a time, streamed to disk and verified
    /// by digest. Tags the manifest under `r` (normalised, e.g.
    /// `docker.io/library/python:latest`) unless told not to.
    pub fn pull(
        &self,
        store: &Store,
        r: &Reference,
        options: &PullOptions,
        progress: ProgressFn<'_>,
    ) -> Result<Pulled, RegistryError> {
        let (bytes, media_type, digest) = self.fetch_manifest(r, r.manifest_reference())?;
        store_bytes(store, &bytes, &digest)?;
        let top = Descriptor::new(media_type.clone(), digest, bytes.len() as u64);
        let what = format!("manifest {r}");
        let (manifest_desc, manifest_bytes, index) = if manifest::is_index(&media_type) {
            let Parsed::Index { manifests } = manifest::parse(&what, &media_type, &bytes)? else {
                return Err(invalid(&what, "an index without manifests"));
            };
            let chosen = manifest::choose(&r.to_string(), &manifests, &options.platform)?;
            let (child, child_type, child_digest) =
                self.fetch_manifest(r, chosen.digest.as_str())?;
            if !manifest::is_manifest(&child_type) {
                return Err(invalid(
                    &format!("manifest {}", chosen.digest),
                    &format!("an index entry must be an image manifest, not {child_type}"),
                ));
            }
            store_bytes(store, &child, &child_digest)?;
            let mut desc = chosen.clone();
            desc.media_type = child_type;
            desc.size = child.len() as u64;
            desc.annotations.clear();
            (desc, child, Some(top))
        } else {
            (top, bytes, None)
        };
        let what = format!("manifest {}", manifest_desc.digest);
        let Parsed::Manifest { config, layers } =
            manifest::parse(&what, &manifest_desc.media_type, &manifest_bytes)?
        else {
            return Err(invalid(&what, "expected an image manifest"));
        };
        let mut blobs: Vec<Descriptor> = Vec::new();
        for d in std::iter::once(config).chain(layers) {
            if !manifest::is_foreign(&d.media_type) && !blobs.iter().any(|b| b.digest == d.digest) {
                blobs.push(d);
            }
        }
        let (mut present, missing): (Vec<Descriptor>, Vec<Descriptor>) =
            blobs.into_iter().partition(|d| store.claim_blob(&d.digest));
        for d in &present {
            progress(&Progress {
                digest: d.digest.clone(),
                size: d.size,
                event: ProgressEvent::Present,
            });
        }
        self.fetch_blobs(store, r, &missing, options.jobs, progress)?;
        for d in present.iter().chain(&missing) {
            self.remember_blob(r, &d.digest);
        }
        if options.tag {
            store.set_tag(&r.to_string(), &manifest_desc)?;
        }
        let mut downloaded: Vec<Digest> = missing.into_iter().map(|d| d.digest).collect();
        downloaded.sort();
        present.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(Pulled {
            manifest: manifest_desc,
            index,
            downloaded,
            present: present.into_iter().map(|d| d.digest).collect(),
        })
    }

    /// GETs a manifest by tag or digest; returns its bytes, media type and
    /// digest, checked against the digest asked for or announced.
    pub(crate) fn fetch_manifest(
        &self,
        r: &Reference,
        reference: &str,
    ) -> Result<(Vec<u8>, String, Digest), RegistryError> {
        let url = self.url(r, &format!("manifests/{reference}"))?;
        let req = Req::new("GET", url.clone()).header("Accept", MANIFEST_ACCEPT);
        let resp = self.execute(r, &Scope::pull(r.repository()), &req)?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Err(not_found_manifest(&r.with_reference(reference))),
            status => {
                return Err(RegistryError::Status {
                    method: "GET",
                    url,
                    status,
                    message: error_text(resp),
                });
            }
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header("content-type");
        let announced = header("docker-content-digest");
        let mut body = resp.into_body();
        let bytes = body
            .with_config()
            .limit(MAX_MANIFEST_SIZE)
            .read_to_vec()
            .map_err(|e| RegistryError::Transport {
                method: "GET",
                url: url.clone(),
                message: e.to_string(),
            })?;
        let digest = Digest::of(&bytes);
        let expected = match reference.parse::<Digest>() {
            Ok(d) => Some(d),
            Err(_) => announced.and_then(|a| a.parse::<Digest>().ok()),
        };
        if let Some(expected) = expected
            && expected != digest
        {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest {url}"),
                expected,
                found: digest,
            });
        }
        let media_type = manifest::media_type_of(&url, content_type.as_deref(), &bytes)?;
        Ok((bytes, media_type, digest))
    }

    fn fetch_blobs(
        &self,
        store: &Store,
        r: &Reference,
        blobs: &[Descriptor],
        jobs: usize,
        progress: ProgressFn<'_>,
    ) -> Result<(), RegistryError> {
        let next = AtomicUsize::new(0);
        let failed: Mutex<Option<RegistryError>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..jobs.clamp(1, blobs.len().max(1)) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(desc) = blobs.get(i) else { break };
                        if failed.lock().map(|f| f.is_some()).unwrap_or(true) {
                            break;
                        }
                        if let Err(e) = self.fetch_blob(store, r, desc, progress)
                            && let Ok(mut f) = failed.lock()
                        {
                            f.get_or_insert(e);
                        }
                    }
                });
            }
        });
        match failed.into_inner() {
            Ok(Some(e)) => Err(e),
            _ => Ok(()),
        }
    }

    /// Downloads one blob into the store, retrying a broken stream.
    pub(crate) fn fetch_blob(
        &self,
        store: &Store,
        r: &Reference,
        desc: &Descriptor,
        progress: ProgressFn<'_>,
    ) -> Result<(), RegistryError> {
        let url = self.url(r, &format!("blobs/{}", desc.digest))?;
        let mut attempt = 0;
        loop {
            match self.fetch_blob_once(store, r, &url, desc, progress) {
                Err(RegistryError::Transport { .. }) if attempt < 2 => attempt += 1,
                other => return other,
            }
        }
    }

    fn fetch_blob_once(
        &self,
        store: &Store,
        r: &Reference,
        url: &str,
        desc: &Descriptor,
        progress: ProgressFn<'_>,
    ) -> Result<(), RegistryError> {
        let req = Req::new("GET", url.to_string()).body(Payload::None);
        let resp = self.execute(r, &Scope::pull(r.repository()), &req)?;
        match resp.status().as_u16() {
            200 => {}
            404 => {
                return Err(RegistryError::NotFound {
                    what: format!("blob {} in {}", desc.digest, r.name()),
                });
            }
            status => {
                return Err(RegistryError::Status {
                    method: "GET",
                    url: url.to_string(),
                    status,
                    message: error_text(resp),
                });
            }
        }
        let transport = |e: std::io::Error| RegistryError::Transport {
            method: "GET",
            url: url.to_string(),
            message: e.to_string(),
        };
        let mut reader = resp.into_body().into_reader();
        let mut writer = store.blob_writer()?;
        let mut buf = vec![0u8; 256 << 10];
        let mut done: u64 = 0;
        let mut last_report: u64 = 0;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(transport(e)),
            };
            done += n as u64;
            if done > desc.size {
                return Err(RegistryError::SizeMismatch {
                    digest: desc.digest.clone(),
                    expected: desc.size,
                    found: done,
                });
            }
            writer.write_all(&buf[..n]).map_err(|e| StoreError::Io {
                path: store.root().join("tmp"),
                source: e,
            })?;
            if done - last_report >= 1 << 20 || done == desc.size {
                last_report = done;
                progress(&Progress {
                    digest: desc.digest.clone(),
                    size: desc.size,
                    event: ProgressEvent::Bytes(done),
                });
            }
        }
        if done != desc.size {
            return Err(RegistryError::SizeMismatch {
                digest: desc.digest.clone(),
                expected: desc.size,
                found: done,
            });
        }
        writer.commit(Some(&desc.digest)).map_err(|e| match e {
            StoreError::DigestMismatch { expected, found } => RegistryError::DigestMismatch {
                what: format!("blob {url}"),
                expected,
                found,
            },
            e => e.into(),
        })?;
        progress(&Progress {
            digest: desc.digest.clone(),
            size: desc.size,
            event: ProgressEvent::Done,
        });
        Ok(())
    }
}

impl Reference {
    /// The same repository at a tag or digest string (for messages).
    fn with_reference(&self, reference: &str) -> Reference {
        match reference.parse::<Digest>() {
            Ok(d) => self.with_digest(&d),
            Err(_) => self.with_tag(reference).unwrap_or_else(|_| self.clone()),
        }
    }
}

fn not_found_manifest(r: &Reference) -> RegistryError {
    RegistryError::NotFound {
        what: format!("manifest {r}"),
    }
}

fn invalid(what: &str, message: &str) -> RegistryError {
    RegistryError::InvalidManifest {
        what: what.to_string(),
        message: message.to_string(),
    }
}

/// Stores bytes already hashed, refusing them if they do not match.
pub(crate) fn store_bytes(
    store: &Store,
    bytes: &[u8],
    digest: &Digest,
) -> Result<(), RegistryError> {
    if store.claim_blob(digest) {
        return Ok(());
    }
    let mut w = store.blob_writer()?;
    w.write_all(bytes).map_err(|e| StoreError::Io {
        path: store.root().join("tmp"),
        source: e,
    })?;
    w.commit(Some(digest))?;
    Ok(())
}
