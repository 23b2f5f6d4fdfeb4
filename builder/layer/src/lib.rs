//! Layer tarballs for strata.
//!
//! - Writing: [`write_layer`] turns a directory tree (plain, or an overlayfs
//!   upper directory whose whiteouts become OCI `.wh.` entries) into a layer
//!   blob; [`LayerWriter`] with [`append_tree`] / [`append_list`] (files
//!   picked by COPY, with owner and mode overrides) gives finer control.
//!   Our own ustar + PAX headers, entries in a fixed order, numeric owners:
//!   the same files always give the same bytes.
//! - Compression: gzip members or zstd frames of chunks cut at
//!   content-defined points (about 1 MiB for gzip, 4 MiB for zstd; one
//!   changed file moves one or two cuts), compressed in parallel. A
//!   [`ChunkCache`] ([`StoreChunks`]: the chunks of the store's blobs)
//!   supplies chunks compressed before. Nothing depends on the number of
//!   cores. The diffID and the blob digest are computed on the way, each
//!   on its own thread ([`LayerDigests`]); a [`BlobSink`] that hashes what
//!   it is given (the store's `BlobWriter`) supplies the blob digest.
//! - eStargz: [`to_estargz`] rewrites a layer for lazy pulling
//!   (stargz-snapshotter's layout, a table of contents at the end).
//! - zstd:chunked: [`to_zstd_chunked`] rewrites a layer for partial pulls
//!   by containers/storage (a TOC and tar-split data at the end; the tar
//!   and its diffID unchanged).
//! - Extraction: [`extract`] flattens ([`ExtractMode::Apply`]) or builds an
//!   overlayfs lower directory ([`ExtractMode::Overlay`]) and never writes
//!   outside its target.
//!
//! ```no_run
//! use strata_layer::{Compression, LayerSource, WriteOptions, write_layer};
//! let opts = WriteOptions { compression: Compression::Zstd { level: 3 }, ..Default::default() };
//! let (_blob, digests) = write_layer("rootfs".as_ref(), LayerSource::Plain, &opts, Vec::new())?;
//! println!("{} {}", digests.diff_id, digests.digest);
//! # Ok::<(), strata_layer::WriteError>(())
//! ```

mod chunk;
mod compress;
mod cut;
mod estargz;
mod extract;
mod out;
mod pipeline;
mod recompress;
pub mod rootfs;
mod stored;
mod tarcut;
mod tarfmt;
mod write;
mod writer;
mod zchunked;

pub use chunk::{
    CHUNK_FORMAT_VERSION, ChunkCache, ChunkEntry, ChunkKey, CompressedChunk, MemoryChunkCache,
    NoChunkCache,
};
pub use compress::{Compression, LayerDigests, detect_reader};
pub use estargz::{
    CHUNK_SIZE as ESTARGZ_CHUNK_SIZE, EstargzDigests, TOC_DIGEST_ANNOTATION,
    UNCOMPRESSED_SIZE_ANNOTATION, to_estargz,
};
pub use extract::{ExtractError, ExtractErrorKind, ExtractMode, extract, extract_owned};
pub use out::BlobSink;
pub use recompress::{recompress, recompress_chunked};
pub use stored::StoreChunks;
pub use write::{
    Extra, ExtraFiles, HostFile, LayerSource, ListEntry, ListSource, Overrides, append_list,
    append_tree, append_tree_with, path_order, write_layer,
};
pub use writer::{Entry, EntryKind, LayerWriter, WriteError, WriteOptions};
pub use zchunked::{
    CHUNK_SIZE as ZSTD_CHUNKED_CHUNK_SIZE, LEGACY_MANIFEST_CHECKSUM_ANNOTATION,
    LEGACY_MANIFEST_POSITION_ANNOTATION, MANIFEST_CHECKSUM_ANNOTATION,
    MANIFEST_POSITION_ANNOTATION, ManifestPositions, TARSPLIT_POSITION_ANNOTATION,
    ZstdChunkedDigests, to_zstd_chunked,
};

/// OCI media type of a layer blob in the given compression.
pub fn media_type(compression: Compression) -> &'static str {
    match compression {
        Compression::None => "application/vnd.oci.image.layer.v1.tar",
        Compression::Gzip { .. } | Compression::Estargz { .. } => {
            "application/vnd.oci.image.layer.v1.tar+gzip"
        }
        Compression::Zstd { .. } | Compression::ZstdChunked { .. } => {
            "application/vnd.oci.image.layer.v1.tar+zstd"
        }
    }
}
