//! Errors of the registry client. Every variant names what was asked
//! (URL, reference or digest); none carries a credential or a token.

use crate::{CredentialError, ReferenceError};
use strata_store::{Digest, StoreError};

/// Errors of pulls and pushes.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A reference that does not parse.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Credentials could not be looked up.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// The network or TLS failed (after retries).
    #[error("{method} {url}: {message}")]
    Transport {
        /// The HTTP method.
        method: &'static str,
        /// The URL (never with credentials in it).
        url: String,
        /// What failed.
        message: String,
    },
    /// The registry answered with an unexpected status.
    #[error("{method} {url}: {status} {message}")]
    Status {
        /// The HTTP method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The registry's error codes and messages, or the body's start.
        message: String,
    },
    /// Authentication failed or was refused.
    #[error("{registry}: unauthorized: {message}")]
    Unauthorized {
        /// The registry.
        registry: String,
        /// What the registry or token server said.
        message: String,
    },
    /// A manifest or blob the registry does not have.
    #[error("{what}: not found")]
    NotFound {
        /// `manifest REF` or `blob DIGEST in REPO`.
        what: String,
    },
    /// Content that does not match its digest.
    #[error("{what}: digest mismatch: expected {expected}, got {found}")]
    DigestMismatch {
        /// What was fetched or sent.
        what: String,
        /// The digest asked for.
        expected: Digest,
        /// The digest of what came.
        found: Digest,
    },
    /// A blob longer or shorter than its descriptor says.
    #[error("blob {digest}: expected {expected} bytes, got {found}")]
    SizeMismatch {
        /// The blob.
        digest: Digest,
        /// The descriptor's size.
        expected: u64,
        /// What came (at least).
        found: u64,
    },
    /// A manifest or index that cannot be used.
    #[error("{what}: {message}")]
    InvalidManifest {
        /// The reference or digest.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// An index without a manifest for the wanted platform.
    #[error("{reference}: no manifest for platform {platform} (available: {available})")]
    NoMatchingPlatform {
        /// The reference pulled.
        reference: String,
        /// The platform asked for.
        platform: String,
        /// The platforms the index lists.
        available: String,
    },
    /// A store tag that does not exist.
    #[error("no image tagged {0:?} in the store")]
    NoSuchTag(String),
}
