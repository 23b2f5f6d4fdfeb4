//! Exit status, output sinks and cancellation.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// How the command ended. A non-zero code is a normal result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// The command exited with this code.
    Exited(i32),
    /// The command was killed by this signal.
    Signaled(i32),
}

impl ExitStatus {
    /// Exited with code 0.
    pub fn success(&self) -> bool {
        *self == ExitStatus::Exited(0)
    }

    /// The exit code, if the command exited.
    pub fn code(&self) -> Option<i32> {
        match self {
            ExitStatus::Exited(c) => Some(*c),
            ExitStatus::Signaled(_) => None,
        }
    }

    /// Decodes a `waitpid` status word.
    pub(crate) fn from_wait(status: i32) -> Option<Self> {
        if libc::WIFEXITED(status) {
            Some(ExitStatus::Exited(libc::WEXITSTATUS(status)))
        } else if libc::WIFSIGNALED(status) {
            Some(ExitStatus::Signaled(libc::WTERMSIG(status)))
        } else {
            None
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Exited(c) => write!(f, "exit code: {c}"),
            ExitStatus::Signaled(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// A clonable handle that cancels a run from another thread or a signal
/// handler: the executor kills the step's whole process tree within about
/// 50 ms and returns [`crate::ExecError::Cancelled`].
///
/// [`CancelToken::cancel`] only stores to an atomic, so it is safe to call
/// from a signal handler.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests cancellation of every run using this token.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Where a run's output goes, and how to cancel it. Output is streamed to the
/// sinks as it arrives, from the thread that called `run`.
pub struct RunIo<'a> {
    /// Receives the command's standard output.
    pub stdout: &'a mut dyn Write,
    /// Receives the command's standard error (and, for the runc executor,
    /// the runtime's own error messages).
    pub stderr: &'a mut dyn Write,
    /// Cancels the run.
    pub cancel: CancelToken,
}

impl<'a> RunIo<'a> {
    /// Output to the two sinks, with a fresh cancel token.
    pub fn new(stdout: &'a mut dyn Write, stderr: &'a mut dyn Write) -> Self {
        RunIo {
            stdout,
            stderr,
            cancel: CancelToken::new(),
        }
    }
}
