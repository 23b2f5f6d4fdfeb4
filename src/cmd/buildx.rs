//! `docker buildx build`'s flags, environment and special build args that
//! strata answers with its own behaviour, or refuses by name: CI scripts
//! written for buildx either work the same or fail with a clear reason,
//! never with a flag accepted and ignored.

use crate::cli::BuildArgs;
use anyhow::{Context, Result, bail};
use strata_plan::{Plan, RunSandbox, StepKind, Ulimit};

/// Checks what strata cannot do and folds `--call` into the flags
/// (`--call=check` is `--check`). Run before anything else of a build.
pub fn normalize(args: &mut BuildArgs) -> Result<()> {
    if let Some(spec) = &args.call {
        let call = crate::cmd::subrequest::Call::parse(spec)?;
        use crate::cmd::subrequest::Method;
        match call.method {
            Method::Check => args.check = true,
            Method::Outline | Method::Targets if args.check => {
                bail!("--check and --call={spec} ask for different answers; give one of them")
            }
            _ => {}
        }
        if call.method != Method::Build && args.print.is_some() {
            bail!("--print and --call={spec} ask for different answers; give one of them");
        }
    }
    refuse_unsupported(args)?;
    attestations(args)?;
    environment(args)?;
    special_build_args(args)
}

fn refuse_unsupported(args: &BuildArgs) -> Result<()> {
    if let Some(parent) = &args.cgroup_parent {
        bail!(
            "--cgroup-parent={parent}: RUN steps cannot be placed in a cgroup of your choice \
             (strata does not manage cgroups)"
        );
    }
    if let Some(builder) = &args.builder {
        bail!(
            "--builder={builder}: strata builds in its own process and has no builder \
             instances; drop the flag (the store is chosen with --root)"
        );
    }
    if !args.rm {
        bail!("--rm=false: strata keeps no intermediate containers to leave behind");
    }
    if let Some(flag) = args.legacy.first_given() {
        bail!(
            "{flag}: a flag of docker's legacy builder, which buildx ignores; strata does not \
             have it (no resource limits, isolation modes or squashing): drop it"
        );
    }
    let llb = matches!(args.print, Some(p) if p != crate::cli::PrintMode::Plan);
    if llb && (!args.add_hosts.is_empty() || args.shm_size.is_some() || !args.ulimits.is_empty()) {
        bail!(
            "--add-host, --shm-size and --ulimit are not encoded into LLB; leave them out of --print"
        );
    }
    Ok(())
}

/// `--attest`, `--provenance`, `--sbom`: strata makes no attestations, so
/// only their `false`/`disabled=true` forms are accepted (what strata does
/// anyway; it adds no default provenance either, as with
/// `BUILDX_NO_DEFAULT_ATTESTATIONS=1`).
fn attestations(args: &BuildArgs) -> Result<()> {
    let shorthand = |kind: &str, value: &Option<String>| -> Option<String> {
        let value = value.as_deref()?;
        Some(match parse_bool(value) {
            Some(on) => format!("type={kind},disabled={}", !on),
            None => format!("type={kind},{value}"),
        })
    };
    let specs = args
        .attest
        .iter()
        .cloned()
        .chain(shorthand("provenance", &args.provenance))
        .chain(shorthand("sbom", &args.sbom));
    for spec in specs {
        let fields =
            crate::cmd::buildopts::key_values(&spec).with_context(|| format!("--attest {spec}"))?;
        let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let Some(kind) = field("type") else {
            bail!("--attest {spec}: type= is required (provenance or sbom)");
        };
        if !matches!(kind.as_str(), "provenance" | "sbom") {
            bail!("--attest {spec}: unknown type {kind:?} (provenance or sbom)");
        }
        if field("disabled").and_then(|v| parse_bool(v)) != Some(true) {
            bail!(
                "--attest {spec}: strata cannot produce {kind} attestations; \
                 use --{kind}=false (or leave the flag out)"
            );
        }
    }
    Ok(())
}

/// The environment variables of docker and buildx that change a build.
fn environment(args: &BuildArgs) -> Result<()> {
    if let Ok(v) = std::env::var("DOCKER_BUILDKIT")
        && parse_bool(&v) == Some(false)
    {
        bail!(
            "DOCKER_BUILDKIT={v} asks for docker's legacy builder; strata builds as BuildKit \
             does (unset it or set it to 1)"
        );
    }
    if args.metadata_file.is_some()
        && let Ok(v) = std::env::var("BUILDX_METADATA_PROVENANCE")
        && !(v == "disabled" || parse_bool(&v) == Some(false))
    {
        bail!(
            "BUILDX_METADATA_PROVENANCE={v}: strata makes no provenance to write into the \
             metadata file (set it to disabled)"
        );
    }
    Ok(())
}

/// Build args BuildKit gives a meaning of its own.
fn special_build_args(args: &BuildArgs) -> Result<()> {
    let build_args = crate::cmd::build::parse_build_args(&args.build_args)?;
    let on = |name: &str| build_args.get(name).and_then(|v| parse_bool(v)) == Some(true);
    if on("BUILDKIT_INLINE_CACHE") {
        bail!(
            "--build-arg BUILDKIT_INLINE_CACHE: inline cache metadata in the image is not \
             supported; share the cache with --cache-to/--cache-from type=registry,ref=REF"
        );
    }
    if on("BUILDKIT_MULTI_PLATFORM") {
        bail!(
            "--build-arg BUILDKIT_MULTI_PLATFORM: strata builds one platform and writes an \
             image manifest, not an index"
        );
    }
    if let Some(ns) = build_args.get("BUILDKIT_CACHE_MOUNT_NS")
        && !ns.is_empty()
    {
        bail!("--build-arg BUILDKIT_CACHE_MOUNT_NS={ns}: cache mount namespaces are not supported");
    }
    Ok(())
}

