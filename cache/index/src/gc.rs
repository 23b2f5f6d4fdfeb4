//! Pruning the cache: which records go, then the blobs and snapshots that
//! nothing references any more.
//!
//! The rules:
//!
//! - A tagged image keeps its manifest, config and layer blobs, always.
//!   Its snapshots are derived data: kept, except with `all`.
//! - A running build keeps what its lease names (see
//!   [`strata_store::Lease`]), every blob written since it started, and
//!   the records used (hit or written) since it started, as BuildKit keeps
//!   records in use. The
//!   collector works under the exclusive `gc` lock, which builds take
//!   shared for a moment when they claim something, so a build either is
//!   seen or sees the deletion (its cache hit then becomes a miss).
//! - Records go first (by policy), then blobs no tag, record or lease
//!   needs, then snapshots no record, tag or lease needs. A crash in
//!   between leaves only garbage for the next prune, never a record
//!   without its blob that a build would trust.
//! - Histories of earlier builds (for explanations of misses) go with
//!   `all` or when unused for `keep_duration`, unless a running build
//!   read them.
//! - In-flight directories (`.tmp-*`) are removed only when no build is
//!   running (the builder's `builds` lock is free); cache mounts only when asked (`mounts` or `all`) and when no
//!   build holds them; stat caches only with `all`.

use crate::usage::{
    CACHE_MOUNTS_DIR, DirUsage, GcError, Inventory, RecordEntry, SNAPSHOTS_DIR, disk_usage, io_err,
    subdirs,
};
use crate::{Key, RecordStore};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::Path;
use std::time::UNIX_EPOCH;
use strata_store::{Digest, GC_LOCK, Leased, Store};

/// What to prune.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneOptions {
    /// Remove every record, snapshot and stat cache (tagged images' blobs
    /// stay).
    pub all: bool,
    /// Remove records not used within this many seconds.
    pub keep_duration: Option<u64>,
    /// Remove least-recently-used records until what the cache holds
    /// (blobs only records need, and snapshots) fits in this many bytes.
    pub keep_storage: Option<u64>,
    /// Remove cache-mount directories no build is using (implied by `all`).
    pub mounts: bool,
    /// "Now", in seconds since the epoch (a parameter so tests can age
    /// records).
    pub now: u64,
}

/// Counts and bytes of what a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Cache records.
    pub records: usize,
    /// Blobs and their bytes.
    pub blobs: (usize, u64),
    /// Snapshots and their bytes.
    pub snapshots: (usize, u64),
    /// Cache mounts and their bytes.
    pub mounts: (usize, u64),
    /// Stat caches and their bytes.
    pub statcaches: (usize, u64),
    /// Histories of earlier builds (what `--explain` compares with).
    pub histories: usize,
    /// Leftovers of interrupted builds and their bytes.
    pub leftovers: (usize, u64),
    /// Cache mounts left because a build holds them.
    pub busy_mounts: usize,
    /// Builds that were running (their data was kept).
    pub running_builds: usize,
}

impl PruneReport {
    /// Every byte freed.
    pub fn freed(&self) -> u64 {
        self.blobs.1 + self.snapshots.1 + self.mounts.1 + self.statcaches.1 + self.leftovers.1
    }
}

/// What must stay whatever the policy says.
struct Pinned {
    blobs: BTreeSet<Digest>,
    snapshots: BTreeSet<String>,
    /// Records used at or after this time (seconds) are in use by a
    /// running build: it hit them or wrote them.
    records_used_since: Option<u64>,
}

