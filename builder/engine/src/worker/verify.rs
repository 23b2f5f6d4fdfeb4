//! Running a recorded RUN step again in a scratch area and comparing its
//! files with the recorded layer's (`strata cache verify`).

use super::Worker;
use super::error::WorkerError;
use crate::ops::Stages;
use crate::replay::{Replay, Verdict, normalized_digest};
use crate::solve::scratch_config;
use crate::state::{LayerRef, State};
use strata_cache::CacheRecord;

impl Worker {
    /// Runs the step of `record` again on its recorded parent, writing
    /// nothing to the store, and compares the files it makes with the
    /// recorded layer's (mtimes aside). The command's output goes to
    /// `output`.
    pub fn verify_record(
        &self,
        record: &CacheRecord,
        output: &mut dyn FnMut(&str),
    ) -> Result<Verdict, WorkerError> {
        let Some(replay) = Replay::from_record(record.replay.as_ref()) else {
            return Ok(Verdict::Skipped(
                "not replayable (COPY/ADD/WORKDIR, bind or secret mounts, or an older record)"
                    .into(),
            ));
        };
        let parent_layers = replay.parent_layers();
        let recorded = match &record.layer {
            Some(layer) => match LayerRef::from_record(layer, "") {
                Some(l) => Some(l),
                None => return Ok(Verdict::Skipped("the record names no blob".into())),
            },
            None => None,
        };
        let mut claimed = parent_layers.clone();
        claimed.extend(recorded.clone());
        if !self.hold_layers(&claimed)? {
            return Ok(Verdict::Skipped(
                "a layer it needs is no longer in the store".into(),
            ));
        }
        let recorded_digest = match &recorded {
            Some(l) => normalized_digest(&self.snapshot(l)?)?,
            None => None,
        };
        let parent = State::from_image(scratch_config(), parent_layers);
        let scratch = self.run_in_scratch(&parent, &replay.run, &Stages::new(), output)?;
        let rerun_digest = normalized_digest(&scratch.upper)?;
        drop(scratch);
        if rerun_digest == recorded_digest {
            Ok(Verdict::Same)
        } else {
            Ok(Verdict::Differs {
                recorded: recorded_digest,
                rerun: rerun_digest,
            })
        }
    }
}
