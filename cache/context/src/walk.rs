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
use std::fs;
use std::path::Path;

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

impl Walker<'_> {
    /// Walks below `node` (not including `node` itself); entries come back
    /// sorted by [`crate::paths::path_cmp`] on `rel` (children in name
    /// order, each directory right before its content).
    pub(crate) fn walk(&self, node: &Node) -> Result<Vec<RawEntry>, ContextError> {
        let dir = self.root.join(&node.path);
        let read = fs::read_dir(&dir).map_err(|e| ContextError::io(&dir, e))?;
        let mut children: Vec<(std::ffi::OsString, Child)> = Vec::new();
        for item in read {
            let item = item.map_err(|e| ContextError::io(&dir, e))?;
            let os_name = item.file_name();
            let Some(name) = os_name.to_str() else {
                return Err(ContextError::NonUtf8Name { path: item.path() });
            };
            let path = join(&node.path, name);
            let rel = join(&node.rel, name);
            let md = item
                .metadata()
                .map_err(|e| ContextError::io(item.path(), e))?;
            let meta = Meta::from_metadata(&md);
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
                    Some(fs::read_link(item.path()).map_err(|e| ContextError::io(item.path(), e))?)
                } else {
                    None
                };
                let entry = RawEntry {
                    rel,
                    path,
                    meta,
                    link_target,
                };
                children.push((os_name, Child::Leaf(entry)));
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
            children.push((os_name, Child::Dir(child, lazy, entry)));
        }
        // Names never hold `/`, which sorts before every other byte in
        // `path_cmp`: name order with each subtree after its directory is
        // that order.
        children.sort_unstable_by(|a, b| a.0.as_encoded_bytes().cmp(b.0.as_encoded_bytes()));

        let walk_dir = |child: &(std::ffi::OsString, Child)| match &child.1 {
            Child::Dir(node, _, _) => self.walk(node).map(Some),
            Child::Leaf(_) => Ok(None),
        };
        let dirs = children
            .iter()
            .filter(|c| matches!(c.1, Child::Dir(..)))
            .count();
        let walked: Vec<Option<Vec<RawEntry>>> = if dirs > 1 {
            children
                .par_iter()
                .map(walk_dir)
                .collect::<Result<_, _>>()?
        } else {
            children.iter().map(walk_dir).collect::<Result<_, _>>()?
        };
        let mut out = Vec::with_capacity(children.len());
        for ((_, child), below) in children.into_iter().zip(walked) {
            match (child, below) {
                (Child::Leaf(entry), _) => out.push(entry),
                (Child::Dir(_, lazy, entry), below) => {
                    let below = below.unwrap_or_default();
                    // A directory that is itself excluded (or only on the
                    // way to an include match) is kept only as the parent
                    // of something kept.
                    if !lazy || !below.is_empty() {
                        out.push(entry);
                        out.extend(below);
                    }
                }
            }
        }
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