/// Prunes the cache of `store` (see the module docs for the rules).
pub fn prune(
    store: &Store,
    records: &RecordStore,
    opts: &PruneOptions,
) -> Result<PruneReport, GcError> {
    let _gc = store.lock_exclusive(GC_LOCK)?;
    let leased = store.live_leases()?;
    let inv = Inventory::read(store, records)?;
    let pinned = pinned(&inv, &leased, opts.all);
    let doomed = choose_records(&inv, &pinned, opts);
    let mut report = PruneReport {
        running_builds: leased.live,
        ..PruneReport::default()
    };

    let mut keep_blobs = pinned.blobs.clone();
    let mut keep_snapshots = pinned.snapshots.clone();
    let mut keep_sources = BTreeSet::new();
    for entry in &inv.records {
        if doomed.contains(&entry.record.key) {
            continue;
        }
        keep_blobs.extend(entry.blobs());
        keep_snapshots.extend(entry.diff_id().map(str::to_string));
        keep_sources.extend(
            entry
                .record
                .inputs
                .inputs
                .values()
                .map(|v| v.rsplit(':').next().unwrap_or(v).to_string()),
        );
    }
    for key in &doomed {
        records.remove(key)?;
        report.records += 1;
    }
    for (digest, info) in &inv.blobs {
        if !keep_blobs.contains(digest) {
            store.remove_blob(digest)?;
            report.blobs.0 += 1;
            report.blobs.1 += info.size;
        }
    }
    // The chunk maps of removed layer blobs (a few hundred bytes each).
    store.remove_unreferenced_chunk_maps()?;
    let snapshots = store.root().join(SNAPSHOTS_DIR);
    for (diff_id, bytes) in &inv.snapshots {
        if !keep_snapshots.contains(diff_id) {
            let hex = diff_id.trim_start_matches("sha256:");
            remove_tree(&snapshots.join(hex))?;
            report.snapshots.0 += 1;
            report.snapshots.1 += bytes;
        }
    }
    records.retain_manifests(|hex| keep_sources.contains(hex))?;
    let in_use = |used: u64| pinned.records_used_since.is_some_and(|t| used >= t);
    let stale = |used: u64| {
        opts.all
            || opts
                .keep_duration
                .is_some_and(|d| used.saturating_add(d) < opts.now)
    };
    report.histories = records.retain_histories(|used| in_use(used) || !stale(used))?;
    // The builder's `builds` lock: free only when no build is running.
    if let Some(_alone) = store.try_lock_exclusive("builds")? {
        report.leftovers = remove_leftovers(store)?;
    }
    if opts.all || opts.mounts {
        let (removed, busy) = remove_mounts(&store.root().join(CACHE_MOUNTS_DIR), &inv.mounts)?;
        report.mounts = removed;
        report.busy_mounts = busy;
    }
    if opts.all {
        for dir in &inv.statcaches {
            remove_tree(&dir.path)?;
            report.statcaches.0 += 1;
            report.statcaches.1 += dir.bytes;
        }
    }
    Ok(report)
}

fn pinned(inv: &Inventory, leased: &Leased, all: bool) -> Pinned {
    let mut blobs: BTreeSet<Digest> = inv.tagged_blobs.clone();
    blobs.extend(leased.blobs.iter().cloned());
    if let Some(start) = leased.oldest_start {
        // Written since a running build began: its image config and
        // manifest before they are tagged, its pulls.
        blobs.extend(
            inv.blobs
                .values()
                .filter(|b| {
                    b.modified
                        .duration_since(UNIX_EPOCH)
                        .is_ok_and(|t| t.as_secs() >= start)
                })
                .map(|b| b.digest.clone()),
        );
    }
    let mut snapshots = leased.snapshots.clone();
    if !all {
        snapshots.extend(inv.tagged_layers.iter().cloned());
    }
    Pinned {
        blobs,
        snapshots,
        records_used_since: leased.oldest_start,
    }
}

