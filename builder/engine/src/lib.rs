//! strata's builder: executes a [`strata_plan::Plan`] into an image.
//!
//! The builder walks the stages the target needs, and for each step computes
//! a cache key from the parent's result identity, the step and its inputs;
//! the cache answers hit or miss and only misses execute.

pub mod archive;
pub mod convert;
pub mod copy_dest;
pub mod copyfs;
pub mod estargz;
pub mod explain;
pub mod export;
pub mod history;
pub mod image;
pub mod image_config;
pub mod key;
pub mod layer_blob;
pub mod ops;
pub mod overlay;
pub mod predict;
pub mod progress;
pub mod replay;
pub mod snapshots;
pub mod solve;
pub mod state;
pub mod time;
pub mod users;
pub mod worker;
pub mod zchunked;
