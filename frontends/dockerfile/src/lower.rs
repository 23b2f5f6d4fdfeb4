//! Lowering: typed instructions → a [`Plan`]. Stages and their graph, ARG
//! scoping, variable expansion in exactly the instructions Docker expands,
//! ONBUILD triggers of base images, and BuildKit's build checks.
//!
//! The syntax tree comes from [`crate::parser`] and each node is checked
//! and typed by [`crate::instructions`] first; this stage only gives the
//! typed values meaning. Errors point at the value at fault (the `$` of a
//! failed expansion, the `--from=` value of an unknown stage index, …).
//!
//! ```
//! use strata_dockerfile::lower::{lower, LowerOptions};
//! let plan = lower("ARG V=1\nFROM alpine:$V AS base\nRUN echo hi\n", &LowerOptions::default()).unwrap();
//! assert_eq!(plan.stages[0].name.as_deref(), Some("base"));
//! assert_eq!(plan.stages[0].base, strata_plan::ImageSource::Image("alpine:1".into()));
//! ```

mod args;
mod checks;
mod config;
mod copy;
mod dispatch;
mod from;
mod graph;
mod lint;
mod named;
mod outline;
mod platform;
mod run;
mod signal;

use crate::error::DockerfileError;
use crate::instructions::{self, Instruction};
use crate::parser::{Node, parse};
use crate::shell::{Env, Lexer};
use args::ArgScope;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use strata_plan::{IgnoreRule, Plan, Span, Stage, StageId, Step, StepKind, Warning};

pub use named::{NamedContexts, NamedSource, context_key};
pub use outline::outline;
pub use platform::{Platform, normalize_platform};

/// What a frontend may learn about a base image without doing I/O itself:
/// the builder resolves images and answers through this trait.
pub trait ImageResolver {
    /// The image's configuration, if the image is known.
    fn resolve(&self, reference: &str) -> Option<BaseImageInfo>;
}

/// The parts of a base image's configuration that the Dockerfile needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaseImageInfo {
    /// `Env`, in order.
    pub env: Vec<(String, String)>,
    /// `WorkingDir`.
    pub workdir: Option<String>,
    /// `OnBuild` triggers, run at the start of a stage built on the image.
    pub onbuild: Vec<String>,
    /// Whether the image sets `Shell` (a shell-form CMD then draws no
    /// JSONArgsRecommended warning, as in BuildKit).
    pub shell: bool,
    /// The image's platform (`os`, `architecture`, `variant`), when known.
    pub platform: Option<Platform>,
}

/// Inputs of the lowering besides the Dockerfile text.
pub struct LowerOptions<'a> {
    /// The Dockerfile's name, for error messages.
    pub file_name: String,
    /// `--build-arg` values. `BUILDKIT_DOCKERFILE_CHECK` overrides the
    /// `# check=` directive, as in BuildKit.
    pub build_args: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// The contexts given with `--build-context`.
    pub named_contexts: NamedContexts,
    /// The platform built for (`TARGETPLATFORM`, …).
    pub platform: Platform,
    /// The platform the build runs on (`BUILDPLATFORM`, …).
    pub build_platform: Platform,
    /// `.dockerignore` rules, carried into the plan.
    pub ignore_rules: Vec<IgnoreRule>,
    /// Base image lookups (ENV for expansion, ONBUILD triggers).
    pub resolver: Option<&'a dyn ImageResolver>,
    /// Run the build checks of every stage, not only of those the target
    /// needs (`docker build --check` without `--target`).
    pub all_stages: bool,
    /// Whether a string is a valid image reference, as docker's
    /// `ParseNormalizedNamed` decides; the InvalidDefaultArgInFrom check
    /// runs only when it is given.
    pub reference_check: Option<&'a dyn Fn(&str) -> bool>,
}

impl Default for LowerOptions<'_> {
    fn default() -> Self {
        LowerOptions {
            file_name: "Dockerfile".into(),
            build_args: BTreeMap::new(),
            target: None,
            named_contexts: NamedContexts::new(),
            platform: Platform::host(),
            build_platform: Platform::host(),
            ignore_rules: Vec::new(),
            resolver: None,
            all_stages: false,
            reference_check: None,
        }
    }
}

