//! Push: blobs the registry lacks (HEAD first, then a cross-repository
//! mount when another repository of the registry is known to hold the blob,
//! else a monolithic or chunked upload), then manifests, then the index.

use crate::client::{Payload, Req, Scope, error_text};
use crate::manifest::{self, Parsed};
use crate::progress::{Progress, ProgressEvent, ProgressFn};
use crate::{Client, Reference, RegistryError};
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use strata_store::{Descriptor, Digest, Store};

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Blobs larger than this go up in chunks of this size (`PATCH`);
    /// smaller ones in one `PUT`. Default 64 MiB.
    pub chunk_size: u64,
    /// Blobs uploaded at once (default 3).
    pub jobs: usize,
    /// Repositories to mount blobs from, besides those the client and
    /// the store's tags know (only those on the destination's registry
    /// count).
    pub mount_from: Vec<Reference>,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            chunk_size: 64 << 20,
            jobs: 3,
            mount_from: Vec::new(),
        }
    }
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// What the destination reference now names.
    pub manifest: Option<Descriptor>,
    /// Blobs uploaded, sorted.
    pub uploaded: Vec<Digest>,
    /// Blobs the registry already had, sorted.
    pub existing: Vec<Digest>,
    /// Blobs mounted from another repository, sorted.
    pub mounted: Vec<Digest>,
    /// Manifests put (child manifests of an index first), in order.
    pub manifests: Vec<Digest>,
}

impl PushReport {
    fn merge(&mut self, other: PushReport) {
        self.uploaded.extend(other.uploaded);
        self.existing.extend(other.existing);
        self.mounted.extend(other.mounted);
        self.manifests.extend(other.manifests);
        for v in [&mut self.uploaded, &mut self.existing, &mut self.mounted] {
            v.sort();
            v.dedup();
        }
    }
}

enum Outcome {
    Existing,
    Mounted,
    Uploaded,
}

impl Client {
    /// Pushes the image a store tag names (`app:latest`) to `dest`.
    pub fn push_tag(
        &self,
        store: &Store,
        tag: &str,
        dest: &Reference,
        options: &PushOptions,
        progress: ProgressFn<'_>,
    ) -> Result<PushReport, RegistryError> {
        let desc = store
            .resolve(tag)?
            .ok_or_else(|| RegistryError::NoSuchTag(tag.to_string()))?;
        self.push(store, &desc, dest, options, progress)
    }

    /// Pushes a manifest or an index (with every manifest it lists, each
    /// of which must be in the store) and the blobs they need, then puts
    /// the top one under `dest`'s tag (or digest).
    pub fn push(
        &self,
        store: &Store,
        desc: &Descriptor,
        dest: &Reference,
        options: &PushOptions,
        progress: ProgressFn<'_>,
    ) -> Result<PushReport, RegistryError> {
        let bytes = store.read_blob(&desc.digest)?;
        let what = format!("manifest {}", desc.digest);
        match manifest::parse(&what, &desc.media_type, &bytes)? {
            Parsed::Index { manifests } => {
                self.learn_from_store(store, dest);
                let mut report = PushReport::default();
                for child in &manifests {
                    if !manifest::is_manifest(&child.media_type) {
                        return Err(RegistryError::InvalidManifest {
                            what,
                            message: format!(
                                "index entry {} is a {}, not an image manifest",
                                child.digest, child.media_type
                            ),
                        });
                    }
                    let child_bytes = store.read_blob(&child.digest)?;
                    let Parsed::Manifest { config, layers } = manifest::parse(
                        &format!("manifest {}", child.digest),
                        &child.media_type,
                        &child_bytes,
                    )?
                    else {
                        continue;
                    };
                    let blobs: Vec<Descriptor> = std::iter::once(config).chain(layers).collect();
                    let part = self.push_blobs(store, dest, &blobs, options, progress)?;
                    report.merge(part);
                    self.put_manifest(store, &dest.with_digest(&child.digest), child)?;
                    report.manifests.push(child.digest.clone());
                }
                self.put_manifest(store, dest, desc)?;
                report.manifests.push(desc.digest.clone());
                report.manifest = Some(desc.clone());
                Ok(report)
            }
            Parsed::Manifest { config, layers } => {
                let blobs: Vec<Descriptor> = std::iter::once(config).chain(layers).collect();
                self.push_manifest(store, dest, desc, &blobs, options, progress)
            }
        }
    }

    /// The generic entry point (cache artifacts, anything else): pushes
    /// `blobs` from the store, then the manifest `manifest` (any media
    /// type; its bytes come from the store) under `dest`.
    pub fn push_manifest(
        &self,
        store: &Store,
        dest: &Reference,
        manifest: &Descriptor,
        blobs: &[Descriptor],
        options: &PushOptions,
        progress: ProgressFn<'_>,
    ) -> Result<PushReport, RegistryError> {
        self.learn_from_store(store, dest);
        let mut report = self.push_blobs(store, dest, blobs, options, progress)?;
        self.put_manifest(store, dest, manifest)?;
        report.manifests.push(manifest.digest.clone());
        report.manifest = Some(manifest.clone());
        Ok(report)
    }

