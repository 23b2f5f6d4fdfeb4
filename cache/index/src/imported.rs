//! Records that came from elsewhere (`--cache-from`): consulted after the
//! local records, with their blobs fetched only when a layer is needed.

use crate::{CacheRecord, Key};

/// An error fetching an imported blob (the source's own error, boxed).
pub type FetchError = Box<dyn std::error::Error + Send + Sync>;

/// A cache imported from another store (an OCI layout or a registry).
///
/// The solver asks it for a key the local records lack; the worker asks it
/// for a layer blob the local store lacks, just before extracting it.
pub trait ImportedCache: std::fmt::Debug + Send + Sync {
    /// The record of `key`, if an imported cache has it.
    fn lookup(&self, key: &Key) -> Option<CacheRecord>;

    /// Brings the blob `digest` (`sha256:…`) into the local store, verified.
    /// `Ok(false)` when no imported cache lists it.
    fn fetch_blob(&self, digest: &str) -> Result<bool, FetchError>;
}
