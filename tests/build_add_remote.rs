//! ADD from HTTP URLs (and git repositories), against servers on 127.0.0.1
//! that the tests start themselves.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::servers::{GitDaemon, Server, git};
use common::{Env, dockerfile_context, have_tool, run_ok};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// A gzip-compressed tar holding `inner.txt`.
fn tar_gz() -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(6);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "inner.txt", &b"inner\n"[..])
        .unwrap();
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

#[test]
fn add_url_writes_the_file_as_buildkit_does() {
    let server = Server::start();
    server.put(
        "/files/hello.txt",
        b"hello over http\n",
        Some("Mon, 01 Jan 2024 00:00:00 GMT"),
    );
    server.put("/files/app.tar.gz", &tar_gz(), None);
    server.put("/", b"root\n", None);
    let env = Env::new();
    let hello = server.url("/files/hello.txt");
    let archive = server.url("/files/app.tar.gz");
    let dockerfile = format!(
        "FROM busybox\n\
         ADD {hello} /dst/\n\
         ADD {hello} /renamed.txt\n\
         ADD --chmod=644 --chown=1:2 {hello} /opts/\n\
         ADD {archive} /packed/\n\
         ADD --unpack=true {archive} /unpacked/\n\
         ADD {root} /index/\n\
         WORKDIR /w\n\
         ADD {hello} {hello}?x=1 rel/\n",
        root = server.url("/"),
    );
    let ctx = dockerfile_context(&env, "ctx", &dockerfile, &[]);
    env.build(&ctx, &["-t", "remote"]).ok();
    let image = env.image("remote");
    let file = image.file("/dst/hello.txt");
    assert_eq!(file.text(), "hello over http\n");
    assert_eq!(file.mode & 0o7777, 0o600);
    assert_eq!((file.uid, file.gid), (0, 0));
    assert_eq!(file.mtime, 1_704_067_200, "mtime from Last-Modified");
    assert_eq!(image.file("/renamed.txt").text(), "hello over http\n");
    let owned = image.file("/opts/hello.txt");
    assert_eq!(owned.mode & 0o7777, 0o644);
    assert_eq!((owned.uid, owned.gid), (1, 2));
    // A fetched archive stays an archive unless --unpack=true.
    let packed = image.file("/packed/app.tar.gz");
    assert_eq!(packed.kind, 'f');
    assert_eq!(packed.data, tar_gz());
    assert_eq!(image.file("/unpacked/inner.txt").text(), "inner\n");
    assert_eq!(image.file("/index/__unnamed__").text(), "root\n");
    // Regression: without Last-Modified the file got the base image's
    // time; BuildKit's HTTP source dates it at the epoch.
    assert_eq!(image.file("/index/__unnamed__").mtime, 0);
    assert_eq!(image.file("/w/rel/hello.txt").text(), "hello over http\n");
    env.assert_store_clean();
}

#[test]
fn add_url_cache_follows_the_fetched_content() {
    let server = Server::start();
    server.put("/v.txt", b"one\n", None);
    let env = Env::new();
    let dockerfile = format!(
        "FROM busybox\nADD {} /v.txt\nRUN cat /v.txt > /copy\n",
        server.url("/v.txt")
    );
    let ctx = dockerfile_context(&env, "ctx", &dockerfile, &[]);
    assert_eq!(env.build(&ctx, &["-t", "v"]).ok().ran().len(), 2);
    // Unchanged content: every step hits.
    assert_eq!(
        env.build(&ctx, &["-t", "v"]).ok().ran(),
        Vec::<String>::new()
    );
    // Changed content: the ADD and what follows run again.
    server.put("/v.txt", b"two\n", None);
    assert_eq!(env.build(&ctx, &["-t", "v"]).ok().ran().len(), 2);
    assert_eq!(env.image("v").file("/copy").text(), "two\n");
    // Back to the first content: the first result is reused.
    server.put("/v.txt", b"one\n", None);
    assert_eq!(
        env.build(&ctx, &["-t", "v"]).ok().ran(),
        Vec::<String>::new()
    );
    assert_eq!(env.image("v").file("/copy").text(), "one\n");
    // A missing file is an error naming the URL and the status.
    let missing = server.url("/gone.txt");
    let ctx = dockerfile_context(
        &env,
        "ctx2",
        &format!("FROM busybox\nADD {missing} /\n"),
        &[],
    );
    let b = env.build(&ctx, &[]).failed();
    assert!(b.stderr.contains(&missing), "{}", b.stderr);
    assert!(b.stderr.contains("404"), "{}", b.stderr);
    env.assert_store_clean();
}

