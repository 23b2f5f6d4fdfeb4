//! COPY/ADD source selection against real directories.

mod common;

use common::*;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use strata_context::{BuildContext, ContextError, EntryKind};

#[test]
fn directory_source_selects_its_subtree_sorted() {
    let dir = tempfile::tempdir().unwrap();
    tree(
        dir.path(),
        &[
            ("src/b.py", "b"),
            ("src/a/x.py", "x"),
            ("src/a.txt", "t"),
            ("other", "o"),
            ("src/empty/", ""),
        ],
    );
    let ctx = BuildContext::new(dir.path(), &[]).unwrap();
    let sel = select(&ctx, &["./src/"]);
    assert_eq!(
        listing(&sel),
        [
            "src:",
            "src:a",
            "src:a/x.py",
            "src:a.txt",
            "src:b.py",
            "src:empty"
        ]
    );
    assert_eq!(sel.roots[0].kind, EntryKind::Dir);
    assert_eq!(sel.entries[2].path, "src/a/x.py");
    assert_eq!(sel.entries[2].meta.kind, EntryKind::File);
}

#[test]
fn dot_selects_the_whole_context() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), &[("a", "1"), ("d/b", "2")]);
    let ctx = BuildContext::new(dir.path(), &[]).unwrap();
    assert_eq!(listing(&select(&ctx, &["."])), [":", ":a", ":d", ":d/b"]);
}

#[test]
fn missing_source_is_buildkits_not_found_error() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = BuildContext::new(dir.path(), &[]).unwrap();
    let err = try_select(&ctx, &["nope"], &[], false).unwrap_err();
    assert_eq!(err.to_string(), "\"/nope\": not found");
    let err = try_select(&ctx, &["./a/../nope/"], &[], false).unwrap_err();
    assert_eq!(err.to_string(), "\"/nope\": not found");
}

#[test]
fn sources_escaping_the_context_are_clamped_to_its_root() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), &[("ctx/x", "inside"), ("x", "outside")]);
    let ctx = BuildContext::new(dir.path().join("ctx"), &[]).unwrap();
    let sel = select(&ctx, &["../x"]);
    assert_eq!(listing(&sel), ["x:"]);
    assert_eq!(sel.entries[0].path, "x");
    assert_eq!(
        sel.entries[0].meta.size, 6,
        "the context's x, not the parent's"
    );
}

#[test]
fn wildcards_match_per_component_and_only_list_named_directories() {
    let dir = tempfile::tempdir().unwrap();
    tree(
        dir.path(),
        &[
            ("a.py", "1"),
            ("b.py", "2"),
            ("c.txt", "3"),
            ("pkg/d.py", "4"),
            ("app/one/x", "5"),
            ("app/two/x", "6"),
            ("app/two/y", "7"),
            ("app/three/", ""),
            ("lib.d/m", "8"),
        ],
    );
    // A directory nobody names must never be read: a non-UTF-8 name in it
    // would fail the walk.
    std::fs::create_dir(dir.path().join("unvisited")).unwrap();
    std::fs::write(
        dir.path()
            .join("unvisited")
            .join(OsStr::from_bytes(b"\xff")),
        "",
    )
    .unwrap();
    let ctx = BuildContext::new(dir.path(), &[]).unwrap();
    assert_eq!(listing(&select(&ctx, &["*.py"])), ["a.py:", "b.py:"]);
    assert_eq!(
        listing(&select(&ctx, &["app/*/x"])),
        ["app/one/x:", "app/two/x:"]
    );
    assert_eq!(
        listing(&select(&ctx, &["[ab].py", "c.tx?"])),
        ["a.py:", "b.py:", "c.txt:"]
    );
    // A directory matched by a wildcard has its content copied.
    assert_eq!(listing(&select(&ctx, &["lib.*"])), ["lib.d:", "lib.d:m"]);
    // `*` does not cross `/`.
    assert_eq!(listing(&select(&ctx, &["app/*"]))[0], "app/one:");
    assert!(
        listing(&select(&ctx, &["app/*"]))
            .iter()
            .all(|l| !l.starts_with("pkg"))
    );
    // Control: a source that does name `unvisited` trips on the bad name.
    assert!(try_select(&ctx, &["unvisited"], &[], false).is_err());
}

