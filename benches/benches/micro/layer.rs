//! Layer writing, re-export with a chunk cache, and extraction
//! (strata-layer) of the generated tree. Before each sample, untimed by
//! divan, the limits it is read against are measured on the same bytes
//! (see `strata_benches::summary` for why in pairs).

/// tar + compression + SHA-256 (diffID and blob digest in one pass).
mod write {
    use crate::fixture::{self, GZIP6, ZSTD3};
    use divan::Bencher;
    use divan::counter::BytesCount;
    use std::io;
    use strata_benches::limits;
    use strata_benches::summary::{self, timed};
    use strata_layer::{Compression, LayerSource, write_layer};

    /// Writes the tree's layer, with `limit` run before each sample.
    fn bench_write(
        b: Bencher,
        name: &'static str,
        compression: Compression,
        limit: impl Fn(&'static [u8]),
    ) {
        let tree = fixture::tree();
        let expected = &fixture::layer(compression).digests;
        let tar = fixture::tar();
        let opts = fixture::options(compression);
        let size = expected.uncompressed_size;
        b.counter(BytesCount::new(size))
            .with_inputs(|| limit(tar))
            .bench_local_values(|()| {
                timed(name, size, || {
                    let (_, digests) =
                        write_layer(&tree.root, LayerSource::Plain, &opts, io::sink()).unwrap();
                    assert_eq!(&digests, expected);
                })
            });
    }

    /// Notes how much bigger the chunked blob is than the same tar
    /// compressed as one stream at the same level (`single`, its size).
    fn note_ratio(what: &str, compression: Compression, single: usize) {
        let chunked = fixture::layer(compression).digests.size;
        let tar = fixture::tar().len();
        summary::note(format!(
            "{what}: chunked blob {chunked} B, one stream {single} B, {:+.2}% \
             (ratio {:.3} vs {:.3} of the {tar} B tar)",
            (chunked as f64 / single as f64 - 1.0) * 100.0,
            chunked as f64 / tar as f64,
            single as f64 / tar as f64,
        ));
    }

    /// Plain tar + SHA-256, no compression; limit: SHA-256 on one core.
    #[divan::bench(sample_count = 3, sample_size = 1)]
    fn tar(b: Bencher) {
        bench_write(b, "layer/write/tar", Compression::None, |tar| {
            timed(
                "layer/write/limit_sha256_one_core",
                tar.len() as u64,
                || limits::sha256(tar),
            );
        });
    }

    /// gzip level 6 in parallel chunks; limits: the tar gzipped in one
    /// part per core, and as one stream (`gzip -6`).
    #[divan::bench(sample_count = 3, sample_size = 1)]
    fn gzip6(b: Bencher) {
        let single = limits::gzip(fixture::tar(), 6).unwrap();
        note_ratio("gzip 6 size", GZIP6, single);
        bench_write(b, "layer/write/gzip6", GZIP6, |tar| {
            timed(
                "layer/write/limit_gzip6_all_cores",
                tar.len() as u64,
                || limits::gzip_parallel(tar, 6, limits::cores()).unwrap(),
            );
            timed(
                "layer/write/limit_gzip6_one_stream",
                tar.len() as u64,
                || limits::gzip(tar, 6).unwrap(),
            );
        });
    }

    /// zstd level 3, one multi-thread stream; limit: the tar through zstd
    /// level 3 in multi-thread mode.
    #[divan::bench(sample_count = 3, sample_size = 1)]
    fn zstd3(b: Bencher) {
        let single = limits::zstd_mt(fixture::tar(), 3, limits::cores()).unwrap();
        note_ratio("zstd 3 size", ZSTD3, single);
        bench_write(b, "layer/write/zstd3", ZSTD3, |tar| {
            timed("layer/write/limit_zstd3_mt", tar.len() as u64, || {
                limits::zstd_mt(tar, 3, limits::cores()).unwrap()
            });
        });
    }
}

/// The gzip layer written again after one file changed, with the chunk
/// cache warm from the previous export; read against strata's own
/// uncompressed tar + SHA-256 (the best a perfect cache could do).
mod reexport {
    use crate::fixture::{self, GZIP6};
    use divan::Bencher;
    use divan::counter::BytesCount;
    use std::io;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use strata_benches::summary::{self, timed};
    use strata_layer::{
        Compression, LayerSource, LayerWriter, MemoryChunkCache, append_tree, write_layer,
    };

