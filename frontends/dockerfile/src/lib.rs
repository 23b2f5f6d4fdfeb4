//! Dockerfile frontend for strata: parser, variable expansion, lowering to a plan.
//!
//! The pipeline is separately tested stages: [`parser`] (text → syntax tree
//! with line spans) → [`lower`] (instructions → [`strata_plan::Plan`]), with
//! [`shell`] doing variable expansion and [`dockerignore`] reading
//! `.dockerignore` text.

pub mod dockerignore;
pub mod error;
pub mod instructions;
pub mod lints;
pub mod lower;
pub mod parser;
pub mod shell;
pub mod subrequests;

pub use error::{DockerfileError, Location};
pub use lower::{BaseImageInfo, ImageResolver, LowerOptions, Platform, lower};
