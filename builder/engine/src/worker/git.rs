//! `ADD <git repository>`: a shallow fetch of one ref with the `git`
//! command, checked out into a directory under the store's `tmp/`.
//!
//! The forms are BuildKit's: `https://host/repo.git#ref:subdir`,
//! `git://host/repo#ref`, with `ref` a branch, a tag or a commit (default
//! `HEAD`) and `subdir` the directory whose content is added. The step is
//! keyed by the commit the ref resolves to (`git ls-remote`, no checkout),
//! so a moved branch reruns the step and an unmoved one hits. Files get
//! the commit's time as mtime, so a checkout is the same bytes every time;
//! `.git` is left out unless `--keep-git-dir`. ssh forms (`git@host:…`,
//! `ssh://…`) need agent forwarding, which strata does not do yet.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use strata_store::Store;
use tempfile::TempDir;

/// A failed git source.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// A form this version cannot fetch.
    #[error("ADD {src}: {what} is not supported yet")]
    Unsupported {
        /// The source as written.
        src: String,
        /// What is missing.
        what: String,
    },
    /// A git command failed.
    #[error("ADD {url}: git {args} failed: {stderr}")]
    Command {
        /// The repository.
        url: String,
        /// The git arguments.
        args: String,
        /// What git said.
        stderr: String,
    },
    /// The ref names nothing in the repository.
    #[error("ADD {url}: the repository has no branch or tag {reference:?}")]
    RefNotFound {
        /// The repository.
        url: String,
        /// The ref asked for.
        reference: String,
    },
    /// `--checksum` names another commit than the ref resolves to.
    #[error("ADD {url}#{reference}: checksum mismatch: expected commit {expected}, got {actual}")]
    Checksum {
        /// The repository.
        url: String,
        /// The ref asked for.
        reference: String,
        /// The commit given with `--checksum`.
        expected: String,
        /// The commit the ref resolves to.
        actual: String,
    },
    /// The temp directory or the checkout's files failed.
    #[error("ADD {url}: {path}: {source}")]
    Io {
        /// The repository.
        url: String,
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// A git source, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GitSource {
    /// The repository URL, without the fragment.
    pub(crate) url: String,
    /// The branch, tag or commit; empty for `HEAD`.
    pub(crate) reference: String,
    /// The directory inside the repository; empty for its root.
    pub(crate) subdir: String,
}

impl GitSource {
    /// Parses `URL[#ref[:subdir]]`.
    pub(crate) fn parse(src: &str) -> Result<GitSource, GitError> {
        let unsupported = |what: &str| GitError::Unsupported {
            src: src.to_string(),
            what: what.to_string(),
        };
        if src.starts_with("git@") || src.starts_with("ssh://") {
            return Err(unsupported("fetching a git repository over ssh"));
        }
        let (url, fragment) = src.split_once('#').unwrap_or((src, ""));
        if url.contains('?') {
            return Err(unsupported("a git URL with query parameters"));
        }
        let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
        let subdir = subdir.trim_matches('/');
        if subdir.split('/').any(|c| c == "..") {
            return Err(unsupported("a git subdirectory with `..`"));
        }
        Ok(GitSource {
            url: url.to_string(),
            reference: reference.to_string(),
            subdir: subdir.to_string(),
        })
    }

    fn is_commit(&self) -> bool {
        is_commit(&self.reference)
    }
}

