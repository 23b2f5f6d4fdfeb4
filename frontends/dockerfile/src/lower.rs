//! Lowering: the syntax tree → a [`Plan`]. Stages and their graph, ARG
//! scoping, variable expansion in exactly the instructions Docker expands,
//! flags, and ONBUILD triggers of base images.
//!
//! ```
//! use strata_dockerfile::lower::{lower, LowerOptions};
//! let plan = lower("ARG V=1\nFROM alpine:$V AS base\nRUN echo hi\n", &LowerOptions::default()).unwrap();
//! assert_eq!(plan.stages[0].name.as_deref(), Some("base"));
//! assert_eq!(plan.stages[0].base, strata_plan::ImageSource::Image("alpine:1".into()));
//! ```

mod args;
mod flags;
mod instructions;
mod mounts;

use crate::error::DockerfileError;
use crate::parser::{Node, parse};
use crate::shell::Lexer;
use args::ArgScope;
use std::collections::{BTreeMap, BTreeSet};
use strata_plan::{IgnoreRule, ImageSource, Plan, Span, Stage, StageId, Warning};

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
}

/// The platform builds target (the host's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, …
    pub arch: String,
    /// `v8`, … (empty when none).
    pub variant: String,
}

impl Platform {
    /// The host platform in Go's naming.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            other => other,
        };
        Platform {
            os: "linux".into(),
            arch: arch.into(),
            variant: String::new(),
        }
    }

    /// `os/arch[/variant]`.
    pub fn to_spec(&self) -> String {
        if self.variant.is_empty() {
            format!("{}/{}", self.os, self.arch)
        } else {
            format!("{}/{}/{}", self.os, self.arch, self.variant)
        }
    }
}

/// Inputs of the lowering besides the Dockerfile text.
pub struct LowerOptions<'a> {
    /// The Dockerfile's name, for error messages.
    pub file_name: String,
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// Names given with `--build-context`.
    pub named_contexts: BTreeSet<String>,
    /// The platform built for.
    pub platform: Platform,
    /// `.dockerignore` rules, carried into the plan.
    pub ignore_rules: Vec<IgnoreRule>,
    /// Base image lookups (ENV for expansion, ONBUILD triggers).
    pub resolver: Option<&'a dyn ImageResolver>,
}

