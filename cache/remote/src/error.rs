//! Errors of cache export and import; each names the file, digest or
//! reference concerned.

use std::path::PathBuf;
use strata_store::{Digest, StoreError};

/// An error exporting or importing a cache.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] strata_registry::RegistryError),
    /// The local records failed.
    #[error(transparent)]
    Records(#[from] strata_cache::RecordError),
    /// A file of a cache directory.
    #[error("cache directory {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Something that is not a strata cache, or a damaged one.
    #[error("{what}: {message}")]
    Invalid {
        /// The manifest, blob or directory.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// A blob whose content does not match its digest (never used).
    #[error("{what}: digest mismatch: expected {expected}, got {found}")]
    DigestMismatch {
        /// Where it came from.
        what: String,
        /// The digest asked for.
        expected: Digest,
        /// The digest of the content.
        found: Digest,
    },
    /// A blob the export needs that neither the store nor an imported
    /// cache has.
    #[error("blob {0} is neither in the store nor in an imported cache")]
    MissingBlob(Digest),
}

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> RemoteError + '_ {
    move |source| RemoteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn invalid(what: impl Into<String>, message: impl Into<String>) -> RemoteError {
    RemoteError::Invalid {
        what: what.into(),
        message: message.into(),
    }
}
