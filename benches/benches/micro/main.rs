//! strata's micro benchmarks: `cargo bench -p strata-benches`.
//!
//! Each figure is measured next to the machine's limit on the same bytes
//! (see `strata_benches::limits`), and the run ends with a table of
//! "strata / limit" shares. `cargo test` runs every benchmark once on a
//! small tree; `STRATA_BENCH_FILES=N` sets the tree's size (default 20,000
//! files, about 230 MB). See `benches/README.md`.

#![allow(clippy::unwrap_used)] // a fixture that fails should stop the run loudly

mod context;
mod fixture;
mod layer;
mod parse;
mod rebuild;

use strata_benches::summary::{self, Share, Unit};

/// The closing table: each strata figure against its limit.
const SHARES: &[Share] = &[
    Share {
        what: "lower a 500-instruction Dockerfile",
        figure: "parse/lower_500",
        limit_what: "parsing alone (no hardware limit)",
        limit: "parse/parse_only_500",
        unit: Unit::Instructions,
    },
    Share {
        what: "context hash, cold (no stat cache)",
        figure: "context/cold",
        limit_what: "SHA-256 on all cores, in memory",
        limit: "context/limit_sha256_all_cores",
        unit: Unit::Bytes,
    },
    Share {
        what: "context hash, cold (no stat cache)",
        figure: "context/cold",
        limit_what: "reading the files, one thread",
        limit: "context/limit_read_files",
        unit: Unit::Bytes,
    },
    Share {
        what: "context hash, warm (stat cache on disk)",
        figure: "context/warm",
        limit_what: "lstat walk, one thread",
        limit: "context/limit_lstat_walk",
        unit: Unit::Entries,
    },
    Share {
        what: "layer tar + SHA-256 (no compression)",
        figure: "layer/write/tar",
        limit_what: "SHA-256 on one core, in memory",
        limit: "layer/write/limit_sha256_one_core",
        unit: Unit::Bytes,
    },
    Share {
        what: "layer tar + gzip 6 + SHA-256",
        figure: "layer/write/gzip6",
        limit_what: "gzip 6 on all cores, in memory",
        limit: "layer/write/limit_gzip6_all_cores",
        unit: Unit::Bytes,
    },
    Share {
        what: "layer tar + gzip 6 + SHA-256",
        figure: "layer/write/gzip6",
        limit_what: "gzip 6 one stream (gzip -6)",
        limit: "layer/write/limit_gzip6_one_stream",
        unit: Unit::Bytes,
    },
    Share {
        what: "layer tar + zstd 3 + SHA-256",
        figure: "layer/write/zstd3",
        limit_what: "zstd 3 multi-thread, in memory",
        limit: "layer/write/limit_zstd3_mt",
        unit: Unit::Bytes,
    },
    Share {
        what: "gzip 6 re-export, 1 file changed",
        figure: "layer/reexport/gzip6",
        limit_what: "strata tar + SHA-256 (no compression)",
        limit: "layer/reexport/limit_tar",
        unit: Unit::Bytes,
    },
    Share {
        what: "rebuild, 1 file changed, gzip 6 (hash, layer, export)",
        figure: "rebuild/gzip6",
        limit_what: "strata tar + SHA-256 (no compression)",
        limit: "rebuild/gzip6/limit_tar",
        unit: Unit::Bytes,
    },
    Share {
        what: "rebuild, 1 file changed, zstd 3 (hash, layer, export)",
        figure: "rebuild/zstd3",
        limit_what: "strata tar + SHA-256 (no compression)",
        limit: "rebuild/zstd3/limit_tar",
        unit: Unit::Bytes,
    },
    Share {
        what: "extract gzip 6 layer (Apply)",
        figure: "layer/extract/gzip6",
        limit_what: "cp -r of the tree, one thread",
        limit: "layer/extract/gzip6_limit_cp_r",
        unit: Unit::Bytes,
    },
    Share {
        what: "extract gzip 6 layer, per tar byte",
        figure: "layer/extract/gzip6_tar",
        limit_what: "gunzip to nowhere, one stream",
        limit: "layer/extract/limit_gunzip",
        unit: Unit::Bytes,
    },
    Share {
        what: "extract zstd 3 layer (Apply)",
        figure: "layer/extract/zstd3",
        limit_what: "cp -r of the tree, one thread",
        limit: "layer/extract/zstd3_limit_cp_r",
        unit: Unit::Bytes,
    },
    Share {
        what: "extract zstd 3 layer, per tar byte",
        figure: "layer/extract/zstd3_tar",
        limit_what: "unzstd to nowhere, one stream",
        limit: "layer/extract/limit_unzstd",
        unit: Unit::Bytes,
    },
];

fn main() {
    divan::main();
    print!("{}", summary::notes());
    if fixture::bench_mode() {
        if let Some(tree) = fixture::tree_if_loaded() {
            println!(
                "\ntree: {} files, {} symlinks, {} directories, {:.1} MB of file content; {} cores",
                tree.files,
                tree.symlinks,
                tree.dirs,
                tree.file_bytes as f64 / 1e6,
                strata_benches::limits::cores()
            );
        }
        print!("{}", summary::report(SHARES));
    }
}
