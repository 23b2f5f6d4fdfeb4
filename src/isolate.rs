//! Process-level setup for builds: a private mount namespace, so every
//! overlay the builder mounts disappears with the process however it ends,
//! and SIGINT/SIGTERM turned into cancellation of the running step.

use anyhow::{Context, Result, bail};
use rustix::mount::{MountPropagationFlags, mount_change};
use rustix::thread::{UnshareFlags, unshare_unsafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use strata_exec::CancelToken;

/// Moves the process into its own mount namespace with private
/// propagation. Must run before any thread is started.
pub fn private_mounts() -> Result<()> {
    if !rustix::process::geteuid().is_root() {
        bail!("strata build needs root (rootless builds are not supported yet)");
    }
    // SAFETY: called before the process starts other threads, so no
    // thread shares the file-system state being unshared.
    unsafe { unshare_unsafe(UnshareFlags::NEWNS) }.context("unshare(CLONE_NEWNS)")?;
    mount_change(
        "/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .context("making mounts private")?;
    Ok(())
}

/// Cancels `token` (killing the running step's processes) on SIGINT or
/// SIGTERM and records that it happened in `interrupted`.
pub fn cancel_on_signals(token: CancelToken, interrupted: Arc<AtomicBool>) -> Result<()> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, flag.clone()).context("installing signal handlers")?;
    }
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            interrupted.store(true, Ordering::SeqCst);
            token.cancel();
        })
        .context("starting the signal thread")?;
    Ok(())
}
