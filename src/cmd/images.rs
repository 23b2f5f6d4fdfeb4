//! `strata images`, `rmi`, `tag`, `import` and `store check`.

use crate::cli::{ImagesArgs, ImportArgs, RmiArgs, TagArgs};
use anyhow::{Context, Result, bail};
use std::io::Read;
use strata_builder::image::{load_image, store_name, tag_image, write_image};
use strata_builder::image_config::{History, StageConfig};
use strata_builder::layer_blob::store_layer;
use strata_builder::solve::scratch_config;
use strata_builder::time::rfc3339;
use strata_layer::{Compression, LayerSource, WriteOptions};
use strata_plan::StepKind;
use strata_store::{Digest, Store};

/// `strata images`.
pub fn images(args: &ImagesArgs, store: &Store) -> Result<()> {
    let mut rows = Vec::new();
    for (name, desc) in store.tags()? {
        let image = load_image(store, &name).ok().flatten();
        let (id, size, created) = match &image {
            Some(img) => {
                let size: u64 = img.layers.iter().map(|l| l.blob.size).sum();
                let id = config_digest(store, &desc.digest).unwrap_or_default();
                (id, size, img.config.created.clone().unwrap_or_default())
            }
            None => (String::new(), desc.size, String::new()),
        };
        rows.push((name, desc.digest.to_string(), id, size, created));
    }
    if args.quiet {
        for r in &rows {
            println!("{}", r.1);
        }
    } else if args.json {
        for (name, digest, id, size, created) in &rows {
            let v = serde_json::json!({
                "name": name, "digest": digest, "id": id, "size": size, "created": created,
            });
            println!("{v}");
        }
    } else {
        println!("{:<40} {:<19} {:>10}  CREATED", "NAME", "ID", "SIZE");
        for (name, _digest, id, size, created) in &rows {
            let short = id.strip_prefix("sha256:").unwrap_or(id);
            println!(
                "{:<40} {:<19} {:>10}  {created}",
                name,
                &short[..short.len().min(12)],
                human(*size)
            );
        }
    }
    Ok(())
}

fn config_digest(store: &Store, manifest: &Digest) -> Option<String> {
    let bytes = store.read_blob(manifest).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v["config"]["digest"].as_str().map(str::to_string)
}

/// A byte count for people: `912B`, `1.5kB`, `23.4MB` (decimal units, as
/// docker prints sizes).
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

/// `strata rmi`.
pub fn rmi(args: &RmiArgs, store: &Store) -> Result<()> {
    let mut missing = Vec::new();
    for name in &args.names {
        let name = store_name(name);
        if store.remove_tag(&name)? {
            println!("Untagged: {name}");
        } else {
            missing.push(name);
        }
    }
    if !missing.is_empty() {
        bail!("no such image: {}", missing.join(", "));
    }
    Ok(())
}

/// `strata tag`.
pub fn tag(args: &TagArgs, store: &Store) -> Result<()> {
    let desc = store
        .resolve(&store_name(&args.source))?
        .with_context(|| format!("no such image: {}", args.source))?;
    store.set_tag(&store_name(&args.target), &desc)?;
    Ok(())
}

/// `strata import`: a root filesystem tar becomes a one-layer image.
pub fn import(args: &ImportArgs, store: &Store) -> Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-import-")
        .tempdir_in(store.root())
        .context("creating a temporary directory")?;
    let reader: Box<dyn Read> = if args.file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(&args.file).with_context(|| format!("opening {}", args.file))?)
    };
    let rootfs = tmp.path().join("rootfs");
    std::fs::create_dir(&rootfs).context("creating a temporary directory")?;
    strata_layer::extract(
        std::io::BufReader::new(reader),
        &rootfs,
        strata_layer::ExtractMode::Apply,
        Some(&args.file),
    )
    .with_context(|| format!("unpacking {}", args.file))?;
    let opts = WriteOptions {
        compression: Compression::Gzip { level: 6 },
        source_date_epoch: None,
        threads: 0,
    };
    let layer = store_layer(store, &rootfs, LayerSource::Plain, &opts, |_, _| Ok(()))?.layer;
    let mut config = StageConfig::from_base(scratch_config());
    for change in &args.changes {
        let text = format!("FROM scratch\n{change}\n");
        let plan = strata_dockerfile::lower(&text, &Default::default())
            .with_context(|| format!("--change {change:?}"))?;
        for step in plan.stages.iter().flat_map(|s| &s.steps) {
            match &step.kind {
                StepKind::Config(edit) => config.apply(edit),
                StepKind::Workdir(dir) => {
                    config.set_workdir(dir);
                }
                _ => bail!("--change {change:?}: only configuration instructions are allowed"),
            }
        }
    }
    let mut image = config.image;
    image.created = Some(rfc3339(strata_builder::time::now()));
    image.rootfs.diff_ids = vec![layer.diff_id.clone()];
    image.history = vec![History {
        created: image.created.clone(),
        created_by: Some(format!("strata import {}", args.file)),
        ..Default::default()
    }];
    let blobs = write_image(store, &image, &[layer], &Default::default())?;
    tag_image(store, &blobs, std::slice::from_ref(&args.name))?;
    println!("{}", blobs.config.digest);
    Ok(())
}

/// `strata store check`: exit status 1 when anything is wrong.
pub fn check(store: &Store) -> Result<bool> {
    let report = store.check()?;
    println!("{} blobs verified", report.blobs_checked);
    for c in &report.corrupt {
        println!("corrupt: {} (content hashes to {})", c.digest, c.found);
    }
    for d in &report.dangling {
        let by = d
            .referenced_by
            .as_ref()
            .map_or("index.json".to_string(), |d| d.to_string());
        println!("dangling: {} referenced by {by}", d.descriptor.digest);
    }
    for (d, why) in &report.unreadable {
        println!("unreadable: {d}: {why}");
    }
    for p in &report.stray {
        println!("stray file: {}", p.display());
    }
    for t in report.temp_files.iter().filter(|t| !t.in_use) {
        println!("leftover temp file: {}", t.path.display());
    }
    let clean = report.is_clean();
    println!(
        "{}",
        if clean {
            "store is consistent"
        } else {
            "store has problems"
        }
    );
    Ok(clean)
}
