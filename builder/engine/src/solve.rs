//! The solver: builds the stages a target needs, deciding for every step
//! whether the cache has its result.
//!
//! Stages run on their own threads as soon as the stages they read from are
//! done, so independent stages build in parallel. Within a stage, each step
//! gets a key from the parent's result identity, its definition and its
//! inputs; a hit reuses the recorded layer, a miss runs the step through
//! [`Ops`] and records the result with what went into the key, so a later
//! miss can say what changed.

use crate::explain::{LISTED_FILES, MissContext, describe_base, explain_miss};
use crate::history::{HistoryIds, Previous, StepHistory};
use crate::image_config::{ImageConfig, StageConfig};
use crate::key::step_definition;
use crate::ops::{OpError, Ops, PreparedRun, Stages};
use crate::progress::{Event, MissReason, ProgressSink, StepRef};
use crate::replay::Replay;
use crate::state::{LayerRef, State};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Condvar, Mutex};
use std::time::Instant;
use strata_cache::{CacheRecord, Key, KeyHasher, RecordError, RecordStore, StepInputs};
use strata_plan::{ImageSource, Plan, Stage, Step, StepKind};

/// Options of one solve.
#[derive(Debug, Clone, Default)]
pub struct SolveOptions {
    /// `--no-cache`: run every step.
    pub no_cache: bool,
    /// `--no-cache-filter`: run every step of these stages (names or indexes).
    pub no_cache_stages: BTreeSet<String>,
    /// Media type of the layer blobs the output should use.
    pub layer_media_type: String,
    /// Where "the same Dockerfile and target" was last built, for
    /// explanations of misses. `None` disables explanations.
    pub history: Option<HistoryIds>,
    /// Caches imported with `--cache-from`, asked when the local records
    /// miss.
    pub imported: Option<std::sync::Arc<dyn strata_cache::ImportedCache>>,
    /// `--explain`: reasons name every changed file, not only the first
    /// [`LISTED_FILES`].
    pub explain_all_files: bool,
}

/// What came before a step in its stage, for explanations of its miss.
#[derive(Debug, Default)]
struct Lineage {
    /// The stage's base (see [`describe_base`]).
    base: String,
    /// Configuration-only steps since the last keyed step.
    config_before: Vec<String>,
    /// The first step of the stage that missed, with its reason.
    first_miss: Option<String>,
}

/// How a step was satisfied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepStatus {
    /// From the cache.
    Cached,
    /// Run, for this reason.
    Ran(String),
    /// A configuration-only step (no filesystem work, never cached).
    Config,
}

/// What happened to one step, for summaries and `--metadata-file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    /// Where the step is.
    pub step: StepRef,
    /// Its Dockerfile line.
    pub line: usize,
    /// Its cache key (none for config-only steps).
    pub key: Option<Key>,
    /// Hit, miss or config.
    pub status: StepStatus,
    /// Time spent, in milliseconds.
    pub duration_ms: u64,
}

/// The result of a solve.
#[derive(Debug, Clone)]
pub struct SolveOutput {
    /// The target stage's final state.
    pub target: State,
    /// Every step of every built stage, in stage then step order.
    pub steps: Vec<StepReport>,
}

/// A build failure.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A step failed.
    #[error("{step} (line {line}): {cause}")]
    Step {
        /// The step.
        step: StepRef,
        /// Its line.
        line: usize,
        /// The cause (shown in the message, so not a `source()`).
        cause: OpError,
    },
    /// A stage's base could not be resolved.
    #[error("{stage} (line {line}): {cause}")]
    Base {
        /// The stage, as `FROM …`.
        stage: String,
        /// The FROM line.
        line: usize,
        /// The cause (shown in the message, so not a `source()`).
        cause: OpError,
    },
    /// The cache index failed.
    #[error(transparent)]
    Records(#[from] RecordError),
    /// The plan refers to a stage that does not exist.
    #[error("the plan refers to stage {0}, which does not exist")]
    BadStage(usize),
    /// A stage this one needs failed (the first failure is reported too).
    #[error("stage {0} was not built because a stage it needs failed")]
    DependencyFailed(usize),
    /// `FROM --platform=` names a platform other than the host's.
    #[error(
        "{stage}: FROM --platform={platform}: only the host's platform \
         (linux/{host}) can be built; cross-platform builds are not supported yet",
        host = host_architecture()
    )]
    Platform {
        /// The stage, as `stage N` or `stage "name"`.
        stage: String,
        /// The FROM line (for the caller, who knows the file's name).
        line: usize,
        /// The platform asked for (normalised).
        platform: String,
    },
}

