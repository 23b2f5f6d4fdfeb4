//! `strata bench replay`: the last commits of a git repository, built (or
//! predicted) oldest first in one checkout, so the stat cache sees what a
//! developer's checkout would.

use super::predict::{predict, statuses};
use super::table::{duration, render};
use super::{BuildSpec, Strata, WorkDir, run_ok};
use crate::cli::{Cli, ReplayArgs};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;
use strata_builder::predict::Predictor;
use strata_plan::{CopySource, Plan, StepKind};
use strata_store::Store;

/// One commit of a replay.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitResult {
    /// The commit's hash.
    pub commit: String,
    /// Its subject line.
    pub subject: String,
    /// Steps with a key.
    pub steps: usize,
    /// Of which hit (or are predicted to).
    pub cached: usize,
    /// `cached / steps` in percent.
    pub hit_rate: f64,
    /// Time of the build (or of the prediction), ms.
    pub ms: f64,
    /// Each step: instruction and `cached`, `ran` or `config`.
    pub step_status: Vec<(String, String)>,
}

/// A whole replay.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayResult {
    /// Predicted (nothing executed) or built.
    pub predicted: bool,
    /// Oldest first.
    pub commits: Vec<CommitResult>,
    /// Hits over all commits, in percent.
    pub hit_rate: f64,
    /// Total time, ms.
    pub ms: f64,
    /// Per instruction (stage and position, latest text): hits and builds.
    pub instructions: Vec<(String, usize, usize)>,
    /// Reorderings of the Dockerfile that would raise the hit rate.
    pub suggestions: Vec<String>,
}

/// Runs `strata bench replay`.
pub fn run(args: &ReplayArgs, cli: &Cli) -> Result<()> {
    let root = strata_store::select_root(cli.root.clone());
    let commits = last_commits(&args.repo, args.commits)?;
    let work = WorkDir::new(args.work.as_deref(), "strata-replay-")?;
    // The repository's objects live beside the checkout, not in it: a
    // `.git` in the context would change with every checkout and make
    // every `COPY . .` miss.
    let checkout = work.path().join("checkout");
    let git_dir = work.path().join("repo.git");
    if !git_dir.exists() {
        run_ok(
            Command::new("git")
                .args(["clone", "--quiet", "--bare"])
                .arg(&args.repo)
                .arg(&git_dir),
        )?;
    }
    std::fs::create_dir_all(&checkout)
        .with_context(|| format!("creating {}", checkout.display()))?;
    let git = || {
        let mut cmd = Command::new("git");
        cmd.arg("--git-dir")
            .arg(&git_dir)
            .arg("--work-tree")
            .arg(&checkout);
        cmd
    };
    let store = Store::open(&root).with_context(|| format!("opening {}", root.display()))?;
    let strata = Strata::new(&root, &work.path().join("scratch"))?;
    let records = strata_cache::RecordStore::open(root.join("cache-v1"))?;
    let layer = super::super::buildopts::layer_options("gzip")?;
    let media = strata_layer::media_type(layer.compression).to_string();
    let mut predictor = Predictor::new(&records, &media);
    let mut results = Vec::new();
    let mut plans = Vec::new();
    for (hash, subject) in &commits {
        run_ok(git().args(["checkout", "--quiet", "--force", hash]))?;
        let spec = BuildSpec {
            context: checkout.clone(),
            dockerfile: Some(checkout.join(&args.file)),
            build_args: super::super::build::parse_build_args(&args.build_args)?,
            tag: "strata-replay:latest".into(),
            extra: Vec::new(),
        };
        let started = Instant::now();
        let step_status = if args.predict {
            let (plan, prediction) = predict(&store, &spec, &mut predictor)?;
            plans.push(plan);
            statuses(&prediction)
        } else {
            strata.build(hash, &spec)?.step_status
        };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let steps = step_status.iter().filter(|(_, s)| s != "config").count();
        let cached = step_status.iter().filter(|(_, s)| s == "cached").count();
        results.push(CommitResult {
            commit: hash.clone(),
            subject: subject.clone(),
            steps,
            cached,
            hit_rate: rate(cached, steps),
            ms,
            step_status,
        });
    }
    let suggestions = match plans.last() {
        Some(plan) => suggest(plan, &results, &checkout, &git_dir, &commits)?,
        None => Vec::new(),
    };
    let result = summarize(args.predict, results, suggestions);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print!("{}", render_replay(&result));
    }
    Ok(())
}

fn rate(hits: usize, total: usize) -> f64 {
    if total == 0 {
        100.0
    } else {
        hits as f64 * 100.0 / total as f64
    }
}

/// The last `n` commits of HEAD, oldest first: (hash, subject).
fn last_commits(repo: &Path, n: usize) -> Result<Vec<(String, String)>> {
    let out = run_ok(
        Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["log", "--format=%H %s", "--first-parent"])
            .arg(format!("--max-count={n}"))
            .arg("HEAD"),
    )
    .with_context(|| format!("{} is not a git repository with commits", repo.display()))?;
    let mut commits: Vec<(String, String)> = out
        .lines()
        .filter_map(|l| {
            let (h, s) = l.split_once(' ').unwrap_or((l, ""));
            (!h.is_empty()).then(|| (h.to_string(), s.to_string()))
        })
        .collect();
    commits.reverse();
    Ok(commits)
}

