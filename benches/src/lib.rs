//! Fixtures for strata's micro benchmarks (`cargo bench -p strata-benches`).
//!
//! The benchmarks themselves live in `benches/micro/`; this library holds
//! what they share and what can be tested on its own:
//!
//! - [`tree`]: a generated build context (20,000 files, about 230 MB, from
//!   a seeded PRNG), written once and reused;
//! - [`dockerfile`]: a generated Dockerfile of any number of instructions;
//! - [`limits`]: the machine's limits measured on the same bytes (plain
//!   SHA-256, gzip, zstd, a `cp -r`-like copy, an `lstat` walk);
//! - [`summary`]: samples recorded by the benchmarks and the closing table
//!   of "strata / limit" shares.
//!
//! ```
//! let text = strata_benches::dockerfile::generated(20);
//! assert!(text.starts_with("# syntax=docker/dockerfile:1\n"));
//! let spec = strata_benches::tree::TreeSpec::scaled(40);
//! assert_eq!(strata_benches::tree::layout(&spec).len() >= 42, true);
//! ```

pub mod dockerfile;
pub mod error;
pub mod limits;
pub mod rng;
pub mod summary;
pub mod tree;

pub use error::BenchError;
