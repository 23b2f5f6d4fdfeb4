//! Parsing of `strata build` flags that need more than clap: secrets,
//! named contexts, entitlements, platform, compression, a context on stdin.

use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use strata_builder::solve::host_architecture;
use strata_builder::worker::NamedContext;
use strata_layer::{Compression, WriteOptions};
use strata_store::Store;

/// `-t`: every name must be an image reference without a digest, checked
/// before anything is built, as buildx and docker do (`invalid tag
/// "App": invalid reference format: repository name (App) must be
/// lowercase`).
pub fn check_tags(tags: &[String]) -> Result<()> {
    for tag in tags {
        let reference = strata_registry::Reference::parse(tag)
            .with_context(|| format!("invalid tag {tag:?}"))?;
        if reference.digest().is_some() {
            bail!("invalid tag {tag:?}: build tag cannot contain a digest");
        }
    }
    Ok(())
}

/// `--platform`: only the host's platform can be built.
pub fn check_platform(platform: Option<&str>) -> Result<()> {
    let Some(platform) = platform else {
        return Ok(());
    };
    let host = format!("linux/{}", host_architecture());
    for p in platform.split(',') {
        let p = p.trim();
        if p != host && p != "local" && p != format!("{host}/") {
            bail!(
                "--platform={p}: only the host's platform ({host}) can be built; \
                 cross-platform builds are not supported yet"
            );
        }
    }
    Ok(())
}

/// `--network`: the network of every RUN that does not choose its own, as
/// BuildKit's forced network mode (a RUN's own `--network=host|none`
/// wins). It is written into the plan, so each step's definition, and
/// with it the cache key, says which network the step had. `host` is the
/// default's network already, so only `none` changes the plan.
pub fn apply_network(plan: &mut strata_plan::Plan, network: &str) {
    use strata_plan::{NetworkMode, StepKind};
    if network != "none" {
        return;
    }
    for stage in &mut plan.stages {
        for step in &mut stage.steps {
            if let StepKind::Run(run) = &mut step.kind
                && run.network == NetworkMode::Default
            {
                run.network = NetworkMode::None;
            }
        }
    }
}

/// `--runtime`: the executor for RUN steps, keeping its scratch dirs in
/// `scratch` (the store's `tmp/`). Without the flag, the built-in one.
pub fn executor(runtime: Option<&str>, scratch: PathBuf) -> Result<Box<dyn strata_exec::Executor>> {
    let Some(runtime) = runtime else {
        return Ok(Box::new(strata_exec::NamespaceExecutor::with_scratch_root(
            scratch,
        )));
    };
    let binary = find_executable(runtime).with_context(|| {
        format!("--runtime {runtime}: no such executable (install it, or give its path)")
    })?;
    Ok(Box::new(
        strata_exec::RuncExecutor::new(binary).with_scratch_root(scratch),
    ))
}

/// `name` looked up in `PATH` (or used as is when it has a `/`), when it
/// is an executable file.
fn find_executable(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exe = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        let path = PathBuf::from(name);
        return is_exe(&path).then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_exe(p))
}

/// Splits `k=v,k=v` (values may not contain commas).
pub fn key_values(spec: &str) -> Result<Vec<(String, String)>> {
    spec.split(',')
        .filter(|p| !p.is_empty())
        .map(|part| match part.split_once('=') {
            Some((k, v)) => Ok((k.trim().to_string(), v.to_string())),
            None => bail!("invalid {spec:?}: expected key=value, got {part:?}"),
        })
        .collect()
}

/// `--ssh default|ID[=SOCKET]`: SSH agent sockets by id. Without a path,
/// `$SSH_AUTH_SOCK`. Private key files (buildx loads them into an agent of
/// its own) are refused with a way out: an agent holding the key.
pub fn ssh_agents(specs: &[String]) -> Result<BTreeMap<String, PathBuf>> {
    use std::os::unix::fs::FileTypeExt;
    let mut out = BTreeMap::new();
    for spec in specs {
        let (id, paths) = match spec.split_once('=') {
            Some((id, paths)) => (id, paths),
            None => (spec.as_str(), ""),
        };
        if id.is_empty() {
            bail!("--ssh {spec:?}: the id is empty");
        }
        let path = if paths.is_empty() {
            std::env::var_os("SSH_AUTH_SOCK")
                .map(PathBuf::from)
                .with_context(|| {
                    format!("--ssh {id}: no socket given and SSH_AUTH_SOCK is not set")
                })?
        } else if paths.contains(',') {
            bail!(
                "--ssh {id}={paths}: several keys for one id are not supported; load them into an ssh-agent and pass its socket"
            );
        } else {
            PathBuf::from(paths)
        };
        let md =
            std::fs::metadata(&path).with_context(|| format!("--ssh {id}: {}", path.display()))?;
        if !md.file_type().is_socket() {
            bail!(
                "--ssh {id}={}: private key files are not supported; run ssh-agent, ssh-add the key, and pass --ssh {id}=$SSH_AUTH_SOCK",
                path.display()
            );
        }
        out.insert(id.to_string(), path);
    }
    Ok(out)
}