/// The records to remove: all, or those unused for `keep_duration`, then
/// the least recently used until the rest fits `keep_storage`. Records
/// whose blobs are all gone are useless and always go.
fn choose_records(inv: &Inventory, pinned: &Pinned, opts: &PruneOptions) -> BTreeSet<Key> {
    let mut doomed = BTreeSet::new();
    let in_use = |e: &RecordEntry| pinned.records_used_since.is_some_and(|t| e.last_used >= t);
    for entry in &inv.records {
        if in_use(entry) {
            continue;
        }
        let blobs = entry.blobs();
        let broken = !blobs.is_empty() && blobs.iter().all(|b| !inv.blobs.contains_key(b));
        let stale = opts
            .keep_duration
            .is_some_and(|d| entry.last_used.saturating_add(d) < opts.now);
        if opts.all || broken || stale {
            doomed.insert(entry.record.key);
        }
    }
    let Some(limit) = opts.keep_storage else {
        return doomed;
    };
    let mut live: Vec<&RecordEntry> = inv
        .records
        .iter()
        .filter(|e| !doomed.contains(&e.record.key) && !in_use(e))
        .collect();
    // Oldest use first; ties by key so the choice is stable.
    live.sort_by_key(|e| (e.last_used, e.record.key));
    // What each record holds that pruning could free, with how many live
    // records share it.
    let mut users: BTreeMap<Item, usize> = BTreeMap::new();
    for e in &live {
        for item in items(e) {
            *users.entry(item).or_default() += 1;
        }
    }
    let size = |item: &Item| -> u64 {
        match item {
            Item::Blob(d) if !pinned.blobs.contains(d) => inv.blobs.get(d).map_or(0, |b| b.size),
            Item::Snapshot(s) if !pinned.snapshots.contains(s) => {
                inv.snapshots.get(s).copied().unwrap_or(0)
            }
            _ => 0,
        }
    };
    let mut total: u64 = users.keys().map(size).sum();
    for e in live {
        if total <= limit {
            break;
        }
        doomed.insert(e.record.key);
        for item in items(e) {
            if let Some(n) = users.get_mut(&item) {
                *n -= 1;
                if *n == 0 {
                    total = total.saturating_sub(size(&item));
                }
            }
        }
    }
    doomed
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    Blob(Digest),
    Snapshot(String),
}

fn items(entry: &RecordEntry) -> BTreeSet<Item> {
    let mut out: BTreeSet<Item> = entry.blobs().into_iter().map(Item::Blob).collect();
    out.extend(entry.diff_id().map(|d| Item::Snapshot(d.to_string())));
    out
}

fn remove_tree(path: &Path) -> Result<(), GcError> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// `.tmp-*` directories of interrupted builds in the snapshot and
/// cache-mount folders, and unlocked temp files of the store. Only called
/// when no build is running (the caller holds the `builds` lock).
fn remove_leftovers(store: &Store) -> Result<(usize, u64), GcError> {
    let mut removed = (0, 0);
    for folder in [SNAPSHOTS_DIR, CACHE_MOUNTS_DIR] {
        for (name, path) in subdirs(&store.root().join(folder))? {
            if name.starts_with(".tmp-") {
                let bytes = disk_usage(&path)?;
                remove_tree(&path)?;
                removed.0 += 1;
                removed.1 += bytes;
            }
        }
    }
    removed.0 += store.clean_temp()?.len();
    Ok(removed)
}

