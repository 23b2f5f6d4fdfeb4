//! strata's cache index: stable cache keys and the records that map a key to
//! the result of a step.
//!
//! ```
//! use strata_cache::KeyHasher;
//! let mut h = KeyHasher::new("run");
//! h.field("argv", b"/bin/sh\0-c\0echo hi");
//! let key = h.finish();
//! assert_eq!(key.to_string().len(), 64);
//! ```

mod imported;
mod key;
mod records;

pub use imported::{FetchError, ImportedCache};
pub use key::{KEY_VERSION, Key, KeyHasher, ParseKeyError};
pub use records::{CacheRecord, LayerBlob, RecordError, RecordStore, StepInputs};
