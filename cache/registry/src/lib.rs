//! strata's registry client: image references parsed as docker does, and
//! pull and push over the OCI distribution protocol into and out of the
//! store ([`strata_store::Store`]).
//!
//! The client is synchronous (a small client on `ureq`; threads for
//! parallel blobs), so the builder needs no async runtime.
//!
//! - [`Reference`]: `python` → `docker.io/library/python:latest`.
//! - [`Client::pull`]: manifest by tag or digest (an index resolved to a
//!   [`Platform`]), config and layers streamed into the store in parallel
//!   and verified by digest, blobs the store has skipped, the manifest
//!   tagged under the normalised reference.
//! - [`Client::push`], [`Client::push_tag`], [`Client::push_manifest`]:
//!   `HEAD` before upload, cross-repository mounts, monolithic or chunked
//!   uploads, manifests then the index.
//! - [`Client::get_manifest`], [`Client::blob_exists`],
//!   [`Client::fetch_blob_into`]: single manifests and blobs, for
//!   artifacts such as exported caches.
//! - Auth: anonymous, basic, bearer tokens (`WWW-Authenticate` challenge),
//!   credentials from docker's `config.json` and credential helpers
//!   ([`DockerConfig`]). Plain HTTP only for loopback registries or those
//!   marked insecure ([`ClientBuilder::insecure_registry`]).
//!
//! ```no_run
//! use strata_registry::{Client, PullOptions, Reference, no_progress};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = strata_store::Store::open("/var/lib/strata")?;
//! let client = Client::new()?;
//! let r = Reference::parse("python:3.12-slim")?;
//! let pulled = client.pull(&store, &r, &PullOptions::default(), &no_progress)?;
//! println!("{r} is {}", pulled.manifest.digest);
//! # Ok(()) }
//! ```

mod artifact;
use strata_store::base64;
mod challenge;
mod client;
mod credentials;
mod error;
pub mod manifest;
mod platform;
mod progress;
mod pull;
mod push;
mod reference;

pub use client::{Client, ClientBuilder};
pub use credentials::{
    Anonymous, Credential, CredentialError, CredentialSource, DOCKER_HUB_AUTH_KEY, DockerConfig,
    StaticCredentials,
};
pub use error::RegistryError;
pub use platform::{Platform, PlatformError};
pub use progress::{Progress, ProgressEvent, ProgressFn, no_progress};
pub use pull::{PullOptions, Pulled};
pub use push::{PushOptions, PushReport};
pub use reference::{
    DEFAULT_REGISTRY, DEFAULT_TAG, DOCKER_HUB_API_HOST, NAME_TOTAL_LENGTH_MAX, Reference,
    ReferenceError,
};
