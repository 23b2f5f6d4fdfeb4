//! Everything the container child needs, as C strings and numbers prepared
//! before the clone (the child must not allocate).

use crate::caps::CapSet;
use crate::error::ExecError;
use crate::prepare::{Prepared, PreparedKind};
use crate::spec::{DEFAULT_PATH, Network, RunSpec, Security, container_path};
use std::ffi::{CString, c_char, c_ulong};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// One filesystem operation after `pivot_root`.
pub(super) enum OpKind {
    /// `mount(source, path, fstype, flags, data)`.
    Mount {
        source: Option<CString>,
        fstype: Option<CString>,
        flags: c_ulong,
        data: Option<CString>,
    },
    /// Attach a detached mount tree (from `open_tree` in the parent) at path.
    MoveMount { fd: i32 },
    /// Make the bind mount at path read-only (`flags` added).
    RemountRo { flags: c_ulong },
    /// `mkdir`, an existing entry is fine.
    Mkdir,
    /// Create an empty file, an existing entry is fine.
    MkFile,
    /// `symlink(target, path)`, an existing entry is fine.
    Symlink { target: CString },
    /// Hide a path: a read-only tmpfs over a directory, `/dev/null` over a
    /// file; a missing path is fine.
    Mask,
    /// Make a path read-only; a missing path is fine.
    ReadOnly,
}

/// An operation with its path and the index of its description.
pub(super) struct Op {
    pub kind: OpKind,
    pub path: CString,
    pub desc: u32,
}

/// Steps with fixed descriptions, in [`FIXED_STEPS`] order.
pub(super) mod step {
    pub const LOOPBACK: u32 = 0;
    pub const HOSTNAME: u32 = 1;
    pub const PRIVATE: u32 = 2;
    pub const CHDIR_SCRATCH: u32 = 3;
    pub const OVERLAY: u32 = 4;
    pub const PIVOT: u32 = 5;
    pub const CWD: u32 = 6;
    pub const BOUNDING: u32 = 7;
    pub const FORK: u32 = 8;
    pub const STDIO: u32 = 9;
    pub const SETGROUPS: u32 = 10;
    pub const SETGID: u32 = 11;
    pub const SETUID: u32 = 12;
    pub const CAPS: u32 = 13;
    pub const NO_NEW_PRIVS: u32 = 14;
    pub const EXEC: u32 = 15;
    pub const PARENT: u32 = 16;
    pub const RLIMIT: u32 = 17;
}

/// Descriptions of the fixed steps.
pub(super) const FIXED_STEPS: [&str; 18] = [
    "bring up loopback",
    "sethostname",
    "make mounts private",
    "chdir to scratch dir",
    "mount overlay rootfs",
    "pivot_root",
    "chdir to working directory",
    "drop bounding capabilities",
    "fork command",
    "set up stdio",
    "setgroups",
    "setgid",
    "setuid",
    "set capabilities",
    "set no_new_privs",
    "exec",
    "tie to the parent's life",
    "setrlimit (--ulimit)",
];

/// The child's whole program.
pub(super) struct ChildPlan {
    pub report_fd: i32,
    /// The read end of the parent's [`crate::sys::Lifeline`].
    pub lifeline_fd: i32,
    /// Descriptors the child keeps (sorted); it closes every other one.
    pub keep_fds: Vec<i32>,
    pub stdout_fd: i32,
    pub stderr_fd: i32,
    pub loopback: bool,
    pub hostname: CString,
    pub scratch: CString,
    pub root_name: CString,
    pub overlay_data: CString,
    pub overlay_data_plain: CString,
    /// Bind-mount the upper dir as the root instead of an overlay.
    pub plain_root: bool,
    pub ops: Vec<Op>,
    pub cwd: CString,
    pub dev_null: CString,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<libc::gid_t>,
    pub caps: CapSet,
    pub no_new_privs: bool,
    /// (resource, soft, hard) set before the credentials change.
    pub rlimits: Vec<(i32, u64, u64)>,
    pub exec_paths: Vec<CString>,
    pub argv: Vec<CString>,
    pub argv_ptrs: Vec<*const c_char>,
    pub env: Vec<CString>,
    pub env_ptrs: Vec<*const c_char>,
    /// Descriptions: [`FIXED_STEPS`] then one per op.
    pub descs: Vec<String>,
    /// O_PATH descriptors of bind sources; closed when the plan is dropped.
    pub fds: Vec<OwnedFd>,
}

const DOCKER_MASKED: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const DOCKER_READONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

