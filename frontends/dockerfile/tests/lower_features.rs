//! Lowering features beyond the realistic goldens: build checks, platforms,
//! ADD's remote flags, healthchecks, mounts, and BuildKit's expansion order.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use strata_dockerfile::{LowerOptions, Platform, lower};
use strata_plan::{ConfigEdit, CopySource, HealthcheckTest, Mount, Plan, StepKind, Warning};

fn platform(arch: &str, variant: &str) -> Platform {
    Platform {
        os: "linux".into(),
        arch: arch.into(),
        variant: variant.into(),
    }
}

fn plan_with(source: &str, build_args: &[(&str, &str)]) -> Plan {
    let opts = LowerOptions {
        build_args: build_args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        build_platform: platform("amd64", ""),
        platform: platform("arm64", ""),
        ..Default::default()
    };
    match lower(source, &opts) {
        Ok(plan) => plan,
        Err(e) => panic!("{e}"),
    }
}

fn plan(source: &str) -> Plan {
    plan_with(source, &[])
}

fn rules(warnings: &[Warning]) -> Vec<&str> {
    warnings.iter().map(|w| w.rule.as_str()).collect()
}

const LINTY: &str = "FROM a as Build\nMAINTAINER me\nFROM build AS scratch\n";

#[test]
fn lint_rules_warn_by_default() {
    let p = plan(LINTY);
    assert_eq!(
        rules(&p.warnings),
        [
            "StageNameCasing",
            "FromAsCasing",
            "MaintainerDeprecated",
            "ReservedStageName"
        ]
    );
    assert_eq!(
        p.warnings[1].message,
        "'as' and 'FROM' keywords' casing do not match"
    );
}

#[test]
fn check_directive_skips_named_rules_and_all() {
    let p = plan(&format!(
        "# check=skip=StageNameCasing,FromAsCasing\n{LINTY}"
    ));
    assert_eq!(
        rules(&p.warnings),
        ["MaintainerDeprecated", "ReservedStageName"]
    );
    // skip=all keeps warnings that are not lint rules.
    let p = plan_with(&format!("# check=skip=all\n{LINTY}"), &[("UNUSED", "1")]);
    assert_eq!(rules(&p.warnings), ["UnusedBuildArg"]);
}

#[test]
fn check_error_true_fails_on_a_remaining_lint_warning_only() {
    let opts = LowerOptions::default();
    let e = lower(&format!("# check=error=true\n{LINTY}"), &opts).unwrap_err();
    assert_eq!(
        e.message,
        "lint violation found for rules: FromAsCasing, MaintainerDeprecated, ReservedStageName, StageNameCasing"
    );
    assert_eq!(e.location.line, 2);
    // Nothing left after skipping: no error. An unused build arg is not a lint.
    let p = plan_with(
        "# check=skip=MaintainerDeprecated;error=true\nFROM a\nMAINTAINER me\n",
        &[("UNUSED", "1")],
    );
    assert_eq!(rules(&p.warnings), ["UnusedBuildArg"]);
}

#[test]
fn check_build_arg_overrides_the_directive() {
    let p = plan_with(
        &format!("# check=error=true\n{LINTY}"),
        &[("BUILDKIT_DOCKERFILE_CHECK", "skip=all")],
    );
    // Consumed by the frontend, so not reported as unused.
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn from_platform_expands_build_and_target_platforms() {
    let p = plan(
        "FROM --platform=$BUILDPLATFORM golang AS build\n\
         ARG TARGETARCH\n\
         RUN echo $TARGETARCH\n\
         FROM --platform=${TARGETPLATFORM} alpine AS run\n\
         FROM --platform=linux/aarch64/v8 alpine\n\
         FROM --platform=$TARGETOS/arm alpine\n",
    );
    let platforms: Vec<_> = p.stages.iter().map(|s| s.platform.as_deref()).collect();
    assert_eq!(
        platforms,
        [
            Some("linux/amd64"),
            Some("linux/arm64"),
            Some("linux/arm64"),
            Some("linux/arm/v7")
        ]
    );
    let run = &p.stages[0].steps[0];
    assert_eq!(
        run.build_args.get("TARGETARCH").map(String::as_str),
        Some("arm64")
    );
}

#[test]
fn add_checksum_and_keep_git_dir_reach_the_plan() {
    let sum = format!("sha256:{}", "ab".repeat(32));
    let p = plan(&format!(
        "FROM a\nARG SUM={sum}\n\
         ADD --checksum=$SUM https://example.com/x.tar.gz /x/\n\
         ADD --keep-git-dir=true --checksum={commit} https://github.com/o/r.git#v1 /src\n\
         ADD --unpack=false a.tar.gz /y/\n",
        commit = "1".repeat(40)
    ));
    let copies: Vec<_> = p.stages[0]
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Copy(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(copies[0].checksum.as_deref(), Some(sum.as_str()));
    assert!(!copies[0].keep_git_dir && copies[0].add);
    assert!(copies[1].keep_git_dir);
    assert_eq!(copies[1].checksum, Some("1".repeat(40)));
    assert_eq!(copies[2].unpack, Some(false));
}

#[test]
fn healthcheck_durations_reach_the_plan() {
    let p = plan(
        "FROM a\nHEALTHCHECK --interval=1m30s --timeout=500ms --start-period=1.5s \
         --start-interval=2s --retries=4 CMD [\"curl\", \"-f\", \"http://localhost\"]\n\
         HEALTHCHECK CMD curl -f http://localhost || exit 1\n",
    );
    let checks: Vec<_> = p.stages[0]
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Config(ConfigEdit::Healthcheck(h)) => Some(h),
            _ => None,
        })
        .collect();
    assert_eq!(checks[0].interval_ns, 90_000_000_000);
    assert_eq!(checks[0].timeout_ns, 500_000_000);
    assert_eq!(checks[0].start_period_ns, 1_500_000_000);
    assert_eq!(checks[0].start_interval_ns, 2_000_000_000);
    assert_eq!(checks[0].retries, 4);
    assert_eq!(
        checks[0].test,
        HealthcheckTest::Exec(vec!["curl".into(), "-f".into(), "http://localhost".into()])
    );
    assert_eq!(
        checks[1].test,
        HealthcheckTest::Shell("curl -f http://localhost || exit 1".into())
    );
    assert_eq!((checks[1].interval_ns, checks[1].retries), (0, 0));
}

