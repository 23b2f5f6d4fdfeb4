//! `strata pull`, `strata push`, and the registry client every command
//! shares.

use crate::cli::{Cli, PullArgs, PushArgs};
use anyhow::{Context, Result};
use strata_builder::convert::convert_image;
use strata_builder::image::store_name;
use strata_layer::Compression;
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

/// Pushes the store's image `name` to `destination`, its layers first
/// recompressed when `compression` is given (a blob already in that
/// compression, or converted by an earlier push, is not compressed again).
pub fn push(
    store: &Store,
    name: &str,
    destination: &str,
    compression: Option<Compression>,
    client: &dyn Fn() -> Result<Client>,
) -> Result<()> {
    let dest = Reference::parse(destination)
        .with_context(|| format!("invalid reference {destination:?}"))?;
    let tag = store_name(name);
    let desc = store
        .resolve(&tag)?
        .with_context(|| format!("no image {tag} in the store"))?;
    let desc = match compression {
        Some(c) => convert_image(store, &desc, c, None)
            .with_context(|| format!("recompressing {tag} for the push"))?,
        None => desc,
    };
    let report = client()?
        .push(store, &desc, &dest, &PushOptions::default(), &no_progress)
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
    let compression = args
        .compression
        .as_deref()
        .map(crate::cmd::output::parse_compression)
        .transpose()?;
    push(store, &args.name, dest, compression, &|| {
        client(&cli.insecure_registries)
    })
}
