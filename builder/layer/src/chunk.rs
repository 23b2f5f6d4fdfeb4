//! Parallel, deterministic compression in independent chunks.
//!
//! The tar stream is cut at points the writer offers (before each entry and
//! every [`CHUNK_SIZE`] bytes into a file's data) once at least
//! [`CHUNK_SIZE`] bytes are buffered. The cut points depend only on the
//! stream, never on the number of cores, so each chunk compressed on its
//! own — a gzip member or a zstd frame — and concatenated in order gives the
//! same bytes on every machine. Decoders read concatenated gzip members
//! (RFC 1952) and zstd frames as one stream. Layers use it for gzip; zstd
//! compresses better as one multi-thread stream (see `compress.rs`).
//!
//! A [`ChunkCache`] may supply the compressed form of a chunk seen before
//! (keyed by the SHA-256 of its uncompressed bytes), so re-exporting a layer
//! that changed a little recompresses only the changed chunks.

use crate::compress::Compression;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Uncompressed size from which a chunk is cut at the next cut point.
pub const CHUNK_SIZE: usize = 1 << 20;

/// Identifies a compressed chunk: what it holds and how it was compressed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChunkKey {
    /// SHA-256 of the uncompressed chunk.
    pub sha256: [u8; 32],
    /// The compression (algorithm and level) of the stored form.
    pub compression: Compression,
}

/// A store of compressed chunks, to reuse them between exports.
pub trait ChunkCache: Send + Sync {
    /// Whether to compute keys at all (hashing every chunk costs time).
    fn enabled(&self) -> bool {
        true
    }
    /// The compressed form of a chunk, when known.
    fn lookup(&self, key: &ChunkKey) -> Option<Vec<u8>>;
    /// Remembers the compressed form of a chunk.
    fn store(&self, key: &ChunkKey, compressed: &[u8]);
}

/// A cache that never holds anything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoChunkCache;

impl ChunkCache for NoChunkCache {
    fn enabled(&self) -> bool {
        false
    }
    fn lookup(&self, _key: &ChunkKey) -> Option<Vec<u8>> {
        None
    }
    fn store(&self, _key: &ChunkKey, _compressed: &[u8]) {}
}

/// A chunk cache in memory, counting its hits.
#[derive(Debug, Default)]
pub struct MemoryChunkCache {
    chunks: Mutex<HashMap<ChunkKey, Vec<u8>>>,
    hits: AtomicU64,
}

impl MemoryChunkCache {
    /// How many lookups found a chunk.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// How many chunks are stored.
    pub fn len(&self) -> usize {
        self.chunks.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ChunkCache for MemoryChunkCache {
    fn lookup(&self, key: &ChunkKey) -> Option<Vec<u8>> {
        let found = self.chunks.lock().ok()?.get(key).cloned();
        if found.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        found
    }
    fn store(&self, key: &ChunkKey, compressed: &[u8]) {
        if let Ok(mut chunks) = self.chunks.lock() {
            chunks.insert(key.clone(), compressed.to_vec());
        }
    }
}

/// Compresses one chunk as a complete gzip member or zstd frame.
pub(crate) fn compress_chunk(data: &[u8], compression: Compression) -> io::Result<Vec<u8>> {
    let capacity = data.len() / 2 + 64;
    match compression {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip { level } => {
            let mut enc = flate2::GzBuilder::new().mtime(0).write(
                Vec::with_capacity(capacity),
                flate2::Compression::new(level.min(9)),
            );
            enc.write_all(data)?;
            enc.finish()
        }
        Compression::Zstd { level } => {
            let mut enc = zstd::stream::write::Encoder::new(Vec::with_capacity(capacity), level)?;
            // Multi-thread mode with one worker: the same bytes as with any
            // worker count, unlike the single-thread mode.
            enc.multithread(1)?;
            enc.write_all(data)?;
            enc.finish()
        }
    }
}

type Job = (u64, Vec<u8>);
type Done = (u64, io::Result<Vec<u8>>);

/// Cuts a stream into chunks, compresses them on worker threads and writes
/// the results in order to `out`.
///
/// Dropping it unfinished closes the job channel, which ends the workers.
pub(crate) struct ChunkPipeline<W: Write> {
    out: W,
    buf: Vec<u8>,
    jobs: Option<Sender<Job>>,
    done: Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
    next_seq: u64,
    next_write: u64,
    ready: BTreeMap<u64, Vec<u8>>,
    limit: u64,
}

impl<W: Write> ChunkPipeline<W> {
    pub fn new(
        out: W,
        compression: Compression,
        threads: usize,
        cache: Arc<dyn ChunkCache>,
    ) -> Self {
        let threads = threads.max(1);
        let (job_tx, job_rx) = channel::<Job>();
        let (done_tx, done_rx) = channel::<Done>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let workers = (0..threads)
            .map(|_| {
                let job_rx = Arc::clone(&job_rx);
                let done_tx = done_tx.clone();
                let cache = Arc::clone(&cache);
                std::thread::spawn(move || worker(&job_rx, &done_tx, compression, &*cache))
            })
            .collect();
        ChunkPipeline {
            out,
            buf: Vec::with_capacity(CHUNK_SIZE + CHUNK_SIZE / 4),
            jobs: Some(job_tx),
            done: done_rx,
            workers,
            next_seq: 0,
            next_write: 0,
            ready: BTreeMap::new(),
            limit: 2 * threads as u64 + 1,
        }
    }

    /// A point where the stream may be cut.
    pub fn cut_point(&mut self) -> io::Result<()> {
        if self.buf.len() >= CHUNK_SIZE {
            self.seal()?;
        }
        Ok(())
    }

    fn seal(&mut self) -> io::Result<()> {
        let data = std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK_SIZE + CHUNK_SIZE / 4),
        );
        let jobs = self.jobs.as_ref().ok_or_else(stopped)?;
        jobs.send((self.next_seq, data)).map_err(|_| stopped())?;
        self.next_seq += 1;
        while self.next_seq - self.next_write > self.limit {
            self.receive_one()?;
        }
        Ok(())
    }

