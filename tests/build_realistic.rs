//! Dockerfiles as a new user writes them (`testdata/dockerfiles/e2e-*`,
//! on the tests' busybox base), built and checked file by file, in the
//! image config, and run by podman; plus the directives and RUN flags
//! around them (`# check=`, `SHELL` with pipefail, `--security=insecure`).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, Podman, chmod, dockerfile_context, run_ok};
use serde_json::json;
use std::path::Path;

/// A Dockerfile of `testdata/dockerfiles`.
fn dockerfile(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/dockerfiles")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The host's architecture in Go's naming (`TARGETARCH`).
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `podman run --rm --network=none IMAGE` of an image built to `archive`.
fn podman_run(env: &Env, archive: &Path, image: &str) -> String {
    let pm = Podman::new(env);
    run_ok(pm.cmd().arg("load").arg("-i").arg(archive));
    run_ok(pm.cmd().args(["run", "--rm", "--network=none", image]))
}

/// `-t NAME -o type=docker,dest=…` for [`podman_run`].
fn tag_and_archive(env: &Env, name: &str) -> (Vec<String>, std::path::PathBuf) {
    let archive = env.path(&format!("{name}.tar"));
    let args = vec![
        "-t".to_string(),
        name.to_string(),
        "-o".to_string(),
        format!("type=docker,dest={},name={name}", archive.display()),
    ];
    (args, archive)
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn go_service_with_platform_args_and_a_numeric_user() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "go",
        &dockerfile("e2e-go-service.Dockerfile"),
        &[
            ("go.mod", "module example.com/server\n"),
            (
                "main.sh",
                "#!/bin/sh\necho \"server as $(id -u):$(id -g)\"\n",
            ),
        ],
    );
    let (args, archive) = tag_and_archive(&env, "go-svc");
    env.build(&ctx, &strs(&args)).ok();
    let image = env.image("go-svc");
    let arch = go_arch();
    // Automatic platform ARGs: in FROM without a declaration, in a stage
    // only once declared (BuildKit).
    assert_eq!(image.file("/undeclared.txt").text(), "undeclared=[/]\n");
    assert_eq!(
        image.file("/build-env.txt").text(),
        format!("GOOS=linux GOARCH={arch} GOARM=\n")
    );
    assert_eq!(
        image.file("/platforms.txt").text(),
        format!("linux/{arch} linux/{arch} -> linux/{arch}\n")
    );
    let server = image.file("/usr/local/bin/server");
    assert_eq!(server.mode & 0o7777, 0o755);
    let config = image.runtime_config();
    assert_eq!(config["User"], "4242:4242");
    assert_eq!(config["ExposedPorts"], json!({"8080/udp": {}}));
    assert_eq!(config["Entrypoint"], json!(["/usr/local/bin/server"]));
    // A user without a passwd entry runs with its numeric ids.
    assert_eq!(
        podman_run(&env, &archive, "go-svc:latest"),
        "server as 4242:4242\n"
    );
}

#[test]
fn node_app_with_cache_mount_link_copy_and_dockerignore() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "node",
        &dockerfile("e2e-node-app.Dockerfile"),
        &[
            ("package.json", "{\"name\": \"app\"}\n"),
            ("server.js", "console.log('hi')\n"),
            ("node_modules/junk/index.js", "junk\n"),
            ("lib/node_modules/deep/index.js", "deep\n"),
            ("lib/util.js", "util\n"),
            (".dockerignore", "**/node_modules\n"),
        ],
    );
    let (args, archive) = tag_and_archive(&env, "node-app");
    let b = env.build(&ctx, &strs(&args)).ok();
    assert!(
        b.stderr.contains("LegacyKeyValueFormat"),
        "ENV key value warns as in BuildKit: {}",
        b.stderr
    );
    let image = env.image("node-app");
    let files = image.files();
    assert_eq!(
        image.file("/app/node_modules/left-pad/package.json").text(),
        "{\"name\": \"app\"}\n"
    );
    assert!(!files.contains_key("app/node_modules/junk"), "ignored");
    assert!(!files.contains_key("app/lib/node_modules"), "ignored");
    assert_eq!(image.file("/app/lib/util.js").text(), "util\n");
    assert_eq!(image.file("/app/npm.log").text(), "npm cache: cold\n");
    let config = image.runtime_config();
    let env_vars: Vec<&str> = config["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for expected in [
        "NODE_ENV=production",
        "PORT=3000",
        "GREETING=hello world",
        "EMPTY=",
        "LEGACY=legacy form value",
    ] {
        assert!(env_vars.contains(&expected), "{expected} in {env_vars:?}");
    }
    // HEALTHCHECK is not expanded (BuildKit): $PORT stays for the shell.
    assert_eq!(
        config["Healthcheck"],
        json!({
            "Test": ["CMD-SHELL", "wget -qO- http://localhost:$PORT/ || exit 1"],
            "Interval": 30_000_000_000u64,
            "Timeout": 3_000_000_000u64,
        })
    );
    assert_eq!(config["Volumes"], json!({"/data": {}}));
    assert_eq!(config["ExposedPorts"], json!({"3000/tcp": {}}));
    assert_eq!(
        podman_run(&env, &archive, "node-app:latest"),
        "hello world from production on 3000\nleft-pad\n"
    );

    // The npm cache survives a build without the layer cache.
    env.build(&ctx, &["-t", "node-app", "--no-cache"]).ok();
    assert_eq!(
        env.image("node-app").file("/app/npm.log").text(),
        "npm cache: warm\n"
    );
}