/// The state of a stage while its instructions are lowered.
#[derive(Debug, Clone, Default)]
pub(crate) struct StageState {
    /// ENV as the frontend knows it (base image's, then the stage's).
    pub env: Vec<(String, String)>,
    /// WORKDIR as the frontend knows it.
    pub workdir: String,
    /// ARGs declared in the stage.
    pub args: ArgScope,
    /// Names an ENV set after the last ARG of the name: BuildKit adds an
    /// ARG's value to the stage's environment, so an ARG replaces the ENV
    /// of its name (the base image's or an earlier one) for expansions and
    /// RUN until an ENV sets it again (the image's ENV keeps the ENV's).
    pub env_over_args: BTreeSet<String>,
    /// A `Shell` is set (SHELL in the stage or its base stage, or the base
    /// image's config).
    pub shell: bool,
    /// The base's ENV is known (an unknown image's is not), so a variable
    /// missing from `env` is really undefined.
    pub env_known: bool,
    /// A WORKDIR ran in this stage or a stage it is built on.
    pub workdir_set: bool,
    /// The line of this stage's last CMD, ENTRYPOINT and HEALTHCHECK.
    pub used_once: lint::UsedOnce,
}

/// The PATH BuildKit gives a stage whose base sets none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl StageState {
    /// A stage on an image without configuration (`scratch`, a local
    /// directory): nothing but BuildKit's PATH.
    pub fn empty_image() -> Self {
        let mut state = StageState {
            env_known: true,
            ..StageState::default()
        };
        state.ensure_path();
        state
    }

    /// Sets PATH to BuildKit's default when the base has none.
    pub fn ensure_path(&mut self) {
        if !self.env.iter().any(|(k, _)| k == "PATH") {
            self.env.push(("PATH".into(), DEFAULT_PATH.into()));
        }
    }

    /// The variables for expansion: ENV, replaced by an ARG of the same
    /// name unless an ENV set it after the ARG (`env_over_args`).
    pub fn expansion_env(&self) -> Vec<(String, String)> {
        let mut env = self.args.values();
        let shadowed =
            |k: &String| !self.env_over_args.contains(k) && env.iter().any(|(a, _)| a == k);
        let kept: Vec<(String, String)> = self
            .env
            .iter()
            .filter(|(k, _)| !shadowed(k))
            .cloned()
            .collect();
        env.extend(kept);
        env
    }
}

/// Lowers a Dockerfile into a plan. With `# check=error=true`, a build
/// check that fires is an error.
pub fn lower(source: &str, opts: &LowerOptions<'_>) -> Result<Plan, DockerfileError> {
    let (mut plan, checks, _) = lower_unchecked(source, opts)?;
    checks.skip_rules(&mut plan);
    checks
        .violation(&plan)
        .map_or(Ok(plan), |e| Err(e.in_file(&opts.file_name, source)))
}

/// What `docker build --check` reports: the build checks that fired and,
/// with `# check=error=true`, the error the build would stop with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The warnings of the build checks (not skipped), in Dockerfile order.
    pub warnings: Vec<Warning>,
    /// `lint violation found for rules: …` when errors were asked for.
    pub error: Option<DockerfileError>,
}

/// Runs the build checks without building: lowers the Dockerfile and keeps
/// the warnings of BuildKit's rules. A Dockerfile that does not lower is
/// an error, as for [`lower`].
pub fn check(source: &str, opts: &LowerOptions<'_>) -> Result<CheckReport, DockerfileError> {
    let (mut plan, checks, _) = lower_unchecked(source, opts)?;
    checks.skip_rules(&mut plan);
    let error = checks
        .violation(&plan)
        .map(|e| e.in_file(&opts.file_name, source));
    let mut warnings: Vec<Warning> = plan
        .warnings
        .into_iter()
        .filter(|w| crate::lints::rule(&w.rule).is_some())
        .collect();
    warnings.sort_by_key(|w| w.span.map_or(0, |s| s.start_line));
    Ok(CheckReport { warnings, error })
}

