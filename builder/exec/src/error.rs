//! The executor's error type.

use std::io;
use std::path::PathBuf;

/// Why a command could not be run (a non-zero exit is not an error: see
/// [`crate::ExitStatus`]).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The [`crate::RunSpec`] is not usable as given.
    #[error("invalid run spec: {0}")]
    InvalidSpec(&'static str),
    /// A mount target or the working directory is not an absolute, clean path.
    #[error("invalid container path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A host-side preparation step failed (scratch directory, stub layer,
    /// secret files, working directory in the upper dir…).
    #[error("{action} {path}: {source}")]
    Prepare {
        /// What was being done.
        action: &'static str,
        /// The host path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A setup step inside the container failed before the command started
    /// (reported by the child through its report pipe).
    #[error("container setup: {step}: {source}")]
    Setup {
        /// The step, with its path (`mount /proc`, `pivot_root`, `chdir /app`).
        step: String,
        /// The errno the step failed with.
        #[source]
        source: io::Error,
    },
    /// The command's executable was not found or could not be executed.
    #[error("exec {argv0:?}: {reason}")]
    Exec {
        /// `argv[0]`.
        argv0: String,
        /// `executable file not found in $PATH`, `permission denied`, …
        reason: String,
    },
    /// A system call in the parent failed (clone, pipe, poll, wait…).
    #[error("{call}: {source}")]
    Sys {
        /// The call.
        call: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The external OCI runtime could not be started or misbehaved.
    #[error("runtime {runtime:?}: {message}")]
    Runtime {
        /// The runtime binary.
        runtime: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Writing the command's output to a sink failed.
    #[error("writing command output: {0}")]
    Sink(#[source] io::Error),
    /// The run was cancelled through its [`crate::CancelToken`]; its
    /// processes were killed.
    #[error("cancelled")]
    Cancelled,
    /// The container's init ended without reporting a status (killed from
    /// outside, or crashed).
    #[error("container init ended unexpectedly: {0}")]
    InitDied(String),
}

impl ExecError {
    pub(crate) fn sys(call: &'static str) -> Self {
        ExecError::Sys {
            call,
            source: io::Error::last_os_error(),
        }
    }

    pub(crate) fn prepare(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: io::Error,
    ) -> Self {
        ExecError::Prepare {
            action,
            path: path.into(),
            source,
        }
    }
}