/// `--secret id=ID[,src=FILE|,source=FILE|,env=VAR][,type=file|env]`: the
/// value is read now and kept in memory only.
pub fn secrets(specs: &[String]) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let mut id = None;
        let mut src = None;
        let mut env = None;
        let mut kind = None;
        for (k, v) in key_values(spec)? {
            match k.as_str() {
                "id" => id = Some(v),
                "src" | "source" => src = Some(v),
                "env" => env = Some(v),
                "type" => kind = Some(v),
                other => bail!("--secret {spec:?}: unknown key {other:?}"),
            }
        }
        let Some(id) = id.or_else(|| env.clone()).or_else(|| src.clone()) else {
            bail!("--secret {spec:?}: id is required");
        };
        let value = match (kind.as_deref(), src, env) {
            (Some("env"), src, env) => {
                let var = env.or(src).unwrap_or_else(|| id.clone());
                std::env::var(&var)
                    .with_context(|| {
                        format!("--secret {id}: environment variable {var} is not set")
                    })?
                    .into_bytes()
            }
            (_, Some(path), _) => {
                std::fs::read(&path).with_context(|| format!("--secret {id}: reading {path}"))?
            }
            (_, None, Some(var)) => std::env::var(&var)
                .with_context(|| format!("--secret {id}: environment variable {var} is not set"))?
                .into_bytes(),
            (_, None, None) => match std::env::var(&id) {
                Ok(v) => v.into_bytes(),
                Err(_) => bail!("--secret {id}: give src=FILE or env=VAR"),
            },
        };
        out.insert(id, value);
    }
    Ok(out)
}

/// `--allow`: entitlements.
pub fn allow_insecure(allow: &[String]) -> Result<bool> {
    let mut insecure = false;
    for a in allow {
        match a.as_str() {
            "security.insecure" => insecure = true,
            "network.host" => {}
            other => bail!(
                "--allow {other}: unknown entitlement (known: security.insecure, network.host)"
            ),
        }
    }
    Ok(insecure)
}

/// `--compression` and `SOURCE_DATE_EPOCH`.
pub fn layer_options(compression: &str) -> Result<WriteOptions> {
    let compression = match compression {
        "gzip" => Compression::Gzip { level: 6 },
        "zstd" => Compression::Zstd { level: 3 },
        other => bail!("--compression {other}: expected gzip or zstd"),
    };
    let source_date_epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => Some(
            v.parse::<i64>()
                .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds"))?,
        ),
        _ => None,
    };
    Ok(WriteOptions {
        compression,
        source_date_epoch,
        threads: 0,
    })
}

/// `--build-context NAME=DIR|docker-image://REF|oci-layout://PATH[:TAG|@DIGEST]|URL`,
/// keyed as the Dockerfile's names are looked up (`alpine:latest` is
/// `alpine`). OCI layouts are loaded into the store (when one is given)
/// and used as images from there; git and HTTP URLs are fetched by
/// `remotes` and used as directories.
pub fn named_contexts(
    specs: &[String],
    store: Option<&Store>,
    remotes: &mut crate::cmd::remote::NamedRemotes<'_>,
) -> Result<BTreeMap<String, NamedContext>> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let Some((name, source)) = spec.split_once('=') else {
            bail!("--build-context {spec:?}: expected NAME=SOURCE");
        };
        if name.is_empty() {
            bail!("--build-context {spec:?}: the name is empty");
        }
        let key = strata_dockerfile::lower::context_key(name);
        let context = if let Some(reference) = source.strip_prefix("docker-image://") {
            NamedContext::Image(reference.to_string())
        } else if let Some(layout) = source.strip_prefix("oci-layout://") {
            let (path, selector) = layout_selector(layout);
            let name_in_store = format!("strata-build-context/{}:latest", store_safe(&key));
            if let Some(store) = store {
                crate::cmd::load::load_layout_image(
                    store,
                    Path::new(path),
                    selector,
                    &name_in_store,
                )
                .with_context(|| format!("--build-context {name}={source}"))?;
            }
            NamedContext::Image(name_in_store)
        } else if let Some(path) = remotes.fetch(name, source)? {
            // BuildKit applies no .dockerignore to a remote context.
            NamedContext::Dir {
                path,
                ignore: Vec::new(),
            }
        } else if source.contains("://") {
            bail!(
                "--build-context {name}={source}: unsupported source (use a directory, docker-image://, oci-layout://, git:// or http(s)://)"
            );
        } else {
            let path = std::path::absolute(source)
                .with_context(|| format!("--build-context {name}={source}"))?;
            if !path.is_dir() {
                bail!("--build-context {name}={source}: not a directory");
            }
            let ignore = crate::cmd::build::read_ignore_rules(&path, None)?;
            NamedContext::Dir { path, ignore }
        };
        out.insert(key, context);
    }
    Ok(out)
}

/// `PATH`, `PATH:TAG` or `PATH@sha256:…` of an `oci-layout://` context.
fn layout_selector(layout: &str) -> (&str, Option<&str>) {
    if let Some((path, digest)) = layout.rsplit_once('@')
        && digest.starts_with("sha256:")
    {
        return (path, Some(digest));
    }
    match layout.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') => (path, Some(tag)),
        _ => (layout, None),
    }
}

/// A context key as a repository name component (`alpine:3.19` →
/// `alpine-3.19`).
fn store_safe(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '-',
        })
        .collect()
}

/// `strata build -`: stdin holds a context tar (plain, gzip or zstd), or,
/// as with `docker build -`, a Dockerfile and no context.
pub fn context_from_stdin() -> Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix("strata-context-")
        .tempdir()
        .context("creating a directory for the context")?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)
        .context("reading the context from stdin")?;
    if strata_builder::worker::looks_like_tar(&bytes[..]) {
        strata_layer::extract(
            &bytes[..],
            dir.path(),
            strata_layer::ExtractMode::Apply,
            Some("context from stdin"),
        )
        .context("unpacking the context tar from stdin")?;
    } else {
        std::fs::write(dir.path().join("Dockerfile"), &bytes)
            .context("writing the Dockerfile from stdin")?;
    }
    Ok(dir)
}
