//! Layer tarballs for strata.
//!
//! - Writing: [`write_layer`] turns a directory tree (plain, or an overlayfs
//!   upper directory whose whiteouts become OCI `.wh.` entries) into a layer
//!   blob; [`LayerWriter`] with [`append_tree`] / [`append_list`] (files
//!   picked by COPY, with owner and mode overrides) gives finer control.
//!   Our own ustar + PAX headers, entries in a fixed order, numeric owners:
//!   the same files always give the same bytes.
//! - Compression: gzip as independent members of ~1 MiB chunks cut at
//!   deterministic points and compressed in parallel (a [`ChunkCache`] can
//!   reuse them between exports); zstd as one stream in multi-thread mode.
//!   Neither depends on the number of cores. The diffID and the blob digest
//!   are computed in the same pass ([`LayerDigests`]).
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
mod extract;
mod recompress;
pub mod rootfs;
mod tarfmt;
mod write;
mod writer;

pub use chunk::{CHUNK_SIZE, ChunkCache, ChunkKey, MemoryChunkCache, NoChunkCache};
pub use compress::{Compression, LayerDigests, detect_reader};
pub use extract::{ExtractError, ExtractErrorKind, ExtractMode, extract};
pub use recompress::recompress;
pub use write::{
    LayerSource, ListEntry, ListSource, Overrides, append_list, append_tree, path_order,
    write_layer,
};
pub use writer::{Entry, EntryKind, LayerWriter, WriteError, WriteOptions};

/// OCI media type of a layer blob in the given compression.
pub fn media_type(compression: Compression) -> &'static str {
    match compression {
        Compression::None => "application/vnd.oci.image.layer.v1.tar",
        Compression::Gzip { .. } => "application/vnd.oci.image.layer.v1.tar+gzip",
        Compression::Zstd { .. } => "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}
