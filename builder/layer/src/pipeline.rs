//! [`ChunkPipeline`]: cuts a stream into chunks (see `cut.rs`), compresses
//! them on worker threads, or takes them from a [`ChunkCache`], and writes
//! them in order.

use crate::chunk::{ChunkCache, ChunkEntry, ChunkKey, CompressedChunk, compress_chunk};
use crate::compress::Compression;
use crate::cut::{CutPoint, CutPolicy};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

type Job = (u64, Vec<u8>);

/// A chunk back from a worker.
struct Done {
    compressed: Vec<u8>,
    /// Set when the cache is enabled.
    entry: Option<ChunkEntry>,
}

/// Cuts a stream into chunks, compresses them on worker threads and writes
/// the results in order to `out`, listing the chunks when the cache is
/// enabled.
///
/// Dropping it unfinished closes the job channel, which ends the workers.
pub(crate) struct ChunkPipeline<W: Write> {
    out: W,
    policy: CutPolicy,
    buf: Vec<u8>,
    jobs: Option<Sender<Job>>,
    done: Receiver<(u64, io::Result<Done>)>,
    workers: Vec<JoinHandle<()>>,
    next_seq: u64,
    next_write: u64,
    ready: BTreeMap<u64, Done>,
    limit: u64,
    offset: u64,
    entries: Vec<ChunkEntry>,
    /// Where each chunk starts in the output, by sequence number.
    starts: Vec<u64>,
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
        let (done_tx, done_rx) = channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let workers = (0..threads)
            .map(|_| {
                let job_rx = Arc::clone(&job_rx);
                let done_tx = done_tx.clone();
                let cache = Arc::clone(&cache);
                std::thread::spawn(move || worker(&job_rx, &done_tx, compression, &*cache))
            })
            .collect();
        let policy = CutPolicy::for_compression(compression);
        ChunkPipeline {
            out,
            policy,
            buf: Vec::with_capacity(policy.min * 2),
            jobs: Some(job_tx),
            done: done_rx,
            workers,
            next_seq: 0,
            next_write: 0,
            ready: BTreeMap::new(),
            limit: 2 * threads as u64 + 1,
            offset: 0,
            entries: Vec::new(),
            starts: Vec::new(),
        }
    }

    /// The distance between cut points inside file data.
    pub fn step(&self) -> u64 {
        self.policy.step
    }

    /// A point where the stream may be cut.
    pub fn cut_point(&mut self, point: CutPoint) -> io::Result<()> {
        if self.policy.cut(self.buf.len(), point) {
            self.seal()?;
        }
        Ok(())
    }

    /// Ends the current chunk here (when it holds anything), whatever the
    /// policy says; returns the sequence number of the chunk the next
    /// bytes go to (see [`ChunkPipeline::finish_with_starts`]).
    pub fn force_cut(&mut self) -> io::Result<u64> {
        if !self.buf.is_empty() {
            self.seal()?;
        }
        Ok(self.next_seq)
    }

    fn seal(&mut self) -> io::Result<()> {
        let capacity = self.policy.min * 2;
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(capacity));
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
        while let Some(done) = self.ready.remove(&self.next_write) {
            self.out.write_all(&done.compressed)?;
            self.starts.push(self.offset);
            if let Some(mut entry) = done.entry {
                entry.offset = self.offset;
                self.entries.push(entry);
            }
            self.offset += done.compressed.len() as u64;
            self.next_write += 1;
        }
        Ok(())
    }

    /// Compresses what is left, waits for every chunk and returns the sink
    /// with the chunks written (none when the cache is disabled).
    pub fn finish(self) -> io::Result<(W, Vec<ChunkEntry>)> {
        self.finish_with_starts()
            .map(|(out, entries, _, _)| (out, entries))
    }

    /// Like [`ChunkPipeline::finish`], and also returns where each chunk
    /// starts in the output (by sequence number) and where the output ends.
    pub fn finish_with_starts(mut self) -> io::Result<(W, Vec<ChunkEntry>, Vec<u64>, u64)> {
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
        Ok((self.out, self.entries, self.starts, self.offset))
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
    done: &Sender<(u64, io::Result<Done>)>,
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
            cached_chunk(&data, compression, cache)
        } else {
            compress_chunk(&data, compression).map(|compressed| Done {
                compressed,
                entry: None,
            })
        };
        if done.send((seq, result)).is_err() {
            return;
        }
    }
}

/// A chunk from the cache, or compressed and offered to it. The SHA-256
/// of a cached chunk's compressed bytes comes from the cache, which
/// verified it.
fn cached_chunk(data: &[u8], compression: Compression, cache: &dyn ChunkCache) -> io::Result<Done> {
    let key = ChunkKey {
        sha256: Sha256::digest(data).into(),
        compression,
    };
    let (chunk, reused) = match cache.lookup(&key) {
        Some(hit) => (hit, true),
        None => {
            let chunk = CompressedChunk::new(compress_chunk(data, compression)?);
            cache.store(&key, &chunk);
            (chunk, false)
        }
    };
    let entry = ChunkEntry {
        sha256: key.sha256,
        uncompressed_size: data.len() as u64,
        offset: 0, // set when written
        size: chunk.bytes.len() as u64,
        compressed_sha256: chunk.sha256,
        reused,
    };
    Ok(Done {
        compressed: chunk.bytes,
        entry: Some(entry),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{MemoryChunkCache, NoChunkCache};
    use std::io::Read;

    const GZIP1: Compression = Compression::Gzip { level: 1 };

    /// Writes `data` in `pieces`, offering a cut after each as if each
    /// piece were an entry of its length.
    fn run(data: &[u8], pieces: usize, threads: usize, cache: Arc<dyn ChunkCache>) -> Vec<u8> {
        let mut p = ChunkPipeline::new(Vec::new(), GZIP1, threads, cache);
        for (i, piece) in data.chunks(data.len() / pieces).enumerate() {
            p.write_all(piece).unwrap();
            let hash = crate::cut::name_hash(&i.to_string());
            let len = piece.len() as u64;
            p.cut_point(CutPoint::AfterEntry { hash, len }).unwrap();
        }
        p.finish().unwrap().0
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
        // 5 MB in 125 kB entries: a cut about 512 KiB after the first
        // 512 KiB of each chunk, so several members.
        let members = one.windows(3).filter(|w| w == &[0x1f, 0x8b, 8]).count();
        assert!(members >= 3, "{members} members");
    }

    #[test]
    fn cached_chunks_are_reused_and_listed_where_they_are() {
        let data = sample();
        let cache = Arc::new(MemoryChunkCache::default());
        let first = run(&data, 10, 2, cache.clone());
        assert_eq!(cache.hits(), 0);
        assert!(cache.len() >= 4);
        let second = run(&data, 10, 2, cache.clone());
        assert_eq!(first, second);
        assert_eq!(cache.hits() as usize, cache.len());

        let mut p = ChunkPipeline::new(Vec::new(), GZIP1, 2, cache.clone());
        p.write_all(&data).unwrap();
        let (blob, entries) = p.finish().unwrap();
        let mut offset = 0;
        for e in &entries {
            assert_eq!(e.offset, offset);
            let member = &blob[e.offset as usize..(e.offset + e.size) as usize];
            assert_eq!(
                <[u8; 32]>::from(Sha256::digest(member)),
                e.compressed_sha256
            );
            offset += e.size;
        }
        assert_eq!(offset, blob.len() as u64);
        assert_eq!(entries.len(), 1, "no cut point offered, one chunk");
    }
}
