//! The built-in namespace executor, end to end (needs root).
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
mod suite;

use strata_exec::NamespaceExecutor;

fn exec() -> NamespaceExecutor {
    NamespaceExecutor::new()
}

suite::core_tests!(exec, "1001", None);

use strata_exec::Executor as _;
