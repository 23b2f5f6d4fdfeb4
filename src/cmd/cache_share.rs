//! `--cache-to` and `--cache-from`: parsing buildx's specs, importing
//! caches before the solve (a cache that cannot be read is a warning, as
//! with buildx) and exporting after it (a failed export fails the build
//! unless `ignore-error=true`).

use crate::cmd::buildopts::key_values;
use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use strata_builder::progress::{Event, ProgressSink};
use strata_builder::solve::SolveOutput;
use strata_builder::state::LayerRef;
use strata_cache::RecordStore;
use strata_cache_remote::{CacheImport, Mode, build_artifact, export_local, export_registry};
use strata_plan::{ImageSource, Plan};
use strata_registry::{Client, Reference};
use strata_store::{Digest, Store};

/// Where a cache is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `type=registry,ref=REF`.
    Registry(String),
    /// `type=local,dest=DIR` / `type=local,src=DIR`.
    Local(PathBuf),
}

/// One `--cache-to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheTo {
    /// Where.
    pub location: Location,
    /// `mode=min|max`.
    pub mode: Mode,
    /// `mounts=true`: pack the cache mounts the build used.
    pub mounts: bool,
    /// `ignore-error=true`: a failed export is a warning.
    pub ignore_error: bool,
}

fn bool_value(spec: &str, key: &str, v: &str) -> Result<bool> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => bail!("{spec:?}: {key} must be true or false"),
    }
}

fn unsupported_type(flag: &str, kind: &str) -> anyhow::Error {
    anyhow::anyhow!("{flag} type={kind}: not supported (use type=registry or type=local)")
}

/// Parses `--cache-to`.
pub fn parse_to(spec: &str) -> Result<CacheTo> {
    let mut kind = None;
    let (mut reference, mut dest) = (None, None);
    let mut to = CacheTo {
        location: Location::Local(PathBuf::new()),
        mode: Mode::Min,
        mounts: false,
        ignore_error: false,
    };
    for (k, v) in key_values(spec)? {
        match k.as_str() {
            "type" => kind = Some(v),
            "ref" => reference = Some(v),
            "dest" => dest = Some(v),
            "mode" => {
                to.mode = match v.as_str() {
                    "min" => Mode::Min,
                    "max" => Mode::Max,
                    _ => bail!("--cache-to {spec:?}: mode must be min or max"),
                }
            }
            "mounts" => to.mounts = bool_value(spec, "mounts", &v)?,
            "ignore-error" => to.ignore_error = bool_value(spec, "ignore-error", &v)?,
            other => bail!("--cache-to {spec:?}: unknown or unsupported key {other:?}"),
        }
    }
    to.location = match kind.as_deref() {
        Some("registry") => Location::Registry(
            reference.with_context(|| format!("--cache-to {spec:?}: ref= is required"))?,
        ),
        Some("local") => Location::Local(PathBuf::from(
            dest.with_context(|| format!("--cache-to {spec:?}: dest= is required"))?,
        )),
        Some(other) => return Err(unsupported_type("--cache-to", other)),
        None => bail!("--cache-to {spec:?}: type= is required (registry or local)"),
    };
    Ok(to)
}

/// Parses `--cache-from` (a bare reference means `type=registry`).
pub fn parse_from(spec: &str) -> Result<Location> {
    if !spec.contains('=') {
        return Ok(Location::Registry(spec.to_string()));
    }
    let (mut kind, mut reference, mut src) = (None, None, None);
    for (k, v) in key_values(spec)? {
        match k.as_str() {
            "type" => kind = Some(v),
            "ref" => reference = Some(v),
            "src" => src = Some(v),
            other => bail!("--cache-from {spec:?}: unknown or unsupported key {other:?}"),
        }
    }
    match kind.as_deref().unwrap_or("registry") {
        "registry" => {
            Ok(Location::Registry(reference.with_context(|| {
                format!("--cache-from {spec:?}: ref= is required")
            })?))
        }
        "local" => Ok(Location::Local(PathBuf::from(src.with_context(|| {
            format!("--cache-from {spec:?}: src= is required")
        })?))),
        other => Err(unsupported_type("--cache-from", other)),
    }
}

/// Reads every `--cache-from` (records only); `None` when none was given.
pub fn import(
    locations: &[Location],
    store: &Store,
    client: &dyn Fn() -> Result<Client>,
    progress: &dyn ProgressSink,
) -> Option<Arc<CacheImport>> {
    if locations.is_empty() {
        return None;
    }
    let mut import = CacheImport::new(store.clone());
    for location in locations {
        let added = match location {
            Location::Local(dir) => import.add_local(dir).map_err(anyhow::Error::from),
            Location::Registry(r) => Reference::parse(r)
                .with_context(|| format!("invalid reference {r:?}"))
                .and_then(|r| Ok(import.add_registry(&client()?, &r)?)),
        };
        match added {
            Ok(n) => progress.event(Event::Note(format!(
                "importing cache from {}: {n} records",
                describe(location)
            ))),
            Err(e) => progress.event(Event::Warning(format!(
                "cannot import cache from {}: {e:#}",
                describe(location)
            ))),
        }
    }
    Some(Arc::new(import))
}

