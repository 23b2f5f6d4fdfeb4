//! Selection digests and the stat cache against real files.

#![allow(clippy::unwrap_used)] // test helpers

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use strata_context::{
    BuildContext, ContentHasher, DigestOptions, SelectionDigest, StatCache, changed_since,
};

fn digest_with(
    root: &Path,
    sources: &[&str],
    hasher: &mut ContentHasher,
    opts: DigestOptions,
) -> SelectionDigest {
    let ctx = BuildContext::new(root, &[]).unwrap();
    let sel = select(&ctx, sources);
    hasher.digest(root, &sel, opts).unwrap()
}

fn digest(root: &Path) -> SelectionDigest {
    let mut h = ContentHasher::new(StatCache::in_memory());
    digest_with(root, &["."], &mut h, DigestOptions::default())
}

fn sample(root: &Path) {
    tree(
        root,
        &[
            ("mysite/views.py", "def index(): pass\n"),
            ("mysite/models.py", "class M: pass\n"),
            ("requirements.txt", "django\n"),
            ("link", "@mysite/views.py"),
            ("empty/", ""),
        ],
    );
}

#[test]
fn digest_ignores_mtime_and_location() {
    let a = tempfile::tempdir().unwrap();
    sample(a.path());
    let before = digest(a.path());
    touch_now(&a.path().join("requirements.txt"));
    assert_eq!(digest(a.path()), before, "touch changes nothing");

    // A copy elsewhere: new inodes, new device maybe, new times.
    let b = tempfile::tempdir().unwrap();
    sample(b.path());
    fs::set_permissions(b.path(), fs::metadata(a.path()).unwrap().permissions()).unwrap();
    assert_eq!(digest(b.path()).digest, before.digest);
}

#[test]
fn digest_follows_content_mode_names_and_link_targets() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let base = digest(dir.path());
    let views = dir.path().join("mysite/views.py");

    fs::write(&views, "def index(): return 1\n").unwrap();
    let content = digest(dir.path());
    assert_ne!(content.digest, base.digest);
    assert_eq!(
        changed_since(&base.manifest, &content.manifest).summary(5),
        "1 file changed: mysite/views.py"
    );

    fs::set_permissions(&views, fs::Permissions::from_mode(0o755)).unwrap();
    let mode = digest(dir.path());
    assert_ne!(mode.digest, content.digest);
    let mut h = ContentHasher::new(StatCache::in_memory());
    let no_mode = DigestOptions {
        include_mode: false,
        include_owner: false,
    };
    let a = digest_with(dir.path(), &["."], &mut h, no_mode);
    fs::set_permissions(&views, fs::Permissions::from_mode(0o600)).unwrap();
    let b = digest_with(dir.path(), &["."], &mut h, no_mode);
    assert_eq!(a.digest, b.digest, "--chmod callers leave modes out");

    let renamed_before = digest(dir.path());
    fs::rename(
        dir.path().join("mysite/models.py"),
        dir.path().join("mysite/model.py"),
    )
    .unwrap();
    let renamed = digest(dir.path());
    assert_ne!(renamed.digest, renamed_before.digest);
    let changes = changed_since(&renamed_before.manifest, &renamed.manifest);
    assert_eq!(changes.added, ["mysite/model.py"]);
    assert_eq!(changes.removed, ["mysite/models.py"]);

    fs::remove_file(dir.path().join("link")).unwrap();
    symlink("mysite/model.py", dir.path().join("link")).unwrap();
    let relinked = digest(dir.path());
    assert_ne!(relinked.digest, renamed.digest);
    assert_eq!(
        changed_since(&renamed.manifest, &relinked.manifest).changed,
        ["link"]
    );
}

#[test]
fn digest_depends_on_how_files_are_selected() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let mut h = ContentHasher::new(StatCache::in_memory());
    let whole = digest_with(dir.path(), &["mysite"], &mut h, DigestOptions::default());
    let files = digest_with(dir.path(), &["mysite/*"], &mut h, DigestOptions::default());
    assert_ne!(
        whole.digest, files.digest,
        "COPY dir/ and COPY dir/* lay files out differently"
    );
    let reqs = digest_with(
        dir.path(),
        &["requirements.txt"],
        &mut h,
        DigestOptions::default(),
    );
    assert_eq!(
        reqs.manifest.keys().collect::<Vec<_>>(),
        ["requirements.txt"]
    );
}

#[test]
fn stat_cache_hit_reads_nothing_and_survives_a_save() {
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let mut h = ContentHasher::new(StatCache::open(cache_dir.path()).unwrap());
    let first = digest_with(dir.path(), &["."], &mut h, DigestOptions::default());
    let total = "def index(): pass\n".len() + "class M: pass\n".len() + "django\n".len();
    assert_eq!(h.bytes_read(), total as u64);
    let second = digest_with(dir.path(), &["."], &mut h, DigestOptions::default());
    assert_eq!(second, first);
    assert_eq!(h.bytes_read(), total as u64, "nothing re-read");
    h.save().unwrap();

    let mut fresh = ContentHasher::new(StatCache::open(cache_dir.path()).unwrap());
    let third = digest_with(dir.path(), &["."], &mut fresh, DigestOptions::default());
    assert_eq!(third, first);
    assert_eq!(
        fresh.bytes_read(),
        0,
        "the saved cache vouches for every file"
    );
    assert_eq!(fresh.cache_hits(), 3);

    // An edit changes the stat (size, mtime or ctime): read again.
    fs::write(dir.path().join("requirements.txt"), "flask\n").unwrap();
    age(&dir.path().join("requirements.txt"));
    let fourth = digest_with(dir.path(), &["."], &mut fresh, DigestOptions::default());
    assert_eq!(fresh.bytes_read(), "flask\n".len() as u64);
    assert_ne!(fourth.digest, first.digest);
}

#[test]
fn racily_clean_files_are_hashed_again() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), &[("old.txt", "old")]);
    fs::write(dir.path().join("new.txt"), "fresh").unwrap(); // mtime: now
    let mut h = ContentHasher::new(StatCache::in_memory());
    digest_with(dir.path(), &["."], &mut h, DigestOptions::default());
    assert_eq!(h.bytes_read(), 8);
    digest_with(dir.path(), &["."], &mut h, DigestOptions::default());
    assert_eq!(
        h.bytes_read(),
        8 + 5,
        "the racy file is read again, the old one is not"
    );
    // Once the file is older than the recording, it is trusted.
    age(&dir.path().join("new.txt"));
    digest_with(dir.path(), &["."], &mut h, DigestOptions::default());
    let after_aging = h.bytes_read();
    digest_with(dir.path(), &["."], &mut h, DigestOptions::default());
    assert_eq!(h.bytes_read(), after_aging);
}

#[test]
fn owners_are_hashed_only_on_request() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let with = DigestOptions {
        include_mode: true,
        include_owner: true,
    };
    let mut h = ContentHasher::new(StatCache::in_memory());
    let a = digest_with(dir.path(), &["."], &mut h, with);
    let b = digest_with(dir.path(), &["."], &mut h, DigestOptions::default());
    assert_ne!(a.digest, b.digest, "the option is part of the encoding");
    // Running as root we can change the owner and see it matter.
    let f = dir.path().join("requirements.txt");
    if std::os::unix::fs::chown(&f, Some(4242), Some(4242)).is_ok() {
        let c = digest_with(dir.path(), &["."], &mut h, with);
        assert_ne!(c.digest, a.digest);
        let d = digest_with(dir.path(), &["."], &mut h, DigestOptions::default());
        assert_eq!(d.digest, b.digest);
    }
}