    /// Waits for one compressed chunk and writes what is in order.
    fn receive_one(&mut self) -> io::Result<()> {
        let (seq, result) = self.done.recv().map_err(|_| stopped())?;
        self.ready.insert(seq, result?);
        while let Some(bytes) = self.ready.remove(&self.next_write) {
            self.out.write_all(&bytes)?;
            self.next_write += 1;
        }
        Ok(())
    }

    /// Compresses what is left, waits for every chunk and returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.buf.is_empty() {
            self.seal()?;
        }
        self.jobs = None;
        while self.next_write < self.next_seq {
            self.receive_one()?;
        }
        for worker in std::mem::take(&mut self.workers) {
            worker
                .join()
                .map_err(|_| io::Error::other("a compression thread panicked"))?;
        }
        Ok(self.out)
    }
}

impl<W: Write> Write for ChunkPipeline<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn stopped() -> io::Error {
    io::Error::other("the compression threads stopped")
}

fn worker(
    jobs: &Mutex<Receiver<Job>>,
    done: &Sender<Done>,
    compression: Compression,
    cache: &dyn ChunkCache,
) {
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok((seq, data)) = job else { return };
        let result = if cache.enabled() {
            let key = ChunkKey {
                sha256: Sha256::digest(&data).into(),
                compression,
            };
            match cache.lookup(&key) {
                Some(hit) => Ok(hit),
                None => compress_chunk(&data, compression).inspect(|c| cache.store(&key, c)),
            }
        } else {
            compress_chunk(&data, compression)
        };
        if done.send((seq, result)).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn run(data: &[u8], cuts: usize, threads: usize, cache: Arc<dyn ChunkCache>) -> Vec<u8> {
        let mut p = ChunkPipeline::new(Vec::new(), Compression::Gzip { level: 1 }, threads, cache);
        for piece in data.chunks(data.len() / cuts) {
            p.write_all(piece).unwrap();
            p.cut_point().unwrap();
        }
        p.finish().unwrap()
    }

    fn sample() -> Vec<u8> {
        (0..5_000_000u32)
            .map(|i| (i % 251) as u8 ^ (i >> 13) as u8)
            .collect()
    }

    #[test]
    fn members_decode_to_the_input_whatever_the_thread_count() {
        let data = sample();
        let one = run(&data, 40, 1, Arc::new(NoChunkCache));
        let three = run(&data, 40, 3, Arc::new(NoChunkCache));
        assert_eq!(one, three);
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&one[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        // 5 MB cut every 125 kB into >= 1 MiB chunks: 5 members.
        let members = one.windows(3).filter(|w| w == &[0x1f, 0x8b, 8]).count();
        assert!(members >= 4, "{members} members");
    }

    #[test]
    fn cached_chunks_are_reused() {
        let data = sample();
        let cache = Arc::new(MemoryChunkCache::default());
        let first = run(&data, 10, 2, cache.clone());
        assert_eq!(cache.hits(), 0);
        assert!(cache.len() >= 4);
        let second = run(&data, 10, 2, cache.clone());
        assert_eq!(first, second);
        assert_eq!(cache.hits() as usize, cache.len());
    }
}
