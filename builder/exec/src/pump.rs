//! Streams a child's output pipes to the sinks, watching for cancellation.

use crate::error::ExecError;
use crate::status::RunIo;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// How often cancellation is checked while nothing happens.
const TICK_MS: i32 = 50;

/// What [`pump`] saw.
pub(crate) struct Pumped {
    /// Everything read from the report pipe.
    pub reports: Vec<u8>,
    /// Whether the run was cancelled (and `kill` called).
    pub cancelled: bool,
    /// The first error writing to a sink.
    pub sink_error: Option<io::Error>,
}

/// Copies `stdout` and `stderr` to the sinks and collects `report` until all
/// three reach end of file. When the cancel token fires, calls `kill` once
/// and keeps draining.
pub(crate) fn pump(
    stdout: OwnedFd,
    stderr: OwnedFd,
    report: Option<OwnedFd>,
    io: &mut RunIo<'_>,
    mut kill: impl FnMut(),
) -> Result<Pumped, ExecError> {
    let mut slots: Vec<Option<OwnedFd>> = vec![Some(stdout), Some(stderr), report];
    let mut out = Pumped {
        reports: Vec::new(),
        cancelled: false,
        sink_error: None,
    };
    let mut buf = vec![0u8; 64 * 1024];
    while slots.iter().any(Option::is_some) {
        if !out.cancelled && io.cancel.is_cancelled() {
            out.cancelled = true;
            kill();
        }
        let mut pollfds: Vec<libc::pollfd> = Vec::new();
        let mut which = Vec::new();
        for (i, slot) in slots.iter().enumerate() {
            if let Some(fd) = slot {
                pollfds.push(libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
                which.push(i);
            }
        }
        // SAFETY: pollfds is a valid array of the given length.
        let n = unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as _, TICK_MS) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(ExecError::sys("poll"));
        }
        for (p, &i) in pollfds.iter().zip(&which) {
            if p.revents == 0 {
                continue;
            }
            let Some(fd) = slots[i].as_ref() else {
                continue;
            };
            let read = match rustix::io::read(fd.as_fd(), &mut buf[..]) {
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => continue,
                Err(e) => {
                    return Err(ExecError::Sys {
                        call: "read",
                        source: e.into(),
                    });
                }
            };
            if read == 0 {
                slots[i] = None;
                continue;
            }
            let data = &buf[..read];
            let sink: Option<&mut dyn Write> = match i {
                0 => Some(&mut *io.stdout),
                1 => Some(&mut *io.stderr),
                _ => {
                    out.reports.extend_from_slice(data);
                    None
                }
            };
            if let Some(sink) = sink
                && out.sink_error.is_none()
                && let Err(e) = sink.write_all(data).and_then(|()| sink.flush())
            {
                out.sink_error = Some(e);
            }
        }
    }
    Ok(out)
}