    /// Pushes blobs, `options.jobs` at a time.
    fn push_blobs(
        &self,
        store: &Store,
        dest: &Reference,
        blobs: &[Descriptor],
        options: &PushOptions,
        progress: ProgressFn<'_>,
    ) -> Result<PushReport, RegistryError> {
        let mut seen = BTreeSet::new();
        let blobs: Vec<&Descriptor> = blobs
            .iter()
            .filter(|d| !manifest::is_foreign(&d.media_type) && seen.insert(d.digest.clone()))
            .collect();
        let next = AtomicUsize::new(0);
        let report = Mutex::new(PushReport::default());
        let failed: Mutex<Option<RegistryError>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..options.jobs.clamp(1, blobs.len().max(1)) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(desc) = blobs.get(i) else { break };
                        if failed.lock().map(|f| f.is_some()).unwrap_or(true) {
                            break;
                        }
                        match self.push_blob(store, dest, desc, options, progress) {
                            Ok(outcome) => {
                                if let Ok(mut r) = report.lock() {
                                    match outcome {
                                        Outcome::Existing => &mut r.existing,
                                        Outcome::Mounted => &mut r.mounted,
                                        Outcome::Uploaded => &mut r.uploaded,
                                    }
                                    .push(desc.digest.clone());
                                }
                            }
                            Err(e) => {
                                if let Ok(mut f) = failed.lock() {
                                    f.get_or_insert(e);
                                }
                            }
                        }
                    }
                });
            }
        });
        if let Ok(Some(e)) = failed.into_inner() {
            return Err(e);
        }
        let mut report = report.into_inner().unwrap_or_default();
        report.merge(PushReport::default());
        Ok(report)
    }

    fn push_blob(
        &self,
        store: &Store,
        dest: &Reference,
        desc: &Descriptor,
        options: &PushOptions,
        progress: ProgressFn<'_>,
    ) -> Result<Outcome, RegistryError> {
        let report = |event| {
            progress(&Progress {
                digest: desc.digest.clone(),
                size: desc.size,
                event,
            })
        };
        let repo = dest.repository();
        let scope = Scope::push(repo);
        let blob_url = self.url(dest, &format!("blobs/{}", desc.digest))?;
        let resp = self.execute(dest, &scope, &Req::new("HEAD", blob_url.clone()))?;
        match resp.status().as_u16() {
            200 => {
                self.remember_blob(dest, &desc.digest);
                report(ProgressEvent::Present);
                return Ok(Outcome::Existing);
            }
            404 => {}
            status => {
                return Err(RegistryError::Status {
                    method: "HEAD",
                    url: blob_url,
                    status,
                    message: error_text(resp),
                });
            }
        }
        let mount_from = self.known_elsewhere(dest, &desc.digest).or_else(|| {
            options
                .mount_from
                .iter()
                .find(|m| m.registry() == dest.registry() && m.repository() != repo)
                .map(|m| m.repository().to_string())
        });
        let uploads = self.url(dest, "blobs/uploads/")?;
        let (url, scope) = match &mount_from {
            Some(from) => (
                format!(
                    "{uploads}?mount={}&from={}",
                    desc.digest,
                    crate::client::percent_encode(from)
                ),
                scope.clone().and_pull(from),
            ),
            None => (uploads, scope.clone()),
        };
        let resp = self.execute(
            dest,
            &scope,
            &Req::new("POST", url.clone()).body(Payload::Bytes(&[])),
        )?;
        let status = resp.status().as_u16();
        if status == 201 && mount_from.is_some() {
            self.remember_blob(dest, &desc.digest);
            report(ProgressEvent::Mounted {
                from: mount_from.unwrap_or_default(),
            });
            return Ok(Outcome::Mounted);
        }
        if status != 202 {
            return Err(RegistryError::Status {
                method: "POST",
                url,
                status,
                message: error_text(resp),
            });
        }
        let mut location = self.location(dest, &url, &resp)?;
        drop(resp);

        let file = store.open_blob(&desc.digest)?;
        let on_sent = |n: u64| report(ProgressEvent::Bytes(n));
        let chunk = options.chunk_size.max(1);
        if desc.size > chunk {
            let mut offset = 0;
            while offset < desc.size {
                let len = chunk.min(desc.size - offset);
                let sent_before = offset;
                let on_chunk = |n: u64| on_sent(sent_before + n);
                let req = Req {
                    on_sent: Some(&on_chunk),
                    ..Req::new("PATCH", location.clone())
                        .header("Content-Type", "application/octet-stream")
                        .header("Content-Range", format!("{offset}-{}", offset + len - 1))
                        .body(Payload::File {
                            file: &file,
                            offset,
                            len,
                        })
                };
                let resp = self.execute(dest, &Scope::push(repo), &req)?;
                if resp.status().as_u16() != 202 {
                    return Err(RegistryError::Status {
                        method: "PATCH",
                        url: location,
                        status: resp.status().as_u16(),
                        message: error_text(resp),
                    });
                }
                location = self.location(dest, &location, &resp)?;
                offset += len;
            }
            let req = Req::new("PUT", with_digest(&location, &desc.digest))
                .header("Content-Type", "application/octet-stream")
                .body(Payload::Bytes(&[]));
            self.finish_upload(dest, &req)?;
        } else {
            let req = Req {
                on_sent: Some(&on_sent),
                ..Req::new("PUT", with_digest(&location, &desc.digest))
                    .header("Content-Type", "application/octet-stream")
                    .body(Payload::File {
                        file: &file,
                        offset: 0,
                        len: desc.size,
                    })
            };
            self.finish_upload(dest, &req)?;
        }
        self.remember_blob(dest, &desc.digest);
        report(ProgressEvent::Done);
        Ok(Outcome::Uploaded)
    }

    fn finish_upload(&self, dest: &Reference, req: &Req<'_>) -> Result<(), RegistryError> {
        let resp = self.execute(dest, &Scope::push(dest.repository()), req)?;
        match resp.status().as_u16() {
            201 | 204 => Ok(()),
            status => Err(RegistryError::Status {
                method: "PUT",
                url: req.url.clone(),
                status,
                message: error_text(resp),
            }),
        }
    }

    /// The absolute URL of a response's `Location` header.
    fn location(
        &self,
        dest: &Reference,
        request_url: &str,
        resp: &ureq::http::Response<ureq::Body>,
    ) -> Result<String, RegistryError> {
        let loc = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Status {
                method: "POST",
                url: request_url.to_string(),
                status: resp.status().as_u16(),
                message: "upload response without a Location header".into(),
            })?;
        if loc.starts_with("http://") || loc.starts_with("https://") {
            Ok(loc.to_string())
        } else if loc.starts_with('/') {
            Ok(format!("{}{loc}", self.base_url(dest)?))
        } else {
            let dir = request_url.split('?').next().unwrap_or(request_url);
            let dir = &dir[..dir.rfind('/').map_or(dir.len(), |i| i + 1)];
            Ok(format!("{dir}{loc}"))
        }
    }

    /// PUTs a manifest from the store under `dest`'s tag or digest.
    fn put_manifest(
        &self,
        store: &Store,
        dest: &Reference,
        desc: &Descriptor,
    ) -> Result<(), RegistryError> {
        if let Some(d) = dest.digest()
            && *d != desc.digest
        {
            return Err(RegistryError::DigestMismatch {
                what: format!("push to {dest}"),
                expected: d.clone(),
                found: desc.digest.clone(),
            });
        }
        let bytes = store.read_blob(&desc.digest)?;
        let url = self.url(dest, &format!("manifests/{}", dest.manifest_reference()))?;
        let req = Req::new("PUT", url.clone())
            .header("Content-Type", desc.media_type.clone())
            .body(Payload::Bytes(&bytes));
        let resp = self.execute(dest, &Scope::push(dest.repository()), &req)?;
        let status = resp.status().as_u16();
        if status != 201 && status != 200 {
            return Err(RegistryError::Status {
                method: "PUT",
                url,
                status,
                message: error_text(resp),
            });
        }
        if let Some(found) = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok())
            && found != desc.digest
        {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest pushed to {dest}"),
                expected: desc.digest.clone(),
                found,
            });
        }
        Ok(())
    }

    /// Learns which blobs other repositories of `dest`'s registry hold,
    /// from the store's tags (images pulled from or pushed to them).
    fn learn_from_store(&self, store: &Store, dest: &Reference) {
        let Ok(tags) = store.tags() else { return };
        for (name, desc) in tags {
            let Ok(r) = Reference::parse(&name) else {
                continue;
            };
            if r.registry() != dest.registry() || r.repository() == dest.repository() {
                continue;
            }
            let mut todo = vec![desc];
            while let Some(d) = todo.pop() {
                let Ok(children) = store.references(&d) else {
                    continue;
                };
                for c in children {
                    if manifest::is_manifest(&c.media_type) && store.has_blob(&c.digest) {
                        todo.push(c);
                    } else if !manifest::is_index(&c.media_type) {
                        self.remember_blob(&r, &c.digest);
                    }
                }
            }
        }
    }
}

/// Adds `digest=` to an upload URL that may already have a query.
fn with_digest(location: &str, digest: &Digest) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!(
        "{location}{sep}digest={}",
        crate::client::percent_encode(digest.as_str())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_goes_into_the_query() {
        let d = Digest::of(b"");
        assert_eq!(
            with_digest("http://h/v2/a/blobs/uploads/u?_state=x", &d),
            format!(
                "http://h/v2/a/blobs/uploads/u?_state=x&digest=sha256%3A{}",
                d.hex()
            )
        );
        assert_eq!(
            with_digest("/v2/a/blobs/uploads/u", &d),
            format!("/v2/a/blobs/uploads/u?digest=sha256%3A{}", d.hex())
        );
    }
}
