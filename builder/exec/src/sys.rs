//! Raw system calls for code that runs between `clone` and `execve`.
//!
//! The builder is multithreaded, so a cloned child may find the allocator's
//! locks held by threads that do not exist in it, and glibc's `setuid`
//! family would try to signal those threads. Everything here therefore makes
//! plain system calls on data prepared before the clone: no allocation, no
//! panics, no glibc wrappers that synchronise threads.

use std::ffi::{CStr, c_int, c_ulong};

/// A report from the container to the parent, written to the report pipe
/// (atomic: smaller than `PIPE_BUF`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Report {
    /// [`REPORT_ERROR`] or [`REPORT_STATUS`].
    pub kind: u32,
    /// For an error: the index of the failed step's description.
    pub step: u32,
    /// For an error: errno. For a status: the `waitpid` status word.
    pub value: i32,
}

/// A setup step failed.
pub(crate) const REPORT_ERROR: u32 = 1;
/// The command ended; `value` is its wait status.
pub(crate) const REPORT_STATUS: u32 = 2;

/// The size of one [`Report`] on the wire.
pub(crate) const REPORT_SIZE: usize = std::mem::size_of::<Report>();

impl Report {
    pub(crate) fn to_bytes(self) -> [u8; REPORT_SIZE] {
        let mut out = [0u8; REPORT_SIZE];
        out[0..4].copy_from_slice(&self.kind.to_ne_bytes());
        out[4..8].copy_from_slice(&self.step.to_ne_bytes());
        out[8..12].copy_from_slice(&self.value.to_ne_bytes());
        out
    }

    pub(crate) fn from_bytes(b: &[u8; REPORT_SIZE]) -> Self {
        let word = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
        Report {
            kind: u32::from_ne_bytes(word(0)),
            step: u32::from_ne_bytes(word(4)),
            value: i32::from_ne_bytes(word(8)),
        }
    }
}

/// The calling thread's errno.
pub(crate) fn errno() -> c_int {
    // SAFETY: __errno_location always returns a valid thread-local pointer.
    unsafe { *libc::__errno_location() }
}

/// Writes a report; errors are ignored (the parent sees EOF instead).
pub(crate) fn report(fd: c_int, r: Report) {
    let bytes = r.to_bytes();
    // SAFETY: writing a stack buffer of the given length.
    unsafe {
        libc::write(fd, bytes.as_ptr().cast(), bytes.len());
    }
}

/// Reports a failed step and exits the process.
pub(crate) fn fail(fd: c_int, step: u32, err: c_int) -> ! {
    report(
        fd,
        Report {
            kind: REPORT_ERROR,
            step,
            value: err,
        },
    );
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(127) }
}

/// `clone(flags | SIGCHLD)` without a new stack: fork semantics, in new
/// namespaces as `flags` asks. Returns 0 in the child, the pid in the
/// parent, -1 on error.
///
/// # Safety
/// In the child, only async-signal-safe code may run (see the module docs).
pub(crate) unsafe fn clone_process(flags: c_int) -> libc::pid_t {
    let flags = (flags | libc::SIGCHLD) as c_ulong;
    // SAFETY: a null stack gives fork semantics; the other arguments are unused.
    unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) as libc::pid_t }
}

/// `mount(2)` with optional arguments.
pub(crate) fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: c_ulong,
    data: Option<&CStr>,
) -> Result<(), c_int> {
    let p = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is null or a valid NUL-terminated string.
    let rc = unsafe { libc::mount(p(source), target.as_ptr(), p(fstype), flags, p(data).cast()) };
    if rc == 0 { Ok(()) } else { Err(errno()) }
}

/// Turns a libc return code into `Result`.
pub(crate) fn check(rc: libc::c_long) -> Result<(), c_int> {
    if rc < 0 { Err(errno()) } else { Ok(()) }
}

/// `struct ifreq` for the interface flag ioctls.
#[repr(C)]
pub(crate) struct IfReqFlags {
    pub name: [u8; 16],
    pub flags: libc::c_short,
    pub pad: [u8; 22],
}

/// Brings the loopback interface of the current network namespace up.
pub(crate) fn loopback_up() -> Result<(), c_int> {
    const SIOCGIFFLAGS: libc::c_ulong = 0x8913;
    const SIOCSIFFLAGS: libc::c_ulong = 0x8914;
    // SAFETY: plain socket and ioctl calls on a stack struct of the kernel's layout.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(errno());
        }
        let mut req = IfReqFlags {
            name: [0; 16],
            flags: 0,
            pad: [0; 22],
        };
        req.name[0] = b'l';
        req.name[1] = b'o';
        let mut rc = libc::ioctl(fd, SIOCGIFFLAGS as _, &mut req);
        if rc == 0 {
            req.flags |= libc::IFF_UP as libc::c_short;
            rc = libc::ioctl(fd, SIOCSIFFLAGS as _, &req);
        }
        let err = errno();
        libc::close(fd);
        if rc == 0 { Ok(()) } else { Err(err) }
    }
}

