//! `strata bench`: whole-build benchmarks a user can run.
//!
//! - `scenario`: a project plus a scripted sequence of edits, rebuilt by
//!   strata after each edit (and by buildah and docker in the same run
//!   when they are installed), with wall time, hits, bytes written and the
//!   time spent in RUN steps per build;
//! - `replay`: each of the last commits of a git repository, built (or
//!   predicted) in one checkout, with hit rates per commit and per
//!   instruction.
//!
//! strata builds as a child process (`strata build --metadata-file`), so a
//! figure includes everything a user waits for: process start, reading
//! the store, hashing the context, writing the image.

mod base;
mod peers;
mod predict;
mod replay;
mod scenario;
mod scenarios;
mod table;

pub use replay::run as replay;
pub use scenario::run as scenario;

use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// One build of a sequence, by strata.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildResult {
    /// What changed before this build.
    pub label: String,
    /// Wall time of the `strata build` process, in milliseconds.
    pub wall_ms: f64,
    /// Steps with a cache key.
    pub steps: usize,
    /// Of which came from the cache.
    pub cached: usize,
    /// Of which ran.
    pub ran: usize,
    /// `cached / steps` in percent.
    pub hit_rate: f64,
    /// Bytes of blobs the build added to the store.
    pub bytes_written: u64,
    /// Time spent in RUN steps that ran (the process and its layer), ms.
    pub run_ms: u64,
    /// Everything else: `wall_ms - run_ms`.
    pub overhead_ms: f64,
    /// Each step: instruction and `cached`, `ran` or `config`.
    pub step_status: Vec<(String, String)>,
    /// The same build by other builders, by name.
    pub peers: BTreeMap<String, PeerResult>,
    /// With `--predict-check`: the prediction made before the build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction: Option<predict::PredictCheck>,
}

/// One build by a peer (buildah, docker).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerResult {
    /// Wall time of the peer's build command, in milliseconds.
    pub wall_ms: f64,
    /// Steps the peer reported as cached, when its output says.
    pub cached: Option<usize>,
    /// strata's wall time divided by the peer's.
    pub ratio: f64,
}

/// How to run `strata build` as a child.
#[derive(Debug, Clone)]
pub struct Strata {
    exe: PathBuf,
    root: PathBuf,
    scratch: PathBuf,
}

impl Strata {
    /// strata itself (this executable) on the store `root`; metadata
    /// files go to `scratch`.
    pub fn new(root: &Path, scratch: &Path) -> Result<Strata> {
        let exe = std::env::current_exe().context("finding the strata executable")?;
        std::fs::create_dir_all(scratch)
            .with_context(|| format!("creating {}", scratch.display()))?;
        Ok(Strata {
            exe,
            root: root.to_path_buf(),
            scratch: scratch.to_path_buf(),
        })
    }

