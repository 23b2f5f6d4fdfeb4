//! The built-in executor: Linux namespaces, overlayfs and `pivot_root`, no
//! external runtime.
//!
//! The parent prepares everything (scratch dir, stub layer, C strings,
//! descriptors of bind sources), then `clone`s a child into new mount, PID,
//! UTS, IPC (and network) namespaces. The child mounts the overlay, pivots
//! into it, builds `/proc`, `/dev`, `/sys` and the extra mounts, forks the
//! command and stays as its init. Setup failures come back through a
//! close-on-exec report pipe as a step and an errno; the command's wait
//! status comes back the same way. All mounts live in the child's mount
//! namespace, so nothing remains on the host when it exits.

mod child;
mod plan;

use crate::Executor;
use crate::caps::CapSet;
use crate::error::ExecError;
use crate::prepare::Prepared;
use crate::pump::pump;
use crate::spec::{Network, RunSpec};
use crate::status::{ExitStatus, RunIo};
use crate::sys::{self, REPORT_ERROR, REPORT_SIZE, REPORT_STATUS, Report};
use plan::{ChildPlan, step};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

/// Runs commands in namespaces created by this process (needs root).
#[derive(Debug, Clone)]
pub struct NamespaceExecutor {
    scratch_root: PathBuf,
}

impl Default for NamespaceExecutor {
    fn default() -> Self {
        Self::new()
    }
}

impl NamespaceExecutor {
    /// An executor keeping its per-run scratch directories in the system
    /// temporary directory.
    pub fn new() -> Self {
        NamespaceExecutor {
            scratch_root: std::env::temp_dir(),
        }
    }

    /// An executor keeping its per-run scratch directories under `dir`.
    pub fn with_scratch_root(dir: impl Into<PathBuf>) -> Self {
        NamespaceExecutor {
            scratch_root: dir.into(),
        }
    }
}

/// Kills and reaps the child if the parent leaves early.
struct Reaper(libc::pid_t);

impl Reaper {
    fn wait(mut self) -> Result<i32, ExecError> {
        let pid = std::mem::replace(&mut self.0, 0);
        wait_pid(pid)
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if self.0 > 0 {
            // SAFETY: signalling and reaping our own child.
            unsafe { libc::kill(self.0, libc::SIGKILL) };
            let _ = wait_pid(self.0);
        }
    }
}

fn wait_pid(pid: libc::pid_t) -> Result<i32, ExecError> {
    loop {
        let mut status = 0;
        // SAFETY: valid status pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            return Ok(status);
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return Err(ExecError::sys("waitpid"));
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), ExecError> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| ExecError::Sys {
        call: "pipe",
        source: e.into(),
    })
}

impl Executor for NamespaceExecutor {
    fn remove_stale(&self) -> Result<Vec<PathBuf>, ExecError> {
        crate::prepare::remove_stale(&self.scratch_root, |_| {})
    }

    fn run(&self, spec: &RunSpec, io: &mut RunIo<'_>) -> Result<ExitStatus, ExecError> {
        if io.cancel.is_cancelled() {
            return Err(ExecError::Cancelled);
        }
        let prep = Prepared::new(spec, &self.scratch_root)?;
        let caps = CapSet::for_security(spec.security)?;
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let (rep_r, rep_w) = pipe()?;
        let lifeline = sys::Lifeline::new().map_err(|source| ExecError::Sys {
            call: "pipe",
            source,
        })?;
        let plan = ChildPlan::new(
            spec,
            &prep,
            caps,
            (rep_w.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()),
            lifeline.child_fd(),
        )?;
        let mut flags =
            libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
        if spec.network == Network::None {
            flags |= libc::CLONE_NEWNET;
        }
        // SAFETY: the child only runs container_main, which makes raw
        // syscalls on the prepared plan and never returns.
        let pid = unsafe { sys::clone_process(flags) };
        if pid == 0 {
            child::container_main(&plan);
        }
        if pid < 0 {
            return Err(ExecError::sys("clone"));
        }
        let reaper = Reaper(pid);
        drop((out_w, err_w, rep_w));
        let pumped = pump(out_r, err_r, Some(rep_r), io, || {
            // SAFETY: killing our child, PID 1 of its namespace: the kernel
            // kills every other process in it.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        })?;
        let init_status = reaper.wait()?;
        drop(lifeline);
        drop(prep);
        if pumped.cancelled {
            return Err(ExecError::Cancelled);
        }
        let mut status = None;
        for chunk in pumped.reports.chunks_exact(REPORT_SIZE) {
            let mut b = [0u8; REPORT_SIZE];
            b.copy_from_slice(chunk);
            let r = Report::from_bytes(&b);
            match r.kind {
                REPORT_ERROR => return Err(setup_error(spec, &r, &plan.descs)),
                REPORT_STATUS => status = ExitStatus::from_wait(r.value),
                _ => {}
            }
        }
        if let Some(e) = pumped.sink_error {
            return Err(ExecError::Sink(e));
        }
        status.ok_or_else(|| {
            ExecError::InitDied(
                ExitStatus::from_wait(init_status)
                    .map_or_else(|| format!("status {init_status}"), |s| s.to_string()),
            )
        })
    }
}

fn setup_error(spec: &RunSpec, r: &Report, descs: &[String]) -> ExecError {
    let source = io::Error::from_raw_os_error(r.value);
    if r.step == step::EXEC {
        let argv0 = spec.argv[0].clone();
        let reason = if r.value == libc::ENOENT && !argv0.contains('/') {
            "executable file not found in $PATH".to_string()
        } else {
            source.to_string()
        };
        return ExecError::Exec { argv0, reason };
    }
    ExecError::Setup {
        step: descs
            .get(r.step as usize)
            .cloned()
            .unwrap_or_else(|| format!("step {}", r.step)),
        source,
    }
}
