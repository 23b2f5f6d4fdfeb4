//! The walk over the plan: stages in dependency order, steps in order.

use crate::error::LlbError;
use crate::graph::{Graph, OutputRef};
use crate::reference::{normalize_image_ref, parse_platform};
use crate::sources::{self, LocalFilter, MAIN_CONTEXT};
use crate::state::StageState;
use crate::{LlbOptions, NamedContext};
use bollard_buildkit_proto::pb;
use std::collections::BTreeMap;
use strata_plan::{ConfigEdit, CopySource, ImageSource, Plan, StageId, StepKind};

/// Compilation in progress.
pub(crate) struct Compiler<'a> {
    plan: &'a Plan,
    opts: &'a LlbOptions,
    pub(crate) graph: Graph,
    /// Default platform: of sources not tied to a stage, and of stages
    /// without `--platform`.
    pub(crate) platform: pb::Platform,
    filters: BTreeMap<String, LocalFilter>,
    done: BTreeMap<StageId, StageState>,
}

impl<'a> Compiler<'a> {
    pub(crate) fn new(plan: &'a Plan, opts: &'a LlbOptions) -> Result<Self, LlbError> {
        let platform = parse_platform(&opts.platform).ok_or_else(|| LlbError::InvalidPlatform {
            platform: opts.platform.clone(),
            line: 0,
        })?;
        let is_local =
            |name: &str| !matches!(opts.named_contexts.get(name), Some(NamedContext::Image(_)));
        let filters = sources::collect_filters(plan, &is_local);
        Ok(Compiler {
            plan,
            opts,
            graph: Graph::default(),
            platform,
            filters,
            done: BTreeMap::new(),
        })
    }

    /// Compiles every stage the target needs; returns the target's result.
    pub(crate) fn compile(mut self) -> Result<pb::Definition, LlbError> {
        let target = self.plan.target;
        if self.plan.stage(target).is_none() {
            return Err(LlbError::MissingTarget(target));
        }
        for id in self.plan.required_stages() {
            let state = self.stage(id)?;
            self.done.insert(id, state);
        }
        let root: Option<OutputRef> = self.done.get(&target).and_then(|s| s.root.clone());
        Ok(self.graph.finish(root.as_ref()))
    }

    /// The final state of a stage (its config-relevant parts are read by
    /// [`crate::image_config`] through the plan, not through this state).
    fn stage(&mut self, id: StageId) -> Result<StageState, LlbError> {
        let stage = self
            .plan
            .stage(id)
            .ok_or(LlbError::UnknownStage { stage: id, line: 0 })?;
        let line = stage.span.start_line;
        let platform = match &stage.platform {
            Some(p) => parse_platform(p).ok_or_else(|| LlbError::InvalidPlatform {
                platform: p.clone(),
                line,
            })?,
            None => self.platform.clone(),
        };
        let label = if self.plan.stages.len() == 1 {
            String::new()
        } else {
            stage
                .name
                .clone()
                .unwrap_or_else(|| format!("stage-{}", id.0))
        };
        let steps_total = stage
            .steps
            .iter()
            .filter(|s| !matches!(s.kind, StepKind::Config(_)))
            .count();

        let image_base = match &stage.base {
            ImageSource::Image(r) => Some(r.clone()),
            ImageSource::NamedContext(n) => match self.opts.named_contexts.get(n) {
                Some(NamedContext::Image(r)) => Some(r.clone()),
                Some(NamedContext::Local) => None,
                None => {
                    return Err(LlbError::NamedContextUnmapped {
                        name: n.clone(),
                        line,
                    });
                }
            },
            _ => None,
        };
        let mut st = match &stage.base {
            ImageSource::Stage(base) => {
                let mut st = self.built(*base, line)?;
                if stage.platform.is_some() {
                    st.platform = platform;
                }
                st
            }
            ImageSource::NamedContext(n) if image_base.is_none() => {
                let root = self.local(n);
                StageState::new(Some(root), platform)
            }
            _ => StageState::new(None, platform),
        };
        st.label = label;
        st.index = 0;
        st.total = steps_total + usize::from(image_base.is_some());
        if let Some(reference) = image_base {
            let normalized =
                normalize_image_ref(&reference).map_err(|reason| LlbError::InvalidImageRef {
                    reference: reference.clone(),
                    reason,
                    line,
                })?;
            let name = st.progress_name(&format!("FROM {normalized}"));
            st.root = Some(sources::image(
                &mut self.graph,
                &normalized,
                &st.platform,
                &name,
            ));
        }

        for step in &stage.steps {
            match &step.kind {
                StepKind::Run(run) => self.run(&mut st, step, run)?,
                StepKind::Copy(copy) => self.copy(&mut st, step, copy)?,
                StepKind::Workdir(dir) => self.workdir(&mut st, step, dir),
                StepKind::Config(edit) => match edit {
                    ConfigEdit::Env(pairs) => {
                        for (k, v) in pairs {
                            st.set_env(k, v);
                        }
                    }
                    ConfigEdit::User(u) => st.user = u.clone(),
                    ConfigEdit::Shell(s) => st.shell = s.clone(),
                    _ => {}
                },
            }
        }
        Ok(st)
    }

    /// The state of an already compiled stage.
    fn built(&self, id: StageId, line: usize) -> Result<StageState, LlbError> {
        if self.plan.stage(id).is_none() {
            return Err(LlbError::UnknownStage { stage: id, line });
        }
        self.done
            .get(&id)
            .cloned()
            .ok_or(LlbError::StageNotBuilt { stage: id, line })
    }

    /// The local source of a context, with its filters.
    fn local(&mut self, name: &str) -> OutputRef {
        let excludes = if name == MAIN_CONTEXT {
            self.plan.ignore_rules.as_slice()
        } else {
            &[]
        };
        sources::local(
            &mut self.graph,
            name,
            self.opts.session_id.as_deref(),
            excludes,
            self.filters.get(name),
            &self.platform,
        )
    }

    /// The filesystem a `COPY --from`, bind or cache mount reads.
    pub(crate) fn copy_source(
        &mut self,
        from: &CopySource,
        line: usize,
        platform: &pb::Platform,
    ) -> Result<Option<OutputRef>, LlbError> {
        let reference = match from {
            CopySource::Context => return Ok(Some(self.local(MAIN_CONTEXT))),
            CopySource::Stage(id) => return Ok(self.built(*id, line)?.root),
            CopySource::NamedContext(n) => match self.opts.named_contexts.get(n) {
                Some(NamedContext::Image(r)) => r.clone(),
                Some(NamedContext::Local) | None => return Ok(Some(self.local(n))),
            },
            CopySource::Image(r) => r.clone(),
        };
        let normalized =
            normalize_image_ref(&reference).map_err(|reason| LlbError::InvalidImageRef {
                reference: reference.clone(),
                reason,
                line,
            })?;
        let name = format!("FROM {normalized}");
        Ok(Some(sources::image(
            &mut self.graph,
            &normalized,
            platform,
            &name,
        )))
    }
}
