//! `ADD` of a local archive unpacks it in every compression Docker reads
//! (none, gzip, bzip2, xz, zstd); a compressed file that is not a tar is
//! copied as it is.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, chmod, dockerfile_context, have_tool, run_ok};
use std::process::Command;

/// (file name, `tar` compression flag, tool the flag needs).
const FORMATS: [(&str, &str, &str); 5] = [
    ("pkg.tar", "", "tar"),
    ("pkg.tar.gz", "-z", "gzip"),
    ("pkg.tar.bz2", "-j", "bzip2"),
    ("pkg.tar.xz", "-J", "xz"),
    ("pkg.tar.zst", "--zstd", "zstd"),
];

#[test]
fn add_unpacks_tar_gzip_bzip2_xz_and_zstd_archives() {
    if FORMATS.iter().any(|(_, _, tool)| !have_tool(tool)) {
        return;
    }
    let env = Env::new();
    let mut dockerfile = String::from("FROM busybox\n");
    for (name, _, _) in FORMATS {
        dockerfile.push_str(&format!("ADD {name} /opt/{name}/\n"));
    }
    dockerfile.push_str("ADD notes.txt.bz2 /opt/\n");
    let ctx = dockerfile_context(
        &env,
        "ctx",
        &dockerfile,
        &[
            ("tree/pkg/bin/tool", "#!/bin/sh\necho tool\n"),
            ("notes.txt", "not an archive\n"),
        ],
    );
    chmod(&ctx.join("tree/pkg/bin/tool"), 0o755);
    for (name, flag, _) in FORMATS {
        let mut tar = Command::new("tar");
        tar.arg("-cf").arg(name);
        if !flag.is_empty() {
            tar.arg(flag);
        }
        run_ok(tar.args(["-C", "tree", "pkg"]).current_dir(&ctx));
    }
    run_ok(Command::new("bzip2").arg("notes.txt").current_dir(&ctx));
    std::fs::remove_dir_all(ctx.join("tree")).unwrap();

    env.build(&ctx, &["-t", "add"]).ok();
    let files = env.image("add").files();
    for (name, _, _) in FORMATS {
        let tool = files
            .get(&format!("opt/{name}/pkg/bin/tool"))
            .unwrap_or_else(|| panic!("{name} was not unpacked"));
        assert_eq!(tool.text(), "#!/bin/sh\necho tool\n", "{name}");
        assert_eq!(tool.mode & 0o777, 0o755, "{name}");
        assert!(!files.contains_key(&format!("opt/{name}/{name}")), "{name}");
    }
    let notes = &files["opt/notes.txt.bz2"];
    assert!(
        notes.data.starts_with(b"BZh"),
        "a compressed non-tar is copied as is"
    );
}

/// Regression: `ADD --chown` of a local archive left its entries with the
/// archive's owners, where BuildKit lets an explicit `--chown` override
/// them (without `--chown` the archive's owners stay).
#[test]
fn add_chown_owns_the_unpacked_entries() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\nADD --chown=1000:100 pkg.tar.gz /owned/\nADD pkg.tar.gz /kept/\n",
        &[("tree/pkg/bin/tool", "tool\n")],
    );
    run_ok(
        Command::new("tar")
            .args([
                "--owner=5",
                "--group=6",
                "-czf",
                "pkg.tar.gz",
                "-C",
                "tree",
                "pkg",
            ])
            .current_dir(&ctx),
    );
    std::fs::remove_dir_all(ctx.join("tree")).unwrap();
    env.build(&ctx, &["-t", "add"]).ok();
    let files = env.image("add").files();
    let ids = |p: &str| (files[p].uid, files[p].gid);
    assert_eq!(ids("owned"), (1000, 100));
    assert_eq!(ids("owned/pkg"), (1000, 100));
    assert_eq!(ids("owned/pkg/bin/tool"), (1000, 100));
    assert_eq!(ids("kept/pkg/bin/tool"), (5, 6));
}