/// The plan with every warning, the checks the file asks for, and what
/// `--call=outline` reports.
fn lower_unchecked(
    source: &str,
    opts: &LowerOptions<'_>,
) -> Result<(Plan, checks::Checks, outline::Capture), DockerfileError> {
    let in_file = |e: DockerfileError| e.in_file(&opts.file_name, source);
    let parsed = parse(source).map_err(in_file)?;
    // Type every instruction first: a syntax error anywhere wins over a
    // lowering error, as in BuildKit.
    let typed = parsed
        .nodes
        .iter()
        .map(|node| instructions::from_node(node).map(|l| l.instruction))
        .collect::<Result<Vec<_>, _>>()
        .map_err(in_file)?;
    let check_text = opts
        .build_args
        .get(checks::CHECK_BUILD_ARG)
        .or_else(|| parsed.directives.values.get("check"));
    let checks = match check_text {
        Some(text) => checks::Checks::parse(text).map_err(|m| {
            let (line, column) = checks::directive_position(source);
            in_file(DockerfileError::at(line, column, m))
        })?,
        None => checks::Checks::default(),
    };
    let mut lowering = Lowering::new(opts, parsed.directives.escape);
    // Every stage name, so `--from` can refer to a stage defined later.
    lowering.all_stage_names = typed
        .iter()
        .filter_map(|i| match i {
            Instruction::From(from) => Some(from.name.clone()),
            _ => None,
        })
        .collect();
    lowering.instruction_ends = parsed
        .nodes
        .iter()
        .map(|n| (n.start_line, n.end_line))
        .collect();
    for (line, _) in &parsed.warnings {
        // BuildKit reports it at the instruction's last line.
        let end = lowering
            .instruction_ends
            .get(line)
            .copied()
            .unwrap_or(*line);
        lowering.warn(
            Some(end),
            "NoEmptyContinuation",
            "Empty continuation line".into(),
        );
    }
    lowering.casing_lint(&parsed.nodes, &typed);
    lowering.default_arg_lint(&parsed.nodes, &typed);
    lowering.description_lint(&parsed.nodes, &typed);
    for (node, instruction) in parsed.nodes.iter().zip(&typed) {
        lowering.node(node, instruction).map_err(in_file)?;
    }
    let capture = std::mem::take(&mut lowering.outline);
    let mut plan = lowering.finish().map_err(in_file)?;
    plan.directives = parsed.directives.values.clone();
    plan.ignore_rules = opts.ignore_rules.clone();
    Ok((plan, checks, capture))
}

/// Errors that point into one instruction.
pub(crate) struct Site<'n> {
    pub node: &'n Node,
}

impl Site<'_> {
    /// An error at a line and column of the instruction.
    pub fn error(
        &self,
        (line, column): (usize, usize),
        message: impl Into<String>,
    ) -> DockerfileError {
        DockerfileError::spanning(line, self.node.end_line.max(line), column, message)
    }

    /// An error at the keyword.
    pub fn at_keyword(&self, message: impl Into<String>) -> DockerfileError {
        self.error(self.node.keyword_position(), message)
    }

    /// An error at the first of `needles` found after the keyword.
    pub fn at(&self, needles: &[&str], message: impl Into<String>) -> DockerfileError {
        self.error(self.node.locate_first(needles), message)
    }

    /// An error inside the value of flag `--name`: at the value's first
    /// character, or at the flag.
    pub fn at_flag_value(&self, name: &str, message: impl Into<String>) -> DockerfileError {
        let flag = format!("--{name}=");
        let kw = self.node.keyword_raw.len();
        match self.node.find(&flag, kw) {
            Some(at) => self.error(self.node.position(at + flag.len()), message),
            None => self.at(&[&format!("--{name}")], message),
        }
    }
}

