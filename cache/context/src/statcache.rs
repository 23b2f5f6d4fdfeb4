//! The persistent stat cache: remembers the content digest of each context
//! file under the `lstat` identity it had when it was hashed, so that an
//! unchanged file is never read again.
//!
//! On disk (one directory per context root, chosen by the caller; the store
//! passes `ROOT/statcache-v1/<sha256 of the canonical context path>`):
//!
//! ```text
//! <dir>/entries.bin        the cache, replaced atomically on save
//! <dir>/.entries.bin.*.tmp a save in progress (removed on failure)
//! ```
//!
//! `entries.bin` is little-endian: the magic `STRATASC`, a `u32` format
//! version, a `u64` entry count, then per entry (sorted by path): `u32`
//! path length, the UTF-8 path relative to the context root, `dev`, `ino`,
//! `size` (`u64`), `mtime_ns`, `ctime_ns` (`i64`), `mode` (`u32`),
//! `recorded_ns` (`i64`) and the 32-byte SHA-256 of the content. A file
//! that does not parse is treated as an empty cache: it is only a cache.
//!
//! Racy timestamps, as git's index: an entry is trusted only when the
//! file's mtime is in an earlier second than the moment its stat was taken
//! (`recorded_ns`). A file written in the same second as it was hashed could
//! be written again without its mtime changing, so it is re-hashed next time.
//!
//! Saves write a temporary file in the same directory, fsync it, rename it
//! over `entries.bin` and fsync the directory. Concurrent builds on one
//! context each save a complete file; the last rename wins, nothing tears.

use crate::entry::Meta;
use crate::error::ContextError;
use std::collections::HashMap;
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const MAGIC: &[u8; 8] = b"STRATASC";
const VERSION: u32 = 1;
const FILE_NAME: &str = "entries.bin";
const FIXED_LEN: usize = 8 * 3 + 8 * 2 + 4 + 8 + 32;
pub(crate) const NS_PER_SEC: i64 = 1_000_000_000;

/// The identity of a file's content as `lstat` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatKey {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time (ns).
    pub mtime_ns: i64,
    /// Status change time (ns).
    pub ctime_ns: i64,
    /// Full `st_mode`.
    pub mode: u32,
}

