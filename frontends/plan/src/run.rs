//! `RUN` steps and their mounts.

use crate::config::Command;
use crate::copy::{CopySource, HeredocFile};
use serde::{Deserialize, Serialize};

/// A `RUN` instruction, expanded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStep {
    /// The command. Shell form is wrapped by the builder with the shell in
    /// effect (`SHELL`, or the image's, or `/bin/sh -c`), because the base
    /// image's shell is only known once the image is resolved.
    pub command: Command,
    /// Heredoc documents that the command reads as files. BuildKit mounts a
    /// single heredoc starting with `#!` read-only at `/dev/pipes/NAME` and
    /// runs that file; those files are listed here. Other heredoc forms are
    /// folded into [`RunStep::command`] by the frontend.
    pub inline_files: Vec<HeredocFile>,
    /// `--mount=…` definitions, in the order given.
    pub mounts: Vec<Mount>,
    /// `--network=…`.
    pub network: NetworkMode,
    /// `--security=…`.
    pub security: SecurityMode,
    /// What `strata build --add-host`, `--shm-size` and `--ulimit` give
    /// every RUN. Left out of the encoding when unset, so keys of steps
    /// built without these flags do not change.
    #[serde(default, skip_serializing_if = "RunSandbox::is_unset")]
    pub sandbox: RunSandbox,
}

/// The container settings of a RUN that come from the build's flags, not
/// from the Dockerfile (BuildKit's ExecOp meta: extra hosts, shm size,
/// ulimits). They are part of the step's definition, so of its key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSandbox {
    /// `--add-host`: (name, IP address) lines appended to the default
    /// `/etc/hosts`, in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<(String, String)>,
    /// `--shm-size`: the size of `/dev/shm` in bytes (unset: 64 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<u64>,
    /// `--ulimit`: resource limits set before the command starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ulimits: Vec<Ulimit>,
}

impl RunSandbox {
    /// Whether nothing is set (the default container).
    pub fn is_unset(&self) -> bool {
        *self == RunSandbox::default()
    }
}

/// One `--ulimit NAME=SOFT[:HARD]`; `None` is unlimited (`-1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    /// The resource, as docker names it (`nofile`, `nproc`, `core`, …).
    pub name: String,
    /// The soft limit.
    pub soft: Option<u64>,
    /// The hard limit.
    pub hard: Option<u64>,
}

/// `RUN --network`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// The builder's default (the host network, as BuildKit's default).
    #[default]
    Default,
    /// An isolated network namespace with only loopback.
    None,
    /// The host's network namespace.
    Host,
}

/// `RUN --security`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecurityMode {
    /// Docker's default capability set.
    #[default]
    Sandbox,
    /// All capabilities (needs the builder to allow it).
    Insecure,
}

/// One `RUN --mount=…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mount {
    /// `type=bind` (the default type).
    Bind(BindMount),
    /// `type=cache`.
    Cache(CacheMount),
    /// `type=tmpfs`.
    Tmpfs(TmpfsMount),
    /// `type=secret`.
    Secret(SecretMount),
    /// `type=ssh`.
    Ssh(SshMount),
}

impl Mount {
    /// The absolute path inside the container where the mount appears.
    pub fn target(&self) -> &str {
        match self {
            Mount::Bind(m) => &m.target,
            Mount::Cache(m) => &m.target,
            Mount::Tmpfs(m) => &m.target,
            Mount::Secret(m) => &m.target,
            Mount::Ssh(m) => &m.target,
        }
    }

    /// The source a bind or cache mount reads from, if any.
    pub fn from(&self) -> Option<&CopySource> {
        match self {
            Mount::Bind(m) => Some(&m.from),
            Mount::Cache(m) => m.from.as_ref(),
            _ => None,
        }
    }
}

/// `--mount=type=bind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindMount {
    /// Mount point (absolute, resolved against the working directory).
    pub target: String,
    /// Path inside the source (`source=`), default `/`.
    pub source: String,
    /// `from=`: the build context (default), a stage, an image or a named context.
    pub from: CopySource,
    /// `rw`/`readwrite`: writes are allowed but discarded after the step.
    pub read_write: bool,
}

/// How concurrent builds share one cache mount (`sharing=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CacheSharing {
    /// Many writers at once.
    #[default]
    Shared,
    /// A new empty directory when the cache is in use.
    Private,
    /// Writers wait for each other.
    Locked,
}

/// `--mount=type=cache`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheMount {
    /// Mount point.
    pub target: String,
    /// `id=`, defaulting to the target as in BuildKit.
    pub id: String,
    /// `sharing=`.
    pub sharing: CacheSharing,
    /// `from=`: seeds an empty cache from a stage or image.
    pub from: Option<CopySource>,
    /// `source=`: subpath of `from`.
    pub source: Option<String>,
    /// `ro`/`readonly`.
    pub read_only: bool,
    /// `mode=` of a new cache directory (octal), default 0755.
    pub mode: u32,
    /// `uid=` of a new cache directory.
    pub uid: u32,
    /// `gid=` of a new cache directory.
    pub gid: u32,
}

/// `--mount=type=tmpfs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TmpfsMount {
    /// Mount point.
    pub target: String,
    /// `size=` in bytes, if limited.
    pub size: Option<u64>,
}

/// `--mount=type=secret`. The secret's value never reaches a layer or a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretMount {
    /// `id=`, defaulting to the base name of the target.
    pub id: String,
    /// Mount point (default `/run/secrets/ID`); empty when only `env=` is used.
    pub target: String,
    /// `env=`: also (or only) expose the secret as this environment variable.
    pub env: Option<String>,
    /// `required=true`: fail when the secret is not provided.
    pub required: bool,
    /// `mode=`, default 0400.
    pub mode: u32,
    /// `uid=`.
    pub uid: u32,
    /// `gid=`.
    pub gid: u32,
}

/// `--mount=type=ssh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshMount {
    /// `id=`, default `default`.
    pub id: String,
    /// Socket path (default `/run/buildkit/ssh_agent.N`).
    pub target: String,
    /// `required=true`.
    pub required: bool,
    /// `mode=`, default 0600.
    pub mode: u32,
    /// `uid=`.
    pub uid: u32,
    /// `gid=`.
    pub gid: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(sandbox: RunSandbox) -> RunStep {
        RunStep {
            command: Command::Shell("true".into()),
            inline_files: vec![],
            mounts: vec![],
            network: NetworkMode::Default,
            security: SecurityMode::Sandbox,
            sandbox,
        }
    }

    #[test]
    fn an_unset_sandbox_leaves_the_encoding_as_before_it_existed() {
        let plain = serde_json::to_string(&run(RunSandbox::default())).unwrap_or_default();
        assert_eq!(
            plain,
            r#"{"command":{"Shell":"true"},"inline_files":[],"mounts":[],"network":"Default","security":"Sandbox"}"#
        );
        let shm = RunSandbox {
            shm_size: Some(1),
            ..Default::default()
        };
        let with = serde_json::to_string(&run(shm)).unwrap_or_default();
        assert!(with.contains(r#""sandbox":{"shm_size":1}"#), "{with}");
    }
}
