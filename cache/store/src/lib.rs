//! strata's content store: an OCI image layout on disk.
//!
//! ```text
//! ROOT/
//!   oci-layout            {"imageLayoutVersion":"1.0.0"}
//!   index.json            tags: manifest descriptors annotated with
//!                         org.opencontainers.image.ref.name
//!   blobs/sha256/<hex>    content, named by its SHA-256
//!   tmp/                  blobs being written (same file system; renamed in)
//!   locks/                advisory lock files
//! ```
//!
//! Other parts of strata keep their data in versioned folders beside these
//! (`cache-v1/`, `snapshots-v1/`, `statcache-v1/`). Because the root is a
//! plain OCI layout, `skopeo inspect oci:ROOT:TAG` reads a built image.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let store = strata_store::Store::open(dir.path()).unwrap();
//! let digest = store.write_blob(b"hello").unwrap();
//! assert_eq!(store.read_blob(&digest).unwrap(), b"hello");
//! ```

mod blob;
mod digest;
mod index;

pub use blob::BlobWriter;
pub use digest::{Digest, DigestError};
pub use index::{Descriptor, REF_NAME};

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
    /// A file that does not parse.
    #[error("{path} is not valid: {message}")]
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

/// The default root: `$STRATA_ROOT`, else `/var/lib/strata` for root, else
/// `$XDG_DATA_HOME/strata` (`~/.local/share/strata`).
pub fn default_root() -> PathBuf {
    if let Some(root) = std::env::var_os("STRATA_ROOT") {
        return PathBuf::from(root);
    }
    // SAFETY-free check of the effective uid via /proc (no libc needed).
    let is_root = fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if is_root {
        return PathBuf::from("/var/lib/strata");
    }
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(xdg).join("strata");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local/share/strata")
}

/// An open store.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

impl Store {
    /// Opens the store at `root`, creating the layout when missing.
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
                store.write_file_atomic(&layout, OCI_LAYOUT)?;
            }
            Err(e) => return Err(io_err(&layout)(e)),
        }
        let index = store.root.join("index.json");
        if !index.exists() {
            let _lock = store.lock("index")?;
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
        match fs::metadata(self.blob_path(digest)) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StoreError::NotFound(digest.clone()))
            }
            Err(e) => Err(io_err(&self.blob_path(digest))(e)),
        }
    }

    /// Starts writing a blob; see [`BlobWriter`].
    pub fn blob_writer(&self) -> Result<BlobWriter, StoreError> {
        BlobWriter::new(self)
    }

    /// Writes bytes as a blob and returns its digest.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let mut w = self.blob_writer()?;
        io::Write::write_all(&mut w, bytes).map_err(io_err(&self.root))?;
        w.commit(None).map(|(d, _)| d)
    }

    /// Writes a value as compact JSON and returns its digest and size.
    pub fn write_json<T: serde::Serialize>(&self, value: &T) -> Result<(Digest, u64), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StoreError::Invalid {
            path: self.root.clone(),
            message: e.to_string(),
        })?;
        let digest = self.write_blob(&bytes)?;
        Ok((digest, bytes.len() as u64))
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<fs::File, StoreError> {
        let path = self.blob_path(digest);
        fs::File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::NotFound(digest.clone())
            } else {
                io_err(&path)(e)
            }
        })
    }

    /// Reads a whole blob, verifying its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        let bytes = fs::read(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::NotFound(digest.clone())
            } else {
                io_err(&path)(e)
            }
        })?;
        let found = Digest::of(&bytes);
        if &found != digest {
            return Err(StoreError::DigestMismatch {
                expected: digest.clone(),
                found,
            });
        }
        Ok(bytes)
    }

    /// Takes an exclusive advisory lock named `name`, held until dropped.
    pub fn lock(&self, name: &str) -> Result<fs::File, StoreError> {
        let path = self.root.join("locks").join(name);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        file.lock().map_err(io_err(&path))?;
        Ok(file)
    }

    /// Writes a small file atomically: temp file, fsync, rename, fsync dir.
    pub fn write_file_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let dir = path.parent().unwrap_or(&self.root);
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .map_err(io_err(dir))?;
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
