//! `ADD <git repository>`: a shallow fetch of one ref with the `git`
//! command, checked out into a directory under the store's `tmp/`.
//!
//! The forms are BuildKit's (parsed in `worker/git_source`): `https://`,
//! `git://`, `ssh://` and `user@host:path`, with a `#ref:subdir` fragment
//! or `?ref=`/`tag=`/`branch=`/`subdir=`/`checksum=` query parameters. The
//! step is keyed by the commit the ref resolves to (`git ls-remote`, no
//! checkout), so a moved branch reruns the step and an unmoved one hits.
//! Files get the commit's time as mtime, so a checkout is the same bytes
//! every time; `.git` is left out unless `--keep-git-dir`.
//!
//! Over ssh, git authenticates with the build's default SSH agent
//! (`--ssh default`), as BuildKit forwards it; no key file and no ssh
//! config of the host is read (`ssh -F /dev/null`). Host keys: BuildKit
//! scans the server's key when the build starts and pins it for the
//! build. Here the first connection of the build records the key in a
//! known_hosts file the build owns (`StrictHostKeyChecking=accept-new`),
//! so every later connection of the build must present the same key; the
//! file starts from the user's `~/.ssh/known_hosts`, so a host already
//! known there must present the key recorded for it.

use super::git_source::GitSource;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use strata_store::Store;
use tempfile::TempDir;

/// A failed git source.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The source is not a git URL BuildKit accepts.
    #[error("git source {src}: {message}")]
    Url {
        /// The source as written.
        src: String,
        /// What is wrong with it.
        message: String,
    },
    /// An ssh source without an agent to authenticate with.
    #[error(
        "git repository {url}: fetching over ssh needs an SSH agent: no SSH key \"default\" forwarded (pass --ssh default, which uses $SSH_AUTH_SOCK)"
    )]
    NoAgent {
        /// The repository.
        url: String,
    },
    /// A git command failed.
    #[error("git repository {url}: git {args} failed: {stderr}")]
    Command {
        /// The repository.
        url: String,
        /// The git arguments.
        args: String,
        /// What git said.
        stderr: String,
    },
    /// The ref names nothing in the repository.
    #[error("git repository {url}: no branch or tag {reference:?}")]
    RefNotFound {
        /// The repository.
        url: String,
        /// The ref asked for.
        reference: String,
    },
    /// `--checksum` names another commit than the ref resolves to.
    #[error(
        "git repository {url}#{reference}: checksum mismatch: expected commit {expected}, got {actual}"
    )]
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
    #[error("git repository {url}: {path}: {source}")]
    Io {
        /// The repository.
        url: String,
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
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
    /// A new, empty directory under the store's `tmp/` (named `PREFIX…`),
    /// locked for as long as the value lives.
    pub(crate) fn create(store: &Store, prefix: &str) -> std::io::Result<Checkout> {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(store.root().join("tmp"))?;
        let lock = File::open(dir.path())?;
        // A new directory cannot be locked by anyone else; without flock
        // the checkout still works.
        let _ = lock.try_lock();
        Ok(Checkout { dir, _lock: lock })
    }

    /// The checked-out tree.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A checkout's identity: repository, commit, `.git` kept, submodules.
type CheckoutSlot = (String, String, bool, bool);

/// Git sources of one build: resolved refs and checkouts, each done once.
#[derive(Debug, Default)]
pub(crate) struct Git {
    /// The build's default SSH agent (`--ssh default`), for ssh sources.
    agent: Option<PathBuf>,
    /// The build's known_hosts file, made on the first ssh source.
    known_hosts: Mutex<Option<TempDir>>,
    commits: Mutex<BTreeMap<(String, String), String>>,
    checkouts: Mutex<BTreeMap<CheckoutSlot, Arc<Checkout>>>,
}

impl Git {
    /// Git for a build whose default SSH agent is `agent`.
    pub(crate) fn new(agent: Option<PathBuf>) -> Git {
        Git {
            agent,
            ..Git::default()
        }
    }

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
            None if is_commit(&source.reference) => source.reference.to_ascii_lowercase(),
            None => {
                let c = ls_remote(&self.runner(source)?, source)?;
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
        let slot = (
            source.url.clone(),
            commit.to_string(),
            keep_git_dir,
            source.submodules,
        );
        if let Some(c) = lock(&self.checkouts).get(&slot) {
            return Ok(c.clone());
        }
        let runner = self.runner(source)?;
        let checkout = Arc::new(fetch(&runner, store, source, commit, keep_git_dir)?);
        lock(&self.checkouts).insert(slot, checkout.clone());
        Ok(checkout)
    }

    /// How git is run for `source`: over ssh, with the agent and the
    /// build's known_hosts.
    fn runner(&self, source: &GitSource) -> Result<Runner, GitError> {
        let mut runner = Runner {
            url: source.url.clone(),
            env: Vec::new(),
        };
        if !source.ssh {
            return Ok(runner);
        }
        let agent = self.agent.as_ref().ok_or_else(|| GitError::NoAgent {
            url: source.url.clone(),
        })?;
        let known_hosts = self.known_hosts_file(&source.url)?;
        let ssh = format!(
            "ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o {}",
            shell_quote(&format!("UserKnownHostsFile=\"{}\"", known_hosts.display()))
        );
        runner.env = vec![
            ("GIT_SSH_COMMAND".into(), ssh),
            ("SSH_AUTH_SOCK".into(), agent.display().to_string()),
        ];
        Ok(runner)
    }

    /// The build's known_hosts file, seeded from `~/.ssh/known_hosts`.
    fn known_hosts_file(&self, url: &str) -> Result<PathBuf, GitError> {
        let mut slot = lock(&self.known_hosts);
        if let Some(dir) = slot.as_ref() {
            return Ok(dir.path().join("known_hosts"));
        }
        let io = |path: &Path| io_err(url, path);
        let dir = tempfile::Builder::new()
            .prefix("strata-known-hosts-")
            .tempdir()
            .map_err(io(&std::env::temp_dir()))?;
        let file = dir.path().join("known_hosts");
        let user_known = std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(".ssh/known_hosts"))
            .and_then(|p| std::fs::read(p).ok())
            .unwrap_or_default();
        std::fs::write(&file, user_known).map_err(io(&file))?;
        *slot = Some(dir);
        Ok(file)
    }
}