/// The platform strata builds for: the host's.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// True when `platform` (normalised `os/arch[/variant]`, as the frontend
/// writes it) is the host's: `linux/<host arch>`, any variant.
pub fn is_host_platform(platform: &str) -> bool {
    let host = format!("linux/{}", host_architecture());
    platform == host
        || platform
            .strip_prefix(host.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Refuses a plan whose needed stages ask (`FROM --platform=`) for a
/// platform other than the host's, naming the first such stage.
pub fn check_platforms(plan: &Plan) -> Result<(), BuildError> {
    for id in plan.required_stages() {
        let Some(stage) = plan.stage(id) else {
            continue;
        };
        if let Some(platform) = &stage.platform
            && !is_host_platform(platform)
        {
            return Err(BuildError::Platform {
                stage: match &stage.name {
                    Some(name) => format!("stage {name:?}"),
                    None => format!("stage {}", id.0),
                },
                line: stage.span.start_line,
                platform: platform.clone(),
            });
        }
    }
    Ok(())
}

/// An empty image configuration for the host platform.
pub fn scratch_config() -> ImageConfig {
    ImageConfig {
        architecture: host_architecture().to_string(),
        os: "linux".to_string(),
        ..Default::default()
    }
}

struct Shared {
    done: Stages,
    failed: bool,
    reports: BTreeMap<usize, Vec<StepReport>>,
    history: BTreeMap<String, StepHistory>,
    /// Per stage index: its first miss with the reason, for the stages
    /// built on it.
    first_misses: BTreeMap<usize, String>,
}

/// Builds the stages `plan.target` needs.
pub fn solve(
    plan: &Plan,
    ops: &dyn Ops,
    records: &RecordStore,
    progress: &dyn ProgressSink,
    opts: &SolveOptions,
) -> Result<SolveOutput, BuildError> {
    let previous = match &opts.history {
        Some(ids) => Previous::load(records, ids)?,
        None => Previous::default(),
    };
    check_platforms(plan)?;
    let order = plan.required_stages();
    for id in &order {
        plan.stage(*id).ok_or(BuildError::BadStage(id.0))?;
    }
    let shared = Mutex::new(Shared {
        done: Stages::new(),
        failed: false,
        reports: BTreeMap::new(),
        history: BTreeMap::new(),
        first_misses: BTreeMap::new(),
    });
    let wake = Condvar::new();
    let errors: Mutex<Vec<BuildError>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for id in &order {
            let Some(stage) = plan.stage(*id) else {
                continue;
            };
            let (shared, wake, errors, previous) = (&shared, &wake, &errors, &previous);
            scope.spawn(move || {
                let deps = stage.dependencies();
                let base_name = match &stage.base {
                    ImageSource::Stage(id) => plan
                        .stage(*id)
                        .map(|s| s.name.clone().unwrap_or_else(|| id.0.to_string())),
                    _ => None,
                };
                let (stages, base_miss) = {
                    let Ok(mut guard) = shared.lock() else {
                        return;
                    };
                    while !guard.failed && !deps.iter().all(|d| guard.done.contains_key(d)) {
                        guard = match wake.wait(guard) {
                            Ok(g) => g,
                            Err(_) => return,
                        };
                    }
                    if guard.failed {
                        drop(guard);
                        if let Ok(mut e) = errors.lock() {
                            e.push(BuildError::DependencyFailed(stage.id.0));
                        }
                        return;
                    }
                    let base_miss = match &stage.base {
                        ImageSource::Stage(id) => guard.first_misses.get(&id.0).cloned(),
                        _ => None,
                    };
                    (guard.done.clone(), base_miss)
                };
                let mut builder = StageBuilder {
                    stage,
                    target: stage.id == plan.target,
                    ops,
                    records,
                    progress,
                    opts,
                    previous,
                    stages: &stages,
                    reports: Vec::new(),
                    history: BTreeMap::new(),
                    base_name,
                    base_miss,
                    first_miss: None,
                };
                let result = builder.build();
                let Ok(mut guard) = shared.lock() else {
                    return;
                };
                guard.reports.insert(stage.id.0, builder.reports);
                guard.history.extend(builder.history);
                if let Some(miss) = builder.first_miss {
                    guard.first_misses.insert(stage.id.0, miss);
                }
                match result {
                    Ok(state) => {
                        guard.done.insert(stage.id, state);
                    }
                    Err(e) => {
                        guard.failed = true;
                        if let Ok(mut errs) = errors.lock() {
                            errs.push(e);
                        }
                    }
                }
                wake.notify_all();
            });
        }
    });
    let mut errors = errors.into_inner().unwrap_or_default();
    // Report the real failure, not the stages that waited on it.
    errors.sort_by_key(|e| matches!(e, BuildError::DependencyFailed(_)));
    if let Some(first) = errors.into_iter().next() {
        return Err(first);
    }
    let shared = shared
        .into_inner()
        .map_err(|_| BuildError::DependencyFailed(plan.target.0))?;
    if let Some(ids) = &opts.history {
        previous.save(records, ids, shared.history)?;
    }
    let target = shared
        .done
        .get(&plan.target)
        .cloned()
        .ok_or(BuildError::BadStage(plan.target.0))?;
    Ok(SolveOutput {
        target,
        steps: shared.reports.into_values().flatten().collect(),
    })
}

