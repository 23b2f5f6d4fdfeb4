//! `strata pull`, `strata push`, and the registry client every command
//! shares.

use crate::cli::{Cli, PullArgs, PushArgs};
use anyhow::{Context, Result};
use strata_builder::image::store_name;
use strata_registry::{Client, PullOptions, PushOptions, Reference, no_progress};
use strata_store::Store;

/// A client with docker's credentials and the `--insecure-registry` list.
pub fn client(cli_insecure: &[String]) -> Result<Client> {
    let mut builder = Client::builder();
    for host in cli_insecure {
        builder = builder.insecure_registry(host.clone());
    }
    builder.build().context("setting up the registry client")
}

/// Pushes the store's image `name` to `destination`.
pub fn push(
    store: &Store,
    name: &str,
    destination: &str,
    client: &dyn Fn() -> Result<Client>,
) -> Result<()> {
    let dest = Reference::parse(destination)
        .with_context(|| format!("invalid reference {destination:?}"))?;
    let report = client()?
        .push_tag(
            store,
            &store_name(name),
            &dest,
            &PushOptions::default(),
            &no_progress,
        )
        .with_context(|| format!("pushing {dest}"))?;
    eprintln!(
        "pushed {dest}: {} blobs uploaded, {} already there, {} mounted",
        report.uploaded.len(),
        report.existing.len(),
        report.mounted.len()
    );
    if let Some(m) = report.manifest {
        println!("{}", m.digest);
    }
    Ok(())
}

/// `strata pull`.
pub fn pull_cmd(args: &PullArgs, cli: &Cli, store: &Store) -> Result<()> {
    let r = Reference::parse(&args.reference)
        .with_context(|| format!("invalid reference {:?}", args.reference))?;
    let opts = PullOptions {
        tag: false,
        ..Default::default()
    };
    let pulled = client(&cli.insecure_registries)?
        .pull(store, &r, &opts, &no_progress)
        .with_context(|| format!("pulling {r}"))?;
    // The platform's manifest: other platforms of an index are not downloaded.
    store.set_tag(&store_name(&args.reference), &pulled.manifest)?;
    eprintln!(
        "pulled {r}: {} blobs downloaded, {} already in the store",
        pulled.downloaded.len(),
        pulled.present.len()
    );
    println!("{}", pulled.manifest.digest);
    Ok(())
}

/// `strata push`.
pub fn push_cmd(args: &PushArgs, cli: &Cli, store: &Store) -> Result<()> {
    let dest = args.destination.as_deref().unwrap_or(&args.name);
    push(store, &args.name, dest, &|| {
        client(&cli.insecure_registries)
    })
}
