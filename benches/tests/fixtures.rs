//! The benchmark fixtures are what they claim to be: the full tree's size
//! mix, determinism, reuse, and a generated Dockerfile that lowers.

#![allow(clippy::unwrap_used)] // tests

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use strata_benches::tree::{self, FIXED_MTIME, PlannedKind, TreeSpec};
use strata_benches::{dockerfile, limits};

#[test]
fn full_tree_layout_is_20000_files_of_about_230_mb_with_a_realistic_mix() {
    let layout = tree::layout(&TreeSpec::full());
    let sizes: Vec<u64> = layout
        .iter()
        .filter_map(|p| match p.kind {
            PlannedKind::Text(n) | PlannedKind::Binary(n) => Some(n),
            PlannedKind::Symlink(_) => None,
        })
        .collect();
    assert_eq!(sizes.len(), 20_002); // plus README.md and the edit file
    let total: u64 = sizes.iter().sum();
    assert!((215_000_000..245_000_000).contains(&total), "{total}");
    let small = sizes.iter().filter(|&&n| n <= 6_000).count();
    let large = sizes.iter().filter(|&&n| n >= 64 << 10).count();
    assert!((15_500..16_500).contains(&small), "{small}");
    assert!((150..260).contains(&large), "{large}");
    // Large files are few but hold a big share of the bytes.
    let large_bytes: u64 = sizes.iter().filter(|&&n| n >= 64 << 10).sum();
    assert!(large_bytes * 3 > total, "{large_bytes} of {total}");
    let links = layout
        .iter()
        .filter(|p| matches!(p.kind, PlannedKind::Symlink(_)))
        .count();
    assert_eq!(links, 20);
}

fn contents(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&path).unwrap();
            assert_eq!(meta.mtime(), FIXED_MTIME as i64, "{rel}");
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_symlink() {
                let target = fs::read_link(&path).unwrap();
                assert!(path.parent().unwrap().join(&target).is_file(), "{rel}");
                out.insert(rel, target.display().to_string().into_bytes());
            } else {
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[test]
fn generated_tree_matches_its_counts_and_is_the_same_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let spec = TreeSpec::scaled(250);
    let a = tree::generate(&dir.path().join("a"), &spec).unwrap();
    let b = tree::generate(&dir.path().join("b"), &spec).unwrap();
    assert_eq!((a.files, a.symlinks, a.dirs), (b.files, b.symlinks, b.dirs));
    assert_eq!(a.files, 252);
    assert!(a.symlinks >= 1);

    let walked = limits::lstat_walk(&a.root).unwrap();
    assert_eq!(walked.files, a.files);
    assert_eq!(walked.symlinks, a.symlinks);
    assert_eq!(walked.dirs + 1, a.dirs);
    assert_eq!(walked.bytes, a.file_bytes);
    assert_eq!(fs::metadata(&a.root).unwrap().mtime(), FIXED_MTIME as i64);

    let ca = contents(&a.root);
    assert_eq!(ca, contents(&b.root));
    // Text files are text, and not all alike.
    let py: Vec<&Vec<u8>> = ca
        .iter()
        .filter(|(k, _)| k.ends_with(".py") && !k.ends_with("latest.py"))
        .map(|(_, v)| v)
        .collect();
    assert!(py.len() > 150);
    assert!(py.iter().all(|v| std::str::from_utf8(v).is_ok()));
    assert_ne!(py[0], py[1]);

    // A copy like `cp -r` holds the same entries.
    let copied = limits::copy_tree(&a.root, &dir.path().join("copy")).unwrap();
    assert_eq!(copied, walked);
}

#[test]
fn ensure_reuses_a_complete_tree_and_edit_changes_one_file_then_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let spec = TreeSpec::scaled(30);
    let first = tree::ensure(dir.path(), &spec).unwrap();
    let readme = first.root.join("README.md");
    let ino = fs::metadata(&readme).unwrap().ino();
    let base = fs::read(first.edit_file()).unwrap();

    first.edit(7).unwrap();
    let edited = fs::read(first.edit_file()).unwrap();
    assert_ne!(edited, base);
    assert!(edited.ends_with(b"EDIT_VARIANT = 7\n"));
    assert_eq!(
        fs::metadata(first.edit_file()).unwrap().mtime(),
        FIXED_MTIME as i64
    );

    let second = tree::ensure(dir.path(), &spec).unwrap();
    assert_eq!(second, first);
    assert_eq!(fs::metadata(&readme).unwrap().ino(), ino, "regenerated");
    assert_eq!(fs::read(second.edit_file()).unwrap(), base);

    // An incomplete tree (no marker) is generated again.
    fs::remove_file(readme.parent().unwrap().with_extension("done")).unwrap();
    let third = tree::ensure(dir.path(), &spec).unwrap();
    assert_eq!(third, first);
    assert_eq!(fs::read(&readme).unwrap().len(), 1_500);
}

#[test]
fn generated_dockerfile_has_500_instructions_and_lowers_to_10_stages() {
    let text = dockerfile::generated(500);
    let parsed = strata_dockerfile::parser::parse(&text).unwrap();
    assert_eq!(parsed.nodes.len(), 500);
    let plan =
        strata_dockerfile::lower(&text, &strata_dockerfile::LowerOptions::default()).unwrap();
    assert_eq!(plan.stages.len(), 10);
    let steps: usize = plan.stages.iter().map(|s| s.steps.len()).sum();
    assert!(steps > 400, "{steps}");
    assert_eq!(plan.stages[9].name.as_deref(), Some("stage9"));
}
