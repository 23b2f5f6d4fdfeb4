//! Build contexts from URLs: `strata build git://…` / `http://…/ctx.tar.gz`
//! and `--build-context NAME=URL`, against a `git daemon` and an HTTP
//! server the tests start on 127.0.0.1.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::servers::{GitDaemon, Server, git};
use common::{Env, dockerfile_context, have_tool, write};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// A repository `repo` under `base`: tag `v1`, then a later commit on
/// `main`. The root has a Dockerfile copying the whole context; `app/`
/// has its own Dockerfile (and `Dockerfile.alt`) and files.
fn make_repo(base: &Path) -> PathBuf {
    let repo = base.join("repo");
    write(
        &repo.join("Dockerfile"),
        "FROM busybox\nCOPY . /src/\nRUN cat /src/a.txt > /out.txt\n",
    );
    write(&repo.join("a.txt"), "a at v1\n");
    write(&repo.join(".dockerignore"), "a.txt\n");
    write(&repo.join("app/Dockerfile"), "FROM busybox\nCOPY . /app/\n");
    write(
        &repo.join("app/Dockerfile.alt"),
        "FROM busybox\nCOPY main.txt /alt/\n",
    );
    write(&repo.join("app/main.txt"), "main at v1\n");
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "one"]);
    git(&repo, &["tag", "-a", "v1", "-m", "v1"]);
    write(&repo.join("a.txt"), "a at main\n");
    write(&repo.join("app/main.txt"), "main at main\n");
    git(&repo, &["commit", "-q", "-am", "two"]);
    repo
}

/// Entries of a directory of the store (none when it does not exist).
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A git daemon serving `make_repo`'s repository, or None without git.
fn served_repo(env: &Env) -> Option<(GitDaemon, PathBuf)> {
    if !have_tool("git") {
        return None;
    }
    let base = env.path("git");
    let repo = make_repo(&base);
    Some((GitDaemon::start(&base), repo))
}

#[test]
fn a_git_context_is_the_checkout_and_a_rebuild_of_the_same_commit_hits_every_step() {
    let env = Env::new();
    let Some((daemon, repo)) = served_repo(&env) else {
        return;
    };
    let url = daemon.url("repo");
    let url = Path::new(&url);
    let first = env.build(url, &["-t", "g"]).ok();
    assert_eq!(first.ran().len(), 2, "{:?}", first.statuses());
    let image = env.image("g");
    // As BuildKit: the repository's .dockerignore does not apply to a
    // remote context, and .git is not there.
    assert_eq!(image.file("/out.txt").text(), "a at main\n");
    let files = image.files();
    assert!(files.contains_key("src/app/main.txt"), "{:?}", files.keys());
    assert!(!files.keys().any(|k| k.starts_with("src/.git")));
    // Files carry the commit's time.
    let date = 1_704_067_200;
    assert_eq!(image.file("/src/a.txt").mtime, date);

    // The stat cache of a temporary checkout is not kept, and the
    // checkout is gone after the build.
    let statcaches = entries(&env.root.join("statcache-v1"));
    let again = env.build(url, &["-t", "g"]).ok();
    assert_eq!(again.ran(), Vec::<String>::new(), "{:?}", again.statuses());
    assert_eq!(again.image_id(), first.image_id());
    assert_eq!(entries(&env.root.join("statcache-v1")), statcaches);
    assert_eq!(entries(&env.root.join("tmp")), Vec::<String>::new());

    // A moved branch reruns what changed, explained against the last
    // build of the same URL.
    write(&repo.join("a.txt"), "a moved\n");
    git(&repo, &["commit", "-q", "-am", "three"]);
    let moved = env.build(url, &["-t", "g"]).ok();
    assert_eq!(
        moved.ran(),
        vec!["COPY . /src/", "RUN cat /src/a.txt > /out.txt"]
    );
    assert!(
        moved.reason("COPY").contains("a.txt"),
        "{}",
        moved.reason("COPY")
    );
    assert_eq!(env.image("g").file("/out.txt").text(), "a moved\n");
    env.assert_store_clean();
}