#[test]
fn wildcard_matching_nothing_selects_nothing_as_buildkit_allows() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), &[("a", "1")]);
    let ctx = BuildContext::new(dir.path(), &[]).unwrap();
    let sel = select(&ctx, &["*.nothing", "missing/*"]);
    assert!(sel.entries.is_empty());
    assert!(matches!(
        try_select(&ctx, &["a["], &[], false),
        Err(ContextError::BadPattern { .. })
    ));
}

#[test]
fn symlinks_inside_a_tree_are_listed_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    tree(outside.path(), &[("secret/passwd", "root:x")]);
    let out_target = outside.path().join("secret");
    tree(
        dir.path(),
        &[
            ("app/abs", &format!("@{}", out_target.display())),
            ("app/up", "@../../../../../../etc"),
            ("app/real", "data"),
        ],
    );
    let ctx = BuildContext::new(dir.path(), &[]).unwrap();
    let sel = select(&ctx, &["app"]);
    assert_eq!(listing(&sel), ["app:", "app:abs", "app:real", "app:up"]);
    let abs = &sel.entries[1];
    assert_eq!(abs.meta.kind, EntryKind::Symlink);
    assert_eq!(abs.link_target.as_deref(), Some(out_target.as_path()));
    assert!(sel.entries.iter().all(|e| !e.path.contains("passwd")));
}

#[test]
fn top_level_symlink_sources_are_followed_inside_the_context_only() {
    let dir = tempfile::tempdir().unwrap();
    tree(
        dir.path(),
        &[
            ("data/f", "content"),
            ("rel", "@data/f"),
            ("abs", "@/data/f"),
            ("dirlink", "@data"),
            ("escape", "@../../../../../../../etc/passwd"),
            ("loop", "@loop"),
        ],
    );
    let ctx = BuildContext::new(dir.path(), &[]).unwrap();
    let sel = select(&ctx, &["rel", "abs"]);
    assert_eq!(listing(&sel), ["rel:", "abs:"], "named after the source");
    assert!(
        sel.entries
            .iter()
            .all(|e| e.path == "data/f" && e.meta.kind == EntryKind::File)
    );
    // A link to a directory copies the directory's content.
    assert_eq!(
        listing(&select(&ctx, &["dirlink"])),
        ["dirlink:", "dirlink:f"]
    );
    assert_eq!(select(&ctx, &["dirlink/f"]).entries[0].path, "data/f");
    // `../..` and absolute targets stay inside: /etc/passwd means CONTEXT/etc/passwd.
    let err = try_select(&ctx, &["escape"], &[], false).unwrap_err();
    assert_eq!(err.to_string(), "\"/escape\": not found");
    assert!(matches!(
        try_select(&ctx, &["loop"], &[], false),
        Err(ContextError::SymlinkLoop { .. })
    ));
}

