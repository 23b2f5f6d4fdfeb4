//! Shared inputs, built once per run: the generated tree and its layers.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use strata_benches::tree::{self, Tree, TreeSpec};
use strata_layer::{Compression, LayerDigests, LayerSource, WriteOptions, write_layer};
use tempfile::TempDir;

/// Files in the tree when the benchmarks run in test mode (`cargo test`).
const TEST_FILES: u32 = 300;

static TREE: OnceLock<Tree> = OnceLock::new();

/// Whether this is a real benchmark run (`cargo bench`), not `cargo test`
/// running each benchmark once; divan decides the same way.
pub fn bench_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test")
}

/// Where fixtures live: under Cargo's per-target scratch directory.
pub fn scratch() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("strata-benches");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The generated context: 20,000 files (`STRATA_BENCH_FILES` overrides),
/// or a small one in test mode.
pub fn tree() -> &'static Tree {
    TREE.get_or_init(|| {
        let files = match std::env::var("STRATA_BENCH_FILES") {
            Ok(n) => n.parse().unwrap(),
            Err(_) if bench_mode() => tree::FULL_FILES,
            Err(_) => TEST_FILES,
        };
        let start = std::time::Instant::now();
        let tree = tree::ensure(&scratch(), &TreeSpec::scaled(files)).unwrap();
        strata_benches::summary::note(format!(
            "fixture: {} files, {:.1} MB at {} (ready in {:.1?})",
            tree.files,
            tree.file_bytes as f64 / 1e6,
            tree.root.display(),
            start.elapsed()
        ));
        tree
    })
}

/// Where extraction and copy benchmarks write: `STRATA_BENCH_OUT` if
/// set, else `/dev/shm` (tmpfs), else the scratch directory. tmpfs keeps
/// the disk out of the figure: on this machine's ext4 (mounted with
/// `discard`) removing one output tree made the next writes wait for the
/// journal, and the figures varied threefold between samples.
pub fn out_base() -> &'static Path {
    static OUT: OnceLock<PathBuf> = OnceLock::new();
    OUT.get_or_init(|| {
        let dir = match std::env::var_os("STRATA_BENCH_OUT") {
            Some(dir) => PathBuf::from(dir),
            None if Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm"),
            None => scratch(),
        };
        strata_benches::summary::note(format!(
            "extraction and copies write below {}",
            dir.display()
        ));
        dir
    })
}

/// A new empty directory for output trees; removed when dropped (divan
/// drops a benchmark's outputs after the sample, untimed).
pub fn new_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("strata-bench-")
        .tempdir_in(out_base())
        .unwrap()
}

/// The tree, if a benchmark needed it.
pub fn tree_if_loaded() -> Option<&'static Tree> {
    TREE.get()
}

/// A layer of the tree: the blob and its digests.
pub struct Layer {
    /// The blob as written.
    pub blob: Vec<u8>,
    /// Its digests and sizes.
    pub digests: LayerDigests,
}

/// Write options for `compression` (threads: one per core).
pub fn options(compression: Compression) -> WriteOptions {
    WriteOptions {
        compression,
        ..WriteOptions::default()
    }
}

/// gzip level 6 and zstd level 3: the levels BuildKit uses by default.
pub const GZIP6: Compression = Compression::Gzip { level: 6 };
/// See [`GZIP6`].
pub const ZSTD3: Compression = Compression::Zstd { level: 3 };

/// The tree as a layer in `compression` (written once per run).
pub fn layer(compression: Compression) -> &'static Layer {
    static TAR: OnceLock<Layer> = OnceLock::new();
    static GZ: OnceLock<Layer> = OnceLock::new();
    static ZST: OnceLock<Layer> = OnceLock::new();
    static ESGZ: OnceLock<Layer> = OnceLock::new();
    let cell = match compression {
        Compression::None => &TAR,
        Compression::Gzip { .. } => &GZ,
        Compression::Zstd { .. } => &ZST,
        // write_layer refuses them: eStargz and zstd:chunked are made from
        // a written layer (to_estargz, to_zstd_chunked).
        Compression::Estargz { .. } | Compression::ZstdChunked { .. } => &ESGZ,
    };
    cell.get_or_init(|| {
        let opts = options(compression);
        let (blob, digests) =
            write_layer(&tree().root, LayerSource::Plain, &opts, Vec::new()).unwrap();
        Layer { blob, digests }
    })
}

/// The uncompressed tar of the tree, the input of the in-memory limits.
pub fn tar() -> &'static [u8] {
    &layer(Compression::None).blob
}
