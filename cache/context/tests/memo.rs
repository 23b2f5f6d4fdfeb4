//! The selection memo against real files: an unchanged selection is
//! recalled without the stat cache, and no change to what the digest
//! covers is ever answered from the memo.

#![allow(clippy::unwrap_used)] // test helpers

mod common;

use common::*;
use std::fs;
use std::path::Path;
use std::time::Duration;
use strata_context::{BuildContext, ContentHasher, DigestOptions, MemoDigest, StatCache};

fn sample(root: &Path) {
    tree(
        root,
        &[
            ("mysite/views.py", "def index(): pass\n"),
            ("requirements.txt", "django\n"),
            ("link", "@mysite/views.py"),
        ],
    );
}

/// Waits until everything written so far has its ctime in an earlier
/// second than any later walk (ctime cannot be set back like mtime).
fn let_ctimes_age() {
    std::thread::sleep(Duration::from_millis(1100));
}

/// The whole context digested with the memo, not saved yet.
fn unsaved(root: &Path, cache_dir: &Path) -> (MemoDigest, ContentHasher) {
    let mut h = ContentHasher::new(StatCache::open_lazy(cache_dir));
    let ctx = BuildContext::new(root, &[]).unwrap();
    let sel = select(&ctx, &["."]);
    let d = h
        .digest_memoized(root, &sel, DigestOptions::default())
        .unwrap();
    (d, h)
}

/// The whole context digested with the memo, then saved.
fn memoized(root: &Path, cache_dir: &Path) -> (MemoDigest, ContentHasher) {
    let (d, mut h) = unsaved(root, cache_dir);
    h.save().unwrap();
    (d, h)
}

fn set_mtime(path: &Path, time: std::time::SystemTime) {
    let f = fs::File::options().write(true).open(path).unwrap();
    f.set_modified(time).unwrap();
}

/// The digest with no cache and no memo.
fn fresh(root: &Path) -> strata_context::Sha256Digest {
    let ctx = BuildContext::new(root, &[]).unwrap();
    let sel = select(&ctx, &["."]);
    let mut h = ContentHasher::new(StatCache::in_memory());
    h.digest(root, &sel, DigestOptions::default())
        .unwrap()
        .digest
}

#[test]
fn an_unchanged_selection_is_recalled_without_reading_the_stat_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    sample(dir.path());
    let_ctimes_age();
    let (first, h) = memoized(dir.path(), cache.path());
    assert!(first.manifest.is_some(), "computed the first time");
    assert_eq!(h.memo_hits(), 0);
    assert_eq!(first.digest, fresh(dir.path()));

    let (second, h) = memoized(dir.path(), cache.path());
    assert_eq!(second.digest, first.digest);
    assert_eq!(second.manifest, None, "recalled");
    assert_eq!(h.memo_hits(), 1);
    assert_eq!(h.bytes_read(), 0);
    assert!(h.stat_cache().is_empty(), "the stat cache was never loaded");
}

/// Gives `path` an mtime an hour ahead: racy at any walk and any save.
fn mtime_in_the_future(path: &Path) {
    set_mtime(
        path,
        std::time::SystemTime::now() + Duration::from_secs(3600),
    );
}

#[test]
fn a_memo_is_not_recorded_while_a_file_is_racy() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    sample(dir.path());
    mtime_in_the_future(&dir.path().join("requirements.txt"));
    memoized(dir.path(), cache.path());
    let_ctimes_age();
    let (again, h) = memoized(dir.path(), cache.path());
    assert_eq!(h.memo_hits(), 0);
    assert!(again.manifest.is_some());
}

/// The bench's first no-op after a cold build walked entry by entry: the
/// project was written in the second of the cold build's walk, so that
/// build recorded no memo.
#[test]
fn a_selection_of_fresh_files_is_memoized_when_the_build_saves_a_second_later() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    sample(dir.path());
    let (first, mut h) = unsaved(dir.path(), cache.path());
    let_ctimes_age();
    let_ctimes_age();
    h.save().unwrap();
    assert_eq!(h.files_read(), 2, "confirming reads are not counted");

    let (second, h) = memoized(dir.path(), cache.path());
    assert_eq!(second.digest, first.digest);
    assert_eq!(second.manifest, None, "recalled");
    assert_eq!(h.memo_hits(), 1);
    assert_eq!(second.digest, fresh(dir.path()));
}

#[test]
fn a_fresh_file_rewritten_before_the_save_is_not_memoized() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    sample(dir.path());
    let (_, mut h) = unsaved(dir.path(), cache.path());
    // Same size, and the mtime set back: only the ctime and the content
    // tell.
    let views = dir.path().join("mysite/views.py");
    let mtime = fs::metadata(&views).unwrap().modified().unwrap();
    fs::write(&views, "def index(): PASS\n").unwrap();
    set_mtime(&views, mtime);
    let_ctimes_age();
    let_ctimes_age();
    h.save().unwrap();

    let_ctimes_age();
    let (again, h) = memoized(dir.path(), cache.path());
    assert_eq!(h.memo_hits(), 0, "the walk-time digest is not recalled");
    assert!(again.manifest.is_some());
    assert_eq!(again.digest, fresh(dir.path()));
}

#[test]
fn a_rewrite_that_keeps_size_inode_and_mtime_is_not_recalled() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    sample(dir.path());
    let_ctimes_age();
    let (first, _) = memoized(dir.path(), cache.path());
    let views = dir.path().join("mysite/views.py");
    let before = fs::symlink_metadata(&views).unwrap();
    // Same length, same inode, mtime set back: only ctime tells.
    fs::write(&views, "def index(): PASS\n").unwrap();
    age(&views);
    let after = fs::symlink_metadata(&views).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (after.ino(), after.size(), after.mtime(), after.mtime_nsec()),
        (
            before.ino(),
            before.size(),
            before.mtime(),
            before.mtime_nsec()
        )
    );
    let (second, h) = memoized(dir.path(), cache.path());
    assert_eq!(h.memo_hits(), 0);
    assert_ne!(second.digest, first.digest);
    assert_eq!(second.digest, fresh(dir.path()));
}

#[test]
fn every_change_the_digest_sees_misses_the_memo() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    sample(dir.path());
    let_ctimes_age();
    memoized(dir.path(), cache.path());
    type Change = fn(&Path);
    let changes: [(&str, Change); 4] = [
        ("file added", |d| {
            fs::write(d.join("mysite/urls.py"), "urls = []\n").unwrap()
        }),
        ("file removed", |d| {
            fs::remove_file(d.join("requirements.txt")).unwrap()
        }),
        ("mode changed", |d| {
            use std::os::unix::fs::PermissionsExt;
            let f = d.join("mysite/views.py");
            fs::set_permissions(f, fs::Permissions::from_mode(0o755)).unwrap()
        }),
        ("link retargeted", |d| {
            fs::remove_file(d.join("link")).unwrap();
            std::os::unix::fs::symlink("requirements", d.join("link")).unwrap()
        }),
    ];
    for (what, change) in changes {
        change(dir.path());
        // Aged, so that the memo is asked (a racy file skips it).
        let_ctimes_age();
        let (d, h) = memoized(dir.path(), cache.path());
        assert_eq!(h.memo_hits(), 0, "{what}");
        assert_eq!(d.digest, fresh(dir.path()), "{what}");
        // Recorded again for the new state.
        let (again, h) = memoized(dir.path(), cache.path());
        assert_eq!((h.memo_hits(), again.digest), (1, d.digest), "{what}");
    }
}
