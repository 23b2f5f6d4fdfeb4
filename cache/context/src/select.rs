//! Selecting the files of one `COPY`/`ADD` from the build context.
//!
//! Semantics follow BuildKit's Dockerfile frontend and file op
//! (`FollowSymlinks`, `CopyDirContentsOnly`, `AllowWildcard`,
//! `AllowEmptyWildcard`):
//!
//! - A source is cleaned as a path below the context root: `./a/`, `/a`
//!   and `../a` all mean `a` (BuildKit joins sources with `/`, so a source
//!   can never leave the context; it is clamped, not rejected).
//! - A source without wildcards is resolved following symlinks, but only
//!   inside the context: an absolute or `..`-climbing link target is taken
//!   relative to the context root, as `fs.RootPath` does. A missing source
//!   is an error (`"/nope": not found`).
//! - A component with `*`, `?` or `[` makes the source a wildcard: the
//!   components from the first wildcard on are matched one directory level
//!   at a time with Go's `filepath.Match`, so only the directories the
//!   pattern names are listed. Each match is a source root of its own and
//!   is itself resolved through symlinks. A wildcard that matches nothing
//!   selects nothing (BuildKit sets `AllowEmptyWildcard` for COPY/ADD).
//! - A directory source selects its whole subtree (its *content* is
//!   copied); inside it, symlinks are listed as symlinks and never followed.
//! - `.dockerignore` rules apply to context paths: an excluded file does
//!   not exist for COPY. `--exclude` patterns apply to paths relative to
//!   the source root (for a wildcard match, relative to the directory that
//!   holds the wildcard), as BuildKit's copier does.
//! - `--parents`: a source may contain a `/./` pivot; the part before it is
//!   the source root (default: the context root) and the part after it is
//!   an include pattern below that root, so matched files keep their path
//!   relative to the pivot. Directories on the way to a match are listed.

use crate::entry::{EntryKind, Meta};
use crate::error::ContextError;
use crate::fnmatch::{fnmatch, has_wildcards, is_valid};
use crate::ignore::IgnoreMatcher;
use crate::paths::{clean_rel, join, path_cmp};
use crate::walk::{Listing, Node, Walker};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};
use strata_plan::IgnoreRule;

/// Symlinks followed while resolving one source before giving up (Linux's limit).
const MAX_SYMLINKS: usize = 40;

/// A build context directory and its `.dockerignore` rules.
#[derive(Debug, Clone)]
pub struct BuildContext {
    root: PathBuf,
    ignore: IgnoreMatcher,
}

/// What one `COPY`/`ADD` asks of the context.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyRequest<'a> {
    /// The sources as written after expansion (`requirements.txt`, `src/`, `*.py`, `.`).
    pub sources: &'a [String],
    /// `--exclude=` patterns (`.dockerignore` syntax).
    pub exclude: &'a [String],
    /// `--parents`.
    pub parents: bool,
}

/// One source root of a selection: a source path, or one match of a wildcard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRoot {
    /// Index of the source in [`CopyRequest::sources`].
    pub source: usize,
    /// The root as named in the context, cleaned (`""` is the context root).
    /// Destinations are computed from this name (its base name for a file
    /// copied into a directory), not from where symlinks lead.
    pub path: String,
    /// Where the root is on disk after following symlinks, relative to the context.
    pub resolved: String,
    /// The type of the resolved root.
    pub kind: EntryKind,
}

/// One selected entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedEntry {
    /// Index of its root in [`Selection::roots`].
    pub root: usize,
    /// Path relative to the root: `""` for the root itself, else the path
    /// to create below the destination.
    pub rel: String,
    /// Path on disk, relative to the context root.
    pub path: String,
    /// `lstat` metadata (for the root, of the symlink's target).
    pub meta: Meta,
    /// The target of a symlink, as stored in the link.
    pub link_target: Option<PathBuf>,
}

impl SelectedEntry {
    /// The entry's name as the user sees it in the context
    /// (`mysite/views.py`), used as its key in a manifest.
    pub fn display_path(&self, roots: &[SourceRoot]) -> String {
        let root = roots.get(self.root).map(|r| r.path.as_str()).unwrap_or("");
        let p = join(root, &self.rel);
        if p.is_empty() { ".".to_string() } else { p }
    }
}

/// The files one COPY/ADD selects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Source roots in source order (wildcard matches sorted by path).
    pub roots: Vec<SourceRoot>,
    /// Entries grouped by root in root order; within a root, sorted by
    /// [`path_cmp`] on `rel`, so the root comes first and every directory
    /// comes before its content.
    pub entries: Vec<SelectedEntry>,
    /// Wall-clock time (ns since the epoch) taken before the first `lstat`;
    /// the stat cache uses it to detect racily clean files.
    pub scanned_at_ns: i64,
}

impl BuildContext {
    /// A context rooted at `root` with the given `.dockerignore` rules.
    pub fn new(root: impl Into<PathBuf>, rules: &[IgnoreRule]) -> Result<Self, ContextError> {
        Ok(BuildContext {
            root: root.into(),
            ignore: IgnoreMatcher::new(rules)?,
        })
    }

