//! `strata build`: Dockerfile → plan → solve → image in the store and
//! the requested outputs.

use crate::cli::{BuildArgs, PrintMode, SnapshotterArg};
use crate::cmd::remote::{MainContext, NamedRemotes};
use crate::cmd::{buildopts, cache_share, output, report};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use strata_builder::image::{BaseImages, PullPolicy, tag_image, write_image};
use strata_builder::progress::{Event, ProgressSink};
use strata_builder::solve::{SolveOptions, solve};
use strata_builder::worker::{Snapshotter, Worker, WorkerOptions};
use strata_dockerfile::lower::NamedSource;
use strata_dockerfile::{
    BaseImageInfo, ImageResolver, LowerOptions, Platform, dockerignore, lower,
};
use strata_plan::Plan;
use strata_store::Store;

/// The Dockerfile's text and the name to show in messages.
#[derive(Clone)]
pub(crate) struct Dockerfile {
    pub name: String,
    pub text: String,
    path: Option<PathBuf>,
}

impl Dockerfile {
    /// The name BuildKit gives the Dockerfile as a source: its file name
    /// (buildx sends the directory and the base name; a Dockerfile read
    /// from stdin is written as `Dockerfile`).
    pub fn base_name(&self) -> String {
        self.path
            .as_deref()
            .and_then(Path::file_name)
            .map_or_else(|| "Dockerfile".into(), |n| n.to_string_lossy().into_owned())
    }
}

/// Reads the Dockerfile of a build (once: it may be stdin), after
/// checking that the context is a directory.
pub(crate) fn read_dockerfile(args: &BuildArgs, context: &MainContext) -> Result<Dockerfile> {
    if !context.path.is_dir() {
        bail!(
            "build context {} is not a directory",
            context.path.display()
        );
    }
    match context.dockerfile(args.file.as_deref())? {
        None => {
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
        Some((path, name)) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading Dockerfile {name}"))?;
            Ok(Dockerfile {
                name,
                text,
                path: Some(path),
            })
        }
    }
}

/// `NAME.dockerignore` beside a Dockerfile named NAME wins over the
/// context's `.dockerignore`, as in BuildKit.
pub(crate) fn read_ignore_rules(
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

/// Answers the frontend's questions about base images (pulling them when
/// needed, so ENV and ONBUILD of the base are known).
struct StoreResolver<'a> {
    images: &'a BaseImages,
    /// The first image that could not be had, and why.
    failed: std::cell::RefCell<Option<String>>,
}

impl ImageResolver for StoreResolver<'_> {
    fn resolve(&self, reference: &str) -> Option<BaseImageInfo> {
        let image = match self.images.get(reference) {
            Ok(image) => image,
            Err(e) => {
                let mut failed = self.failed.borrow_mut();
                failed.get_or_insert_with(|| format!("base image {reference}: {e}"));
                return None;
            }
        };
        let platform = Platform {
            os: image.config.os.clone(),
            arch: image.config.architecture.clone(),
            variant: image.config.variant.clone().unwrap_or_default(),
        };
        let config = image.config.config;
        Some(BaseImageInfo {
            platform: Some(platform),
            env: config
                .env
                .iter()
                .flatten()
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (kv.clone(), String::new()),
                })
                .collect(),
            workdir: config.working_dir.clone().filter(|w| !w.is_empty()),
            onbuild: config.on_build.clone().unwrap_or_default(),
            shell: config.shell.as_ref().is_some_and(|s| !s.is_empty()),
        })
    }
}

/// Whether `s` is an image reference docker accepts (for the
/// InvalidDefaultArgInFrom check).
fn valid_reference(s: &str) -> bool {
    strata_registry::Reference::parse(s).is_ok()
}

/// Reads the Dockerfile and lowers it into a plan.
pub fn plan(
    args: &BuildArgs,
    context: &Path,
    named: &BTreeMap<String, strata_builder::worker::NamedContext>,
    images: Option<&BaseImages>,
) -> Result<Plan> {
    let main = MainContext::local(context);
    lower_dockerfile(args, context, named, images, &read_dockerfile(args, &main)?)
}

