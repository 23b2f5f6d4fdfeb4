//! COPY and ADD as Docker does them, checked in the built image's layers.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, build_image, chmod, dockerfile_context, run_ok, write};
use std::process::Command;

const FILES: &[(&str, &str)] = &[
    ("a.txt", "A\n"),
    ("b.txt", "B\n"),
    ("c.md", "C\n"),
    ("src/x.py", "x\n"),
    ("src/sub/y.py", "y\n"),
];

#[test]
fn copy_destination_rules() {
    let env = Env::new();
    let image = build_image(
        &env,
        "FROM busybox
COPY a.txt /dir-slash/
COPY a.txt /no-slash
COPY a.txt b.txt /multi/
COPY *.txt /wild/
COPY src /content
COPY a.txt src /mixed/
COPY a.txt /etc
RUN mkdir /existing
COPY a.txt /existing
COPY src/sub/ /deep/er/
WORKDIR /w
COPY a.txt rel/
COPY b.txt .
COPY c.md renamed.md
",
        FILES,
        "dest",
    );
    let files = image.files();
    let text = |p: &str| {
        let e = files.get(p).unwrap_or_else(|| {
            panic!(
                "{p} missing; have {:?}",
                files
                    .keys()
                    .filter(|k| !k.starts_with("bin/") && !k.starts_with("lib"))
                    .collect::<Vec<_>>()
            )
        });
        assert_eq!(e.kind, 'f', "{p} is a file");
        e.text()
    };
    let is_dir = |p: &str| files.get(p).is_some_and(|e| e.kind == 'd');
    // A trailing slash makes a directory.
    assert!(is_dir("dir-slash"));
    assert_eq!(text("dir-slash/a.txt"), "A\n");
    // No slash and nothing there: the file gets that name.
    assert_eq!(text("no-slash"), "A\n");
    // Several sources go into the directory.
    assert_eq!(text("multi/a.txt"), "A\n");
    assert_eq!(text("multi/b.txt"), "B\n");
    // A wildcard selects only what matches.
    assert_eq!(text("wild/a.txt"), "A\n");
    assert_eq!(text("wild/b.txt"), "B\n");
    assert!(!files.contains_key("wild/c.md"));
    // A directory source copies its content, not itself.
    assert_eq!(text("content/x.py"), "x\n");
    assert_eq!(text("content/sub/y.py"), "y\n");
    assert!(!files.contains_key("content/src"));
    assert_eq!(text("mixed/a.txt"), "A\n");
    assert_eq!(text("mixed/x.py"), "x\n");
    assert_eq!(text("mixed/sub/y.py"), "y\n");
    // An existing directory receives the file.
    assert_eq!(text("etc/a.txt"), "A\n");
    assert!(files.contains_key("etc/passwd"), "the base's /etc is kept");
    assert_eq!(text("existing/a.txt"), "A\n");
    // Missing parents are created.
    assert_eq!(text("deep/er/y.py"), "y\n");
    assert_eq!(files["deep"].mode & 0o7777, 0o755);
    // Relative destinations are under WORKDIR.
    assert_eq!(text("w/rel/a.txt"), "A\n");
    assert_eq!(text("w/b.txt"), "B\n");
    assert_eq!(text("w/renamed.md"), "C\n");
}

#[test]
fn copy_of_several_sources_needs_a_directory_destination() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\nCOPY a.txt b.txt /notdir\n",
        FILES,
    );
    let b = env.build(&ctx, &[]).failed();
    assert!(b.stderr.contains("/notdir"), "{}", b.stderr);
    assert!(
        b.stderr.contains("must be a directory") || b.stderr.contains("end with a /"),
        "{}",
        b.stderr
    );
}