/// Go's `strconv.ParseBool`, which buildx and BuildKit use.
pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// `--add-host`, `--shm-size`, `--ulimit`.
pub fn sandbox(args: &BuildArgs) -> Result<RunSandbox> {
    Ok(RunSandbox {
        extra_hosts: args
            .add_hosts
            .iter()
            .map(|h| extra_host(h))
            .collect::<Result<_>>()?,
        shm_size: args
            .shm_size
            .as_deref()
            .map(|s| ram_in_bytes(s).with_context(|| format!("--shm-size {s}")))
            .transpose()?
            .filter(|&bytes| bytes > 0),
        ulimits: args
            .ulimits
            .iter()
            .map(|u| ulimit(u))
            .collect::<Result<_>>()?,
    })
}

/// Gives every RUN of the plan the sandbox settings (as BuildKit's
/// frontend puts them into every ExecOp, so into each step's key).
pub fn apply_sandbox(plan: &mut Plan, sandbox: &RunSandbox) {
    if sandbox.is_unset() {
        return;
    }
    for stage in &mut plan.stages {
        for step in &mut stage.steps {
            if let StepKind::Run(run) = &mut step.kind {
                run.sandbox = sandbox.clone();
            }
        }
    }
}

/// Where `host-gateway` points: RUN shares the host's network namespace,
/// so the host is its loopback address.
const HOST_GATEWAY: &str = "127.0.0.1";

/// `NAME=IP` or `NAME:IP` (buildx's forms; IPv6 after `=` or the first
/// `:`), `host-gateway` as the host.
fn extra_host(spec: &str) -> Result<(String, String)> {
    let Some((name, ip)) = spec.split_once('=').or_else(|| spec.split_once(':')) else {
        bail!("--add-host {spec}: expected HOST:IP or HOST=IP");
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        bail!("--add-host {spec}: invalid host name {name:?}");
    }
    let ip = if ip == "host-gateway" {
        HOST_GATEWAY.to_string()
    } else {
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        let addr: std::net::IpAddr = ip
            .parse()
            .with_context(|| format!("--add-host {spec}: invalid IP address {ip:?}"))?;
        addr.to_string()
    };
    Ok((name.to_string(), ip))
}

/// docker's `RAMInBytes`: a number with an optional binary unit
/// (`64m`, `2g`, `1.5GiB`, `512` bytes).
fn ram_in_bytes(s: &str) -> Result<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite())
        .with_context(|| format!("invalid size {s:?}"))?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let power = match unit {
        "" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => bail!("invalid size {s:?}: unknown unit"),
    };
    Ok((number * 1024f64.powi(power)) as u64)
}

/// `NAME=SOFT[:HARD]` (docker's `ParseUlimit`: a missing hard limit is
/// the soft one, `-1` is unlimited).
fn ulimit(spec: &str) -> Result<Ulimit> {
    let Some((name, limits)) = spec.split_once('=') else {
        bail!("--ulimit {spec}: expected NAME=SOFT[:HARD]");
    };
    if strata_exec::Rlimit::new(name, 0, 0).is_none() {
        let known: Vec<_> = strata_exec::Rlimit::names().collect();
        bail!(
            "--ulimit {spec}: unknown resource {name:?} (one of {})",
            known.join(", ")
        );
    }
    let limit = |v: &str| -> Result<Option<u64>> {
        match v.parse::<i64>() {
            Ok(-1) => Ok(None),
            Ok(n) if n >= 0 => Ok(Some(n as u64)),
            _ => bail!("--ulimit {spec}: invalid limit {v:?}"),
        }
    };
    let (soft, hard) = match limits.split_once(':') {
        Some((soft, hard)) => (limit(soft)?, limit(hard)?),
        None => (limit(limits)?, limit(limits)?),
    };
    if let (Some(s), Some(h)) = (soft, hard)
        && s > h
    {
        bail!("--ulimit {spec}: the soft limit is above the hard limit");
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_binary_units_as_docker() {
        assert_eq!(ram_in_bytes("512").ok(), Some(512));
        assert_eq!(ram_in_bytes("64m").ok(), Some(64 << 20));
        assert_eq!(ram_in_bytes("2GB").ok(), Some(2 << 30));
        assert_eq!(ram_in_bytes("1.5 KiB").ok(), Some(1536));
        assert!(ram_in_bytes("12x").is_err());
        assert!(ram_in_bytes("m").is_err());
    }

    #[test]
    fn hosts_take_both_separators_and_ipv6() {
        assert_eq!(
            extra_host("db:10.0.0.2").ok(),
            Some(("db".into(), "10.0.0.2".into()))
        );
        assert_eq!(extra_host("v6=::1").ok(), Some(("v6".into(), "::1".into())));
        assert_eq!(extra_host("v6:::1").ok(), Some(("v6".into(), "::1".into())));
        assert_eq!(
            extra_host("gw:host-gateway").ok(),
            Some(("gw".into(), HOST_GATEWAY.into()))
        );
        assert!(extra_host("db:not-an-ip").is_err());
        assert!(extra_host("db").is_err());
    }

    #[test]
    fn ulimits_as_docker_parses_them() {
        let u = ulimit("nofile=1024:2048").ok();
        assert_eq!(u.map(|u| (u.soft, u.hard)), Some((Some(1024), Some(2048))));
        let u = ulimit("core=-1").ok();
        assert_eq!(u.map(|u| (u.soft, u.hard)), Some((None, None)));
        assert!(ulimit("nofile=2048:1024").is_err());
        assert!(ulimit("files=1").is_err());
    }
}
