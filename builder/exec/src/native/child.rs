//! The code that runs in the cloned child: it becomes PID 1 of the new
//! namespaces, sets up the root filesystem, forks the command and stays as
//! a tiny init that forwards signals and reaps zombies.
//!
//! Nothing here allocates or may panic (see [`crate::sys`]).

use super::plan::{ChildPlan, Op, OpKind, step};
use crate::sys::{self, REPORT_STATUS, Report, check, errno, fail, mount};
use std::ffi::c_int;

/// Runs the container's PID 1. Never returns.
pub(super) fn container_main(plan: &ChildPlan) -> ! {
    let fd = plan.report_fd;
    let or_fail = |step: u32, r: Result<(), c_int>| {
        if let Err(e) = r {
            fail(fd, step, e);
        }
    };
    // First: if strata dies (even by SIGKILL), this init dies, and with it,
    // as PID 1 of its namespace, every process of the step.
    or_fail(
        step::PARENT,
        sys::tie_to_parent(plan.lifeline_fd, &plan.keep_fds),
    );
    if plan.loopback {
        or_fail(step::LOOPBACK, sys::loopback_up());
    }
    let host = plan.hostname.as_bytes();
    // SAFETY: a valid buffer and its length.
    or_fail(
        step::HOSTNAME,
        check(unsafe { libc::sethostname(host.as_ptr().cast(), host.len()) } as _),
    );
    or_fail(
        step::PRIVATE,
        mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None),
    );
    // SAFETY: valid NUL-terminated path.
    or_fail(
        step::CHDIR_SCRATCH,
        check(unsafe { libc::chdir(plan.scratch.as_ptr()) } as _),
    );
    let overlay = |data| {
        mount(
            Some(c"overlay"),
            &plan.root_name,
            Some(c"overlay"),
            0,
            Some(data),
        )
    };
    if plan.plain_root {
        // The upper dir ("u" in the scratch dir) is the whole root.
        or_fail(
            step::OVERLAY,
            mount(
                Some(c"u"),
                &plan.root_name,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            ),
        );
    } else if overlay(&plan.overlay_data) == Err(libc::EINVAL) {
        or_fail(step::OVERLAY, overlay(&plan.overlay_data_plain));
    } else {
        or_fail(step::OVERLAY, overlay(&plan.overlay_data));
    }
    or_fail(step::PIVOT, pivot());
    for op in &plan.ops {
        or_fail(op.desc, apply(op, plan));
    }
    // SAFETY: valid NUL-terminated path.
    or_fail(
        step::CWD,
        check(unsafe { libc::chdir(plan.cwd.as_ptr()) } as _),
    );
    for cap in 0..=plan.caps.last_cap.min(63) {
        if plan.caps.mask & (1u64 << cap) == 0 {
            // SAFETY: prctl with integer arguments.
            let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            if rc != 0 && errno() != libc::EINVAL {
                fail(fd, step::BOUNDING, errno());
            }
        }
    }

    // Block every signal: the init receives them with sigwaitinfo.
    // SAFETY: sigset operations on a stack value.
    let all = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    // SAFETY: we are single-threaded here; the child only runs command_main.
    let pid = unsafe { sys::clone_process(0) };
    if pid < 0 {
        fail(fd, step::FORK, errno());
    }
    if pid == 0 {
        command_main(plan);
    }
    // SAFETY: closing our copies of the output pipes.
    unsafe {
        libc::close(plan.stdout_fd);
        libc::close(plan.stderr_fd);
    }
    init_loop(fd, pid, &all)
}

/// Forwards signals to the command and reaps every child; exits when the
/// command has ended, after reporting its status.
fn init_loop(fd: c_int, command: libc::pid_t, all: &libc::sigset_t) -> ! {
    loop {
        // SAFETY: a zeroed siginfo is a valid output buffer.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid set and buffer.
        let sig = unsafe { libc::sigwaitinfo(all, &mut info) };
        if sig < 0 {
            continue;
        }
        if sig != libc::SIGCHLD {
            // SAFETY: kill with integer arguments.
            unsafe { libc::kill(command, sig) };
            continue;
        }
        loop {
            let mut status = 0;
            // SAFETY: valid status pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            if pid == command {
                sys::report(
                    fd,
                    Report {
                        kind: REPORT_STATUS,
                        step: 0,
                        value: status,
                    },
                );
                // SAFETY: _exit never returns.
                unsafe { libc::_exit(0) };
            }
        }
    }
}