pub(crate) struct Lowering<'o, 'a> {
    pub opts: &'o LowerOptions<'a>,
    pub lexer: Lexer,
    /// The escape character (`\` or backtick).
    pub escape: char,
    pub global: ArgScope,
    pub stages: Vec<Stage>,
    pub states: Vec<StageState>,
    /// Warnings, with the stage of those BuildKit reports only while
    /// building that stage.
    pub warnings: Vec<(Warning, Option<usize>)>,
    /// Variables the current instruction's expansions did not find.
    pub unmatched: RefCell<BTreeSet<String>>,
    /// The last line of each instruction, by its first line.
    pub instruction_ends: BTreeMap<usize, usize>,
    /// Build args some ARG declared (to warn about the rest).
    pub consumed: BTreeSet<String>,
    /// The names of all stages of the file, in order (`None` for unnamed).
    pub all_stage_names: Vec<Option<String>>,
    /// `--from` references (stage, referenced stage, line, column), for
    /// the cycle check at the end.
    pub references: Vec<graph::Reference>,
    /// The current stage is replaced by the named context of its name:
    /// its instructions are not lowered (BuildKit does not run them).
    pub replaced: bool,
    /// What `--call=outline` reports.
    pub outline: outline::Capture,
}

impl<'o, 'a> Lowering<'o, 'a> {
    fn new(opts: &'o LowerOptions<'a>, escape: char) -> Self {
        Lowering {
            opts,
            lexer: Lexer::new(escape),
            escape,
            global: ArgScope::global(&opts.build_platform, &opts.platform),
            stages: Vec::new(),
            states: Vec::new(),
            warnings: Vec::new(),
            unmatched: RefCell::new(BTreeSet::new()),
            instruction_ends: BTreeMap::new(),
            consumed: BTreeSet::new(),
            all_stage_names: Vec::new(),
            references: Vec::new(),
            replaced: false,
            outline: outline::Capture::default(),
        }
    }

    /// A warning about the file, reported whichever stages are built.
    pub(crate) fn warn(&mut self, line: Option<usize>, rule: &str, message: String) {
        self.push_warning(line, rule, message, None);
    }

    /// A warning BuildKit gives while it builds the current stage, so only
    /// when the target needs the stage (or every stage is checked).
    pub(crate) fn warn_in_stage(&mut self, line: usize, rule: &str, message: String) {
        let stage = Some(self.stage_index());
        self.push_warning(Some(line), rule, message, stage);
    }

    fn push_warning(
        &mut self,
        line: Option<usize>,
        rule: &str,
        message: String,
        stage: Option<usize>,
    ) {
        // A warning about an instruction spans all its lines, as BuildKit's.
        let warning = Warning {
            span: line.map(|l| Span {
                start_line: l,
                end_line: self.instruction_ends.get(&l).copied().unwrap_or(l),
            }),
            rule: rule.into(),
            message,
        };
        self.warnings.push((warning, stage));
    }

    /// Expands `word` (as written in `node`) with `env`. A failure points
    /// at the `$` (or quote) at fault when the word is in the text.
    pub(crate) fn expand_in(
        &self,
        node: &Node,
        word: &str,
        env: &dyn Env,
    ) -> Result<String, DockerfileError> {
        self.lexer
            .process_word(word, env)
            .map_err(|e| expansion_error(node, word, &e))
    }

    fn node(&mut self, node: &Node, instruction: &Instruction) -> Result<(), DockerfileError> {
        let site = Site { node };
        match instruction {
            Instruction::From(from) => self.from(node, from),
            _ if self.replaced => Ok(()),
            Instruction::Arg(decls) if self.stages.is_empty() => self.global_arg(node, decls),
            _ if self.stages.is_empty() => Err(site.at_keyword(format!(
                "{} is not allowed before the first FROM (no build stage in current context)",
                node.keyword.to_uppercase()
            ))),
            _ => self.instruction(node, instruction, None),
        }
    }

    fn global_arg(
        &mut self,
        node: &Node,
        decls: &[instructions::ArgDecl],
    ) -> Result<(), DockerfileError> {
        for decl in decls {
            let name = decl.name.as_str().to_string();
            let default = match &decl.default {
                Some(d) => Some(
                    self.lexer
                        .process(d.as_str(), &self.global.values())
                        .map_err(|e| expansion_error(node, d.as_str(), &e))?,
                ),
                None => None,
            };
            let given = self.opts.build_args.get(&name).cloned();
            // The globals a default read count as used with it, unless a
            // build arg gave the value (BuildKit's outline).
            let deps = match (&given, &default) {
                (None, Some(d)) => d.matched.clone(),
                _ => BTreeSet::new(),
            };
            let value = given.or(default.map(|d| d.word));
            self.consumed.insert(name.clone());
            self.outline.global_arg(node, &name, value.clone(), deps);
            self.global.declare(&name, value);
        }
        Ok(())
    }