impl Default for LowerOptions<'_> {
    fn default() -> Self {
        LowerOptions {
            file_name: "Dockerfile".into(),
            build_args: BTreeMap::new(),
            target: None,
            named_contexts: BTreeSet::new(),
            platform: Platform::host(),
            ignore_rules: Vec::new(),
            resolver: None,
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
}

impl StageState {
    /// The variables for expansion: ARGs, overridden by ENV.
    pub fn expansion_env(&self) -> Vec<(String, String)> {
        let mut env = self.args.values();
        env.extend(self.env.iter().cloned());
        env
    }
}

/// Lowers a Dockerfile into a plan.
pub fn lower(source: &str, opts: &LowerOptions<'_>) -> Result<Plan, DockerfileError> {
    let in_file = |e: DockerfileError| e.in_file(&opts.file_name, source);
    let parsed = parse(source).map_err(in_file)?;
    let mut lowering = Lowering::new(opts, parsed.directives.escape);
    // Every stage name, so `--from` can refer to a stage defined later.
    lowering.all_stage_names = parsed
        .nodes
        .iter()
        .filter(|n| n.keyword == "from")
        .map(|n| match n.words().as_slice() {
            [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => Some(name.to_ascii_lowercase()),
            _ => None,
        })
        .collect();
    for (line, message) in &parsed.warnings {
        lowering.warn(Some(*line), "NoEmptyContinuation", message.clone());
    }
    for node in &parsed.nodes {
        lowering.node(node).map_err(in_file)?;
    }
    let mut plan = lowering.finish().map_err(in_file)?;
    plan.directives = parsed.directives.values.clone();
    plan.ignore_rules = opts.ignore_rules.clone();
    Ok(plan)
}

pub(crate) struct Lowering<'o, 'a> {
    pub opts: &'o LowerOptions<'a>,
    pub lexer: Lexer,
    /// The escape character (`\` or backtick).
    pub escape: char,
    pub global: ArgScope,
    pub stages: Vec<Stage>,
    pub states: Vec<StageState>,
    pub warnings: Vec<Warning>,
    /// Build args some ARG declared (to warn about the rest).
    pub consumed: BTreeSet<String>,
    /// The names of all stages of the file, in order (`None` for unnamed).
    pub all_stage_names: Vec<Option<String>>,
    /// (stage, referenced stage name, line) for COPY --from / mounts, checked at the end.
    pub references: Vec<(usize, usize, usize)>,
}

impl<'o, 'a> Lowering<'o, 'a> {
    fn new(opts: &'o LowerOptions<'a>, escape: char) -> Self {
        Lowering {
            opts,
            lexer: Lexer::new(escape),
            escape,
            global: ArgScope::global(&opts.platform),
            stages: Vec::new(),
            states: Vec::new(),
            warnings: Vec::new(),
            consumed: BTreeSet::new(),
            all_stage_names: Vec::new(),
            references: Vec::new(),
        }
    }

    pub(crate) fn warn(&mut self, line: Option<usize>, rule: &str, message: String) {
        self.warnings.push(Warning {
            span: line.map(|l| Span {
                start_line: l,
                end_line: l,
            }),
            rule: rule.into(),
            message,
        });
    }

    fn node(&mut self, node: &Node) -> Result<(), DockerfileError> {
        let err = |m: String| DockerfileError::at(node.start_line, 1, m);
        match node.keyword.as_str() {
            "from" => self.from(node).map_err(err),
            "arg" if self.stages.is_empty() => self.global_arg(node).map_err(err),
            _ if self.stages.is_empty() => Err(err(format!(
                "{} is not allowed before the first FROM (no build stage in current context)",
                node.keyword.to_uppercase()
            ))),
            _ => self.instruction(node, None).map_err(err),
        }
    }

    fn global_arg(&mut self, node: &Node) -> Result<(), String> {
        for word in node.words() {
            let (name, default) = args::split_arg(word)?;
            let default = match default {
                Some(d) => Some(self.expand_global(&d)?),
                None => None,
            };
            let value = self.opts.build_args.get(&name).cloned().or(default);
            self.consumed.insert(name.clone());
            self.global.declare(&name, value);
        }
        Ok(())
    }

    fn expand_global(&mut self, word: &str) -> Result<String, String> {
        let env = self.global.values();
        self.lexer
            .process_word(word, &env)
            .map_err(|e| e.to_string())
    }

    fn from(&mut self, node: &Node) -> Result<(), String> {
        let flags = flags::Flags::parse("from", &node.flags, &[("platform", flags::Kind::Value)])?;
        let words = node.words();
        let (image, name) = match words.as_slice() {
            [image] => (*image, None),
            [image, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => (*image, Some(*name)),
            _ => {
                return Err(
                    "FROM requires either one or three arguments (FROM image [AS name])".into(),
                );
            }
        };
        let env = self.global.values();
        let processed = self.lexer.process(image, &env).map_err(|e| e.to_string())?;
        for unset in &processed.unmatched {
            self.warn(
                Some(node.start_line),
                "UndefinedArgInFrom",
                format!("FROM argument '{unset}' is not declared"),
            );
        }
        let image = processed.word;
        if image.is_empty() {
            return Err(format!("base name ({}) should not be blank", words[0]));
        }
        let platform = match flags.value("platform") {
            Some(p) => Some(self.expand_global(p)?),
            None => None,
        };
        let name = match name {
            Some(n) => {
                let lower = n.to_ascii_lowercase();
                if lower != n {
                    self.warn(
                        Some(node.start_line),
                        "StageNameCasing",
                        format!("Stage name '{n}' should be lowercase"),
                    );
                }
                let valid = lower.starts_with(|c: char| c.is_ascii_lowercase())
                    && lower
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
                if !valid {
                    return Err(format!(
                        "invalid name for build stage: {n:?}, name can't start with a number or contain symbols"
                    ));
                }
                if self
                    .stages
                    .iter()
                    .any(|s| s.name.as_deref() == Some(lower.as_str()))
                {
                    return Err(format!(
                        "duplicate name {lower:?}: stage names must be unique"
                    ));
                }
                Some(lower)
            }
            None => None,
        };
        let lower_image = image.to_ascii_lowercase();
        let (base, mut state) = if lower_image == "scratch" {
            (ImageSource::Scratch, StageState::default())
        } else if let Some(id) = self
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower_image.as_str()))
        {
            let parent = &self.states[id];
            (
                ImageSource::Stage(StageId(id)),
                StageState {
                    env: parent.env.clone(),
                    workdir: parent.workdir.clone(),
                    args: ArgScope::default(),
                },
            )
        } else if self.opts.named_contexts.contains(&image) {
            (
                ImageSource::NamedContext(image.clone()),
                StageState::default(),
            )
        } else {
            let info = self.opts.resolver.and_then(|r| r.resolve(&image));
            let state = StageState {
                env: info.as_ref().map(|i| i.env.clone()).unwrap_or_default(),
                workdir: info
                    .as_ref()
                    .and_then(|i| i.workdir.clone())
                    .unwrap_or_default(),
                args: ArgScope::default(),
            };
            (ImageSource::Image(image.clone()), state)
        };
        if state.workdir.is_empty() {
            state.workdir = "/".into();
        }
        let id = self.stages.len();
        self.stages.push(Stage {
            id: StageId(id),
            name,
            base: base.clone(),
            platform,
            steps: Vec::new(),
            span: Span {
                start_line: node.start_line,
                end_line: node.end_line,
            },
        });
        self.states.push(state);
        // ONBUILD triggers of the base image run first, in order.
        if let ImageSource::Image(reference) = &base
            && let Some(info) = self.opts.resolver.and_then(|r| r.resolve(reference))
        {
            for trigger in &info.onbuild {
                let parsed = parse(trigger).map_err(|e| {
                    format!("ONBUILD trigger {trigger:?} of {reference}: {}", e.message)
                })?;
                for mut child in parsed.nodes {
                    child.start_line = node.start_line;
                    child.end_line = node.end_line;
                    self.instruction(&child, Some(trigger))?;
                }
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Plan, DockerfileError> {
        if self.stages.is_empty() {
            return Err(DockerfileError::at(
                1,
                1,
                "no build stage: the Dockerfile has no FROM",
            ));
        }
        let target = match &self.opts.target {
            Some(t) => {
                let t_lower = t.to_ascii_lowercase();
                match self
                    .stages
                    .iter()
                    .position(|s| s.name.as_deref() == Some(t_lower.as_str()))
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
            None => StageId(self.stages.len() - 1),
        };
        self.check_cycles()?;
        let unused: Vec<&String> = self
            .opts
            .build_args
            .keys()
            .filter(|k| !self.consumed.contains(*k) && !args::is_predefined(k))
            .collect();
        if !unused.is_empty() {
            let names = unused
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            self.warn(
                None,
                "UnusedBuildArg",
                format!("one or more build-args [{names}] were not consumed"),
            );
        }
        Ok(Plan {
            stages: self.stages,
            target,
            directives: BTreeMap::new(),
            ignore_rules: Vec::new(),
            warnings: self.warnings,
        })
    }

    fn check_cycles(&self) -> Result<(), DockerfileError> {
        fn visit(
            stages: &[Stage],
            id: usize,
            state: &mut [u8],
            refs: &[(usize, usize, usize)],
        ) -> Result<(), (usize, usize)> {
            state[id] = 1;
            for dep in stages[id].dependencies() {
                match state.get(dep.0) {
                    Some(1) => {
                        let line = refs
                            .iter()
                            .find(|(s, d, _)| *s == id && *d == dep.0)
                            .map_or(stages[id].span.start_line, |r| r.2);
                        return Err((dep.0, line));
                    }
                    Some(0) => visit(stages, dep.0, state, refs)?,
                    _ => {}
                }
            }
            state[id] = 2;
            Ok(())
        }
        let mut state = vec![0u8; self.stages.len()];
        for id in 0..self.stages.len() {
            if state[id] == 0 {
                visit(&self.stages, id, &mut state, &self.references).map_err(|(dep, line)| {
                    let name = self.stages[dep]
                        .name
                        .clone()
                        .unwrap_or_else(|| dep.to_string());
                    DockerfileError::at(
                        line,
                        1,
                        format!("circular dependency detected on stage: {name}"),
                    )
                })?;
            }
        }
        Ok(())
    }
}
