//! strata's content store: an OCI image layout on disk.
//!
//! The root directory *is* an OCI image layout, so `skopeo inspect
//! oci:ROOT:app:latest` reads an image strata built. Other crates keep their
//! data in versioned folders beside it; a format change there is a new
//! folder, never a migration.
//!
//! ```text
//! ROOT/                     (see select_root for where it is)
//!   oci-layout              {"imageLayoutVersion":"1.0.0"}
//!   index.json              tags: manifest descriptors annotated with
//!                           org.opencontainers.image.ref.name = the full
//!                           reference ("app:latest", "localhost:5000/app:1")
//!   blobs/sha256/<hex>      content, named by its SHA-256 (this crate)
//!   tmp/                    blobs being written, locked by their writer;
//!                           same file system as blobs/, renamed in
//!   locks/<name>            advisory lock files (Store::lock_exclusive)
//!   leases-v1/              what running builds use (Store::lease), so a
//!                           prune leaves it
//!   cache-v1/               cache records: key → result (strata-cache)
//!   snapshots-v1/           extracted layers per chain (the builder)
//!   statcache-v1/           file stat → content hash (strata-context)
//!   chunks-v1/<format>/       where the compressed chunks of layer blobs
//!                           are, to reuse them (this crate: chunks.rs)
//! ```
//!
//! Every write is crash-safe (temp file, fsync, rename, fsync the
//! directory): a killed build leaves at most a temp file, never a wrong
//! blob or a partial `index.json`. Several processes may use one store.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let store = strata_store::Store::open(dir.path()).unwrap();
//! let digest = store.write_blob(b"hello").unwrap();
//! assert_eq!(store.read_blob(&digest).unwrap(), b"hello");
//! ```

pub mod base64;
mod blob;
mod check;
mod chunks;
mod digest;
mod index;
mod lease;
mod lock;
mod midstate;
mod read;
mod root;
pub mod time;
mod walk;

pub use blob::BlobWriter;
pub use check::{BlobInfo, CheckReport, CorruptBlob, TempFile};
pub use chunks::{
    CHUNKS_DIR, ChunkIndex, ChunkRecord, MAX_INDEXED_MAPS, StoredChunk, chunk_checksum,
};
pub use digest::{Digest, DigestError};
pub use index::{Descriptor, REF_NAME};
pub use lease::{GC_LOCK, LEASES_DIR, Lease, Leased};
pub use lock::StoreLock;
pub use midstate::{Midstate, ResumableSha256};
pub use read::VerifiedReader;
pub use root::select_root;
pub use walk::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Dangling, OCI_INDEX, OCI_MANIFEST, is_manifest_or_index,
};

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Content does not match its digest.
    #[error("digest mismatch: expected {expected}, found {found}")]
    DigestMismatch {
        /// What the caller expected.
        expected: Digest,
        /// What the content hashes to.
        found: Digest,
    },
    /// A blob that is not in the store.
    #[error("blob {0} is not in the store")]
    NotFound(Digest),
    /// A file that does not parse or a name that is not allowed.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An open store; cheap to clone. See the crate docs for the layout.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

impl Store {
    /// Opens the store at `root`, creating the layout when missing, and
    /// refuses a layout version other than 1.0.0.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let root = root.into();
        for dir in ["blobs/sha256", "tmp", "locks"] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(io_err(&path))?;
        }
        let store = Store { root };
        let layout = store.root.join("oci-layout");
        match fs::read(&layout) {
            Ok(bytes) => {
                let v: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|e| StoreError::Invalid {
                        path: layout.clone(),
                        message: e.to_string(),
                    })?;
                if v["imageLayoutVersion"] != "1.0.0" {
                    return Err(StoreError::Invalid {
                        path: layout,
                        message: format!("unsupported layout version {}", v["imageLayoutVersion"]),
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Concurrent openers write identical bytes; the rename is atomic.
                store.write_file_atomic(&layout, OCI_LAYOUT)?;
            }
            Err(e) => return Err(io_err(&layout)(e)),
        }
        let index = store.root.join("index.json");
        if !index.exists() {
            let _lock = store.lock_exclusive("index")?;
            if !index.exists() {
                store.write_file_atomic(&index, &index::empty_index())?;
            }
        }
        Ok(store)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// True when the blob is present.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// The size of a blob.
    pub fn blob_size(&self, digest: &Digest) -> Result<u64, StoreError> {
        let path = self.blob_path(digest);
        match fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StoreError::NotFound(digest.clone()))
            }
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Writes a small file atomically: a locked `.tmp-*` file in the same
    /// directory, fsync, rename over `path`, fsync the directory. Readers
    /// see the old or the new content, never a mix.
    pub fn write_file_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let dir = path.parent().unwrap_or(&self.root);
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .map_err(io_err(dir))?;
        let _ = tmp.as_file().try_lock(); // marks it in use for clean_temp
        io::Write::write_all(&mut tmp, bytes).map_err(io_err(path))?;
        tmp.as_file().sync_all().map_err(io_err(path))?;
        tmp.persist(path).map_err(|e| io_err(path)(e.error))?;
        sync_dir(dir);
        Ok(())
    }
}

/// Flushes a directory's entries (best effort: some file systems refuse).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
