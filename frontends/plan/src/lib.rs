//! The build plan: pure data that a frontend produces and the builder executes.
//!
//! A [`Plan`] is a set of [`Stage`]s, each a base image followed by ordered
//! [`Step`]s. Every value is already expanded (ARG/ENV substitution done by the
//! frontend) and carries the source span it came from, so the builder can
//! report errors against the Dockerfile and the cache can key steps on a
//! canonical encoding of them. Nothing here performs I/O.
//!
//! ```
//! use strata_plan::{ImageSource, Plan, Stage, StageId};
//! let plan = Plan {
//!     stages: vec![Stage {
//!         id: StageId(0),
//!         name: None,
//!         base: ImageSource::Scratch,
//!         platform: None,
//!         steps: vec![],
//!         span: Default::default(),
//!     }],
//!     target: StageId(0),
//!     ..Default::default()
//! };
//! assert_eq!(plan.target_stage().map(|s| s.id), Some(StageId(0)));
//! ```

mod chmod;
mod config;
mod copy;
mod dump;
mod json;
mod path;
mod remote;
mod run;

pub use chmod::{Chmod, ChmodError, ModeOp};
pub use config::{Command, ConfigEdit, Healthcheck, HealthcheckTest};
pub use copy::{CopySource, CopySources, CopyStep, HeredocFile};
pub use json::go_escape_html;
pub use path::clean_path;
pub use remote::{SourceKind, is_scp_like, url_file_name};
pub use run::{
    BindMount, CacheMount, CacheSharing, Mount, NetworkMode, RunSandbox, RunStep, SecretMount,
    SecurityMode, SshMount, TmpfsMount, Ulimit,
};

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The version of the plan encoding. Bump it whenever a change to these types
/// changes the meaning of an encoded step, so cache keys from older versions
/// can never be confused with new ones.
pub const PLAN_ENCODING_VERSION: u32 = 1;

/// A whole build: its stages and the one the user asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Every stage of the Dockerfile, in source order (`stages[i].id == StageId(i)`).
    /// Stages that the target does not need are kept here; use
    /// [`Plan::required_stages`] to find the ones to build.
    pub stages: Vec<Stage>,
    /// The stage whose result is the build's output (`--target`, or the last one).
    pub target: StageId,
    /// Parser directives found at the top of the Dockerfile (`syntax`, `escape`, `check`).
    pub directives: BTreeMap<String, String>,
    /// Rules from `.dockerignore` (or `NAME.dockerignore`), in file order.
    pub ignore_rules: Vec<IgnoreRule>,
    /// Non-fatal findings (unused build args, deprecated forms, …).
    pub warnings: Vec<Warning>,
}

impl Plan {
    /// The target stage, if the plan is well-formed.
    pub fn target_stage(&self) -> Option<&Stage> {
        self.stages.get(self.target.0)
    }

    /// Looks up a stage by id.
    pub fn stage(&self, id: StageId) -> Option<&Stage> {
        self.stages.get(id.0)
    }

    /// The stages the target depends on (directly or transitively), including
    /// the target itself, in an order where every stage comes after the stages
    /// it depends on.
    pub fn required_stages(&self) -> Vec<StageId> {
        let mut order = Vec::new();
        let mut state = vec![0u8; self.stages.len()]; // 0 new, 1 visiting, 2 done
        self.visit(self.target, &mut state, &mut order);
        order
    }

    fn visit(&self, id: StageId, state: &mut [u8], order: &mut Vec<StageId>) {
        let Some(slot) = state.get_mut(id.0) else {
            return;
        };
        if *slot != 0 {
            return; // done, or a cycle (frontends reject cycles before this)
        }
        *slot = 1;
        if let Some(stage) = self.stage(id) {
            for dep in stage.dependencies() {
                self.visit(dep, state, order);
            }
        }
        state[id.0] = 2;
        order.push(id);
    }
}

/// Index of a stage in [`Plan::stages`].
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct StageId(pub usize);

/// A location in the Dockerfile: 1-based lines, inclusive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// First line of the instruction.
    pub start_line: usize,
    /// Last line of the instruction (continuations and heredocs included).
    pub end_line: usize,
}