/// Docker expands every pair of an ENV line before setting any.
#[test]
fn env_pairs_on_one_line_see_the_previous_values() {
    let p = plan("FROM a\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n");
    let envs: Vec<_> = p.stages[0]
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Config(ConfigEdit::Env(pairs)) => Some(pairs.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(envs[1][1], ("def".into(), "hello".into()));
    assert_eq!(envs[2][0], ("ghi".into(), "bye".into()));
}

#[test]
fn mounts_get_buildkit_defaults() {
    let p = plan(
        "FROM a AS src\nFROM a\nWORKDIR /app\nARG UID=1000\n\
         RUN --mount=type=cache,uid=$UID --mount=type=secret,source=npmrc \
         --mount=type=ssh --mount=type=ssh,id=other --mount=from=src,source=/out,target=out make\n",
    );
    let StepKind::Run(run) = &p.stages[1].steps[1].kind else {
        panic!("{:?}", p.stages[1].steps);
    };
    let Mount::Cache(cache) = &run.mounts[0] else {
        panic!()
    };
    // No target: the working directory; the id stays empty as written.
    assert_eq!(
        (cache.target.as_str(), cache.uid, cache.mode),
        ("/app", 1000, 0o755)
    );
    let Mount::Secret(secret) = &run.mounts[1] else {
        panic!()
    };
    assert_eq!(
        (secret.id.as_str(), secret.target.as_str()),
        ("npmrc", "/run/secrets/npmrc")
    );
    let targets: Vec<&str> = run.mounts[2..4].iter().map(Mount::target).collect();
    assert_eq!(
        targets,
        ["/run/buildkit/ssh_agent.0", "/run/buildkit/ssh_agent.1"]
    );
    let Mount::Bind(bind) = &run.mounts[4] else {
        panic!()
    };
    assert_eq!(bind.from, CopySource::Stage(strata_plan::StageId(0)));
    assert_eq!(
        (bind.target.as_str(), bind.source.as_str()),
        ("/app/out", "/out")
    );
    assert!(!bind.read_write);
}

#[test]
fn named_contexts_replace_images_stages_and_from_values_as_buildkit() {
    use strata_dockerfile::lower::{NamedContexts, NamedSource};
    use strata_plan::ImageSource;
    let mut named = NamedContexts::new();
    named.insert("alpine", NamedSource::Image("busybox:1".into()));
    named.insert("base", NamedSource::Local);
    named.insert("docs", NamedSource::Local);
    let opts = LowerOptions {
        named_contexts: named,
        ..Default::default()
    };
    let source = "\
FROM alpine:latest AS base
RUN never
FROM docker.io/library/alpine
COPY --from=base /a /a
COPY --from=docs /b /b
RUN --mount=from=alpine,target=/m true
FROM alpine:3.19
";
    let plan = lower(source, &opts).unwrap();
    // The stage named like a context is the context; its RUN is dropped.
    assert_eq!(
        plan.stages[0].base,
        ImageSource::NamedContext("base".into())
    );
    assert!(plan.stages[0].steps.is_empty());
    // Every spelling of `alpine` (latest) is the context's image.
    assert_eq!(plan.stages[1].base, ImageSource::Image("busybox:1".into()));
    let froms: Vec<CopySource> = plan.stages[1]
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Copy(c) => Some(c.from.clone()),
            StepKind::Run(r) => r.mounts.iter().find_map(|m| match m {
                Mount::Bind(b) => Some(b.from.clone()),
                _ => None,
            }),
            _ => None,
        })
        .collect();
    assert_eq!(
        froms,
        vec![
            CopySource::Stage(strata_plan::StageId(0)),
            CopySource::NamedContext("docs".into()),
            CopySource::Image("busybox:1".into()),
        ]
    );
    // Another tag is another image.
    assert_eq!(
        plan.stages[2].base,
        ImageSource::Image("alpine:3.19".into())
    );
}