/// `capset(2)` header, version 3.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

/// `capset(2)` data, one of two 32-bit halves.
#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Sets the effective and permitted sets to `mask`, inheritable to empty.
pub(crate) fn capset(mask: u64) -> Result<(), c_int> {
    let header = CapHeader {
        version: 0x2008_0522,
        pid: 0,
    };
    let half = |m: u32| CapData {
        effective: m,
        permitted: m,
        inheritable: 0,
    };
    let data = [half(mask as u32), half((mask >> 32) as u32)];
    // SAFETY: header and data have the kernel's layout and outlive the call.
    check(unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) })
}

/// `open_tree(path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC [| AT_RECURSIVE])`:
/// a detached copy of the mount at `path` (a bind mount not yet attached).
pub(crate) fn open_tree(path: &CStr, recursive: bool) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: a valid path; the returned descriptor is owned by the caller.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as c_int) })
}

/// `move_mount(fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH)`.
pub(crate) fn move_mount(fd: c_int, target: &CStr) -> Result<(), c_int> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
    // SAFETY: valid descriptor and NUL-terminated strings.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            fd,
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
}

/// Mounts an overlay on `root` inside `dir` (the options' relative paths
/// are relative to `dir`) from a short-lived child process, so this
/// process's working directory is never changed. The mount lands in the
/// current mount namespace.
pub(crate) fn mount_overlay_in(dir: &CStr, data: &CStr) -> Result<(), c_int> {
    // SAFETY: the child only makes raw syscalls on prepared strings and exits.
    let pid = unsafe { clone_process(0) };
    if pid < 0 {
        return Err(errno());
    }
    if pid == 0 {
        // SAFETY: plain syscalls; _exit never returns.
        unsafe {
            if libc::chdir(dir.as_ptr()) != 0 {
                libc::_exit(errno());
            }
            let rc = mount(Some(c"overlay"), c"root", Some(c"overlay"), 0, Some(data));
            libc::_exit(rc.err().unwrap_or(0));
        }
    }
    let mut status = 0;
    loop {
        // SAFETY: valid status pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            break;
        }
        if errno() != libc::EINTR {
            return Err(errno());
        }
    }
    match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
        (true, 0) => Ok(()),
        (true, e) => Err(e),
        _ => Err(libc::ECHILD),
    }
}

/// A pipe whose write end only the parent holds: a child polls the read
/// end to learn whether the parent is still alive (end of file: it died).
pub(crate) struct Lifeline {
    read: std::os::fd::OwnedFd,
    /// Held until the lifeline is dropped (after the child was reaped).
    _write: std::os::fd::OwnedFd,
}

impl Lifeline {
    /// A new lifeline (both ends close-on-exec).
    pub(crate) fn new() -> std::io::Result<Self> {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        Ok(Lifeline {
            read,
            _write: write,
        })
    }

    /// The end the child keeps.
    pub(crate) fn child_fd(&self) -> c_int {
        use std::os::fd::AsRawFd;
        self.read.as_raw_fd()
    }
}

/// In a cloned child: close every descriptor but `keep` (sorted), so the
/// child holds no copy of another run's pipes (nor of the lifeline's write
/// end), then ask for SIGKILL when the parent thread dies, and exit at once
/// if it already died before that request took effect.
pub(crate) fn tie_to_parent(lifeline: c_int, keep: &[c_int]) -> Result<(), c_int> {
    close_all_but(keep);
    // SAFETY: prctl with integer arguments.
    check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) } as _)?;
    let mut fds = [libc::pollfd {
        fd: lifeline,
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: a valid array of one pollfd; zero timeout.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) };
    if n != 0 {
        // Readable or hung up: the parent closed its end, so it is gone
        // (or poll failed: do not run untied).
        // SAFETY: _exit never returns.
        unsafe { libc::_exit(126) };
    }
    Ok(())
}

/// Closes every descriptor not in `keep` (sorted ascending).
fn close_all_but(keep: &[c_int]) {
    let close_range = |first: c_int, last: libc::c_uint| {
        // SAFETY: close_range with integer arguments; closing descriptors
        // this process does not need.
        unsafe { libc::syscall(libc::SYS_close_range, first as libc::c_uint, last, 0) };
    };
    let mut next: c_int = 0;
    for &fd in keep {
        if fd > next {
            close_range(next, (fd - 1) as libc::c_uint);
        }
        next = next.max(fd + 1);
    }
    close_range(next, libc::c_uint::MAX);
}