fn summarize(
    predicted: bool,
    commits: Vec<CommitResult>,
    suggestions: Vec<String>,
) -> ReplayResult {
    let steps: usize = commits.iter().map(|c| c.steps).sum();
    let cached: usize = commits.iter().map(|c| c.cached).sum();
    let ms = commits.iter().map(|c| c.ms).sum();
    // Per position: the latest text, hits, builds that had the step.
    let mut by_position: BTreeMap<usize, (String, usize, usize)> = BTreeMap::new();
    for commit in &commits {
        for (i, (text, status)) in commit.step_status.iter().enumerate() {
            if status == "config" {
                continue;
            }
            let slot = by_position.entry(i).or_default();
            slot.0 = text.clone();
            slot.1 += usize::from(status == "cached");
            slot.2 += 1;
        }
    }
    ReplayResult {
        predicted,
        hit_rate: rate(cached, steps),
        ms,
        commits,
        instructions: by_position.into_values().collect(),
        suggestions,
    }
}

/// Files that pin dependencies, which an install step should be keyed on.
const MANIFESTS: [&str; 16] = [
    "requirements.txt",
    "requirements-dev.txt",
    "pyproject.toml",
    "poetry.lock",
    "Pipfile",
    "Pipfile.lock",
    "package.json",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "Cargo.toml",
    "Cargo.lock",
    "go.mod",
    "go.sum",
    "Gemfile",
    "Gemfile.lock",
];

/// Reorderings that would raise the hit rate: a COPY of the whole context
/// (or a directory) placed before a RUN makes the RUN miss on every code
/// edit. Counts, over the replayed commits, how often that happened and
/// how often copying only the dependency manifests first would have hit.
fn suggest(
    plan: &Plan,
    commits: &[CommitResult],
    checkout: &Path,
    git_dir: &Path,
    history: &[(String, String)],
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let manifests: Vec<&str> = MANIFESTS
        .iter()
        .copied()
        .filter(|m| checkout.join(m).is_file())
        .collect();
    for stage in &plan.stages {
        let broad = stage.steps.iter().position(|s| match &s.kind {
            StepKind::Copy(c) => {
                c.from == CopySource::Context
                    && c.sources
                        .paths
                        .iter()
                        .any(|p| p == "." || p == "./" || p.ends_with('/') || p == "*")
            }
            _ => false,
        });
        let Some(copy_at) = broad else { continue };
        let Some(run) = stage.steps[copy_at..]
            .iter()
            .find(|s| matches!(s.kind, StepKind::Run(_)))
        else {
            continue;
        };
        let copy = &stage.steps[copy_at];
        // Commits where this COPY was where the misses started, and of
        // those, the ones that changed no dependency manifest.
        let mut started_there = 0;
        let mut code_only = 0;
        for (i, commit) in commits.iter().enumerate() {
            // The first commit misses everywhere whatever the order.
            let Some((prev, _)) = i.checked_sub(1).and_then(|p| history.get(p)) else {
                continue;
            };
            let first_miss = commit.step_status.iter().find(|(_, s)| s == "ran");
            if first_miss.is_none_or(|(text, _)| *text != copy.text) {
                continue;
            }
            started_there += 1;
            let changed = changed_files(git_dir, prev, &commit.commit)?;
            if !changed.iter().any(|f| manifests.contains(&f.as_str())) {
                code_only += 1;
            }
        }
        if started_there == 0 {
            continue;
        }
        let first = if manifests.is_empty() {
            "the files the install needs (its dependency manifests)".to_string()
        } else {
            manifests.join(" ")
        };
        out.push(format!(
            "line {}: `{}` comes before `{}` (line {}), so that RUN reran in all {} commits \
             after the first where the COPY missed; `COPY {}` before the RUN and `{}` after it would have let \
             the RUN hit in {} of them (no dependency manifest changed)",
            copy.span.start_line,
            copy.text,
            run.text,
            run.span.start_line,
            started_there,
            first,
            copy.text,
            code_only
        ));
    }
    Ok(out)
}

fn changed_files(git_dir: &Path, from: &str, to: &str) -> Result<Vec<String>> {
    let out = run_ok(Command::new("git").arg("--git-dir").arg(git_dir).args([
        "diff",
        "--name-only",
        from,
        to,
    ]))?;
    Ok(out.lines().map(str::to_string).collect())
}

fn render_replay(r: &ReplayResult) -> String {
    let mut rows = vec![vec![
        "commit".to_string(),
        "steps".into(),
        "cached".into(),
        "hit".into(),
        if r.predicted {
            "predicted in"
        } else {
            "built in"
        }
        .into(),
        "subject".into(),
    ]];
    for c in &r.commits {
        rows.push(vec![
            c.commit.chars().take(10).collect(),
            c.steps.to_string(),
            c.cached.to_string(),
            format!("{:.0}%", c.hit_rate),
            duration(c.ms),
            c.subject.chars().take(50).collect(),
        ]);
    }
    let mut out = render(&rows);
    out.push_str(&format!(
        "total: hit rate {:.1}% over {} commits, {}\n\n",
        r.hit_rate,
        r.commits.len(),
        duration(r.ms)
    ));
    let mut rows = vec![vec![
        "instruction".to_string(),
        "hits".into(),
        "hit rate".into(),
    ]];
    for (text, hits, total) in &r.instructions {
        rows.push(vec![
            text.chars().take(60).collect(),
            format!("{hits}/{total}"),
            format!("{:.0}%", rate(*hits, *total)),
        ]);
    }
    out.push_str(&render(&rows));
    for s in &r.suggestions {
        out.push_str(&format!("\nsuggestion: {s}\n"));
    }
    out
}
