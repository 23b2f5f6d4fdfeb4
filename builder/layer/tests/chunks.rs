//! Content-defined chunks: a one-file change re-compresses one or two
//! chunks, and chunks persisted in a store are reused by a later writer
//! with the same bytes as a fresh compression.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use strata_layer::{
    BlobSink, ChunkCache, ChunkEntry, Compression, Entry, EntryKind, LayerDigests, LayerWriter,
    MemoryChunkCache, NoChunkCache, StoreChunks, WriteOptions, recompress,
};
use strata_store::Store;

const GZIP: Compression = Compression::Gzip { level: 1 };
const ZSTD: Compression = Compression::Zstd { level: 3 };

/// A tree of `n` text-like files of 200 B – 12 KB, every 400th of 3 MiB,
/// as (path, content); `grow` adds bytes to one file. Each file's content
/// depends only on its index.
fn tree(n: usize, grow: Option<(usize, usize)>) -> Vec<(String, Vec<u8>)> {
    let words: Vec<&str> = "fn let mut impl struct enum match return self crate pub use mod \
        where Some None Ok Err Vec String u64 usize iter map filter collect"
        .split(' ')
        .collect();
    (0..n)
        .map(|i| {
            let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ (i as u64).wrapping_mul(0x2545_f491);
            let mut next = move || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            let size = if i % 400 == 200 {
                3 << 20
            } else {
                200 + (next() % 12_000) as usize
            };
            let size = size + grow.filter(|g| g.0 == i).map_or(0, |g| g.1);
            let mut content = Vec::with_capacity(size + 16);
            while content.len() < size {
                let w = words[(next() % words.len() as u64) as usize];
                content.extend_from_slice(w.as_bytes());
                content.push(if next() % 9 == 0 { b'\n' } else { b' ' });
            }
            content.truncate(size);
            (format!("src/m{:02}/f{i:05}.rs", i / 100), content)
        })
        .collect()
}

fn write<W: BlobSink>(
    files: &[(String, Vec<u8>)],
    compression: Compression,
    cache: Arc<dyn ChunkCache>,
    out: W,
) -> (W, LayerDigests, Vec<ChunkEntry>) {
    let opts = WriteOptions {
        compression,
        threads: 2,
        ..WriteOptions::default()
    };
    let mut w = LayerWriter::with_chunk_cache(out, &opts, cache).unwrap();
    for (path, content) in files {
        let entry = Entry {
            path: path.clone(),
            kind: EntryKind::File {
                size: content.len() as u64,
            },
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 1_700_000_000,
            xattrs: Default::default(),
        };
        w.append(&entry, &mut &content[..]).unwrap();
    }
    w.finish_with_chunks().unwrap()
}

fn recompressed(chunks: &[ChunkEntry]) -> usize {
    chunks.iter().filter(|c| !c.reused).count()
}

/// Regression: cuts were taken at the first entry boundary past 1 MiB, so
/// a file that changed size moved every later cut and the whole rest of
/// the layer was compressed again.
fn one_resized_file_recompresses_at_most_two_chunks(compression: Compression, n: usize) {
    let original = tree(n, None);
    let cache = Arc::new(MemoryChunkCache::default());
    let (_, _, first) = write(&original, compression, cache.clone(), std::io::sink());
    assert!(first.len() >= 6, "{} chunks", first.len());
    assert_eq!(recompressed(&first), first.len());
    // Each change is made to the original tree, so chunks cached from an
    // earlier change never match.
    for (i, grow) in [(n / 3, 777), (n / 2, 5000), (2 * n / 3 + 1, 1)] {
        let changed = tree(n, Some((i, grow)));
        let (_, _, chunks) = write(&changed, compression, cache.clone(), std::io::sink());
        let redone = recompressed(&chunks);
        assert!(
            (1..=2).contains(&redone),
            "{compression:?}: file {i} grown by {grow}: {redone} of {} chunks recompressed",
            chunks.len()
        );
    }
}

#[test]
fn one_resized_file_recompresses_at_most_two_gzip_chunks() {
    one_resized_file_recompresses_at_most_two_chunks(GZIP, 1200);
}

#[test]
fn one_resized_file_recompresses_at_most_two_zstd_chunks() {
    one_resized_file_recompresses_at_most_two_chunks(ZSTD, 4000);
}

