//! Content digests of a selection.
//!
//! The digest of a selection is a SHA-256 over a canonical, versioned
//! encoding. Each entry first gets its own *entry digest*:
//!
//! ```text
//! sha256( "strata-context-entry-v1\0"
//!         kind: u8 ('f' file, 'd' dir, 'l' symlink, 'o' other)
//!         mode: u32 LE   permission bits, or 0 when modes are left out (--chmod)
//!         [uid: u32 LE, gid: u32 LE]   only when owners are asked for
//!         file:    32-byte SHA-256 of the content
//!         symlink: u64 LE length + target bytes
//!         other:   u32 LE file-type bits of st_mode )
//! ```
//!
//! and the selection digest is
//!
//! ```text
//! sha256( "strata-context-selection-v1\0" flags: u8
//!         per root:  'R' u64 LE source index, u64 LE length + root path
//!         per entry: 'E' u64 LE root index, u64 LE length + rel path, entry digest )
//! ```
//!
//! in the order of [`Selection`] (roots in source order, entries sorted).
//! mtime, ctime, inode, device and walk order never enter a digest, so
//! touching a file or copying the context elsewhere changes nothing.

use crate::entry::{EntryKind, Meta};
use crate::error::ContextError;
use crate::memo::{self, SelectionMemo};
use crate::select::{SelectedEntry, Selection, now_ns};
use crate::statcache::{NS_PER_SEC, StatCache, StatKey, is_trustworthy};
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A SHA-256 digest; displays as `sha256:<hex>`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// The lowercase hex form, without the `sha256:` prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Per-entry digests of a selection, keyed by display path
/// ([`SelectedEntry::display_path`]); when sources overlap, the last
/// entry for a path wins, as it would at the destination.
pub type Manifest = BTreeMap<String, Sha256Digest>;

/// What goes into a digest besides names, types, link targets and content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestOptions {
    /// Include permission bits (leave them out when `--chmod` overrides them).
    pub include_mode: bool,
    /// Include uid/gid (only when `--chown` is absent and ownership matters).
    pub include_owner: bool,
}

impl Default for DigestOptions {
    fn default() -> Self {
        DigestOptions {
            include_mode: true,
            include_owner: false,
        }
    }
}

/// The digest of a selection and its per-entry manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectionDigest {
    /// The digest of the whole selection.
    pub digest: Sha256Digest,
    /// The digest of each entry, for explanations ([`crate::changed_since`]).
    pub manifest: Manifest,
}

/// A selection digest from [`ContentHasher::digest_memoized`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoDigest {
    /// The digest of the whole selection.
    pub digest: Sha256Digest,
    /// The per-entry manifest, or `None` when the digest came from the
    /// selection memo (ask [`ContentHasher::digest`] when it is needed).
    pub manifest: Option<Manifest>,
}

/// Hashes selections, reading only files the stat cache cannot vouch for.
#[derive(Debug)]
pub struct ContentHasher {
    cache: StatCache,
    memo: SelectionMemo,
    bytes_read: AtomicU64,
    files_read: AtomicU64,
    cache_hits: AtomicU64,
    memo_hits: u64,
    /// Selections digested while some of their files were racy, to be
    /// memoized on [`ContentHasher::save`] once those are confirmed.
    pending: Vec<Pending>,
}

/// A selection digested while some of its files were too recent to be
/// vouched for by their stat (see the `memo` module). When the build
/// saves, those files are read again; if they kept their stat and their
/// content, the selection's digest is remembered after all, so the first
/// no-op after a build of freshly written files can use the memo.
#[derive(Debug)]
struct Pending {
    root: PathBuf,
    /// The selection's fingerprint, as a later walk will compute it.
    fingerprint: [u8; 32],
    digest: Sha256Digest,
    /// Each racy file: its context path, its stat at the walk and the
    /// digest of the content read then.
    racy: Vec<(String, StatKey, [u8; 32])>,
}

const READ_BUF: usize = 256 * 1024;