impl From<&Meta> for StatKey {
    fn from(m: &Meta) -> StatKey {
        StatKey {
            dev: m.dev,
            ino: m.ino,
            size: m.size,
            mtime_ns: m.mtime_ns,
            ctime_ns: m.ctime_ns,
            mode: m.mode,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cached {
    key: StatKey,
    recorded_ns: i64,
    digest: [u8; 32],
}

/// A stat cache for one context root (see the module docs).
#[derive(Debug)]
pub struct StatCache {
    dir: Option<PathBuf>,
    /// `None` until read from disk (see [`StatCache::open_lazy`]).
    entries: Option<HashMap<String, Cached>>,
    dirty: bool,
}

/// Whether an entry recorded at `recorded_ns` for a file with modification
/// time `mtime_ns` may be trusted: the mtime must be in an earlier second.
pub fn is_trustworthy(mtime_ns: i64, recorded_ns: i64) -> bool {
    mtime_ns.div_euclid(NS_PER_SEC) < recorded_ns.div_euclid(NS_PER_SEC)
}

impl StatCache {
    /// A cache that lives only in memory (never saved).
    pub fn in_memory() -> StatCache {
        StatCache {
            dir: None,
            entries: Some(HashMap::new()),
            dirty: false,
        }
    }

    /// Loads the cache kept in `dir` (empty if there is none yet or it is
    /// unreadable as a cache file). The directory is created on save.
    pub fn open(dir: impl Into<PathBuf>) -> Result<StatCache, ContextError> {
        let mut cache = StatCache::open_lazy(dir);
        cache.load()?;
        Ok(cache)
    }

    /// The cache kept in `dir`, read only when [`StatCache::load`] is
    /// called or an entry is inserted: a build whose selections are all
    /// answered by the selection memo never reads it.
    pub fn open_lazy(dir: impl Into<PathBuf>) -> StatCache {
        StatCache {
            dir: Some(dir.into()),
            entries: None,
            dirty: false,
        }
    }

    /// Reads the cache from disk if that has not happened yet.
    pub fn load(&mut self) -> Result<(), ContextError> {
        if self.entries.is_some() {
            return Ok(());
        }
        let entries = match &self.dir {
            None => HashMap::new(),
            Some(dir) => read_if_present(dir, FILE_NAME)?
                .and_then(|bytes| decode(&bytes))
                .unwrap_or_default(),
        };
        self.entries = Some(entries);
        Ok(())
    }

    /// The directory the cache is kept in (`None` for [`StatCache::in_memory`]).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Number of entries (0 before the cache is loaded).
    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, HashMap::len)
    }

    /// Whether the cache has no entries (true before it is loaded).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The remembered digest of `path` if its stat still matches `key` and
    /// the entry is not racy (`None` before the cache is loaded).
    pub fn lookup(&self, path: &str, key: &StatKey) -> Option<[u8; 32]> {
        let c = self.entries.as_ref()?.get(path)?;
        (c.key == *key && is_trustworthy(c.key.mtime_ns, c.recorded_ns)).then_some(c.digest)
    }

    /// Remembers that `path`, with stat `key` taken at `recorded_ns`, has
    /// content digest `digest`. Loads the cache first if needed; a cache
    /// file that cannot be read is then never written over.
    pub fn insert(&mut self, path: &str, key: StatKey, recorded_ns: i64, digest: [u8; 32]) {
        if self.entries.is_none() && self.load().is_err() {
            self.dir = None;
        }
        let new = Cached {
            key,
            recorded_ns,
            digest,
        };
        let entries = self.entries.get_or_insert_default();
        if entries.get(path) != Some(&new) {
            entries.insert(path.to_string(), new);
            self.dirty = true;
        }
    }

    /// Writes the cache if it changed since it was loaded (crash-safe).
    pub fn save(&mut self) -> Result<(), ContextError> {
        let (Some(dir), Some(entries)) = (&self.dir, &self.entries) else {
            return Ok(());
        };
        if !self.dirty {
            return Ok(());
        }
        fs::create_dir_all(dir).map_err(|e| ContextError::io(dir, e))?;
        let bytes = encode(entries);
        write_atomic(dir, FILE_NAME, &bytes, true)?;
        self.dirty = false;
        Ok(())
    }
}

fn encode(entries: &HashMap<String, Cached>) -> Vec<u8> {
    let mut sorted: Vec<(&String, &Cached)> = entries.iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut out = Vec::with_capacity(
        20 + sorted
            .iter()
            .map(|(p, _)| 4 + p.len() + FIXED_LEN)
            .sum::<usize>(),
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u64).to_le_bytes());
    for (path, c) in sorted {
        out.extend_from_slice(&(path.len() as u32).to_le_bytes());
        out.extend_from_slice(path.as_bytes());
        out.extend_from_slice(&c.key.dev.to_le_bytes());
        out.extend_from_slice(&c.key.ino.to_le_bytes());
        out.extend_from_slice(&c.key.size.to_le_bytes());
        out.extend_from_slice(&c.key.mtime_ns.to_le_bytes());
        out.extend_from_slice(&c.key.ctime_ns.to_le_bytes());
        out.extend_from_slice(&c.key.mode.to_le_bytes());
        out.extend_from_slice(&c.recorded_ns.to_le_bytes());
        out.extend_from_slice(&c.digest);
    }
    out
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.array().map(i64::from_le_bytes)
    }
}

fn decode(bytes: &[u8]) -> Option<HashMap<String, Cached>> {
    let mut r = Reader(bytes);
    if r.take(8)? != MAGIC || r.u32()? != VERSION {
        return None;
    }
    let count = usize::try_from(r.u64()?).ok()?;
    // Every entry takes at least FIXED_LEN + 4 bytes: bound the allocation.
    let mut entries = HashMap::with_capacity(count.min(bytes.len() / (FIXED_LEN + 4)));
    for _ in 0..count {
        let len = r.u32()? as usize;
        let path = std::str::from_utf8(r.take(len)?).ok()?.to_string();
        let key = StatKey {
            dev: r.u64()?,
            ino: r.u64()?,
            size: r.u64()?,
            mtime_ns: r.i64()?,
            ctime_ns: r.i64()?,
            mode: r.u32()?,
        };
        let recorded_ns = r.i64()?;
        let digest = r.array()?;
        entries.insert(
            path,
            Cached {
                key,
                recorded_ns,
                digest,
            },
        );
    }
    r.0.is_empty().then_some(entries)
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The bytes of `dir/file_name`, or `None` when there is no such file.
pub(crate) fn read_if_present(
    dir: &Path,
    file_name: &str,
) -> Result<Option<Vec<u8>>, ContextError> {
    let path = dir.join(file_name);
    match fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ContextError::io(path, e)),
    }
}

