//! strata's cache index: stable cache keys, the records that map a key to
//! the result of a step, and pruning (`usage`, `gc`).
//!
//! ```
//! use strata_cache::KeyHasher;
//! let mut h = KeyHasher::new("run");
//! h.field("argv", b"/bin/sh\0-c\0echo hi");
//! let key = h.finish();
//! assert_eq!(key.to_string().len(), 64);
//! ```

mod gc;
mod imported;
mod key;
mod records;
mod usage;

pub use gc::{PruneOptions, PruneReport, prune};
pub use imported::{FetchError, ImportedCache};
pub use key::{KEY_VERSION, Key, KeyHasher, ParseKeyError};
pub use records::{CacheRecord, LayerBlob, RecordError, RecordStore, StepInputs};
pub use usage::{
    CACHE_MOUNTS_DIR, DirUsage, GcError, Inventory, RECORDS_DIR, RecordEntry, SNAPSHOTS_DIR,
    STATCACHE_DIR, Usage, disk_usage,
};