/// One `FROM` and the instructions under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// Position of this stage in the Dockerfile.
    pub id: StageId,
    /// `AS name`, lower-cased as BuildKit does.
    pub name: Option<String>,
    /// What the stage starts from.
    pub base: ImageSource,
    /// `FROM --platform=…`, expanded.
    pub platform: Option<String>,
    /// The stage's instructions that do something, in order.
    pub steps: Vec<Step>,
    /// The `FROM` line.
    pub span: Span,
}

impl Stage {
    /// Stages this one reads from: its base and every `--from`/bind mount source.
    pub fn dependencies(&self) -> Vec<StageId> {
        let mut deps = Vec::new();
        if let ImageSource::Stage(id) = self.base {
            deps.push(id);
        }
        for step in &self.steps {
            match &step.kind {
                StepKind::Copy(copy) => {
                    if let CopySource::Stage(id) = copy.from {
                        deps.push(id);
                    }
                }
                StepKind::Run(run) => {
                    for mount in &run.mounts {
                        if let Some(CopySource::Stage(id)) = mount.from() {
                            deps.push(*id);
                        }
                    }
                }
                _ => {}
            }
        }
        deps.sort();
        deps.dedup();
        deps
    }
}

/// Where a stage's root filesystem (or a `COPY --from`) comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageSource {
    /// `FROM scratch`: an empty filesystem and an empty config.
    Scratch,
    /// An earlier stage of the same Dockerfile.
    Stage(StageId),
    /// An image reference, as written after expansion (`python:3.12-slim`,
    /// `localhost:5000/x@sha256:…`). Normalisation is the builder's job.
    Image(String),
    /// A named build context given on the command line (`--build-context NAME=…`).
    NamedContext(String),
}

/// One instruction that does something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Where the instruction is in the Dockerfile.
    pub span: Span,
    /// The instruction as the user wrote it (continuations joined), for
    /// progress output, history (`created_by`) and error messages.
    pub text: String,
    /// What the step does.
    pub kind: StepKind,
    /// Build arguments in scope at this step with a value (`ARG` declared in
    /// the stage, value from `--build-arg` or the default). They are visible
    /// to `RUN` as environment variables but do not reach the image config.
    /// Only arguments actually in scope are listed, so an ARG changes the keys
    /// of steps from its declaration on, as in Docker.
    pub build_args: BTreeMap<String, String>,
    /// Build args (of `build_args`) that an `ENV` of the same name set
    /// again after their `ARG`: `RUN` sees the ENV's value. Any other build
    /// arg replaces an ENV of its name (the base image's, or one before the
    /// ARG), as BuildKit puts an ARG's value into the stage's environment
    /// and the latest wins; the image's ENV keeps the ENV's value.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub env_over_args: BTreeSet<String>,
}

impl Step {
    /// Adds the build args to `env` (a `RUN`'s environment, the image's
    /// ENV): an arg replaces the ENV of its name unless it is in
    /// `env_over_args`. Args `skip` names are left out (the caller handles
    /// them).
    pub fn add_build_args(&self, env: &mut Vec<(String, String)>, skip: impl Fn(&str) -> bool) {
        for (key, value) in &self.build_args {
            if skip(key) {
                continue;
            }
            match env.iter_mut().find(|(k, _)| k == key) {
                Some(_) if self.env_over_args.contains(key) => {}
                Some(slot) => slot.1 = value.clone(),
                None => env.push((key.clone(), value.clone())),
            }
        }
    }
}

/// The kinds of step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepKind {
    /// `RUN`: execute a command on top of the current filesystem.
    Run(RunStep),
    /// `COPY` or `ADD`.
    Copy(CopyStep),
    /// `WORKDIR`: set the working directory and create it if it is missing.
    /// The path is expanded but may be relative; the builder joins it with
    /// the current working directory.
    Workdir(String),
    /// An instruction that only changes the image configuration.
    Config(ConfigEdit),
}

/// One `.dockerignore` line after cleaning (comments and blank lines dropped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoreRule {
    /// The pattern, cleaned as Docker does (leading `/` removed, path cleaned),
    /// without the leading `!`.
    pub pattern: String,
    /// `!pattern`: re-includes what earlier rules excluded.
    pub negated: bool,
}

/// A non-fatal message about the Dockerfile or the build arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Where it applies, when it is about one instruction.
    pub span: Option<Span>,
    /// A short rule name in BuildKit's style (`UndefinedArgInFrom`, `UnusedBuildArg`, …).
    pub rule: String,
    /// The human-readable message.
    pub message: String,
}
