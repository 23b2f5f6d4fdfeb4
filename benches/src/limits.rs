//! The machine's limits, measured on the same bytes as the figure they
//! frame: plain SHA-256 (one core and all cores), plain gzip and zstd,
//! plain decompression, a `cp -r`-like copy and a `find`-like `lstat` walk.
//!
//! Each function does the bare work with the same libraries strata uses
//! (sha2, flate2 with zlib-rs, zstd), without tar framing, caching or
//! safety checks, so "strata / limit" reads as the share of what the
//! machine can do.

use crate::error::BenchError;
use flate2::Compression as GzLevel;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;

/// Worker threads to use for "all cores" (the machine's parallelism).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// SHA-256 of `data` on one core.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// SHA-256 of `data` cut into `threads` contiguous parts hashed at once:
/// what hashing many files in parallel can reach at best.
pub fn sha256_parallel(data: &[u8], threads: usize) -> Result<Vec<[u8; 32]>, BenchError> {
    in_parts(data, threads, "sha256_parallel", |part| Ok(sha256(part)))
}

/// Size of `data` gzip-compressed at `level` as one stream on one core
/// (what `gzip -6` does).
pub fn gzip(data: &[u8], level: u32) -> Result<usize, BenchError> {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 3), GzLevel::new(level));
    enc.write_all(data)
        .and_then(|()| enc.finish())
        .map(|v| v.len())
        .map_err(|source| BenchError::Compress {
            codec: "gzip",
            source,
        })
}

/// Total size of `data` cut into `threads` contiguous parts, each
/// gzip-compressed at `level` on its own core.
pub fn gzip_parallel(data: &[u8], level: u32, threads: usize) -> Result<usize, BenchError> {
    let sizes = in_parts(data, threads, "gzip_parallel", |part| gzip(part, level))?;
    Ok(sizes.iter().sum())
}

/// Size of `data` zstd-compressed at `level` as one stream with
/// `threads` workers (zstd's own multi-thread mode).
pub fn zstd_mt(data: &[u8], level: i32, threads: usize) -> Result<usize, BenchError> {
    let err = |source| BenchError::Compress {
        codec: "zstd",
        source,
    };
    let mut enc = zstd::stream::write::Encoder::new(Vec::with_capacity(data.len() / 3), level)
        .map_err(err)?;
    enc.multithread(u32::try_from(threads).unwrap_or(u32::MAX))
        .map_err(err)?;
    enc.write_all(data).map_err(err)?;
    enc.finish().map(|v| v.len()).map_err(err)
}

/// Decompressed size of a gzip blob (several members allowed).
pub fn gunzip(blob: &[u8]) -> Result<u64, BenchError> {
    io::copy(&mut MultiGzDecoder::new(blob), &mut io::sink()).map_err(|source| {
        BenchError::Compress {
            codec: "gzip",
            source,
        }
    })
}

/// Decompressed size of a zstd blob.
pub fn unzstd(blob: &[u8]) -> Result<u64, BenchError> {
    let err = |source| BenchError::Compress {
        codec: "zstd",
        source,
    };
    let mut dec = zstd::stream::read::Decoder::new(blob).map_err(err)?;
    io::copy(&mut dec, &mut io::sink()).map_err(err)
}

/// What a copy or walk went through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalkCount {
    /// Regular files.
    pub files: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Directories below the root.
    pub dirs: u64,
    /// Bytes of file content.
    pub bytes: u64,
}

/// Copies the tree at `src` to `dst` (which must not exist) like `cp -r`
/// on one thread: directories created, files copied with `std::fs::copy`,
/// symlinks recreated, nothing else.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<WalkCount, BenchError> {
    let mut count = WalkCount::default();
    fs::create_dir(dst).map_err(|e| BenchError::io("create", dst, e))?;
    copy_dir(src, dst, &mut count)?;
    Ok(count)
}

