//! Writing layers and reading them back: round trips, determinism,
//! compression, whiteouts and the explicit list API.
#![allow(clippy::unwrap_used)]

mod common;

use common::{listing, need_root, sample_tree, set_mtime};
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use strata_layer::{
    Compression, Entry, EntryKind, ExtractMode, LayerSource, LayerWriter, ListEntry, ListSource,
    MemoryChunkCache, Overrides, WriteError, WriteOptions, append_list, append_tree, detect_reader,
    extract, write_layer,
};

const ALL: [Compression; 3] = [
    Compression::None,
    Compression::Gzip { level: 6 },
    Compression::Zstd { level: 3 },
];

fn opts(compression: Compression) -> WriteOptions {
    WriteOptions {
        compression,
        ..WriteOptions::default()
    }
}

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn decompress(blob: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    detect_reader(blob).unwrap().read_to_end(&mut out).unwrap();
    out
}

/// (path, type, mode, uid, gid, mtime, link) of each entry, in order.
fn headers(tar_bytes: &[u8]) -> Vec<String> {
    let mut ar = tar::Archive::new(tar_bytes);
    ar.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            format!(
                "{} {:?} {:o} {}:{} {} {}",
                String::from_utf8_lossy(&e.path_bytes()),
                h.entry_type(),
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.mtime().unwrap(),
                e.link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
                    .unwrap_or_default()
            )
        })
        .collect()
}

#[test]
fn round_trip_keeps_modes_owners_links_times_and_xattrs() {
    let src = tempfile::tempdir().unwrap();
    sample_tree(src.path(), false);
    for compression in ALL {
        let (blob, digests) = write_layer(
            src.path(),
            LayerSource::Plain,
            &opts(compression),
            Vec::new(),
        )
        .unwrap();
        assert_eq!(digests.size, blob.len() as u64);
        assert_eq!(digests.digest, sha(&blob));
        let tar_bytes = decompress(&blob);
        assert_eq!(digests.diff_id, sha(&tar_bytes));
        assert_eq!(digests.uncompressed_size, tar_bytes.len() as u64);
        let dst = tempfile::tempdir().unwrap();
        extract(&blob[..], dst.path(), ExtractMode::Apply, Some("test")).unwrap();
        assert_eq!(listing(src.path()), listing(dst.path()), "{compression:?}");
    }
}

#[test]
fn entries_are_sorted_directories_first_with_numeric_owners() {
    let src = tempfile::tempdir().unwrap();
    sample_tree(src.path(), false);
    let (blob, _) = write_layer(
        src.path(),
        LayerSource::Plain,
        &opts(Compression::None),
        Vec::new(),
    )
    .unwrap();
    let names: Vec<String> = headers(&blob)
        .iter()
        .map(|h| h.split(' ').next().unwrap().to_string())
        .collect();
    let long = "d".repeat(120);
    let mut expected = vec![
        "app/".to_string(),
        "app/hard.bin".into(),
        "app/main.py".into(),
        "app/sub/".into(),
        "app/sub/data.bin".into(),
        "app/sub/link".into(),
        "app-b/".into(),
        format!("{long}/"),
        format!("{long}/{}", "f".repeat(110)),
        "fifo".into(),
    ];
    if common::is_root() {
        expected.push("null".into());
    }
    expected.push("ünïcode".into());
    assert_eq!(names, expected);
    let all = headers(&blob).join("\n");
    // The first path of a hard-linked file holds the data; the other links to it.
    assert!(all.contains("app/hard.bin Regular"), "{all}");
    assert!(all.contains("app/sub/data.bin Link"), "{all}");
    assert!(all.contains("app-b/ Directory 1777"), "{all}");
    assert!(all.contains("app/main.py Regular 4755"), "{all}");
    // No user or group names anywhere.
    let mut ar = tar::Archive::new(&blob[..]);
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        assert_eq!(e.header().username_bytes(), Some(&b""[..]));
        assert_eq!(e.header().groupname_bytes(), Some(&b""[..]));
    }
}

#[test]
fn same_files_give_the_same_blob_whatever_the_creation_order() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    sample_tree(a.path(), false);
    sample_tree(b.path(), true);
    for compression in ALL {
        let (ba, da) =
            write_layer(a.path(), LayerSource::Plain, &opts(compression), Vec::new()).unwrap();
        let (bb, db) =
            write_layer(b.path(), LayerSource::Plain, &opts(compression), Vec::new()).unwrap();
        assert_eq!(da, db, "{compression:?}");
        assert!(ba == bb, "{compression:?}");
    }
}

