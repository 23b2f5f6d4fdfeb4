//! What the lowering records for `--call=outline`, as BuildKit's
//! dispatcher does (`outlineCapture`): every ARG in scope with its value,
//! description and line; the names each stage uses (in its `FROM` line,
//! and every ARG it declares); the secrets and ssh agents its RUNs mount.
//! The outline of a target is then what the target, the stage it is built
//! on and the stages it reads use, each arg once.

use super::{LowerOptions, lower_unchecked};
use crate::error::DockerfileError;
use crate::lints;
use crate::parser::Node;
use crate::subrequests::{Outline, OutlineArg, OutlineMount};
use std::collections::{BTreeMap, BTreeSet};
use strata_plan::{Plan, Span, StageId};

/// An ARG as the outline shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ArgInfo {
    value: Option<String>,
    description: Option<String>,
    span: Span,
    /// Global args its default read (they count as used with it).
    deps: BTreeSet<String>,
}

/// One stage's record.
#[derive(Debug, Clone, Default)]
struct StageCapture {
    description: Option<String>,
    args: BTreeMap<String, ArgInfo>,
    used: BTreeSet<String>,
    secrets: BTreeMap<String, OutlineMount>,
    ssh: BTreeMap<String, OutlineMount>,
}

/// The record of a whole Dockerfile.
#[derive(Debug, Clone, Default)]
pub(crate) struct Capture {
    global: BTreeMap<String, ArgInfo>,
    stages: Vec<StageCapture>,
}

fn span(node: &Node) -> Span {
    Span {
        start_line: node.start_line,
        end_line: node.end_line,
    }
}

impl Capture {
    /// A global `ARG`: its value (a build arg, else the expanded default)
    /// and the global args the default read.
    pub(super) fn global_arg(
        &mut self,
        node: &Node,
        name: &str,
        value: Option<String>,
        deps: BTreeSet<String>,
    ) {
        let info = ArgInfo {
            value,
            description: lints::description(&node.comments, name).map(str::to_string),
            span: span(node),
            deps,
        };
        self.global.insert(name.to_string(), info);
    }

    /// A new stage, which sees the global args and uses those of its
    /// `FROM` line (none for a stage a named context replaces).
    pub(super) fn stage(&mut self, node: &Node, name: Option<&str>, used: BTreeSet<String>) {
        self.stages.push(StageCapture {
            description: name
                .and_then(|n| lints::description(&node.comments, n))
                .map(str::to_string),
            args: self.global.clone(),
            used,
            ..StageCapture::default()
        });
    }

    /// An `ARG` of the current stage. One that only brings a global arg
    /// into the stage (`inherited`: no default, no build arg, declared
    /// globally) keeps the global's line and description, as BuildKit's;
    /// either way it is used.
    pub(super) fn stage_arg(
        &mut self,
        node: &Node,
        name: &str,
        inherited: bool,
        value: Option<String>,
    ) {
        let Some(stage) = self.stages.last_mut() else {
            return;
        };
        if !inherited {
            let info = ArgInfo {
                value,
                description: lints::description(&node.comments, name).map(str::to_string),
                span: span(node),
                deps: BTreeSet::new(),
            };
            stage.args.insert(name.to_string(), info);
        }
        stage.used.insert(name.to_string());
    }

    /// A secret (`ssh == false`) or ssh agent a RUN of the current stage
    /// mounts; the first mount of an id is the one shown.
    pub(super) fn mount(&mut self, node: &Node, ssh: bool, id: &str, required: bool) {
        let Some(stage) = self.stages.last_mut() else {
            return;
        };
        let map = if ssh {
            &mut stage.ssh
        } else {
            &mut stage.secrets
        };
        map.entry(id.to_string()).or_insert_with(|| OutlineMount {
            id: id.to_string(),
            required,
            span: span(node),
        });
    }

    /// The outline of `plan`'s target: its args, secrets and ssh agents,
    /// then those of the stage it is built on and of the stages it reads,
    /// each name once; in Dockerfile order.
    fn outline(&self, plan: &Plan) -> Outline {
        let mut visited = BTreeSet::new();
        let mut args = Vec::new();
        let mut secrets = BTreeMap::new();
        let mut ssh = BTreeMap::new();
        self.collect(
            plan,
            plan.target,
            &mut visited,
            &mut args,
            &mut secrets,
            &mut ssh,
        );
        args.sort_by_key(|a| a.span.start_line);
        let mut secrets: Vec<_> = secrets.into_values().collect();
        secrets.sort_by_key(|m| m.span.start_line);
        let mut ssh: Vec<_> = ssh.into_values().collect();
        ssh.sort_by_key(|m| m.span.start_line);
        let target = plan.target_stage();
        Outline {
            name: target.and_then(|s| s.name.clone()),
            description: self
                .stages
                .get(plan.target.0)
                .and_then(|s| s.description.clone()),
            args,
            secrets,
            ssh,
        }
    }

    fn collect(
        &self,
        plan: &Plan,
        id: StageId,
        visited: &mut BTreeSet<usize>,
        args: &mut Vec<OutlineArg>,
        secrets: &mut BTreeMap<String, OutlineMount>,
        ssh: &mut BTreeMap<String, OutlineMount>,
    ) {
        if !visited.insert(id.0) {
            return;
        }
        let (Some(stage), Some(capture)) = (plan.stage(id), self.stages.get(id.0)) else {
            return;
        };
        for name in capture.used_with_deps() {
            let Some(info) = capture.args.get(&name) else {
                continue;
            };
            if args.iter().any(|a| a.name == name) {
                continue;
            }
            args.push(OutlineArg {
                name,
                description: info.description.clone(),
                value: info.value.clone(),
                span: info.span,
            });
        }
        for (id, mount) in &capture.secrets {
            secrets.entry(id.clone()).or_insert_with(|| mount.clone());
        }
        for (id, mount) in &capture.ssh {
            ssh.entry(id.clone()).or_insert_with(|| mount.clone());
        }
        // The stage it is built on first, then the stages it reads.
        for dep in stage.dependencies() {
            self.collect(plan, dep, visited, args, secrets, ssh);
        }
    }
}

impl StageCapture {
    /// The args the stage uses, with the global args their defaults read
    /// (and theirs, …).
    fn used_with_deps(&self) -> BTreeSet<String> {
        let mut used = BTreeSet::new();
        let mut todo: Vec<String> = self.used.iter().cloned().collect();
        while let Some(name) = todo.pop() {
            if !used.insert(name.clone()) {
                continue;
            }
            if let Some(info) = self.args.get(&name) {
                todo.extend(info.deps.iter().cloned());
            }
        }
        used
    }
}

/// What `--call=outline` reports for the target: the build args it uses
/// (with their values in this build and their `# NAME description`
/// comments), the secrets and ssh agents its RUNs mount. A Dockerfile that
/// does not lower is an error, as for [`super::lower`].
pub fn outline(source: &str, opts: &LowerOptions<'_>) -> Result<Outline, DockerfileError> {
    let (plan, _, capture) = lower_unchecked(source, opts)?;
    Ok(capture.outline(&plan))
}
