//! `strata bench replay --predict` against the executed replay: on a small
//! git repository of a Django-style project, the prediction (which executes
//! nothing) must give every step of every commit the status the real
//! builds gave it.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, run_ok, write};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const DOCKERFILE: &str = "\
FROM busybox
ENV APP=demo
WORKDIR /code
COPY requirements.txt /code/
RUN cat requirements.txt > /deps && echo installed
COPY . /code/
CMD [\"cat\", \"/code/app.py\"]
";

/// `COPY . .` before the install: the reordering the replay should suggest.
const LATE_DEPS: &str = "\
FROM busybox
WORKDIR /code
COPY . /code/
RUN cat requirements.txt > /deps
";

fn git(repo: &Path, args: &[&str]) {
    run_ok(
        Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args),
    );
}

fn commit(repo: &Path, files: &[(&str, &str)], message: &str) {
    for (rel, content) in files {
        write(&repo.join(rel), content);
    }
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "--quiet", "--allow-empty", "-m", message]);
}

/// A repository of five commits: create, edit code, add a dependency,
/// edit code, change only an ignored file.
fn repo(env: &Env, dockerfile: &str) -> std::path::PathBuf {
    let repo = env.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "--quiet"]);
    commit(
        &repo,
        &[
            ("Dockerfile", dockerfile),
            (".dockerignore", "notes.md\n"),
            ("requirements.txt", "django==5.0\n"),
            ("app.py", "print(1)\n"),
            ("notes.md", "first\n"),
        ],
        "create",
    );
    commit(&repo, &[("app.py", "print(2)\n")], "edit code");
    commit(
        &repo,
        &[("requirements.txt", "django==5.0\nsix\n")],
        "add a dependency",
    );
    commit(&repo, &[("app.py", "print(3)\n")], "edit code again");
    commit(&repo, &[("notes.md", "second\n")], "edit an ignored file");
    repo
}

fn replay(env: &Env, repo: &Path, predict: bool) -> Value {
    let mut cmd = env.strata();
    cmd.args(["bench", "replay", "--json", "--commits", "5"]);
    if predict {
        cmd.arg("--predict");
    }
    cmd.arg("--work")
        .arg(env.path(if predict { "w-predict" } else { "w-build" }));
    cmd.arg(repo);
    serde_json::from_str(&run_ok(&mut cmd)).unwrap()
}

fn statuses(v: &Value) -> Vec<Vec<(String, String)>> {
    v["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| serde_json::from_value(c["stepStatus"].clone()).unwrap())
        .collect()
}

#[test]
fn replay_predict_matches_the_executed_replay_step_by_step() {
    if !common::have_tool("git") {
        return;
    }
    let built = Env::new();
    let predicted = Env::new();
    let repo = repo(&built, DOCKERFILE);

    let executed = replay(&built, &repo, false);
    let prediction = replay(&predicted, &repo, true);
    assert_eq!(executed["predicted"], false);
    assert_eq!(prediction["predicted"], true);
    let executed = statuses(&executed);
    assert_eq!(executed.len(), 5);
    assert_eq!(statuses(&prediction), executed);

    // What the builds did, so the comparison is not between two wrong answers.
    let ran = |c: &Vec<(String, String)>| -> Vec<String> {
        c.iter()
            .filter(|(_, s)| s == "ran")
            .map(|(t, _)| t.clone())
            .collect()
    };
    assert_eq!(ran(&executed[0]).len(), 4, "cold: every keyed step runs");
    assert_eq!(ran(&executed[1]), ["COPY . /code/"]);
    assert_eq!(
        ran(&executed[2]),
        [
            "COPY requirements.txt /code/",
            "RUN cat requirements.txt > /deps && echo installed",
            "COPY . /code/"
        ]
    );
    assert_eq!(ran(&executed[3]), ["COPY . /code/"]);
    assert!(
        ran(&executed[4]).is_empty(),
        "an ignored file changes nothing"
    );

    // The prediction ran nothing: its store has no new layers.
    assert!(
        Command::new(common::STRATA)
            .arg("--root")
            .arg(&predicted.root)
            .args(["store", "check"])
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn replay_predict_after_the_builds_predicts_every_step_cached() {
    if !common::have_tool("git") {
        return;
    }
    let env = Env::new();
    let repo = repo(&env, DOCKERFILE);
    replay(&env, &repo, false);
    let again = replay(&env, &repo, true);
    assert_eq!(again["hitRate"], 100.0);
}

#[test]
fn replay_suggests_copying_the_manifest_before_the_install() {
    if !common::have_tool("git") {
        return;
    }
    let env = Env::new();
    let repo = repo(&env, LATE_DEPS);
    let v = replay(&env, &repo, true);
    let suggestions: Vec<String> = serde_json::from_value(v["suggestions"].clone()).unwrap();
    assert_eq!(suggestions.len(), 1, "{suggestions:?}");
    let s = &suggestions[0];
    assert!(s.contains("`COPY requirements.txt` before the RUN"), "{s}");
    // Commits 2–4 missed at COPY . (commit 5 changed only an ignored
    // file); of those, only commit 3 changed requirements.txt.
    assert!(s.contains("in all 3 commits after the first"), "{s}");
    assert!(s.contains("hit in 2 of them"), "{s}");
    // Per instruction: the RUN hit only in commit 5.
    let instructions: Vec<(String, usize, usize)> =
        serde_json::from_value(v["instructions"].clone()).unwrap();
    assert!(
        instructions.contains(&("RUN cat requirements.txt > /deps".to_string(), 1, 5)),
        "{instructions:?}"
    );
}