    #[divan::bench(sample_count = 5, sample_size = 1)]
    fn gzip6(b: Bencher) {
        let tree = fixture::tree();
        let opts = fixture::options(GZIP6);
        let tar_opts = fixture::options(Compression::None);
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
                // Untimed: one file changes (content and size) since the
                // last export, then the limit on the changed tree.
                let v = variant.fetch_add(1, Ordering::Relaxed) + 1;
                tree.edit(v).unwrap();
                timed("layer/reexport/limit_tar", size, || {
                    write_layer(&tree.root, LayerSource::Plain, &tar_opts, io::sink()).unwrap()
                });
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
        summary::note(format!(
            "re-export gzip6: {reused} of about {chunks} chunks reused per export"
        ));
        if chunks >= 3 {
            assert!(reused > 0, "no chunk reused out of {chunks}");
        }
    }
}

/// `strata_layer::extract` (Apply) of the tree's layer into a new
/// directory; limits: a `cp -r` of the tree (file bytes) and plain
/// decompression of the blob (tar bytes).
mod extract {
    use crate::fixture::{self, GZIP6, ZSTD3};
    use divan::Bencher;
    use divan::counter::BytesCount;
    use std::time::Instant;
    use strata_benches::BenchError;
    use strata_benches::limits;
    use strata_benches::summary::{record, timed};
    use strata_layer::{Compression, ExtractMode, extract};

    /// Counts file bytes written (what `cp -r` counts too) and records
    /// each sample also per tar byte under `names[1]`; `names[2]` and
    /// `names[3]` are the copy and decompression limits. The output
    /// directory is removed after the sample, untimed.
    fn bench_extract(
        b: Bencher,
        names: [&'static str; 4],
        compression: Compression,
        decompress: fn(&[u8]) -> Result<u64, BenchError>,
    ) {
        let [name, tar_name, copy_name, decompress_name] = names;
        let tree = fixture::tree();
        let layer = fixture::layer(compression);
        let tar_size = layer.digests.uncompressed_size;
        b.counter(BytesCount::new(tree.file_bytes))
            .with_inputs(|| {
                let copy = fixture::new_dir();
                timed(copy_name, tree.file_bytes, || {
                    let n = limits::copy_tree(&tree.root, &copy.path().join("copy")).unwrap();
                    assert_eq!(n.bytes, tree.file_bytes);
                });
                drop(copy);
                timed(decompress_name, tar_size, || {
                    assert_eq!(decompress(&layer.blob).unwrap(), tar_size)
                });
                fixture::new_dir()
            })
            .bench_local_values(|dir| {
                let start = Instant::now();
                extract(&layer.blob[..], dir.path(), ExtractMode::Apply, None).unwrap();
                let elapsed = start.elapsed();
                record(name, tree.file_bytes, elapsed);
                record(tar_name, tar_size, elapsed);
                dir
            });
    }

    #[divan::bench(sample_count = 3, sample_size = 1)]
    fn gzip6(b: Bencher) {
        let names = [
            "layer/extract/gzip6",
            "layer/extract/gzip6_tar",
            "layer/extract/gzip6_limit_cp_r",
            "layer/extract/limit_gunzip",
        ];
        bench_extract(b, names, GZIP6, limits::gunzip);
    }

    #[divan::bench(sample_count = 3, sample_size = 1)]
    fn zstd3(b: Bencher) {
        let names = [
            "layer/extract/zstd3",
            "layer/extract/zstd3_tar",
            "layer/extract/zstd3_limit_cp_r",
            "layer/extract/limit_unzstd",
        ];
        bench_extract(b, names, ZSTD3, limits::unzstd);
    }
}
