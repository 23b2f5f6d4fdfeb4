//! The copying snapshotter (`--snapshotter=copy`, for stores where overlayfs
//! cannot be mounted) gives the same images as the overlay one: the same
//! change makes the same layer.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, dockerfile_context};

const DOCKERFILE: &str = "FROM busybox
COPY app/ /app/
RUN rm /etc/group && echo hi > /etc/new && mkdir -p /var/x && echo y > /var/x/f && chmod 600 /app/a.txt
RUN rm -rf /var/x && ln /app/a.txt /app/hard && echo more >> /app/b.txt
WORKDIR /w
";

/// Builds DOCKERFILE in a fresh store with `args`, with file times clamped
/// (SOURCE_DATE_EPOCH) so that two builds of the same change compare equal.
fn build(env: &Env, args: &[&str]) -> common::Build {
    let ctx = dockerfile_context(
        env,
        "ctx",
        DOCKERFILE,
        &[("app/a.txt", "a\n"), ("app/b.txt", "b\n")],
    );
    let mut all = vec!["-t", "snap"];
    all.extend_from_slice(args);
    env.build_with(&ctx, &all, |cmd| {
        cmd.env("SOURCE_DATE_EPOCH", "0");
    })
    .ok()
}

#[test]
fn copy_snapshotter_builds_the_same_image_as_overlay() {
    let overlay_env = Env::new();
    let overlay = build(&overlay_env, &["--snapshotter=overlay"]);
    let copy_env = Env::new();
    let copy = build(&copy_env, &["--snapshotter=copy"]);
    let image = copy_env.image("snap");
    assert!(!image.files().contains_key("etc/group"), "deleted");
    assert_eq!(image.file("/etc/new").text(), "hi\n");
    assert!(!image.files().contains_key("var/x"), "deleted again");
    assert_eq!(image.file("/app/a.txt").mode & 0o777, 0o600);
    assert_eq!(image.file("/app/b.txt").text(), "b\nmore\n");
    assert_eq!(image.file("/w").kind, 'd');
    // Layer by layer, the same bytes: the same image.
    assert_eq!(
        image.manifest["layers"],
        overlay_env.image("snap").manifest["layers"]
    );
    assert_eq!(copy.manifest_digest(), overlay.manifest_digest());
    copy_env.assert_store_clean();
    // And the copy build really ran on a plain directory, not an overlay.
    assert_eq!(root_fs_type(&copy_env, "copy"), "ext4-or-other");
    assert_eq!(root_fs_type(&overlay_env, "overlay"), "overlay");
}

/// The file system type of `/` as a RUN sees it, with `--snapshotter=MODE`
/// (`ext4-or-other` for anything but overlay).
fn root_fs_type(env: &Env, mode: &str) -> String {
    let ctx = dockerfile_context(
        env,
        &format!("fstype-{mode}"),
        r#"FROM busybox
RUN sed -n "s/^[^ ]* [^ ]* [^ ]* [^ ]* \/ .* - \([^ ]*\) .*/\1/p" /proc/self/mountinfo > /fstype
"#,
        &[],
    );
    env.build(&ctx, &["-t", "fstype", &format!("--snapshotter={mode}")])
        .ok();
    let found = env.image("fstype").file("/fstype").text();
    match found.trim() {
        "overlay" => "overlay".to_string(),
        "" => panic!("no root mount found"),
        _ => "ext4-or-other".to_string(),
    }
}

#[test]
fn copy_snapshotter_with_runc_builds_the_same_image() {
    let Some(env) = Env::with_runtime("runc") else {
        return;
    };
    let copy = build(&env, &["--snapshotter=copy"]);
    let overlay = build(&Env::new(), &["--snapshotter=overlay"]);
    assert_eq!(copy.manifest_digest(), overlay.manifest_digest());
}