#[test]
fn add_url_unchanged_remote_file_is_revalidated_not_downloaded_again() {
    let server = Server::start();
    server.put_tagged("/e.txt", b"etag one\n", None, Some("\"v1\""));
    let lm = "Mon, 01 Jan 2024 00:00:00 GMT";
    server.put("/m.txt", b"dated\n", Some(lm));
    server.put("/plain.txt", b"no validators\n", None);
    let env = Env::new();
    let dockerfile = format!(
        "FROM busybox\nADD {} /e.txt\nADD {} /m.txt\nADD {} /plain.txt\nRUN cat /e.txt /m.txt > /both\n",
        server.url("/e.txt"),
        server.url("/m.txt"),
        server.url("/plain.txt"),
    );
    let ctx = dockerfile_context(&env, "ctx", &dockerfile, &[]);
    assert_eq!(env.build(&ctx, &["-t", "r"]).ok().ran().len(), 4);
    assert_eq!(server.bodies(), 3);
    // The next build asks again, gets 304 for the files with validators and
    // downloads only the one without: every step hits.
    let before = server.requests();
    let b = env.build(&ctx, &["-t", "r"]).ok();
    assert_eq!(b.ran(), Vec::<String>::new());
    assert_eq!(server.requests() - before, 3, "each URL is still asked");
    assert_eq!(server.bodies(), 4, "only /plain.txt was sent again");
    let image = env.image("r");
    assert_eq!(image.file("/m.txt").mtime, 1_704_067_200);
    assert_eq!(image.file("/both").text(), "etag one\ndated\n");
    // A new ETag: downloaded, and the step and all after it rerun.
    server.put_tagged("/e.txt", b"etag two\n", None, Some("\"v2\""));
    let b = env.build(&ctx, &["-t", "r"]).ok();
    assert_eq!(b.ran().len(), 4, "{}", b.stderr);
    assert_eq!(env.image("r").file("/both").text(), "etag two\ndated\n");
    // A record whose bytes were pruned is not trusted: a full download.
    run_ok(env.strata().args(["cache", "prune", "--all"]));
    let sent = server.bodies();
    env.build(&ctx, &["-t", "r"]).ok();
    assert_eq!(server.bodies() - sent, 3);
    env.assert_store_clean();
}

#[test]
fn add_url_checksum_is_verified_and_keys_the_step() {
    let server = Server::start();
    let body = b"checked content\n";
    server.put("/c.txt", body, None);
    let env = Env::new();
    let url = server.url("/c.txt");
    let wrong = sha256(b"something else");
    let ctx = dockerfile_context(
        &env,
        "bad",
        &format!("FROM busybox\nADD --checksum={wrong} {url} /c.txt\n"),
        &[],
    );
    let b = env.build(&ctx, &[]).failed();
    assert!(b.stderr.contains(&url), "{}", b.stderr);
    assert!(
        b.stderr.contains(&wrong),
        "expected digest named: {}",
        b.stderr
    );
    assert!(
        b.stderr.contains(&sha256(body)),
        "actual digest named: {}",
        b.stderr
    );
    assert!(b.stderr.contains("checksum mismatch"), "{}", b.stderr);

    let good = sha256(body);
    let ctx = dockerfile_context(
        &env,
        "good",
        &format!("FROM busybox\nADD --checksum={good} {url} /c.txt\n"),
        &[],
    );
    env.build(&ctx, &["-t", "c"]).ok();
    assert_eq!(env.image("c").file("/c.txt").text(), "checked content\n");
    // The checksum is the key: a rebuild hits without asking the server.
    let before = server.requests();
    assert_eq!(
        env.build(&ctx, &["-t", "c"]).ok().ran(),
        Vec::<String>::new()
    );
    assert_eq!(server.requests(), before);

    // sha512 works too.
    let sha512 = {
        use sha2::Digest;
        format!("sha512:{}", hex::encode(sha2::Sha512::digest(body)))
    };
    let ctx = dockerfile_context(
        &env,
        "sha512",
        &format!("FROM busybox\nADD --checksum={sha512} {url} /c.txt\n"),
        &[],
    );
    env.build(&ctx, &[]).ok();
}

/// Processes (not zombies) whose command line holds `needle`.
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(cmdline);
        }
    }
    found
}

#[test]
fn git_daemon_helper_leaks_no_forked_daemon() {
    if !have_tool("git") {
        return;
    }
    let env = Env::new();
    let base = env.path("git");
    make_repo(&base);
    let daemon = GitDaemon::start(&base);
    let needle = format!("--port={}", daemon.port);
    // A clone makes the daemon fork a child for the connection.
    run_ok(
        Command::new("git")
            .args(["clone", "-q", &daemon.url("repo")])
            .arg(env.path("clone")),
    );
    assert!(
        !processes_with(&needle).is_empty(),
        "the daemon runs while the helper lives"
    );
    drop(daemon);
    assert_eq!(processes_with(&needle), Vec::<String>::new());
}