struct StageBuilder<'a> {
    stage: &'a Stage,
    /// The stage is the build's target (no other stage reads it).
    target: bool,
    ops: &'a dyn Ops,
    records: &'a RecordStore,
    progress: &'a dyn ProgressSink,
    opts: &'a SolveOptions,
    previous: &'a Previous,
    stages: &'a Stages,
    reports: Vec<StepReport>,
    /// `"<stage>:<step index>"` → what this build keyed the step on.
    history: BTreeMap<String, StepHistory>,
    /// For a stage built on another stage: that stage's name (or index).
    base_name: Option<String>,
    /// For a stage built on another stage: that stage's first miss.
    base_miss: Option<String>,
    /// After the build: the first miss that explains this stage's result
    /// (its own, or its base stage's).
    first_miss: Option<String>,
}

impl StageBuilder<'_> {
    fn stage_label(&self) -> Option<String> {
        self.stage.name.clone()
    }

    /// Why the cache may not be used for this stage: `--no-cache`, or a
    /// `--no-cache-filter` naming the stage (by name or index).
    fn no_cache(&self) -> Option<MissReason> {
        if self.opts.no_cache {
            return Some(MissReason::NoCache);
        }
        [self.stage.name.clone(), Some(self.stage.id.0.to_string())]
            .into_iter()
            .flatten()
            .find(|n| self.opts.no_cache_stages.contains(n))
            .map(MissReason::NoCacheFilter)
    }

    /// Whether a later step of this build reads the filesystem the step
    /// `sref` makes: a later filesystem step of its stage, or another stage
    /// (every stage but the target is built for another one).
    fn read_after(&self, sref: &StepRef) -> bool {
        // `index` counts FROM as 1, so the later steps start at `index - 1`.
        !self.target
            || self
                .stage
                .steps
                .iter()
                .skip(sref.index.saturating_sub(1))
                .any(|s| !matches!(s.kind, StepKind::Config(_)))
    }

    fn build(&mut self) -> Result<State, BuildError> {
        let mut state = stage_base(self.stage, self.ops, self.stages)?;
        let total = self.stage.steps.len() + 1;
        let mut lineage = Lineage {
            base: describe_base(&self.stage.base, &state, self.base_name.as_deref()),
            config_before: Vec::new(),
            first_miss: None,
        };
        for (i, step) in self.stage.steps.iter().enumerate() {
            let sref = StepRef {
                stage: self.stage.id.0,
                stage_name: self.stage_label(),
                index: i + 2,
                total,
                text: step.text.clone(),
            };
            let started = Instant::now();
            let (key, status) = self.step(&mut state, step, &sref, &mut lineage)?;
            if status == StepStatus::Config {
                lineage.config_before.push(step.text.clone());
            } else {
                lineage.config_before.clear();
            }
            self.reports.push(StepReport {
                step: sref,
                line: step.span.start_line,
                key,
                status,
                duration_ms: started.elapsed().as_millis() as u64,
            });
        }
        self.first_miss = lineage.first_miss.or_else(|| self.base_miss.clone());
        Ok(state)
    }

    fn step(
        &mut self,
        state: &mut State,
        step: &Step,
        sref: &StepRef,
        lineage: &mut Lineage,
    ) -> Result<(Option<Key>, StepStatus), BuildError> {
        let op_err = |cause| BuildError::Step {
            step: sref.clone(),
            line: step.span.start_line,
            cause,
        };
        let env: BTreeSet<&str> = (state.config.image.config.env.iter().flatten())
            .map(|kv| kv.split_once('=').map_or(kv.as_str(), |(k, _)| k))
            .collect();
        let build_args: BTreeSet<String> = (step.build_args.iter())
            .filter(|(k, _)| {
                matches!(step.kind, StepKind::Run(_))
                    && !(env.contains(k.as_str()) && step.env_over_args.contains(*k))
            })
            .map(|(k, _)| k.clone())
            .collect();
        let Some(keyed) = key_step(self.ops, state, step, self.stages).map_err(op_err)? else {
            return Ok((None, StepStatus::Config));
        };
        let KeyedStep {
            key,
            inputs,
            run: prepared,
            mut manifest,
            ..
        } = keyed;
        // The per-file manifest, for later explanations: written now,
        // unless the step misses and runs beside the explanation (below).
        let write_manifest = |manifest: Option<(String, BTreeMap<String, String>)>| {
            manifest.map_or(Ok(()), |(digest, files)| {
                self.records.put_manifest(&digest, &files)
            })
        };
        let is_run = matches!(step.kind, StepKind::Run(_));
        if is_run {
            write_manifest(manifest.take())?;
        }
        let history_slot = format!("{}:{}", self.stage.id.0, sref.index);
        let current = StepHistory {
            text: step.text.clone(),
            inputs: inputs.clone(),
            base: Some(lineage.base.clone()),
            config_before: lineage.config_before.clone(),
            build_args,
        };
        self.history.insert(history_slot.clone(), current.clone());
        self.progress.event(Event::Started(sref.clone()));
        if self.no_cache().is_none()
            && let Some(record) = self.records.get(&key)?.or_else(|| {
                let imported = self.opts.imported.as_ref()?;
                imported.lookup(&key)
            })
            && let Some(layer) = cached_layer(&record, &self.opts.layer_media_type)
        {
            // The blob must be in the store (a prune may have removed it),
            // or come lazily from an imported cache that knows the key.
            let usable = match &layer {
                Some(l) => {
                    self.ops.hold(l).map_err(op_err)?
                        || self
                            .opts
                            .imported
                            .as_ref()
                            .is_some_and(|i| i.lookup(&key).is_some())
                }
                None => true,
            };
            if usable {
                write_manifest(manifest.take())?;
                state.push(layer, &step.text, record.created as i64);
                self.progress.event(Event::Cached(sref.clone()));
                return Ok((Some(key), StepStatus::Cached));
            }
        }
        let no_cache = self.no_cache();
        if no_cache.is_none() {
            self.previous
                .note_once(|note| self.progress.event(Event::Note(note)));
        }
        let cx = MissContext {
            first_miss: lineage.first_miss.as_deref(),
            base_miss: self.base_miss.as_deref(),
            records: self.records,
            max_files: (!self.opts.explain_all_files).then_some(LISTED_FILES),
        };
        let previous = self.previous.step(&history_slot);
        let explain = || match &no_cache {
            Some(reason) => reason.clone(),
            None => MissReason::Changed {
                detail: explain_miss(previous, &current, &cx),
            },
        };
        // The explanation reads the previous build's inputs (20,000 files'
        // digests for a large COPY) and the manifest of this one's is
        // written: both are done beside a step that prints nothing, and
        // the reason said when the step is done. A RUN's output comes
        // after its reason.
        let started;
        let (reason, layer) = if is_run {
            let reason = explain();
            self.progress
                .event(Event::Running(sref.clone(), reason.clone()));
            started = Instant::now();
            (reason, self.execute(state, step, prepared.as_ref(), sref))
        } else {
            started = Instant::now();
            let (reason, written, layer) = std::thread::scope(|scope| {
                // The explanation reads this step's manifest: written first.
                let explained = scope.spawn(|| {
                    let written = write_manifest(manifest.take());
                    (explain(), written)
                });
                let layer = self.execute(state, step, prepared.as_ref(), sref);
                // A panic there is one here, as before it had a thread.
                let (reason, written) = explained
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (reason, written, layer)
            });
            written?;
            self.progress
                .event(Event::Running(sref.clone(), reason.clone()));
            (reason, layer)
        };
        if lineage.first_miss.is_none() {
            lineage.first_miss = Some(format!("{} ({reason})", step.text));
        }
        let layer = match layer {
            Ok(layer) => layer,
            Err(e) => {
                self.progress
                    .event(Event::Failed(sref.clone(), e.to_string()));
                return Err(op_err(e));
            }
        };
        let duration = started.elapsed();
        // Only a RUN brings in the wall clock (crate::time).
        let created = match step.kind {
            StepKind::Run(_) => crate::time::now(),
            _ => state.time,
        };
        let replay = prepared
            .as_ref()
            .and_then(|run| Replay::for_run(state, run))
            .and_then(|r| serde_json::to_value(r).ok());
        self.records.put(&CacheRecord {
            key,
            description: step.text.clone(),
            layer: layer.as_ref().map(LayerRef::to_record),
            inputs,
            created: created.max(0) as u64,
            duration_ms: duration.as_millis() as u64,
            replay,
        })?;
        state.push(layer, &step.text, created);
        self.progress.event(Event::Done(sref.clone(), duration));
        Ok((Some(key), StepStatus::Ran(reason.to_string())))
    }

    /// Performs a step that missed the cache; its layer, if it made one.
    fn execute(
        &self,
        state: &mut State,
        step: &Step,
        prepared: Option<&PreparedRun>,
        sref: &StepRef,
    ) -> Result<Option<LayerRef>, OpError> {
        match (&step.kind, prepared) {
            (StepKind::Workdir(_), _) => {
                let dir = state.config.image.config.workdir().to_string();
                self.ops.mkdir(state, &dir)
            }
            (StepKind::Copy(copy), _) if self.read_after(sref) => {
                self.ops.copy(state, copy, self.stages)
            }
            (StepKind::Copy(copy), _) => self.ops.copy_unread(state, copy, self.stages),
            (StepKind::Run(_), Some(run)) => {
                let progress = self.progress;
                let mut output = |line: &str| {
                    progress.event(Event::Output(sref.clone(), line.to_string()));
                };
                self.ops.run(state, run, self.stages, &mut output)
            }
            _ => Ok(None),
        }
    }
}