#[test]
fn copy_chown_by_id_and_by_name_and_chmod() {
    let env = Env::new();
    let ctx = dockerfile_context(&env, "ctx", "", FILES);
    chmod(&ctx.join("b.txt"), 0o750);
    // Host ownership never reaches the image without --chown.
    std::os::unix::fs::chown(ctx.join("c.md"), Some(4321), Some(4321)).expect("chown");
    common::write(
        &ctx.join("Dockerfile"),
        "FROM busybox
COPY --chown=1000:1000 a.txt /o/num
COPY --chown=app:users a.txt /o/names
COPY --chown=app a.txt /o/user-only
COPY --chown=nobody:0 a.txt /o/mixed
COPY --chmod=0751 a.txt /o/mode
COPY --chown=1000:1000 --chmod=600 a.txt /o/both
COPY --chown=1000:1000 src /o/tree/
COPY b.txt c.md /o/plain/
",
    );
    env.build(&ctx, &["-t", "own"]).ok();
    let files = env.image("own").files();
    let ids = |p: &str| {
        let e = &files[p];
        (e.uid, e.gid, e.mode & 0o7777)
    };
    assert_eq!(ids("o/num"), (1000, 1000, 0o644));
    assert_eq!(ids("o/names"), (1000, 100, 0o644));
    assert_eq!(ids("o/user-only"), (1000, 1000, 0o644));
    assert_eq!(ids("o/mixed"), (65534, 0, 0o644));
    assert_eq!(ids("o/mode"), (0, 0, 0o751));
    assert_eq!(ids("o/both"), (1000, 1000, 0o600));
    assert_eq!(ids("o/tree/x.py"), (1000, 1000, 0o644));
    assert_eq!(ids("o/tree/sub"), (1000, 1000, 0o755));
    assert_eq!(ids("o/tree/sub/y.py"), (1000, 1000, 0o644));
    // Without flags: the context's mode bits, root's ownership.
    assert_eq!(ids("o/plain/b.txt"), (0, 0, 0o750));
    assert_eq!(ids("o/plain/c.md"), (0, 0, 0o644));
}

#[test]
fn copy_chown_of_an_unknown_user_fails_clearly() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\nCOPY --chown=nosuchuser a.txt /x\n",
        FILES,
    );
    let b = env.build(&ctx, &[]).failed();
    assert!(b.stderr.contains("nosuchuser"), "{}", b.stderr);
}

/// Regression: `--chown=web` gave web's uid as the gid, `--chown=:group`
/// failed, and `WORKDIR` after `USER 2000` made the directory 2000:100 (a
/// RUN's user). BuildKit's file operations take a name's primary group
/// from passwd, read an empty part as 0 and a numeric user as the gid too.
#[test]
fn chown_and_workdir_owners_follow_buildkit_file_ops() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox
RUN echo 'web:x:33:44::/:/bin/sh' >> /etc/passwd && echo 'www:x:44:' >> /etc/group \
 && echo 'odd:x:2000:100::/:/bin/sh' >> /etc/passwd
COPY --chown=web a.txt /c/web
COPY --chown=web: a.txt /c/web-colon
COPY --chown=:www a.txt /c/group-only
COPY --chown=2000 a.txt /c/num
USER odd
WORKDIR /w/odd
USER 2000
WORKDIR /w/num
USER 3000
WORKDIR /w/unknown-num
USER web:100
WORKDIR /w/web-100
",
        FILES,
    );
    env.build(&ctx, &["-t", "own"]).ok();
    let files = env.image("own").files();
    let ids = |p: &str| (files[p].uid, files[p].gid);
    assert_eq!(ids("c/web"), (33, 44));
    assert_eq!(ids("c/web-colon"), (33, 0));
    assert_eq!(ids("c/group-only"), (0, 44));
    assert_eq!(ids("c/num"), (2000, 2000));
    assert_eq!(ids("w/odd"), (2000, 100));
    assert_eq!(ids("w/num"), (2000, 2000));
    assert_eq!(ids("w/unknown-num"), (3000, 3000));
    assert_eq!(ids("w/web-100"), (33, 100));
}

/// Regression: COPY wrote each name of a hard-linked file as a file of its
/// own (from the context, also in a last step, and from a stage), where
/// BuildKit keeps the hard links of a source.
#[test]
fn copy_keeps_hard_links_of_a_source() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox AS made
RUN mkdir /r && echo x > /r/a && ln /r/a /r/b
FROM busybox
COPY --from=made /r /from-stage/
COPY src /written/
COPY a.txt b.txt /separate/
COPY src /last/
",
        FILES,
    );
    std::fs::hard_link(ctx.join("src/x.py"), ctx.join("src/sub/x-again.py")).expect("link");
    std::fs::hard_link(ctx.join("a.txt"), ctx.join("b.txt.tmp")).expect("link");
    std::fs::rename(ctx.join("b.txt.tmp"), ctx.join("b.txt")).expect("rename");
    env.build(&ctx, &["-t", "links"]).ok();
    let files = env.image("links").files();
    // One of two names is the file, the other a hard link to it.
    let linked = |a: &str, b: &str| {
        let to = |p: &str, t: &str| files[p].kind == 'h' && files[p].link.as_deref() == Some(t);
        to(a, b) || to(b, a)
    };
    assert!(linked("from-stage/a", "from-stage/b"));
    assert!(linked("written/x.py", "written/sub/x-again.py"));
    assert!(linked("last/x.py", "last/sub/x-again.py"));
    // Two sources are two copies, as in BuildKit.
    assert!(!linked("separate/a.txt", "separate/b.txt"));
    assert_eq!(files["separate/b.txt"].text(), "A\n");
}

