//! A layer blob in another compression: the blob is decompressed (gzip,
//! zstd or plain) and written again, with the diffID of the tar checked
//! against the one the image records.

use crate::chunk::{ChunkCache, ChunkEntry, NoChunkCache};
use crate::compress::{Compression, LayerDigests, Sink, detect_reader};
use crate::out::BlobSink;
use crate::tarcut::copy_with_cuts;
use std::io::{self, Read};
use std::sync::Arc;

/// Writes the tar inside `blob` to `out` compressed with `compression`;
/// fails with [`io::ErrorKind::InvalidData`] when the tar's SHA-256 is not
/// `diff_id`. The chunks are cut where [`crate::LayerWriter`] cuts them,
/// so a layer strata wrote gives the blob strata writes in `compression`.
pub fn recompress<R: Read, W: BlobSink>(
    blob: R,
    diff_id: &str,
    compression: Compression,
    out: W,
) -> io::Result<(W, LayerDigests)> {
    recompress_chunked(blob, diff_id, compression, out, Arc::new(NoChunkCache))
        .map(|(out, digests, _)| (out, digests))
}

/// Like [`recompress`], reusing chunks from `cache` (for example
/// [`crate::StoreChunks`]) and listing the new blob's chunks.
pub fn recompress_chunked<R: Read, W: BlobSink>(
    blob: R,
    diff_id: &str,
    compression: Compression,
    out: W,
    cache: Arc<dyn ChunkCache>,
) -> io::Result<(W, LayerDigests, Vec<ChunkEntry>)> {
    let mut tar = detect_reader(blob)?;
    let mut sink = Sink::new(out, compression, 0, cache)?;
    copy_with_cuts(&mut tar, &mut sink)?;
    let (out, digests, chunks) = sink.finish()?;
    check_diff_id(&digests.diff_id, diff_id)?;
    Ok((out, digests, chunks))
}

/// Fails when the tar read from a layer (`found`) is not the one its
/// image lists (`expected`).
pub(crate) fn check_diff_id(found: &str, expected: &str) -> io::Result<()> {
    if found == expected {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the layer's tar is {found}, the image says {expected}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LayerSource, WriteOptions, write_layer};

    #[test]
    fn gzip_to_zstd_keeps_the_diff_id() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "hello").unwrap();
        let (gz, first) = write_layer(
            dir.path(),
            LayerSource::Plain,
            &WriteOptions::default(),
            Vec::new(),
        )
        .unwrap();
        let (zst, again) = recompress(
            &gz[..],
            &first.diff_id,
            Compression::Zstd { level: 3 },
            Vec::new(),
        )
        .unwrap();
        assert_eq!(again.diff_id, first.diff_id);
        assert_eq!(&zst[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
        let err = recompress(&zst[..], "sha256:00", Compression::None, Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
