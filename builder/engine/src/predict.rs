//! Prediction: which steps of a build would come from the cache, without
//! running any.
//!
//! A [`Predictor`] walks the stages a target needs and keys every step with
//! the solver's own code ([`crate::solve`]'s `key_step`), against the
//! records in the store. A hit continues the chain with the recorded layer,
//! exactly as a build would. A miss cannot know the layer the step would
//! make, so the chain continues with a *predicted layer*, named after the
//! step's key: every later step of that stage misses (its parent is new),
//! and the miss is remembered as if it had been recorded. A later
//! prediction that reaches the same key (the next commit of a replay)
//! counts it as a hit on that predicted result, and the steps after it get
//! the same predicted keys again.
//!
//! What a prediction cannot see: early cut-off (a step that reruns and
//! produces the bytes it produced before lets later steps hit in a real
//! build, while a prediction counts them as misses), and a COPY `--from` a
//! stage whose result is predicted is keyed by that stage's identity rather
//! than by the content of the copied files. Both make a prediction err on
//! the side of misses.

use crate::ops::{OpError, Ops, PreparedRun, SourceDigest, Stages};
use crate::solve::{BuildError, cached_layer, key_step, stage_base};
use crate::state::{LayerRef, State};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use strata_cache::{Key, RecordStore};
use strata_plan::{CopySource, CopyStep, ImageSource, Mount, Plan};

/// The prefix of a predicted layer's diffID; never a real digest.
const PREDICTED: &str = "predicted:";

/// What a prediction says about one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The store's cache has the result.
    Hit,
    /// An earlier prediction of this predictor ran the step (it would be in
    /// the cache by now).
    PredictedHit,
    /// The step would run.
    Miss,
    /// A configuration-only step (never cached, costs nothing).
    Config,
}

impl Outcome {
    /// True for both kinds of hit.
    pub fn is_hit(self) -> bool {
        matches!(self, Outcome::Hit | Outcome::PredictedHit)
    }
}

/// One step of a prediction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredictedStep {
    /// The stage's index.
    pub stage: usize,
    /// The stage's name, if it has one.
    pub stage_name: Option<String>,
    /// The step's position in its stage (1 is `FROM`, as in progress output).
    pub index: usize,
    /// The Dockerfile line.
    pub line: usize,
    /// The instruction as written.
    pub text: String,
    /// The key (none for configuration-only steps).
    pub key: Option<Key>,
    /// Hit, miss or config.
    pub outcome: Outcome,
}

/// The prediction of one build: every step of every needed stage, in
/// stage then step order (the order of a build's report).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prediction {
    /// The steps.
    pub steps: Vec<PredictedStep>,
}

impl Prediction {
    /// Steps with a key, and of those the hits.
    pub fn counts(&self) -> (usize, usize) {
        let keyed = self.steps.iter().filter(|s| s.outcome != Outcome::Config);
        let hits = keyed.clone().filter(|s| s.outcome.is_hit()).count();
        (keyed.count(), hits)
    }
}

/// Predicts builds one after the other, remembering the misses of earlier
/// predictions as results that would exist.
pub struct Predictor<'a> {
    records: &'a RecordStore,
    layer_media_type: String,
    predicted: BTreeSet<Key>,
}

impl std::fmt::Debug for Predictor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Predictor")
            .field("predicted", &self.predicted.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Predictor<'a> {
    /// A predictor over the store's records. `layer_media_type` is the
    /// blob type a build would export, as in [`crate::solve::SolveOptions`].
    pub fn new(records: &'a RecordStore, layer_media_type: &str) -> Self {
        Predictor {
            records,
            layer_media_type: layer_media_type.to_string(),
            predicted: BTreeSet::new(),
        }
    }

    /// Predicts a build of `plan.target`. `ops` answers the questions
    /// about inputs (base images, context digests) and is never asked to
    /// perform a step.
    pub fn predict(&mut self, plan: &Plan, ops: &dyn Ops) -> Result<Prediction, BuildError> {
        let ops = PredictOps { inner: ops };
        let mut stages = Stages::new();
        let mut out = Prediction::default();
        for id in plan.required_stages() {
            let stage = plan.stage(id).ok_or(BuildError::BadStage(id.0))?;
            let mut state = stage_base(stage, &ops, &stages)?;
            for (i, step) in stage.steps.iter().enumerate() {
                let step_err = |cause| BuildError::Step {
                    step: crate::progress::StepRef {
                        stage: stage.id.0,
                        stage_name: stage.name.clone(),
                        index: i + 2,
                        total: stage.steps.len() + 1,
                        text: step.text.clone(),
                    },
                    line: step.span.start_line,
                    cause,
                };
                let keyed = key_step(&ops, &mut state, step, &stages).map_err(step_err)?;
                let (key, outcome) = match keyed {
                    None => (None, Outcome::Config),
                    Some(keyed) => {
                        let key = keyed.key;
                        let outcome = self.outcome(&mut state, key, &step.text)?;
                        (Some(key), outcome)
                    }
                };
                out.steps.push(PredictedStep {
                    stage: stage.id.0,
                    stage_name: stage.name.clone(),
                    index: i + 2,
                    line: step.span.start_line,
                    text: step.text.clone(),
                    key,
                    outcome,
                });
            }
            stages.insert(id, state);
        }
        Ok(out)
    }

    /// Looks a key up and moves `state` past the step.
    fn outcome(&mut self, state: &mut State, key: Key, text: &str) -> Result<Outcome, BuildError> {
        if let Some(record) = self.records.get(&key)?
            && let Some(layer) = cached_layer(&record, &self.layer_media_type)
        {
            state.push(layer, text, record.created as i64);
            return Ok(Outcome::Hit);
        }
        let layer = predicted_layer(&key, &self.layer_media_type);
        let time = state.time;
        state.push(Some(layer), text, time);
        if self.predicted.insert(key) {
            Ok(Outcome::Miss)
        } else {
            Ok(Outcome::PredictedHit)
        }
    }
}

