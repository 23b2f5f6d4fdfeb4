//! The main context of a build, wherever it comes from (a directory, a
//! tar on stdin, a git or HTTP URL), and the URLs of `--build-context`.
//!
//! URLs are fetched before the build by `strata_builder::worker::remote`
//! into locked directories under the store's `tmp/`, kept while the build
//! runs and removed after it. The Dockerfile follows buildx: `-f -` is
//! stdin, an absolute `-f` a local file, a relative one a path inside the
//! remote context; a URL that is not an archive is the Dockerfile itself.
//! As in BuildKit, no `.dockerignore` applies to a remote main context.

use crate::cli::BuildArgs;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use strata_builder::worker::{RemoteContext, RemoteKind, RemoteOptions, fetch_context};
use strata_store::Store;

/// Whether a context argument is a URL (git or HTTP) rather than a path.
pub fn is_remote(spec: &str) -> bool {
    RemoteKind::of(spec).is_some()
}

/// Whether a build needs the store to fetch its contexts (even for
/// `--print`).
pub fn any_remote(args: &BuildArgs) -> bool {
    is_remote(&args.context)
        || args
            .build_contexts
            .iter()
            .filter_map(|spec| spec.split_once('=').map(|(_, source)| source))
            .any(|source| {
                source.starts_with("git://") || source.starts_with("git@") || is_http(source)
            })
}

fn is_http(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// The main context of a build.
pub struct MainContext {
    /// The directory COPY reads from.
    pub path: PathBuf,
    /// A temp directory (stdin, a URL): its stat cache is not kept.
    pub temporary: bool,
    /// The URL, for a remote context.
    url: Option<String>,
    /// The commit of a git context.
    commit: Option<String>,
    /// The Dockerfile a URL was, when it was one.
    dockerfile: Option<PathBuf>,
    _stdin: Option<tempfile::TempDir>,
    _remote: Option<RemoteContext>,
}

impl MainContext {
    /// A local directory as the context.
    pub fn local(path: &Path) -> MainContext {
        MainContext {
            path: path.to_path_buf(),
            temporary: false,
            url: None,
            commit: None,
            dockerfile: None,
            _stdin: None,
            _remote: None,
        }
    }

    /// `CONTEXT` of `strata build`: `-` (stdin), a URL (fetched into the
    /// store's `tmp/`; `store` is needed then) or a directory.
    pub fn open(args: &BuildArgs, store: Option<&Store>) -> Result<MainContext> {
        let mut main = MainContext::local(Path::new(&args.context));
        if args.context == "-" {
            if args.file.as_deref() == Some("-") {
                bail!("the context and the Dockerfile cannot both come from stdin");
            }
            let dir = crate::cmd::buildopts::context_from_stdin()?;
            main.path = dir.path().to_path_buf();
            main.temporary = true;
            main._stdin = Some(dir);
        } else if is_remote(&args.context) {
            let Some(store) = store else {
                bail!("build context {}: a URL needs the store", args.context);
            };
            let build_args = crate::cmd::build::parse_build_args(&args.build_args)?;
            let keep_git_dir = match build_args.get("BUILDKIT_CONTEXT_KEEP_GIT_DIR") {
                Some(v) => parse_bool(v).with_context(|| {
                    format!("--build-arg BUILDKIT_CONTEXT_KEEP_GIT_DIR={v}: expected a boolean")
                })?,
                None => false,
            };
            let opts = RemoteOptions {
                agent: default_agent(args)?,
                keep_git_dir,
                unpack: true,
            };
            let remote = fetch_context(store, &args.context, &opts)
                .with_context(|| format!("build context {}", args.context))?;
            main.path = remote.root().to_path_buf();
            main.temporary = true;
            main.url = Some(args.context.clone());
            main.commit = remote.commit().map(str::to_string);
            main.dockerfile = remote.dockerfile().map(Path::to_path_buf);
            main._remote = Some(remote);
        }
        Ok(main)
    }

    /// A line saying what a remote context is (`None` for a local one).
    pub fn note(&self) -> Option<String> {
        let url = self.url.as_deref()?;
        Some(match &self.commit {
            Some(commit) => format!("build context {url}: commit {commit}"),
            None => format!("build context {url}: downloaded"),
        })
    }

    /// The Dockerfile to read and the name to show for it, for `-f FILE`
    /// (`None`: stdin).
    pub fn dockerfile(&self, file: Option<&str>) -> Result<Option<(PathBuf, String)>> {
        if file == Some("-") {
            return Ok(None);
        }
        let Some(url) = &self.url else {
            let path = match file {
                Some(f) => PathBuf::from(f),
                None => self.path.join("Dockerfile"),
            };
            let name = path.display().to_string();
            return Ok(Some((path, name)));
        };
        if let Some(path) = &self.dockerfile {
            // As BuildKit: a URL that is not an archive is the Dockerfile,
            // whatever -f says.
            return Ok(Some((path.clone(), url.clone())));
        }
        match file {
            Some(f) if Path::new(f).is_absolute() => Ok(Some((PathBuf::from(f), f.to_string()))),
            file => {
                let rel = file.unwrap_or("Dockerfile");
                let path = inside(&self.path, rel)
                    .with_context(|| format!("Dockerfile {rel} in build context {url}"))?;
                Ok(Some((path, format!("{url}: {rel}"))))
            }
        }
    }
}

/// `rel` under `root`, refused when it (or a symbolic link on the way)
/// leads out of `root`. A missing file is left for the reader to report.
fn inside(root: &Path, rel: &str) -> Result<PathBuf> {
    let path = root.join(rel);
    let top = root.canonicalize()?;
    match path.canonicalize() {
        Ok(real) if !real.starts_with(&top) => bail!("the path leads out of the context"),
        Ok(real) => Ok(real),
        Err(_) if Path::new(rel).components().any(|c| c.as_os_str() == "..") => {
            bail!("the path leads out of the context")
        }
        Err(_) => Ok(path),
    }
}

/// The remote named contexts of one build (`--build-context NAME=URL`),
/// kept until the build ends.
pub struct NamedRemotes<'a> {
    store: Option<&'a Store>,
    agent: Option<PathBuf>,
    held: Vec<RemoteContext>,
}

