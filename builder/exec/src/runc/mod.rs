//! An executor that drives an external OCI runtime (`runc`, `crun`, or a
//! compatible binary) with a generated bundle.
//!
//! The overlay is mounted on the bundle's rootfs in this process's mount
//! namespace (by a short-lived helper process, so the relative layer paths
//! keep the options short) and unmounted after the run. The runtime keeps
//! its state in the run's scratch directory (`--root`), so nothing remains
//! on the host afterwards. Runtimes report a command killed by signal N as
//! exit code 128+N, and their own errors on standard error.
//!
//! The container joins a PID namespace whose PID 1 is our [`Keeper`], and
//! the runtime runs with `PR_SET_PDEATHSIG`: a `kill -9` of strata kills
//! the runtime and every process of the step. The runtime state and
//! cgroup such a kill leaves are removed by [`Executor::remove_stale`]
//! (`runtime delete --force`) at the next build.

mod config;
mod keeper;

use crate::Executor;
use crate::caps::CapSet;
use crate::error::ExecError;
use crate::prepare::Prepared;
use crate::pump::pump;
use crate::spec::RunSpec;
use crate::status::{ExitStatus, RunIo};
use keeper::Keeper;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// Runs commands with an external OCI runtime.
#[derive(Debug, Clone)]
pub struct RuncExecutor {
    runtime: PathBuf,
    scratch_root: PathBuf,
}

impl Default for RuncExecutor {
    fn default() -> Self {
        Self::new("runc")
    }
}

impl RuncExecutor {
    /// An executor running `runtime` (a name looked up in `PATH`, or a path).
    pub fn new(runtime: impl Into<PathBuf>) -> Self {
        RuncExecutor {
            runtime: runtime.into(),
            scratch_root: std::env::temp_dir(),
        }
    }

    /// Keeps per-run scratch directories (bundle, runtime state) under `dir`.
    pub fn with_scratch_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.scratch_root = dir.into();
        self
    }

    fn command(&self, state: &Path) -> Command {
        let mut c = Command::new(&self.runtime);
        c.arg("--root").arg(state);
        c
    }

    /// Mounts the overlay on the bundle's rootfs.
    fn mount_overlay(&self, prep: &Prepared) -> Result<(), ExecError> {
        let data = format!("{},index=off,metacopy=off", prep.overlay_data);
        let scratch = cpath(prep.dir())?;
        let data_c = CString::new(data).map_err(|_| ExecError::InvalidSpec("NUL in path"))?;
        let plain = CString::new(prep.overlay_data.clone())
            .map_err(|_| ExecError::InvalidSpec("NUL in path"))?;
        let mut rc = crate::sys::mount_overlay_in(&scratch, &data_c);
        if rc == Err(libc::EINVAL) {
            rc = crate::sys::mount_overlay_in(&scratch, &plain);
        }
        rc.map_err(|e| {
            ExecError::prepare(
                "mount overlay on",
                &prep.rootfs,
                std::io::Error::from_raw_os_error(e),
            )
        })?;
        Ok(())
    }

    fn runtime_error(&self, message: impl Into<String>) -> ExecError {
        ExecError::Runtime {
            runtime: self.runtime.clone(),
            message: message.into(),
        }
    }
}

/// Unmounts the bundle rootfs when dropped.
struct Unmount(CString);

impl Drop for Unmount {
    fn drop(&mut self) {
        // SAFETY: unmounting a path we mounted.
        unsafe { libc::umount2(self.0.as_ptr(), libc::MNT_DETACH) };
    }
}

fn cpath(p: &Path) -> Result<CString, ExecError> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| ExecError::InvalidSpec("NUL byte in a path"))
}

impl Executor for RuncExecutor {
    fn remove_stale(&self) -> Result<Vec<PathBuf>, ExecError> {
        crate::prepare::remove_stale(&self.scratch_root, |dir| {
            // The runtime's state (and its cgroup) of a container whose
            // strata was killed: `delete --force` removes both.
            let state = dir.join("state");
            let Ok(entries) = std::fs::read_dir(&state) else {
                return;
            };
            for entry in entries.flatten() {
                let _ = self
                    .command(&state)
                    .arg("delete")
                    .arg("--force")
                    .arg(entry.file_name())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        })
    }

    fn run(&self, spec: &RunSpec, io: &mut RunIo<'_>) -> Result<ExitStatus, ExecError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        if io.cancel.is_cancelled() {
            return Err(ExecError::Cancelled);
        }
        let prep = Prepared::new(spec, &self.scratch_root)?;
        let caps = CapSet::for_security(spec.security)?;
        let keeper = Keeper::start()?;
        let config = config::build(spec, &prep, &caps, &keeper.namespace_path())?;
        let bundle = prep.dir().join("bundle");
        let state = prep.dir().join("state");
        for d in [&bundle, &state] {
            std::fs::create_dir(d).map_err(|e| ExecError::prepare("mkdir", d, e))?;
        }
        let json =
            serde_json::to_vec_pretty(&config).map_err(|e| self.runtime_error(e.to_string()))?;
        let config_path = bundle.join("config.json");
        std::fs::write(&config_path, json)
            .map_err(|e| ExecError::prepare("write", &config_path, e))?;

        // A plain root is the bundle's root as it is; else an overlay.
        let _unmount = if spec.plain_root {
            None
        } else {
            self.mount_overlay(&prep)?;
            Some(Unmount(cpath(&prep.rootfs)?))
        };

        let id = format!(
            "strata-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let parent = std::process::id() as libc::pid_t;
        let mut command = self.command(&state);
        // SAFETY: the closure makes async-signal-safe calls only (prctl,
        // getppid, _exit).
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0
                    || libc::getppid() != parent
                {
                    libc::_exit(126);
                }
                Ok(())
            })
        };
        let mut child = command
            .arg("run")
            .arg("--bundle")
            .arg(&bundle)
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.runtime_error(format!("cannot start: {e}")))?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(self.runtime_error("no output pipes"));
        };
        let runtime_pid = child.id() as libc::pid_t;
        let pumped = pump(stdout.into(), stderr.into(), None, io, || {
            keeper.kill();
            let killed = self
                .command(&state)
                .args(["kill", &id, "KILL"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !killed {
                // SAFETY: signalling our own child process.
                unsafe { libc::kill(runtime_pid, libc::SIGKILL) };
            }
        });
        let waited = child.wait();
        // Whatever the command left running in the background dies here,
        // as it would with the namespace of its own PID 1.
        drop(keeper);
        let _ = self
            .command(&state)
            .args(["delete", "--force", &id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let pumped = pumped?;
        let status = waited.map_err(|e| self.runtime_error(format!("wait: {e}")))?;
        if pumped.cancelled {
            return Err(ExecError::Cancelled);
        }
        if let Some(e) = pumped.sink_error {
            return Err(ExecError::Sink(e));
        }
        match (status.code(), status.signal()) {
            (Some(code), _) => Ok(ExitStatus::Exited(code)),
            (None, Some(sig)) => Err(self.runtime_error(format!("runtime killed by signal {sig}"))),
            (None, None) => Err(self.runtime_error("unknown exit status")),
        }
    }
}