/// A repository with a tag `v1` (annotated) and a later commit on `main`.
fn make_repo(base: &Path) -> PathBuf {
    let repo = base.join("repo");
    common::write(&repo.join("a.txt"), "a at v1\n");
    common::write(&repo.join("docs/guide.md"), "guide at v1\n");
    common::write(&repo.join("script.sh"), "#!/bin/sh\necho hi\n");
    common::chmod(&repo.join("script.sh"), 0o755);
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "one"]);
    git(&repo, &["tag", "-a", "v1", "-m", "v1"]);
    common::write(&repo.join("a.txt"), "a at main\n");
    common::write(&repo.join("docs/guide.md"), "guide at main\n");
    git(&repo, &["commit", "-q", "-am", "two"]);
    repo
}

#[test]
fn add_git_checks_out_the_ref_and_is_keyed_by_its_commit() {
    if !have_tool("git") {
        return;
    }
    let env = Env::new();
    let base = env.path("git");
    let repo = make_repo(&base);
    let daemon = GitDaemon::start(&base);
    let url = daemon.url("repo");
    let dockerfile = format!(
        "FROM busybox\n\
         ADD {url}#v1:docs /docs\n\
         ADD {url} /src\n\
         ADD --keep-git-dir=true {url}#main /kept/\n\
         RUN cat /src/a.txt > /a.copy\n"
    );
    let ctx = dockerfile_context(&env, "ctx", &dockerfile, &[]);
    assert_eq!(env.build(&ctx, &["-t", "g"]).ok().ran().len(), 4);
    let image = env.image("g");
    let files = image.files();
    assert_eq!(image.file("/docs/guide.md").text(), "guide at v1\n");
    assert!(!files.contains_key("docs/a.txt"), "only the subdirectory");
    let a = image.file("/src/a.txt");
    assert_eq!(a.text(), "a at main\n");
    assert_eq!((a.uid, a.gid), (0, 0));
    assert_eq!(a.mtime, 1_704_067_200, "the commit's time");
    assert_eq!(image.file("/src/script.sh").mode & 0o111, 0o111);
    assert!(
        !files.contains_key("src/.git"),
        "no .git without --keep-git-dir"
    );
    assert_eq!(image.file("/kept/.git").kind, 'd');
    assert_eq!(image.file("/a.copy").text(), "a at main\n");

    // Nothing moved: every step hits.
    assert_eq!(
        env.build(&ctx, &["-t", "g"]).ok().ran(),
        Vec::<String>::new()
    );
    // main moves: the steps on main rerun, the tag's does not.
    common::write(&repo.join("a.txt"), "a moved\n");
    git(&repo, &["commit", "-q", "-am", "three"]);
    let b = env.build(&ctx, &["-t", "g"]).ok();
    assert_eq!(b.ran().len(), 3, "{}", b.stderr);
    assert_eq!(env.image("g").file("/a.copy").text(), "a moved\n");

    // --checksum names the commit the ref must resolve to.
    let wrong = "0".repeat(40);
    let ctx = dockerfile_context(
        &env,
        "sum",
        &format!("FROM busybox\nADD --checksum={wrong} {url}#v1 /x\n"),
        &[],
    );
    let b = env.build(&ctx, &[]).failed();
    assert!(b.stderr.contains("checksum mismatch"), "{}", b.stderr);
    assert!(b.stderr.contains(&wrong), "{}", b.stderr);
    // A missing ref is named.
    let ctx = dockerfile_context(
        &env,
        "nor",
        &format!("FROM busybox\nADD {url}#no-such-ref /x\n"),
        &[],
    );
    let b = env.build(&ctx, &[]).failed();
    assert!(b.stderr.contains("no-such-ref"), "{}", b.stderr);
    env.assert_store_clean();
}

