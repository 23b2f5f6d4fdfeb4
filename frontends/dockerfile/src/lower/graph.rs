//! The stage graph: what a `--from` (or a mount's `from=`) names, and the
//! check that no stage depends on itself.

use super::{Lowering, NamedSource, Site};
use crate::error::DockerfileError;
use crate::parser::Node;
use std::collections::BTreeSet;
use strata_plan::{CopySource, Stage, StageId};

/// A stage's use of another stage, with the place that names it.
#[derive(Debug, Clone)]
pub(crate) struct Reference {
    /// The stage that reads.
    pub stage: usize,
    /// The stage read from.
    pub dep: usize,
    /// Line and column of the name.
    pub at: (usize, usize),
    /// The instruction's last line.
    pub end_line: usize,
    /// The `--from` value of a COPY (not a mount's `from=`).
    pub copy_from: Option<String>,
}

impl Lowering<'_, '_> {
    /// Resolves a `--from=` value (already expanded where BuildKit expands
    /// it): a stage by name or index, a named context, or an image.
    /// `prefix` (`--from=`, `from=`) locates the value for errors.
    pub(super) fn source(
        &mut self,
        node: &Node,
        from: &str,
        prefix: &str,
    ) -> Result<CopySource, DockerfileError> {
        let site = Site { node };
        let kw = node.keyword_raw.len();
        let at = node
            .find(&format!("{prefix}{from}"), kw)
            .map(|i| node.position(i + prefix.len()))
            .unwrap_or_else(|| node.locate_first(&[from, prefix]));
        let lower = from.to_ascii_lowercase();
        let current = self.stage_index();
        // The last stage of a duplicated name, as in BuildKit.
        let by_name = self
            .all_stage_names
            .iter()
            .rposition(|s| s.as_deref() == Some(lower.as_str()));
        let id = match (by_name, from.parse::<usize>()) {
            (Some(i), _) => Some(i),
            (None, Ok(i)) if i < self.all_stage_names.len() => Some(i),
            (None, Ok(i)) => {
                return Err(site.error(at, format!("invalid stage index {i}")));
            }
            (None, Err(_)) => None,
        };
        if let Some(id) = id {
            if id == current {
                return Err(
                    site.error(at, format!("circular dependency detected on stage: {from}"))
                );
            }
            self.references.push(Reference {
                stage: current,
                dep: id,
                at,
                end_line: node.end_line,
                copy_from: (prefix == "--from=").then(|| from.to_string()),
            });
            return Ok(CopySource::Stage(StageId(id)));
        }
        match self.opts.named_contexts.get(from) {
            Some((_, NamedSource::Image(reference))) => Ok(CopySource::Image(reference.clone())),
            Some((key, NamedSource::Local)) => Ok(CopySource::NamedContext(key)),
            None => Ok(CopySource::Image(from.to_string())),
        }
    }
}

/// Fails on a COPY of a built stage (`built`, or every stage with
/// `all`) from a stage defined after it: BuildKit dispatches stages in
/// order, and refuses to copy from one not dispatched yet.
pub(super) fn check_copy_order(
    stages: &[Stage],
    refs: &[Reference],
    built: &BTreeSet<usize>,
    all: bool,
) -> Result<(), DockerfileError> {
    let name = |i: usize| {
        stages
            .get(i)
            .and_then(|s| s.name.clone())
            .unwrap_or_else(|| format!("stage-{i}"))
    };
    for r in refs {
        let Some(from) = &r.copy_from else { continue };
        if r.dep > r.stage && (all || built.contains(&r.stage)) {
            let message = format!(
                "cannot copy from stage {from:?}, it needs to be defined before current stage {:?}",
                name(r.stage)
            );
            return Err(DockerfileError::spanning(
                r.at.0, r.end_line, r.at.1, message,
            ));
        }
    }
    Ok(())
}

/// Fails on a cycle between stages, pointing at the reference that closes it.
pub(super) fn check_cycles(stages: &[Stage], refs: &[Reference]) -> Result<(), DockerfileError> {
    fn visit(
        stages: &[Stage],
        id: usize,
        state: &mut [u8],
        refs: &[Reference],
    ) -> Result<(), DockerfileError> {
        state[id] = 1;
        for dep in stages[id].dependencies() {
            match state.get(dep.0) {
                Some(1) => {
                    let name = stages[dep.0]
                        .name
                        .clone()
                        .unwrap_or_else(|| dep.0.to_string());
                    let message = format!("circular dependency detected on stage: {name}");
                    let (line, column, end) = refs
                        .iter()
                        .find(|r| r.stage == id && r.dep == dep.0)
                        .map_or(
                            (stages[id].span.start_line, 1, stages[id].span.end_line),
                            |r| (r.at.0, r.at.1, r.end_line),
                        );
                    return Err(DockerfileError::spanning(line, end, column, message));
                }
                Some(0) => visit(stages, dep.0, state, refs)?,
                _ => {}
            }
        }
        state[id] = 2;
        Ok(())
    }
    let mut state = vec![0u8; stages.len()];
    for id in 0..stages.len() {
        if state[id] == 0 {
            visit(stages, id, &mut state, refs)?;
        }
    }
    Ok(())
}