/// Regression: `--chmod=g=u` (OpenShift's idiom) was refused as an invalid
/// chmod; BuildKit reads symbolic modes as chmod(1) does, copying a
/// class's bits.
#[test]
fn copy_chmod_copies_the_bits_of_a_class() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\nCOPY --chmod=g=u src /g/\nCOPY --chmod=u+x,go=u-w a.txt /a\n",
        FILES,
    );
    chmod(&ctx.join("src/x.py"), 0o640);
    chmod(&ctx.join("src/sub"), 0o700);
    chmod(&ctx.join("a.txt"), 0o600);
    env.build(&ctx, &["-t", "modes"]).ok();
    let files = env.image("modes").files();
    let mode = |p: &str| files[p].mode & 0o7777;
    assert_eq!(mode("g/x.py"), 0o660);
    assert_eq!(mode("g/sub"), 0o770);
    assert_eq!(mode("a"), 0o755);
}

/// Regression: COPY to a path that is a symlink replaced the link with
/// the file; BuildKit resolves the destination through symlinks (fsutil's
/// `fs.RootPath`), so the link stays and its target gets the file. A file
/// copied *into* a directory still replaces a link of its name.
#[test]
fn copy_to_a_symlink_writes_where_it_leads() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox
RUN mkdir /zone /d && echo old > /zone/UTC && ln -s /zone/UTC /etc/localtime \\
 && ln -s ../nowhere /dangling && ln -s /zone/UTC /d/a.txt
COPY a.txt /etc/localtime
COPY b.txt /dangling
COPY a.txt /d/
RUN ln -s /zone/UTC /linked
COPY --link b.txt /linked
",
        FILES,
    );
    env.build(&ctx, &["-t", "links"]).ok();
    let files = env.image("links").files();
    let link = |p: &str| (files[p].kind, files[p].link.clone());
    assert_eq!(link("etc/localtime"), ('l', Some("/zone/UTC".into())));
    assert_eq!(files["zone/UTC"].text(), "A\n");
    assert_eq!(link("dangling"), ('l', Some("../nowhere".into())));
    assert_eq!(files["nowhere"].text(), "B\n");
    assert_eq!(files["d/a.txt"].kind, 'f');
    // --link copies onto nothing: its file replaces the link.
    assert_eq!(files["linked"].kind, 'f');
    assert_eq!(files["zone/UTC"].text(), "A\n");
}

#[test]
fn dockerignore_with_exceptions() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\nCOPY . /ctx/\n",
        &[
            (
                ".dockerignore",
                "*.log\n!keep.log\nbuild/\nsecret*\n**/*.tmp\ndocs\n!docs/README.md\n",
            ),
            ("app.py", "app\n"),
            ("debug.log", "noise\n"),
            ("keep.log", "kept\n"),
            ("build/out.bin", "bin\n"),
            ("secret.key", "k\n"),
            ("sub/deep/x.tmp", "t\n"),
            ("sub/deep/x.py", "p\n"),
            ("docs/README.md", "readme\n"),
            ("docs/other.md", "other\n"),
        ],
    );
    env.build(&ctx, &["-t", "ign"]).ok();
    let files = env.image("ign").files();
    let copied: Vec<&str> = files
        .keys()
        .filter_map(|k| k.strip_prefix("ctx/"))
        .collect();
    assert_eq!(
        copied,
        [
            ".dockerignore",
            "Dockerfile",
            "app.py",
            "docs",
            "docs/README.md",
            "keep.log",
            "sub",
            "sub/deep",
            "sub/deep/x.py",
        ]
    );

    // An ignored file does not invalidate the cache when it changes.
    common::write(&ctx.join("debug.log"), "more noise\n");
    let again = env.build(&ctx, &["-t", "ign"]).ok();
    assert_eq!(again.ran(), Vec::<String>::new());
    // A COPY naming an ignored file fails like BuildKit.
    common::write(&ctx.join("Dockerfile"), "FROM busybox\nCOPY secret.key /\n");
    let b = env.build(&ctx, &[]).failed();
    assert!(b.stderr.contains("secret.key"), "{}", b.stderr);
}

