//! strata's cache sharing (`--cache-to`, `--cache-from`): the records of a
//! build's steps and the layer blobs they point at, exported as one OCI
//! artifact and imported by another store, such as an empty CI runner.
//!
//! - [`format`]: the artifact: an OCI image manifest with
//!   `artifactType` [`CACHE_ARTIFACT_TYPE`], a config blob listing the
//!   records ([`CacheConfig`]) and the layer blobs as its layers.
//! - [`export`]: builds the artifact in the store and writes it to an OCI
//!   layout directory or pushes it to a registry (blobs already there are
//!   skipped).
//! - [`CacheImport`]: reads artifacts (records first, blobs never), answers
//!   the solver's lookups and fetches a blob only when a layer must be
//!   extracted or exported.
//!
//! This crate joins the records (`strata-cache`), the store and the
//! registry client; none of those should know about the others, which is
//! why it is a crate of its own.
//!
//! ```no_run
//! use strata_cache_remote::CacheImport;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = strata_store::Store::open("/var/lib/strata")?;
//! let mut import = CacheImport::new(store);
//! let n = import.add_local("ci-cache".as_ref())?;
//! println!("{n} records imported");
//! # Ok(()) }
//! ```

mod error;
pub mod export;
pub mod format;
mod import;
mod layout;

pub use error::RemoteError;
pub use export::{Artifact, Mode, build_artifact, export_local, export_registry};
pub use format::{CACHE_ARTIFACT_TYPE, CacheConfig, FORMAT_VERSION, MountLayer};
pub use import::CacheImport;