fn copy_dir(src: &Path, dst: &Path, count: &mut WalkCount) -> Result<(), BenchError> {
    for entry in fs::read_dir(src).map_err(|e| BenchError::io("read", src, e))? {
        let entry = entry.map_err(|e| BenchError::io("read", src, e))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let ty = entry
            .file_type()
            .map_err(|e| BenchError::io("stat", &from, e))?;
        if ty.is_dir() {
            fs::create_dir(&to).map_err(|e| BenchError::io("create", &to, e))?;
            count.dirs += 1;
            copy_dir(&from, &to, count)?;
        } else if ty.is_symlink() {
            let target = fs::read_link(&from).map_err(|e| BenchError::io("readlink", &from, e))?;
            std::os::unix::fs::symlink(&target, &to)
                .map_err(|e| BenchError::io("symlink", &to, e))?;
            count.symlinks += 1;
        } else if ty.is_file() {
            count.bytes += fs::copy(&from, &to).map_err(|e| BenchError::io("copy", &from, e))?;
            count.files += 1;
        }
    }
    Ok(())
}

/// Walks the tree at `root` on one thread, `lstat`-ing every entry (what
/// `find ROOT -ls` costs): the floor for checking a context against a
/// stat cache.
pub fn lstat_walk(root: &Path) -> Result<WalkCount, BenchError> {
    let mut count = WalkCount::default();
    walk(root, &mut count)?;
    Ok(count)
}

fn walk(dir: &Path, count: &mut WalkCount) -> Result<(), BenchError> {
    for entry in fs::read_dir(dir).map_err(|e| BenchError::io("read", dir, e))? {
        let entry = entry.map_err(|e| BenchError::io("read", dir, e))?;
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).map_err(|e| BenchError::io("stat", &path, e))?;
        if meta.is_dir() {
            count.dirs += 1;
            walk(&path, count)?;
        } else if meta.is_symlink() {
            count.symlinks += 1;
        } else if meta.is_file() {
            count.files += 1;
            count.bytes += meta.len();
        }
    }
    Ok(())
}

/// Reads every byte of every file below `root` on one thread (page cache
/// permitting, the floor for reading a context).
pub fn read_tree(root: &Path) -> Result<u64, BenchError> {
    let mut total = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| BenchError::io("read", &dir, e))? {
            let entry = entry.map_err(|e| BenchError::io("read", &dir, e))?;
            let path = entry.path();
            let ty = entry
                .file_type()
                .map_err(|e| BenchError::io("stat", &path, e))?;
            if ty.is_dir() {
                stack.push(path);
            } else if ty.is_file() {
                let mut f = fs::File::open(&path).map_err(|e| BenchError::io("open", &path, e))?;
                loop {
                    let n = f
                        .read(&mut buf)
                        .map_err(|e| BenchError::io("read", &path, e))?;
                    if n == 0 {
                        break;
                    }
                    total += n as u64;
                }
            }
        }
    }
    Ok(total)
}

/// Runs `work` on `threads` contiguous parts of `data` at once.
fn in_parts<T: Send>(
    data: &[u8],
    threads: usize,
    what: &'static str,
    work: impl Fn(&[u8]) -> Result<T, BenchError> + Sync,
) -> Result<Vec<T>, BenchError> {
    let part = data.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = data
            .chunks(part)
            .map(|chunk| s.spawn(|| work(chunk)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| BenchError::Worker { what })?)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn compressors_round_trip_and_parallel_parts_cover_the_input() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let parts = sha256_parallel(&data, 3).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], sha256(&data[..data.len().div_ceil(3)]));
        let gz = gzip(&data, 6).unwrap();
        assert!(gz < data.len() / 2, "{gz}");
        assert!(gzip_parallel(&data, 6, 2).unwrap() >= gz / 2);
        let z = zstd_mt(&data, 3, 2).unwrap();
        assert!(z < data.len() / 2, "{z}");

        let mut enc = GzEncoder::new(Vec::new(), GzLevel::new(1));
        enc.write_all(&data).unwrap();
        assert_eq!(gunzip(&enc.finish().unwrap()).unwrap(), data.len() as u64);
        let blob = zstd::encode_all(&data[..], 3).unwrap();
        assert_eq!(unzstd(&blob).unwrap(), data.len() as u64);
    }
}