    /// The context directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The compiled `.dockerignore` rules.
    pub fn ignore(&self) -> &IgnoreMatcher {
        &self.ignore
    }

    /// Selects the entries of one COPY/ADD (see the module docs for the rules).
    pub fn select(&self, request: &CopyRequest<'_>) -> Result<Selection, ContextError> {
        let scanned_at_ns = now_ns();
        let exclude = IgnoreMatcher::from_patterns(request.exclude)?;
        let mut selection = Selection {
            scanned_at_ns,
            ..Selection::default()
        };
        for (index, source) in request.sources.iter().enumerate() {
            if request.parents {
                self.select_parents(index, source, &exclude, &mut selection)?;
            } else {
                self.select_source(index, source, &exclude, &mut selection)?;
            }
        }
        Ok(selection)
    }

    fn select_source(
        &self,
        index: usize,
        source: &str,
        exclude: &IgnoreMatcher,
        selection: &mut Selection,
    ) -> Result<(), ContextError> {
        let cleaned = clean_rel(source);
        let comps: Vec<&str> = if cleaned.is_empty() {
            Vec::new()
        } else {
            cleaned.split('/').collect()
        };
        let Some(first_wild) = comps.iter().position(|c| has_wildcards(c)) else {
            let resolved = self
                .resolve(&cleaned)?
                .ok_or_else(|| ContextError::NotFound {
                    path: cleaned.clone(),
                })?;
            let found = self.add_root(index, cleaned.clone(), resolved, exclude, selection)?;
            return if found {
                Ok(())
            } else {
                Err(ContextError::NotFound { path: cleaned })
            };
        };
        let pattern = &comps[first_wild..];
        if let Some(bad) = pattern.iter().find(|c| !is_valid(c)) {
            return Err(ContextError::BadPattern {
                pattern: (*bad).to_string(),
                reason: "syntax error in pattern",
            });
        }
        let prefix = comps[..first_wild].join("/");
        let Some((prefix_on_disk, meta)) = self.resolve(&prefix)? else {
            return Ok(()); // nothing can match below a missing directory
        };
        if meta.kind != EntryKind::Dir {
            return Ok(());
        }
        let mut matches = Vec::new();
        self.expand(&prefix_on_disk, "", pattern, &mut matches)?;
        matches.sort_by(|a, b| path_cmp(a, b));
        for rel in matches {
            if exclude.is_excluded(&rel) {
                continue;
            }
            let Some(resolved) = self.resolve(&join(&prefix_on_disk, &rel))? else {
                continue;
            };
            self.add_root(index, join(&prefix, &rel), resolved, exclude, selection)?;
        }
        Ok(())
    }

    fn select_parents(
        &self,
        index: usize,
        source: &str,
        exclude: &IgnoreMatcher,
        selection: &mut Selection,
    ) -> Result<(), ContextError> {
        let (pivot, pattern) = match source.split_once("/./") {
            Some((pivot, pattern)) => (clean_rel(pivot), clean_rel(pattern)),
            None => (String::new(), clean_rel(source)),
        };
        let include: Vec<String> = if pattern.is_empty() {
            Vec::new()
        } else {
            pattern.split('/').map(str::to_string).collect()
        };
        if let Some(bad) = include.iter().find(|c| !is_valid(c)) {
            return Err(ContextError::BadPattern {
                pattern: bad.clone(),
                reason: "syntax error in pattern",
            });
        }
        let resolved = self
            .resolve(&pivot)?
            .ok_or_else(|| ContextError::NotFound {
                path: pivot.clone(),
            })?;
        let include_opt = (!include.is_empty()).then_some(include.as_slice());
        let walker = Walker {
            root: &self.root,
            ignore: &self.ignore,
            exclude,
            include: include_opt,
        };
        let (on_disk, meta) = resolved;
        if meta.kind != EntryKind::Dir {
            return self
                .add_root(index, pivot, (on_disk, meta), exclude, selection)
                .map(|_| ());
        }
        let below = walker.walk(&Node {
            ignore: self.ignore.state_for(&on_disk),
            exclude: exclude.root_state(),
            path: on_disk.clone(),
            rel: String::new(),
            included: include_opt.is_none(),
        })?;
        let literal = !include.iter().any(|c| has_wildcards(c));
        if below.is_empty()
            && ((include_opt.is_some() && literal) || self.ignore.is_excluded(&on_disk))
        {
            return Err(ContextError::NotFound {
                path: join(&pivot, &pattern),
            });
        }
        push_root(index, pivot, on_disk, meta, below, selection);
        Ok(())
    }

    /// Adds a resolved root and, for a directory, its subtree (with
    /// `--exclude` applied relative to the root). Returns whether anything
    /// exists: an excluded directory kept only for `!` exceptions exists
    /// only if something below it is kept.
    fn add_root(
        &self,
        index: usize,
        path: String,
        (on_disk, meta): (String, Meta),
        exclude: &IgnoreMatcher,
        selection: &mut Selection,
    ) -> Result<bool, ContextError> {
        if meta.kind != EntryKind::Dir {
            push_root_entry(index, path, on_disk, meta, selection);
            return Ok(true);
        }
        let walker = Walker {
            root: &self.root,
            ignore: &self.ignore,
            exclude,
            include: None,
        };
        let below = walker.walk(&Node {
            ignore: self.ignore.state_for(&on_disk),
            exclude: exclude.root_state(),
            path: on_disk.clone(),
            rel: String::new(),
            included: true,
        })?;
        if below.is_empty() && self.ignore.is_excluded(&on_disk) {
            return Ok(false);
        }
        push_root(index, path, on_disk, meta, below, selection);
        Ok(true)
    }