/// Regression: an ARG declared after an ENV of the same name did not
/// replace it (`LABEL l=$V` gave the ENV's value), where BuildKit adds the
/// ARG's value to the stage's environment and the latest wins: the ARG,
/// until an ENV sets the name again.
#[test]
fn an_arg_after_an_env_of_its_name_wins_until_the_next_env() {
    let p = plan_with(
        "FROM a\nENV V=env\nARG V=arg\nLABEL l1=$V\nRUN echo\nENV V=env2\nLABEL l2=$V\nRUN echo\n",
        &[],
    );
    let steps = &p.stages[0].steps;
    let label = |i: usize| match &steps[i].kind {
        StepKind::Config(ConfigEdit::Label(pairs)) => pairs[0].1.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(label(1), "arg");
    assert!(steps[2].env_over_args.is_empty(), "RUN sees the ARG's V");
    assert_eq!(label(4), "env2");
    assert!(steps[5].env_over_args.contains("V"), "RUN sees the ENV's V");
    let mut env = vec![("V".to_string(), "env2".to_string())];
    steps[5].add_build_args(&mut env, |_| false);
    assert_eq!(env, [("V".to_string(), "env2".to_string())]);
    let mut env = vec![("V".to_string(), "env".to_string())];
    steps[2].add_build_args(&mut env, |_| false);
    assert_eq!(env, [("V".to_string(), "arg".to_string())]);
}

#[test]
fn a_stage_built_from_a_stage_keeps_its_args() {
    // BuildKit's dispatchState.init appends the base stage's build args;
    // a stage FROM an image starts without any.
    let p = plan_with(
        "FROM a AS one\nARG A=in-one\nARG B\nFROM one\nRUN echo $A $B\nFROM a\nRUN echo $A\n",
        &[("B", "cli")],
    );
    let args = |stage: usize| p.stages[stage].steps[0].build_args.clone();
    assert_eq!(args(1).get("A").map(String::as_str), Some("in-one"));
    assert_eq!(args(1).get("B").map(String::as_str), Some("cli"));
    assert_eq!(args(2).get("A"), None);
}

#[test]
fn json_args_recommended_warns_for_a_shell_form_cmd_without_a_shell() {
    let warned = plan("FROM a\nCMD echo hi\nENTRYPOINT run me\n");
    assert_eq!(
        rules(&warned.warnings),
        vec!["JSONArgsRecommended", "JSONArgsRecommended"]
    );
    assert_eq!(
        warned.warnings[1].message,
        "JSON arguments recommended for ENTRYPOINT to prevent unintended behavior related to OS signals"
    );
    // Exec form, a SHELL in the stage or its base stage, or a stage the
    // target does not need: no warning (BuildKit checks while building).
    let quiet = plan(
        "FROM a AS unused\nCMD echo unused\n\
         FROM a AS base\nSHELL [\"/bin/bash\", \"-c\"]\n\
         FROM base\nCMD echo hi\nENTRYPOINT [\"run\"]\n",
    );
    assert_eq!(rules(&quiet.warnings), Vec::<&str>::new());
}

#[test]
fn legacy_key_value_format_warns_for_env_and_label_without_equals() {
    let p = plan("FROM a\nENV A 1\nLABEL b 2\nENV C=3\n");
    assert_eq!(
        rules(&p.warnings),
        vec!["LegacyKeyValueFormat", "LegacyKeyValueFormat"]
    );
    assert_eq!(
        p.warnings[0].message,
        "\"ENV key=value\" should be used instead of legacy \"ENV key value\" format"
    );
    let skipped = plan("# check=skip=LegacyKeyValueFormat\nFROM a\nENV A 1\n");
    assert_eq!(rules(&skipped.warnings), Vec::<&str>::new());
}

/// Regression: `WORKDIR $UNSET` failed ("cannot normalize nothing", an
/// older BuildKit's message); today's BuildKit keeps the current directory.
#[test]
fn an_empty_workdir_keeps_the_current_one() {
    let p = plan("FROM a\nWORKDIR /app\nARG D\nWORKDIR $D\nRUN pwd\n");
    assert!(
        p.stages[0]
            .steps
            .iter()
            .any(|s| matches!(&s.kind, StepKind::Workdir(d) if d.is_empty())),
        "{}",
        p.dump()
    );
}