#[test]
fn output_does_not_depend_on_the_thread_count() {
    let src = tempfile::tempdir().unwrap();
    sample_tree(src.path(), false);
    for compression in [
        Compression::Gzip { level: 6 },
        Compression::Zstd { level: 3 },
    ] {
        let write = |threads| {
            let o = WriteOptions {
                threads,
                ..opts(compression)
            };
            write_layer(src.path(), LayerSource::Plain, &o, Vec::new()).unwrap()
        };
        let (one, d1) = write(1);
        let (two, d2) = write(2);
        let (five, d5) = write(5);
        assert_eq!(d1, d2);
        assert_eq!(d1, d5);
        assert!(one == two && two == five, "{compression:?}");
        // gzip: several independent members, read back as one stream.
        if let Compression::Gzip { .. } = compression {
            let members = one.windows(4).filter(|w| *w == [0x1f, 0x8b, 8, 0]).count();
            assert!(members >= 2, "{members} members");
        }
        let mut tar_bytes = Vec::new();
        flate2::read::MultiGzDecoder::new(&one[..])
            .read_to_end(&mut tar_bytes)
            .ok();
        if let Compression::Zstd { .. } = compression {
            tar_bytes = decompress(&one);
        }
        assert_eq!(sha(&tar_bytes), d1.diff_id);
    }
}

#[test]
fn source_date_epoch_clamps_newer_mtimes_only() {
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("old"), "o").unwrap();
    fs::write(src.path().join("new"), "n").unwrap();
    set_mtime(&src.path().join("old"), 1_000);
    set_mtime(&src.path().join("new"), 2_000_000_000);
    let o = WriteOptions {
        source_date_epoch: Some(1_500_000_000),
        ..opts(Compression::None)
    };
    let (blob, _) = write_layer(src.path(), LayerSource::Plain, &o, Vec::new()).unwrap();
    assert_eq!(
        headers(&blob),
        [
            format!(
                "new Regular 644 {0}:{0} 1500000000 ",
                rustix::process::geteuid().as_raw()
            ),
            format!(
                "old Regular 644 {0}:{0} 1000 ",
                rustix::process::geteuid().as_raw()
            ),
        ]
    );
}

#[test]
fn chunk_cache_reuses_unchanged_chunks() {
    let src = tempfile::tempdir().unwrap();
    sample_tree(src.path(), false);
    let cache = Arc::new(MemoryChunkCache::default());
    let write = || {
        let mut w = LayerWriter::with_chunk_cache(
            Vec::new(),
            &opts(Compression::Gzip { level: 6 }),
            cache.clone(),
        )
        .unwrap();
        append_tree(&mut w, src.path(), LayerSource::Plain).unwrap();
        w.finish().unwrap()
    };
    let (first, d1) = write();
    assert_eq!(cache.hits(), 0);
    let stored = cache.len();
    assert!(stored >= 3, "{stored} chunks");
    // A change at the end of the tree leaves the earlier chunks alone.
    fs::write(src.path().join("ünïcode"), "changed").unwrap();
    set_mtime(&src.path().join("ünïcode"), 1_600_000_000);
    let (second, d2) = write();
    assert_ne!(d1.diff_id, d2.diff_id);
    assert!(cache.hits() >= stored as u64 - 1, "hits {}", cache.hits());
    assert_eq!(
        decompress(&second).len(),
        decompress(&first).len(),
        "same size, one byte longer in a padded block"
    );
}

