//! Build events, for progress output and metadata.
//!
//! The builder reports what happens through a [`ProgressSink`]; the CLI turns
//! events into a live tree on a terminal or one line per event in CI.

use std::time::Duration;

/// Identifies one step of one stage: `[stage-1 3/7]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StepRef {
    /// Index of the stage in the Dockerfile.
    pub stage: usize,
    /// The stage's name, if it has one.
    pub stage_name: Option<String>,
    /// 1-based position of the step in its stage (the FROM is step 1).
    pub index: usize,
    /// Number of steps in the stage, the FROM included.
    pub total: usize,
    /// The instruction as written.
    pub text: String,
}

impl std::fmt::Display for StepRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stage = match &self.stage_name {
            Some(name) => name.clone(),
            None => format!("stage-{}", self.stage),
        };
        write!(f, "[{stage} {}/{}] {}", self.index, self.total, self.text)
    }
}

/// Why a step missed the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissReason {
    /// `--no-cache` covers this step.
    NoCache,
    /// `--no-cache-filter` names this step's stage (as given).
    NoCacheFilter(String),
    /// Never built with these inputs; `detail` says what changed since the
    /// last build of the same step, when that is known.
    Changed {
        /// Human-readable description of the change.
        detail: String,
    },
}

impl std::fmt::Display for MissReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MissReason::NoCache => f.write_str("--no-cache"),
            MissReason::NoCacheFilter(stage) => write!(f, "--no-cache-filter {stage}"),
            MissReason::Changed { detail } => f.write_str(detail),
        }
    }
}

/// Something that happened during a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A step began (its key is being computed).
    Started(StepRef),
    /// The step's result came from the cache.
    Cached(StepRef),
    /// The step is running; the reason it missed.
    Running(StepRef, MissReason),
    /// One line of the step's output (stdout or stderr).
    Output(StepRef, String),
    /// The step finished running.
    Done(StepRef, Duration),
    /// The step failed; the message says why.
    Failed(StepRef, String),
    /// A build-level message (exporting, writing a tag, …).
    Note(String),
    /// A warning about the Dockerfile or the arguments.
    Warning(String),
}

/// Receives build events. Implementations must be cheap: the builder calls
/// them on its hot path and from several threads.
pub trait ProgressSink: Send + Sync {
    /// Handles one event.
    fn event(&self, event: Event);
}

/// Discards every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn event(&self, _event: Event) {}
}

/// Collects events in memory (for tests and metadata).
#[derive(Debug, Default)]
pub struct Collect(pub std::sync::Mutex<Vec<Event>>);

impl ProgressSink for Collect {
    fn event(&self, event: Event) {
        if let Ok(mut events) = self.0.lock() {
            events.push(event);
        }
    }
}
