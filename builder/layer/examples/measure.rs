//! Measures layer writing: `cargo run --release --example measure -- DIR [threads]`.
//! Prints size and time for each compression, and compares the chunked
//! output (gzip members, zstd frames) with one stream of the same tar at
//! the same level: the ratio cost of chunking.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::time::Instant;
use strata_layer::{Compression, LayerSource, WriteOptions, write_layer};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&args[1]);
    let threads = args.get(2).map_or(0, |t| t.parse().unwrap());
    let mut tar = Vec::new();
    let mut chunked = Vec::new();
    for compression in [
        Compression::None,
        Compression::Gzip { level: 6 },
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
            "{compression:?} chunked: {} -> {} bytes ({:.2}%), {secs:.2}s, {:.0} MB/s",
            d.uncompressed_size,
            d.size,
            100.0 * d.size as f64 / d.uncompressed_size as f64,
            d.uncompressed_size as f64 / secs / 1e6
        );
        if compression == Compression::None {
            tar = blob;
        } else {
            chunked.push(d.size);
        }
    }
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let gzip = {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        enc.write_all(&tar).unwrap();
        enc.finish().unwrap().len()
    };
    let zstd = {
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        enc.multithread(workers).unwrap();
        enc.write_all(&tar).unwrap();
        enc.finish().unwrap().len()
    };
    for (name, single, chunked) in [("gzip 6", gzip, chunked[0]), ("zstd 3", zstd, chunked[1])] {
        println!(
            "{name} one stream: {single} bytes ({:.2}%); chunked is {:+.2}% larger",
            100.0 * single as f64 / tar.len() as f64,
            100.0 * (chunked as f64 / single as f64 - 1.0)
        );
    }
}
