//! `strata bench scenario`: runs scenarios and prints their table.

use super::peers::Peer;
use super::predict::{PredictCheck, predict, statuses};
use super::scenarios::{self, Scenario};
use super::{BuildResult, BuildSpec, Strata, WorkDir, base, select_peers, table};
use crate::cli::{Cli, ScenarioArgs};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;
use strata_builder::predict::Predictor;
use strata_store::Store;

/// The results of one scenario.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioResult {
    /// Its name.
    pub name: String,
    /// What it is.
    pub about: String,
    /// Peers that ran beside strata.
    pub peers: Vec<String>,
    /// Why peers did not run, when they did not.
    pub note: Option<String>,
    /// One entry per build.
    pub builds: Vec<BuildResult>,
}

/// Runs `strata bench scenario`.
pub fn run(args: &ScenarioArgs, _cli: &Cli) -> Result<()> {
    let names: Vec<&str> = if args.name == "all" {
        scenarios::NAMES.to_vec()
    } else {
        vec![args.name.as_str()]
    };
    let peers = select_peers(&args.peers)?;
    let work = WorkDir::new(args.work.as_deref(), "strata-bench-")?;
    let trees = scenarios::trees_dir(args.work.as_deref());
    let mut results = Vec::new();
    let all = args.name == "all";
    for name in names {
        let scenario = scenarios::get(name, args.files)?;
        if all && name == "django-python" && !python_base_present() {
            eprintln!(
                "note: skipping django-python: no {} in the store (examples/quickstart.sh makes it)",
                scenarios::PYTHON_BASE
            );
            continue;
        }
        let dir = work.path().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let result = run_one(&scenario, &dir, &trees, &peers, args.predict_check)?;
        if !args.json {
            print!("{}", table::scenario(&result));
        }
        results.push(result);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    Ok(())
}

fn run_one(
    scenario: &Scenario,
    dir: &Path,
    trees: &Path,
    wanted: &std::collections::BTreeSet<String>,
    predict_check: bool,
) -> Result<ScenarioResult> {
    let strata = Strata::new(&dir.join("store"), &dir.join("scratch"))?;
    let archives = base::make(&strata, &dir.join("base"))?;
    let mut note = None;
    if scenario.name == "django-python" {
        let main = strata_store::select_root(None);
        anyhow::ensure!(
            python_base_present(),
            "scenario django-python needs {} in the store {} (make it with examples/quickstart.sh)",
            scenarios::PYTHON_BASE,
            main.display()
        );
        copy_image(&main, &dir.join("store"), scenarios::PYTHON_BASE)?;
    }
    let mut peers = Vec::new();
    if !scenario.strata_only.is_empty() && !wanted.is_empty() {
        note = Some("peers skipped: this scenario needs a strata-only base and secret".into());
    } else {
        for name in wanted {
            peers.push(Peer::start(name, dir, &archives)?);
        }
    }
    let project = dir.join("project");
    scenarios::write_project(scenario, &project, trees)?;
    let mut build_args = BTreeMap::new();
    let mut builds = Vec::new();
    for step in &scenario.steps {
        scenarios::apply(&step.edit, &project, &mut build_args)?;
        let spec = BuildSpec {
            context: project.clone(),
            dockerfile: None,
            build_args: build_args.clone(),
            tag: format!("strata-bench/{}:latest", scenario.name),
            extra: scenario.strata_only.clone(),
        };
        let predicted = match predict_check {
            true => Some(predict_now(&dir.join("store"), &spec)?),
            false => None,
        };
        let mut result = strata.build(step.label, &spec)?;
        if let Some((ms, steps)) = predicted {
            result.prediction = Some(PredictCheck::new(ms, steps, &result.step_status));
        }
        for peer in &peers {
            let measured = peer.build(&spec, result.wall_ms)?;
            result.peers.insert(peer.name().to_string(), measured);
        }
        builds.push(result);
    }
    Ok(ScenarioResult {
        name: scenario.name.to_string(),
        about: scenario.about.clone(),
        peers: peers.iter().map(|p| p.name().to_string()).collect(),
        note,
        builds,
    })
}

/// Predicts a build on the store `root` from scratch (only the records
/// count, not earlier predictions): the time in ms and each step's status.
fn predict_now(root: &Path, spec: &BuildSpec) -> Result<(f64, Vec<(String, String)>)> {
    let started = Instant::now();
    let store = Store::open(root).with_context(|| format!("opening {}", root.display()))?;
    let records = strata_cache::RecordStore::open(root.join("cache-v1"))?;
    let layer = crate::cmd::buildopts::layer_options("gzip")?;
    let media = strata_layer::media_type(layer.compression).to_string();
    let mut predictor = Predictor::new(&records, &media);
    let (_, prediction) = predict(&store, spec, &mut predictor)?;
    Ok((
        started.elapsed().as_secs_f64() * 1000.0,
        statuses(&prediction),
    ))
}

/// Copies an image from one store to another through an OCI archive.
fn copy_image(from: &Path, to: &Path, name: &str) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let ctx = tmp.path().join("ctx");
    std::fs::create_dir_all(&ctx)?;
    std::fs::write(ctx.join("Dockerfile"), format!("FROM {name}\n"))?;
    let archive = tmp.path().join("image.tar");
    let exe = std::env::current_exe()?;
    super::run_ok(
        std::process::Command::new(&exe)
            .arg("--root")
            .arg(from)
            .args(["build", "--progress=quiet", "-o"])
            .arg(format!("type=oci,dest={},name={name}", archive.display()))
            .arg(&ctx),
    )?;
    super::run_ok(
        std::process::Command::new(&exe)
            .arg("--root")
            .arg(to)
            .args(["load", "-i"])
            .arg(&archive),
    )?;
    Ok(())
}

/// Whether the default store has the Django example's python base.
fn python_base_present() -> bool {
    Store::open(strata_store::select_root(None))
        .ok()
        .and_then(|store| store.resolve(scenarios::PYTHON_BASE).ok().flatten())
        .is_some()
}
