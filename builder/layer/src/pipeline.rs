//! [`ChunkPipeline`]: cuts a stream into chunks (see `cut.rs`), compresses
//! them on worker threads, or takes them from a [`ChunkCache`], and writes
//! them in order, with the digests of both streams computed on the way.
//!
//! The caller's thread only fills chunks (for a layer, it also reads the
//! files). A sealed chunk goes to the tar hasher, a thread that hashes
//! the uncompressed stream in order (the diffID), and to a worker (the
//! chunk's key, its lookup or compression). The writer thread puts the
//! workers' results back in order and writes them to the sink, where the
//! blob digest is computed (`out.rs`). So the three SHA-256 passes over
//! a rebuilt layer (tar, chunk keys, blob) run beside each other and
//! beside the reading of the files, instead of mostly on one thread.

use crate::chunk::{ChunkCache, ChunkEntry, ChunkKey, CompressedChunk, compress_chunk};
use crate::compress::Compression;
use crate::cut::{CutPoint, CutPolicy};
use crate::out::{BlobOut, BlobSink};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The bytes of a sealed chunk, shared by the tar hasher and a worker.
type Chunk = Arc<Vec<u8>>;
type Job = (u64, Chunk);

/// A chunk back from a worker.
struct Done {
    compressed: Vec<u8>,
    /// Set when the cache is enabled.
    entry: Option<ChunkEntry>,
}

/// What the writer thread hands back.
struct Written<W> {
    out: BlobOut<W>,
    entries: Vec<ChunkEntry>,
    starts: Vec<u64>,
}

/// A finished pipeline: the sink and what was written to it.
pub(crate) struct Finished<W> {
    /// The sink; more may be written to it (eStargz's table of contents).
    pub out: BlobOut<W>,
    /// The chunks written, in order (listed only when the cache is
    /// enabled).
    pub entries: Vec<ChunkEntry>,
    /// Where each chunk starts in the output, by sequence number.
    pub starts: Vec<u64>,
    /// SHA-256 of the uncompressed stream so far, not finalized, so a
    /// caller can add to it.
    pub tar_sha: Sha256,
    /// Size of the uncompressed stream.
    pub tar_size: u64,
}

/// Cuts a stream into chunks, compresses them on worker threads and writes
/// the results in order to the sink, listing the chunks when the cache is
/// enabled.
///
/// Dropping it unfinished closes its channels, which ends the threads.
pub(crate) struct ChunkPipeline<W: BlobSink> {
    policy: CutPolicy,
    buf: Vec<u8>,
    jobs: Option<Sender<Job>>,
    tar: Option<SyncSender<Chunk>>,
    /// How many chunks the writer thread has written, after each one.
    written: Receiver<u64>,
    workers: Vec<JoinHandle<()>>,
    hasher: Option<JoinHandle<(Sha256, u64)>>,
    writer: Option<JoinHandle<io::Result<Written<W>>>>,
    next_seq: u64,
    next_written: u64,
    limit: u64,
}

impl<W: BlobSink> ChunkPipeline<W> {
    /// A pipeline compressing on `threads` worker threads (0: one per core).
    pub fn new(
        out: W,
        compression: Compression,
        threads: usize,
        cache: Arc<dyn ChunkCache>,
    ) -> io::Result<Self> {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let limit = 2 * threads as u64 + 1;
        let (job_tx, job_rx) = channel::<Job>();
        let (done_tx, done_rx) = channel();
        let (written_tx, written_rx) = channel();
        let (tar_tx, tar_rx) = sync_channel::<Chunk>(limit as usize);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let mut workers = Vec::with_capacity(threads);
        for _ in 0..threads {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            let cache = Arc::clone(&cache);
            workers.push(spawn("strata-chunk", move || {
                worker(&job_rx, &done_tx, compression, &*cache)
            })?);
        }
        drop(done_tx);
        let hasher = spawn("strata-tar-sha", move || {
            let mut sha = Sha256::new();
            let mut size = 0u64;
            for chunk in tar_rx {
                sha.update(&chunk[..]);
                size += chunk.len() as u64;
            }
            (sha, size)
        })?;
        let out = BlobOut::new(out);
        let writer = spawn("strata-blob", move || {
            write_in_order(out, &done_rx, &written_tx)
        })?;
        let policy = CutPolicy::for_compression(compression);
        Ok(ChunkPipeline {
            policy,
            buf: Vec::with_capacity(policy.min * 2),
            jobs: Some(job_tx),
            tar: Some(tar_tx),
            written: written_rx,
            workers,
            hasher: Some(hasher),
            writer: Some(writer),
            next_seq: 0,
            next_written: 0,
            limit,
        })
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
    /// bytes go to (see [`Finished::starts`]).
    pub fn force_cut(&mut self) -> io::Result<u64> {
        if !self.buf.is_empty() {
            self.seal()?;
        }
        Ok(self.next_seq)
    }

    fn seal(&mut self) -> io::Result<()> {
        let capacity = self.policy.min * 2;
        let data = Arc::new(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(capacity),
        ));
        let sent = match (&self.tar, &self.jobs) {
            (Some(tar), Some(jobs)) => {
                tar.send(Arc::clone(&data)).is_ok() && jobs.send((self.next_seq, data)).is_ok()
            }
            _ => false,
        };
        if !sent {
            return Err(self.failure());
        }
        self.next_seq += 1;
        while self.next_seq - self.next_written > self.limit {
            match self.written.recv() {
                Ok(n) => self.next_written = n,
                Err(_) => return Err(self.failure()),
            }
        }
        Ok(())
    }