#[test]
fn add_extracts_a_local_tar_gz_and_copy_does_not() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox
ADD pkg.tar.gz /opt/
ADD plain.txt /opt/plain.txt
COPY pkg.tar.gz /copied/
",
        &[
            ("plain.txt", "plain\n"),
            ("tree/pkg/bin/tool", "#!/bin/sh\necho tool\n"),
        ],
    );
    chmod(&ctx.join("tree/pkg/bin/tool"), 0o755);
    run_ok(
        Command::new("tar")
            .args(["-czf", "pkg.tar.gz", "-C", "tree", "pkg"])
            .current_dir(&ctx),
    );
    std::fs::remove_dir_all(ctx.join("tree")).expect("rm tree");
    env.build(&ctx, &["-t", "add"]).ok();
    let files = env.image("add").files();
    let tool = &files["opt/pkg/bin/tool"];
    assert_eq!(tool.text(), "#!/bin/sh\necho tool\n");
    assert_eq!(tool.mode & 0o777, 0o755);
    assert_eq!(files["opt/plain.txt"].text(), "plain\n");
    assert!(!files.contains_key("opt/pkg.tar.gz"));
    let copied = &files["copied/pkg.tar.gz"];
    assert_eq!(copied.kind, 'f');
    assert!(
        copied.data.starts_with(&[0x1f, 0x8b]),
        "COPY keeps the archive as is"
    );
}

#[test]
fn copy_heredocs_expand_unless_quoted() {
    let env = Env::new();
    let image = build_image(
        &env,
        "FROM busybox
ENV NAME=world
COPY <<EOF /etc/motd
hello $NAME
EOF
COPY <<\"EOF\" /etc/raw
hello $NAME
EOF
COPY --chmod=0755 <<EOF /usr/local/bin/greet
#!/bin/sh
echo greet
EOF
",
        &[],
        "heredoc",
    );
    assert_eq!(image.file("/etc/motd").text(), "hello world\n");
    assert_eq!(image.file("/etc/raw").text(), "hello $NAME\n");
    let greet = image.file("/usr/local/bin/greet");
    assert_eq!(greet.mode & 0o777, 0o755);
    assert_eq!(greet.text(), "#!/bin/sh\necho greet\n");
}

#[test]
fn symlinks_in_the_context_are_copied_as_symlinks() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\nCOPY . /app/\n",
        &[("real.txt", "real\n")],
    );
    std::os::unix::fs::symlink("real.txt", ctx.join("link.txt")).expect("symlink");
    std::os::unix::fs::symlink("/etc/passwd", ctx.join("abs")).expect("symlink");
    env.build(&ctx, &["-t", "links"]).ok();
    let files = env.image("links").files();
    assert_eq!(files["app/link.txt"].kind, 'l');
    assert_eq!(files["app/link.txt"].link.as_deref(), Some("real.txt"));
    assert_eq!(files["app/abs"].kind, 'l');
    assert_eq!(files["app/abs"].link.as_deref(), Some("/etc/passwd"));
}

#[test]
fn copy_exclude_parents_and_link() {
    let env = Env::new();
    let image = build_image(
        &env,
        "FROM busybox
COPY --exclude=*.log --exclude=sub/c.txt dir /excl/
COPY --parents dir/sub/b.txt other/o.txt /par/
COPY --link dir/a.txt /linked/
",
        &[
            ("dir/a.txt", "a\n"),
            ("dir/skip.log", "log\n"),
            ("dir/sub/b.txt", "b\n"),
            ("dir/sub/c.txt", "c\n"),
            ("other/o.txt", "o\n"),
        ],
        "flags",
    );
    let files = image.files();
    let under = |prefix: &str| -> Vec<String> {
        files
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    };
    assert_eq!(under("excl/"), ["excl/a.txt", "excl/sub", "excl/sub/b.txt"]);
    assert_eq!(
        under("par/"),
        [
            "par/dir",
            "par/dir/sub",
            "par/dir/sub/b.txt",
            "par/other",
            "par/other/o.txt"
        ]
    );
    assert_eq!(files["linked/a.txt"].text(), "a\n");
}

#[test]
fn copy_through_symlinks_in_the_destination_stays_inside_the_rootfs() {
    let env = Env::new();
    let image = build_image(
        &env,
        "FROM busybox
RUN mkdir /data && ln -s /data /abs && ln -s ../data /rel && ln -s / /root-link
COPY a.txt /abs/
COPY b.txt /rel/sub/
COPY c.md /root-link/etc/
",
        FILES,
        "symdest",
    );
    let files = image.files();
    assert_eq!(files["data/a.txt"].text(), "A\n");
    assert_eq!(files["data/sub/b.txt"].text(), "B\n");
    assert_eq!(files["etc/c.md"].text(), "C\n");
    assert_eq!(files["abs"].kind, 'l', "the symlink itself is kept");
}