fn cstr(s: &str) -> Result<CString, ExecError> {
    CString::new(s).map_err(|_| ExecError::InvalidSpec("NUL byte in a string"))
}

fn cpath(p: &Path) -> Result<CString, ExecError> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).map_err(|_| ExecError::InvalidSpec("NUL byte in a path"))
}

impl ChildPlan {
    pub(super) fn new(
        spec: &RunSpec,
        prep: &Prepared,
        caps: CapSet,
        fds: (i32, i32, i32),
        lifeline_fd: i32,
    ) -> Result<Self, ExecError> {
        let mut plan = ChildPlan {
            report_fd: fds.0,
            lifeline_fd,
            keep_fds: Vec::new(),
            stdout_fd: fds.1,
            stderr_fd: fds.2,
            loopback: spec.network == Network::None,
            hostname: cstr(&spec.hostname)?,
            scratch: cpath(prep.dir())?,
            root_name: cstr("root")?,
            overlay_data: cstr(&format!("{},index=off,metacopy=off", prep.overlay_data))?,
            overlay_data_plain: cstr(&prep.overlay_data)?,
            plain_root: spec.plain_root,
            ops: Vec::new(),
            cwd: cstr(&format!("/{}", container_path(&spec.cwd)?.join("/")))?,
            dev_null: cstr("/dev/null")?,
            uid: spec.user.uid,
            gid: spec.user.gid,
            groups: spec.user.additional_gids.clone(),
            caps,
            no_new_privs: spec.no_new_privs,
            rlimits: spec
                .rlimits
                .iter()
                .map(|r| (r.resource(), r.soft, r.hard))
                .collect(),
            exec_paths: Vec::new(),
            argv: spec
                .argv
                .iter()
                .map(|a| cstr(a))
                .collect::<Result<_, _>>()?,
            argv_ptrs: Vec::new(),
            env: prep
                .env
                .iter()
                .map(|(k, v)| cstr(&format!("{k}={v}")))
                .collect::<Result<_, _>>()?,
            env_ptrs: Vec::new(),
            descs: FIXED_STEPS.iter().map(|s| s.to_string()).collect(),
            fds: Vec::new(),
        };
        plan.argv_ptrs = plan.argv.iter().map(|a| a.as_ptr()).collect();
        plan.argv_ptrs.push(std::ptr::null());
        plan.env_ptrs = plan.env.iter().map(|a| a.as_ptr()).collect();
        plan.env_ptrs.push(std::ptr::null());
        let argv0 = &spec.argv[0];
        if argv0.contains('/') {
            plan.exec_paths.push(cstr(argv0)?);
        } else {
            let path = prep
                .env
                .iter()
                .rev()
                .find(|(k, _)| k == "PATH")
                .map_or(DEFAULT_PATH, |(_, v)| v.as_str());
            for dir in path.split(':') {
                let dir = if dir.is_empty() { "." } else { dir };
                plan.exec_paths.push(cstr(&format!("{dir}/{argv0}"))?);
            }
        }
        plan.add_mounts(spec, prep)?;
        plan.keep_fds = [0, 1, 2, fds.0, fds.1, fds.2, lifeline_fd]
            .into_iter()
            .chain(plan.fds.iter().map(|f| f.as_raw_fd()))
            .collect();
        plan.keep_fds.sort_unstable();
        plan.keep_fds.dedup();
        Ok(plan)
    }

    fn op(&mut self, kind: OpKind, path: &str, desc: String) -> Result<(), ExecError> {
        self.descs.push(desc);
        self.ops.push(Op {
            kind,
            path: cstr(path)?,
            desc: (self.descs.len() - 1) as u32,
        });
        Ok(())
    }

    fn mount(
        &mut self,
        source: Option<&str>,
        path: &str,
        fstype: Option<&str>,
        flags: c_ulong,
        data: Option<&str>,
    ) -> Result<(), ExecError> {
        let kind = OpKind::Mount {
            source: source.map(cstr).transpose()?,
            fstype: fstype.map(cstr).transpose()?,
            flags,
            data: data.map(cstr).transpose()?,
        };
        let what = fstype.unwrap_or("bind");
        self.op(kind, path, format!("mount {what} on {path}"))
    }

    /// Clones the mount of `source` as a detached tree (`open_tree`) the
    /// child attaches after `pivot_root`, when the host paths are gone.
    fn bind_source(&mut self, source: &Path, recursive: bool) -> Result<i32, ExecError> {
        let fd = crate::sys::open_tree(&cpath(source)?, recursive)
            .map_err(|e| ExecError::prepare("open_tree (bind source)", source, e))?;
        let raw = fd.as_raw_fd();
        self.fds.push(fd);
        Ok(raw)
    }

