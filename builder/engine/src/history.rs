//! The last build of a Dockerfile + target: what each step was keyed on,
//! kept so that the next build can explain its misses
//! ([`crate::explain`]).
//!
//! A build reads and writes two histories (`ROOT/cache-v1/history/`):
//!
//! - by **place**: this Dockerfile and target in this build context
//!   ([`HistoryIds::exact`]). A miss is explained against what this
//!   checkout last built, even when another checkout of the project was
//!   built since.
//! - by **content**: this Dockerfile's text and target in any context
//!   ([`HistoryIds::same_dockerfile`]), the most recent such build. It is
//!   read only when the place has none: the first build of a clone or of
//!   a moved directory explains its misses against the checkout it came
//!   from (and says which, [`Previous::elsewhere`]), not with "not built
//!   before". Two different projects whose Dockerfiles merely share a name
//!   never meet here; only byte-identical Dockerfiles do, and then the
//!   steps compared are the same instructions. A context from stdin has
//!   no place (a new temp directory each time): both ids are this one.
//!
//! A history that would not change is not written again, so a fully
//! cached rebuild writes nothing here; reading one marks it as used, and
//! `strata cache prune` removes those unused for `--keep-duration` (or all
//! with `--all`).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use strata_cache::{RecordError, RecordStore, StepInputs};

/// What the last build of a Dockerfile + target keyed each step on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastBuild {
    /// The build context it was built in (as [`HistoryIds::context`]),
    /// so that a build elsewhere can name it.
    #[serde(default)]
    pub context: Option<String>,
    /// `"<stage>:<step index>"` → the step's inputs.
    pub steps: BTreeMap<String, StepHistory>,
}

/// One step of the last build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepHistory {
    /// The instruction as written.
    pub text: String,
    /// What went into its key.
    pub inputs: StepInputs,
    /// The stage's base as a user names it (`image busybox (top layer
    /// sha256:…)`, `stage 0 (result …)`, `scratch`); see
    /// [`crate::explain::describe_base`].
    #[serde(default)]
    pub base: Option<String>,
    /// The configuration-only instructions between the previous keyed step
    /// (or the base) and this one: they change the parent's identity.
    #[serde(default)]
    pub config_before: Vec<String>,
    /// Names among the `env:` inputs that come from an `ARG` (not an `ENV`).
    #[serde(default)]
    pub build_args: BTreeSet<String>,
}

/// Where the histories of one build are kept (see the module's doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryIds {
    /// This Dockerfile and target in this build context (the same as
    /// `same_dockerfile` when the context has no place of its own: a
    /// context from stdin).
    pub exact: String,
    /// This Dockerfile's content and target, in any build context.
    pub same_dockerfile: String,
    /// The build context as the user knows it (an absolute path).
    pub context: String,
}

/// The histories a build found.
#[derive(Debug, Default)]
pub struct Previous {
    /// The history of this place, if any.
    exact: Option<LastBuild>,
    /// The last build of the same Dockerfile anywhere, if any.
    same_dockerfile: Option<LastBuild>,
    /// Set once the build has said that it explains misses against
    /// another context's build.
    noted: OnceLock<()>,
}

impl Previous {
    /// Reads both histories of `ids`.
    pub fn load(records: &RecordStore, ids: &HistoryIds) -> Result<Previous, RecordError> {
        Ok(Previous {
            exact: records.get_history(&ids.exact)?,
            same_dockerfile: records.get_history(&ids.same_dockerfile)?,
            noted: OnceLock::new(),
        })
    }

    /// The last build to explain misses against: this place's, else the
    /// last build of the same Dockerfile elsewhere.
    pub fn step(&self, slot: &str) -> Option<&StepHistory> {
        self.build().and_then(|b| b.steps.get(slot))
    }

    fn build(&self) -> Option<&LastBuild> {
        self.exact.as_ref().or(self.same_dockerfile.as_ref())
    }

    /// The context of the build that misses are explained against, when it
    /// is not this place's own history: a clone or the old place of a
    /// moved directory.
    pub fn elsewhere(&self) -> Option<&str> {
        match (&self.exact, &self.same_dockerfile) {
            (None, Some(other)) => other.context.as_deref(),
            _ => None,
        }
    }