/// A COPY that is the target's last filesystem step lists what it would
/// create in the overlay instead of copying the bytes there (the layer
/// reads them from the context). Its layer must be the one a copied COPY
/// makes: the same COPY followed by a RUN (which needs the files).
#[test]
fn a_last_copy_gives_the_layer_of_a_copied_one() {
    let env = Env::new();
    let files = &[
        ("tree/top.txt", "top\n"),
        ("tree/keep/new.txt", "new\n"),
        ("tree/keep/old.txt", "replaced\n"),
        ("tree/deep/er/est/f.py", "f\n"),
        ("tree/run.sh", "#!/bin/sh\n"),
    ];
    let base = "FROM busybox
RUN mkdir -p /data/keep && echo old > /data/keep/old.txt && ln -s /data /d
COPY tree /d/
";
    let ctx = dockerfile_context(&env, "last-copy", base, files);
    chmod(&ctx.join("tree/run.sh"), 0o755);
    std::os::unix::fs::symlink("deep/er", ctx.join("tree/link")).expect("symlink");
    // The RUN before the COPY stamps the wall clock on the directories
    // the COPY writes into; clamp it so that two runs in different seconds
    // still give the same COPY layer (the test was flaky without it).
    let clamp = |cmd: &mut std::process::Command| {
        cmd.env("SOURCE_DATE_EPOCH", "1700000000");
    };
    env.build_with(&ctx, &["-t", "listed"], clamp).ok();
    write(
        &ctx.join("Dockerfile"),
        &format!("{base}RUN touch /after\n"),
    );
    // --no-cache: the COPY must run again, copying this time.
    env.build_with(&ctx, &["-t", "copied", "--no-cache"], clamp)
        .ok();
    let (listed, copied) = (env.image("listed"), env.image("copied"));
    let (listed_tars, copied_tars) = (listed.layer_tars(), copied.layer_tars());
    assert_eq!(listed_tars.len() + 1, copied_tars.len());
    assert!(
        listed_tars.last() == copied_tars.get(copied_tars.len() - 2),
        "the COPY layers differ"
    );
    let files = listed.files();
    assert_eq!(files["data/keep/old.txt"].text(), "replaced\n");
    assert_eq!(files["data/keep/new.txt"].text(), "new\n");
    assert_eq!(files["data/deep/er/est/f.py"].text(), "f\n");
    assert_eq!(files["data/link"].link.as_deref(), Some("deep/er"));
    assert_eq!(files["data/run.sh"].mode & 0o777, 0o755);
    assert_eq!(
        files["d"].kind, 'l',
        "the symlink in the destination is kept"
    );
}

/// Regression: a last COPY whose only new entries are at the top of the
/// root (`COPY f.txt /f.txt`) left the overlay's upper directory empty, and
/// the step committed no layer at all, dropping the listed file.
#[test]
fn a_last_copy_into_the_root_directory_keeps_its_file() {
    let env = Env::new();
    let files = &[("f.txt", "top\n"), ("g.txt", "g\n")];
    let dockerfile = "FROM busybox\nCOPY f.txt /f.txt\nCOPY g.txt /\n";
    let ctx = dockerfile_context(&env, "root-copy", dockerfile, files);
    env.build(&ctx, &["-t", "rootcopy"]).ok();
    let files = env.image("rootcopy").files();
    assert_eq!(files["f.txt"].text(), "top\n");
    assert_eq!(files["g.txt"].text(), "g\n");
}

#[test]
fn copy_parents_with_a_pivot_keeps_only_the_path_after_it() {
    // Regression: the pivot directory itself was kept (/p/x/y/f).
    let env = Env::new();
    let image = build_image(
        &env,
        "FROM busybox\nCOPY --parents x/./y/f a/b/*.txt /p/\n",
        &[("x/y/f", "f\n"), ("a/b/one.txt", "1\n")],
        "pivot",
    );
    let files = image.files();
    let under: Vec<&String> = files.keys().filter(|k| k.starts_with("p/")).collect();
    assert_eq!(under, ["p/a", "p/a/b", "p/a/b/one.txt", "p/y", "p/y/f"]);
}
