//! The error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while selecting or hashing build-context files.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// A `.dockerignore` rule or an `--exclude` pattern is not a valid pattern.
    #[error("invalid pattern {pattern:?}: {reason}")]
    BadPattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A COPY/ADD source matched nothing in the context (BuildKit's wording).
    #[error("\"/{path}\": not found")]
    NotFound {
        /// The source, cleaned and relative to the context root.
        path: String,
    },
    /// A symlink chain in a source path is too long or loops.
    #[error("\"/{path}\": too many levels of symbolic links")]
    SymlinkLoop {
        /// The source, relative to the context root.
        path: String,
    },
    /// A file name in the context is not valid UTF-8 (not supported yet).
    #[error("{path}: file name is not valid UTF-8")]
    NonUtf8Name {
        /// The offending path.
        path: PathBuf,
    },
    /// An I/O error on a path of the context or of the stat cache.
    #[error("{path}: {source}")]
    Io {
        /// The path the operation was about.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl ContextError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ContextError::Io {
            path: path.into(),
            source,
        }
    }
}
