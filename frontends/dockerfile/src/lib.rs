//! Dockerfile frontend for strata: parser, variable expansion, lowering to a plan.

pub mod parser;
pub mod shell;
