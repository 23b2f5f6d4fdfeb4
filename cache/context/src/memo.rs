//! The selection memo: remembers the digest of a whole selection under a
//! fingerprint of its entries' `lstat` identities, so that a rebuild whose
//! selection did not change on disk neither loads the stat cache nor
//! looks up, digests or names 20,000 entries one by one.
//!
//! On disk, next to the stat cache (`<dir>` as in [`crate::StatCache`]):
//!
//! ```text
//! <dir>/selections.bin        the memo, replaced atomically on save
//! ```
//!
//! `selections.bin` is the magic `STRATASM`, a `u32` format version, a
//! `u32` count, then per memo (newest first) the 32-byte fingerprint and
//! the 32-byte selection digest, and last the SHA-256 of everything
//! before it. At most [`CAPACITY`] memos are kept; the oldest recorded go
//! first. The file is replaced by a rename without an fsync (a build that
//! records a memo would otherwise wait for the disk): after a crash it may
//! be the old file or an empty or torn new one, which the checksum turns
//! into an empty memo, as any file that does not parse.
//!
//! The fingerprint is a SHA-256 over everything the selection digest
//! depends on except file content: the digest options, the roots, and per
//! entry its root, names, type, full mode, owner, symlink target and, for
//! a regular file, `dev`, `ino`, size, mtime and ctime (hashed in runs of
//! 2,048 entries on all cores; the fingerprint hashes the runs' digests). File content is
//! vouched for as the stat cache does it (see [`crate::is_trustworthy`]),
//! more strictly: a fingerprint exists only when every file's mtime *and*
//! ctime are in an earlier second than the moment the walk started. A
//! later write to such a file gives it a newer ctime (and, unless reset,
//! mtime), so the same fingerprint means the same content. A selection
//! whose files were too recent is memoized later, when the build saves,
//! if its racy files have aged past a second and read back with the same
//! stat and content (see [`crate::ContentHasher::save`]).

use crate::digest::{DigestOptions, Sha256Digest};
use crate::entry::EntryKind;
use crate::error::ContextError;
use crate::select::{SelectedEntry, Selection};
use crate::statcache::{is_trustworthy, read_if_present, write_atomic};
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

const MAGIC: &[u8; 8] = b"STRATASM";
const VERSION: u32 = 2;
const FILE_NAME: &str = "selections.bin";
/// One memo: a fingerprint and the selection digest remembered under it.
type Memo = ([u8; 32], [u8; 32]);

/// The most memos kept (64 bytes each).
pub const CAPACITY: usize = 256;

/// Memos of selection digests for one context root (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct SelectionMemo {
    dir: Option<PathBuf>,
    /// `None` until read from disk.
    memos: Option<Vec<Memo>>,
    dirty: bool,
}

impl SelectionMemo {
    /// The memo kept in `dir` (read on first use), or one that lives only
    /// in memory when `dir` is `None`.
    pub(crate) fn new(dir: Option<PathBuf>) -> SelectionMemo {
        SelectionMemo {
            dir,
            memos: None,
            dirty: false,
        }
    }

    /// Whether memos are kept on disk (only then is a fingerprint worth
    /// computing).
    pub(crate) fn persistent(&self) -> bool {
        self.dir.is_some()
    }

    fn memos(&mut self) -> Result<&mut Vec<Memo>, ContextError> {
        if self.memos.is_none() {
            let loaded = match &self.dir {
                None => Vec::new(),
                Some(dir) => read_if_present(dir, FILE_NAME)?
                    .and_then(|bytes| decode(&bytes))
                    .unwrap_or_default(),
            };
            self.memos = Some(loaded);
        }
        Ok(self.memos.get_or_insert_default())
    }

    /// The selection digest remembered under `fingerprint`.
    pub(crate) fn get(
        &mut self,
        fingerprint: &[u8; 32],
    ) -> Result<Option<Sha256Digest>, ContextError> {
        Ok(self
            .memos()?
            .iter()
            .find(|(fp, _)| fp == fingerprint)
            .map(|(_, digest)| Sha256Digest(*digest)))
    }