    fn bind(&mut self, fd: i32, target: &str) -> Result<(), ExecError> {
        self.op(
            OpKind::MoveMount { fd },
            target,
            format!("bind mount on {target}"),
        )
    }

    fn ensure(&mut self, target: &str, is_dir: bool) -> Result<(), ExecError> {
        let comps = container_path(target)?;
        let mut path = String::new();
        for (i, c) in comps.iter().enumerate() {
            path.push('/');
            path.push_str(c);
            let kind = if i + 1 == comps.len() && !is_dir {
                OpKind::MkFile
            } else {
                OpKind::Mkdir
            };
            self.op(kind, &path.clone(), format!("create mount point {path}"))?;
        }
        Ok(())
    }

    fn add_mounts(&mut self, spec: &RunSpec, prep: &Prepared) -> Result<(), ExecError> {
        use libc::{MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_STRICTATIME};
        let nsn = MS_NOSUID | MS_NODEV | MS_NOEXEC;
        self.mount(Some("proc"), "/proc", Some("proc"), nsn, None)?;
        self.mount(
            Some("tmpfs"),
            "/dev",
            Some("tmpfs"),
            MS_NOSUID | MS_STRICTATIME,
            Some("mode=755,size=65536k"),
        )?;
        self.ensure("/dev/pts", true)?;
        self.mount(
            Some("devpts"),
            "/dev/pts",
            Some("devpts"),
            MS_NOSUID | MS_NOEXEC,
            Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
        )?;
        self.ensure("/dev/shm", true)?;
        self.mount(
            Some("shm"),
            "/dev/shm",
            Some("tmpfs"),
            nsn,
            Some(&format!("mode=1777,{}", spec.shm_size_option())),
        )?;
        self.ensure("/dev/mqueue", true)?;
        self.mount(Some("mqueue"), "/dev/mqueue", Some("mqueue"), nsn, None)?;
        for dev in ["null", "zero", "full", "random", "urandom", "tty"] {
            let host = format!("/dev/{dev}");
            let source = match self.bind_source(Path::new(&host), false) {
                Ok(s) => s,
                Err(_) if dev == "tty" => continue,
                Err(e) => return Err(e),
            };
            self.ensure(&host, false)?;
            self.bind(source, &host)?;
        }
        for (link, target) in [
            ("/dev/ptmx", "pts/ptmx"),
            ("/dev/fd", "/proc/self/fd"),
            ("/dev/stdin", "/proc/self/fd/0"),
            ("/dev/stdout", "/proc/self/fd/1"),
            ("/dev/stderr", "/proc/self/fd/2"),
            ("/dev/core", "/proc/kcore"),
        ] {
            let kind = OpKind::Symlink {
                target: cstr(target)?,
            };
            self.op(kind, link, format!("symlink {link}"))?;
        }
        if spec.mount_sysfs {
            self.mount(Some("sysfs"), "/sys", Some("sysfs"), nsn | MS_RDONLY, None)?;
        }
        for m in &prep.mounts {
            match &m.kind {
                PreparedKind::Bind {
                    source,
                    read_only,
                    is_dir,
                } => {
                    let src = self.bind_source(source, true)?;
                    self.ensure(&m.target, *is_dir)?;
                    self.bind(src, &m.target)?;
                    if *read_only {
                        let flags = if m.target.starts_with("/etc/") {
                            nsn
                        } else {
                            0
                        };
                        let desc = format!("remount {} read-only", m.target);
                        self.op(OpKind::RemountRo { flags }, &m.target, desc)?;
                    }
                }
                PreparedKind::Tmpfs { size } => {
                    self.ensure(&m.target, true)?;
                    let data = size.map(|s| format!("size={s}"));
                    self.mount(
                        Some("tmpfs"),
                        &m.target,
                        Some("tmpfs"),
                        MS_NOSUID | MS_NODEV,
                        data.as_deref(),
                    )?;
                }
            }
        }
        if spec.security == Security::Sandbox {
            for p in DOCKER_MASKED {
                if p.starts_with("/sys") && !spec.mount_sysfs {
                    continue;
                }
                self.op(OpKind::Mask, p, format!("mask {p}"))?;
            }
            for p in DOCKER_READONLY {
                self.op(OpKind::ReadOnly, p, format!("make {p} read-only"))?;
            }
        }
        Ok(())
    }
}