/// Writes `files` into the store through its chunks and records them.
fn store_layer(
    store: &Store,
    files: &[(String, Vec<u8>)],
    compression: Compression,
) -> (strata_store::Digest, LayerDigests, Vec<ChunkEntry>) {
    let cache = Arc::new(StoreChunks::new(store, compression));
    let blob = store.blob_writer().unwrap();
    let (blob, digests, chunks) = write(files, compression, cache.clone(), blob);
    let (digest, _) = blob.commit(Some(&digests.digest.parse().unwrap())).unwrap();
    cache.record(&digest, &chunks).unwrap();
    (digest, digests, chunks)
}

#[test]
fn digests_resume_after_the_chunks_an_earlier_blob_begins_with() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for compression in [GZIP, ZSTD] {
        store_layer(&store, &tree(1200, None), compression);
        // A change three quarters in, at the start, then the first layer
        // again: that one resumes through the states the second recorded.
        for (changed, at) in [
            (Some(900), "late"),
            (Some(0), "first"),
            (Some(900), "again"),
        ] {
            let files = tree(1200, changed.map(|i| (i, 99)));
            let (digest, digests, chunks) = store_layer(&store, &files, compression);
            let (fresh, want, _) = write(&files, compression, Arc::new(NoChunkCache), Vec::new());
            assert_eq!(digests, want, "{compression:?} {at}");
            let stored = store.read_blob(&digest).unwrap();
            assert_eq!(strata_store::Digest::of(&stored), digest);
            assert!(stored == fresh, "{compression:?} {at}: other bytes");
            let resumed = chunks.iter().take_while(|c| c.resumed).count();
            assert!(
                chunks[resumed..].iter().all(|c| !c.resumed),
                "{compression:?} {at}: resumed chunks after a hashed one"
            );
            match at {
                "late" => assert!(
                    resumed >= chunks.len() / 2 && resumed < chunks.len(),
                    "{compression:?}: {resumed} of {} chunks resumed",
                    chunks.len()
                ),
                "first" => assert_eq!(resumed, 0, "{compression:?}"),
                _ => assert_eq!(resumed, chunks.len(), "{compression:?}"),
            }
        }
    }
}

#[test]
fn chunks_from_the_store_give_the_bytes_of_a_fresh_compression() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for compression in [GZIP, ZSTD] {
        let original = tree(600, None);
        let cache = Arc::new(StoreChunks::new(&store, compression));
        let blob = store.blob_writer().unwrap();
        let (blob, digests, chunks) = write(&original, compression, cache.clone(), blob);
        let (digest, _) = blob.commit(Some(&digests.digest.parse().unwrap())).unwrap();
        cache.record(&digest, &chunks).unwrap();
        assert_eq!(cache.hits(), 0);

        // Another writer (as in a later build) with one file changed.
        let changed = tree(600, Some((300, 99)));
        let cache = Arc::new(StoreChunks::new(&store, compression));
        let (reused, d1, chunks) = write(&changed, compression, cache.clone(), Vec::new());
        assert!(cache.hits() as usize >= chunks.len() - 2, "{compression:?}");
        assert_eq!(cache.hits() as usize, chunks.len() - recompressed(&chunks));
        let (fresh, d2, _) = write(&changed, compression, Arc::new(NoChunkCache), Vec::new());
        assert_eq!(d1, d2);
        assert!(
            reused == fresh,
            "{compression:?}: reused chunks changed the blob"
        );
    }
}

#[test]
fn a_recompressed_layer_is_the_blob_written_in_that_compression() {
    // Long and non-ASCII names (ustar prefix, PAX path) and large files
    // (cuts inside file data) among ordinary ones.
    let mut files = tree(700, None);
    files[10].0 = format!("src/{}/deep.rs", "long-directory-name/".repeat(8));
    files[20].0 = format!("src/{}/ünïcode-{}.rs", "d".repeat(120), "x".repeat(120));
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let blob = |compression| {
        let (out, d, chunks) = write(
            &files,
            compression,
            Arc::new(MemoryChunkCache::default()),
            Vec::new(),
        );
        (out, d, chunks.len())
    };
    let (tar, plain, _) = blob(Compression::None);
    let (gz, gz_d, gz_chunks) = blob(GZIP);
    let (zst, zst_d, zst_chunks) = blob(ZSTD);
    assert!(
        gz_chunks >= 4 && zst_chunks >= 2,
        "{gz_chunks} {zst_chunks}"
    );
    for (from, to, want, want_d) in [
        (&gz, ZSTD, &zst, &zst_d),
        (&zst, GZIP, &gz, &gz_d),
        (&tar, GZIP, &gz, &gz_d),
    ] {
        let (out, d) = recompress(&from[..], &plain.diff_id, to, Vec::new()).unwrap();
        assert_eq!(&d, want_d, "{to:?}");
        assert!(&out == want, "{to:?}: the recompressed blob differs");
    }
}