    fn stage_index(&self) -> usize {
        self.stages.len().saturating_sub(1)
    }

    /// Adds a step to the current stage, with the build args in scope.
    pub(crate) fn push(&mut self, node: &Node, text: &str, kind: StepKind) {
        let index = self.stage_index();
        let Some(state) = self.states.get(index) else {
            return;
        };
        let mut build_args: BTreeMap<String, String> = state.args.values().into_iter().collect();
        for (k, v) in &self.opts.build_args {
            if args::is_predefined(k) {
                build_args.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        let env_over_args = (state.env_over_args.iter())
            .filter(|k| build_args.contains_key(*k))
            .cloned()
            .collect();
        if let Some(stage) = self.stages.get_mut(index) {
            stage.steps.push(Step {
                span: Span {
                    start_line: node.start_line,
                    end_line: node.end_line,
                },
                text: text.to_string(),
                kind,
                build_args,
                env_over_args,
            });
        }
    }

    fn finish(mut self) -> Result<Plan, DockerfileError> {
        let Some(last) = self.stages.len().checked_sub(1) else {
            return Err(DockerfileError::at(
                1,
                1,
                "no build stage: the Dockerfile has no FROM",
            ));
        };
        let target = match &self.opts.target {
            Some(t) => {
                let t_lower = t.to_ascii_lowercase();
                // The last stage of a duplicated name, as in BuildKit.
                match self
                    .stages
                    .iter()
                    .rposition(|s| s.name.as_deref() == Some(t_lower.as_str()))
                {
                    Some(i) => StageId(i),
                    None => {
                        return Err(DockerfileError::at(
                            1,
                            1,
                            format!("target stage {t:?} could not be found"),
                        ));
                    }
                }
            }
            None => StageId(last),
        };
        graph::check_cycles(&self.stages, &self.references)?;
        let unused: Vec<&str> = self
            .opts
            .build_args
            .keys()
            .filter(|k| {
                !self.consumed.contains(*k)
                    && !args::is_predefined(k)
                    && k.as_str() != checks::CHECK_BUILD_ARG
            })
            .map(String::as_str)
            .collect();
        if !unused.is_empty() {
            self.warn(
                None,
                "UnusedBuildArg",
                format!(
                    "one or more build-args [{}] were not consumed",
                    unused.join(", ")
                ),
            );
        }
        let mut plan = Plan {
            stages: self.stages,
            target,
            directives: BTreeMap::new(),
            ignore_rules: Vec::new(),
            warnings: Vec::new(),
        };
        let built: BTreeSet<usize> = plan.required_stages().into_iter().map(|s| s.0).collect();
        let all = self.opts.all_stages;
        graph::check_copy_order(&plan.stages, &self.references, &built, all)?;
        plan.warnings = self
            .warnings
            .into_iter()
            .filter(|(_, stage)| all || stage.is_none_or(|s| built.contains(&s)))
            .map(|(w, _)| w)
            .collect();
        // In Dockerfile order; warnings about no line last.
        plan.warnings
            .sort_by_key(|w| w.span.map_or(usize::MAX, |s| s.start_line));
        Ok(plan)
    }
}

/// A failed expansion of `word` in `node`, pointing at the construct at fault.
pub(crate) fn expansion_error(
    node: &Node,
    word: &str,
    e: &crate::shell::ShellError,
) -> DockerfileError {
    let kw = node.keyword_raw.len();
    let at = match node.find(word, kw) {
        Some(start) if !word.is_empty() => node.position(start + e.byte_position()),
        _ => node.keyword_position(),
    };
    Site { node }.error(at, e.to_string())
}

/// `path` made absolute against the working directory, and cleaned.
pub(crate) fn join(workdir: &str, path: &str) -> String {
    if path.starts_with('/') {
        return strata_plan::clean_path(path);
    }
    strata_plan::clean_path(&format!("/{workdir}/{path}"))
}
