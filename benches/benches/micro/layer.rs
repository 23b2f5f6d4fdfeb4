//! Layer writing, re-export with a chunk cache, and extraction
//! (strata-layer) of the generated tree, next to plain compression,
//! decompression and copying of the same bytes.

/// tar + compression + SHA-256 (diffID and blob digest in one pass).
mod write {
    use crate::fixture::{self, GZIP6, ZSTD3};
    use divan::Bencher;
    use divan::counter::BytesCount;
    use std::io;
    use strata_benches::limits;
    use strata_benches::summary::timed;
    use strata_layer::{Compression, LayerSource, write_layer};

    fn bench_write(b: Bencher, name: &'static str, compression: Compression) {
        let tree = fixture::tree();
        let expected = &fixture::layer(compression).digests;
        let opts = fixture::options(compression);
        let size = expected.uncompressed_size;
        b.counter(BytesCount::new(size)).bench(|| {
            timed(name, size, || {
                let (_, digests) =
                    write_layer(&tree.root, LayerSource::Plain, &opts, io::sink()).unwrap();
                assert_eq!(&digests, expected);
            })
        });
    }

    /// Plain tar + SHA-256, no compression.
    #[divan::bench(sample_count = 3, sample_size = 1)]
    fn tar(b: Bencher) {
        bench_write(b, "layer/write/tar", Compression::None);
    }

    /// gzip level 6 in parallel chunks.
    #[divan::bench(sample_count = 3, sample_size = 1)]
    fn gzip6(b: Bencher) {
        bench_write(b, "layer/write/gzip6", GZIP6);
    }

    /// zstd level 3, one multi-thread stream.
    #[divan::bench(sample_count = 3, sample_size = 1)]
    fn zstd3(b: Bencher) {
        bench_write(b, "layer/write/zstd3", ZSTD3);
    }

    /// Limit: the tar gzipped at level 6, one part per core, in memory.
    #[divan::bench(sample_count = 3, sample_size = 1)]
    fn limit_gzip6_all_cores(b: Bencher) {
        let tar = fixture::tar();
        b.counter(BytesCount::of_slice(tar)).bench(|| {
            timed(
                "layer/write/limit_gzip6_all_cores",
                tar.len() as u64,
                || limits::gzip_parallel(tar, 6, limits::cores()).unwrap(),
            )
        });
    }

    /// Limit: the tar gzipped at level 6 as one stream (`gzip -6`).
    #[divan::bench(sample_count = 2, sample_size = 1)]
    fn limit_gzip6_one_stream(b: Bencher) {
        let tar = fixture::tar();
        b.counter(BytesCount::of_slice(tar)).bench(|| {
            timed(
                "layer/write/limit_gzip6_one_stream",
                tar.len() as u64,
                || limits::gzip(tar, 6).unwrap(),
            )
        });
    }

    /// Limit: the tar through zstd level 3 in multi-thread mode, in memory.
    #[divan::bench(sample_count = 3, sample_size = 1)]
    fn limit_zstd3_mt(b: Bencher) {
        let tar = fixture::tar();
        b.counter(BytesCount::of_slice(tar)).bench(|| {
            timed("layer/write/limit_zstd3_mt", tar.len() as u64, || {
                limits::zstd_mt(tar, 3, limits::cores()).unwrap()
            })
        });
    }
}

/// The gzip layer written again after one file changed, with the chunk
/// cache warm from the previous export.
mod reexport {
    use crate::fixture::{self, GZIP6};
    use divan::Bencher;
    use divan::counter::BytesCount;
    use std::io;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use strata_benches::summary::timed;
    use strata_layer::{LayerSource, LayerWriter, MemoryChunkCache, append_tree};

