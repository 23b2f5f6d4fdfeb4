//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use strata_context::{BuildContext, CopyRequest, Selection};
use strata_plan::IgnoreRule;

/// Creates files (`path` → content), symlinks (`path` → `@target`) and
/// empty directories (`path/` → ``) below `root`, with old mtimes so the
/// stat cache trusts them.
pub fn tree(root: &Path, spec: &[(&str, &str)]) {
    for (path, content) in spec {
        let p = root.join(path);
        if path.ends_with('/') {
            fs::create_dir_all(&p).unwrap();
            continue;
        }
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        if let Some(target) = content.strip_prefix('@') {
            symlink(target, &p).unwrap();
        } else {
            fs::write(&p, content).unwrap();
            age(&p);
        }
    }
}

/// Sets a file's mtime to a fixed moment in the past.
pub fn age(p: &Path) {
    let f = fs::File::options().write(true).open(p).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_secs(1_600_000_000))
        .unwrap();
}

/// Sets a file's mtime to now.
pub fn touch_now(p: &Path) {
    let f = fs::File::options().write(true).open(p).unwrap();
    f.set_modified(SystemTime::now()).unwrap();
}

/// `.dockerignore` lines (`!` negates) as the frontend hands them over.
pub fn rules(lines: &[&str]) -> Vec<IgnoreRule> {
    lines
        .iter()
        .map(|l| match l.strip_prefix('!') {
            Some(p) => IgnoreRule {
                pattern: p.to_string(),
                negated: true,
            },
            None => IgnoreRule {
                pattern: l.to_string(),
                negated: false,
            },
        })
        .collect()
}

/// Owned copies of string slices.
pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Selects `sources` (no excludes, no --parents), panicking on error.
pub fn select(ctx: &BuildContext, sources: &[&str]) -> Selection {
    try_select(ctx, sources, &[], false).unwrap()
}

/// Selects with every COPY option.
pub fn try_select(
    ctx: &BuildContext,
    sources: &[&str],
    exclude: &[&str],
    parents: bool,
) -> Result<Selection, strata_context::ContextError> {
    let sources = strings(sources);
    let exclude = strings(exclude);
    ctx.select(&CopyRequest {
        sources: &sources,
        exclude: &exclude,
        parents,
    })
}

/// `root-path:rel` for every entry, in selection order.
pub fn listing(sel: &Selection) -> Vec<String> {
    sel.entries
        .iter()
        .map(|e| format!("{}:{}", sel.roots[e.root].path, e.rel))
        .collect()
}
