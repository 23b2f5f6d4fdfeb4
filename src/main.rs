//! The `strata` command line.

mod cli;
mod isolate;
mod progress;
mod cmd {
    pub mod annotations;
    pub mod bench;
    pub mod build;
    pub mod build_check;
    pub mod buildopts;
    pub mod buildx;
    pub mod cache;
    pub mod cache_share;
    pub mod docker_archive;
    pub mod images;
    pub mod load;
    pub mod output;
    pub mod registry;
    pub mod remote;
    pub mod report;
    pub mod subrequest;
}

use anyhow::{Context, Result};
use clap::Parser;
use std::process::ExitCode;
use strata_store::Store;

fn open_store(cli: &cli::Cli) -> Result<Store> {
    let root = strata_store::select_root(cli.root.clone());
    Store::open(&root).with_context(|| format!("opening the store at {}", root.display()))
}

fn run(cli: &cli::Cli) -> Result<ExitCode> {
    use cli::Command;
    match &cli.command {
        Command::Build(args) => match cmd::subrequest::Call::of(args)? {
            Some(call) => return cmd::subrequest::run(args, cli, call),
            None => cmd::build::run(args, cli)?,
        },
        Command::Pull(args) => {
            let store = open_store(cli)?;
            // New blobs stay safe from a concurrent prune until tagged.
            let _lease = store.lease()?;
            cmd::registry::pull_cmd(args, cli, &store)?
        }
        Command::Push(args) => cmd::registry::push_cmd(args, cli, &open_store(cli)?)?,
        Command::Images(args) => cmd::images::images(args, &open_store(cli)?)?,
        Command::Rmi(args) => cmd::images::rmi(args, &open_store(cli)?)?,
        Command::Tag(args) => cmd::images::tag(args, &open_store(cli)?)?,
        Command::Import(args) => {
            let store = open_store(cli)?;
            let _lease = store.lease()?;
            cmd::images::import(args, &store)?
        }
        Command::Load(args) => {
            let store = open_store(cli)?;
            let _lease = store.lease()?;
            cmd::load::run(args, &store)?
        }
        Command::Cache(command) => {
            if !cmd::cache::run(command, &open_store(cli)?)? {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Bench(cli::BenchCommand::Scenario(args)) => cmd::bench::scenario(args, cli)?,
        Command::Bench(cli::BenchCommand::Replay(args)) => cmd::bench::replay(args, cli)?,
        Command::Store(cli::StoreCommand::Check) => {
            if !cmd::images::check(&open_store(cli)?)? {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let mut cli = cli::Cli::parse();
    if let cli::Command::Build(args) = &mut cli.command
        && let Err(err) = cmd::buildx::normalize(args)
    {
        eprintln!("error: {err:#}");
        return ExitCode::FAILURE;
    }
    match run(&cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