#[test]
fn overlay_whiteouts_become_oci_whiteouts_and_back() {
    if !need_root() {
        return;
    }
    let upper = tempfile::tempdir().unwrap();
    fs::create_dir_all(upper.path().join("etc/opaque/sub")).unwrap();
    xattr::set(
        upper.path().join("etc/opaque"),
        "trusted.overlay.opaque",
        b"y",
    )
    .unwrap();
    fs::write(upper.path().join("etc/opaque/new"), "n").unwrap();
    fs::write(upper.path().join("etc/opaque/sub/kept"), "k").unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        upper.path().join("etc/gone"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::empty(),
        0,
    )
    .unwrap();
    let (blob, _) = write_layer(
        upper.path(),
        LayerSource::OverlayUpper,
        &opts(Compression::None),
        Vec::new(),
    )
    .unwrap();
    let names: Vec<String> = headers(&blob)
        .iter()
        .map(|h| h.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        names,
        [
            "etc/ Directory 755",
            "etc/.wh.gone Regular 0",
            "etc/opaque/ Directory 755",
            "etc/opaque/.wh..wh..opq Regular 0",
            "etc/opaque/new Regular 644",
            "etc/opaque/sub/ Directory 755",
            "etc/opaque/sub/kept Regular 644",
        ]
    );
    // No overlay attribute leaks into the layer.
    assert!(!blob.windows(15).any(|w| w == b"trusted.overlay"));

    // Applied on a base: the whiteout deletes, the opaque directory keeps
    // only what this layer put there, also below a re-listed directory.
    let base = tempfile::tempdir().unwrap();
    fs::create_dir_all(base.path().join("etc/opaque/sub")).unwrap();
    fs::write(base.path().join("etc/gone"), "g").unwrap();
    fs::write(base.path().join("etc/opaque/old"), "o").unwrap();
    fs::write(base.path().join("etc/opaque/sub/old"), "o").unwrap();
    fs::write(base.path().join("etc/other"), "stays").unwrap();
    extract(&blob[..], base.path(), ExtractMode::Apply, None).unwrap();
    let mut left: Vec<String> = common::listing(base.path())
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "etc",
            "etc/opaque",
            "etc/opaque/new",
            "etc/opaque/sub",
            "etc/opaque/sub/kept",
            "etc/other"
        ]
    );

    // As a snapshot: back to overlay form, and written again identically.
    let snap = tempfile::tempdir().unwrap();
    extract(&blob[..], snap.path(), ExtractMode::Overlay, None).unwrap();
    let m = fs::symlink_metadata(snap.path().join("etc/gone")).unwrap();
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    assert!(m.file_type().is_char_device() && m.rdev() == 0);
    assert_eq!(
        xattr::get(snap.path().join("etc/opaque"), "trusted.overlay.opaque")
            .unwrap()
            .unwrap(),
        b"y"
    );
    let (again, _) = write_layer(
        snap.path(),
        LayerSource::OverlayUpper,
        &opts(Compression::None),
        Vec::new(),
    )
    .unwrap();
    assert_eq!(headers(&again), headers(&blob));
}

fn host(path: &str, file: &Path, overrides: Overrides) -> ListEntry {
    ListEntry {
        path: path.into(),
        source: ListSource::Host(file.to_path_buf()),
        overrides,
    }
}

#[test]
fn list_entries_are_sorted_with_overrides_and_hard_links() {
    let src = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        src.path().join("a"),
        src.path().join("b"),
        src.path().join("c"),
    );
    fs::write(&a, "same inode").unwrap();
    fs::hard_link(&a, &b).unwrap();
    fs::write(&c, "c").unwrap();
    for p in [&a, &c] {
        set_mtime(p, 1_234);
    }
    let chown = Overrides {
        uid: Some(1000),
        gid: Some(1001),
        ..Overrides::default()
    };
    let list = vec![
        host(
            "app/z.txt",
            &c,
            Overrides {
                mode: Some(0o600),
                ..chown
            },
        ),
        host("app/link2", &b, chown),
        ListEntry {
            path: "app".into(),
            source: ListSource::Directory,
            overrides: Overrides {
                mtime: Some(5),
                ..chown
            },
        },
        host("app/link1", &a, chown),
    ];
    let mut w = LayerWriter::new(Vec::new(), &opts(Compression::None)).unwrap();
    append_list(&mut w, list.clone()).unwrap();
    let (blob, _) = w.finish().unwrap();
    assert_eq!(
        headers(&blob),
        [
            "app/ Directory 755 1000:1001 5 ",
            "app/link1 Regular 644 1000:1001 1234 ",
            "app/link2 Link 644 1000:1001 1234 app/link1",
            "app/z.txt Regular 600 1000:1001 1234 ",
        ]
    );
    let mut dup = list;
    dup.push(host("/app/z.txt/", &c, chown));
    let mut w = LayerWriter::new(Vec::new(), &opts(Compression::None)).unwrap();
    let err = append_list(&mut w, dup).unwrap_err();
    assert!(matches!(err, WriteError::BadPath { .. }), "{err}");
}

