//! `FROM NAME` where `NAME` is a local-directory build context: as in
//! BuildKit, the directory (less what its `.dockerignore` excludes) is the
//! stage's root filesystem, one layer on an empty configuration. Files
//! are owned by root (buildx sends local directories with uid and gid 0)
//! and keep their modes and modification times.
//!
//! The layer is made like a `COPY --from=NAME . /` onto scratch and
//! remembered in the cache records under the digest of the directory's
//! content, so an unchanged directory is read (hashed) but not written
//! again.

use super::Worker;
use super::error::WorkerError;
use crate::ops::Stages;
use crate::solve::{cached_layer, scratch_config};
use crate::state::{LayerRef, State};
use std::time::Instant;
use strata_cache::{CacheRecord, KeyHasher, StepInputs};
use strata_plan::{CopySource, CopySources, CopyStep};

impl Worker {
    /// The state of a stage based on the local-directory context `name`.
    pub(crate) fn directory_base(&self, name: &str) -> Result<State, WorkerError> {
        let mut state = State::from_image(scratch_config(), Vec::new());
        let copy = CopyStep {
            add: false,
            from: CopySource::NamedContext(name.to_string()),
            sources: CopySources {
                paths: vec![".".into()],
                heredocs: Vec::new(),
            },
            dest: "/".into(),
            chown: None,
            chmod: None,
            link: false,
            parents: false,
            exclude: Vec::new(),
            checksum: None,
            keep_git_dir: false,
            unpack: None,
        };
        let stages = Stages::new();
        let content = self.copy_digest(&state, &copy, &stages)?;
        let key = KeyHasher::new("context-directory-base-v1")
            .str("content", &content.digest)
            .finish();
        let media_type = strata_layer::media_type(self.layer_opts.compression);
        let description = format!("build context {name}");
        let cached = self
            .records
            .get(&key)?
            .and_then(|record| cached_layer(&record, media_type));
        let layer = match cached {
            Some(Some(layer)) if self.hold_layers(std::slice::from_ref(&layer))? => Some(layer),
            Some(None) => None,
            _ => {
                let started = Instant::now();
                let layer = self.do_copy(&state, &copy, &stages, true)?;
                let record = CacheRecord {
                    key,
                    description: description.clone(),
                    layer: layer.as_ref().map(LayerRef::to_record),
                    inputs: StepInputs {
                        parent: None,
                        inputs: [("context".to_string(), content.digest)].into(),
                    },
                    created: 0,
                    duration_ms: started.elapsed().as_millis() as u64,
                    replay: None,
                };
                self.records.put(&record)?;
                layer
            }
        };
        state.push(layer, &description, 0);
        Ok(state)
    }
}
