//! Running a recorded RUN step again in a scratch area and comparing its
//! files with the recorded layer's (`strata cache verify`).

use super::Worker;
use super::error::{WorkerError, io_err};
use crate::ops::Stages;
use crate::replay::{Replay, Verdict, differing_paths, normalized_digest};
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
        let recorded_dir = match &recorded {
            Some(l) => Some(self.snapshot(l)?),
            None => None,
        };
        let recorded_digest = match &recorded_dir {
            Some(dir) => normalized_digest(dir)?,
            None => None,
        };
        let parent = State::from_image(scratch_config(), parent_layers);
        let scratch = self.run_in_scratch(&parent, &replay.run, &Stages::new(), output)?;
        let rerun_digest = normalized_digest(&scratch.upper)?;
        if rerun_digest == recorded_digest {
            return Ok(Verdict::Same);
        }
        let empty = tempfile::tempdir().map_err(io_err(&scratch.upper))?;
        let recorded_dir = recorded_dir.as_deref().unwrap_or(empty.path());
        let paths = differing_paths(recorded_dir, &scratch.upper).map_err(io_err(recorded_dir))?;
        Ok(Verdict::Differs {
            recorded: recorded_digest,
            rerun: rerun_digest,
            paths,
        })
    }
}
