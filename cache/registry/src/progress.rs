//! Progress reports, one blob at a time.

use strata_store::Digest;

/// What happened to a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressEvent {
    /// Already where it had to be (in the store on pull, in the registry
    /// on push): nothing transferred.
    Present,
    /// Mounted from another repository of the same registry.
    Mounted {
        /// The repository it came from.
        from: String,
    },
    /// Bytes transferred so far (of [`Progress::size`]).
    Bytes(u64),
    /// Transferred and verified.
    Done,
}

/// One progress report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The blob.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// What happened.
    pub event: ProgressEvent,
}

/// A progress callback; called from several threads at once.
pub type ProgressFn<'a> = &'a (dyn Fn(&Progress) + Sync);

/// A callback that ignores everything.
pub fn no_progress(_: &Progress) {}
