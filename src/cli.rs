//! Command-line definitions.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// strata: build OCI images from Dockerfiles, daemonless, with a
/// content-addressed cache that reruns only what an edit invalidated.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, long_about = None)]
pub struct Cli {
    /// The store (an OCI image layout plus the cache). Default: $STRATA_ROOT,
    /// /var/lib/strata as root, else $XDG_DATA_HOME/strata.
    #[arg(long, global = true, env = "STRATA_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image from a Dockerfile and a context.
    Build(BuildArgs),
}

/// What `--print` shows instead of building.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrintMode {
    /// The build plan (stages and expanded steps), as readable text.
    Plan,
}

/// `strata build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The build context directory.
    pub context: PathBuf,

    /// The Dockerfile (default: CONTEXT/Dockerfile); `-` reads it from stdin.
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<String>,

    /// Set a build-time variable (`KEY=VALUE`, or `KEY` to take it from the environment).
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    pub build_args: Vec<String>,

    /// The stage to build (default: the last one).
    #[arg(long)]
    pub target: Option<String>,

    /// Print the plan instead of building.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub print: Option<PrintMode>,
}