#[test]
fn a_git_context_takes_ref_subdir_dockerfile_and_keep_git_dir() {
    let env = Env::new();
    let Some((daemon, _repo)) = served_repo(&env) else {
        return;
    };
    // `#v1:app`: the tag's tree, scoped to app/, its own Dockerfile.
    let url = format!("{}#v1:app", daemon.url("repo"));
    env.build(Path::new(&url), &["-t", "sub"]).ok();
    let files = env.image("sub").files();
    assert_eq!(
        env.image("sub").file("/app/main.txt").text(),
        "main at v1\n"
    );
    assert!(!files.contains_key("app/a.txt"), "{:?}", files.keys());

    // A relative -f is inside the remote context.
    env.build(Path::new(&url), &["-t", "alt", "-f", "Dockerfile.alt"])
        .ok();
    assert_eq!(
        env.image("alt").file("/alt/main.txt").text(),
        "main at v1\n"
    );

    // An absolute -f is a local file.
    let local = env.path("local.Dockerfile");
    write(&local, "FROM busybox\nCOPY Dockerfile.alt /x\n");
    env.build(
        Path::new(&url),
        &["-t", "abs", "-f", local.to_str().unwrap()],
    )
    .ok();
    assert!(env.image("abs").file("/x").text().contains("COPY main.txt"));

    // -f may not leave the context.
    let b = env
        .build(Path::new(&url), &["-f", "../Dockerfile"])
        .failed();
    assert!(
        b.stderr.contains("leads out of the context"),
        "{}",
        b.stderr
    );

    // BUILDKIT_CONTEXT_KEEP_GIT_DIR keeps .git, as BuildKit.
    let url = daemon.url("repo");
    env.build(
        Path::new(&url),
        &[
            "-t",
            "kept",
            "--build-arg",
            "BUILDKIT_CONTEXT_KEEP_GIT_DIR=1",
        ],
    )
    .ok();
    let files = env.image("kept").files();
    assert!(files.contains_key("src/.git/HEAD"), "{:?}", files.keys());
    env.assert_store_clean();
}

