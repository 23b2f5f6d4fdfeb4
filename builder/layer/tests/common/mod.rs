//! Helpers shared by the layer tests.
#![allow(dead_code, clippy::unwrap_used)]

use rustix::fs::{AtFlags, CWD, FileType, Mode, Timespec, Timestamps};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Skips a root-only test outside CI; in CI (which runs as root) it must run.
pub fn need_root() -> bool {
    if is_root() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI runs as root"
    );
    eprintln!("note: not root, skipping");
    false
}

pub fn set_mtime(path: &Path, secs: i64) {
    let ts = Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    rustix::fs::utimensat(
        CWD,
        path,
        &Timestamps {
            last_access: ts,
            last_modification: ts,
        },
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

/// Every entry under `dir`, deepest first, gets a fixed mtime.
pub fn pin_mtimes(dir: &Path, secs: i64) {
    for e in walkdir(dir).into_iter().rev() {
        set_mtime(&e, secs);
    }
}

fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names {
        out.push(p.clone());
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            out.extend(walkdir(&p));
        }
    }
    out
}

/// A tree with every kind of entry a layer holds. `salt` changes the
/// creation order (and so inode numbers) without changing the content.
pub fn sample_tree(dir: &Path, salt: bool) {
    if salt {
        fs::create_dir_all(dir.join("zz-scratch")).unwrap();
        fs::write(dir.join("zz-scratch/x"), "x").unwrap();
        fs::write(dir.join("fifo-later"), "").unwrap();
    }
    fs::create_dir_all(dir.join("app/sub")).unwrap();
    fs::create_dir_all(dir.join("app-b")).unwrap();
    fs::write(dir.join("app/main.py"), "print('hi')\n").unwrap();
    fs::set_permissions(dir.join("app/main.py"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::set_permissions(dir.join("app-b"), fs::Permissions::from_mode(0o1777)).unwrap();
    // 2.5 MiB of poorly compressible data: several chunks.
    let big: Vec<u8> = (0..2_600_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(dir.join("app/sub/data.bin"), &big).unwrap();
    fs::hard_link(dir.join("app/sub/data.bin"), dir.join("app/hard.bin")).unwrap();
    symlink("../main.py", dir.join("app/sub/link")).unwrap();
    let long = "d".repeat(120);
    fs::create_dir_all(dir.join(&long)).unwrap();
    fs::write(dir.join(&long).join("f".repeat(110)), "long").unwrap();
    fs::write(dir.join("ünïcode"), "u").unwrap();
    rustix::fs::mknodat(
        CWD,
        dir.join("fifo"),
        FileType::Fifo,
        Mode::from_raw_mode(0o640),
        0,
    )
    .unwrap();
    xattr::set(dir.join("app/main.py"), "user.note", b"v").unwrap();
    if is_root() {
        rustix::fs::mknodat(
            CWD,
            dir.join("null"),
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o666),
            rustix::fs::makedev(1, 3),
        )
        .unwrap();
        std::os::unix::fs::lchown(dir.join("app/sub"), Some(1234), Some(5678)).unwrap();
        std::os::unix::fs::lchown(dir.join("app/sub/link"), Some(42), Some(43)).unwrap();
        xattr::set(
            dir.join("app/sub/data.bin"),
            "security.capability",
            &[1, 0, 0, 2, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        )
        .unwrap();
    }
    if salt {
        fs::remove_dir_all(dir.join("zz-scratch")).unwrap();
        fs::remove_file(dir.join("fifo-later")).unwrap();
    }
    pin_mtimes(dir, 1_600_000_000);
    set_mtime(&dir.join("app/main.py"), 1_700_000_123);
}

/// One line per entry: path, type, mode, owner, size, links, mtime, target,
/// user/security xattrs.
pub fn listing(dir: &Path) -> Vec<String> {
    walkdir(dir)
        .into_iter()
        .map(|p| {
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            let ft = m.file_type();
            let kind = if ft.is_symlink() {
                format!("-> {}", fs::read_link(&p).unwrap().display())
            } else if ft.is_file() {
                format!("file {} bytes nlink={}", m.len(), m.nlink())
            } else if ft.is_dir() {
                "dir".to_string()
            } else {
                format!("special {:o} rdev={}", m.mode() & 0o170000, m.rdev())
            };
            let xattrs: Vec<String> = if ft.is_symlink() {
                Vec::new()
            } else {
                let mut v: Vec<String> = xattr::list(&p)
                    .unwrap()
                    .map(|n| {
                        let val = xattr::get(&p, &n).unwrap().unwrap();
                        format!("{}={val:?}", n.to_string_lossy())
                    })
                    .collect();
                v.sort();
                v
            };
            format!(
                "{rel} {kind} {:o} {}:{} mtime={} {xattrs:?}",
                m.mode() & 0o7777,
                m.uid(),
                m.gid(),
                m.mtime()
            )
        })
        .collect()
}
