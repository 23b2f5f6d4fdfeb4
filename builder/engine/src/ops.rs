//! The work the solver delegates: everything that touches files, images or
//! processes. The solver decides *whether* a step runs (keys, cache
//! lookups, reasons); an [`Ops`] implementation decides *how*. The real one
//! is [`crate::worker::Worker`]; tests of the cache logic use fakes and need
//! no root.

use crate::state::{LayerRef, State};
use std::collections::BTreeMap;
use strata_plan::{CopyStep, ImageSource, RunStep, StageId};

/// An error from an operation, with its cause.
pub type OpError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The results of the stages finished so far, for `--from=stage`.
pub type Stages = BTreeMap<StageId, State>;

/// What a COPY or ADD reads, as a digest plus (when cheap) per-file digests
/// for explanations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceDigest {
    /// Digest of the selected content (names, types, modes, bytes).
    pub digest: String,
    /// Relative path → entry digest, when the source can list them.
    pub files: Option<BTreeMap<String, String>>,
}

/// A RUN step with everything resolved from the stage's state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PreparedRun {
    /// The step as planned (mounts, network, security, heredoc files).
    pub step: RunStep,
    /// The argv after shell wrapping.
    pub argv: Vec<String>,
    /// The environment: the image's plus build args in scope (ENV wins).
    pub env: Vec<(String, String)>,
    /// `USER` in effect (unresolved; empty for root).
    pub user: String,
    /// The working directory.
    pub workdir: String,
}

/// The side effects of a build.
pub trait Ops: Sync {
    /// The state a stage starts from (not for `Scratch` or `Stage`, which
    /// the solver handles).
    fn base(&self, source: &ImageSource) -> Result<State, OpError>;

    /// Digest of what a COPY/ADD selects, before running it.
    fn copy_inputs(
        &self,
        parent: &State,
        copy: &CopyStep,
        stages: &Stages,
    ) -> Result<SourceDigest, OpError>;

    /// Performs a COPY/ADD; returns the layer, or none if nothing changed.
    fn copy(
        &self,
        parent: &State,
        copy: &CopyStep,
        stages: &Stages,
    ) -> Result<Option<LayerRef>, OpError>;

    /// Performs a COPY/ADD whose files no later step of this build reads
    /// (the last filesystem step of the target stage): only its layer is
    /// needed, so the worker may skip keeping a snapshot of it. By default,
    /// [`Ops::copy`].
    fn copy_unread(
        &self,
        parent: &State,
        copy: &CopyStep,
        stages: &Stages,
    ) -> Result<Option<LayerRef>, OpError> {
        self.copy(parent, copy, stages)
    }

    /// Creates a directory (WORKDIR) if missing; returns the layer if one
    /// was needed.
    fn mkdir(&self, parent: &State, dir: &str) -> Result<Option<LayerRef>, OpError>;

    /// Digests of the content a RUN step's bind mounts expose, by target.
    fn mount_inputs(
        &self,
        parent: &State,
        run: &PreparedRun,
        stages: &Stages,
    ) -> Result<BTreeMap<String, String>, OpError>;

    /// Runs a RUN step, streaming its output lines to `output`. A non-zero
    /// exit is an error (the solver reports it with the step).
    fn run(
        &self,
        parent: &State,
        run: &PreparedRun,
        stages: &Stages,
        output: &mut dyn FnMut(&str),
    ) -> Result<Option<LayerRef>, OpError>;

    /// Claims a cached layer for the rest of the build, so a concurrent
    /// prune leaves its blob and snapshot, and says whether its blob is
    /// still in the store; on `false` the solver runs the step instead.
    fn hold(&self, layer: &LayerRef) -> Result<bool, OpError> {
        let _ = layer;
        Ok(true)
    }
}