#[test]
fn dockerignore_hides_files_and_prunes_excluded_directories() {
    let dir = tempfile::tempdir().unwrap();
    tree(
        dir.path(),
        &[
            ("app.py", "1"),
            ("debug.log", "2"),
            ("node_modules/pkg/index.js", "3"),
            ("docs/a.md", "4"),
            ("docs/keep.md", "5"),
            ("Dockerfile", "FROM x"),
        ],
    );
    // If the walk entered node_modules, this name would make it fail.
    std::fs::write(
        dir.path()
            .join("node_modules")
            .join(OsStr::from_bytes(b"\xff")),
        "",
    )
    .unwrap();
    let ctx = BuildContext::new(
        dir.path(),
        &rules(&[
            "*.log",
            "node_modules",
            "docs",
            "!docs/keep.md",
            "Dockerfile",
        ]),
    )
    .unwrap();
    assert_eq!(
        listing(&select(&ctx, &["."])),
        [":", ":app.py", ":docs", ":docs/keep.md"],
        "an excluded directory appears only as the parent of an exception"
    );
    assert_eq!(
        try_select(&ctx, &["debug.log"], &[], false)
            .unwrap_err()
            .to_string(),
        "\"/debug.log\": not found"
    );
    assert!(try_select(&ctx, &["node_modules/pkg"], &[], false).is_err());
    assert_eq!(listing(&select(&ctx, &["docs"])), ["docs:", "docs:keep.md"]);
    assert_eq!(listing(&select(&ctx, &["*.py", "*.log"])), ["app.py:"]);
    // Control: without the rule the walk does enter node_modules (and trips).
    let unfiltered = BuildContext::new(dir.path(), &[]).unwrap();
    assert!(matches!(
        try_select(&unfiltered, &["."], &[], false),
        Err(ContextError::NonUtf8Name { .. })
    ));
}

#[test]
fn excluded_directory_with_possible_exception_is_walked() {
    let dir = tempfile::tempdir().unwrap();
    tree(
        dir.path(),
        &[("build/out/keep.txt", "k"), ("build/out/drop.o", "d")],
    );
    let ctx = BuildContext::new(dir.path(), &rules(&["build", "!build/**/*.txt"])).unwrap();
    assert_eq!(
        listing(&select(&ctx, &["."])),
        [":", ":build", ":build/out", ":build/out/keep.txt"]
    );
}

#[test]
fn copy_exclude_applies_relative_to_the_source() {
    let dir = tempfile::tempdir().unwrap();
    tree(
        dir.path(),
        &[
            ("src/a.py", "1"),
            ("src/a.pyc", "2"),
            ("src/sub/b.pyc", "3"),
            ("hom.txt", "4"),
            ("home", "5"),
        ],
    );
    let ctx = BuildContext::new(dir.path(), &[]).unwrap();
    let sel = try_select(&ctx, &["src"], &["*.pyc", "sub/*.pyc"], false).unwrap();
    assert_eq!(listing(&sel), ["src:", "src:a.py", "src:sub"]);
    let sel = try_select(&ctx, &["hom*"], &["*.txt"], false).unwrap();
    assert_eq!(listing(&sel), ["home:"]);
    let sel = try_select(&ctx, &["src"], &["**", "!a.py"], false).unwrap();
    assert_eq!(listing(&sel), ["src:", "src:a.py"]);
}

#[test]
fn parents_keeps_paths_below_the_pivot() {
    let dir = tempfile::tempdir().unwrap();
    tree(
        dir.path(),
        &[
            ("x/y/a.txt", "1"),
            ("x/y/b.md", "2"),
            ("x/z/c.txt", "3"),
            ("w/d.txt", "4"),
        ],
    );
    let ctx = BuildContext::new(dir.path(), &[]).unwrap();
    let sel = try_select(&ctx, &["x/*/*.txt"], &[], true).unwrap();
    assert_eq!(
        listing(&sel),
        [":", ":x", ":x/y", ":x/y/a.txt", ":x/z", ":x/z/c.txt"]
    );
    let sel = try_select(&ctx, &["./x/./y/*.txt"], &[], true).unwrap();
    assert_eq!(listing(&sel), ["x:", "x:y", "x:y/a.txt"]);
    assert_eq!(
        try_select(&ctx, &["x/nope.txt"], &[], true)
            .unwrap_err()
            .to_string(),
        "\"/x/nope.txt\": not found"
    );
}

#[test]
fn each_source_is_its_own_root_in_source_order() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), &[("b", "1"), ("a/c", "2")]);
    let ctx = BuildContext::new(dir.path(), &[]).unwrap();
    let sel = select(&ctx, &["b", "a"]);
    assert_eq!(listing(&sel), ["b:", "a:", "a:c"]);
    assert_eq!(
        sel.roots.iter().map(|r| r.source).collect::<Vec<_>>(),
        [0, 1]
    );
}
