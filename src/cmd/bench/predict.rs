//! Predictions for `strata bench`: a build's steps keyed against the
//! store's records, executing nothing ([`strata_builder::predict`]), and
//! their comparison with what a build then did.

use super::BuildSpec;
use crate::cli::Cli;
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use strata_builder::image::{BaseImages, PullPolicy};
use strata_builder::predict::{Outcome, Prediction, Predictor};
use strata_builder::worker::{Worker, WorkerOptions};
use strata_plan::Plan;
use strata_store::Store;

/// Predicts the build `spec` describes with `predictor`.
pub fn predict(
    store: &Store,
    spec: &BuildSpec,
    predictor: &mut Predictor<'_>,
) -> Result<(Plan, Prediction)> {
    let mut argv = vec!["strata".to_string(), "build".into()];
    if let Some(file) = &spec.dockerfile {
        argv.extend(["-f".to_string(), file.display().to_string()]);
    }
    for (k, v) in &spec.build_args {
        argv.extend(["--build-arg".to_string(), format!("{k}={v}")]);
    }
    argv.extend(spec.extra.iter().cloned());
    argv.push(spec.context.display().to_string());
    let cli = <Cli as clap::Parser>::try_parse_from(argv)?;
    let crate::cli::Command::Build(build_args) = cli.command else {
        anyhow::bail!("internal: the build arguments did not parse as a build");
    };
    let images = Arc::new(BaseImages::new(
        store.clone(),
        None,
        PullPolicy::Missing,
        Box::new(|_| {}),
    ));
    let plan =
        crate::cmd::build::plan(&build_args, &spec.context, &BTreeMap::new(), Some(&images))?;
    let executor = Box::new(strata_exec::NamespaceExecutor::with_scratch_root(
        store.root().join("tmp"),
    ));
    let worker = Worker::new(
        store.clone(),
        images,
        spec.context.clone(),
        &plan.ignore_rules,
        executor,
        WorkerOptions::default(),
    )?;
    let prediction = predictor.predict(&plan, &worker)?;
    worker.save()?;
    Ok((plan, prediction))
}

/// Each step of a prediction as a build's metadata names it: instruction
/// and `cached`, `ran` or `config`.
pub fn statuses(p: &Prediction) -> Vec<(String, String)> {
    p.steps
        .iter()
        .map(|s| {
            let status = match s.outcome {
                Outcome::Hit | Outcome::PredictedHit => "cached",
                Outcome::Miss => "ran",
                Outcome::Config => "config",
            };
            (s.text.clone(), status.to_string())
        })
        .collect()
}

/// A prediction made just before a build, and where the build differed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PredictCheck {
    /// Time of the prediction, ms.
    pub ms: f64,
    /// Each step: instruction and predicted `cached`, `ran` or `config`.
    pub step_status: Vec<(String, String)>,
    /// Steps whose prediction the build did not bear out, as
    /// `N. INSTRUCTION: predicted ran, built cached` (N counts from 1 in
    /// build order).
    pub disagreements: Vec<String>,
}

impl PredictCheck {
    /// Compares a prediction with the build's steps, in order.
    pub fn new(ms: f64, predicted: Vec<(String, String)>, built: &[(String, String)]) -> Self {
        let mut disagreements = Vec::new();
        for i in 0..predicted.len().max(built.len()) {
            let (p, b) = (predicted.get(i), built.get(i));
            if p == b {
                continue;
            }
            let text = p.or(b).map(|(t, _)| t.as_str()).unwrap_or_default();
            let status = |s: Option<&(String, String)>| {
                s.map_or("nothing".to_string(), |(t, s)| {
                    if t == text {
                        s.clone()
                    } else {
                        format!("{s} ({t})")
                    }
                })
            };
            disagreements.push(format!(
                "{}. {text}: predicted {}, built {}",
                i + 1,
                status(p),
                status(b)
            ));
        }
        PredictCheck {
            ms,
            step_status: predicted,
            disagreements,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn disagreements_name_the_step_and_both_statuses() {
        let built = steps(&[("COPY a .", "ran"), ("RUN make", "cached")]);
        let same = PredictCheck::new(1.0, built.clone(), &built);
        assert_eq!(same.disagreements, Vec::<String>::new());
        let predicted = steps(&[("COPY a .", "ran"), ("RUN make", "ran")]);
        let check = PredictCheck::new(1.0, predicted, &built);
        assert_eq!(
            check.disagreements,
            ["2. RUN make: predicted ran, built cached"]
        );
        let short = PredictCheck::new(1.0, steps(&[("COPY a .", "ran")]), &built);
        assert_eq!(
            short.disagreements,
            ["2. RUN make: predicted nothing, built cached"]
        );
    }
}
