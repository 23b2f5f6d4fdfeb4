//! Build-context selection and hashing for strata: `.dockerignore`,
//! COPY/ADD source selection, content digests and the stat cache.
//!
//! The flow for one `COPY`:
//!
//! 1. [`BuildContext::new`] compiles the `.dockerignore` rules
//!    ([`IgnoreMatcher`], moby's exact semantics).
//! 2. [`BuildContext::select`] resolves the sources of the step into a
//!    [`Selection`]: source roots and the entries below them, walking only
//!    the directories the sources name and never entering an excluded
//!    directory unless a `!` exception could match inside it.
//! 3. [`ContentHasher::digest`] turns the selection into a
//!    [`SelectionDigest`]: one SHA-256 for the cache key and a per-entry
//!    [`Manifest`], reading only files the [`StatCache`] cannot vouch for.
//!    [`ContentHasher::digest_memoized`] first asks the selection memo,
//!    which remembers whole-selection digests under a fingerprint of the
//!    entries' stats, so an unchanged selection is not digested again.
//! 4. [`changed_since`] compares two manifests to explain a miss.
//!
//! ```
//! use strata_context::{BuildContext, ContentHasher, CopyRequest, DigestOptions, StatCache};
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("requirements.txt"), "flask\n").unwrap();
//! let ctx = BuildContext::new(dir.path(), &[]).unwrap();
//! let sources = vec!["requirements.txt".to_string()];
//! let selection = ctx.select(&CopyRequest { sources: &sources, ..Default::default() }).unwrap();
//! assert_eq!(selection.entries.len(), 1);
//! let mut hasher = ContentHasher::new(StatCache::in_memory());
//! let digest = hasher.digest(ctx.root(), &selection, DigestOptions::default()).unwrap();
//! assert!(digest.manifest.contains_key("requirements.txt"));
//! ```

mod diff;
mod digest;
mod entry;
mod error;
mod fnmatch;
mod ignore;
mod memo;
mod paths;
mod pattern;
mod select;
mod statcache;
mod walk;

pub use diff::{ManifestChanges, changed_since};
pub use digest::{
    ContentHasher, DigestOptions, Manifest, MemoDigest, SelectionDigest, Sha256Digest,
};
pub use entry::{EntryKind, Meta};
pub use error::ContextError;
pub use ignore::{IgnoreMatcher, MatchState};
pub use paths::{clean_rel, path_cmp};
pub use pattern::Pattern;
pub use select::{BuildContext, CopyRequest, SelectedEntry, Selection, SourceRoot};
pub use statcache::{StatCache, StatKey, is_trustworthy};
