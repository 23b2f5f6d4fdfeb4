//! Runs `RUN` steps in isolated Linux containers on overlay snapshots.
//!
//! A [`RunSpec`] describes one command: the snapshot stack (read-only lower
//! dirs, an upper dir that receives every write and becomes the layer diff),
//! argv, environment, working directory, user, hostname, network mode,
//! extra mounts, `/etc/hosts` and `/etc/resolv.conf` contents and the
//! security mode. An [`Executor`] runs it and returns the command's
//! [`ExitStatus`]; a non-zero exit is a result, not an error.
//!
//! Two executors implement the trait:
//! - [`NamespaceExecutor`], built in: new mount, PID, UTS, IPC (and network)
//!   namespaces, `pivot_root` into the overlay, a tiny init that reaps
//!   zombies and forwards signals, Docker's default capabilities.
//! - [`RuncExecutor`]: writes an OCI runtime-spec bundle and runs `runc`
//!   (or `crun`, or any compatible runtime).
//!
//! ```no_run
//! use strata_exec::{Executor, NamespaceExecutor, RunIo, RunSpec};
//! let spec = RunSpec::new(
//!     vec!["/snapshots/base".into()],
//!     "/tmp/upper".into(),
//!     "/tmp/work".into(),
//!     vec!["/bin/sh".into(), "-c".into(), "echo hi > /greeting".into()],
//! );
//! let (mut out, mut err) = (Vec::new(), Vec::new());
//! let status = NamespaceExecutor::new().run(&spec, &mut RunIo::new(&mut out, &mut err))?;
//! assert!(status.success());
//! # Ok::<(), strata_exec::ExecError>(())
//! ```

mod caps;
mod error;
mod hosts;
mod native;
mod plain;
mod prepare;
mod pump;
mod rlimit;
mod runc;
mod spec;
mod status;
mod sys;
mod user;
mod view;

pub use caps::{CAP_NAMES, CapSet, DOCKER_DEFAULT_CAPS, docker_default_mask};
pub use error::ExecError;
pub use hosts::{default_hosts, host_resolv_conf, resolv_conf_for};
pub use native::NamespaceExecutor;
pub use prepare::copy_times;
pub use rlimit::Rlimit;
pub use runc::RuncExecutor;
pub use spec::{DEFAULT_HOSTNAME, DEFAULT_PATH, Identity, MountSpec, Network, RunSpec, Security};
pub use status::{CancelToken, ExitStatus, RunIo};
pub use user::{ResolvedUser, UserError, resolve_user, resolve_user_in_layers};

/// Something that runs a [`RunSpec`] to completion.
pub trait Executor: Send + Sync {
    /// Runs the command, streaming its output to `io` and returning how it
    /// ended. Returns [`ExecError::Cancelled`] after `io.cancel` fired (the
    /// whole process tree is killed first).
    fn run(&self, spec: &RunSpec, io: &mut RunIo<'_>) -> Result<ExitStatus, ExecError>;

    /// Removes what runs of killed processes left in the scratch root
    /// (scratch directories no live run holds, and for an external runtime
    /// its stale containers); returns the directories removed.
    ///
    /// Call it only while no other process starts runs in the same scratch
    /// root: a directory is locked just after it is created.
    fn remove_stale(&self) -> Result<Vec<std::path::PathBuf>, ExecError>;
}
