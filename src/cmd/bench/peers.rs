//! Other builders run side by side with strata, in the same run, on the
//! same base image and the same project: buildah (its own storage under
//! the work directory) and docker (dockerd with BuildKit; its build cache
//! is pruned first so the first build is cold).

use super::base::{BASE, BaseArchives};
use super::{BuildSpec, PeerResult, have_tool, run_ok};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The docker client to use: `$STRATA_BENCH_DOCKER`, else `docker`. The
/// client must build with BuildKit: one with buildx, or docker 20.10–22
/// (where `DOCKER_BUILDKIT=1` selects it).
fn docker_bin() -> String {
    std::env::var("STRATA_BENCH_DOCKER").unwrap_or_else(|_| "docker".into())
}

/// Whether a peer can run here (installed, and for docker a daemon answers).
pub fn available(name: &str) -> bool {
    match name {
        "buildah" => have_tool("buildah"),
        "docker" => {
            let bin = docker_bin();
            (bin.contains('/') || have_tool(&bin))
                && Command::new(&bin)
                    .args(["info", "--format", "{{.ServerVersion}}"])
                    .output()
                    .is_ok_and(|o| o.status.success())
        }
        _ => false,
    }
}

/// A peer builder, ready with the base image.
#[derive(Debug)]
pub enum Peer {
    /// buildah with its own storage.
    Buildah {
        /// `--root`.
        root: PathBuf,
        /// `--runroot`.
        runroot: PathBuf,
    },
    /// docker with BuildKit.
    Docker {
        /// The client.
        bin: String,
    },
}

impl Peer {
    /// Prepares `name`: fresh storage or cache, base image loaded.
    pub fn start(name: &str, work: &Path, base: &BaseArchives) -> Result<Peer> {
        let peer = match name {
            "buildah" => Peer::Buildah {
                root: work.join("buildah-root"),
                runroot: work.join("buildah-run"),
            },
            _ => Peer::Docker { bin: docker_bin() },
        };
        match &peer {
            Peer::Buildah { .. } => {
                let out = run_ok(
                    peer.command()
                        .arg("pull")
                        .arg("--quiet")
                        .arg(format!("oci-archive:{}", base.oci.display())),
                )
                .context("loading the base image into buildah")?;
                let id = out.lines().last().unwrap_or_default().trim().to_string();
                run_ok(peer.command().args(["tag", &id, BASE]))?;
            }
            Peer::Docker { .. } => {
                run_ok(
                    peer.command()
                        .args(["builder", "prune", "--all", "--force"]),
                )
                .context("pruning docker's build cache")?;
                run_ok(peer.command().arg("load").arg("-i").arg(&base.docker))
                    .context("loading the base image into docker")?;
            }
        }
        Ok(peer)
    }

    /// Its name in tables.
    pub fn name(&self) -> &'static str {
        match self {
            Peer::Buildah { .. } => "buildah",
            Peer::Docker { .. } => "docker",
        }
    }

    fn command(&self) -> Command {
        match self {
            Peer::Buildah { root, runroot } => {
                let mut cmd = Command::new("buildah");
                cmd.arg("--root")
                    .arg(root)
                    .arg("--runroot")
                    .arg(runroot)
                    .arg("--storage-driver")
                    .arg("overlay");
                cmd
            }
            Peer::Docker { bin } => {
                let mut cmd = Command::new(bin);
                cmd.env("DOCKER_BUILDKIT", "1");
                cmd
            }
        }
    }

    /// Builds `spec` and times it; `strata_ms` gives the ratio.
    pub fn build(&self, spec: &BuildSpec, strata_ms: f64) -> Result<PeerResult> {
        let mut cmd = self.command();
        match self {
            Peer::Buildah { .. } => {
                cmd.args(["bud", "--layers", "--network=host", "--pull=never"]);
            }
            Peer::Docker { .. } => {
                cmd.args(["build", "--network=host", "--progress=plain"]);
            }
        }
        cmd.arg("-t").arg(&spec.tag);
        if let Some(file) = &spec.dockerfile {
            cmd.arg("-f").arg(file);
        }
        for (k, v) in &spec.build_args {
            cmd.arg("--build-arg").arg(format!("{k}={v}"));
        }
        cmd.arg(&spec.context);
        let started = Instant::now();
        let out = cmd
            .output()
            .with_context(|| format!("running {}", self.name()))?;
        let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
        if !out.status.success() {
            anyhow::bail!(
                "{} build failed: {}",
                self.name(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cached = match self {
            Peer::Buildah { .. } => text.lines().filter(|l| l.contains("Using cache")).count(),
            Peer::Docker { .. } => text
                .lines()
                .filter(|l| l.starts_with('#') && l.trim_end().ends_with(" CACHED"))
                .count(),
        };
        Ok(PeerResult {
            wall_ms,
            cached: Some(cached),
            ratio: strata_ms / wall_ms,
        })
    }
}