fn is_commit(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A checked-out commit in a locked temp directory (so that
/// `Store::clean_temp` leaves it alone), removed when dropped.
#[derive(Debug)]
pub(crate) struct Checkout {
    dir: TempDir,
    _lock: File,
}

impl Checkout {
    /// The checked-out tree.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Git sources of one build: resolved refs and checkouts, each done once.
#[derive(Debug, Default)]
pub(crate) struct Git {
    commits: Mutex<BTreeMap<(String, String), String>>,
    checkouts: Mutex<BTreeMap<(String, String, bool), Arc<Checkout>>>,
}

impl Git {
    /// The commit `source`'s ref names now (checked against `checksum`,
    /// a commit hash, when given).
    pub(crate) fn resolve(
        &self,
        source: &GitSource,
        checksum: Option<&str>,
    ) -> Result<String, GitError> {
        let slot = (source.url.clone(), source.reference.clone());
        let known = lock(&self.commits).get(&slot).cloned();
        let commit = match known {
            Some(c) => c,
            None if source.is_commit() => source.reference.to_ascii_lowercase(),
            None => {
                let c = ls_remote(source)?;
                lock(&self.commits).insert(slot, c.clone());
                c
            }
        };
        if let Some(expected) = checksum
            && !commit.starts_with(&expected.to_ascii_lowercase())
        {
            return Err(GitError::Checksum {
                url: source.url.clone(),
                reference: source.reference.clone(),
                expected: expected.to_string(),
                actual: commit,
            });
        }
        Ok(commit)
    }

    /// `commit` of `source` checked out (with `.git` when `keep_git_dir`).
    pub(crate) fn checkout(
        &self,
        store: &Store,
        source: &GitSource,
        commit: &str,
        keep_git_dir: bool,
    ) -> Result<Arc<Checkout>, GitError> {
        let slot = (source.url.clone(), commit.to_string(), keep_git_dir);
        if let Some(c) = lock(&self.checkouts).get(&slot) {
            return Ok(c.clone());
        }
        let checkout = Arc::new(fetch(store, source, commit, keep_git_dir)?);
        lock(&self.checkouts).insert(slot, checkout.clone());
        Ok(checkout)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs git, returning its stdout.
fn git(url: &str, dir: Option<&Path>, args: &[&str]) -> Result<String, GitError> {
    let mut cmd = Command::new("git");
    if let Some(dir) = dir {
        cmd.arg("-C").arg(dir);
    }
    let out = cmd
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| GitError::Command {
            url: url.to_string(),
            args: args.join(" "),
            stderr: format!("cannot run git: {e}"),
        })?;
    if !out.status.success() {
        return Err(GitError::Command {
            url: url.to_string(),
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The commit of a branch or tag (annotated tags peeled), or of `HEAD`.
fn ls_remote(source: &GitSource) -> Result<String, GitError> {
    let reference = if source.reference.is_empty() {
        "HEAD"
    } else {
        source.reference.as_str()
    };
    let out = git(
        &source.url,
        None,
        &["ls-remote", "--", &source.url, reference],
    )?;
    let refs: BTreeMap<&str, &str> = out
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(sha, name)| (name, sha))
        .collect();
    let wanted = [
        reference.to_string(),
        format!("refs/tags/{reference}^{{}}"),
        format!("refs/tags/{reference}"),
        format!("refs/heads/{reference}"),
    ];
    wanted
        .iter()
        .find_map(|name| refs.get(name.as_str()))
        .map(|sha| sha.to_string())
        .ok_or_else(|| GitError::RefNotFound {
            url: source.url.clone(),
            reference: reference.to_string(),
        })
}

fn fetch(
    store: &Store,
    source: &GitSource,
    commit: &str,
    keep_git_dir: bool,
) -> Result<Checkout, GitError> {
    let url = source.url.as_str();
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |e| GitError::Io {
            url: url.to_string(),
            path,
            source: e,
        }
    };
    let tmp_root = store.root().join("tmp");
    let dir = tempfile::Builder::new()
        .prefix("git-")
        .tempdir_in(&tmp_root)
        .map_err(io(&tmp_root))?;
    let lock_file = File::open(dir.path()).map_err(io(dir.path()))?;
    // A new directory cannot be locked by anyone else; without flock the
    // checkout still works.
    let _ = lock_file.try_lock();
    let at = Some(dir.path());
    git(url, at, &["init", "-q"])?;
    git(url, at, &["remote", "add", "origin", url])?;
    let wanted = if source.reference.is_empty() {
        "HEAD"
    } else {
        source.reference.as_str()
    };
    let shallow = git(url, at, &["fetch", "-q", "--depth=1", "origin", wanted]);
    if shallow.is_err() && source.is_commit() {
        // Servers may refuse a commit that is not a ref's tip: fetch all.
        git(
            url,
            at,
            &[
                "fetch",
                "-q",
                "--tags",
                "origin",
                "+refs/heads/*:refs/remotes/origin/*",
            ],
        )?;
    } else {
        shallow?;
    }
    git(url, at, &["checkout", "-q", "--detach", commit])?;
    if dir.path().join(".gitmodules").exists() {
        git(
            url,
            at,
            &[
                "submodule",
                "update",
                "-q",
                "--init",
                "--recursive",
                "--depth=1",
            ],
        )?;
    }
    let time: i64 = git(url, at, &["log", "-1", "--format=%ct", commit])?
        .trim()
        .parse()
        .unwrap_or(0);
    if !keep_git_dir {
        let dot_git = dir.path().join(".git");
        std::fs::remove_dir_all(&dot_git).map_err(io(&dot_git))?;
    }
    super::copy::set_times(dir.path(), dir.path(), time, &|_, _| true).map_err(io(dir.path()))?;
    Ok(Checkout {
        dir,
        _lock: lock_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_like_buildkit() {
        let s = GitSource::parse("https://h/r.git#v1.0:docs/site/").unwrap();
        assert_eq!(
            (s.url.as_str(), s.reference.as_str(), s.subdir.as_str()),
            ("https://h/r.git", "v1.0", "docs/site")
        );
        let s = GitSource::parse("git://127.0.0.1:9418/r").unwrap();
        assert_eq!((s.reference.as_str(), s.subdir.as_str()), ("", ""));
        let s = GitSource::parse("https://h/r.git#:sub").unwrap();
        assert_eq!((s.reference.as_str(), s.subdir.as_str()), ("", "sub"));
        for bad in [
            "git@github.com:moby/buildkit.git",
            "ssh://git@h/r.git",
            "https://h/r.git?ref=main",
            "https://h/r.git#main:../etc",
        ] {
            let e = GitSource::parse(bad).unwrap_err();
            assert!(e.to_string().contains("not supported"), "{bad}: {e}");
        }
    }

    #[test]
    fn commits_are_hex_of_sha1_or_sha256_length() {
        assert!(is_commit(&"a".repeat(40)));
        assert!(is_commit(&"0".repeat(64)));
        assert!(!is_commit("main"));
        assert!(!is_commit(&"g".repeat(40)));
    }
}
