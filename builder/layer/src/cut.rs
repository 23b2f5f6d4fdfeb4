//! Where the tar stream is cut into chunks: content-defined, so that one
//! changed file moves one or two cuts and every later cut stays put.
//!
//! Cuts fall only where the writer offers them:
//!
//! - after an entry (header, data, padding). The cut is taken once
//!   [`CutPolicy::min`] bytes are buffered, with a probability of
//!   `entry length / gap` decided by a hash of the entry's tar name: for
//!   any mix of entry sizes a chunk ends about `gap` bytes after `min`.
//!   Past [`CutPolicy::max`] bytes every entry boundary is a cut;
//! - inside a file's data, at each multiple of [`CutPolicy::step`] bytes
//!   from the start of that file, once `min` bytes are buffered; such cuts
//!   depend only on the file, so a large file keeps its chunks whatever
//!   precedes it.
//!
//! A decision depends on the entry and on the bytes buffered since the last
//! cut, never on the machine. When an edit changes a file's size, the cuts
//! of its chunk may move; the next cut that both streams take at the same
//! entry realigns every later one, typically at the end of the next chunk.

use crate::compress::Compression;
use sha2::{Digest as _, Sha256};

/// A place where the stream may be cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CutPoint {
    /// Right after an entry.
    AfterEntry {
        /// [`name_hash`] of the entry's tar name.
        hash: u64,
        /// Bytes the entry took in the tar (headers, data, padding).
        len: u64,
    },
    /// Inside a file's data, at a multiple of [`CutPolicy::step`].
    FileData,
}

/// The chunk sizes of a compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CutPolicy {
    /// No cut before this many bytes are buffered.
    pub min: usize,
    /// Expected bytes between `min` and the cut.
    pub gap: u64,
    /// Every entry boundary is a cut from this many bytes on.
    pub max: usize,
    /// Cut points inside file data, in bytes from the start of the file.
    pub step: u64,
}

const KIB: usize = 1024;

impl CutPolicy {
    /// The policy for a compression. gzip's window is 32 KiB, so chunks of
    /// about 1 MiB cost almost nothing in ratio; zstd level 3 looks back up
    /// to 2 MiB, so its chunks are larger (see the README for the ratios).
    pub fn for_compression(compression: Compression) -> CutPolicy {
        match compression {
            Compression::Zstd { .. } | Compression::ZstdChunked { .. } => CutPolicy {
                min: 2048 * KIB,
                gap: 2048 * KIB as u64,
                max: 8192 * KIB,
                step: 4096 * KIB as u64,
            },
            Compression::None | Compression::Gzip { .. } | Compression::Estargz { .. } => {
                CutPolicy {
                    min: 512 * KIB,
                    gap: 512 * KIB as u64,
                    max: 4096 * KIB,
                    step: 1024 * KIB as u64,
                }
            }
        }
    }

    /// Whether to cut at `point` with `buffered` bytes since the last cut.
    pub fn cut(&self, buffered: usize, point: CutPoint) -> bool {
        if buffered < self.min {
            return false;
        }
        match point {
            CutPoint::FileData => true,
            CutPoint::AfterEntry { hash, len } => {
                // hash / 2^64 < len / gap, in integers.
                buffered >= self.max
                    || u128::from(hash) * u128::from(self.gap) < u128::from(len) << 64
            }
        }
    }
}

/// The hash of a tar name that decides cuts after its entry.
pub(crate) fn name_hash(name: &str) -> u64 {
    let digest = Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GZ: Compression = Compression::Gzip { level: 6 };

    #[test]
    fn nothing_is_cut_below_the_minimum() {
        let p = CutPolicy::for_compression(GZ);
        let big = CutPoint::AfterEntry {
            hash: 0,
            len: u64::MAX,
        };
        assert!(!p.cut(p.min - 1, big));
        assert!(!p.cut(p.min - 1, CutPoint::FileData));
        assert!(p.cut(p.min, big));
        assert!(p.cut(p.min, CutPoint::FileData));
    }

    #[test]
    fn an_entry_as_long_as_the_gap_always_ends_a_chunk() {
        let p = CutPolicy::for_compression(GZ);
        let at = |hash, len| p.cut(p.min, CutPoint::AfterEntry { hash, len });
        assert!(at(u64::MAX, p.gap));
        assert!(!at(u64::MAX, 1));
        assert!(at(0, 1));
        // Half the hashes cut after an entry of half the gap.
        assert!(at(u64::MAX / 2 - 1, p.gap / 2));
        assert!(!at(u64::MAX / 2 + 1, p.gap / 2));
        // Past the maximum, every boundary is a cut.
        assert!(p.cut(
            p.max,
            CutPoint::AfterEntry {
                hash: u64::MAX,
                len: 1
            }
        ));
    }

    #[test]
    fn name_hash_is_stable() {
        // Pinned: cut points, and so blobs, must not change between
        // versions or machines.
        assert_eq!(name_hash("app/src/main.rs"), 0xe0ed_b06d_8df6_df7d);
    }
}
