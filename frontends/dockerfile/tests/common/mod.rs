//! Shared helpers for the conformance tests.
#![allow(dead_code, clippy::panic)]

use std::path::PathBuf;

/// `../shared/conformance` beside the repository. In CI (`CI=true`) a
/// missing folder fails the test; elsewhere the test is skipped with a note.
pub fn conformance_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("conformance data missing at {}", dir.display());
    }
    eprintln!("note: {} is missing; skipping", dir.display());
    None
}
