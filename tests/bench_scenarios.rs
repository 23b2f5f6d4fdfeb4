//! `strata bench scenario`: every built-in scenario once on a small tree
//! (no peers), checking what each build reused.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{STRATA, run_ok};
use serde_json::Value;
use std::process::Command;

fn scenario(name: &str) -> Value {
    let out = bench(name, &["--json"]);
    if out.is_empty() {
        return Value::Null;
    }
    let v: Value = serde_json::from_str(&out).unwrap();
    v[0].clone()
}

/// The output of `strata bench scenario NAME --peers none --files 200
/// ARGS…` (empty without busybox).
fn bench(name: &str, args: &[&str]) -> String {
    if !common::have_tool("busybox") {
        return String::new();
    }
    let work = tempfile::Builder::new()
        .prefix("strata-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    run_ok(
        Command::new(STRATA)
            .args(["bench", "scenario", name, "--peers", "none"])
            .args(args)
            .args(["--files", "200", "--work"])
            .arg(work.path()),
    )
}

/// (label, cached, ran) of each build.
fn counts(v: &Value) -> Vec<(String, u64, u64)> {
    v["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["label"].as_str().unwrap().to_string(),
                b["cached"].as_u64().unwrap(),
                b["ran"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Runs `name` and checks (label, cached, ran) of each build; returns
/// the scenario's JSON (null when the test was skipped).
fn expect(name: &str, rows: &[(&str, u64, u64)]) -> Value {
    let v = scenario(name);
    if !v.is_null() {
        let want: Vec<(String, u64, u64)> = rows
            .iter()
            .map(|(l, c, r)| (l.to_string(), *c, *r))
            .collect();
        assert_eq!(counts(&v), want);
    }
    v
}

#[test]
fn django_scenario_reuses_what_each_edit_left_valid() {
    let v = expect(
        "django",
        &[
            ("cold", 0, 5),
            ("no-op", 5, 0),
            ("edit a view", 3, 2),
            ("add a dependency", 1, 4),
            ("touch every file", 5, 0),
            ("revert the view", 3, 2),
            ("add a file", 3, 2),
            ("remove a file", 5, 0),
            ("switch a build arg", 4, 1),
        ],
    );
    if v.is_null() {
        return;
    }
    let builds = v["builds"].as_array().unwrap();
    // The cold build ran the fake pip: time in RUN and bytes written.
    assert!(builds[0]["runMs"].as_u64().unwrap() > 0);
    assert!(builds[0]["bytesWritten"].as_u64().unwrap() > 0);
    // A no-op writes nothing and runs nothing.
    assert_eq!(builds[1]["bytesWritten"], 0);
    assert_eq!(builds[1]["runMs"], 0);
    assert_eq!(v["peers"], serde_json::json!([]));
}

#[test]
fn large_context_scenario_reruns_the_copy_only_on_real_changes() {
    expect(
        "large-context",
        &[
            ("cold", 0, 2),
            ("no-op", 2, 0),
            ("one file changed", 1, 1),
            ("one file added", 1, 1),
            ("one file removed", 1, 1),
        ],
    );
}

#[test]
fn multi_stage_scenario_keeps_the_builder_stage_when_only_runtime_input_changes() {
    expect(
        "multi-stage",
        &[
            ("cold", 0, 5),
            ("no-op", 5, 0),
            ("edit runtime config", 4, 1),
            ("edit builder source", 1, 4),
        ],
    );
}

#[test]
fn unknown_scenario_is_an_error_naming_the_choices() {
    let out = Command::new(STRATA)
        .args(["bench", "scenario", "nope", "--peers", "none"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown scenario \"nope\""), "{err}");
    assert!(err.contains("large-context"), "{err}");
}

#[test]
fn predictions_agree_with_the_executed_builds_step_by_step_on_every_scenario() {
    let out = bench("all", &["--json", "--predict-check"]);
    if out.is_empty() {
        return;
    }
    let all: Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    // django-python runs only where its real Python base is present.
    assert!(
        names.starts_with(&["django"]) && names.ends_with(&["large-context", "multi-stage"]),
        "{names:?}"
    );
    let mut seen = std::collections::BTreeSet::new();
    for s in all.as_array().unwrap() {
        for b in s["builds"].as_array().unwrap() {
            let at = format!("{} / {}", s["name"], b["label"]);
            let p = &b["prediction"];
            assert_eq!(p["disagreements"], serde_json::json!([]), "{at}");
            assert_eq!(p["stepStatus"], b["stepStatus"], "{at}");
            for step in p["stepStatus"].as_array().unwrap() {
                seen.insert(step[1].as_str().unwrap().to_string());
            }
        }
    }
    // Both outcomes were predicted, so agreement means something.
    assert!(seen.contains("cached") && seen.contains("ran"), "{seen:?}");
}

#[test]
fn predict_check_adds_a_column_to_the_table() {
    let out = bench("multi-stage", &["--predict-check"]);
    if out.is_empty() {
        return;
    }
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[1].ends_with("  predicted"), "{out}");
    let rows: Vec<&str> = lines[2..]
        .iter()
        .take_while(|l| !l.is_empty())
        .copied()
        .collect();
    assert_eq!(rows.len(), 4, "{out}");
    for row in rows {
        assert!(row.contains("  agrees ("), "{out}");
    }
    assert!(!out.contains("prediction differs"), "{out}");
    // Without the flag there is no such column.
    let plain = bench("multi-stage", &[]);
    assert!(!plain.contains("predicted"), "{plain}");
}
