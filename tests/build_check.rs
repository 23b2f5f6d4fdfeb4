//! `strata build --check` as `docker build --check`: only the build checks
//! run (nothing is built), the report names each rule with its link and
//! lines, and the exit status is 1 when a check fires; a regular build
//! prints the same checks as short warnings.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, build_image, dockerfile_context, run};
use std::path::Path;

/// `strata build --check ARGS CONTEXT`: exit status and stdout.
fn check(env: &Env, context: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = run(env
        .strata()
        .args(["build", "--check"])
        .args(args)
        .arg(context));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tags(env: &Env) -> String {
    String::from_utf8_lossy(&run(env.strata().arg("images")).stdout).into_owned()
}

#[test]
fn check_reports_each_warning_with_its_rule_and_lines_and_exits_1() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "linty",
        "FROM busybox AS base\nRUN echo $HOSTNAME\nWORKDIR app\n\nFROM base\nCMD echo hi\n",
        &[],
    );
    let before = tags(&env);
    let (code, stdout, stderr) = check(&env, &ctx, &[]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.starts_with("Check complete, 2 warnings have been found!\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "\nWARNING: WorkdirRelativePath - https://docs.docker.com/go/dockerfile/rule/workdir-relative-path/\n\
             Relative workdir \"app\" can have unexpected results if the base image changes\n"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("   3 | >>> WORKDIR app\n"), "{stdout}");
    assert!(
        stdout.contains("WARNING: JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/"),
        "{stdout}"
    );
    // Nothing was built or tagged.
    assert_eq!(tags(&env), before);

    let clean = dockerfile_context(&env, "clean", "FROM busybox\nCMD [\"sh\"]\n", &[]);
    let (code, stdout, _) = check(&env, &clean, &[]);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(stdout, "Check complete, no warnings found.\n");
}

#[test]
fn undefined_var_knows_the_base_images_env() {
    let env = Env::new();
    build_image(&env, "FROM busybox\nENV FROM_BASE=/opt\n", &[], "based");
    let ctx = dockerfile_context(
        &env,
        "uses",
        "FROM based\nCOPY Dockerfile $FROM_BASE/\nCOPY Dockerfile $FROM_BAS/\n",
        &[],
    );
    let (code, stdout, _) = check(&env, &ctx, &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.starts_with("Check complete, 1 warning has been found!\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Usage of undefined variable '$FROM_BAS' (did you mean $FROM_BASE?)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("   3 | >>> COPY Dockerfile $FROM_BAS/\n"),
        "{stdout}"
    );
}

#[test]
fn without_a_target_every_stage_is_checked_and_with_one_only_what_it_needs() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "stages",
        "FROM busybox AS tools\nENV TOOL_TOKEN=x\n\nFROM busybox AS app\nENV A 1\n",
        &[],
    );
    let (_, all, _) = check(&env, &ctx, &[]);
    assert!(all.contains("(ENV \"TOOL_TOKEN\")"), "{all}");
    assert!(all.contains("LegacyKeyValueFormat"), "{all}");
    let (code, app, _) = check(&env, &ctx, &["--target", "app"]);
    assert_eq!(code, Some(1));
    assert!(!app.contains("TOOL_TOKEN"), "{app}");
    assert!(app.contains("LegacyKeyValueFormat"), "{app}");
}

#[test]
fn check_error_true_reports_the_violation_and_skip_silences_a_rule() {
    let env = Env::new();
    let strict = dockerfile_context(
        &env,
        "strict",
        "# check=error=true\nFROM busybox\nENV API_KEY=x\n",
        &[],
    );
    let (code, stdout, _) = check(&env, &strict, &[]);
    assert_eq!(code, Some(1));
    assert!(stdout.contains("SecretsUsedInArgOrEnv"), "{stdout}");
    assert!(
        stdout.contains("\nlint violation found for rules: SecretsUsedInArgOrEnv\n"),
        "{stdout}"
    );
    let (code, stdout, _) = check(
        &env,
        &strict,
        &[
            "--build-arg",
            "BUILDKIT_DOCKERFILE_CHECK=skip=SecretsUsedInArgOrEnv",
        ],
    );
    assert_eq!(code, Some(0), "{stdout}");
}

#[test]
fn a_build_prints_the_checks_in_buildkits_short_form() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "build",
        "FROM busybox\nEXPOSE 8080:80/TCP\nRUN true\n",
        &[],
    );
    let b = env.build(&ctx, &["-t", "exposed"]).ok();
    assert!(
        b.stderr.contains(
            "WARNING: ExposeInvalidFormat: EXPOSE instruction should not define an IP address or host-port mapping, found '8080:80/TCP' (line 2)"
        ),
        "{}",
        b.stderr
    );
    assert!(
        b.stderr.contains(
            "WARNING: ExposeProtoCasing: Defined protocol '8080:80/TCP' in EXPOSE instruction should be lowercase (line 2)"
        ),
        "{}",
        b.stderr
    );
    // As in BuildKit, the container port is exposed.
    let config = env.image("exposed").runtime_config().clone();
    assert_eq!(config["ExposedPorts"], serde_json::json!({"80/tcp": {}}));
}

#[test]
fn check_fails_when_a_base_image_cannot_be_had() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "missing",
        "FROM 127.0.0.1:1/nothing:here\nCOPY $X /\n",
        &[],
    );
    let (code, stdout, stderr) = check(&env, &ctx, &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stderr.contains("base image 127.0.0.1:1/nothing:here"),
        "{stderr}"
    );
}

#[test]
fn a_duplicated_stage_name_warns_and_names_the_last_such_stage() {
    let env = Env::new();
    let image = {
        let ctx = dockerfile_context(
            &env,
            "dup",
            "FROM busybox AS b\nRUN echo one > /one\nFROM busybox AS b\nRUN echo two > /two\nFROM b\nRUN true\n",
            &[],
        );
        let b = env.build(&ctx, &["-t", "dup"]).ok();
        assert!(
            b.stderr.contains(
                "WARNING: DuplicateStageName: Duplicate stage name \"b\", stage names should be unique (line 3)"
            ),
            "{}",
            b.stderr
        );
        env.image("dup")
    };
    let files = image.files();
    assert!(files.contains_key("two"), "built on the last stage b");
    assert!(!files.contains_key("one"));
}
