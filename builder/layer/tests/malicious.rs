//! Crafted archives that try to write outside the target: each must be
//! refused with an error naming the layer and the entry (or, for names
//! docker cleans, land inside), and nothing may appear outside.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use strata_layer::{ExtractError, ExtractErrorKind, ExtractMode, extract};

/// A tar with raw names, built by hand so nothing cleans them.
fn evil_tar(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, kind, link, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(data.len() as u64);
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

struct Sandbox {
    _dir: tempfile::TempDir,
    base: std::path::PathBuf,
    target: std::path::PathBuf,
    outside: std::path::PathBuf,
}

fn sandbox() -> Sandbox {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_path_buf();
    let target = base.join("target");
    let outside = base.join("outside");
    fs::create_dir_all(&target).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("victim"), "safe").unwrap();
    Sandbox {
        _dir: dir,
        base,
        target,
        outside,
    }
}

impl Sandbox {
    fn extract(&self, tar: &[u8]) -> Result<(), ExtractError> {
        extract(tar, &self.target, ExtractMode::Apply, Some("sha256:evil"))
    }

    /// Nothing outside the target changed.
    fn assert_untouched(&self) {
        assert_eq!(
            fs::read_to_string(self.outside.join("victim")).unwrap(),
            "safe"
        );
        let names = |p: &Path| -> Vec<String> {
            let mut v: Vec<String> = fs::read_dir(p)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(&self.outside), ["victim"], "written outside");
        assert_eq!(names(&self.base), ["outside", "target"], "written outside");
    }
}

fn expect_refused(sb: &Sandbox, tar: &[u8], entry: &str) -> ExtractErrorKind {
    let err = sb.extract(tar).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("sha256:evil"), "{text}");
    assert_eq!(err.entry, entry, "{text}");
    sb.assert_untouched();
    err.kind
}

#[test]
fn dotdot_components_are_refused() {
    for name in ["../victim", "a/../../outside/victim", "./../outside/x"] {
        let sb = sandbox();
        let kind = expect_refused(
            &sb,
            &evil_tar(&[(name, tar::EntryType::Regular, "", b"pwned")]),
            name,
        );
        assert!(matches!(kind, ExtractErrorKind::DotDot), "{kind}");
    }
}

#[test]
fn absolute_names_are_cleaned_into_the_target() {
    let sb = sandbox();
    let outside = sb.outside.join("victim");
    let name = outside.to_str().unwrap();
    sb.extract(&evil_tar(&[(name, tar::EntryType::Regular, "", b"inside")]))
        .unwrap();
    sb.assert_untouched();
    let inside = sb.target.join(name.trim_start_matches('/'));
    assert_eq!(fs::read_to_string(inside).unwrap(), "inside");
}

#[test]
fn a_path_through_a_symlink_leading_out_is_refused() {
    let sb = sandbox();
    let kind = expect_refused(
        &sb,
        &evil_tar(&[
            ("link", tar::EntryType::Symlink, "../outside", b""),
            ("link/victim", tar::EntryType::Regular, "", b"pwned"),
        ]),
        "link/victim",
    );
    assert!(
        matches!(&kind, ExtractErrorKind::SymlinkEscape { link, .. } if link == "link"),
        "{kind}"
    );
    // Through a chain of links too.
    let sb = sandbox();
    let kind = expect_refused(
        &sb,
        &evil_tar(&[
            ("d/", tar::EntryType::Directory, "", b""),
            ("d/up", tar::EntryType::Symlink, "..", b""),
            ("hop", tar::EntryType::Symlink, "d/up/..", b""),
            ("hop/outside/victim", tar::EntryType::Regular, "", b"pwned"),
        ]),
        "hop/outside/victim",
    );
    assert!(
        matches!(kind, ExtractErrorKind::SymlinkEscape { .. }),
        "{kind}"
    );
}

#[test]
fn a_symlink_left_by_a_lower_layer_is_checked_too() {
    let sb = sandbox();
    symlink("../../outside", sb.target.join("lower")).unwrap();
    expect_refused(
        &sb,
        &evil_tar(&[("lower/victim", tar::EntryType::Regular, "", b"pwned")]),
        "lower/victim",
    );
}

#[test]
fn absolute_symlinks_resolve_inside_the_target() {
    let sb = sandbox();
    sb.extract(&evil_tar(&[
        ("abs", tar::EntryType::Symlink, "/", b""),
        ("abs/escaped", tar::EntryType::Regular, "", b"inside"),
        (
            "out",
            tar::EntryType::Symlink,
            sb.outside.to_str().unwrap(),
            b"",
        ),
        ("out/victim", tar::EntryType::Regular, "", b"inside"),
    ]))
    .unwrap();
    sb.assert_untouched();
    assert_eq!(
        fs::read_to_string(sb.target.join("escaped")).unwrap(),
        "inside"
    );
    let rooted = sb.target.join(sb.outside.strip_prefix("/").unwrap());
    assert_eq!(fs::read_to_string(rooted.join("victim")).unwrap(), "inside");
}

