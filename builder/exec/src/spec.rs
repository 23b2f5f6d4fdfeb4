//! What to run: [`RunSpec`] and its parts.

use crate::error::ExecError;
use std::path::PathBuf;

/// The hostname BuildKit gives RUN containers.
pub const DEFAULT_HOSTNAME: &str = "buildkitsandbox";

/// The `PATH` used to find `argv[0]` when the environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// One command to run in a container on an overlay snapshot.
///
/// The root filesystem is `overlay(lowerdir = lower_dirs, upperdir, workdir)`:
/// every write lands in `upper_dir`, which the caller keeps as the layer diff.
/// The executor leaves no trace of its own in `upper_dir` (mount points it
/// needs come from a private stub layer), except the working directory when
/// it had to be created, as BuildKit does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// Read-only snapshot directories, top (newest) first. May be empty.
    pub lower_dirs: Vec<PathBuf>,
    /// The overlay upper directory (must exist, on the same filesystem as
    /// `work_dir`).
    pub upper_dir: PathBuf,
    /// The overlay work directory (must exist and be empty).
    pub work_dir: PathBuf,
    /// The command; `argv[0]` without a `/` is searched in the environment's
    /// `PATH` (or [`DEFAULT_PATH`]) inside the container.
    pub argv: Vec<String>,
    /// The environment, in order. `HOME` is added from the image's
    /// `/etc/passwd` when missing, as runc does.
    pub env: Vec<(String, String)>,
    /// Absolute working directory; created (mode 0755, owned by the user) when
    /// missing, as BuildKit does.
    pub cwd: String,
    /// The numeric user to run as (see [`crate::resolve_user`]).
    pub user: Identity,
    /// The container's hostname.
    pub hostname: String,
    /// Network isolation.
    pub network: Network,
    /// Extra mounts, applied in order of path depth (parents first).
    pub mounts: Vec<MountSpec>,
    /// Content bind-mounted read-only over `/etc/hosts` (`None`: leave the
    /// image's file alone).
    pub hosts: Option<Vec<u8>>,
    /// Content bind-mounted read-only over `/etc/resolv.conf`.
    pub resolv_conf: Option<Vec<u8>>,
    /// Capabilities and related settings.
    pub security: Security,
    /// Set `no_new_privs` before exec. BuildKit resets it to false for RUN
    /// (setuid binaries keep working), so the default is false.
    pub no_new_privs: bool,
    /// Mount a read-only sysfs at `/sys` (BuildKit does).
    pub mount_sysfs: bool,
    /// `upper_dir` is a complete root filesystem, used as the root as it
    /// is (bind-mounted, no overlay): for stores on a file system without
    /// overlayfs, whose caller diffs the tree itself. `lower_dirs` must be
    /// empty; `work_dir` is not used. Mount points the image lacks are
    /// created in it for the run and removed afterwards, their parent
    /// directories' times restored.
    pub plain_root: bool,
    /// The size of the `/dev/shm` tmpfs in bytes (`None`: 64 MiB, as
    /// Docker's default).
    pub shm_size: Option<u64>,
    /// Resource limits the command starts with.
    pub rlimits: Vec<crate::Rlimit>,
}

impl RunSpec {
    /// A spec with BuildKit's defaults: root, `/` as working directory, host
    /// network, hostname `buildkitsandbox`, BuildKit's default `/etc/hosts`,
    /// no `resolv.conf` override (set one with [`crate::host_resolv_conf`]),
    /// sandbox security, sysfs mounted.
    pub fn new(
        lower_dirs: Vec<PathBuf>,
        upper_dir: PathBuf,
        work_dir: PathBuf,
        argv: Vec<String>,
    ) -> Self {
        RunSpec {
            lower_dirs,
            upper_dir,
            work_dir,
            argv,
            env: Vec::new(),
            cwd: "/".to_string(),
            user: Identity::default(),
            hostname: DEFAULT_HOSTNAME.to_string(),
            network: Network::Host,
            mounts: Vec::new(),
            hosts: Some(crate::hosts::default_hosts(DEFAULT_HOSTNAME).into_bytes()),
            resolv_conf: None,
            security: Security::Sandbox,
            no_new_privs: false,
            mount_sysfs: true,
            plain_root: false,
            shm_size: None,
            rlimits: Vec::new(),
        }
    }