/// The stand-in for the layer a missed step would make.
fn predicted_layer(key: &Key, media_type: &str) -> LayerRef {
    let name = format!("{PREDICTED}{key}");
    LayerRef {
        diff_id: name.clone(),
        blob: crate::archive::Blob {
            digest: name,
            size: 0,
            media_type: media_type.to_string(),
        },
    }
}

fn is_predicted(state: &State) -> bool {
    state
        .layers
        .iter()
        .any(|l| l.diff_id.starts_with(PREDICTED))
}

/// The error of a step a prediction would have to perform.
#[derive(Debug, thiserror::Error)]
#[error("a prediction performs no steps")]
struct NotPerformed;

/// The real operations for inputs, except where an input is the content of
/// a stage whose result is only predicted: that content is unknown, so it
/// is named by the stage's identity instead.
struct PredictOps<'a> {
    inner: &'a dyn Ops,
}

impl PredictOps<'_> {
    fn predicted_stage<'s>(&self, from: &CopySource, stages: &'s Stages) -> Option<&'s State> {
        match from {
            CopySource::Stage(id) => stages.get(id).filter(|s| is_predicted(s)),
            _ => None,
        }
    }
}

fn symbolic(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(b"strata-predicted-source-v1\0");
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    format!("{PREDICTED}sha256:{}", hex::encode(h.finalize()))
}

impl Ops for PredictOps<'_> {
    fn base(&self, source: &ImageSource) -> Result<State, OpError> {
        self.inner.base(source)
    }

    fn copy_inputs(
        &self,
        parent: &State,
        copy: &CopyStep,
        stages: &Stages,
    ) -> Result<SourceDigest, OpError> {
        match self.predicted_stage(&copy.from, stages) {
            Some(source) => {
                let sources = serde_json::to_string(&copy.sources).unwrap_or_default();
                let exclude = copy.exclude.join("\0");
                Ok(SourceDigest {
                    digest: symbolic(&[&source.identity.to_string(), &sources, &exclude]),
                    files: None,
                })
            }
            None => self.inner.copy_inputs(parent, copy, stages),
        }
    }

    fn mount_inputs(
        &self,
        parent: &State,
        run: &PreparedRun,
        stages: &Stages,
    ) -> Result<BTreeMap<String, String>, OpError> {
        let predicted: Vec<(&str, &str, &State)> = run
            .step
            .mounts
            .iter()
            .filter_map(|m| match m {
                Mount::Bind(b) => self
                    .predicted_stage(&b.from, stages)
                    .map(|s| (b.target.as_str(), b.source.as_str(), s)),
                _ => None,
            })
            .collect();
        if predicted.is_empty() {
            return self.inner.mount_inputs(parent, run, stages);
        }
        // The other binds could be digested, but one unknown input already
        // makes the key a predicted one; name them all by definition.
        let mut out = BTreeMap::new();
        for (target, source, state) in predicted {
            let id = state.identity.to_string();
            out.insert(target.to_string(), symbolic(&[&id, source]));
        }
        let mounts = serde_json::to_string(&run.step.mounts).unwrap_or_default();
        out.insert(PREDICTED.to_string(), symbolic(&[&mounts]));
        Ok(out)
    }

    fn copy(&self, _: &State, _: &CopyStep, _: &Stages) -> Result<Option<LayerRef>, OpError> {
        Err(Box::new(NotPerformed))
    }

    fn mkdir(&self, _: &State, _: &str) -> Result<Option<LayerRef>, OpError> {
        Err(Box::new(NotPerformed))
    }

    fn run(
        &self,
        _: &State,
        _: &PreparedRun,
        _: &Stages,
        _: &mut dyn FnMut(&str),
    ) -> Result<Option<LayerRef>, OpError> {
        Err(Box::new(NotPerformed))
    }
}
