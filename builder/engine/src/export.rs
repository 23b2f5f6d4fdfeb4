//! Exports of a built image besides the store: a root filesystem as a
//! directory (`type=local`) or a tar (`type=tar`), and the store as a
//! [`BlobSource`] for image archives.

use crate::archive::BlobSource;
use crate::state::LayerRef;
use crate::worker::WorkerError;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;
use strata_layer::{
    BlobSink, Compression, ExtractMode, LayerSource, WriteOptions, extract, write_layer,
};
use strata_store::{Digest, Store};

/// Reads blobs from the store, verified.
#[derive(Debug, Clone, Copy)]
pub struct StoreBlobs<'a>(pub &'a Store);

impl BlobSource for StoreBlobs<'_> {
    fn open_blob(&self, digest: &str) -> io::Result<Box<dyn Read + '_>> {
        let digest: Digest = digest
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{e}")))?;
        let reader = self.0.open_verified(&digest).map_err(io::Error::other)?;
        Ok(Box::new(reader))
    }
}

/// Flattens layers into `dest` (created when missing): the image's root
/// filesystem, whiteouts applied.
pub fn write_rootfs(store: &Store, layers: &[LayerRef], dest: &Path) -> Result<(), WorkerError> {
    fs::create_dir_all(dest).map_err(|source| WorkerError::Io {
        path: dest.to_path_buf(),
        source,
    })?;
    for layer in layers {
        let digest: Digest = layer
            .blob
            .digest
            .parse()
            .map_err(|e| WorkerError::Invalid(format!("layer {}: {e}", layer.blob.digest)))?;
        let reader = store.open_verified(&digest)?;
        extract(reader, dest, ExtractMode::Apply, Some(&layer.diff_id))?;
    }
    Ok(())
}

/// Writes the flattened root filesystem as one uncompressed tar; returns
/// `out`.
pub fn write_rootfs_tar<W: BlobSink>(
    store: &Store,
    layers: &[LayerRef],
    out: W,
    source_date_epoch: Option<i64>,
) -> Result<W, WorkerError> {
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-rootfs-")
        .tempdir_in(store.root())
        .map_err(|source| WorkerError::Io {
            path: store.root().to_path_buf(),
            source,
        })?;
    write_rootfs(store, layers, tmp.path())?;
    let opts = WriteOptions {
        compression: Compression::None,
        source_date_epoch,
        threads: 0,
    };
    let (out, _) = write_layer(tmp.path(), LayerSource::Plain, &opts, out)?;
    Ok(out)
}

/// Opens a file for an export, `-` being stdout.
pub fn open_output(dest: &str) -> io::Result<Box<dyn io::Write + Send>> {
    if dest == "-" {
        Ok(Box::new(io::BufWriter::new(io::stdout())))
    } else {
        Ok(Box::new(io::BufWriter::new(File::create(dest)?)))
    }
}