#[test]
fn add_git_query_parameters_as_buildkit() {
    if !have_tool("git") {
        return;
    }
    let env = Env::new();
    let base = env.path("git");
    let repo = make_repo(&base);
    let v1 = git(&repo, &["rev-parse", "v1^{commit}"]).trim().to_string();
    let daemon = GitDaemon::start(&base);
    let url = daemon.url("repo");
    let dockerfile = format!(
        "FROM busybox\n\
         ADD {url}?tag=v1&subdir=docs /tag/\n\
         ADD {url}?branch=main /branch/\n\
         ADD {url}?ref=refs/tags/v1&keep-git-dir /kept/\n\
         ADD {url}?checksum={v1}&subdir=docs /pinned/\n"
    );
    let ctx = dockerfile_context(&env, "ctx", &dockerfile, &[]);
    env.build(&ctx, &["-t", "q"]).ok();
    let image = env.image("q");
    assert_eq!(image.file("/tag/guide.md").text(), "guide at v1\n");
    assert!(!image.files().contains_key("tag/a.txt"), "only the subdir");
    assert_eq!(image.file("/branch/a.txt").text(), "a at main\n");
    assert!(!image.files().contains_key("branch/.git"));
    // An annotated tag named as a full ref resolves to its commit.
    assert_eq!(image.file("/kept/a.txt").text(), "a at v1\n");
    assert_eq!(image.file("/kept/.git").kind, 'd');
    assert_eq!(image.file("/pinned/guide.md").text(), "guide at v1\n");

    let zeros = "0".repeat(40);
    for (src, says) in [
        (
            format!("{url}?tag=v1&branch=main"),
            "branch conflicts with tag",
        ),
        (format!("{url}?depth=1"), "unexpected query \"depth\""),
        // A checksum alone is the commit to fetch: there is none such.
        (format!("{url}?checksum={zeros}"), zeros.as_str()),
        (
            format!("{url}?tag=v1&checksum={zeros}"),
            "checksum mismatch",
        ),
    ] {
        let ctx = dockerfile_context(&env, "bad", &format!("FROM busybox\nADD {src} /x\n"), &[]);
        let b = env.build(&ctx, &[]).failed();
        assert!(b.stderr.contains(says), "{src}: {}", b.stderr);
    }
    // The flag and the query must agree.
    let ctx = dockerfile_context(
        &env,
        "both",
        &format!("FROM busybox\nADD --keep-git-dir=true {url}?keep-git-dir=false /x\n"),
        &[],
    );
    let b = env.build(&ctx, &[]).failed();
    assert!(
        b.stderr.contains("inconsistent keep-git-dir"),
        "{}",
        b.stderr
    );
    env.assert_store_clean();
}

/// A bare repository under `base` made from [`make_repo`]'s, for sshd.
fn bare_repo(base: &Path) -> PathBuf {
    let repo = make_repo(base);
    let bare = base.join("repo.git");
    run_ok(
        Command::new("git")
            .args(["clone", "-q", "--bare"])
            .arg(&repo)
            .arg(&bare),
    );
    bare
}

#[test]
fn add_git_over_ssh_uses_the_default_agent_and_pins_the_host_key() {
    let env = Env::new();
    let Some((agent, sshd)) = common::ssh::agent_and_sshd(&env) else {
        return;
    };
    let bare = bare_repo(&env.path("git"));
    let url = sshd.url(&bare);
    let dockerfile = format!(
        "FROM busybox\n\
         ADD {url}#v1:docs /docs\n\
         ADD {url}?branch=main /src\n\
         RUN cat /src/a.txt > /a.copy\n"
    );
    let ctx = dockerfile_context(&env, "ctx", &dockerfile, &[]);
    let ssh = format!("default={}", agent.socket.display());
    // No ~/.ssh of the test runner's is read.
    let home = env.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let with_home = |c: &mut Command| {
        c.env("HOME", &home);
    };
    env.build_with(&ctx, &["-t", "s", "--ssh", &ssh], with_home)
        .ok();
    let image = env.image("s");
    assert_eq!(image.file("/docs/guide.md").text(), "guide at v1\n");
    assert_eq!(image.file("/src/a.txt").text(), "a at main\n");
    assert_eq!(image.file("/a.copy").text(), "a at main\n");
    // The refs are resolved over ssh again, nothing moved: all hit.
    let b = env
        .build_with(&ctx, &["-t", "s", "--ssh", &ssh], with_home)
        .ok();
    assert_eq!(b.ran(), Vec::<String>::new());

    // Without an agent the build says how to give one.
    let b = env.build_with(&ctx, &[], with_home).failed();
    assert!(b.stderr.contains("--ssh default"), "{}", b.stderr);

    // A host known with another key is refused.
    let other = env.path("other_host_key");
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&other),
    );
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let other_key: Vec<&str> = other_pub.split_whitespace().take(2).collect();
    let known = format!("[127.0.0.1]:{} {}\n", sshd.port, other_key.join(" "));
    common::write(&home.join(".ssh/known_hosts"), &known);
    let b = env
        .build_with(&ctx, &["--ssh", &ssh, "--no-cache"], with_home)
        .failed();
    assert!(
        b.stderr.contains("Host key verification failed")
            || b.stderr.contains("HOST IDENTIFICATION HAS CHANGED"),
        "{}",
        b.stderr
    );
    // Known with its own key: fine.
    let known = format!("[127.0.0.1]:{} {}\n", sshd.port, sshd.host_key);
    common::write(&home.join(".ssh/known_hosts"), &known);
    env.build_with(&ctx, &["--ssh", &ssh, "--no-cache"], with_home)
        .ok();
    env.assert_store_clean();
}
