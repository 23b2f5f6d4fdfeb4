//! Build contexts from URLs: `strata build URL` and `--build-context
//! NAME=URL`, fetched into a locked directory under the store's `tmp/`
//! before the build and read from there like a local directory.
//!
//! As BuildKit's Dockerfile frontend (`dockerui`):
//!
//! - A git URL (the forms `ADD` accepts: `https://…/repo.git#ref:subdir`,
//!   `git://`, `ssh://`, `user@host:path`, the query parameters) is
//!   checked out with the fetcher of `ADD <git>` (`worker/git`): shallow,
//!   submodules too, files with the commit's time as mtime, no `.git`
//!   unless asked for (`BUILDKIT_CONTEXT_KEEP_GIT_DIR`, `?keep-git-dir`).
//!   The context is the checkout, or its `subdir`.
//! - Any other `http(s)://` URL of the main context is downloaded (with
//!   `worker/fetch`: revalidated with `ETag`/`Last-Modified` as for
//!   `ADD`); when its first bytes are those of a bzip2, gzip or xz stream
//!   or a tar header, it is a tarball extracted as the context (safe
//!   extraction: nothing leaves the directory), else it is the Dockerfile
//!   itself, a file named `context` in an otherwise empty context.
//! - A named context from a non-git `http(s)://` URL is a directory
//!   holding the downloaded file as `context` (not unpacked).
//!
//! Nothing about the fetch reaches a cache key: steps are keyed by the
//! content of the files they read, as for a local directory, so a rebuild
//! of the same commit or tarball hits every step.

use super::fetch::Fetcher;
use super::git::{Checkout, Git, GitError};
use super::git_source::GitSource;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_plan::SourceKind;
use strata_store::Store;

/// The file a downloaded non-archive context is kept as (BuildKit's name).
pub const DOWNLOADED_FILE: &str = "context";

/// A build context that could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The git repository could not be resolved or checked out.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The URL could not be downloaded.
    #[error(transparent)]
    Fetch(#[from] super::fetch::FetchError),
    /// The downloaded tarball could not be extracted.
    #[error("extracting {url}: {source}")]
    Extract {
        /// The URL.
        url: String,
        /// The cause.
        source: Box<strata_layer::ExtractError>,
    },
    /// The subdirectory is missing, not a directory, or leads outside the
    /// repository through a symbolic link.
    #[error("{url}: subdirectory {subdir:?} {message}")]
    Subdir {
        /// The URL.
        url: String,
        /// The subdirectory asked for.
        subdir: String,
        /// What is wrong with it.
        message: &'static str,
    },
    /// A file of the fetched context could not be written or read.
    #[error("{url}: {path}: {source}")]
    Io {
        /// The URL.
        url: String,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// What kind of remote source a context argument is, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteKind {
    /// A git repository.
    Git,
    /// An HTTP(S) URL of a tarball or a Dockerfile.
    Http,
}

impl RemoteKind {
    /// Classifies a context argument as BuildKit does: git forms first,
    /// then `http://`/`https://`; anything else is a local path.
    pub fn of(spec: &str) -> Option<RemoteKind> {
        match SourceKind::of(spec) {
            SourceKind::Git => Some(RemoteKind::Git),
            SourceKind::Url => Some(RemoteKind::Http),
            SourceKind::Path => None,
        }
    }
}

/// How a remote context is fetched.
#[derive(Debug, Clone, Default)]
pub struct RemoteOptions {
    /// The build's default SSH agent (`--ssh default`), for ssh git URLs.
    pub agent: Option<PathBuf>,
    /// Keep `.git` in a git checkout (`BUILDKIT_CONTEXT_KEEP_GIT_DIR`).
    pub keep_git_dir: bool,
    /// A downloaded tarball is extracted (the main context); otherwise
    /// the download is kept as the file `context` (a named context).
    pub unpack: bool,
}

/// A fetched context: a directory that lives as long as this value.
#[derive(Debug)]
pub struct RemoteContext {
    tree: Arc<Checkout>,
    root: PathBuf,
    commit: Option<String>,
    dockerfile: Option<PathBuf>,
}

impl RemoteContext {
    /// The context's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The commit a git context was checked out at.
    pub fn commit(&self) -> Option<&str> {
        self.commit.as_deref()
    }

    /// The Dockerfile, when the URL was the Dockerfile itself.
    pub fn dockerfile(&self) -> Option<&Path> {
        self.dockerfile.as_deref()
    }

    /// The store directory the context lives in (the checkout's root,
    /// above `root` when a subdirectory was asked for).
    pub fn dir(&self) -> &Path {
        self.tree.path()
    }
}

/// Fetches the context `spec` (a URL [`RemoteKind::of`] recognises).
pub fn fetch_context(
    store: &Store,
    spec: &str,
    opts: &RemoteOptions,
) -> Result<RemoteContext, RemoteError> {
    match RemoteKind::of(spec) {
        Some(RemoteKind::Git) => fetch_git(store, spec, opts),
        _ => fetch_http(store, spec, opts.unpack),
    }
}

fn fetch_git(
    store: &Store,
    spec: &str,
    opts: &RemoteOptions,
) -> Result<RemoteContext, RemoteError> {
    let source = GitSource::parse(spec)?;
    let keep_git_dir = source.keep_git_dir_with(opts.keep_git_dir)?;
    let git = Git::new(opts.agent.clone());
    let commit = git.resolve(&source, source.checksum.as_deref())?;
    let tree = git.checkout(store, &source, &commit, keep_git_dir)?;
    let root = subdir(&tree, spec, &source.subdir)?;
    Ok(RemoteContext {
        tree,
        root,
        commit: Some(commit),
        dockerfile: None,
    })
}

/// `RemoteError::Io` for `path` of `url`, for `map_err`.
fn io_err(url: &str, path: &Path) -> impl FnOnce(std::io::Error) -> RemoteError + use<> {
    let (url, path) = (url.to_string(), path.to_path_buf());
    move |source| RemoteError::Io { url, path, source }
}

/// `subdir` of a checkout, which must be a directory inside it (a
/// symbolic link on the way may not lead out).
fn subdir(tree: &Checkout, url: &str, subdir: &str) -> Result<PathBuf, RemoteError> {
    if subdir.is_empty() {
        return Ok(tree.path().to_path_buf());
    }
    let bad = |message| RemoteError::Subdir {
        url: url.to_string(),
        subdir: subdir.to_string(),
        message,
    };
    let io = |path: &Path| io_err(url, path);
    let top = tree.path().canonicalize().map_err(io(tree.path()))?;
    let wanted = tree.path().join(subdir);
    let real = match wanted.canonicalize() {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(bad("does not exist in the repository"));
        }
        Err(e) => return Err(io(&wanted)(e)),
    };
    if !real.starts_with(&top) {
        return Err(bad("leads out of the repository"));
    }
    if !real.is_dir() {
        return Err(bad("is not a directory"));
    }
    Ok(real)
}