/// The command's process: credentials, capabilities, stdio, exec.
fn command_main(plan: &ChildPlan) -> ! {
    let fd = plan.report_fd;
    let or_fail = |step: u32, r: Result<(), c_int>| {
        if let Err(e) = r {
            fail(fd, step, e);
        }
    };
    // SAFETY: resetting signal dispositions and the mask; plain syscalls.
    unsafe {
        for sig in 1..libc::SIGRTMIN() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
    // SAFETY: open and dup2 on valid descriptors and paths.
    unsafe {
        let null = libc::open(plan.dev_null.as_ptr(), libc::O_RDWR);
        if null < 0 {
            fail(fd, step::STDIO, errno());
        }
        for (from, to) in [(null, 0), (plan.stdout_fd, 1), (plan.stderr_fd, 2)] {
            if libc::dup2(from, to) < 0 {
                fail(fd, step::STDIO, errno());
            }
        }
        if null > 2 {
            libc::close(null);
        }
    }
    // SAFETY: setrlimit with a valid resource number and a stack value;
    // done as root, before the credentials change, so hard limits can be
    // raised as with runc.
    for &(resource, soft, hard) in &plan.rlimits {
        let limit = libc::rlimit {
            rlim_cur: soft as libc::rlim_t,
            rlim_max: hard as libc::rlim_t,
        };
        or_fail(
            step::RLIMIT,
            check(unsafe { libc::setrlimit(resource as _, &limit) } as _),
        );
    }
    // SAFETY: raw credential syscalls (glibc's wrappers would try to
    // synchronise threads that do not exist in this process).
    unsafe {
        or_fail(
            step::CAPS,
            check(libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) as _),
        );
        or_fail(
            step::SETGROUPS,
            check(libc::syscall(
                libc::SYS_setgroups,
                plan.groups.len(),
                plan.groups.as_ptr(),
            )),
        );
        let (uid, gid) = (plan.uid, plan.gid);
        or_fail(
            step::SETGID,
            check(libc::syscall(libc::SYS_setresgid, gid, gid, gid)),
        );
        or_fail(
            step::SETUID,
            check(libc::syscall(libc::SYS_setresuid, uid, uid, uid)),
        );
    }
    or_fail(step::CAPS, sys::capset(plan.caps.mask));
    // SAFETY: prctl with integer arguments.
    unsafe {
        const PR_CAP_AMBIENT: c_int = 47;
        const PR_CAP_AMBIENT_CLEAR_ALL: libc::c_ulong = 4;
        libc::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        or_fail(
            step::CAPS,
            check(libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) as _),
        );
        if plan.no_new_privs {
            or_fail(
                step::NO_NEW_PRIVS,
                check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) as _),
            );
        }
    }
    let mut err = libc::ENOENT;
    for path in &plan.exec_paths {
        // SAFETY: NUL-terminated path and NULL-terminated pointer arrays
        // whose strings live in `plan`.
        unsafe {
            libc::execve(
                path.as_ptr(),
                plan.argv_ptrs.as_ptr(),
                plan.env_ptrs.as_ptr(),
            )
        };
        match errno() {
            libc::ENOENT | libc::ENOTDIR => {}
            libc::EACCES => err = libc::EACCES,
            e => {
                err = e;
                break;
            }
        }
    }
    fail(fd, step::EXEC, err)
}

/// `pivot_root` into the current directory's `root`, detaching the old root.
fn pivot() -> Result<(), c_int> {
    // SAFETY: plain syscalls on static paths.
    unsafe {
        check(libc::chdir(c"root".as_ptr()) as _)?;
        check(libc::syscall(
            libc::SYS_pivot_root,
            c".".as_ptr(),
            c".".as_ptr(),
        ))?;
        mount(None, c".", None, libc::MS_SLAVE | libc::MS_REC, None)?;
        check(libc::umount2(c".".as_ptr(), libc::MNT_DETACH) as _)?;
        check(libc::chdir(c"/".as_ptr()) as _)
    }
}

fn ignore(r: Result<(), c_int>, ok: &[c_int]) -> Result<(), c_int> {
    match r {
        Err(e) if ok.contains(&e) => Ok(()),
        r => r,
    }
}

fn apply(op: &Op, plan: &ChildPlan) -> Result<(), c_int> {
    let path = op.path.as_c_str();
    match &op.kind {
        OpKind::Mount {
            source,
            fstype,
            flags,
            data,
        } => mount(
            source.as_deref(),
            path,
            fstype.as_deref(),
            *flags,
            data.as_deref(),
        ),
        OpKind::MoveMount { fd } => sys::move_mount(*fd, path),
        OpKind::RemountRo { flags } => mount(
            None,
            path,
            None,
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | flags,
            None,
        ),
        // SAFETY: valid paths.
        OpKind::Mkdir => ignore(
            check(unsafe { libc::mkdir(path.as_ptr(), 0o755) } as _),
            &[libc::EEXIST],
        ),
        OpKind::MkFile => {
            // SAFETY: valid path; the descriptor is closed right away.
            let fd = unsafe {
                libc::open(
                    path.as_ptr(),
                    libc::O_CREAT | libc::O_EXCL | libc::O_RDONLY | libc::O_CLOEXEC,
                    0o644,
                )
            };
            if fd >= 0 {
                // SAFETY: our own descriptor.
                unsafe { libc::close(fd) };
                return Ok(());
            }
            ignore(Err(errno()), &[libc::EEXIST])
        }
        OpKind::Symlink { target } => ignore(
            // SAFETY: valid paths.
            check(unsafe { libc::symlink(target.as_ptr(), path.as_ptr()) } as _),
            &[libc::EEXIST],
        ),
        OpKind::Mask => {
            // SAFETY: a zeroed stat is a valid output buffer.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: valid path and buffer.
            if unsafe { libc::stat(path.as_ptr(), &mut st) } != 0 {
                return ignore(Err(errno()), &[libc::ENOENT, libc::ENOTDIR]);
            }
            if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                mount(Some(c"tmpfs"), path, Some(c"tmpfs"), libc::MS_RDONLY, None)
            } else {
                mount(Some(&plan.dev_null), path, None, libc::MS_BIND, None)
            }
        }
        OpKind::ReadOnly => {
            let bound = mount(Some(path), path, None, libc::MS_BIND | libc::MS_REC, None);
            ignore(bound, &[libc::ENOENT, libc::ENOTDIR])?;
            if bound.is_err() {
                return Ok(());
            }
            let flags = libc::MS_REMOUNT
                | libc::MS_BIND
                | libc::MS_RDONLY
                | libc::MS_NOSUID
                | libc::MS_NODEV
                | libc::MS_NOEXEC;
            mount(None, path, None, flags, None)
        }
    }
}
