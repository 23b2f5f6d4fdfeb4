//! The runtime-spec `config.json` for one RUN, built with `oci-spec`.

use crate::caps::CapSet;
use crate::error::ExecError;
use crate::prepare::{Prepared, PreparedKind};
use crate::spec::{Network, RunSpec, Security, container_path};
use oci_spec::runtime::{
    Capabilities, Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxNamespaceBuilder,
    LinuxNamespaceType, Mount, MountBuilder, PosixRlimit, PosixRlimitBuilder, PosixRlimitType,
    ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder, get_default_maskedpaths,
    get_default_readonly_paths,
};

/// `--ulimit`s as `process.rlimits`.
fn rlimits(spec: &RunSpec) -> Result<Vec<PosixRlimit>, ExecError> {
    spec.rlimits
        .iter()
        .map(|r| {
            let typ: PosixRlimitType = r.spec_name().parse().map_err(invalid)?;
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(r.soft)
                .hard(r.hard)
                .build()
                .map_err(invalid)
        })
        .collect()
}

fn invalid(e: impl std::fmt::Display) -> ExecError {
    ExecError::Runtime {
        runtime: "config.json".into(),
        message: e.to_string(),
    }
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Result<Mount, ExecError> {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(invalid)
}

fn capabilities(caps: &CapSet) -> Capabilities {
    caps.names()
        .into_iter()
        .filter_map(|n| serde_json::from_value::<Capability>(serde_json::Value::String(n)).ok())
        .collect()
}

/// The spec for `spec` on the prepared rootfs, joining the PID namespace
/// at `pid_namespace` (a `/proc/PID/ns/pid` path).
pub(super) fn build(
    spec: &RunSpec,
    prep: &Prepared,
    caps: &CapSet,
    pid_namespace: &str,
) -> Result<Spec, ExecError> {
    let set = capabilities(caps);
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(set.clone())
        .effective(set.clone())
        .permitted(set)
        .inheritable(Capabilities::new())
        .ambient(Capabilities::new())
        .build()
        .map_err(invalid)?;
    let user = UserBuilder::default()
        .uid(spec.user.uid)
        .gid(spec.user.gid)
        .additional_gids(spec.user.additional_gids.clone())
        .build()
        .map_err(invalid)?;
    let process = ProcessBuilder::default()
        .terminal(false)
        .user(user)
        .args(spec.argv.clone())
        .env(
            prep.env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
        )
        .cwd(format!("/{}", container_path(&spec.cwd)?.join("/")))
        .capabilities(capabilities)
        .no_new_privileges(spec.no_new_privs)
        .rlimits(rlimits(spec)?)
        .build()
        .map_err(invalid)?;
    let root = RootBuilder::default()
        .path(prep.rootfs.clone())
        .readonly(false)
        .build()
        .map_err(invalid)?;

    let nsn = ["nosuid", "noexec", "nodev"];
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &nsn)?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &[
                "nosuid",
                "noexec",
                "nodev",
                "mode=1777",
                &spec.shm_size_option(),
            ],
        )?,
        mount("/dev/mqueue", "mqueue", "mqueue", &nsn)?,
    ];
    if spec.mount_sysfs {
        let ro = if spec.security == Security::Insecure {
            "rw"
        } else {
            "ro"
        };
        mounts.push(mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", ro],
        )?);
    }
    for m in &prep.mounts {
        let dest = m.target.as_str();
        match &m.kind {
            PreparedKind::Bind {
                source, read_only, ..
            } => {
                let src = source.to_string_lossy();
                let mut opts = vec!["rbind", if *read_only { "ro" } else { "rw" }];
                if dest.starts_with("/etc/") {
                    opts.extend(nsn);
                }
                mounts.push(mount(dest, "bind", &src, &opts)?);
            }
            PreparedKind::Tmpfs { size } => {
                let size = size.map(|s| format!("size={s}"));
                let mut opts = vec!["nosuid", "nodev"];
                if let Some(s) = &size {
                    opts.push(s);
                }
                mounts.push(mount(dest, "tmpfs", "tmpfs", &opts)?);
            }
        }
    }

    let mut kinds = vec![
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
    ];
    if spec.network == Network::None {
        kinds.push(LinuxNamespaceType::Network);
    }
    let namespaces = kinds
        .into_iter()
        .map(|t| {
            let mut ns = LinuxNamespaceBuilder::default().typ(t);
            if t == LinuxNamespaceType::Pid {
                ns = ns.path(pid_namespace);
            }
            ns.build().map_err(invalid)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut linux = LinuxBuilder::default().namespaces(namespaces);
    if spec.security == Security::Sandbox {
        linux = linux
            .masked_paths(get_default_maskedpaths())
            .readonly_paths(get_default_readonly_paths());
    }
    let linux = linux.build().map_err(invalid)?;

    SpecBuilder::default()
        .version("1.0.2")
        .process(process)
        .root(root)
        .hostname(spec.hostname.clone())
        .mounts(mounts)
        .linux(linux)
        .build()
        .map_err(invalid)
}