/// Removes cache mounts whose lock nobody holds (the lock is kept while
/// the directory goes, so a build waiting for it gets a fresh cache).
/// Returns what was removed and how many were busy.
fn remove_mounts(dir: &Path, mounts: &[DirUsage]) -> Result<((usize, u64), usize), GcError> {
    let mut removed = (0, 0);
    let mut busy = 0;
    for mount in mounts {
        let Some(name) = mount.path.file_name() else {
            continue;
        };
        let lock_path = dir.join(format!("{}.lock", name.to_string_lossy()));
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {
                remove_tree(&mount.path)?;
                removed.0 += 1;
                removed.1 += mount.bytes;
            }
            Err(fs::TryLockError::WouldBlock) => busy += 1,
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
    }
    Ok((removed, busy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CacheRecord, KeyHasher, LayerBlob, StepInputs};
    use std::io::Write;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        records: RecordStore,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let records = RecordStore::open(dir.path().join("cache-v1")).unwrap();
        Fixture {
            _dir: dir,
            store,
            records,
        }
    }

    /// A record whose layer is a blob of `size` bytes, with a snapshot.
    fn add(f: &Fixture, name: &str, size: usize) -> (Key, Digest, String) {
        let mut content = name.as_bytes().to_vec();
        content.resize(size, b'x');
        let blob = f.store.write_blob(&content).unwrap();
        let diff_id = format!("sha256:{}", Digest::of(name.as_bytes()).hex());
        let snap = f.store.root().join(SNAPSHOTS_DIR).join(&diff_id[7..]);
        fs::create_dir_all(&snap).unwrap();
        fs::File::create(snap.join("f"))
            .unwrap()
            .write_all(&content)
            .unwrap();
        let key = KeyHasher::new(name).finish();
        f.records
            .put(&CacheRecord {
                key,
                description: format!("RUN {name}"),
                layer: Some(LayerBlob {
                    diff_id: diff_id.clone(),
                    blobs: [(
                        "application/vnd.oci.image.layer.v1.tar+gzip".to_string(),
                        (blob.to_string(), size as u64),
                    )]
                    .into(),
                }),
                inputs: StepInputs::default(),
                created: 1,
                duration_ms: 1,
                replay: None,
            })
            .unwrap();
        (key, blob, diff_id)
    }

    fn set_used(f: &Fixture, key: &Key, secs: u64) {
        let hex = key.to_string();
        let path = f
            .records
            .dir()
            .join("records")
            .join(&hex[..2])
            .join(format!("{hex}.json"));
        let file = fs::File::options().append(true).open(path).unwrap();
        file.set_modified(UNIX_EPOCH + std::time::Duration::from_secs(secs))
            .unwrap();
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn keep_duration_removes_only_old_records_and_their_data() {
        let f = fixture();
        let (old, old_blob, old_snap) = add(&f, "old", 10);
        let (new, new_blob, new_snap) = add(&f, "new", 10);
        set_used(&f, &old, now() - 3 * 86400);
        let opts = PruneOptions {
            keep_duration: Some(86400),
            now: now(),
            ..Default::default()
        };
        let report = prune(&f.store, &f.records, &opts).unwrap();
        assert_eq!(report.records, 1);
        assert!(f.records.get(&old).unwrap().is_none());
        assert!(f.records.get(&new).unwrap().is_some());
        assert!(!f.store.has_blob(&old_blob) && f.store.has_blob(&new_blob));
        let snaps = f.store.root().join(SNAPSHOTS_DIR);
        assert!(!snaps.join(&old_snap[7..]).exists());
        assert!(snaps.join(&new_snap[7..]).exists());
    }

    #[test]
    fn chunk_maps_go_with_their_blobs() {
        let f = fixture();
        let (old, old_blob, _) = add(&f, "old", 10);
        let (_, new_blob, _) = add(&f, "new", 10);
        let chunk = |offset| strata_store::ChunkRecord {
            key: "00".repeat(32),
            offset,
            size: 5,
            compressed_sha256: "00".repeat(32),
            xxh3: "0".repeat(16),
            stream_state: None,
            blob_state: None,
        };
        let map = |blob: &Digest| {
            f.store
                .root()
                .join(strata_store::CHUNKS_DIR)
                .join("gzip-6-v2")
                .join(format!("{}.json", blob.hex()))
        };
        for blob in [&old_blob, &new_blob] {
            f.store
                .write_chunk_map("gzip-6-v2", blob, &[chunk(0), chunk(5)])
                .unwrap();
            assert!(map(blob).is_file());
        }
        set_used(&f, &old, now() - 3 * 86400);
        let opts = PruneOptions {
            keep_duration: Some(86400),
            now: now(),
            ..Default::default()
        };
        prune(&f.store, &f.records, &opts).unwrap();
        assert!(!f.store.has_blob(&old_blob));
        assert!(!map(&old_blob).exists());
        assert!(map(&new_blob).is_file());
    }

    #[test]
    fn histories_go_when_unused_for_keep_duration_or_with_all() {
        let f = fixture();
        f.records.put_history("old", &1).unwrap();
        f.records.put_history("new", &2).unwrap();
        let old = f.records.dir().join("history/old.json");
        fs::File::options()
            .append(true)
            .open(&old)
            .unwrap()
            .set_modified(UNIX_EPOCH + std::time::Duration::from_secs(now() - 3 * 86400))
            .unwrap();
        let mut opts = PruneOptions {
            keep_duration: Some(86400),
            now: now(),
            ..Default::default()
        };
        assert_eq!(prune(&f.store, &f.records, &opts).unwrap().histories, 1);
        assert_eq!(f.records.get_history::<i32>("old").unwrap(), None);
        assert_eq!(f.records.get_history::<i32>("new").unwrap(), Some(2));
        opts.keep_duration = None;
        assert_eq!(prune(&f.store, &f.records, &opts).unwrap().histories, 0);
        opts.all = true;
        assert_eq!(prune(&f.store, &f.records, &opts).unwrap().histories, 1);
        assert_eq!(f.records.get_history::<i32>("new").unwrap(), None);
    }

    #[test]
    fn keep_storage_removes_least_recently_used_first() {
        let f = fixture();
        let (a, ..) = add(&f, "a", 100_000);
        let (b, ..) = add(&f, "b", 100_000);
        let (c, ..) = add(&f, "c", 100_000);
        set_used(&f, &a, 1000);
        set_used(&f, &b, 3000);
        set_used(&f, &c, 2000);
        let inv = Inventory::read(&f.store, &f.records).unwrap();
        let one = inv.usage().reclaimable() / 3;
        let opts = PruneOptions {
            keep_storage: Some(one + one / 2),
            now: now(),
            ..Default::default()
        };
        prune(&f.store, &f.records, &opts).unwrap();
        assert!(f.records.get(&a).unwrap().is_none());
        assert!(f.records.get(&c).unwrap().is_none());
        assert!(f.records.get(&b).unwrap().is_some());
    }

    #[test]
    fn leased_and_tagged_blobs_stay() {
        let f = fixture();
        let (tagged_key, tagged_blob, _) = add(&f, "tagged", 10);
        let (leased_key, leased_blob, leased_snap) = add(&f, "leased", 10);
        // Used before the lease began, so not in use by its build.
        set_used(&f, &tagged_key, 1000);
        set_used(&f, &leased_key, 1000);
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/octet-stream","digest":"{tagged_blob}","size":10}},"layers":[]}}"#
        );
        let m = f.store.write_blob(manifest.as_bytes()).unwrap();
        f.store
            .set_tag(
                "app:1",
                &strata_store::Descriptor::new(
                    "application/vnd.oci.image.manifest.v1+json",
                    m.clone(),
                    manifest.len() as u64,
                ),
            )
            .unwrap();
        // Old enough that only the lease's claim keeps it.
        fs::File::options()
            .append(true)
            .open(f.store.blob_path(&leased_blob))
            .unwrap()
            .set_modified(UNIX_EPOCH + std::time::Duration::from_secs(1000))
            .unwrap();
        let lease = f.store.lease().unwrap();
        lease
            .hold(std::slice::from_ref(&leased_blob), &[leased_snap.as_str()])
            .unwrap();
        let opts = PruneOptions {
            all: true,
            now: now(),
            ..Default::default()
        };
        let report = prune(&f.store, &f.records, &opts).unwrap();
        assert_eq!(report.records, 2);
        assert_eq!(report.running_builds, 1);
        assert!(f.store.has_blob(&tagged_blob) && f.store.has_blob(&m));
        assert!(f.store.has_blob(&leased_blob));
        assert!(
            f.store
                .root()
                .join(SNAPSHOTS_DIR)
                .join(&leased_snap[7..])
                .exists()
        );
        assert!(f.store.check().unwrap().is_clean());
    }

    #[test]
    fn records_a_running_build_used_stay() {
        let f = fixture();
        let (old, ..) = add(&f, "old", 10);
        set_used(&f, &old, 1000);
        let _lease = f.store.lease().unwrap();
        let (used, used_blob, _) = add(&f, "used", 10);
        let opts = PruneOptions {
            all: true,
            now: now(),
            ..Default::default()
        };
        prune(&f.store, &f.records, &opts).unwrap();
        assert!(f.records.get(&old).unwrap().is_none());
        assert!(f.records.get(&used).unwrap().is_some());
        assert!(f.store.has_blob(&used_blob));
    }
}
