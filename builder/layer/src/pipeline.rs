//! [`ChunkPipeline`]: cuts a stream into chunks (see `cut.rs`), compresses
//! them on worker threads, or takes them from a [`ChunkCache`], and writes
//! them in order, with the digests of both streams computed on the way.
//!
//! The caller's thread only fills chunks (for a layer, it also reads the
//! files, straight into the chunk, [`ChunkPipeline::read_from`]). Chunk
//! buffers go round: once hashed they come back to be filled again, so
//! no page of a rebuilt layer is allocated and zeroed twice. A sealed chunk goes to a worker (the chunk's BLAKE3 key, its
//! lookup or compression). The writer thread puts the workers' results
//! back in order, writes them to the sink, where the blob digest is
//! computed (`out.rs`), and passes the uncompressed chunk on to the tar
//! hasher, a thread that hashes the stream in order (the diffID). So the
//! hashes of a rebuilt layer run beside each other and beside the reading
//! of the files.
//!
//! While the chunks written are, one for one, the first chunks of a blob
//! written before (same keys, same compressed bytes; the cache lists such
//! blobs with the SHA-256 states after each chunk), neither digest hashes
//! them: both take the earlier blob's state after the chunk. A layer whose
//! first change is half-way through hashes half of it.

use crate::chunk::{ChunkCache, ChunkEntry, ChunkKey, CompressedChunk, compress_chunk};
use crate::compress::Compression;
use crate::cut::{CutPoint, CutPolicy};
use crate::out::{BlobOut, BlobSink};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use strata_store::{ChunkRecord, Midstate, ResumableSha256};

/// The bytes of a sealed chunk, shared by a worker and the tar hasher.
type Chunk = Arc<ChunkBuf>;
type Job = (u64, Chunk);

/// A chunk's buffer: `bytes[..len]` is the chunk; the rest is space
/// already allocated and initialized, so reads can go straight into it.
pub(crate) struct ChunkBuf {
    bytes: Vec<u8>,
    len: usize,
}

impl ChunkBuf {
    /// A buffer as large as a chunk gets: up to `max`, then at most one
    /// step of a file's data and its headers. Zeroed memory this large is
    /// fresh pages the kernel zeroes when first touched, so the size
    /// costs nothing until used, and the buffer never grows by copying.
    fn for_policy(policy: &CutPolicy) -> ChunkBuf {
        let capacity = policy.max + usize::try_from(policy.step).unwrap_or(0) + (64 << 10);
        ChunkBuf {
            bytes: vec![0; capacity],
            len: 0,
        }
    }