thread_local! {
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl ContentHasher {
    /// A hasher with the given stat cache ([`StatCache::in_memory`] for none).
    /// A persistent cache (one with a directory) comes with a persistent
    /// selection memo in the same directory (see [`ContentHasher::digest_memoized`]).
    pub fn new(cache: StatCache) -> ContentHasher {
        ContentHasher {
            memo: SelectionMemo::new(cache.dir().map(Path::to_path_buf)),
            cache,
            bytes_read: AtomicU64::new(0),
            files_read: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            memo_hits: 0,
            pending: Vec::new(),
        }
    }

    /// Bytes of file content read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// Files read (hashed) so far.
    pub fn files_read(&self) -> u64 {
        self.files_read.load(Ordering::Relaxed)
    }

    /// Files whose digest came from the stat cache so far.
    pub fn cache_hits(&self) -> u64 {
        self.cache_hits.load(Ordering::Relaxed)
    }

    /// Selections whose digest came from the selection memo so far.
    pub fn memo_hits(&self) -> u64 {
        self.memo_hits
    }

    /// The stat cache.
    pub fn stat_cache(&self) -> &StatCache {
        &self.cache
    }

    /// Saves the stat cache and the selection memo if they changed
    /// (crash-safe), after confirming the racy files of selections that
    /// could not be memoized when they were digested.
    pub fn save(&mut self) -> Result<(), ContextError> {
        self.confirm_pending()?;
        self.cache.save()?;
        self.memo.save()
    }

    /// Memoizes each pending selection whose racy files are now old enough
    /// to be vouched for, and still have the stat and content they had at
    /// the walk. They are read again now: a write between the walk and now
    /// either changed their stat or their content (both checked), and a
    /// write after now gives them a ctime at least a second newer than the
    /// one recorded, so the fingerprint no longer matches. A second of
    /// margin covers the coarse clock file times come from.
    fn confirm_pending(&mut self) -> Result<(), ContextError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let now = now_ns().saturating_sub(NS_PER_SEC);
        for p in std::mem::take(&mut self.pending) {
            let old_enough = p.racy.iter().all(|(_, key, _)| {
                is_trustworthy(key.mtime_ns, now) && is_trustworthy(key.ctime_ns, now)
            });
            if !old_enough {
                continue;
            }
            let confirmed = p.racy.par_iter().all(|(path, key, digest)| {
                matches!(read_digest(&p.root.join(path), key), Ok((d, true, _)) if d == *digest)
            });
            if !confirmed {
                continue;
            }
            for (path, key, digest) in &p.racy {
                self.cache.insert(path, *key, now, *digest);
            }
            self.memo.insert(p.fingerprint, p.digest)?;
        }
        Ok(())
    }

    /// Digests a selection made from the context at `root`.
    pub fn digest(
        &mut self,
        root: &Path,
        selection: &Selection,
        options: DigestOptions,
    ) -> Result<SelectionDigest, ContextError> {
        let fingerprint = self.fingerprint(selection, options);
        self.compute(root, selection, options, fingerprint)
    }

    /// Digests a selection, or recalls its digest from the selection memo
    /// when the hasher's cache is persistent and every entry is on disk as
    /// it was when the digest was remembered (same names, types, modes,
    /// owners, link targets and file stats; see the `memo` module). A
    /// recalled digest comes without a manifest and reads neither the stat
    /// cache nor any file.
    pub fn digest_memoized(
        &mut self,
        root: &Path,
        selection: &Selection,
        options: DigestOptions,
    ) -> Result<MemoDigest, ContextError> {
        let fingerprint = self.fingerprint(selection, options);
        if let Some(fp) = &fingerprint
            && let Some(digest) = self.memo.get(fp)?
        {
            self.memo_hits += 1;
            return Ok(MemoDigest {
                digest,
                manifest: None,
            });
        }
        let full = self.compute(root, selection, options, fingerprint)?;
        Ok(MemoDigest {
            digest: full.digest,
            manifest: Some(full.manifest),
        })
    }

    fn fingerprint(&self, selection: &Selection, options: DigestOptions) -> Option<[u8; 32]> {
        if self.memo.persistent() {
            memo::fingerprint(selection, options)
        } else {
            None
        }
    }

    /// Digests a selection entry by entry; remembers the digest under
    /// `fingerprint` when every file read kept its stat while it was read.
    fn compute(
        &mut self,
        root: &Path,
        selection: &Selection,
        options: DigestOptions,
        fingerprint: Option<[u8; 32]>,
    ) -> Result<SelectionDigest, ContextError> {
        let (contents, all_stable) = self.file_digests(root, selection)?;
        let entry_digests: Vec<Sha256Digest> = selection
            .entries
            .par_iter()
            .map(|e| entry_digest(e, contents.get(e.path.as_str()).copied(), options))
            .collect();

        let mut h = Sha256::new();
        h.update(b"strata-context-selection-v1\0");
        h.update([u8::from(options.include_mode) | (u8::from(options.include_owner) << 1)]);
        let mut next_root = 0;
        let mut named = Vec::with_capacity(selection.entries.len());
        for (entry, digest) in selection.entries.iter().zip(&entry_digests) {
            while next_root <= entry.root {
                if let Some(r) = selection.roots.get(next_root) {
                    h.update(b"R");
                    h.update((r.source as u64).to_le_bytes());
                    put_str(&mut h, r.path.as_bytes());
                }
                next_root += 1;
            }
            h.update(b"E");
            h.update((entry.root as u64).to_le_bytes());
            put_str(&mut h, entry.rel.as_bytes());
            h.update(digest.0);
            named.push((entry.display_path(&selection.roots), *digest));
        }
        // Built in one go (sorted, then bulk-loaded); for a path listed
        // twice the later entry wins, as it would at the destination.
        let manifest: Manifest = named.into_iter().collect();
        for r in selection.roots.iter().skip(next_root) {
            h.update(b"R");
            h.update((r.source as u64).to_le_bytes());
            put_str(&mut h, r.path.as_bytes());
        }
        let digest = Sha256Digest(h.finalize().into());
        match fingerprint {
            Some(fp) if all_stable => self.memo.insert(fp, digest)?,
            None if all_stable && self.memo.persistent() => {
                self.defer_memo(root, selection, options, digest, &contents);
            }
            _ => {}
        }
        Ok(SelectionDigest { digest, manifest })
    }

    /// Keeps a selection that had no fingerprint (racy files) for
    /// [`ContentHasher::save`] to confirm.
    fn defer_memo(
        &mut self,
        root: &Path,
        selection: &Selection,
        options: DigestOptions,
        digest: Sha256Digest,
        contents: &HashMap<&str, [u8; 32]>,
    ) {
        let scanned = selection.scanned_at_ns;
        let mut racy = Vec::new();
        for e in &selection.entries {
            let m = &e.meta;
            if m.kind != EntryKind::File
                || (is_trustworthy(m.mtime_ns, scanned) && is_trustworthy(m.ctime_ns, scanned))
            {
                continue;
            }
            let Some(content) = contents.get(e.path.as_str()) else {
                return;
            };
            racy.push((e.path.clone(), StatKey::from(m), *content));
        }
        // The files not in `racy` were vouched for at the walk; the
        // confirmation vouches for the others.
        let Some(fingerprint) = memo::fingerprint_as_of(selection, options, i64::MAX) else {
            return;
        };
        self.pending.push(Pending {
            root: root.to_path_buf(),
            fingerprint,
            digest,
            racy,
        });
    }

    /// Content digests of every regular file of the selection, by context
    /// path, and whether every file read kept its stat while it was read.
    fn file_digests<'s>(
        &mut self,
        root: &Path,
        selection: &'s Selection,
    ) -> Result<(HashMap<&'s str, [u8; 32]>, bool), ContextError> {
        self.cache.load()?;
        let mut out = HashMap::with_capacity(selection.entries.len());
        let mut misses: Vec<(&'s str, StatKey)> = Vec::new();
        for e in &selection.entries {
            if e.meta.kind != EntryKind::File || out.contains_key(e.path.as_str()) {
                continue;
            }
            let key = StatKey::from(&e.meta);
            match self.cache.lookup(&e.path, &key) {
                Some(d) => {
                    out.insert(e.path.as_str(), d);
                }
                None => misses.push((e.path.as_str(), key)),
            }
        }
        self.cache_hits
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        misses.sort_unstable_by(|a, b| a.0.cmp(b.0));
        misses.dedup_by(|a, b| a.0 == b.0);
        let hashed: Vec<(&str, StatKey, [u8; 32], bool)> = misses
            .par_iter()
            .map(|&(path, key)| {
                let (digest, stable) = self.hash_file(&root.join(path), &key)?;
                Ok((path, key, digest, stable))
            })
            .collect::<Result<_, ContextError>>()?;
        let mut all_stable = true;
        for (path, key, digest, stable) in hashed {
            if stable {
                self.cache
                    .insert(path, key, selection.scanned_at_ns, digest);
            }
            all_stable &= stable;
            out.insert(path, digest);
        }
        Ok((out, all_stable))
    }

    /// Hashes one file; `stable` is false when its stat changed since the
    /// walk (then the digest is used but not remembered).
    fn hash_file(&self, path: &Path, key: &StatKey) -> Result<([u8; 32], bool), ContextError> {
        let (digest, stable, total) = read_digest(path, key)?;
        self.bytes_read.fetch_add(total, Ordering::Relaxed);
        self.files_read.fetch_add(1, Ordering::Relaxed);
        Ok((digest, stable))
    }
}

