//! Errors of the benchmark fixtures.

use std::path::PathBuf;

/// A fixture that could not be built or measured.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A file system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`create`, `write`, `copy`, …).
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A compressor failed on in-memory data.
    #[error("{codec} compression failed: {source}")]
    Compress {
        /// `gzip` or `zstd`.
        codec: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A worker thread of a limit measurement panicked.
    #[error("a worker thread of {what} panicked")]
    Worker {
        /// The measurement.
        what: &'static str,
    },
}

impl BenchError {
    /// An I/O error on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> BenchError {
        BenchError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