fn fetch_http(store: &Store, url: &str, unpack: bool) -> Result<RemoteContext, RemoteError> {
    let download = Fetcher::new().get(store, url, None)?;
    let tree =
        Checkout::create(store, "context-").map_err(io_err(url, &store.root().join("tmp")))?;
    let io = |path: &Path| io_err(url, path);
    let file = download.file.path();
    let mut head = Vec::with_capacity(1024);
    std::fs::File::open(file)
        .and_then(|f| f.take(1024).read_to_end(&mut head))
        .map_err(io(file))?;
    let mut dockerfile = None;
    if unpack && is_archive(&head) {
        let reader = super::decompress::open(file).map_err(io(file))?;
        strata_layer::extract(
            BufReader::new(reader),
            tree.path(),
            strata_layer::ExtractMode::Apply,
            None,
        )
        .map_err(|source| RemoteError::Extract {
            url: url.to_string(),
            source: Box::new(source),
        })?;
    } else {
        let dest = tree.path().join(DOWNLOADED_FILE);
        std::fs::copy(file, &dest).map_err(io(&dest))?;
        set_downloaded_metadata(&dest, download.mtime).map_err(io(&dest))?;
        if unpack {
            dockerfile = Some(dest);
        }
    }
    let root = tree.path().to_path_buf();
    Ok(RemoteContext {
        tree: Arc::new(tree),
        root,
        commit: None,
        dockerfile,
    })
}

/// A downloaded file as BuildKit's HTTP source leaves it: mode 0600, the
/// server's `Last-Modified` as mtime when it sent one.
fn set_downloaded_metadata(path: &Path, mtime: Option<i64>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    if let Some(secs) = mtime {
        let time = std::time::UNIX_EPOCH
            + std::time::Duration::from_secs(u64::try_from(secs).unwrap_or(0));
        std::fs::File::options()
            .write(true)
            .open(path)?
            .set_modified(time)?;
    }
    Ok(())
}

/// BuildKit's test of a downloaded context: bzip2, gzip or xz magic, or
/// a tar header in the first bytes.
fn is_archive(head: &[u8]) -> bool {
    const MAGIC: [&[u8]; 3] = [
        b"BZh",
        &[0x1f, 0x8b, 0x08],
        &[0xfd, b'7', b'z', b'X', b'Z', 0],
    ];
    MAGIC.iter().any(|m| head.starts_with(m)) || super::copy::tar_header_ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_buildkit() {
        assert_eq!(
            RemoteKind::of("https://h/r.git#main:sub"),
            Some(RemoteKind::Git)
        );
        assert_eq!(RemoteKind::of("git@h:r.git"), Some(RemoteKind::Git));
        assert_eq!(RemoteKind::of("git://h/r"), Some(RemoteKind::Git));
        assert_eq!(
            RemoteKind::of("http://h/ctx.tar.gz"),
            Some(RemoteKind::Http)
        );
        assert_eq!(RemoteKind::of("./dir"), None);
        assert_eq!(RemoteKind::of("dir/with:colon"), None);
    }

    #[test]
    fn archives_are_told_by_their_first_bytes() {
        assert!(is_archive(b"BZh91AY&SY"));
        assert!(is_archive(&[0x1f, 0x8b, 0x08, 0]));
        assert!(is_archive(&[0xfd, b'7', b'z', b'X', b'Z', 0, 0]));
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_cksum();
        tar.append_data(&mut header, "a", &b"a"[..]).unwrap();
        assert!(is_archive(&tar.into_inner().unwrap()));
        assert!(!is_archive(b"FROM busybox\nRUN true\n"));
        assert!(!is_archive(b""));
    }
}
