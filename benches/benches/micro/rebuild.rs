//! The large-context rebuild after one file changed (issue 8): hash the
//! context through the stat cache, write the `COPY . /app/` layer into a
//! store reusing the chunks of the previous build's blob, and record the
//! image (config, manifest, tag). The store lives on the scratch disk,
//! with its fsyncs, as a real store does.
//!
//! Next to it, measured before each sample on the same tree: strata's
//! uncompressed tar + SHA-256 (what a layer costs if no byte were
//! compressed at all) and a `cp -r` of the tree (what copying the context
//! into an overlay upper directory would add: `strata build` skips that
//! copy when the COPY is the target's last filesystem step, as here, and
//! reads the files once, into the layer).

use crate::context::hash_all;
use crate::fixture::{self, GZIP6, ZSTD3};
use divan::Bencher;
use divan::counter::BytesCount;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use strata_benches::limits;
use strata_benches::summary::{self, timed};
use strata_context::{ContentHasher, StatCache};
use strata_layer::{
    Compression, LayerDigests, LayerSource, LayerWriter, StoreChunks, append_tree, media_type,
    write_layer,
};
use strata_store::{Descriptor, Store};

/// Names of one compression's samples.
struct Names {
    total: &'static str,
    hash: &'static str,
    layer: &'static str,
    export: &'static str,
    limit_tar: &'static str,
    copy: &'static str,
}

/// Writes the tree's layer into the store through its chunks; returns the
/// digests and how many chunks were copied rather than compressed.
fn store_layer(store: &Store, root: &Path, compression: Compression) -> (LayerDigests, u64, usize) {
    let chunks = Arc::new(StoreChunks::new(store, compression));
    let opts = fixture::options(compression);
    let mut w =
        LayerWriter::with_chunk_cache(store.blob_writer().unwrap(), &opts, chunks.clone()).unwrap();
    append_tree(&mut w, root, LayerSource::Plain).unwrap();
    let (out, digests, written) = w.finish_with_chunks().unwrap();
    let (digest, _) = out.commit(Some(&digests.digest.parse().unwrap())).unwrap();
    chunks.record(&digest, &written).unwrap();
    (digests, chunks.hits(), written.len())
}

/// What a build records at the end: config, manifest, tag.
fn export(store: &Store, digests: &LayerDigests, compression: Compression) {
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [digests.diff_id]},
    });
    let (config_digest, config_size) = store.put_json(&config).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": [{
            "mediaType": media_type(compression),
            "digest": digests.digest,
            "size": digests.size,
        }],
    });
    let (digest, size) = store.put_json(&manifest).unwrap();
    let desc = Descriptor::new(strata_store::OCI_MANIFEST, digest, size);
    store.set_tag("bench:latest", &desc).unwrap();
}

fn bench_rebuild(b: Bencher, names: Names, compression: Compression) {
    let tree = fixture::tree();
    let scratch = tempfile::Builder::new()
        .prefix("rebuild-")
        .tempdir_in(fixture::scratch())
        .unwrap();
    let store = Store::open(scratch.path().join("store")).unwrap();
    let stat_dir = scratch.path().join("statcache");
    // The first build: cold hash, every chunk compressed.
    tree.edit(0).unwrap();
    let mut hasher = ContentHasher::new(StatCache::open(&stat_dir).unwrap());
    hash_all(&tree.root, &mut hasher);
    hasher.save().unwrap();
    let (first, _, chunks) = store_layer(&store, &tree.root, compression);
    let size = first.uncompressed_size;
    let tar_opts = fixture::options(Compression::None);
    let variant = AtomicU64::new(0);
    let (reused, runs) = (AtomicU64::new(0), AtomicU64::new(0));
    b.counter(BytesCount::new(size))
        .with_inputs(|| {
            // Untimed: one file changes (content and size), then the limits.
            let v = variant.fetch_add(1, Ordering::Relaxed) + 1;
            tree.edit(v).unwrap();
            timed(names.limit_tar, size, || {
                write_layer(&tree.root, LayerSource::Plain, &tar_opts, io::sink()).unwrap()
            });
            let copy = fixture::new_dir();
            timed(names.copy, size, || {
                limits::copy_tree(&tree.root, &copy.path().join("upper")).unwrap()
            });
        })
        .bench_local_values(|()| {
            timed(names.total, size, || {
                timed(names.hash, size, || {
                    let mut hasher = ContentHasher::new(StatCache::open(&stat_dir).unwrap());
                    let digest = hash_all(&tree.root, &mut hasher);
                    assert!(hasher.files_read() >= 1);
                    hasher.save().unwrap();
                    digest
                });
                let (digests, hits, _) = timed(names.layer, size, || {
                    store_layer(&store, &tree.root, compression)
                });
                assert_ne!(digests.diff_id, first.diff_id);
                timed(names.export, size, || export(&store, &digests, compression));
                reused.fetch_add(hits, Ordering::Relaxed);
                runs.fetch_add(1, Ordering::Relaxed);
            })
        });
    tree.edit(0).unwrap();
    let runs = runs.load(Ordering::Relaxed).max(1);
    let reused = reused.load(Ordering::Relaxed) / runs;
    // Medians in seconds: where the time goes.
    let secs = |name: &str| summary::median_rate(name).map_or(f64::NAN, |rate| size as f64 / rate);
    summary::note(format!(
        "{}: {:.3} s = hash context {:.3} s + write layer {:.3} s + export {:.3} s \
         ({reused} of {chunks} chunks copied from the previous blob); \
         limits: tar + SHA-256 {:.3} s; a cp -r of the tree (skipped) would add {:.3} s",
        names.total,
        secs(names.total),
        secs(names.hash),
        secs(names.layer),
        secs(names.export),
        secs(names.limit_tar),
        secs(names.copy),
    ));
    if chunks >= 3 {
        assert!(
            reused + 2 >= chunks as u64,
            "only {reused} of {chunks} reused"
        );
    }
}

impl Names {
    /// `rebuild/<compression>` and its parts below it.
    fn new(compression: &str) -> Names {
        let name = |part: &str| -> &'static str {
            let name = format!("rebuild/{compression}{part}");
            // Sample names live as long as the run (a few strings).
            Box::leak(name.into_boxed_str())
        };
        Names {
            total: name(""),
            hash: name("/hash_context"),
            layer: name("/write_layer"),
            export: name("/export"),
            limit_tar: name("/limit_tar"),
            copy: name("/copy_into_upper"),
        }
    }
}

/// gzip level 6 (the default of `strata build` and BuildKit).
#[divan::bench(sample_count = 5, sample_size = 1)]
fn gzip6(b: Bencher) {
    bench_rebuild(b, Names::new("gzip6"), GZIP6);
}

/// zstd level 3 (`--compression zstd`).
#[divan::bench(sample_count = 5, sample_size = 1)]
fn zstd3(b: Bencher) {
    bench_rebuild(b, Names::new("zstd3"), ZSTD3);
}
