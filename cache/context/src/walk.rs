//! A parallel walk of one directory of the context that applies the
//! `.dockerignore` rules, `COPY --exclude` and `COPY --parents` include
//! patterns as it goes, and never descends into a directory whose whole
//! subtree is excluded.

use crate::entry::{EntryKind, Meta, RawEntry};
use crate::error::ContextError;
use crate::fnmatch::fnmatch;
use crate::ignore::{IgnoreMatcher, MatchState};
use crate::paths::join;
use rayon::prelude::*;
use rustix::fs::{AtFlags, CWD, Mode, OFlags, RawDir, openat, readlinkat, statat};
use std::ffi::{OsStr, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// How directories of the walk are opened.
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);

/// The `getdents64` buffer of one directory.
const DIR_BUF: usize = 32 * 1024;

/// The filters of one walk.
pub(crate) struct Walker<'a> {
    /// The context root on disk.
    pub root: &'a Path,
    /// `.dockerignore`, matched against context-relative paths.
    pub ignore: &'a IgnoreMatcher,
    /// `--exclude`, matched against paths relative to the source root.
    pub exclude: &'a IgnoreMatcher,
    /// `--parents` include pattern components, relative to the source root.
    pub include: Option<&'a [String]>,
}

/// A directory to walk and what is known about it.
pub(crate) struct Node {
    pub path: String,
    pub rel: String,
    pub ignore: MatchState,
    pub exclude: MatchState,
    /// The include pattern matched this directory (or there is none), so
    /// everything below is included.
    pub included: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum IncludeMatch {
    No,
    /// A directory on the way to a possible match.
    Partial,
    Full,
}

/// Matches `path` components against include-pattern components, where a
/// `**` component stands for any number of components (fsutil's `prefix.Match`).
pub(crate) fn include_match(pattern: &[String], path: &[&str]) -> IncludeMatch {
    match (pattern.first(), path.first()) {
        (None, None) => IncludeMatch::Full,
        (None, Some(_)) => IncludeMatch::Full, // a parent matched fully
        (Some(_), None) => {
            if pattern.iter().all(|p| p == "**") {
                IncludeMatch::Full
            } else {
                IncludeMatch::Partial
            }
        }
        (Some(p), Some(_)) if p == "**" => {
            include_match(&pattern[1..], path).max(include_match(pattern, &path[1..]))
        }
        (Some(p), Some(c)) => {
            if fnmatch(p, c) {
                include_match(&pattern[1..], &path[1..])
            } else {
                IncludeMatch::No
            }
        }
    }
}

/// A child of a walked directory, in name order.
enum Child {
    /// A file, symlink or other non-directory that is kept.
    Leaf(RawEntry),
    /// A directory to walk: whether it is kept only for what is kept
    /// below it, and its entry.
    Dir(Node, bool, RawEntry),
}

impl Child {
    fn rel(&self) -> &str {
        match self {
            Child::Leaf(e) | Child::Dir(_, _, e) => &e.rel,
        }
    }
}

/// The entries a walk found, in order, as runs to concatenate. A
/// directory's entries are not copied into its parent's list: each level
/// hands up its runs, and every entry is moved once, when the runs are
/// flattened (at 20,000 entries four levels deep, copying them up level
/// by level cost more than the `lstat` calls).
#[derive(Debug, Default)]
pub(crate) struct Listing {
    runs: Vec<Vec<RawEntry>>,
    len: usize,
}

impl Listing {
    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the walk found nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push_run(&mut self, run: Vec<RawEntry>) {
        if !run.is_empty() {
            self.len += run.len();
            self.runs.push(run);
        }
    }

    fn append(&mut self, other: Listing) {
        self.len += other.len;
        self.runs.extend(other.runs);
    }

    /// The entries, in walk order.
    pub(crate) fn into_entries(self) -> impl Iterator<Item = RawEntry> {
        self.runs.into_iter().flatten()
    }
}

impl Walker<'_> {
    /// Walks below `node` (not including `node` itself); entries come back
    /// sorted by [`crate::paths::path_cmp`] on `rel` (children in name
    /// order, each directory right before its content).
    pub(crate) fn walk(&self, node: &Node) -> Result<Listing, ContextError> {
        let dir = self.root.join(&node.path);
        let fd = openat(CWD, &dir, DIR_FLAGS, Mode::empty())
            .map_err(|e| ContextError::io(&dir, e.into()))?;
        self.walk_open(&fd, node)
    }