    /// Stops every thread after one of them stopped early; returns why.
    fn failure(&mut self) -> io::Error {
        self.jobs = None;
        self.tar = None;
        let workers_ok = std::mem::take(&mut self.workers)
            .into_iter()
            .all(|w| w.join().is_ok());
        let hasher_ok = self.hasher.take().is_none_or(|h| h.join().is_ok());
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            Some(Err(_)) => panicked(),
            _ if !workers_ok || !hasher_ok => panicked(),
            _ => stopped(),
        }
    }

    /// Compresses what is left, waits for every chunk and returns the sink
    /// with what was written.
    pub fn finish(mut self) -> io::Result<Finished<W>> {
        if !self.buf.is_empty() {
            self.seal()?;
        }
        self.jobs = None;
        self.tar = None;
        for worker in std::mem::take(&mut self.workers) {
            worker.join().map_err(|_| panicked())?;
        }
        let written = self
            .writer
            .take()
            .ok_or_else(stopped)?
            .join()
            .map_err(|_| panicked())??;
        let (tar_sha, tar_size) = self
            .hasher
            .take()
            .ok_or_else(stopped)?
            .join()
            .map_err(|_| panicked())?;
        if written.starts.len() as u64 != self.next_seq {
            return Err(io::Error::other("a chunk of the layer was not written"));
        }
        Ok(Finished {
            out: written.out,
            entries: written.entries,
            starts: written.starts,
            tar_sha,
            tar_size,
        })
    }
}

impl<W: BlobSink> Write for ChunkPipeline<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<JoinHandle<T>> {
    std::thread::Builder::new().name(name.into()).spawn(f)
}

fn stopped() -> io::Error {
    io::Error::other("the compression threads stopped")
}

fn panicked() -> io::Error {
    io::Error::other("a compression thread panicked")
}

/// The writer thread: the workers' chunks, in sequence order, into the
/// sink; reports each written chunk on `written`. Ends when every worker
/// has ended.
fn write_in_order<W: BlobSink>(
    mut out: BlobOut<W>,
    done: &Receiver<(u64, io::Result<Done>)>,
    written: &Sender<u64>,
) -> io::Result<Written<W>> {
    let mut ready = BTreeMap::new();
    let mut next = 0u64;
    let mut entries = Vec::new();
    let mut starts = Vec::new();
    for (seq, result) in done {
        ready.insert(seq, result?);
        while let Some(chunk) = ready.remove(&next) {
            let offset = out.size();
            out.write_all(&chunk.compressed)?;
            starts.push(offset);
            if let Some(mut entry) = chunk.entry {
                entry.offset = offset;
                entries.push(entry);
            }
            next += 1;
            // The caller stops listening once it has sent its last chunk.
            let _ = written.send(next);
        }
    }
    Ok(Written {
        out,
        entries,
        starts,
    })
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
        let data = &data[..];
        let result = if cache.enabled() {
            cached_chunk(data, compression, cache)
        } else {
            compress_chunk(data, compression).map(|compressed| Done {
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
        compressed_xxh3: chunk.xxh3,
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
        let mut p = ChunkPipeline::new(Vec::new(), GZIP1, threads, cache).unwrap();
        for (i, piece) in data.chunks(data.len() / pieces).enumerate() {
            p.write_all(piece).unwrap();
            let hash = crate::cut::name_hash(&i.to_string());
            let len = piece.len() as u64;
            p.cut_point(CutPoint::AfterEntry { hash, len }).unwrap();
        }
        let finished = p.finish().unwrap();
        assert_eq!(finished.tar_size, data.len() as u64);
        assert_eq!(
            <[u8; 32]>::from(finished.tar_sha.finalize()),
            <[u8; 32]>::from(Sha256::digest(data))
        );
        finished.out.finish().unwrap().0
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

        let mut p = ChunkPipeline::new(Vec::new(), GZIP1, 2, cache.clone()).unwrap();
        p.write_all(&data).unwrap();
        let finished = p.finish().unwrap();
        let entries = finished.entries;
        let (blob, digest, size) = finished.out.finish().unwrap();
        assert_eq!(
            digest,
            format!("sha256:{}", hex::encode(Sha256::digest(&blob)))
        );
        assert_eq!(size, blob.len() as u64);
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

    /// A sink that fails once `0` bytes are used up.
    struct Full(usize);

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 = self
                .0
                .checked_sub(buf.len())
                .ok_or_else(|| io::Error::other("disk full"))?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl BlobSink for Full {}

    #[test]
    fn a_sink_error_is_returned_not_a_stopped_thread() {
        let data = sample();
        let mut p = ChunkPipeline::new(Full(1000), GZIP1, 2, Arc::new(NoChunkCache)).unwrap();
        let mut result = Ok(());
        for (i, piece) in data.chunks(100_000).enumerate() {
            p.write_all(piece).unwrap();
            let hash = crate::cut::name_hash(&i.to_string());
            let len = piece.len() as u64;
            result = p.cut_point(CutPoint::AfterEntry { hash, len });
            if result.is_err() {
                break;
            }
        }
        let err = match result {
            Err(e) => e,
            Ok(()) => p.finish().err().unwrap(),
        };
        assert_eq!(err.to_string(), "disk full");
    }
}