    /// Lists the matches of wildcard components below `dir` (on disk,
    /// context-relative); `rel` is the path matched so far below the prefix.
    fn expand(
        &self,
        dir: &str,
        rel: &str,
        pattern: &[&str],
        out: &mut Vec<String>,
    ) -> Result<(), ContextError> {
        let Some((first, rest)) = pattern.split_first() else {
            return Ok(());
        };
        let abs = self.root.join(dir);
        let read = match fs::read_dir(&abs) {
            Ok(read) => read,
            Err(e) if is_missing(&e) => return Ok(()),
            Err(e) => return Err(ContextError::io(&abs, e)),
        };
        for item in read {
            let item = item.map_err(|e| ContextError::io(&abs, e))?;
            let os_name = item.file_name();
            let Some(name) = os_name.to_str() else {
                return Err(ContextError::NonUtf8Name { path: item.path() });
            };
            if !fnmatch(first, name) {
                continue;
            }
            let child = join(dir, name);
            let is_dir = item
                .file_type()
                .map_err(|e| ContextError::io(item.path(), e))?
                .is_dir();
            if self.ignore.is_excluded(&child)
                && !(is_dir && self.ignore.could_reinclude_below(&child))
            {
                continue;
            }
            let child_rel = join(rel, name);
            if rest.is_empty() {
                out.push(child_rel);
            } else if is_dir {
                self.expand(&child, &child_rel, rest, out)?;
            }
        }
        Ok(())
    }

    /// Resolves a cleaned context path, following symlinks inside the
    /// context (absolute and `..` targets are clamped to the context root).
    /// Returns the path on disk and its metadata, or `None` when it does not
    /// exist in the context (missing, or excluded by `.dockerignore`).
    fn resolve(&self, path: &str) -> Result<Option<(String, Meta)>, ContextError> {
        let mut todo: Vec<String> = path.split('/').rev().map(str::to_string).collect();
        let mut cur: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(comp) = todo.pop() {
            match comp.as_str() {
                "" | "." => continue,
                ".." => {
                    cur.pop();
                    continue;
                }
                _ => cur.push(comp),
            }
            let rel = cur.join("/");
            let abs = self.root.join(&rel);
            let md = match fs::symlink_metadata(&abs) {
                Ok(md) => md,
                Err(e) if is_missing(&e) => return Ok(None),
                Err(e) => return Err(ContextError::io(&abs, e)),
            };
            if !md.file_type().is_symlink() {
                continue;
            }
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(ContextError::SymlinkLoop {
                    path: path.to_string(),
                });
            }
            if self.ignore.is_excluded(&rel) {
                return Ok(None);
            }
            let target = fs::read_link(&abs).map_err(|e| ContextError::io(&abs, e))?;
            let Some(target) = target.to_str() else {
                return Err(ContextError::NonUtf8Name { path: abs });
            };
            cur.pop();
            if target.starts_with('/') {
                cur.clear();
            }
            todo.extend(target.split('/').rev().map(str::to_string));
        }
        let rel = cur.join("/");
        let abs = self.root.join(&rel);
        let md = match fs::symlink_metadata(&abs) {
            Ok(md) => md,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(ContextError::io(&abs, e)),
        };
        let meta = Meta::from_metadata(&md);
        if self.ignore.is_excluded(&rel)
            && !(meta.kind == EntryKind::Dir && self.ignore.could_reinclude_below(&rel))
        {
            return Ok(None);
        }
        Ok(Some((rel, meta)))
    }
}

fn push_root(
    index: usize,
    path: String,
    on_disk: String,
    meta: Meta,
    below: Listing,
    selection: &mut Selection,
) {
    let root = selection.roots.len();
    push_root_entry(index, path, on_disk, meta, selection);
    // The walk returns its entries sorted by `path_cmp` on `rel`.
    selection.entries.reserve(below.len());
    selection
        .entries
        .extend(below.into_entries().map(|e| SelectedEntry {
            root,
            rel: e.rel,
            path: e.path,
            meta: e.meta,
            link_target: e.link_target,
        }));
}

fn push_root_entry(
    index: usize,
    path: String,
    on_disk: String,
    meta: Meta,
    selection: &mut Selection,
) {
    let root = selection.roots.len();
    selection.roots.push(SourceRoot {
        source: index,
        path,
        resolved: on_disk.clone(),
        kind: meta.kind,
    });
    selection.entries.push(SelectedEntry {
        root,
        rel: String::new(),
        path: on_disk,
        meta,
        link_target: None,
    });
}

fn is_missing(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}

/// The wall clock in nanoseconds since the epoch (the time file stats are
/// compared with).
pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