    /// Calls `say` with a note naming [`Previous::elsewhere`] the first
    /// time it is asked (from any stage's thread), and never when misses
    /// are explained against this place's own history.
    pub fn note_once(&self, say: impl FnOnce(String)) {
        if let Some(other) = self.elsewhere() {
            self.noted.get_or_init(|| {
                say(format!(
                    "no earlier build of this Dockerfile here: misses are explained against its last build in {other}"
                ))
            });
        }
    }

    /// Stores `steps` as the last build under both ids, skipping a history
    /// that already holds exactly that.
    pub fn save(
        &self,
        records: &RecordStore,
        ids: &HistoryIds,
        steps: BTreeMap<String, StepHistory>,
    ) -> Result<(), RecordError> {
        let now = LastBuild {
            context: Some(ids.context.clone()),
            steps,
        };
        if self.exact.as_ref() != Some(&now) {
            records.put_history(&ids.exact, &now)?;
        }
        if ids.same_dockerfile != ids.exact && self.same_dockerfile.as_ref() != Some(&now) {
            records.put_history(&ids.same_dockerfile, &now)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use strata_cache::KeyHasher;

    fn ids(context: &str) -> HistoryIds {
        HistoryIds {
            exact: format!("exact-{context}"),
            same_dockerfile: "df".into(),
            context: context.into(),
        }
    }

    fn steps(input: &str) -> BTreeMap<String, StepHistory> {
        BTreeMap::from([(
            "0:2".to_string(),
            StepHistory {
                text: "COPY . /code/".into(),
                inputs: StepInputs {
                    parent: Some(KeyHasher::new("p").finish()),
                    inputs: BTreeMap::from([("source".to_string(), input.to_string())]),
                },
                base: None,
                config_before: Vec::new(),
                build_args: BTreeSet::new(),
            },
        )])
    }

    fn source(previous: &Previous) -> Option<String> {
        previous
            .step("0:2")
            .map(|s| s.inputs.inputs["source"].clone())
    }

    #[test]
    fn this_place_wins_and_another_place_is_the_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let records = RecordStore::open(dir.path()).unwrap();
        let (a, b, c) = (ids("/a"), ids("/b"), ids("/c"));
        Previous::load(&records, &a)
            .unwrap()
            .save(&records, &a, steps("a1"))
            .unwrap();
        Previous::load(&records, &b)
            .unwrap()
            .save(&records, &b, steps("b1"))
            .unwrap();
        // /a's own history, although /b built last.
        let at_a = Previous::load(&records, &a).unwrap();
        assert_eq!(source(&at_a), Some("a1".into()));
        assert_eq!(at_a.elsewhere(), None);
        // A new place: the most recent build of the same Dockerfile.
        let at_c = Previous::load(&records, &c).unwrap();
        assert_eq!(source(&at_c), Some("b1".into()));
        assert_eq!(at_c.elsewhere(), Some("/b"));
        let mut notes = Vec::new();
        at_c.note_once(|n| notes.push(n));
        at_c.note_once(|n| notes.push(n));
        assert_eq!(
            notes,
            [
                "no earlier build of this Dockerfile here: misses are explained against its last build in /b"
            ]
        );
        // Another Dockerfile: nothing.
        let other = HistoryIds {
            same_dockerfile: "other".into(),
            ..ids("/c")
        };
        assert_eq!(source(&Previous::load(&records, &other).unwrap()), None);
    }

    #[test]
    fn an_unchanged_history_is_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let records = RecordStore::open(dir.path()).unwrap();
        let a = ids("/a");
        Previous::load(&records, &a)
            .unwrap()
            .save(&records, &a, steps("a1"))
            .unwrap();
        let history = dir.path().join("history");
        // A write is a rename of a new file: a new inode.
        let files = || {
            let mut names: Vec<_> = std::fs::read_dir(&history)
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    (e.file_name(), e.metadata().unwrap().ino())
                })
                .collect();
            names.sort();
            names
        };
        let before = files();
        assert_eq!(before.len(), 2);
        Previous::load(&records, &a)
            .unwrap()
            .save(&records, &a, steps("a1"))
            .unwrap();
        assert_eq!(files(), before);
        Previous::load(&records, &a)
            .unwrap()
            .save(&records, &a, steps("a2"))
            .unwrap();
        assert_ne!(files(), before);
    }
}
