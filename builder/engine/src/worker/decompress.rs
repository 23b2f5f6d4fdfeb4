//! Opening a local archive for `ADD`, whatever Docker would read: plain
//! tar, gzip, bzip2, xz or zstd. (Layers are only ever gzip, zstd or
//! plain; `strata_layer::detect_reader` handles those, and this adds the
//! two formats only `ADD` meets.)

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// The decompressed content of `path` (bzip2 and xz here; gzip and zstd
/// are left to `strata_layer`'s own detection, which every reader of an
/// archive goes through).
pub(crate) fn open(path: &Path) -> std::io::Result<Box<dyn Read>> {
    let mut reader = BufReader::new(File::open(path)?);
    let head = reader.fill_buf()?;
    Ok(if head.starts_with(b"BZh") {
        Box::new(bzip2::bufread::MultiBzDecoder::new(reader))
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(reader))
    } else {
        Box::new(reader)
    })
}