/// Writes `dir/file_name` through a unique temporary file in `dir` renamed
/// over the old one. With `sync`, the file is fsynced before the rename
/// and the directory after it; without, a crash may leave the old file, or
/// a new one that is empty or torn, which the reader must detect (a
/// checksum).
pub(crate) fn write_atomic(
    dir: &Path,
    file_name: &str,
    bytes: &[u8],
    sync: bool,
) -> Result<(), ContextError> {
    let unique = format!(
        ".{file_name}.{}.{}.{}.tmp",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let tmp = dir.join(unique);
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| ContextError::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| ContextError::io(&tmp, e))?;
        if sync {
            f.sync_all().map_err(|e| ContextError::io(&tmp, e))?;
        }
        let dest = dir.join(file_name);
        fs::rename(&tmp, &dest).map_err(|e| ContextError::io(&dest, e))?;
        if !sync {
            return Ok(());
        }
        let d = fs::File::open(dir).map_err(|e| ContextError::io(dir, e))?;
        d.sync_all().map_err(|e| ContextError::io(dir, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(mtime_ns: i64) -> StatKey {
        StatKey {
            dev: 1,
            ino: 2,
            size: 3,
            mtime_ns,
            ctime_ns: mtime_ns,
            mode: 0o100644,
        }
    }

    #[test]
    fn racy_entries_are_not_trusted() {
        let sec = NS_PER_SEC;
        assert!(is_trustworthy(10 * sec + 5, 11 * sec));
        assert!(
            !is_trustworthy(10 * sec + 5, 10 * sec + 999_999_999),
            "same second"
        );
        assert!(!is_trustworthy(12 * sec, 11 * sec), "mtime in the future");
        let mut c = StatCache::in_memory();
        c.insert("old", key(10 * sec), 20 * sec, [1; 32]);
        c.insert("racy", key(20 * sec + 1), 20 * sec + 2, [2; 32]);
        assert_eq!(c.lookup("old", &key(10 * sec)), Some([1; 32]));
        assert_eq!(c.lookup("racy", &key(20 * sec + 1)), None);
        assert_eq!(c.lookup("old", &key(10 * sec + 1)), None, "stat changed");
    }

    #[test]
    fn save_and_load_round_trip_and_skip_clean_saves() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("statcache-v1/abc");
        let mut c = StatCache::open(&sub).unwrap();
        assert!(c.is_empty());
        c.insert("a/b.txt", key(5), NS_PER_SEC * 100, [7; 32]);
        c.insert("ünïcode", key(6), NS_PER_SEC * 100, [8; 32]);
        c.save().unwrap();
        let file = sub.join(FILE_NAME);
        let first = fs::metadata(&file).unwrap().modified().unwrap();
        let mut loaded = StatCache::open(&sub).unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded.lookup("a/b.txt", &key(5)), Some([7; 32]));
        assert_eq!(loaded.lookup("ünïcode", &key(6)), Some([8; 32]));
        loaded.insert("a/b.txt", key(5), NS_PER_SEC * 100, [7; 32]);
        std::thread::sleep(std::time::Duration::from_millis(20));
        loaded.save().unwrap();
        assert_eq!(
            fs::metadata(&file).unwrap().modified().unwrap(),
            first,
            "unchanged cache is not rewritten"
        );
        let leftovers: Vec<_> = fs::read_dir(&sub)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, [std::ffi::OsString::from(FILE_NAME)]);
    }

    #[test]
    fn corrupt_or_truncated_files_load_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = StatCache::open(dir.path()).unwrap();
        c.insert("x", key(5), NS_PER_SEC * 100, [7; 32]);
        c.save().unwrap();
        let file = dir.path().join(FILE_NAME);
        let bytes = fs::read(&file).unwrap();
        for cut in [0, 7, 20, bytes.len() - 1] {
            fs::write(&file, &bytes[..cut]).unwrap();
            assert!(
                StatCache::open(dir.path()).unwrap().is_empty(),
                "cut at {cut}"
            );
        }
        let mut huge = bytes.clone();
        huge[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
        fs::write(&file, &huge).unwrap();
        assert!(StatCache::open(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn concurrent_saves_leave_a_complete_file() {
        let dir = tempfile::tempdir().unwrap();
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let path = dir.path().to_path_buf();
                s.spawn(move || {
                    for round in 0..10 {
                        let mut c = StatCache::open(&path).unwrap();
                        c.insert(&format!("t{t}-{round}"), key(5), NS_PER_SEC * 100, [t; 32]);
                        c.save().unwrap();
                    }
                });
            }
        });
        let c = StatCache::open(dir.path()).unwrap();
        assert!(!c.is_empty(), "the final file parses");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary files left: {names:?}");
    }
}
