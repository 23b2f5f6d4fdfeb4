//! The runc executor passes the shared suite (needs root and runc).
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
mod suite;

use strata_exec::Executor as _;
use strata_exec::RuncExecutor;

fn exec() -> RuncExecutor {
    RuncExecutor::new("runc")
}

suite::core_tests!(exec, "1002", Some("runc"));