    /// Remembers `digest` under `fingerprint`, dropping the oldest memo
    /// beyond [`CAPACITY`].
    pub(crate) fn insert(
        &mut self,
        fingerprint: [u8; 32],
        digest: Sha256Digest,
    ) -> Result<(), ContextError> {
        let memos = self.memos()?;
        if memos.first() == Some(&(fingerprint, digest.0)) {
            return Ok(());
        }
        memos.retain(|(fp, _)| *fp != fingerprint);
        memos.insert(0, (fingerprint, digest.0));
        memos.truncate(CAPACITY);
        self.dirty = true;
        Ok(())
    }

    /// Writes the memo if it changed (crash-safe).
    pub(crate) fn save(&mut self) -> Result<(), ContextError> {
        let (Some(dir), Some(memos)) = (&self.dir, &self.memos) else {
            return Ok(());
        };
        if !self.dirty {
            return Ok(());
        }
        fs::create_dir_all(dir).map_err(|e| ContextError::io(dir, e))?;
        write_atomic(dir, FILE_NAME, &encode(memos), false)?;
        self.dirty = false;
        Ok(())
    }
}

fn encode(memos: &[Memo]) -> Vec<u8> {
    let mut out = Vec::with_capacity(48 + memos.len() * 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(memos.len() as u32).to_le_bytes());
    for (fp, digest) in memos {
        out.extend_from_slice(fp);
        out.extend_from_slice(digest);
    }
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

fn decode(bytes: &[u8]) -> Option<Vec<Memo>> {
    let (body, sum) = bytes.split_last_chunk::<32>()?;
    if Sha256::digest(body).as_slice() != sum {
        return None;
    }
    let rest = body.strip_prefix(MAGIC)?;
    let (version, rest) = rest.split_first_chunk::<4>()?;
    let (count, rest) = rest.split_first_chunk::<4>()?;
    if u32::from_le_bytes(*version) != VERSION
        || rest.len() != u32::from_le_bytes(*count) as usize * 64
    {
        return None;
    }
    rest.chunks_exact(64)
        .map(|m| Some((m[..32].try_into().ok()?, m[32..].try_into().ok()?)))
        .collect()
}

/// Entries hashed per task: the fingerprint is a SHA-256 over the
/// SHA-256 of each run of this many entries, computed on all cores.
const CHUNK: usize = 2048;

/// The fingerprint of `selection` digested with `options`, or `None` when
/// a file was written too recently (in the second the walk started, or
/// later) for its stat to vouch for its content.
pub(crate) fn fingerprint(selection: &Selection, options: DigestOptions) -> Option<[u8; 32]> {
    fingerprint_as_of(selection, options, selection.scanned_at_ns)
}

/// [`fingerprint`] with the files' stats judged against `scanned` instead
/// of the walk's start (`i64::MAX`: every file vouched for by the caller).
pub(crate) fn fingerprint_as_of(
    selection: &Selection,
    options: DigestOptions,
    scanned: i64,
) -> Option<[u8; 32]> {
    let chunks: Vec<[u8; 32]> = selection
        .entries
        .par_chunks(CHUNK)
        .map(|chunk| hash_entries(chunk, scanned))
        .collect::<Option<_>>()?;
    let mut h = Sha256::new();
    h.update(b"strata-selection-memo-v1\0");
    h.update([u8::from(options.include_mode) | (u8::from(options.include_owner) << 1)]);
    h.update((selection.roots.len() as u64).to_le_bytes());
    for r in &selection.roots {
        h.update((r.source as u64).to_le_bytes());
        put_str(&mut h, r.path.as_bytes());
        put_str(&mut h, r.resolved.as_bytes());
        h.update([kind_byte(r.kind)]);
    }
    h.update((selection.entries.len() as u64).to_le_bytes());
    for c in &chunks {
        h.update(c);
    }
    Some(h.finalize().into())
}

/// The SHA-256 of one run of entries: one record per entry (its root,
/// type, mode, owner, for a file its stat identity, its names and symlink
/// target), or `None` if a file in it is too recent to be vouched for.
fn hash_entries(entries: &[SelectedEntry], scanned: i64) -> Option<[u8; 32]> {
    let mut h = Sha256::new();
    let mut buf = Vec::with_capacity(256);
    for e in entries {
        let m = &e.meta;
        if m.kind == EntryKind::File
            && !(is_trustworthy(m.mtime_ns, scanned) && is_trustworthy(m.ctime_ns, scanned))
        {
            return None;
        }
        buf.clear();
        buf.push(b'E');
        buf.extend_from_slice(&(e.root as u64).to_le_bytes());
        buf.push(kind_byte(m.kind));
        buf.extend_from_slice(&m.mode.to_le_bytes());
        buf.extend_from_slice(&m.uid.to_le_bytes());
        buf.extend_from_slice(&m.gid.to_le_bytes());
        if m.kind == EntryKind::File {
            for v in [m.dev, m.ino, m.size] {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            for v in [m.mtime_ns, m.ctime_ns] {
                buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        for s in [e.rel.as_bytes(), e.path.as_bytes()] {
            buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
            buf.extend_from_slice(s);
        }
        let target = e.link_target.as_deref().map(|t| t.as_os_str().as_bytes());
        buf.push(u8::from(target.is_some()));
        if let Some(t) = target {
            buf.extend_from_slice(&(t.len() as u64).to_le_bytes());
            buf.extend_from_slice(t);
        }
        h.update(&buf);
    }
    Some(h.finalize().into())
}

fn kind_byte(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::File => b'f',
        EntryKind::Dir => b'd',
        EntryKind::Symlink => b'l',
        EntryKind::Other => b'o',
    }
}

fn put_str(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Meta;
    use crate::select::{SelectedEntry, SourceRoot};

    const SEC: i64 = 1_000_000_000;

    fn meta(kind: EntryKind, mode: u32) -> Meta {
        Meta {
            kind,
            mode,
            uid: 0,
            gid: 0,
            size: 5,
            dev: 1,
            ino: 2,
            mtime_ns: 100 * SEC,
            ctime_ns: 100 * SEC,
        }
    }

    fn selection() -> Selection {
        let entry = |rel: &str, meta: Meta, link: Option<&str>| SelectedEntry {
            root: 0,
            rel: rel.to_string(),
            path: format!("src/{rel}").trim_end_matches('/').to_string(),
            meta,
            link_target: link.map(PathBuf::from),
        };
        Selection {
            roots: vec![SourceRoot {
                source: 0,
                path: "src".into(),
                resolved: "src".into(),
                kind: EntryKind::Dir,
            }],
            entries: vec![
                entry("", meta(EntryKind::Dir, 0o40755), None),
                entry("a.py", meta(EntryKind::File, 0o100644), None),
                entry("link", meta(EntryKind::Symlink, 0o120777), Some("a.py")),
            ],
            scanned_at_ns: 200 * SEC,
        }
    }

    #[test]
    fn the_fingerprint_changes_with_every_input_of_the_digest() {
        let opts = DigestOptions::default();
        type Edit = fn(&mut Selection);
        let edits: [(&str, Edit); 17] = [
            ("rel", |s| s.entries[1].rel = "b.py".into()),
            ("path", |s| s.entries[1].path = "other/a.py".into()),
            ("root index", |s| s.entries[2].root = 1),
            ("kind", |s| s.entries[1].meta.kind = EntryKind::Other),
            ("mode", |s| s.entries[1].meta.mode = 0o100755),
            ("uid", |s| s.entries[1].meta.uid = 1),
            ("gid", |s| s.entries[1].meta.gid = 1),
            ("size", |s| s.entries[1].meta.size = 6),
            ("dev", |s| s.entries[1].meta.dev = 9),
            ("ino", |s| s.entries[1].meta.ino = 9),
            ("mtime", |s| s.entries[1].meta.mtime_ns += 1),
            ("ctime", |s| s.entries[1].meta.ctime_ns += 1),
            ("link target", |s| {
                s.entries[2].link_target = Some(PathBuf::from("b.py"))
            }),
            ("root path", |s| s.roots[0].path = "src2".into()),
            ("root on disk", |s| s.roots[0].resolved = "src2".into()),
            ("root source", |s| s.roots[0].source = 1),
            ("entry removed", |s| {
                s.entries.pop();
            }),
        ];
        let base = fingerprint(&selection(), opts).unwrap();
        let mut seen = std::collections::BTreeSet::from([base]);
        for (what, edit) in edits {
            let mut s = selection();
            edit(&mut s);
            let fp = fingerprint(&s, opts).unwrap();
            assert!(seen.insert(fp), "{what} did not change the fingerprint");
        }
        for opts in [
            DigestOptions {
                include_mode: false,
                include_owner: false,
            },
            DigestOptions {
                include_mode: true,
                include_owner: true,
            },
        ] {
            assert!(seen.insert(fingerprint(&selection(), opts).unwrap()));
        }
        // Times of directories and the moment of the walk do not matter.
        let mut s = selection();
        s.entries[0].meta.mtime_ns = 199 * SEC;
        s.scanned_at_ns = 300 * SEC;
        assert_eq!(fingerprint(&s, opts), Some(base));
    }

    #[test]
    fn a_file_written_in_the_second_of_the_walk_has_no_fingerprint() {
        let opts = DigestOptions::default();
        for racy in [
            |s: &mut Selection| s.entries[1].meta.mtime_ns = 200 * SEC + 5,
            |s: &mut Selection| s.entries[1].meta.ctime_ns = 200 * SEC + 5,
            |s: &mut Selection| s.entries[1].meta.ctime_ns = 201 * SEC,
        ] {
            let mut s = selection();
            racy(&mut s);
            assert_eq!(fingerprint(&s, opts), None);
        }
        let mut s = selection();
        s.entries[1].meta.ctime_ns = 199 * SEC + 999_999_999;
        assert!(fingerprint(&s, opts).is_some(), "the second before is fine");
    }

    #[test]
    fn memos_round_trip_newest_first_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = SelectionMemo::new(Some(dir.path().to_path_buf()));
        for i in 0..(CAPACITY + 3) {
            let mut fp = [0u8; 32];
            fp[..8].copy_from_slice(&(i as u64).to_le_bytes());
            m.insert(fp, Sha256Digest([i as u8; 32])).unwrap();
        }
        m.save().unwrap();
        let mut loaded = SelectionMemo::new(Some(dir.path().to_path_buf()));
        let newest = {
            let mut fp = [0u8; 32];
            fp[..8].copy_from_slice(&((CAPACITY + 2) as u64).to_le_bytes());
            fp
        };
        assert_eq!(
            loaded.get(&newest).unwrap(),
            Some(Sha256Digest([(CAPACITY + 2) as u8; 32]))
        );
        assert_eq!(loaded.get(&[0; 32]).unwrap(), None, "the oldest went");
        assert_eq!(loaded.memos().unwrap().len(), CAPACITY);
    }

    #[test]
    fn a_damaged_memo_file_is_an_empty_memo() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = SelectionMemo::new(Some(dir.path().to_path_buf()));
        m.insert([1; 32], Sha256Digest([2; 32])).unwrap();
        m.save().unwrap();
        let file = dir.path().join(FILE_NAME);
        let bytes = fs::read(&file).unwrap();
        for cut in [0, 8, 15, bytes.len() - 33, bytes.len() - 1] {
            fs::write(&file, &bytes[..cut]).unwrap();
            let mut m = SelectionMemo::new(Some(dir.path().to_path_buf()));
            assert_eq!(m.get(&[1; 32]).unwrap(), None, "cut at {cut}");
        }
        // A torn write that kept the length: a digest byte changed.
        let mut torn = bytes.clone();
        torn[16 + 40] ^= 1;
        fs::write(&file, &torn).unwrap();
        let mut m = SelectionMemo::new(Some(dir.path().to_path_buf()));
        assert_eq!(m.get(&[1; 32]).unwrap(), None, "checksum");
        fs::write(&file, &bytes).unwrap();
        let mut m = SelectionMemo::new(Some(dir.path().to_path_buf()));
        assert_eq!(m.get(&[1; 32]).unwrap(), Some(Sha256Digest([2; 32])));
    }
}