fn describe(location: &Location) -> String {
    match location {
        Location::Registry(r) => r.clone(),
        Location::Local(dir) => dir.display().to_string(),
    }
}

/// After the solve: brings the final image's layers into the store (from
/// the imported caches when a step hit there) and keeps the records that
/// hit there, so the next build needs no `--cache-from`.
pub fn settle(import: &CacheImport, layers: &[LayerRef], records: &RecordStore) -> Result<()> {
    for layer in layers {
        let digest: Digest = layer
            .blob
            .digest
            .parse()
            .with_context(|| format!("layer {}", layer.blob.digest))?;
        import
            .fetch(&digest)
            .with_context(|| format!("fetching layer {digest} from an imported cache"))?;
    }
    import.adopt_hits(records)?;
    Ok(())
}

/// The stages whose steps `mode=min` exports: the target and the stages
/// it is based on.
fn final_stages(plan: &Plan) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    let mut id = Some(plan.target);
    while let Some(current) = id {
        if !out.insert(current.0) {
            break;
        }
        id = match plan.stage(current).map(|s| &s.base) {
            Some(ImageSource::Stage(parent)) => Some(*parent),
            _ => None,
        };
    }
    out
}

/// Everything an export needs from the build.
pub struct ExportInput<'a> {
    /// The store.
    pub store: &'a Store,
    /// The local records.
    pub records: &'a RecordStore,
    /// The imported caches, if any.
    pub import: Option<&'a CacheImport>,
    /// The plan.
    pub plan: &'a Plan,
    /// The solve's result.
    pub solved: &'a SolveOutput,
    /// The layer media type the build used.
    pub media_type: &'a str,
    /// Cache-mount layers to include when `mounts=true`.
    pub mounts: &'a dyn Fn() -> Result<Vec<strata_cache_remote::MountLayer>>,
}

/// Writes one `--cache-to`.
pub fn export(
    to: &CacheTo,
    input: &ExportInput<'_>,
    client: &dyn Fn() -> Result<Client>,
    progress: &dyn ProgressSink,
) -> Result<()> {
    match export_one(to, input, client) {
        Ok(note) => {
            progress.event(Event::Note(note));
            Ok(())
        }
        Err(e) if to.ignore_error => {
            progress.event(Event::Warning(format!(
                "cache export to {} failed (ignored): {e:#}",
                describe(&to.location)
            )));
            Ok(())
        }
        Err(e) => Err(e.context(format!("exporting cache to {}", describe(&to.location)))),
    }
}

fn export_one(
    to: &CacheTo,
    input: &ExportInput<'_>,
    client: &dyn Fn() -> Result<Client>,
) -> Result<String> {
    let stages = final_stages(input.plan);
    let mut records = Vec::new();
    for step in &input.solved.steps {
        if to.mode == Mode::Min && !stages.contains(&step.step.stage) {
            continue;
        }
        let Some(key) = &step.key else { continue };
        let record = match input.records.get(key)? {
            Some(r) => Some(r),
            None => input.import.and_then(|i| i.record(key).cloned()),
        };
        records.extend(record);
    }
    let mounts = if to.mounts {
        (input.mounts)()?
    } else {
        Vec::new()
    };
    let artifact = build_artifact(input.store, &records, &mounts, input.media_type)?;
    let what = match &to.location {
        Location::Local(dir) => {
            export_local(input.store, &artifact, dir, input.import)?;
            dir.display().to_string()
        }
        Location::Registry(r) => {
            let dest = Reference::parse(r).with_context(|| format!("invalid reference {r:?}"))?;
            let report = export_registry(input.store, &artifact, &client()?, &dest, input.import)?;
            format!(
                "{dest} ({} blobs uploaded, {} already there)",
                report.uploaded.len(),
                report.existing.len() + report.mounted.len()
            )
        }
    };
    Ok(format!(
        "exported cache to {what}: {} records, {} layers{}",
        artifact.records,
        artifact.layers.len(),
        if mounts.is_empty() {
            String::new()
        } else {
            format!(", {} cache mounts", mounts.len())
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_like_buildx() {
        assert_eq!(
            parse_to("type=registry,ref=127.0.0.1:5000/c:1,mode=max").unwrap(),
            CacheTo {
                location: Location::Registry("127.0.0.1:5000/c:1".into()),
                mode: Mode::Max,
                mounts: false,
                ignore_error: false,
            }
        );
        let local = parse_to("type=local,dest=d,mounts=true,ignore-error=true").unwrap();
        assert_eq!(local.location, Location::Local("d".into()));
        assert_eq!(local.mode, Mode::Min);
        assert!(local.mounts && local.ignore_error);
        assert_eq!(
            parse_from("type=local,src=d").unwrap(),
            Location::Local("d".into())
        );
        assert_eq!(
            parse_from("r/c:1").unwrap(),
            Location::Registry("r/c:1".into())
        );
        for bad in [
            "type=gha",
            "type=inline",
            "type=local",
            "type=registry",
            "type=local,dest=d,mode=all",
            "type=local,dest=d,compression=zstd",
        ] {
            assert!(parse_to(bad).is_err(), "{bad}");
        }
        assert!(
            parse_to("type=s3,ref=x")
                .unwrap_err()
                .to_string()
                .contains("type=s3")
        );
        assert!(parse_from("type=local,dest=d").is_err());
    }
}