#[test]
fn python_app_with_escape_and_check_directives_and_a_pipefail_shell() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "python",
        &dockerfile("e2e-python-app.Dockerfile"),
        &[
            ("requirements.txt", "Django\nasgiref\n"),
            ("run.sh", "#!/bin/sh\necho \"running in $(pwd)\"\n"),
            ("app/main.py", "print('hi')\n"),
        ],
    );
    chmod(&ctx.join("run.sh"), 0o600);
    let (args, archive) = tag_and_archive(&env, "py-app");
    let b = env.build(&ctx, &strs(&args)).ok();
    assert!(
        !b.stderr.contains("LegacyKeyValueFormat"),
        "skipped by the check directive: {}",
        b.stderr
    );
    assert!(
        !b.stderr.contains("JSONArgsRecommended"),
        "a shell-form CMD after SHELL draws no warning: {}",
        b.stderr
    );
    let image = env.image("py-app");
    assert_eq!(
        image.file("/srv/app/installed.txt").text(),
        "django\nasgiref\n",
        "sorted in the C locale"
    );
    assert_eq!(image.file("/shell-options.txt").text(), "pipefail on\n");
    assert_eq!(image.file("/srv/app/run.sh").mode & 0o7777, 0o755);
    assert_eq!(image.file("/srv/app/app/main.py").text(), "print('hi')\n");
    assert_eq!(image.file("/interfaces.txt").text(), "lo\n");
    let config = image.runtime_config();
    // With escape=` a backslash is an ordinary character.
    assert!(
        config["Env"]
            .as_array()
            .unwrap()
            .contains(&json!("WINPATH=C:\\data\\bin")),
        "{}",
        config["Env"]
    );
    assert_eq!(
        config["Cmd"],
        json!(["/bin/sh", "-o", "pipefail", "-c", "./run.sh"])
    );
    assert_eq!(
        podman_run(&env, &archive, "py-app:latest"),
        "running in /srv/app\n"
    );
}

#[test]
fn a_pipefail_shell_fails_a_pipe_whose_first_command_fails() {
    let env = Env::new();
    let with = dockerfile_context(
        &env,
        "with",
        "FROM busybox\nSHELL [\"/bin/sh\", \"-o\", \"pipefail\", \"-c\"]\nRUN false | true\n",
        &[],
    );
    let failed = env.build(&with, &[]).failed();
    assert!(failed.stderr.contains("false | true"), "{}", failed.stderr);
    let without = dockerfile_context(&env, "without", "FROM busybox\nRUN false | true\n", &[]);
    env.build(&without, &[]).ok();
}

#[test]
fn check_directive_error_true_fails_on_a_warning_unless_skipped() {
    let env = Env::new();
    let strict = dockerfile_context(
        &env,
        "strict",
        "# check=error=true\nFROM busybox\nCMD echo hi\n",
        &[],
    );
    let failed = env.build(&strict, &[]).failed();
    assert!(
        failed.stderr.contains("JSONArgsRecommended"),
        "{}",
        failed.stderr
    );
    let skipped = dockerfile_context(
        &env,
        "skipped",
        "# check=skip=JSONArgsRecommended;error=true\nFROM busybox\nCMD echo hi\n",
        &[],
    );
    env.build(&skipped, &[]).ok();
}

#[test]
fn run_security_insecure_needs_the_entitlement() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\nRUN --security=insecure grep CapEff /proc/self/status > /caps\n",
        &[],
    );
    let refused = env.build(&ctx, &[]).failed();
    assert!(
        refused.stderr.contains("security.insecure"),
        "{}",
        refused.stderr
    );
    env.build(&ctx, &["-t", "insecure", "--allow", "security.insecure"])
        .ok();
    let caps = env.image("insecure").file("/caps").text();
    let mask = caps.split_whitespace().nth(1).unwrap_or_default();
    let bits = u64::from_str_radix(mask, 16).unwrap_or(0);
    // Every capability (Docker's default set lacks CAP_SYS_ADMIN, bit 21).
    assert_ne!(bits & (1 << 21), 0, "{caps}");
}
