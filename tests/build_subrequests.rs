//! `strata build --call=targets|outline|check[,format=json]` as buildx's
//! `--call`: nothing is built; buildx's text or BuildKit's JSON on stdout;
//! the exit status of the check is BuildKit's status code.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, dockerfile_context, run};
use serde_json::Value;
use std::path::Path;

/// `strata build ARGS CONTEXT`: exit status, stdout, stderr.
fn call(env: &Env, context: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = run(env.strata().arg("build").args(args).arg(context));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tags(env: &Env) -> String {
    String::from_utf8_lossy(&run(env.strata().arg("images")).stdout).into_owned()
}

const STAGES: &str = "\
# GREETING what the image says
ARG GREETING=hello
ARG UNUSED=x

# base the shared first steps
FROM busybox AS base
# NAME who is greeted & thanked
ARG NAME=world
RUN --mount=type=secret,id=token,required=true true

FROM base AS app
ARG GREETING
RUN --mount=type=ssh echo $GREETING $NAME
";

#[test]
fn targets_lists_the_stages_with_their_descriptions_and_builds_nothing() {
    let env = Env::new();
    let ctx = dockerfile_context(&env, "stages", STAGES, &[]);
    let before = tags(&env);
    let (code, stdout, stderr) = call(&env, &ctx, &["--call=targets"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stdout,
        "TARGET        DESCRIPTION\nbase          the shared first steps\napp (default) \n"
    );
    let (code, stdout, stderr) = call(&env, &ctx, &["--call=targets,format=json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["targets"][0]["name"], "base");
    assert_eq!(v["targets"][0]["description"], "the shared first steps");
    assert_eq!(v["targets"][0]["base"], "busybox");
    assert_eq!(v["targets"][0]["location"]["ranges"][0]["start"]["line"], 6);
    assert_eq!(v["targets"][1]["default"], true);
    assert!(v["targets"][0].get("default").is_none(), "{stdout}");
    let source = strata_store::base64::decode(v["sources"][0].as_str().unwrap()).unwrap();
    assert_eq!(String::from_utf8(source).unwrap(), STAGES);
    assert_eq!(tags(&env), before);
}

#[test]
fn outline_reports_the_args_secrets_and_ssh_the_target_uses() {
    let env = Env::new();
    let ctx = dockerfile_context(&env, "stages", STAGES, &[]);
    let (code, stdout, stderr) = call(
        &env,
        &ctx,
        &["--call=outline", "--build-arg", "NAME=strata"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stdout,
        "TARGET: app\n\
         \n\
         BUILD ARG   VALUE    DESCRIPTION\n\
         GREETING    hello    what the image says\n\
         NAME        strata   who is greeted & thanked\n\
         \n\
         SECRET   REQUIRED\n\
         token    true\n\
         \n\
         SSH       REQUIRED\n\
         default   \n\
         \n"
    );
    // The base stage uses neither GREETING nor an ssh agent.
    let (code, stdout, stderr) = call(
        &env,
        &ctx,
        &["--call=outline,format=json", "--target", "base"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("greeted \\u0026 thanked"),
        "Go's escaping: {stdout}"
    );
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["name"], "base");
    assert_eq!(v["description"], "the shared first steps");
    let args = v["args"].as_array().unwrap();
    assert_eq!(args.len(), 1, "{stdout}");
    assert_eq!(args[0]["name"], "NAME");
    assert_eq!(args[0]["value"], "world");
    assert_eq!(args[0]["location"]["ranges"][0]["start"]["line"], 8);
    assert_eq!(v["secrets"][0]["name"], "token");
    assert_eq!(v["secrets"][0]["required"], true);
    assert!(v.get("ssh").is_none(), "{stdout}");
}

#[test]
fn check_in_json_exits_as_buildkits_status_code() {
    let env = Env::new();
    let linty = dockerfile_context(&env, "linty", "FROM busybox\nCMD echo hi\n", &[]);
    let (code, stdout, stderr) = call(&env, &linty, &["--call=check,format=json"]);
    assert_eq!(code, Some(1), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let w = &v["warnings"][0];
    assert_eq!(w["ruleName"], "JSONArgsRecommended");
    assert_eq!(
        w["url"],
        "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/"
    );
    assert!(
        w["description"]
            .as_str()
            .unwrap()
            .starts_with("JSON arguments")
    );
    assert!(w["detail"].as_str().unwrap().contains("for CMD"));
    assert_eq!(w["location"]["ranges"][0]["end"]["line"], 2);
    assert_eq!(v["sources"][0]["filename"], "Dockerfile");
    assert_eq!(v["sources"][0]["language"], "Dockerfile");
    assert!(v.get("buildError").is_none());

    let flags = ["--check", "--call=check,format=json,ignorestatus=true"];
    let (code, stdout, _) = call(&env, &linty, &flags);
    assert_eq!(code, Some(0), "{stdout}");
    let (code, _, _) = call(&env, &linty, &["--call=check,ignorestatus=true"]);
    assert_eq!(code, Some(0));

    let clean = dockerfile_context(&env, "clean", "FROM busybox\nCMD [\"sh\"]\n", &[]);
    let (code, stdout, _) = call(&env, &clean, &["--call=check,format=json"]);
    assert_eq!(code, Some(0), "{stdout}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert!(v["warnings"].is_null(), "{stdout}");

    let strict = "# check=error=true\nFROM busybox\nENV API_KEY=x\n";
    let strict = dockerfile_context(&env, "strict", strict, &[]);
    let flags = ["--call=check,format=json,ignorestatus=true"];
    let (code, stdout, stderr) = call(&env, &strict, &flags);
    assert_eq!(code, Some(1), "the error fails it either way: {stdout}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        v["buildError"]["message"],
        "lint violation found for rules: SecretsUsedInArgOrEnv"
    );
    assert_eq!(v["buildError"]["location"]["ranges"][0]["start"]["line"], 3);
    assert!(stderr.contains("lint violation found"), "{stderr}");
}

#[test]
fn invalid_definition_description_runs_when_named_and_other_experiments_are_refused() {
    let env = Env::new();
    let text = "# check=experimental=InvalidDefinitionDescription\n\n\
                # the base image\nFROM busybox AS base\n";
    let ctx = dockerfile_context(&env, "described", text, &[]);
    let (code, stdout, _) = call(&env, &ctx, &["--check"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "WARNING: InvalidDefinitionDescription - https://docs.docker.com/go/dockerfile/rule/invalid-definition-description/\n\
             Comment for FROM should follow the format: `# base <description>`\n"
        ),
        "{stdout}"
    );
    let fixed = dockerfile_context(
        &env,
        "fixed",
        &text.replace("# the base", "# base the base"),
        &[],
    );
    let (code, stdout, _) = call(&env, &fixed, &["--check"]);
    assert_eq!(code, Some(0), "{stdout}");

    let copy = "# check=experimental=CopyIgnoredFile\nFROM busybox\n";
    let copy = dockerfile_context(&env, "copy", copy, &[]);
    let (code, _, stderr) = call(&env, &copy, &["--check"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("does not run BuildKit's experimental check CopyIgnoredFile"),
        "{stderr}"
    );
}