#[test]
fn a_file_that_shrinks_while_written_is_an_error() {
    let mut w = LayerWriter::new(Vec::new(), &opts(Compression::Gzip { level: 1 })).unwrap();
    let entry = Entry {
        path: "f".into(),
        kind: EntryKind::File { size: 10 },
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 0,
        xattrs: Default::default(),
    };
    let err = w.append(&entry, &mut &b"short"[..]).unwrap_err();
    assert!(
        matches!(
            err,
            WriteError::Truncated {
                expected: 10,
                actual: 5,
                ..
            }
        ),
        "{err}"
    );
}

/// Pins the exact bytes: any change to headers, order or compression
/// changes these digests (and every cached layer with them).
#[test]
fn golden_digests_of_a_fixed_layer() {
    let mut entries = Vec::new();
    let mut xattrs = std::collections::BTreeMap::new();
    xattrs.insert("security.capability".to_string(), vec![1, 0, 0, 2]);
    for (path, kind) in [
        ("bin", EntryKind::Directory),
        ("bin/tool", EntryKind::File { size: 3 }),
        (
            "bin/alias",
            EntryKind::Symlink {
                target: "tool".into(),
            },
        ),
        (
            "bin/hard",
            EntryKind::HardLink {
                target: "bin/tool".into(),
            },
        ),
        ("dev/null", EntryKind::CharDevice { major: 1, minor: 3 }),
        ("gone", EntryKind::Whiteout),
        (
            &*format!("long/{}", "x".repeat(150)),
            EntryKind::File { size: 3 },
        ),
    ] {
        entries.push(Entry {
            path: path.to_string(),
            kind,
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: 1_700_000_000,
            xattrs: if path == "bin/tool" {
                xattrs.clone()
            } else {
                Default::default()
            },
        });
    }
    let mut out = Vec::new();
    for compression in ALL {
        let mut w = LayerWriter::new(Vec::new(), &opts(compression)).unwrap();
        for e in &entries {
            w.append(e, &mut &b"abc"[..]).unwrap();
        }
        let (blob, d) = w.finish().unwrap();
        assert_eq!(d.digest, sha(&blob));
        out.push(format!(
            "{compression:?}\n  diff_id {}\n  digest  {} ({} bytes)",
            d.diff_id, d.digest, d.size
        ));
        if compression == Compression::None {
            out.push(headers(&blob).join("\n"));
        }
    }
    insta::assert_snapshot!(out.join("\n"));
}

/// Runs an external tool on `input`; `None` (outside CI) when it is missing.
fn tool(cmd: &str, args: &[&str], input: &[u8]) -> Option<Vec<u8>> {
    use std::process::{Command, Stdio};
    let child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{cmd}: {e}");
            eprintln!("note: {cmd} missing, skipped");
            return None;
        }
    };
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert!(out.status.success(), "{cmd} {args:?} failed");
    Some(out.stdout)
}

#[test]
fn gzip_zstd_and_gnu_tar_read_our_layers() {
    let src = tempfile::tempdir().unwrap();
    sample_tree(src.path(), false);
    for (compression, cmd) in [
        (Compression::Gzip { level: 6 }, "gzip"),
        (Compression::Zstd { level: 3 }, "zstd"),
    ] {
        let (blob, d) = write_layer(
            src.path(),
            LayerSource::Plain,
            &opts(compression),
            Vec::new(),
        )
        .unwrap();
        let Some(tar_bytes) = tool(cmd, &["-dc"], &blob) else {
            continue;
        };
        assert_eq!(sha(&tar_bytes), d.diff_id, "{cmd}");
        let Some(list) = tool("tar", &["-tvf", "-", "--numeric-owner"], &tar_bytes) else {
            continue;
        };
        let list = String::from_utf8(list).unwrap();
        assert!(
            list.contains(&format!("{}/{}", "d".repeat(120), "f".repeat(110))),
            "{list}"
        );
        assert!(
            list.contains("app/sub/data.bin link to app/hard.bin"),
            "{list}"
        );
        assert!(list.contains("-rwsr-xr-x"), "{list}");
        assert!(list.contains("ünïcode"), "{list}");
    }
}