#[test]
fn a_directory_replaced_by_a_symlink_cannot_be_written_through() {
    let sb = sandbox();
    let kind = expect_refused(
        &sb,
        &evil_tar(&[
            ("d/", tar::EntryType::Directory, "", b""),
            ("d/file", tar::EntryType::Regular, "", b"x"),
            ("d", tar::EntryType::Symlink, "../outside", b""),
            ("d/victim", tar::EntryType::Regular, "", b"pwned"),
        ]),
        "d/victim",
    );
    assert!(
        matches!(kind, ExtractErrorKind::SymlinkEscape { .. }),
        "{kind}"
    );
    // The symlink itself replaced the directory, inside.
    assert!(
        fs::symlink_metadata(sb.target.join("d"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn hard_links_out_or_through_symlinks_are_refused() {
    let sb = sandbox();
    let kind = expect_refused(
        &sb,
        &evil_tar(&[("h", tar::EntryType::Link, "../outside/victim", b"")]),
        "h",
    );
    assert!(
        matches!(kind, ExtractErrorKind::HardLinkOutside(_)),
        "{kind}"
    );

    let sb = sandbox();
    let kind = expect_refused(
        &sb,
        &evil_tar(&[
            ("up", tar::EntryType::Symlink, "/", b""),
            ("h", tar::EntryType::Link, "up/etc/passwd", b""),
        ]),
        "h",
    );
    assert!(
        matches!(&kind, ExtractErrorKind::HardLinkThroughSymlink { link, .. } if link == "up"),
        "{kind}"
    );

    // An absolute target is cleaned like a name: it names a path inside,
    // which does not exist, so the link fails without touching the outside.
    let sb = sandbox();
    let victim = sb.outside.join("victim");
    let err = sb
        .extract(&evil_tar(&[(
            "h",
            tar::EntryType::Link,
            victim.to_str().unwrap(),
            b"",
        )]))
        .unwrap_err();
    assert!(matches!(err.kind, ExtractErrorKind::Fs(_)), "{err}");
    sb.assert_untouched();
}

#[test]
fn a_truncated_or_corrupt_blob_is_an_error() {
    let tar = evil_tar(&[("big", tar::EntryType::Regular, "", &[7u8; 50_000])]);
    let sb = sandbox();
    let err = sb.extract(&tar[..20_000]).unwrap_err();
    assert!(matches!(err.kind, ExtractErrorKind::Archive(_)), "{err}");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let gz = gz.finish().unwrap();
    let err = sb.extract(&gz[..gz.len() - 30]).unwrap_err();
    assert!(err.to_string().starts_with("layer sha256:evil"), "{err}");
    sb.assert_untouched();
}

/// A small deterministic fuzz: random scripts of entries made of nasty
/// names and link targets never write outside the target.
#[test]
fn random_hostile_archives_stay_inside() {
    const PARTS: [&str; 8] = ["a", "b", "l", "..", ".", "", ".wh.a", ".wh..wh..opq"];
    const TARGETS: [&str; 9] = [
        "..",
        "../..",
        "/",
        "a",
        "../outside",
        "l/..",
        "/..",
        "a/../..",
        "l/victim",
    ];
    const KINDS: [tar::EntryType; 5] = [
        tar::EntryType::Regular,
        tar::EntryType::Directory,
        tar::EntryType::Symlink,
        tar::EntryType::Link,
        tar::EntryType::Fifo,
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut refused = 0;
    for round in 0..400 {
        let count = 1 + next(6);
        let mut owned: Vec<(String, tar::EntryType, String)> = Vec::new();
        for _ in 0..count {
            let depth = 1 + next(3);
            let name: Vec<&str> = (0..depth).map(|_| PARTS[next(PARTS.len())]).collect();
            let mut name = name.join("/");
            if name.is_empty() {
                name.push('a');
            }
            owned.push((
                name,
                KINDS[next(KINDS.len())],
                TARGETS[next(TARGETS.len())].to_string(),
            ));
        }
        let entries: Vec<(&str, tar::EntryType, &str, &[u8])> = owned
            .iter()
            .map(|(n, k, l)| {
                let data: &[u8] = if *k == tar::EntryType::Regular {
                    b"pwned"
                } else {
                    b""
                };
                (n.as_str(), *k, l.as_str(), data)
            })
            .collect();
        eprintln!("round {round}: {owned:?}");
        let sb = sandbox();
        let mode = if round % 2 == 0 {
            ExtractMode::Apply
        } else {
            ExtractMode::Overlay
        };
        if extract(&evil_tar(&entries)[..], &sb.target, mode, Some("fuzz")).is_err() {
            refused += 1;
        }
        sb.assert_untouched();
    }
    // The generator does reach both outcomes.
    assert!(refused > 50 && refused < 390, "{refused} refused");
}