/// A tar (gzip-compressed when `gzip`) of `files`.
fn tarball(files: &[(&str, &str)], gzip: bool) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        tar.append_data(&mut header, name, content.as_bytes())
            .unwrap();
    }
    let tar = tar.into_inner().unwrap();
    if !gzip {
        return tar;
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

#[test]
fn a_tarball_over_http_is_the_context_and_a_rebuild_hits_every_step() {
    let server = Server::start();
    let env = Env::new();
    let files = [
        (
            "Dockerfile",
            "FROM busybox\nCOPY . /ctx/\nRUN cat /ctx/f.txt > /out\n",
        ),
        ("f.txt", "from the tarball\n"),
        ("sub/Dockerfile.other", "FROM busybox\nCOPY f.txt /other\n"),
    ];
    server.put("/ctx.tar.gz", &tarball(&files, true), None);
    server.put("/ctx.tar", &tarball(&files, false), None);
    let url = server.url("/ctx.tar.gz");
    let first = env.build(Path::new(&url), &["-t", "t"]).ok();
    assert_eq!(first.ran().len(), 2, "{:?}", first.statuses());
    let image = env.image("t");
    assert_eq!(image.file("/out").text(), "from the tarball\n");
    assert_eq!(image.file("/ctx/f.txt").mtime, 1_700_000_000);
    let statcaches = entries(&env.root.join("statcache-v1"));
    let again = env.build(Path::new(&url), &["-t", "t"]).ok();
    assert_eq!(again.ran(), Vec::<String>::new(), "{:?}", again.statuses());
    assert_eq!(again.image_id(), first.image_id());
    assert_eq!(entries(&env.root.join("statcache-v1")), statcaches);

    // A plain tar, with -f inside it.
    let url = server.url("/ctx.tar");
    env.build(Path::new(&url), &["-t", "o", "-f", "sub/Dockerfile.other"])
        .ok();
    assert_eq!(env.image("o").file("/other").text(), "from the tarball\n");
    assert_eq!(entries(&env.root.join("tmp")), Vec::<String>::new());
    env.assert_store_clean();
}

#[test]
fn a_plain_text_url_is_the_dockerfile() {
    let server = Server::start();
    let env = Env::new();
    let dockerfile = "FROM busybox\nCOPY context /Dockerfile.copy\nRUN echo built > /built\n";
    server.put("/Dockerfile", dockerfile.as_bytes(), None);
    let url = server.url("/Dockerfile");
    // As BuildKit: -f does not apply, the file is the context's `context`.
    env.build(Path::new(&url), &["-t", "p", "-f", "ignored"])
        .ok();
    let image = env.image("p");
    assert_eq!(image.file("/built").text(), "built\n");
    assert_eq!(image.file("/Dockerfile.copy").text(), dockerfile);
}

#[test]
fn named_contexts_from_git_and_http() {
    let env = Env::new();
    let Some((daemon, _repo)) = served_repo(&env) else {
        return;
    };
    let server = Server::start();
    let tgz = tarball(&[("inner.txt", "inner\n")], true);
    server.put("/ctx.tar.gz", &tgz, None);
    let git_url = format!("{}#v1:app", daemon.url("repo"));
    let http_url = server.url("/ctx.tar.gz");
    let ctx = dockerfile_context(
        &env,
        "named",
        "FROM src AS base\nFROM busybox\nCOPY --from=src main.txt /from-git\n\
         COPY --from=base /Dockerfile /base-dockerfile\nCOPY --from=dl context /ctx.tar.gz\n",
        &[],
    );
    let args = [
        "-t",
        "n",
        "--build-context",
        &format!("src={git_url}"),
        "--build-context",
        &format!("dl={http_url}"),
    ];
    let first = env.build(&ctx, &args).ok();
    let image = env.image("n");
    assert_eq!(image.file("/from-git").text(), "main at v1\n");
    assert!(
        image
            .file("/base-dockerfile")
            .text()
            .contains("COPY . /app/")
    );
    // As BuildKit: an HTTP named context is the downloaded file, named
    // `context`, not unpacked.
    let got = image.file("/ctx.tar.gz");
    assert_eq!(got.data, tgz);
    assert_eq!(got.mode & 0o777, 0o600);
    let again = env.build(&ctx, &args).ok();
    assert_eq!(again.ran(), Vec::<String>::new(), "{:?}", again.statuses());
    assert_eq!(again.image_id(), first.image_id());
    env.assert_store_clean();
}

#[test]
fn bad_urls_fail_with_a_clear_error() {
    let env = Env::new();
    let server = Server::start();
    let missing = server.url("/missing.tar.gz");
    let b = env.build(Path::new(&missing), &[]).failed();
    assert!(b.stderr.contains(&missing), "{}", b.stderr);
    assert!(b.stderr.contains("404"), "{}", b.stderr);

    let ctx = dockerfile_context(&env, "c", "FROM busybox\n", &[]);
    let b = env
        .build(&ctx, &["--build-context", &format!("x={missing}")])
        .failed();
    assert!(b.stderr.contains("--build-context x="), "{}", b.stderr);

    let Some((daemon, _repo)) = served_repo(&env) else {
        return;
    };
    let url = daemon.url("no-such-repo");
    let b = env.build(Path::new(&url), &[]).failed();
    assert!(
        b.stderr.contains(&format!("build context {url}")),
        "{}",
        b.stderr
    );
    let url = format!("{}#no-such-branch", daemon.url("repo"));
    let b = env.build(Path::new(&url), &[]).failed();
    assert!(b.stderr.contains("no branch or tag"), "{}", b.stderr);
    let url = format!("{}#main:nowhere", daemon.url("repo"));
    let b = env.build(Path::new(&url), &[]).failed();
    assert!(b.stderr.contains("does not exist"), "{}", b.stderr);
    assert_eq!(entries(&env.root.join("tmp")), Vec::<String>::new());
}

#[test]
fn a_git_context_over_ssh_uses_the_default_agent() {
    let env = Env::new();
    let Some((agent, sshd)) = common::ssh::agent_and_sshd(&env) else {
        return;
    };
    let repo = make_repo(&env.path("git"));
    let bare = env.path("git/repo.git");
    git(
        &repo,
        &["clone", "-q", "--bare", ".", bare.to_str().unwrap()],
    );
    let url = format!("{}#v1:app", sshd.url(&bare));
    let home = env.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let with_home = |c: &mut std::process::Command| {
        c.env("HOME", &home);
    };
    let ssh = format!("default={}", agent.socket.display());
    env.build_with(Path::new(&url), &["-t", "s", "--ssh", &ssh], with_home)
        .ok();
    assert_eq!(env.image("s").file("/app/main.txt").text(), "main at v1\n");
    let b = env.build_with(Path::new(&url), &[], with_home).failed();
    assert!(b.stderr.contains("--ssh default"), "{}", b.stderr);
}

#[test]
fn build_checks_read_the_dockerfile_of_a_git_context() {
    let env = Env::new();
    let Some((daemon, _repo)) = served_repo(&env) else {
        return;
    };
    let url = format!("{}#v1:app", daemon.url("repo"));
    let out = common::run(
        env.strata()
            .args(["build", "--check", "-f", "Dockerfile.alt"])
            .arg(&url),
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no warnings found"),
        "{out:?}"
    );
    // A Dockerfile with a warning in the repository is found and checked.
    let repo = env.path("git/repo");
    write(
        &repo.join("app/Dockerfile.warn"),
        "from busybox\nCOPY main.txt /\n",
    );
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "warn"]);
    let url = format!("{}#main:app", daemon.url("repo"));
    let out = common::run(
        env.strata()
            .args(["build", "--check", "-f", "Dockerfile.warn"])
            .arg(&url),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("ConsistentInstructionCasing") || stdout.contains("FromAsCasing"),
        "{stdout}"
    );
}