/// `GitError::Io` for `path` of repository `url`, for `map_err`.
fn io_err(url: &str, path: &Path) -> impl FnOnce(std::io::Error) -> GitError + use<> {
    let (url, path) = (url.to_string(), path.display().to_string());
    move |source| GitError::Io { url, path, source }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `s` in single quotes for the shell git runs `GIT_SSH_COMMAND` with.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Runs git for one repository, with the environment its transport needs.
struct Runner {
    url: String,
    env: Vec<(String, String)>,
}

impl Runner {
    /// Runs git (in `dir` when given), returning its stdout.
    fn git(&self, dir: Option<&Path>, args: &[&str]) -> Result<String, GitError> {
        let url = self.url.as_str();
        let mut cmd = Command::new("git");
        if let Some(dir) = dir {
            cmd.arg("-C").arg(dir);
        }
        let out = cmd
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
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
}

/// The commit of a branch, tag or full ref (annotated tags peeled), or of
/// `HEAD`.
fn ls_remote(runner: &Runner, source: &GitSource) -> Result<String, GitError> {
    let reference = if source.reference.is_empty() {
        "HEAD"
    } else {
        source.reference.as_str()
    };
    let out = runner.git(None, &["ls-remote", "--", &source.url, reference])?;
    let refs: BTreeMap<&str, &str> = out
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(sha, name)| (name, sha))
        .collect();
    let wanted = [
        format!("{reference}^{{}}"),
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
    runner: &Runner,
    store: &Store,
    source: &GitSource,
    commit: &str,
    keep_git_dir: bool,
) -> Result<Checkout, GitError> {
    let url = source.url.as_str();
    let io = |path: &Path| io_err(url, path);
    let checkout = Checkout::create(store, "git-").map_err(io(&store.root().join("tmp")))?;
    let dir = &checkout.dir;
    let at = Some(dir.path());
    runner.git(at, &["init", "-q"])?;
    runner.git(at, &["remote", "add", "origin", url])?;
    let wanted = if source.reference.is_empty() {
        "HEAD"
    } else {
        source.reference.as_str()
    };
    let shallow = runner.git(at, &["fetch", "-q", "--depth=1", "origin", wanted]);
    if shallow.is_err() && is_commit(&source.reference) {
        // Servers may refuse a commit that is not a ref's tip: fetch all.
        runner.git(
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
    runner.git(at, &["checkout", "-q", "--detach", commit])?;
    if source.submodules && dir.path().join(".gitmodules").exists() {
        runner.git(
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
    let time: i64 = runner
        .git(at, &["log", "-1", "--format=%ct", commit])?
        .trim()
        .parse()
        .unwrap_or(0);
    if !keep_git_dir {
        let dot_git = dir.path().join(".git");
        std::fs::remove_dir_all(&dot_git).map_err(io(&dot_git))?;
    }
    super::copy::set_times(dir.path(), dir.path(), time, &|_, _| true).map_err(io(dir.path()))?;
    Ok(checkout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_command_quotes_paths() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn commits_are_hex_of_sha1_or_sha256_length() {
        assert!(is_commit(&"a".repeat(40)));
        assert!(is_commit(&"0".repeat(64)));
        assert!(!is_commit("main"));
        assert!(!is_commit(&"g".repeat(40)));
    }
}