/// The state a stage starts from: scratch, another stage's result (with a
/// fresh `CMD` flag) or an image from `ops`.
pub(crate) fn stage_base(
    stage: &Stage,
    ops: &dyn Ops,
    stages: &Stages,
) -> Result<State, BuildError> {
    let base_err = |cause| BuildError::Base {
        stage: format!("stage {}", stage.id.0),
        line: stage.span.start_line,
        cause,
    };
    match &stage.base {
        ImageSource::Scratch => Ok(State::from_image(scratch_config(), Vec::new())),
        ImageSource::Stage(id) => {
            let parent = stages.get(id).ok_or(BuildError::BadStage(id.0))?;
            let mut state = parent.clone();
            state.config = StageConfig {
                image: parent.config.image.clone(),
                cmd_set: false,
            };
            // The frontend ran the stage's ONBUILD instructions as this
            // stage's first steps; as in BuildKit, they do not pass on.
            if state.config.image.config.on_build.take().is_some() {
                state.refresh();
            }
            Ok(state)
        }
        ImageSource::Image(_) => {
            let mut state = ops.base(&stage.base).map_err(base_err)?;
            // The frontend ran the image's ONBUILD triggers as the
            // stage's first steps; like BuildKit, they do not pass on.
            if state.config.image.config.on_build.take().is_some() {
                state.refresh();
            }
            Ok(state)
        }
        other => ops.base(other).map_err(base_err),
    }
}

