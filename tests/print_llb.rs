//! `strata build --print=…`: the LLB definition and the plan, without building.

use std::path::Path;
use std::process::Command;

fn strata(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .expect("run strata")
}

fn django() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/django")
        .display()
        .to_string()
}

#[test]
fn print_llb_is_deterministic_protobuf() {
    let ctx = django();
    let first = strata(&["build", "--print=llb", &ctx]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(first.stdout.len() > 100);
    let second = strata(&["build", "--print=llb", &ctx]);
    assert_eq!(first.stdout, second.stdout, "same Dockerfile, same bytes");
    let text = strata(&["build", "--print=llb-text", &ctx]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("docker-image://docker.io/library/python-base:bookworm"),
        "{text}"
    );
    assert!(
        text.contains("pip install --no-cache-dir -r requirements.txt"),
        "{text}"
    );
    assert!(text.contains("local://context"), "{text}");
}

#[test]
fn print_llb_follows_build_args_and_target() {
    let ctx = django();
    let text = strata(&[
        "build",
        "--print=llb-text",
        "--build-arg",
        "BASE=localhost:5000/py:3",
        &ctx,
    ]);
    assert!(
        text.status.success(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("docker-image://localhost:5000/py:3"),
        "{text}"
    );
    let bad = strata(&["build", "--print=llb", "--target", "nope", &ctx]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nope"));
}

#[test]
fn print_llb_config_carries_what_llb_cannot() {
    let out = strata(&["build", "--print=llb-config", &django()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["python3", "manage.py", "runserver", "0.0.0.0:8000"])
    );
    assert_eq!(config["config"]["WorkingDir"], "/code");
    assert!(config["config"]["ExposedPorts"]["8000/tcp"].is_object());
}

#[test]
fn print_plan_shows_the_expanded_steps() {
    let out = strata(&["build", "--print=plan", &django()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("python-base:bookworm"), "{text}");
    assert!(text.contains("COPY"), "{text}");
}