/// Hands a Dockerfile that was read, with the lowering options the flags
/// give, to `lowering` (a build, or only its checks).
pub(crate) fn with_lowering<T>(
    args: &BuildArgs,
    context: &Path,
    named: &BTreeMap<String, strata_builder::worker::NamedContext>,
    images: Option<&BaseImages>,
    dockerfile: &Dockerfile,
    lowering: impl FnOnce(&LowerOptions<'_>) -> Result<T>,
) -> Result<T> {
    let resolver = images.map(|images| StoreResolver {
        images,
        failed: Default::default(),
    });
    let opts = LowerOptions {
        file_name: dockerfile.name.clone(),
        build_args: parse_build_args(&args.build_args)?,
        target: args.target.clone(),
        // BuildKit applies no .dockerignore to a remote main context.
        ignore_rules: if crate::cmd::remote::is_remote(&args.context) {
            Vec::new()
        } else {
            read_ignore_rules(context, dockerfile.path.as_deref())?
        },
        named_contexts: named
            .iter()
            .map(|(name, context)| {
                let source = match context {
                    strata_builder::worker::NamedContext::Image(r) => NamedSource::Image(r.clone()),
                    strata_builder::worker::NamedContext::Dir { .. } => NamedSource::Local,
                };
                (name.clone(), source)
            })
            .collect(),
        resolver: resolver.as_ref().map(|r| r as &dyn ImageResolver),
        // `--check` without `--target` checks every stage, as BuildKit.
        all_stages: args.check && args.target.is_none(),
        reference_check: Some(&valid_reference),
        ..Default::default()
    };
    let result = lowering(&opts)?;
    // A build fails on a missing base image when it gets there; `--check`
    // of every stage fails as BuildKit's does, rather than check less.
    if opts.all_stages
        && let Some(failed) = resolver.and_then(|r| r.failed.into_inner())
    {
        bail!("{failed}");
    }
    Ok(result)
}

/// Lowers a Dockerfile that was read into a plan.
fn lower_dockerfile(
    args: &BuildArgs,
    context: &Path,
    named: &BTreeMap<String, strata_builder::worker::NamedContext>,
    images: Option<&BaseImages>,
    dockerfile: &Dockerfile,
) -> Result<Plan> {
    let mut plan = with_lowering(args, context, named, images, dockerfile, |opts| {
        Ok(lower(&dockerfile.text, opts)?)
    })?;
    buildopts::apply_network(&mut plan, &args.network);
    crate::cmd::buildx::apply_sandbox(&mut plan, &crate::cmd::buildx::sandbox(args)?);
    if images.is_some()
        && let Err(e) = strata_builder::solve::check_platforms(&plan)
    {
        let line = match &e {
            strata_builder::solve::BuildError::Platform { line, .. } => *line,
            _ => 0,
        };
        return Err(anyhow::Error::new(e).context(format!("{}:{line}", dockerfile.name)));
    }
    Ok(plan)
}

/// Runs `strata build`.
pub fn run(args: &BuildArgs, cli: &crate::cli::Cli) -> Result<()> {
    let root = cli.root.clone();
    buildopts::check_platform(args.platform.as_deref())?;
    buildopts::check_tags(&args.tags)?;
    let annotations = crate::cmd::annotations::from_flags(&args.annotations)?;
    let (outputs, output_notes): (Vec<_>, Vec<_>) = args
        .outputs
        .iter()
        .map(|o| {
            let (spec, notes) = crate::cmd::annotations::from_output(o)?;
            Ok((output::parse(&spec)?, notes))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    for out in &outputs {
        output::archive_names(out, &args.tags)?;
    }
    if args.print.is_some() {
        if matches!(args.print, Some(PrintMode::Llb | PrintMode::LlbText))
            && crate::cmd::remote::any_remote(args)
        {
            bail!(
                "--print={}: a git or HTTP build context cannot be written as LLB yet (it would be a local directory); clone or download it and build the directory",
                if args.print == Some(PrintMode::Llb) {
                    "llb"
                } else {
                    "llb-text"
                }
            );
        }
        // Remote contexts are fetched into the store's tmp/.
        let store = match crate::cmd::remote::any_remote(args) {
            true => {
                Some(Store::open(strata_store::select_root(root)).context("opening the store")?)
            }
            false => None,
        };
        let main = MainContext::open(args, store.as_ref())?;
        let mut remotes = NamedRemotes::new(args, store.as_ref())?;
        let named = buildopts::named_contexts(&args.build_contexts, None, &mut remotes)?;
        let dockerfile = read_dockerfile(args, &main)?;
        let plan = lower_dockerfile(args, &main.path, &named, None, &dockerfile)?;
        print_warnings(&plan, &crate::progress::Plain::new());
        return print(args, &plan, &named);
    }
    let store = Store::open(strata_store::select_root(root)).context("opening the store")?;
    let main = MainContext::open(args, Some(&store))?;
    let context = main.path.clone();
    let mut remotes = NamedRemotes::new(args, Some(&store))?;
    let named = buildopts::named_contexts(&args.build_contexts, Some(&store), &mut remotes)?;
    let quiet = args.quiet || args.progress == crate::progress::ProgressMode::Quiet;
    let progress: Arc<dyn ProgressSink> = if quiet {
        Arc::new(crate::progress::Quiet)
    } else {
        Arc::from(crate::progress::sink(args.progress))
    };
    let client = crate::cmd::registry::client(&cli.insecure_registries).ok();
    let policy = if args.pull {
        PullPolicy::Always
    } else {
        PullPolicy::Missing
    };
    let notes = progress.clone();
    let images = Arc::new(BaseImages::new(
        store.clone(),
        client,
        policy,
        Box::new(move |line: &str| notes.event(Event::Note(line.to_string()))),
    ));
    if let Some(note) = main.note() {
        progress.event(Event::Note(note));
    }
    let dockerfile = read_dockerfile(args, &main)?;
    let plan = lower_dockerfile(args, &context, &named, Some(&images), &dockerfile)?;
    print_warnings(&plan, progress.as_ref());

    let layer = buildopts::layer_options(&args.compression)?;
    let cache_to = args
        .cache_to
        .iter()
        .map(|s| cache_share::parse_to(s))
        .collect::<Result<Vec<_>>>()?;
    let cache_from = args
        .cache_from
        .iter()
        .map(|s| cache_share::parse_from(s))
        .collect::<Result<Vec<_>>>()?;
    let registry_client = || crate::cmd::registry::client(&cli.insecure_registries);
    let import = cache_share::import(&cache_from, &store, &registry_client, progress.as_ref());
    let imported = import
        .clone()
        .map(|i| i as Arc<dyn strata_cache::ImportedCache>);
    let opts = WorkerOptions {
        layer,
        secrets: buildopts::secrets(&args.secrets)?,
        ssh: buildopts::ssh_agents(&args.ssh)?,
        named_contexts: named,
        allow_insecure: buildopts::allow_insecure(&args.allow)?,
        imported: imported.clone(),
        snapshotter: match args.snapshotter {
            SnapshotterArg::Auto => Snapshotter::Auto,
            SnapshotterArg::Overlay => Snapshotter::Overlay,
            SnapshotterArg::Copy => Snapshotter::Copy,
        },
        temporary_context: main.temporary,
    };
    crate::isolate::private_mounts()?;
    let executor = buildopts::executor(args.runtime.as_deref(), store.root().join("tmp"))?;
    let worker = Worker::new(
        store.clone(),
        images.clone(),
        context.clone(),
        &plan.ignore_rules,
        executor,
        opts,
    )?;
    if let Some(import) = &import {
        let names = strata_builder::worker::plan_cache_mounts(&plan);
        let n = strata_builder::worker::restore_cache_mounts(
            import,
            worker.cache_mounts(),
            &store,
            &names,
        )?;
        if n > 0 {
            progress.event(Event::Note(format!(
                "restored {n} cache mounts from the imported cache"
            )));
        }
    }
    if args.snapshotter == SnapshotterArg::Auto && worker.snapshotter() == Snapshotter::Copy {
        progress.event(Event::Note(
            "overlayfs cannot be mounted in the store; using the copying snapshotter (slower)"
                .into(),
        ));
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    crate::isolate::cancel_on_signals(worker.cancel_token(), interrupted.clone())?;
    let records = strata_cache::RecordStore::open(store.root().join("cache-v1"))?;
    let media_type = strata_layer::media_type(layer.compression).to_string();
    let solve_opts = SolveOptions {
        no_cache: args.no_cache,
        no_cache_stages: args.no_cache_filter.iter().cloned().collect(),
        layer_media_type: media_type,
        history: Some(report::history_ids(&context, args, &dockerfile.text)),
        imported,
        explain_all_files: args.explain,
    };
    let started = std::time::Instant::now();
    let solved = solve(&plan, &worker, &records, progress.as_ref(), &solve_opts);
    let _ = worker.save();
    let solved = match solved {
        Ok(s) => s,
        Err(e) if interrupted.load(Ordering::SeqCst) => {
            return Err(anyhow::Error::new(e).context("build interrupted"));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(import) = &import {
        cache_share::settle(import, &solved.target.layers, &records)?;
    }
    let config = report::final_config(&solved, &args.labels, layer.source_date_epoch)?;
    let image = {
        // A prune waits while the config and manifest are written and
        // tagged, so it never takes them for garbage in between.
        let _gc = store.lock_shared(strata_store::GC_LOCK)?;
        let image = write_image(&store, &config, &solved.target.layers, &annotations)?;
        tag_image(&store, &image, &args.tags)?;
        image
    };
    for name in &args.tags {
        progress.event(Event::Note(format!("naming to {name} done")));
    }
    let mut outputs: Vec<_> = outputs.into_iter().zip(output_notes).collect();
    if args.push {
        outputs.push((
            output::Output::Image {
                name: None,
                push: true,
                compression: None,
                force_compression: false,
            },
            BTreeMap::new(),
        ));
    }
    // The layers this build made (a compression= output converts these).
    let built: std::collections::BTreeSet<String> = solved
        .steps
        .iter()
        .filter_map(|s| s.key.as_ref())
        .filter_map(|k| records.get(k).ok().flatten()?.layer)
        .map(|l| l.diff_id)
        .collect();
    // What the build reports (metadata, --iidfile, -q): as buildx, the
    // image its image exporter wrote, which a compression= or an output's
    // annotations make differ from the store's.
    let mut reported = image.clone();
    for (out, notes) in &outputs {
        let exported = output::converted(out, &store, &image, &built)?;
        let exported = crate::cmd::annotations::annotate(&store, &exported, notes)?;
        output::export(
            out,
            &store,
            &exported,
            &solved.target.layers,
            &args.tags,
            layer.source_date_epoch,
            &registry_client,
        )?;
        progress.event(Event::Note(format!("exported {}", out.describe())));
        if out.writes_image() {
            reported = exported;
        }
    }
    let image = reported;
    let export_input = cache_share::ExportInput {
        store: &store,
        records: &records,
        import: import.as_deref(),
        plan: &plan,
        solved: &solved,
        media_type: &solve_opts.layer_media_type,
        mounts: &|| {
            let names = strata_builder::worker::plan_cache_mounts(&plan);
            Ok(strata_builder::worker::pack_cache_mounts(
                &store,
                worker.cache_mounts(),
                &names,
                &layer,
            )?)
        },
    };
    for to in &cache_to {
        cache_share::export(to, &export_input, &registry_client, progress.as_ref())?;
    }
    let summary = report::Summary::new(
        &solved.steps,
        started.elapsed(),
        worker.hash_stats(),
        worker.bytes_written(),
    );
    if let Some(path) = &args.metadata_file {
        report::write_metadata(path, &image, &solved.steps, &summary, &args.tags)?;
    }
    if let Some(path) = &args.iidfile {
        std::fs::write(path, &image.config.digest)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.explain {
        eprint!("{}", report::explain_misses(&solved.steps));
    }
    if quiet {
        println!("{}", image.config.digest);
    } else {
        let mut err = std::io::stderr().lock();
        writeln!(err, "{}", summary.line())?;
        writeln!(
            err,
            "image {} (manifest {})",
            image.config.digest, image.manifest.digest
        )?;
    }
    Ok(())
}

/// The warnings in BuildKit's short form: `Rule: message (line N)`.
fn print_warnings(plan: &Plan, progress: &dyn ProgressSink) {
    for warning in &plan.warnings {
        let line = warning
            .span
            .map(|s| format!(" (line {})", s.start_line))
            .unwrap_or_default();
        progress.event(Event::Warning(format!(
            "{}: {}{line}",
            warning.rule, warning.message
        )));
    }
}

fn print(
    args: &BuildArgs,
    plan: &Plan,
    named: &BTreeMap<String, strata_builder::worker::NamedContext>,
) -> Result<()> {
    let llb_opts = || strata_llb::LlbOptions {
        named_contexts: named
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    strata_builder::worker::NamedContext::Image(r) => {
                        strata_llb::NamedContext::Image(r.clone())
                    }
                    strata_builder::worker::NamedContext::Dir { .. } => {
                        strata_llb::NamedContext::Local
                    }
                };
                (k.clone(), v)
            })
            .collect(),
        ..Default::default()
    };
    let mut out = std::io::stdout().lock();
    match args.print {
        Some(PrintMode::Plan) | None => out.write_all(plan.dump().as_bytes())?,
        Some(PrintMode::Llb) => out.write_all(&strata_llb::compile(plan, &llb_opts())?)?,
        Some(PrintMode::LlbText) => {
            let bytes = strata_llb::compile(plan, &llb_opts())?;
            out.write_all(strata_llb::render(&bytes)?.as_bytes())?;
        }
        Some(PrintMode::LlbConfig) => {
            out.write_all(&strata_llb::image_config(plan, &llb_opts())?)?;
        }
    }
    Ok(())
}
