//! `strata build`.

use crate::cli::{BuildArgs, PrintMode};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use strata_dockerfile::{LowerOptions, dockerignore, lower};
use strata_plan::Plan;

/// The Dockerfile's text and the name to show in messages.
struct Dockerfile {
    name: String,
    text: String,
    path: Option<PathBuf>,
}

fn read_dockerfile(args: &BuildArgs) -> Result<Dockerfile> {
    match args.file.as_deref() {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the Dockerfile from stdin")?;
            Ok(Dockerfile {
                name: "Dockerfile (stdin)".into(),
                text,
                path: None,
            })
        }
        file => {
            let path = match file {
                Some(f) => PathBuf::from(f),
                None => args.context.join("Dockerfile"),
            };
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading Dockerfile {}", path.display()))?;
            Ok(Dockerfile {
                name: path.display().to_string(),
                text,
                path: Some(path),
            })
        }
    }
}

/// `NAME.dockerignore` beside a Dockerfile named NAME wins over the
/// context's `.dockerignore`, as in BuildKit.
fn read_ignore_rules(
    context: &Path,
    dockerfile: Option<&Path>,
) -> Result<Vec<strata_plan::IgnoreRule>> {
    let specific = dockerfile.and_then(|p| {
        let name = p.file_name()?.to_str()?;
        Some(p.with_file_name(format!("{name}.dockerignore")))
    });
    for candidate in specific.into_iter().chain([context.join(".dockerignore")]) {
        match std::fs::read_to_string(&candidate) {
            Ok(text) => {
                return Ok(dockerignore::parse(
                    &text,
                    &candidate.display().to_string(),
                )?);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", candidate.display())),
        }
    }
    Ok(Vec::new())
}

/// `--build-arg K=V` or `--build-arg K` (value from the environment; skipped
/// when unset, as docker does).
pub fn parse_build_args(args: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for arg in args {
        match arg.split_once('=') {
            Some(("", _)) => bail!("invalid --build-arg {arg:?}: the name is empty"),
            Some((k, v)) => {
                out.insert(k.to_string(), v.to_string());
            }
            None => {
                if let Ok(v) = std::env::var(arg) {
                    out.insert(arg.clone(), v);
                }
            }
        }
    }
    Ok(out)
}

/// Reads the Dockerfile and lowers it into a plan.
pub fn plan(args: &BuildArgs) -> Result<Plan> {
    if !args.context.is_dir() {
        bail!(
            "build context {} is not a directory",
            args.context.display()
        );
    }
    let dockerfile = read_dockerfile(args)?;
    let opts = LowerOptions {
        file_name: dockerfile.name.clone(),
        build_args: parse_build_args(&args.build_args)?,
        target: args.target.clone(),
        ignore_rules: read_ignore_rules(&args.context, dockerfile.path.as_deref())?,
        ..Default::default()
    };
    Ok(lower(&dockerfile.text, &opts)?)
}

/// Runs `strata build`.
pub fn run(args: &BuildArgs) -> Result<()> {
    let plan = plan(args)?;
    for warning in &plan.warnings {
        let line = warning
            .span
            .map(|s| format!(" (line {})", s.start_line))
            .unwrap_or_default();
        eprintln!("warning: {}{line}: {}", warning.rule, warning.message);
    }
    match args.print {
        Some(PrintMode::Plan) => {
            print!("{}", plan.dump());
            Ok(())
        }
        None => bail!(
            "building images is not implemented yet in this version of strata; use --print=plan to see the plan"
        ),
    }
}
