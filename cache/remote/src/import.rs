//! `--cache-from`: artifacts read records first; blobs come only when a
//! layer must be extracted (a missed step's parent, `COPY --from`) or
//! exported.

use crate::error::{RemoteError, invalid};
use crate::format::{self, MountLayer};
use crate::layout;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use strata_cache::{CacheRecord, FetchError, ImportedCache, Key, RecordStore};
use strata_registry::{Client, Reference};
use strata_store::{Descriptor, Digest, Store};

/// Where an imported artifact lives.
#[derive(Debug, Clone)]
enum Source {
    Local(PathBuf),
    Registry(Client, Reference),
}

impl Source {
    fn fetch(&self, store: &Store, desc: &Descriptor) -> Result<(), RemoteError> {
        match self {
            Source::Local(dir) => layout::fetch_blob(dir, store, desc),
            Source::Registry(client, r) => Ok(client.fetch_blob_into(store, r, desc)?),
        }
    }
}

/// The caches given with `--cache-from`, merged (the first one listing a
/// key wins).
#[derive(Debug)]
pub struct CacheImport {
    store: Store,
    sources: Vec<Source>,
    records: BTreeMap<Key, CacheRecord>,
    /// Every blob an artifact lists, with the source to fetch it from.
    blobs: BTreeMap<Digest, (Descriptor, usize)>,
    mounts: BTreeMap<String, MountLayer>,
    hits: Mutex<BTreeSet<Key>>,
}

impl CacheImport {
    /// No caches yet; blobs will be fetched into `store`.
    pub fn new(store: Store) -> CacheImport {
        CacheImport {
            store,
            sources: Vec::new(),
            records: BTreeMap::new(),
            blobs: BTreeMap::new(),
            mounts: BTreeMap::new(),
            hits: Mutex::new(BTreeSet::new()),
        }
    }

    /// Adds the cache in an OCI layout directory (`type=local,src=DIR`);
    /// returns how many records it brought.
    pub fn add_local(&mut self, dir: &Path) -> Result<usize, RemoteError> {
        let manifest = layout::find_manifest(dir)?;
        let source = Source::Local(dir.to_path_buf());
        self.add(source, &manifest, &dir.display().to_string())
    }

    /// Adds the cache a registry reference names (`type=registry,ref=REF`).
    pub fn add_registry(&mut self, client: &Client, r: &Reference) -> Result<usize, RemoteError> {
        let (bytes, media_type, digest) = client.get_manifest(r)?;
        if strata_registry::manifest::is_index(&media_type) {
            return Err(invalid(
                r.to_string(),
                "an image index, not a strata cache manifest".to_string(),
            ));
        }
        let desc = Descriptor::new(media_type, digest, bytes.len() as u64);
        let source = Source::Registry(client.clone(), r.clone());
        // The manifest bytes are verified; keep them like any other blob.
        let mut w = self.store.blob_writer()?;
        std::io::Write::write_all(&mut w, &bytes).map_err(|e| RemoteError::Io {
            path: self.store.root().join("tmp"),
            source: e,
        })?;
        w.commit(Some(&desc.digest))?;
        self.add(source, &desc, &r.to_string())
    }

    fn add(
        &mut self,
        source: Source,
        manifest: &Descriptor,
        what: &str,
    ) -> Result<usize, RemoteError> {
        source.fetch(&self.store, manifest)?;
        let what = format!("cache {what}");
        let (config, layers) =
            format::parse_manifest(&what, &self.store.read_blob(&manifest.digest)?)?;
        source.fetch(&self.store, &config)?;
        let config = format::parse_config(&what, &self.store.read_blob(&config.digest)?)?;
        let index = self.sources.len();
        self.sources.push(source);
        let listed: BTreeMap<&Digest, &Descriptor> =
            layers.iter().map(|d| (&d.digest, d)).collect();
        let blob_listed = |digest: &str| {
            digest
                .parse::<Digest>()
                .ok()
                .and_then(|d| listed.get(&d).map(|desc| (*desc).clone()))
        };
        let mut added = 0;
        for record in config.records {
            let blob = match &record.layer {
                None => None,
                Some(layer) => {
                    let Some((_, (digest, _))) = layer.blobs.iter().next() else {
                        continue;
                    };
                    match blob_listed(digest) {
                        Some(desc) => Some(desc),
                        None => continue,
                    }
                }
            };
            if self.records.contains_key(&record.key) {
                continue;
            }
            if let Some(desc) = blob {
                self.blobs
                    .entry(desc.digest.clone())
                    .or_insert((desc, index));
            }
            self.records.insert(record.key, record);
            added += 1;
        }
        for mount in config.mounts {
            let Some(desc) = blob_listed(mount.blob.digest.as_str()) else {
                continue;
            };
            self.blobs
                .entry(desc.digest.clone())
                .or_insert((desc, index));
            self.mounts.entry(mount.id.clone()).or_insert(mount);
        }
        Ok(added)
    }

    /// True when no cache brought anything.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.mounts.is_empty()
    }

    /// The imported record of `key`, without counting it as a hit.
    pub fn record(&self, key: &Key) -> Option<&CacheRecord> {
        self.records.get(key)
    }

    /// The packed cache mounts, by id.
    pub fn mounts(&self) -> impl Iterator<Item = &MountLayer> {
        self.mounts.values()
    }

    /// Keys the solver took from here, sorted.
    pub fn hits(&self) -> Vec<Key> {
        self.hits
            .lock()
            .map(|h| h.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Brings a listed blob into the store (verified); `Ok(false)` when no
    /// imported cache lists it. Present blobs are not fetched again.
    pub fn fetch(&self, digest: &Digest) -> Result<bool, RemoteError> {
        if self.store.has_blob(digest) {
            return Ok(true);
        }
        let Some((desc, source)) = self.blobs.get(digest) else {
            return Ok(false);
        };
        let Some(source) = self.sources.get(*source) else {
            return Ok(false);
        };
        source.fetch(&self.store, desc)?;
        Ok(true)
    }

    /// Writes the records the solver took from here into the local
    /// records, when their layer's blob is now in the store (so the next
    /// build hits without `--cache-from`); returns how many.
    pub fn adopt_hits(&self, records: &RecordStore) -> Result<usize, RemoteError> {
        let mut n = 0;
        for key in self.hits() {
            let Some(record) = self.records.get(&key) else {
                continue;
            };
            let present = record.layer.as_ref().is_none_or(|l| {
                l.blobs
                    .values()
                    .all(|(d, _)| d.parse::<Digest>().is_ok_and(|d| self.store.has_blob(&d)))
            });
            if present && records.get(&key)?.is_none() {
                records.put(record)?;
                n += 1;
            }
        }
        Ok(n)
    }
}

impl ImportedCache for CacheImport {
    fn lookup(&self, key: &Key) -> Option<CacheRecord> {
        let record = self.records.get(key)?.clone();
        if let Ok(mut hits) = self.hits.lock() {
            hits.insert(*key);
        }
        Some(record)
    }

    fn fetch_blob(&self, digest: &str) -> Result<bool, FetchError> {
        let Ok(digest) = digest.parse::<Digest>() else {
            return Ok(false);
        };
        Ok(self.fetch(&digest)?)
    }
}
