//! Multi-stage builds: COPY --from, --target, unused stages not built,
//! and a rebuilt stage with the same output letting later steps hit.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, dockerfile_context, write};

const DOCKERFILE: &str = "\
FROM busybox AS base
RUN echo base > /base.txt

FROM base AS builder
COPY src.txt /src/
RUN cat /src/src.txt | tr a-z A-Z > /artifact && echo 'built' > /log.txt

FROM busybox AS unused
RUN echo never > /never && exit 1

FROM busybox AS final
COPY --from=builder /artifact /app/artifact
COPY --from=base /base.txt /app/
COPY --from=0 /base.txt /app/zero.txt
CMD [\"cat\", \"/app/artifact\"]
";

#[test]
fn copy_from_stages_and_unused_stages_are_skipped() {
    let env = Env::new();
    let ctx = dockerfile_context(&env, "ctx", DOCKERFILE, &[("src.txt", "hello\n")]);
    let b = env.build(&ctx, &["-t", "ms"]).ok();
    let image = env.image("ms");
    assert_eq!(image.file("/app/artifact").text(), "HELLO\n");
    assert_eq!(image.file("/app/base.txt").text(), "base\n");
    assert_eq!(image.file("/app/zero.txt").text(), "base\n");
    let files = image.files();
    assert!(
        !files.contains_key("base.txt"),
        "the final stage starts from busybox"
    );
    assert!(!files.contains_key("log.txt"));
    // The unused stage (which would fail) is not built.
    assert!(
        !b.statuses().iter().any(|(i, _)| i.contains("never")),
        "{:?}",
        b.statuses()
    );
    // Stage names in the metadata.
    let names: Vec<String> = b
        .steps()
        .iter()
        .map(|s| s["stageName"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(names.contains(&"builder".to_string()), "{names:?}");
    assert!(names.contains(&"final".to_string()), "{names:?}");
}

#[test]
fn target_builds_an_intermediate_stage() {
    let env = Env::new();
    let ctx = dockerfile_context(&env, "ctx", DOCKERFILE, &[("src.txt", "hello\n")]);
    let b = env
        .build(&ctx, &["-t", "builder", "--target", "builder"])
        .ok();
    let image = env.image("builder");
    let files = image.files();
    assert_eq!(files["artifact"].text(), "HELLO\n");
    assert_eq!(files["base.txt"].text(), "base\n");
    assert!(!files.contains_key("app/artifact"));
    assert!(
        !b.statuses()
            .iter()
            .any(|(i, _)| i.starts_with("COPY --from")),
        "the final stage is not built: {:?}",
        b.statuses()
    );
    let unknown = env.build(&ctx, &["--target", "nope"]).failed();
    assert!(unknown.stderr.contains("nope"), "{}", unknown.stderr);
}

#[test]
fn a_stage_rebuilt_with_the_same_output_lets_copy_from_hit() {
    let env = Env::new();
    let ctx = dockerfile_context(&env, "ctx", DOCKERFILE, &[("src.txt", "hello\n")]);
    env.build(&ctx, &["-t", "ms"]).ok();
    // Same letters, other case: the builder reruns, its artifact is the same.
    write(&ctx.join("src.txt"), "HELLO\n");
    let b = env.build(&ctx, &["-t", "ms"]).ok();
    assert!(
        b.ran()
            .iter()
            .any(|s| s.starts_with("RUN cat /src/src.txt")),
        "{:?}",
        b.statuses()
    );
    assert!(
        b.cached()
            .contains(&"COPY --from=builder /artifact /app/artifact".to_string()),
        "early cut-off: {:?}",
        b.statuses()
    );
}

#[test]
fn onbuild_triggers_run_when_the_image_is_a_base() {
    let env = Env::new();
    let parent = dockerfile_context(
        &env,
        "parent",
        "FROM busybox\nONBUILD COPY trigger.txt /trigger.txt\nONBUILD RUN cat /trigger.txt > /ran.txt\n",
        &[],
    );
    env.build(&parent, &["-t", "parent"]).ok();
    let onbuild = env.image("parent").runtime_config()["OnBuild"].clone();
    assert_eq!(
        onbuild,
        serde_json::json!([
            "COPY trigger.txt /trigger.txt",
            "RUN cat /trigger.txt > /ran.txt"
        ])
    );
    let child = dockerfile_context(
        &env,
        "child",
        "FROM parent\nRUN echo child > /child.txt\n",
        &[("trigger.txt", "from the child's context\n")],
    );
    env.build(&child, &["-t", "child"]).ok();
    let image = env.image("child");
    assert_eq!(image.file("/ran.txt").text(), "from the child's context\n");
    assert_eq!(image.file("/child.txt").text(), "child\n");
    // Triggers run once: the child's config does not carry them.
    assert!(
        image.runtime_config()["OnBuild"].is_null(),
        "{:#}",
        image.runtime_config()
    );
}

/// BuildKit runs a stage's ONBUILD instructions in each stage built on it
/// (`FROM base AS child`), once: they are not in the child's config and a
/// stage built on the child does not run them again.
#[test]
fn onbuild_of_a_stage_runs_in_stages_built_on_it() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "\
FROM busybox AS base
ONBUILD COPY trigger.txt /trigger.txt
ONBUILD RUN cat /trigger.txt >> /ran.txt
RUN echo base > /base.txt

FROM base AS child
RUN echo child > /child.txt

FROM child AS grandchild
RUN echo grandchild > /grandchild.txt
",
        &[("trigger.txt", "triggered\n")],
    );
    env.build(&ctx, &["-t", "base", "--target", "base"]).ok();
    let base = env.image("base");
    assert!(!base.files().contains_key("ran.txt"));
    assert_eq!(
        base.runtime_config()["OnBuild"],
        serde_json::json!([
            "COPY trigger.txt /trigger.txt",
            "RUN cat /trigger.txt >> /ran.txt"
        ])
    );
    env.build(&ctx, &["-t", "child", "--target", "child"]).ok();
    let child = env.image("child");
    assert_eq!(child.file("/ran.txt").text(), "triggered\n");
    assert_eq!(child.file("/child.txt").text(), "child\n");
    assert!(
        child.runtime_config()["OnBuild"].is_null(),
        "{:#}",
        child.runtime_config()
    );
    env.build(&ctx, &["-t", "grandchild"]).ok();
    let grandchild = env.image("grandchild");
    assert_eq!(grandchild.file("/ran.txt").text(), "triggered\n");
    assert_eq!(grandchild.file("/grandchild.txt").text(), "grandchild\n");
    assert!(grandchild.runtime_config()["OnBuild"].is_null());
}