    fn data(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// `n` bytes of room after the chunk, grown (zeroed) when needed.
    fn room(&mut self, n: usize) -> &mut [u8] {
        let end = self.len + n;
        if self.bytes.len() < end {
            self.bytes.resize(end.max(self.bytes.len() * 2), 0);
        }
        &mut self.bytes[self.len..end]
    }
}

/// Gives a chunk's buffer back to the pipeline once its last user is
/// done with it.
fn recycle(chunk: Chunk, pool: &Sender<ChunkBuf>) {
    if let Ok(mut buf) = Arc::try_unwrap(chunk) {
        buf.len = 0;
        // The pipeline may be gone: the buffer is then just freed.
        let _ = pool.send(buf);
    }
}

/// A chunk back from a worker.
struct Done {
    data: Chunk,
    compressed: Vec<u8>,
    /// Set when the cache is enabled.
    entry: Option<ChunkEntry>,
}

/// What the tar hasher is given, chunk by chunk.
enum ToHash {
    /// Bytes to hash.
    Bytes(Chunk),
    /// A chunk whose state after it is known.
    Known(Midstate),
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
    pub tar_sha: ResumableSha256,
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
    buf: ChunkBuf,
    /// Buffers of chunks written and hashed, to fill again.
    pool: Receiver<ChunkBuf>,
    jobs: Option<Sender<Job>>,
    /// How many chunks the writer thread has written, after each one.
    written: Receiver<u64>,
    workers: Vec<JoinHandle<()>>,
    hasher: Option<JoinHandle<Hashed>>,
    writer: Option<JoinHandle<io::Result<Written<W>>>>,
    next_seq: u64,
    next_written: u64,
    limit: u64,
}

/// What the tar hasher hands back.
struct Hashed {
    sha: ResumableSha256,
    /// The state after each chunk, when the cache is enabled.
    states: Vec<Midstate>,
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
        // Two chunks queued keep the tar hasher busy; more would only hold
        // more chunk buffers.
        let (tar_tx, tar_rx) = sync_channel::<ToHash>(2);
        let (pool_tx, pool_rx) = channel();
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
        let keep_states = cache.enabled();
        let hasher_pool = pool_tx.clone();
        let hasher = spawn("strata-tar-sha", move || {
            hash_tar(tar_rx, keep_states, &hasher_pool)
        })?;
        let out = BlobOut::new(out);
        let writer = spawn("strata-blob", move || {
            let prefix = Prefix {
                cache,
                compression,
                candidates: None,
                tar_size: 0,
            };
            write_in_order(out, &done_rx, &written_tx, &tar_tx, prefix, &pool_tx)
        })?;
        let policy = CutPolicy::for_compression(compression);
        Ok(ChunkPipeline {
            policy,
            buf: ChunkBuf::for_policy(&policy),
            pool: pool_rx,
            jobs: Some(job_tx),
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

    /// Reads up to `max` bytes from `from` straight into the chunk being
    /// filled (one `read` call); returns how many.
    pub fn read_from(&mut self, from: &mut dyn io::Read, max: usize) -> io::Result<usize> {
        let n = from.read(self.buf.room(max))?;
        self.buf.len += n;
        Ok(n)
    }

    /// A point where the stream may be cut.
    pub fn cut_point(&mut self, point: CutPoint) -> io::Result<()> {
        if self.policy.cut(self.buf.len, point) {
            self.seal()?;
        }
        Ok(())
    }

    /// Ends the current chunk here (when it holds anything), whatever the
    /// policy says; returns the sequence number of the chunk the next
    /// bytes go to (see [`Finished::starts`]).
    pub fn force_cut(&mut self) -> io::Result<u64> {
        if self.buf.len > 0 {
            self.seal()?;
        }
        Ok(self.next_seq)
    }

    fn seal(&mut self) -> io::Result<()> {
        let next = match self.pool.try_recv() {
            Ok(buf) => buf,
            Err(_) => ChunkBuf::for_policy(&self.policy),
        };
        let data = Arc::new(std::mem::replace(&mut self.buf, next));
        let sent = match &self.jobs {
            Some(jobs) => jobs.send((self.next_seq, data)).is_ok(),
            None => false,
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
        let workers_ok = std::mem::take(&mut self.workers)
            .into_iter()
            .all(|w| w.join().is_ok());
        let writer = self.writer.take().map(JoinHandle::join);
        let hasher_ok = self.hasher.take().is_none_or(|h| h.join().is_ok());
        match writer {
            Some(Ok(Err(e))) => e,
            Some(Err(_)) => panicked(),
            _ if !workers_ok || !hasher_ok => panicked(),
            _ => stopped(),
        }
    }

    /// Compresses what is left, waits for every chunk and returns the sink
    /// with what was written.
    pub fn finish(mut self) -> io::Result<Finished<W>> {
        if self.buf.len > 0 {
            self.seal()?;
        }
        self.jobs = None;
        for worker in std::mem::take(&mut self.workers) {
            worker.join().map_err(|_| panicked())?;
        }
        let mut written = self
            .writer
            .take()
            .ok_or_else(stopped)?
            .join()
            .map_err(|_| panicked())??;
        let hashed = self
            .hasher
            .take()
            .ok_or_else(stopped)?
            .join()
            .map_err(|_| panicked())?;
        if written.starts.len() as u64 != self.next_seq {
            return Err(io::Error::other("a chunk of the layer was not written"));
        }
        if hashed.states.len() == written.entries.len() {
            for (entry, state) in written.entries.iter_mut().zip(hashed.states) {
                entry.stream_state = Some(state);
            }
        }
        Ok(Finished {
            out: written.out,
            entries: written.entries,
            starts: written.starts,
            tar_size: hashed.sha.len(),
            tar_sha: hashed.sha,
        })
    }
}

impl<W: BlobSink> Write for ChunkPipeline<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.room(data.len()).copy_from_slice(data);
        self.buf.len += data.len();
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

/// The tar hasher: the uncompressed stream, chunk by chunk, in order.
fn hash_tar(chunks: Receiver<ToHash>, keep_states: bool, pool: &Sender<ChunkBuf>) -> Hashed {
    let mut sha = ResumableSha256::new();
    let mut states = Vec::new();
    for chunk in chunks {
        match chunk {
            ToHash::Bytes(data) => {
                sha.update(data.data());
                recycle(data, pool);
            }
            ToHash::Known(state) => sha = ResumableSha256::resume(&state),
        }
        if keep_states {
            states.push(sha.midstate());
        }
    }
    Hashed { sha, states }
}

/// Earlier blobs that start with the chunks written so far.
struct Prefix {
    cache: Arc<dyn ChunkCache>,
    compression: Compression,
    /// `None` before the first chunk; empty once a chunk differed.
    candidates: Option<Vec<Arc<[ChunkRecord]>>>,
    /// Uncompressed bytes written so far.
    tar_size: u64,
}

impl Prefix {
    /// When an earlier blob starts with the same chunks as this one up to
    /// `entry` (chunk `seq`), included: its hash states after that chunk,
    /// which are this blob's (the blob's, the stream's).
    fn matching(&mut self, seq: u64, entry: &ChunkEntry) -> Option<(Midstate, Midstate)> {
        self.tar_size += entry.uncompressed_size;
        let candidates = self.candidates.get_or_insert_with(|| {
            let key = ChunkKey {
                blake3: entry.blake3,
                compression: self.compression,
            };
            self.cache.blobs_starting_with(&key)
        });
        let seq = usize::try_from(seq).ok()?;
        let tar_size = self.tar_size;
        candidates.retain(|blob| {
            blob.get(seq).is_some_and(|r| {
                entry.same_as(r) && r.stream_state.as_ref().map(Midstate::len) == Some(tar_size)
            })
        });
        let record = &candidates.first()?[seq];
        Some((record.blob_state.clone()?, record.stream_state.clone()?))
    }
}

/// The writer thread: the workers' chunks, in sequence order, into the
/// sink and on to the tar hasher; reports each written chunk on
/// `written`. Ends when every worker has ended.
fn write_in_order<W: BlobSink>(
    mut out: BlobOut<W>,
    done: &Receiver<(u64, io::Result<Done>)>,
    written: &Sender<u64>,
    tar: &SyncSender<ToHash>,
    mut prefix: Prefix,
    pool: &Sender<ChunkBuf>,
) -> io::Result<Written<W>> {
    let mut ready = BTreeMap::new();
    let mut next = 0u64;
    let mut entries = Vec::new();
    let mut starts = Vec::new();
    for (seq, result) in done {
        ready.insert(seq, result?);
        while let Some(chunk) = ready.remove(&next) {
            let offset = out.size();
            let data = chunk.data;
            let to_hash = match chunk.entry {
                Some(mut entry) => {
                    entry.offset = offset;
                    let to_hash = match prefix.matching(next, &entry) {
                        Some((blob, stream)) => {
                            out.write_known(&chunk.compressed, &blob)?;
                            entry.resumed = true;
                            recycle(data, pool);
                            ToHash::Known(stream)
                        }
                        None => {
                            out.write_all(&chunk.compressed)?;
                            ToHash::Bytes(data)
                        }
                    };
                    entry.blob_state = Some(out.midstate()?);
                    entries.push(entry);
                    to_hash
                }
                None => {
                    out.write_all(&chunk.compressed)?;
                    ToHash::Bytes(data)
                }
            };
            starts.push(offset);
            tar.send(to_hash)
                .map_err(|_| io::Error::other("the tar hasher stopped"))?;
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
        let bytes = data.data();
        let result = if cache.enabled() {
            cached_chunk(bytes, compression, cache)
                .map(|(compressed, entry)| (compressed, Some(entry)))
        } else {
            compress_chunk(bytes, compression).map(|compressed| (compressed, None))
        };
        let result = result.map(|(compressed, entry)| Done {
            data,
            compressed,
            entry,
        });
        if done.send((seq, result)).is_err() {
            return;
        }
    }
}

/// A chunk from the cache, or compressed and offered to it, with its
/// entry. The SHA-256 of a cached chunk's compressed bytes comes from the
/// cache, which verified it.
fn cached_chunk(
    data: &[u8],
    compression: Compression,
    cache: &dyn ChunkCache,
) -> io::Result<(Vec<u8>, ChunkEntry)> {
    let key = ChunkKey {
        blake3: *blake3::hash(data).as_bytes(),
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
        blake3: key.blake3,
        uncompressed_size: data.len() as u64,
        offset: 0, // set when written
        size: chunk.bytes.len() as u64,
        compressed_sha256: chunk.sha256,
        compressed_xxh3: chunk.xxh3,
        reused,
        resumed: false, // set when written
        stream_state: None,
        blob_state: None,
    };
    Ok((chunk.bytes, entry))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{MemoryChunkCache, NoChunkCache};
    use sha2::{Digest as _, Sha256};
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
            finished.tar_sha.finalize(),
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