    #[divan::bench(sample_count = 5, sample_size = 1)]
    fn gzip6(b: Bencher) {
        let tree = fixture::tree();
        let opts = fixture::options(GZIP6);
        let cache = Arc::new(MemoryChunkCache::default());
        let export = || {
            let mut w = LayerWriter::with_chunk_cache(io::sink(), &opts, cache.clone()).unwrap();
            append_tree(&mut w, &tree.root, LayerSource::Plain).unwrap();
            w.finish().unwrap().1
        };
        tree.edit(0).unwrap();
        let first = export();
        assert_eq!(first, fixture::layer(GZIP6).digests);
        let chunks = cache.len() as u64;
        let size = first.uncompressed_size;
        let variant = AtomicU64::new(0);
        let reused = AtomicU64::new(0);
        let runs = AtomicU64::new(0);
        b.counter(BytesCount::new(size))
            .with_inputs(|| {
                // Untimed: one file changes (content and size) since the last export.
                let v = variant.fetch_add(1, Ordering::Relaxed) + 1;
                tree.edit(v).unwrap();
                cache.hits()
            })
            .bench_local_values(|hits_before| {
                let digests = timed("layer/reexport/gzip6", size, export);
                assert_ne!(digests.diff_id, first.diff_id);
                reused.fetch_add(cache.hits() - hits_before, Ordering::Relaxed);
                runs.fetch_add(1, Ordering::Relaxed);
            });
        tree.edit(0).unwrap();
        let runs = runs.load(Ordering::Relaxed).max(1);
        let reused = reused.load(Ordering::Relaxed) / runs;
        strata_benches::summary::note(format!(
            "re-export gzip6: {reused} of about {chunks} chunks reused per export"
        ));
        if chunks >= 3 {
            assert!(reused > 0, "no chunk reused out of {chunks}");
        }
    }
}

/// `strata_layer::extract` (Apply) of the tree's layer into a new directory.
mod extract {
    use crate::fixture::{self, GZIP6, ZSTD3};
    use divan::Bencher;
    use divan::counter::BytesCount;
    use strata_benches::limits;
    use strata_benches::summary::timed;
    use strata_layer::{Compression, ExtractMode, extract};

    /// Counts file bytes written (what `cp -r` counts too); the output
    /// directory is removed after the sample, untimed.
    fn bench_extract(b: Bencher, name: &'static str, compression: Compression) {
        let tree = fixture::tree();
        let blob = &fixture::layer(compression).blob;
        b.counter(BytesCount::new(tree.file_bytes))
            .with_inputs(fixture::new_dir)
            .bench_local_values(|dir| {
                timed(name, tree.file_bytes, || {
                    extract(&blob[..], dir.path(), ExtractMode::Apply, None).unwrap()
                });
                dir
            });
    }

    #[divan::bench(sample_count = 3, sample_size = 1)]
    fn gzip6(b: Bencher) {
        bench_extract(b, "layer/extract/gzip6", GZIP6);
    }

    #[divan::bench(sample_count = 3, sample_size = 1)]
    fn zstd3(b: Bencher) {
        bench_extract(b, "layer/extract/zstd3", ZSTD3);
    }

    /// Limit: copy the tree like `cp -r`, one thread.
    #[divan::bench(sample_count = 3, sample_size = 1)]
    fn limit_cp_r(b: Bencher) {
        let tree = fixture::tree();
        b.counter(BytesCount::new(tree.file_bytes))
            .with_inputs(fixture::new_dir)
            .bench_local_values(|dir| {
                timed("layer/extract/limit_cp_r", tree.file_bytes, || {
                    let n = limits::copy_tree(&tree.root, &dir.path().join("copy")).unwrap();
                    assert_eq!(n.bytes, tree.file_bytes);
                });
                dir
            });
    }

    /// Limit: decompress the gzip blob to nowhere (counts tar bytes).
    #[divan::bench(sample_count = 3, sample_size = 1)]
    fn limit_gunzip(b: Bencher) {
        let layer = fixture::layer(GZIP6);
        let size = layer.digests.uncompressed_size;
        b.counter(BytesCount::new(size)).bench(|| {
            timed("layer/extract/limit_gunzip", size, || {
                assert_eq!(limits::gunzip(&layer.blob).unwrap(), size)
            })
        });
    }

    /// Limit: decompress the zstd blob to nowhere (counts tar bytes).
    #[divan::bench(sample_count = 3, sample_size = 1)]
    fn limit_unzstd(b: Bencher) {
        let layer = fixture::layer(ZSTD3);
        let size = layer.digests.uncompressed_size;
        b.counter(BytesCount::new(size)).bench(|| {
            timed("layer/extract/limit_unzstd", size, || {
                assert_eq!(limits::unzstd(&layer.blob).unwrap(), size)
            })
        });
    }
}