impl<'a> NamedRemotes<'a> {
    /// Fetches into `store` (required once a URL is given), over ssh with
    /// the build's `--ssh default` agent.
    pub fn new(args: &BuildArgs, store: Option<&'a Store>) -> Result<NamedRemotes<'a>> {
        Ok(NamedRemotes {
            store,
            agent: default_agent(args)?,
            held: Vec::new(),
        })
    }

    /// The directory of `source` when it is a URL BuildKit takes as a
    /// named context (a git repository, or a file over HTTP(S) kept as
    /// `context`), fetched now; `None` for other sources.
    pub fn fetch(&mut self, name: &str, source: &str) -> Result<Option<PathBuf>> {
        // BuildKit's named-context schemes: git, `git@`, http, https.
        let git = source.starts_with("git://") || source.starts_with("git@");
        if !git && !is_http(source) {
            return Ok(None);
        }
        let Some(store) = self.store else {
            bail!("--build-context {name}={source}: a URL needs the store");
        };
        let opts = RemoteOptions {
            agent: self.agent.clone(),
            keep_git_dir: false,
            unpack: false,
        };
        let remote = fetch_context(store, source, &opts)
            .with_context(|| format!("--build-context {name}={source}"))?;
        let path = remote.root().to_path_buf();
        self.held.push(remote);
        Ok(Some(path))
    }
}

/// The `--ssh default` agent, for git over ssh.
fn default_agent(args: &BuildArgs) -> Result<Option<PathBuf>> {
    Ok(crate::cmd::buildopts::ssh_agents(&args.ssh)?
        .get("default")
        .cloned())
}

/// Go's `strconv.ParseBool`, as BuildKit reads the build argument.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_inside_the_context_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ctx");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/Dockerfile"), "FROM scratch\n").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("out")).unwrap();
        let real = root.canonicalize().unwrap();
        assert_eq!(
            inside(&root, "sub/Dockerfile").unwrap(),
            real.join("sub/Dockerfile")
        );
        assert_eq!(inside(&root, "missing").unwrap(), root.join("missing"));
        for bad in ["../x", "out/passwd", "sub/../../x"] {
            assert!(inside(&root, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn named_urls_are_remote_only_for_git_and_http() {
        assert!(is_remote("https://h/r.git#main"));
        assert!(is_remote("http://127.0.0.1:1/ctx.tar"));
        assert!(!is_remote("./ctx"));
        assert!(!is_remote("/abs/dir"));
    }
}