    /// `strata --root ROOT ARGS…`.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.arg("--root").arg(&self.root);
        cmd
    }

    /// Builds `context` and measures the build.
    pub fn build(&self, label: &str, spec: &BuildSpec) -> Result<BuildResult> {
        let meta = self.scratch.join("metadata.json");
        let before = blob_sizes(&self.root)?;
        let mut cmd = self.command();
        cmd.args(["build", "--progress=plain", "--metadata-file"])
            .arg(&meta)
            .arg("-t")
            .arg(&spec.tag);
        if let Some(file) = &spec.dockerfile {
            cmd.arg("-f").arg(file);
        }
        for (k, v) in &spec.build_args {
            cmd.arg("--build-arg").arg(format!("{k}={v}"));
        }
        cmd.args(&spec.extra).arg(&spec.context);
        let started = Instant::now();
        let out = cmd.output().context("running strata build")?;
        let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
        if !out.status.success() {
            anyhow::bail!(
                "strata build of {} failed ({label}):\n{}",
                spec.context.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let after = blob_sizes(&self.root)?;
        let bytes_written = after
            .iter()
            .filter(|(name, _)| !before.contains_key(*name))
            .map(|(_, size)| size)
            .sum();
        let text = std::fs::read(&meta).with_context(|| format!("reading {}", meta.display()))?;
        let value: serde_json::Value =
            serde_json::from_slice(&text).context("parsing strata's metadata file")?;
        let mut result = BuildResult {
            label: label.to_string(),
            wall_ms,
            steps: 0,
            cached: 0,
            ran: 0,
            hit_rate: 100.0,
            bytes_written,
            run_ms: 0,
            overhead_ms: 0.0,
            step_status: Vec::new(),
            peers: BTreeMap::new(),
            prediction: None,
        };
        for step in value["strata.steps"].as_array().into_iter().flatten() {
            let instruction = step["instruction"].as_str().unwrap_or_default().to_string();
            let status = step["status"].as_str().unwrap_or_default().to_string();
            match status.as_str() {
                "cached" => result.cached += 1,
                "ran" => {
                    result.ran += 1;
                    if instruction.starts_with("RUN") {
                        result.run_ms += step["durationMs"].as_u64().unwrap_or(0);
                    }
                }
                _ => {}
            }
            result.step_status.push((instruction, status));
        }
        result.steps = result.cached + result.ran;
        if result.steps > 0 {
            result.hit_rate = result.cached as f64 * 100.0 / result.steps as f64;
        }
        result.overhead_ms = (wall_ms - result.run_ms as f64).max(0.0);
        Ok(result)
    }
}

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    /// The context directory.
    pub context: PathBuf,
    /// The Dockerfile, if not `CONTEXT/Dockerfile`.
    pub dockerfile: Option<PathBuf>,
    /// `--build-arg`s.
    pub build_args: BTreeMap<String, String>,
    /// The image name.
    pub tag: String,
    /// More `strata build` arguments (not passed to peers).
    pub extra: Vec<String>,
}

/// Blob name → size, for "bytes written".
fn blob_sizes(root: &Path) -> Result<BTreeMap<String, u64>> {
    let dir = root.join("blobs/sha256");
    let mut out = BTreeMap::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        out.insert(entry.file_name().to_string_lossy().into_owned(), size);
    }
    Ok(out)
}

/// A working directory: the one asked for, or a temporary one removed
/// when dropped.
pub struct WorkDir {
    path: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl WorkDir {
    /// `dir`, created if missing, or a new temporary directory in /var/tmp
    /// (on disk, as a user's project would be; not tmpfs).
    pub fn new(dir: Option<&Path>, prefix: &str) -> Result<WorkDir> {
        match dir {
            Some(d) => {
                std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
                Ok(WorkDir {
                    path: std::path::absolute(d)?,
                    _temp: None,
                })
            }
            None => {
                let base = Path::new("/var/tmp");
                let temp = tempfile::Builder::new()
                    .prefix(prefix)
                    .tempdir_in(if base.is_dir() { base } else { Path::new(".") })
                    .context("creating a work directory")?;
                Ok(WorkDir {
                    path: temp.path().to_path_buf(),
                    _temp: Some(temp),
                })
            }
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether `tool` is on PATH.
pub fn have_tool(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let p = dir.join(tool);
            p.is_file()
                && std::fs::metadata(&p).is_ok_and(|m| {
                    use std::os::unix::fs::PermissionsExt;
                    m.permissions().mode() & 0o111 != 0
                })
        })
    })
}

/// Runs a command that must succeed; returns its stdout.
pub fn run_ok(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    if !out.status.success() {
        anyhow::bail!(
            "{:?} failed ({}): {}",
            cmd,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Names of the peers to run: `auto` (installed ones), `none`, or a list.
pub fn select_peers(spec: &str) -> Result<BTreeSet<String>> {
    let known = ["buildah", "docker"];
    match spec {
        "none" => Ok(BTreeSet::new()),
        "auto" => Ok(known
            .iter()
            .filter(|p| peers::available(p))
            .map(|p| p.to_string())
            .collect()),
        list => list
            .split(',')
            .map(|p| {
                let p = p.trim();
                if !known.contains(&p) {
                    anyhow::bail!("--peers: unknown peer {p:?} (buildah, docker)");
                }
                if !peers::available(p) {
                    anyhow::bail!("--peers: {p} is not installed or not running");
                }
                Ok(p.to_string())
            })
            .collect(),
    }
}