    /// The `/dev/shm` tmpfs's size option.
    pub(crate) fn shm_size_option(&self) -> String {
        match self.shm_size {
            Some(bytes) => format!("size={bytes}"),
            None => "size=65536k".to_string(),
        }
    }

    /// Checks what can be checked without touching the filesystem.
    pub fn validate(&self) -> Result<(), ExecError> {
        if self.plain_root && !self.lower_dirs.is_empty() {
            return Err(ExecError::InvalidSpec(
                "a plain root takes no lower directories",
            ));
        }
        if self.argv.is_empty() || self.argv[0].is_empty() {
            return Err(ExecError::InvalidSpec("empty argv"));
        }
        for s in self.argv.iter().chain(self.env.iter().map(|(k, _)| k)) {
            if s.contains('\0') {
                return Err(ExecError::InvalidSpec("NUL byte in argv or env"));
            }
        }
        for (k, v) in &self.env {
            if k.is_empty() || k.contains('=') || v.contains('\0') {
                return Err(ExecError::InvalidSpec(
                    "bad environment variable name or value",
                ));
            }
        }
        if self.hostname.contains('\0') || self.hostname.len() > 64 {
            return Err(ExecError::InvalidSpec("hostname too long or contains NUL"));
        }
        container_path(&self.cwd)?;
        for m in &self.mounts {
            let target = container_path(m.target())?;
            if target.is_empty() {
                return Err(ExecError::InvalidPath {
                    path: m.target().to_string(),
                    reason: "cannot mount over /",
                });
            }
        }
        Ok(())
    }

    /// The value of `name` in [`RunSpec::env`] (the last one wins).
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Splits an absolute container path into clean components (`.` and `..`
/// resolved lexically, `..` never above `/`).
pub(crate) fn container_path(path: &str) -> Result<Vec<String>, ExecError> {
    if !path.starts_with('/') {
        return Err(ExecError::InvalidPath {
            path: path.to_string(),
            reason: "not absolute",
        });
    }
    if path.contains('\0') {
        return Err(ExecError::InvalidPath {
            path: path.to_string(),
            reason: "contains NUL",
        });
    }
    let mut out: Vec<String> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c.to_string()),
        }
    }
    Ok(out)
}

/// A numeric user: what the command runs as.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary group ids (`setgroups`); empty means none.
    pub additional_gids: Vec<u32>,
}

/// `RUN --network`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Network {
    /// Share the host's network namespace (BuildKit's default).
    #[default]
    Host,
    /// A new network namespace with only the loopback interface, up.
    None,
}

/// `RUN --security`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Security {
    /// Docker's default capability set; masked and read-only `/proc` paths.
    #[default]
    Sandbox,
    /// Every capability the builder has; `/proc` and `/sys` unmasked.
    Insecure,
}

/// An extra mount inside the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSpec {
    /// A host file or directory bind-mounted at `target`.
    Bind {
        /// Host path.
        source: PathBuf,
        /// Absolute container path.
        target: String,
        /// Mount read-only.
        read_only: bool,
    },
    /// A fresh tmpfs.
    Tmpfs {
        /// Absolute container path.
        target: String,
        /// Size limit in bytes.
        size: Option<u64>,
    },
    /// A file with the given content, mounted read-only (a secret). The
    /// content is written to a private temporary file that is removed after
    /// the run; it never reaches the upper dir.
    File {
        /// Absolute container path.
        target: String,
        /// The file's bytes.
        content: Vec<u8>,
        /// Permission bits (BuildKit's default for secrets is 0400).
        mode: u32,
        /// Owner.
        uid: u32,
        /// Group.
        gid: u32,
    },
}

impl MountSpec {
    /// The container path.
    pub fn target(&self) -> &str {
        match self {
            MountSpec::Bind { target, .. }
            | MountSpec::Tmpfs { target, .. }
            | MountSpec::File { target, .. } => target,
        }
    }
}