    /// Walks the directory `fd` (which is `node`). Entries are listed with
    /// `getdents64` into one buffer and stated relative to `fd`, so a file
    /// costs one `newfstatat` and no allocation besides its two names.
    fn walk_open(&self, fd: &OwnedFd, node: &Node) -> Result<Listing, ContextError> {
        let dir_path = || self.root.join(&node.path);
        let mut buf = Vec::with_capacity(DIR_BUF);
        let mut read = RawDir::new(fd, buf.spare_capacity_mut());
        let mut children: Vec<Child> = Vec::new();
        while let Some(item) = read.next() {
            let item = item.map_err(|e| ContextError::io(dir_path(), e.into()))?;
            let c_name = item.file_name();
            let bytes = c_name.to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            let Ok(name) = std::str::from_utf8(bytes) else {
                return Err(ContextError::NonUtf8Name {
                    path: dir_path().join(OsStr::from_bytes(bytes)),
                });
            };
            let path = join(&node.path, name);
            let rel = join(&node.rel, name);
            let stat = statat(fd, c_name, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| ContextError::io(self.root.join(&path), e.into()))?;
            let meta = Meta::from_stat(&stat);
            let is_dir = meta.kind == EntryKind::Dir;

            let included = if node.included {
                IncludeMatch::Full
            } else if let Some(pattern) = self.include {
                let comps: Vec<&str> = rel.split('/').collect();
                include_match(pattern, &comps)
            } else {
                IncludeMatch::Full
            };
            if included == IncludeMatch::No || (included == IncludeMatch::Partial && !is_dir) {
                continue;
            }

            if !is_dir {
                if self.ignore.child_excluded(&node.ignore, &path)
                    || self.exclude.child_excluded(&node.exclude, &rel)
                {
                    continue;
                }
                let link_target = if meta.kind == EntryKind::Symlink {
                    let target = readlinkat(fd, c_name, Vec::new())
                        .map_err(|e| ContextError::io(self.root.join(&path), e.into()))?;
                    Some(PathBuf::from(OsString::from_vec(target.into_bytes())))
                } else {
                    None
                };
                children.push(Child::Leaf(RawEntry {
                    rel,
                    path,
                    meta,
                    link_target,
                }));
                continue;
            }

            let ignore = self.ignore.child_state(&node.ignore, &path);
            let ignored = self.ignore.state_excluded(&ignore);
            if ignored && !self.ignore.could_reinclude_below(&path) {
                continue; // pruned: nothing below can be re-included
            }
            let exclude = self.exclude.child_state(&node.exclude, &rel);
            let excluded = self.exclude.state_excluded(&exclude);
            if excluded && !self.exclude.could_reinclude_below(&rel) {
                continue;
            }
            let lazy = ignored || excluded || included == IncludeMatch::Partial;
            let entry = RawEntry {
                rel: rel.clone(),
                path: path.clone(),
                meta,
                link_target: None,
            };
            let child = Node {
                path,
                rel,
                ignore,
                exclude,
                included: included == IncludeMatch::Full,
            };
            children.push(Child::Dir(child, lazy, entry));
        }
        // Siblings' `rel` share the parent's prefix, so their order is the
        // order of their names. Names never hold `/`, which sorts before
        // every other byte in `path_cmp`: name order with each subtree
        // after its directory is that order.
        children.sort_unstable_by(|a, b| a.rel().cmp(b.rel()));

        let walk_dir = |child: &Child| match child {
            Child::Dir(node, _, _) => {
                // `path` ends with the directory's name.
                let name = node.path.rsplit('/').next().unwrap_or_default();
                let child_fd = openat(fd, name, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty())
                    .map_err(|e| ContextError::io(self.root.join(&node.path), e.into()))?;
                self.walk_open(&child_fd, node).map(Some)
            }
            Child::Leaf(_) => Ok(None),
        };
        let dirs = children
            .iter()
            .filter(|c| matches!(c, Child::Dir(..)))
            .count();
        let walked: Vec<Option<Listing>> = if dirs > 1 {
            children
                .par_iter()
                .map(walk_dir)
                .collect::<Result<_, _>>()?
        } else {
            children.iter().map(walk_dir).collect::<Result<_, _>>()?
        };
        let mut out = Listing::default();
        let mut run = Vec::with_capacity(children.len());
        for (child, below) in children.into_iter().zip(walked) {
            match child {
                Child::Leaf(entry) => run.push(entry),
                Child::Dir(_, lazy, entry) => {
                    let below = below.unwrap_or_default();
                    // A directory that is itself excluded (or only on the
                    // way to an include match) is kept only as the parent
                    // of something kept.
                    if !lazy || !below.is_empty() {
                        run.push(entry);
                        if !below.is_empty() {
                            out.push_run(std::mem::take(&mut run));
                            out.append(below);
                        }
                    }
                }
            }
        }
        out.push_run(run);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inc(pattern: &str, path: &str) -> IncludeMatch {
        let p: Vec<String> = pattern.split('/').map(str::to_string).collect();
        let c: Vec<&str> = path.split('/').collect();
        include_match(&p, &c)
    }

    #[test]
    fn include_patterns_match_prefixes_and_double_stars() {
        assert_eq!(inc("a/b/*.py", "a"), IncludeMatch::Partial);
        assert_eq!(inc("a/b/*.py", "a/b"), IncludeMatch::Partial);
        assert_eq!(inc("a/b/*.py", "a/b/x.py"), IncludeMatch::Full);
        assert_eq!(inc("a/b/*.py", "a/c"), IncludeMatch::No);
        assert_eq!(inc("a/b/*.py", "a/b/x.rs"), IncludeMatch::No);
        assert_eq!(inc("**/*.py", "x/y/z.py"), IncludeMatch::Full);
        assert_eq!(inc("**/*.py", "x/y"), IncludeMatch::Partial);
        assert_eq!(inc("a/**", "a/b"), IncludeMatch::Full);
        assert_eq!(inc("a", "a/b"), IncludeMatch::Full);
    }
}
