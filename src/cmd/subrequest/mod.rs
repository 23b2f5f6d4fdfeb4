//! buildx's `--call` (and its `--check` shorthand): instead of building,
//! ask the Dockerfile frontend a question, as `docker buildx build
//! --call=…` asks BuildKit's: `check` (the build checks, `frontend.lint`),
//! `outline` (what a target needs: build args, secrets, ssh agents,
//! `frontend.outline`), `targets` (the stages, `frontend.targets`); each
//! in buildx's text or, with `format=json`, in the JSON BuildKit returns.

mod json;
mod lint;
mod outline;
mod tabwriter;
mod targets;

use crate::cli::BuildArgs;
use crate::cmd::build::{self, Dockerfile};
use crate::cmd::remote::{MainContext, NamedRemotes};
use crate::cmd::{build_check, buildopts};
use anyhow::{Context, Result, bail};
use std::process::ExitCode;
use strata_builder::image::{BaseImages, PullPolicy};
use strata_dockerfile::LowerOptions;
use strata_dockerfile::subrequests;
use strata_store::Store;

pub use lint::json as lint_json;

/// What `--call=` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Build (the default).
    Build,
    /// The build checks (`check`, or its older name `lint`).
    Check,
    /// What a target needs.
    Outline,
    /// The stages.
    Targets,
}

/// `--call=METHOD[,format=text|json][,ignorestatus=BOOL]`, as buildx's
/// `ParseCallFunc` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// The method.
    pub method: Method,
    /// `format=json`: BuildKit's JSON instead of buildx's text.
    pub json: bool,
    /// `ignorestatus=true`: exit 0 even when checks fired.
    pub ignore_status: bool,
}

impl Call {
    /// Parses the flag's value.
    pub fn parse(spec: &str) -> Result<Call> {
        let mut method = None;
        let mut call = Call {
            method: Method::Build,
            json: false,
            ignore_status: false,
        };
        for field in spec.split(',') {
            match field.split_once('=') {
                Some(("format", "json")) => call.json = true,
                Some(("format", "text")) => call.json = false,
                Some(("format", other)) => {
                    bail!("--call={spec}: format={other} is not supported (text or json)")
                }
                Some(("ignorestatus", v)) => {
                    call.ignore_status = crate::cmd::buildx::parse_bool(v).with_context(|| {
                        format!("--call={spec}: invalid ignorestatus value {v:?}")
                    })?;
                }
                Some(_) => bail!(
                    "--call={spec}: invalid field {field:?} (format=text|json, ignorestatus=BOOL)"
                ),
                None if method.is_some() => bail!("--call={spec}: more than one method"),
                None => method = Some(field),
            }
        }
        call.method = match method {
            Some("build") => Method::Build,
            Some("check" | "lint") => Method::Check,
            Some("outline") => Method::Outline,
            Some("targets") => Method::Targets,
            Some(other) => bail!("--call={other}: unknown method (build, check, outline, targets)"),
            None => bail!("--call={spec}: no method (build, check, outline, targets)"),
        };
        Ok(call)
    }

    /// What a build's flags ask for: `--call`, else `--check`, else none.
    pub fn of(args: &BuildArgs) -> Result<Option<Call>> {
        let call = match &args.call {
            Some(spec) => Call::parse(spec)?,
            None if args.check => Call {
                method: Method::Check,
                json: false,
                ignore_status: false,
            },
            None => return Ok(None),
        };
        Ok((call.method != Method::Build).then_some(call))
    }
}

/// Answers the `--call` of a build; the exit status is buildx's.
pub fn run(args: &BuildArgs, cli: &crate::cli::Cli, call: Call) -> Result<ExitCode> {
    if call.method == Method::Check {
        return build_check::run(args, cli, call);
    }
    let out = with_lowering(args, cli, |dockerfile, opts| {
        let (text, file) = (&dockerfile.text, &dockerfile.name);
        Ok(match (call.method, call.json) {
            (Method::Outline, json) => {
                let outline = subrequests::outline(text, opts)?;
                match json {
                    true => format!("{}\n", outline::json(&outline, text)),
                    false => outline::text(&outline),
                }
            }
            (_, json) => {
                let list = subrequests::targets(text, file)?;
                match json {
                    true => format!("{}\n", targets::json(&list, text)),
                    false => targets::text(&list),
                }
            }
        })
    })?;
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// Reads the build's Dockerfile as a build does (the main context, its
/// named contexts, base images through the store, pulled when missing, so
/// UndefinedVar and ARG defaults know their ENV) and hands it with the
/// lowering options the flags give to `answer`.
pub fn with_lowering<T>(
    args: &BuildArgs,
    cli: &crate::cli::Cli,
    answer: impl FnOnce(&Dockerfile, &LowerOptions<'_>) -> Result<T>,
) -> Result<T> {
    let store =
        Store::open(strata_store::select_root(cli.root.clone())).context("opening the store")?;
    let main = MainContext::open(args, Some(&store))?;
    let context = main.path.clone();
    let mut remotes = NamedRemotes::new(args, Some(&store))?;
    let named = buildopts::named_contexts(&args.build_contexts, Some(&store), &mut remotes)?;
    let client = crate::cmd::registry::client(&cli.insecure_registries).ok();
    let policy = if args.pull {
        PullPolicy::Always
    } else {
        PullPolicy::Missing
    };
    let images = BaseImages::new(
        store.clone(),
        client,
        policy,
        Box::new(|line: &str| eprintln!("{line}")),
    );
    let _lease = store.lease()?;
    let dockerfile = build::read_dockerfile(args, &main)?;
    build::with_lowering(args, &context, &named, Some(&images), &dockerfile, |opts| {
        answer(&dockerfile, opts)
    })
}

#[cfg(test)]
mod tests;
