//! Dockerfile frontend for strata: parser, variable expansion, lowering to a plan.

pub mod error;
pub mod parser;
pub mod shell;

pub use error::{DockerfileError, Location};
