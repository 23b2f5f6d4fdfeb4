//! Extraction must never write outside its target, whatever the archive.
//!
//! The input is either a raw blob (gzip, zstd or tar) or, when it starts
//! with `T`, a script of entries built into a tar, which reaches the
//! interesting cases (symlinks, hard links, `..`, whiteouts) much faster.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::fs;
use strata_layer::{ExtractMode, extract};

const KINDS: [tar::EntryType; 6] = [
    tar::EntryType::Regular,
    tar::EntryType::Directory,
    tar::EntryType::Symlink,
    tar::EntryType::Link,
    tar::EntryType::Fifo,
    tar::EntryType::Regular,
];

/// Lines of `KIND NAME LINK`: KIND is a digit picking the entry type.
fn script_to_tar(script: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for line in script.split(|&c| c == b'\n').take(32) {
        let mut parts = line.splitn(3, |&c| c == b' ');
        let kind = parts.next().and_then(|k| k.first()).map_or(0, |k| *k % 6);
        let name = parts.next().unwrap_or(b"x");
        let link = parts.next().unwrap_or(b"");
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(KINDS[usize::from(kind)]);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(2);
        let n = name.len().min(100);
        h.as_old_mut().name[..n].copy_from_slice(&name[..n]);
        let l = link.len().min(100);
        h.as_old_mut().linkname[..l].copy_from_slice(&link[..l]);
        h.set_cksum();
        if b.append(&h, &b"hi"[..]).is_err() {
            break;
        }
    }
    b.into_inner().unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let blob = match data.split_first() {
        Some((b'T', script)) => script_to_tar(script),
        _ => data.to_vec(),
    };
    let base = tempfile::tempdir().unwrap();
    let target = base.path().join("target");
    let outside = base.path().join("outside");
    fs::create_dir_all(&target).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("victim"), "safe").unwrap();
    let mode = if data.len() % 2 == 0 {
        ExtractMode::Apply
    } else {
        ExtractMode::Overlay
    };
    let _ = extract(&blob[..], &target, mode, Some("fuzz"));
    assert_eq!(fs::read_to_string(outside.join("victim")).unwrap(), "safe");
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 1);
    assert_eq!(fs::read_dir(base.path()).unwrap().count(), 2);
});
