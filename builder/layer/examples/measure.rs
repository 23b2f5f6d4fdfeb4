//! Measures layer writing: `cargo run --release --example measure -- DIR [threads]`.
//! Prints size and time for each compression, and for zstd compares our
//! one-frame-per-chunk output with a single multi-thread zstd stream.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::time::Instant;
use strata_layer::{Compression, LayerSource, WriteOptions, write_layer};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&args[1]);
    let threads = args.get(2).map_or(0, |t| t.parse().unwrap());
    let mut tar = Vec::new();
    for compression in [
        Compression::None,
        Compression::Gzip { level: 6 },
        Compression::Gzip { level: 1 },
        Compression::Zstd { level: 3 },
    ] {
        let opts = WriteOptions {
            compression,
            threads,
            ..WriteOptions::default()
        };
        let start = Instant::now();
        let (blob, d) = write_layer(&dir, LayerSource::Plain, &opts, Vec::new()).unwrap();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{compression:?}: {} -> {} bytes ({:.1}%), {secs:.2}s, {:.0} MB/s",
            d.uncompressed_size,
            d.size,
            100.0 * d.size as f64 / d.uncompressed_size as f64,
            d.uncompressed_size as f64 / secs / 1e6
        );
        if compression == Compression::None {
            tar = blob;
        }
    }
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    for (name, level) in [("zstd single stream MT", 3), ("gzip single stream", 6)] {
        let start = Instant::now();
        let size = if name.starts_with("zstd") {
            let mut enc = zstd::stream::write::Encoder::new(Vec::new(), level).unwrap();
            enc.multithread(workers).unwrap();
            enc.write_all(&tar).unwrap();
            enc.finish().unwrap().len()
        } else {
            let mut enc =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level as u32));
            enc.write_all(&tar).unwrap();
            enc.finish().unwrap().len()
        };
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{name} level {level}: {size} bytes ({:.1}%), {secs:.2}s",
            100.0 * size as f64 / tar.len() as f64
        );
    }
}
