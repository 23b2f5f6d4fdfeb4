//! Errors of the worker's operations.

use std::io;
use std::path::PathBuf;

/// An error performing a step.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] strata_store::StoreError),
    /// A snapshot could not be made.
    #[error(transparent)]
    Snapshot(#[from] crate::snapshots::SnapshotError),
    /// An overlay could not be mounted.
    #[error(transparent)]
    Overlay(#[from] crate::overlay::OverlayError),
    /// The copying snapshotter failed.
    #[error(transparent)]
    CopyFs(#[from] crate::copyfs::CopyFsError),
    /// Selecting or hashing sources failed.
    #[error(transparent)]
    Context(#[from] strata_context::ContextError),
    /// The cache records could not be read or written.
    #[error("cache records: {0}")]
    Records(#[from] strata_cache::RecordError),
    /// A layer could not be extracted.
    #[error(transparent)]
    Extract(#[from] strata_layer::ExtractError),
    /// A layer could not be written.
    #[error(transparent)]
    Write(#[from] strata_layer::WriteError),
    /// A path inside a root filesystem.
    #[error(transparent)]
    RootFs(#[from] strata_layer::rootfs::RootFsError),
    /// Running a command failed before it could report an exit status.
    #[error(transparent)]
    Exec(#[from] strata_exec::ExecError),
    /// A user or group does not exist in the image.
    #[error(transparent)]
    User(#[from] strata_exec::UserError),
    /// `ADD` could not fetch a URL.
    #[error(transparent)]
    Fetch(#[from] super::fetch::FetchError),
    /// `ADD` could not fetch a git repository.
    #[error(transparent)]
    Git(#[from] super::git::GitError),
    /// A file system error on the host.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The command ran and failed.
    #[error("process {command:?} did not complete successfully: {status}")]
    Failed {
        /// The command as run.
        command: String,
        /// How it ended (`exit code: 2`, `killed by signal 9`).
        status: String,
    },
    /// An image that the store does not have.
    #[error(
        "image {0:?} is not in the store (pull it with `strata pull`, or add it with `strata import` or `strata load`)"
    )]
    ImageNotFound(String),
    /// Pulling an image failed.
    #[error("pulling {reference}: {message}")]
    Pull {
        /// The image.
        reference: String,
        /// Why.
        message: String,
    },
    /// An image in the store that cannot be used.
    #[error("image {reference}: {reason}")]
    BadImage {
        /// The image.
        reference: String,
        /// What is wrong.
        reason: String,
    },
    /// A feature strata does not support (yet).
    #[error("{0} is not supported yet")]
    Unsupported(String),
    /// The step's input is wrong (a missing secret, a bad `--chmod`, …).
    #[error("{0}")]
    Invalid(String),
}

impl WorkerError {
    /// [`WorkerError::Invalid`] naming `what` is wrong and how.
    pub(crate) fn invalid(what: impl std::fmt::Display, message: impl std::fmt::Display) -> Self {
        WorkerError::Invalid(format!("{what}: {message}"))
    }
}

/// `Io` with its path, for `map_err`.
pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> WorkerError {
    let path = path.into();
    move |source| WorkerError::Io { path, source }
}