/// The SHA-256 of a file's content, whether the file still has the stat
/// `key` after it was read, and the bytes read.
fn read_digest(path: &Path, key: &StatKey) -> Result<([u8; 32], bool, u64), ContextError> {
    let mut f = File::open(path).map_err(|e| ContextError::io(path, e))?;
    let mut h = Sha256::new();
    let mut total = 0u64;
    BUF.with(|buf| -> Result<(), ContextError> {
        let mut buf = buf.borrow_mut();
        if buf.len() < READ_BUF {
            buf.resize(READ_BUF, 0);
        }
        loop {
            let n = match f.read(&mut buf[..]) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(ContextError::io(path, e)),
            };
            h.update(&buf[..n]);
            total += n as u64;
        }
    })?;
    let after = f.metadata().map_err(|e| ContextError::io(path, e))?;
    let stable = after.ino() == key.ino
        && after.size() == key.size
        && total == key.size
        && after
            .mtime()
            .saturating_mul(1_000_000_000)
            .saturating_add(after.mtime_nsec())
            == key.mtime_ns
        && after
            .ctime()
            .saturating_mul(1_000_000_000)
            .saturating_add(after.ctime_nsec())
            == key.ctime_ns;
    Ok((h.finalize().into(), stable, total))
}

fn put_str(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

fn entry_digest(
    e: &SelectedEntry,
    content: Option<[u8; 32]>,
    options: DigestOptions,
) -> Sha256Digest {
    let m: &Meta = &e.meta;
    let mut h = Sha256::new();
    h.update(b"strata-context-entry-v1\0");
    let kind = match m.kind {
        EntryKind::File => b'f',
        EntryKind::Dir => b'd',
        EntryKind::Symlink => b'l',
        EntryKind::Other => b'o',
    };
    h.update([kind]);
    let mode = if options.include_mode {
        m.permissions()
    } else {
        0
    };
    h.update(mode.to_le_bytes());
    if options.include_owner {
        h.update(m.uid.to_le_bytes());
        h.update(m.gid.to_le_bytes());
    }
    match m.kind {
        EntryKind::File => h.update(content.unwrap_or([0; 32])),
        EntryKind::Symlink => {
            let target = e
                .link_target
                .as_deref()
                .map(|t| t.as_os_str().as_bytes())
                .unwrap_or(b"");
            put_str(&mut h, target);
        }
        EntryKind::Other => h.update((m.mode & 0o170000).to_le_bytes()),
        EntryKind::Dir => {}
    }
    Sha256Digest(h.finalize().into())
}
