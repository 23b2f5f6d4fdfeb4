//! The PID namespace a runtime's container joins: its PID 1 is a process
//! of ours (the keeper) that dies with strata, even by SIGKILL, so the
//! kernel kills every process of the step with it; the runtime's own
//! process cannot promise that, since killing it orphans the container.

use crate::error::ExecError;
use crate::sys::{self, Lifeline, clone_process, errno};

/// PID 1 of a fresh PID namespace; killed (and reaped) when dropped, which
/// kills every process left in the namespace.
pub(super) struct Keeper {
    pid: libc::pid_t,
    _lifeline: Lifeline,
}

impl Keeper {
    /// Starts the keeper.
    pub(super) fn start() -> Result<Self, ExecError> {
        let lifeline = Lifeline::new().map_err(|source| ExecError::Sys {
            call: "pipe",
            source,
        })?;
        let keep = [lifeline.child_fd()];
        // SAFETY: the child only runs keeper_main: raw syscalls on stack
        // data, never returning.
        let pid = unsafe { clone_process(libc::CLONE_NEWPID) };
        if pid == 0 {
            keeper_main(lifeline.child_fd(), &keep);
        }
        if pid < 0 {
            return Err(ExecError::sys("clone (pid namespace keeper)"));
        }
        Ok(Keeper {
            pid,
            _lifeline: lifeline,
        })
    }

    /// The namespace, for the runtime-spec's `linux.namespaces[].path`.
    pub(super) fn namespace_path(&self) -> String {
        format!("/proc/{}/ns/pid", self.pid)
    }

    /// Kills every process of the namespace.
    pub(super) fn kill(&self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.kill();
        let mut status = 0;
        // SAFETY: reaping our own child; a valid status pointer.
        while unsafe { libc::waitpid(self.pid, &mut status, 0) } < 0 && errno() == libc::EINTR {}
    }
}

/// Waits for signals forever, reaping orphans that the namespace hands to
/// its PID 1.
fn keeper_main(lifeline: libc::c_int, keep: &[libc::c_int]) -> ! {
    if sys::tie_to_parent(lifeline, keep).is_err() {
        // SAFETY: _exit never returns.
        unsafe { libc::_exit(1) };
    }
    // SAFETY: sigset operations on a stack value; plain syscalls.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::sigwaitinfo(&set, &mut info);
            let mut status = 0;
            while libc::waitpid(-1, &mut status, libc::WNOHANG) > 0 {}
        }
    }
}
