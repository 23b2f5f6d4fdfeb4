//! `RUN --mount=type=ssh` with `strata build --ssh`: the step reaches the
//! host's SSH agent through a socket of its own (owned by the mount's uid),
//! `SSH_AUTH_SOCK` points at it, nothing of it stays in the image, and a
//! required agent that was not given fails clearly.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, dockerfile_context, have_tool, run_ok};
use std::path::Path;
use std::process::Command;

/// `ssh-add` and the libraries it links, laid out as a root to COPY in.
fn ssh_add_tree(dir: &Path) {
    let ssh_add = run_ok(Command::new("sh").args(["-c", "command -v ssh-add"]));
    let ssh_add = ssh_add.trim();
    let mut files = vec![ssh_add.to_string()];
    let ldd = run_ok(Command::new("ldd").arg(ssh_add));
    for line in ldd.lines() {
        let path = line.split_whitespace().find(|w| w.starts_with('/'));
        if let Some(p) = path {
            files.push(p.to_string());
        }
    }
    for file in files {
        let to = dir.join(file.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&file, &to).unwrap();
    }
}

#[test]
fn ssh_mount_reaches_the_hosts_agent_as_a_non_root_user() {
    if !have_tool("ssh-agent") || !have_tool("ssh-keygen") {
        return;
    }
    let env = Env::new();
    let agent = common::ssh::agent_with_a_key(&env);
    let fingerprint = &agent.fingerprint;
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox
COPY tools/ /
USER app
RUN --mount=type=ssh,uid=1000 ssh-add -l > /tmp/keys.txt && echo \"$SSH_AUTH_SOCK\" > /tmp/sock.txt
RUN --mount=type=ssh,id=absent ls /run/buildkit > /tmp/absent.txt 2>&1 || echo none > /tmp/absent.txt
",
        &[],
    );
    ssh_add_tree(&ctx.join("tools"));
    let spec = format!("default={}", agent.socket.display());
    env.build(&ctx, &["-t", "ssh", "--ssh", &spec]).ok();
    let image = env.image("ssh");
    let keys = image.file("tmp/keys.txt").text();
    assert!(keys.contains(fingerprint.as_str()), "{keys}");
    assert!(keys.contains("strata-test"), "{keys}");
    assert_eq!(
        image.file("tmp/sock.txt").text(),
        "/run/buildkit/ssh_agent.0\n"
    );
    // An optional agent that was not given is simply not there.
    assert_eq!(image.file("tmp/absent.txt").text(), "none\n");
    let files = image.files();
    assert!(
        !files.keys().any(|k| k.starts_with("run/buildkit")),
        "{:?}",
        files.keys()
    );
}

#[test]
fn a_required_ssh_agent_that_was_not_given_fails_clearly() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\nRUN --mount=type=ssh,id=deploy,required=true true\n",
        &[],
    );
    let b = env.build(&ctx, &[]).failed();
    assert!(b.stderr.contains("no SSH agent \"deploy\""), "{}", b.stderr);
    assert!(b.stderr.contains("--ssh deploy=SOCKET"), "{}", b.stderr);

    // A key file instead of a socket is refused with a way out.
    let key = env.path("key");
    common::write(&key, "not a socket");
    let spec = format!("deploy={}", key.display());
    let b = env.build(&ctx, &["--ssh", &spec]).failed();
    assert!(
        b.stderr.contains("private key files are not supported"),
        "{}",
        b.stderr
    );
}