/// What a cache record gives a hit: `Some(None)` for a step without a
/// layer, `Some(Some(layer))`, or `None` when the record's layer has no
/// blob to use (then the step runs again).
pub(crate) fn cached_layer(record: &CacheRecord, media_type: &str) -> Option<Option<LayerRef>> {
    match &record.layer {
        None => Some(None),
        Some(l) => LayerRef::from_record(l, media_type).map(Some),
    }
}

/// A step's key and what went into it, computed from the state before it.
#[derive(Debug, Clone)]
pub(crate) struct KeyedStep {
    /// The cache key.
    pub(crate) key: Key,
    /// What went into the key (recorded, for explanations of later misses).
    pub(crate) inputs: StepInputs,
    /// For RUN: the step resolved against the state.
    pub(crate) run: Option<PreparedRun>,
    /// For COPY/ADD: the source digest and its per-file digests.
    pub(crate) manifest: Option<(String, BTreeMap<String, String>)>,
}

/// Computes a step's key the one way the solver does, for builds and for
/// predictions ([`crate::predict`]). A configuration-only step has no key:
/// it is applied to `state` and `None` is returned. A WORKDIR changes the
/// state's configuration before its key is taken, as its result does.
pub(crate) fn key_step(
    ops: &dyn Ops,
    state: &mut State,
    step: &Step,
    stages: &Stages,
) -> Result<Option<KeyedStep>, OpError> {
    let mut inputs = StepInputs {
        parent: Some(state.identity),
        inputs: BTreeMap::new(),
    };
    let definition = step_definition(step);
    inputs
        .inputs
        .insert("definition".into(), definition.to_string());
    let kind_name;
    let mut prepared = None;
    let mut manifest = None;
    match &step.kind {
        StepKind::Config(edit) => {
            state.config.apply(edit);
            state.push(None, &step.text, state.time);
            return Ok(None);
        }
        StepKind::Workdir(path) => {
            let dir = state.config.set_workdir(path);
            state.refresh();
            inputs.parent = Some(state.identity);
            inputs.inputs.insert("dir".into(), dir);
            kind_name = "workdir";
        }
        StepKind::Copy(copy) => {
            let source = ops.copy_inputs(state, copy, stages)?;
            inputs
                .inputs
                .insert("workdir".into(), state.config.image.config.workdir().into());
            inputs.inputs.insert("source".into(), source.digest.clone());
            manifest = source.files.map(|files| (source.digest, files));
            kind_name = "copy";
        }
        StepKind::Run(run) => {
            let config = &state.config.image.config;
            let mut env: Vec<(String, String)> = config
                .env
                .iter()
                .flatten()
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (kv.clone(), String::new()),
                })
                .collect();
            step.add_build_args(&mut env, |_| false);
            let run = PreparedRun {
                step: run.clone(),
                argv: config.wrap(&run.command),
                env,
                user: config.user.clone().unwrap_or_default(),
                workdir: config.workdir().to_string(),
            };
            inputs
                .inputs
                .insert("argv".into(), format!("{:?}", run.argv));
            for (k, v) in &run.env {
                inputs.inputs.insert(format!("env:{k}"), v.clone());
            }
            inputs.inputs.insert("user".into(), run.user.clone());
            inputs.inputs.insert("workdir".into(), run.workdir.clone());
            for (target, digest) in ops.mount_inputs(state, &run, stages)? {
                inputs.inputs.insert(format!("mount:{target}"), digest);
            }
            prepared = Some(run);
            kind_name = "run";
        }
    }
    Ok(Some(KeyedStep {
        key: step_key(kind_name, &inputs),
        inputs,
        run: prepared,
        manifest,
    }))
}

/// The key of a step: its kind, parent identity and every input.
fn step_key(kind: &str, inputs: &StepInputs) -> Key {
    let mut h = KeyHasher::new(kind);
    if let Some(parent) = &inputs.parent {
        h.key("parent", parent);
    }
    for (name, value) in &inputs.inputs {
        h.str(name, value);
    }
    h.finish()
}
