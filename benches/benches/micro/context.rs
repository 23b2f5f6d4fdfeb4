//! Context hashing (strata-context) on the generated tree, cold and warm,
//! next to plain SHA-256 of the same bytes and a plain `lstat` walk.

use crate::fixture;
use divan::Bencher;
use divan::counter::{BytesCount, ItemsCount};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use strata_benches::limits;
use strata_benches::summary::timed;
use strata_context::{
    BuildContext, ContentHasher, CopyRequest, DigestOptions, SelectionDigest, StatCache,
};

/// `COPY . .` of the whole context through `hasher`.
pub(crate) fn hash_all(root: &Path, hasher: &mut ContentHasher) -> (SelectionDigest, usize) {
    let all = [".".to_string()];
    let ctx = BuildContext::new(root, &[]).unwrap();
    let selection = ctx
        .select(&CopyRequest {
            sources: &all,
            ..Default::default()
        })
        .unwrap();
    let digest = hasher
        .digest(ctx.root(), &selection, DigestOptions::default())
        .unwrap();
    (digest, selection.entries.len())
}

/// Cold: no stat cache, every file read and hashed (the page cache is
/// warm: a cold page cache would measure the disk, not strata). Before
/// each sample, untimed by divan: the limits, SHA-256 of the tree's tar in
/// memory on all cores and reading every file on one thread.
#[divan::bench(sample_count = 3, sample_size = 1)]
fn cold(b: Bencher) {
    let tree = fixture::tree();
    let tar = fixture::tar();
    b.counter(BytesCount::new(tree.file_bytes))
        .with_inputs(|| {
            timed("context/limit_sha256_all_cores", tar.len() as u64, || {
                limits::sha256_parallel(tar, limits::cores()).unwrap()
            });
            timed("context/limit_read_files", tree.file_bytes, || {
                assert_eq!(limits::read_tree(&tree.root).unwrap(), tree.file_bytes)
            });
        })
        .bench_local_values(|()| {
            timed("context/cold", tree.file_bytes, || {
                let mut hasher = ContentHasher::new(StatCache::in_memory());
                let (digest, _) = hash_all(&tree.root, &mut hasher);
                assert_eq!(hasher.files_read(), tree.files);
                assert_eq!(hasher.bytes_read(), tree.file_bytes);
                digest
            })
        });
}

/// The stat cache directory, emptied and filled by one cold pass.
fn stat_cache_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let tree = fixture::tree();
        let name = tree.root.file_name().unwrap().to_string_lossy();
        let dir = fixture::scratch().join(format!("statcache-{name}"));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        let mut hasher = ContentHasher::new(StatCache::open(&dir).unwrap());
        hash_all(&tree.root, &mut hasher);
        hasher.save().unwrap();
        assert!(dir.is_dir());
        dir
    })
}

/// Warm: a no-op rebuild. The stat cache is loaded from disk, the context
/// walked and every file vouched for by its stat; nothing is read. Before
/// each sample, untimed: the limit, an `lstat` of every entry on one
/// thread.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn warm(b: Bencher) {
    let tree = fixture::tree();
    let dir = stat_cache_dir();
    // The selection holds the root and every entry below it.
    let entries = tree.entries();
    b.counter(ItemsCount::new(entries))
        .with_inputs(|| {
            timed("context/limit_lstat_walk", entries, || {
                let n = limits::lstat_walk(&tree.root).unwrap();
                // The walk does not count the root itself.
                assert_eq!(n.files + n.symlinks + n.dirs + 1, entries);
            })
        })
        .bench_local_values(|()| {
            timed("context/warm", entries, || {
                let mut hasher = ContentHasher::new(StatCache::open(dir).unwrap());
                let (digest, selected) = hash_all(&tree.root, &mut hasher);
                assert_eq!(hasher.bytes_read(), 0);
                assert_eq!(selected as u64, entries);
                digest
            })
        });
}
