//! RUN --mount: cache (kept across builds), secret (never in a layer),
//! bind (from the context and from a stage), tmpfs.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, dockerfile_context, write};

crate::for_each_executor!(
    cache_mount_persists_across_builds_and_stays_out_of_the_image,
    secret_is_visible_in_run_and_absent_from_every_layer,
    bind_mounts_from_the_context_and_from_a_stage,
    tmpfs_mount_is_a_tmpfs_and_leaves_nothing,
);

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `dir`, recursively (not following symlinks).
fn all_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => out.extend(all_files(&path)),
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
    out
}

fn cache_mount_persists_across_builds_and_stays_out_of_the_image(env: Env) {
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox
RUN --mount=type=cache,target=/var/cache/app echo run >> /var/cache/app/log && wc -l < /var/cache/app/log > /count
",
        &[],
    );
    env.build(&ctx, &["-t", "c"]).ok();
    assert_eq!(env.image("c").file("/count").text().trim(), "1");
    env.build(&ctx, &["-t", "c", "--no-cache"]).ok();
    let image = env.image("c");
    assert_eq!(image.file("/count").text().trim(), "2");
    let files = image.files();
    assert!(
        !files.contains_key("var/cache/app/log"),
        "the cache's content is not in the image"
    );
    // Another id is another cache.
    write(
        &ctx.join("Dockerfile"),
        "FROM busybox
RUN --mount=type=cache,id=other,target=/var/cache/app echo run >> /var/cache/app/log && wc -l < /var/cache/app/log > /count
",
    );
    env.build(&ctx, &["-t", "c"]).ok();
    assert_eq!(env.image("c").file("/count").text().trim(), "1");
}

fn secret_is_visible_in_run_and_absent_from_every_layer(env: Env) {
    const SECRET: &str = "s3cr3t-Value-93871";
    let secret_file = env.path("token.txt");
    write(&secret_file, SECRET);
    // The Dockerfile names only the secret's digest: the value itself must
    // come from --secret alone.
    let sum = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(SECRET.as_bytes()));
    let check = |file: &str| format!("test \"$(sha256sum < {file} | cut -d' ' -f1)\" = {sum}");
    let dockerfile = format!(
        "FROM busybox
RUN --mount=type=secret,id=tok {} && echo file-ok > /secret-file-ok
RUN --mount=type=secret,id=tok,env=TOK printf %s \"$TOK\" > /tmp/t && {} && rm /tmp/t && echo env-ok > /secret-env-ok
RUN --mount=type=secret,id=tok,target=/etc/app/token cat /etc/app/token | wc -c > /secret-len
",
        check("/run/secrets/tok"),
        check("/tmp/t"),
    );
    let ctx = dockerfile_context(&env, "ctx", &dockerfile, &[]);
    let secret_arg = format!("id=tok,src={}", secret_file.display());
    let b = env
        .build(&ctx, &["-t", "sec", "--secret", &secret_arg])
        .ok();
    let image = env.image("sec");
    assert_eq!(image.file("/secret-file-ok").text(), "file-ok\n");
    assert_eq!(image.file("/secret-env-ok").text(), "env-ok\n");
    assert_eq!(
        image.file("/secret-len").text().trim(),
        SECRET.len().to_string()
    );
    let files = image.files();
    assert!(!files.contains_key("run/secrets/tok"));
    assert!(!files.contains_key("etc/app/token"));
    // Not in any layer, compressed or not, nor the config, the metadata
    // or anything else in the store.
    for tar in image.layer_tars() {
        assert!(
            !contains(&tar, SECRET.as_bytes()),
            "a layer holds the secret"
        );
    }
    for path in all_files(&env.root) {
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(
            !contains(&bytes, SECRET.as_bytes()),
            "{} holds the secret",
            path.display()
        );
    }
    assert!(!b.metadata.to_string().contains(SECRET));

    // A missing required secret fails and names it.
    write(
        &ctx.join("Dockerfile"),
        "FROM busybox\nRUN --mount=type=secret,id=missing,required=true true\n",
    );
    let failed = env.build(&ctx, &[]).failed();
    assert!(failed.stderr.contains("missing"), "{}", failed.stderr);
}

fn bind_mounts_from_the_context_and_from_a_stage(env: Env) {
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox AS tools
RUN mkdir -p /out && echo from-stage > /out/tool.txt

FROM busybox
RUN --mount=type=bind,source=data,target=/mnt/data cat /mnt/data/f.txt > /bound.txt && ! touch /mnt/data/new 2>/dev/null && echo ro > /readonly.txt
RUN --mount=type=bind,from=tools,source=/out,target=/tools cat /tools/tool.txt > /from-stage.txt
RUN --mount=target=/ctx ls /ctx | sort > /ctx-list.txt
RUN --mount=type=bind,source=data,target=/rw,rw echo scribble > /rw/f.txt && cat /rw/f.txt > /rw.txt
",
        &[("data/f.txt", "bound content\n"), (".dockerignore", "ignored.txt\n"), ("ignored.txt", "no\n")],
    );
    env.build(&ctx, &["-t", "bind"]).ok();
    let image = env.image("bind");
    assert_eq!(image.file("/bound.txt").text(), "bound content\n");
    assert_eq!(image.file("/readonly.txt").text(), "ro\n");
    assert_eq!(image.file("/from-stage.txt").text(), "from-stage\n");
    // The whole context, without what .dockerignore excludes.
    assert_eq!(image.file("/ctx-list.txt").text(), "Dockerfile\ndata\n");
    assert_eq!(image.file("/rw.txt").text(), "scribble\n");
    // rw writes never reach the context.
    assert_eq!(
        std::fs::read_to_string(ctx.join("data/f.txt")).expect("f.txt"),
        "bound content\n"
    );
    let files = image.files();
    assert!(!files.contains_key("mnt/data/f.txt"));
    assert!(!files.contains_key("tools/tool.txt"));
    assert!(!files.contains_key("rw/f.txt"));

    // The bound content is part of the key.
    let again = env.build(&ctx, &["-t", "bind"]).ok();
    assert_eq!(again.ran(), Vec::<String>::new());
    write(&ctx.join("data/f.txt"), "new content\n");
    let changed = env.build(&ctx, &["-t", "bind"]).ok();
    assert!(
        changed
            .ran()
            .iter()
            .any(|s| s.starts_with("RUN --mount=type=bind,source=data,target=/mnt/data")),
        "{:?}",
        changed.statuses()
    );
    assert_eq!(env.image("bind").file("/bound.txt").text(), "new content\n");
}

fn tmpfs_mount_is_a_tmpfs_and_leaves_nothing(env: Env) {
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox
RUN --mount=type=tmpfs,target=/scratch echo x > /scratch/f && grep ' /scratch tmpfs ' /proc/mounts > /tmpfs-line.txt
",
        &[],
    );
    env.build(&ctx, &["-t", "tmpfs"]).ok();
    let image = env.image("tmpfs");
    assert!(
        image
            .file("/tmpfs-line.txt")
            .text()
            .contains(" /scratch tmpfs ")
    );
    assert!(!image.files().contains_key("scratch/f"));
}
