//! `RUN` → `ExecOp`, with its mounts.

use crate::compile::Compiler;
use crate::error::LlbError;
use crate::graph::{self, OutputRef};
use crate::paths;
use crate::state::StageState;
use bollard_buildkit_proto::pb;
use strata_plan::{
    CacheSharing, Command, Mount, NetworkMode, RunStep, SecretMount, SecurityMode, SshMount, Step,
};

/// A filesystem mount before input indexes are assigned.
struct FsMount {
    target: String,
    source: Option<OutputRef>,
    selector: String,
    readonly: bool,
    /// Writes are allowed but the result is not an output (`rw` bind mounts).
    no_output: bool,
    kind: FsKind,
}

enum FsKind {
    Bind,
    Cache { id: String, sharing: CacheSharing },
    Tmpfs { size: Option<u64> },
}

/// Whether a build argument is one of the predefined proxy variables, which
/// BuildKit passes as the proxy configuration (not as plain environment
/// variables) and keeps out of the image history.
pub(crate) fn is_proxy_arg(key: &str) -> bool {
    proxy_slot(&mut pb::ProxyEnv::default(), key).is_some()
}

/// The proxy field a predefined proxy build argument fills.
fn proxy_slot<'a>(proxy: &'a mut pb::ProxyEnv, key: &str) -> Option<&'a mut String> {
    match key.to_ascii_lowercase().as_str() {
        "http_proxy" => Some(&mut proxy.http_proxy),
        "https_proxy" => Some(&mut proxy.https_proxy),
        "ftp_proxy" => Some(&mut proxy.ftp_proxy),
        "no_proxy" => Some(&mut proxy.no_proxy),
        "all_proxy" => Some(&mut proxy.all_proxy),
        _ => None,
    }
}

impl Compiler<'_> {
    /// Adds the `ExecOp` of a `RUN` and makes its root the stage's filesystem.
    pub(crate) fn run(
        &mut self,
        st: &mut StageState,
        step: &Step,
        run: &RunStep,
    ) -> Result<(), LlbError> {
        let line = step.span.start_line;
        let args = match &run.command {
            Command::Shell(s) => st.shell_wrap(s),
            Command::Exec(v) => v.clone(),
        };
        if args.is_empty() || args.iter().all(String::is_empty) {
            return Err(LlbError::EmptyCommand { line });
        }

        let mut env = st.env.clone();
        let mut proxy = pb::ProxyEnv::default();
        let mut has_proxy = false;
        for (key, value) in &step.build_args {
            if let Some(slot) = proxy_slot(&mut proxy, key) {
                *slot = value.clone();
                has_proxy = true;
            }
        }
        // An ENV of the same name wins unless the ARG came after it.
        step.add_build_args(&mut env, is_proxy_arg);

        let mut fs = vec![FsMount {
            target: "/".to_string(),
            source: st.root.clone(),
            selector: String::new(),
            readonly: false,
            no_output: false,
            kind: FsKind::Bind,
        }];
        for file in &run.inline_files {
            let path = paths::clean(&format!("/{}", file.name));
            let doc = self.scratch_file(&path, 0o755, file.content.as_bytes(), &st.platform);
            fs.push(FsMount {
                target: "/dev/pipes/".to_string(),
                source: Some(doc),
                selector: "/".to_string(),
                readonly: true,
                no_output: false,
                kind: FsKind::Bind,
            });
        }
        let mut secrets: Vec<&SecretMount> = Vec::new();
        let mut sshs: Vec<&SshMount> = Vec::new();
        for mount in &run.mounts {
            let target = mount.target();
            let check_target = || {
                if paths::clean(target) == "/" {
                    Err(LlbError::InvalidMountTarget {
                        target: target.to_string(),
                        line,
                    })
                } else {
                    Ok(())
                }
            };
            match mount {
                Mount::Bind(b) => {
                    check_target()?;
                    let source = self.copy_source(&b.from, line, &st.platform)?;
                    fs.push(FsMount {
                        target: b.target.clone(),
                        source,
                        selector: selector(&b.source),
                        readonly: !b.read_write,
                        no_output: b.read_write,
                        kind: FsKind::Bind,
                    });
                }
                Mount::Cache(c) => {
                    check_target()?;
                    let mut source = match &c.from {
                        Some(from) => self.copy_source(from, line, &st.platform)?,
                        None => None,
                    };
                    let mut sel = selector(c.source.as_deref().unwrap_or("/"));
                    if sel.is_empty() && (c.uid != 0 || c.gid != 0 || c.mode != 0o755) {
                        source = Some(self.cache_dir(source, c.uid, c.gid, c.mode, &st.platform));
                        sel = "/cache".to_string();
                    }
                    fs.push(FsMount {
                        target: c.target.clone(),
                        source,
                        selector: sel,
                        readonly: c.read_only,
                        no_output: false,
                        kind: FsKind::Cache {
                            id: c.id.clone(),
                            sharing: c.sharing,
                        },
                    });
                }
                Mount::Tmpfs(t) => {
                    check_target()?;
                    fs.push(FsMount {
                        target: t.target.clone(),
                        source: None,
                        selector: String::new(),
                        readonly: false,
                        no_output: false,
                        kind: FsKind::Tmpfs { size: t.size },
                    });
                }
                Mount::Secret(s) => secrets.push(s),
                Mount::Ssh(s) => sshs.push(s),
            }
        }
        // BuildKit sorts filesystem mounts by target for a stable encoding.
        fs.sort_by(|a, b| a.target.cmp(&b.target));

        if let Some(first) = sshs.first()
            && !env.iter().any(|(k, _)| k == "SSH_AUTH_SOCK")
        {
            env.push(("SSH_AUTH_SOCK".to_string(), ssh_target(first, 0)));
        }

        let mut inputs: Vec<pb::Input> = Vec::new();
        let mut mounts = Vec::new();
        let mut next_output = 0i64;
        for m in fs {
            let input = match &m.source {
                Some(src) => {
                    let wanted = src.to_input();
                    match inputs.iter().position(|i| *i == wanted) {
                        Some(i) => i as i64,
                        None => {
                            inputs.push(wanted);
                            inputs.len() as i64 - 1
                        }
                    }
                }
                None => -1,
            };
            let is_cache = matches!(m.kind, FsKind::Cache { .. });
            let is_tmpfs = matches!(m.kind, FsKind::Tmpfs { .. });
            let output = if m.no_output || m.readonly || is_cache || is_tmpfs {
                -1
            } else {
                next_output += 1;
                next_output - 1
            };
            let mut pm = pb::Mount {
                input,
                selector: m.selector,
                dest: m.target,
                output,
                readonly: m.readonly,
                ..Default::default()
            };
            match m.kind {
                FsKind::Bind => pm.mount_type = pb::MountType::Bind as i32,
                FsKind::Cache { id, sharing } => {
                    pm.mount_type = pb::MountType::Cache as i32;
                    pm.cache_opt = Some(pb::CacheOpt {
                        id,
                        sharing: match sharing {
                            CacheSharing::Shared => pb::CacheSharingOpt::Shared,
                            CacheSharing::Private => pb::CacheSharingOpt::Private,
                            CacheSharing::Locked => pb::CacheSharingOpt::Locked,
                        } as i32,
                    });
                }
                FsKind::Tmpfs { size } => {
                    pm.mount_type = pb::MountType::Tmpfs as i32;
                    pm.tmpfs_opt = size.filter(|s| *s > 0).map(|s| pb::TmpfsOpt {
                        size: i64::try_from(s).unwrap_or(i64::MAX),
                    });
                }
            }
            mounts.push(pm);
        }

        let mut secretenv = Vec::new();
        for s in &secrets {
            if !s.target.is_empty() {
                mounts.push(pb::Mount {
                    input: -1,
                    dest: s.target.clone(),
                    output: -1,
                    mount_type: pb::MountType::Secret as i32,
                    secret_opt: Some(pb::SecretOpt {
                        id: s.id.clone(),
                        uid: s.uid,
                        gid: s.gid,
                        mode: s.mode,
                        optional: !s.required,
                    }),
                    ..Default::default()
                });
            }
            if let Some(name) = &s.env {
                secretenv.push(pb::SecretEnv {
                    id: s.id.clone(),
                    name: name.clone(),
                    optional: !s.required,
                });
            }
        }
        for (i, s) in sshs.iter().enumerate() {
            mounts.push(pb::Mount {
                input: -1,
                dest: ssh_target(s, i),
                output: -1,
                mount_type: pb::MountType::Ssh as i32,
                ssh_opt: Some(pb::SshOpt {
                    id: s.id.clone(),
                    uid: s.uid,
                    gid: s.gid,
                    mode: s.mode,
                    optional: !s.required,
                }),
                ..Default::default()
            });
        }

        let meta = pb::Meta {
            args,
            env: env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            cwd: st.cwd.clone(),
            user: st.user.clone(),
            proxy_env: has_proxy.then_some(proxy),
            remove_mount_stubs_recursive: true,
            ..Default::default()
        };
        let exec = pb::ExecOp {
            meta: Some(meta),
            mounts,
            network: match run.network {
                NetworkMode::Default => pb::NetMode::Unset,
                NetworkMode::Host => pb::NetMode::Host,
                NetworkMode::None => pb::NetMode::None,
            } as i32,
            security: match run.security {
                SecurityMode::Sandbox => pb::SecurityMode::Sandbox,
                SecurityMode::Insecure => pb::SecurityMode::Insecure,
            } as i32,
            secretenv,
            cdi_devices: Vec::new(),
        };
        let op = pb::Op {
            inputs,
            platform: Some(st.platform.clone()),
            constraints: Some(pb::WorkerConstraints::default()),
            op: Some(pb::op::Op::Exec(exec)),
        };
        let name = st.progress_name(&step.text);
        st.root = Some(self.graph.add(&op, graph::named(&name, Some(&step.text))));
        Ok(())
    }

    /// The cache directory with its owner and mode, made on `base` as
    /// BuildKit does when `uid`, `gid` or `mode` are given.
    fn cache_dir(
        &mut self,
        base: Option<OutputRef>,
        uid: u32,
        gid: u32,
        mode: u32,
        platform: &pb::Platform,
    ) -> OutputRef {
        let owner = pb::ChownOpt {
            user: Some(pb::UserOpt {
                user: Some(pb::user_opt::User::ById(uid)),
            }),
            group: Some(pb::UserOpt {
                user: Some(pb::user_opt::User::ById(gid)),
            }),
        };
        let action = pb::file_action::Action::Mkdir(pb::FileActionMkDir {
            path: "/cache".to_string(),
            mode: i32::try_from(mode).unwrap_or(0o755),
            make_parents: false,
            owner: Some(owner),
            timestamp: -1,
        });
        self.single_file_action(
            base,
            action,
            platform,
            "[internal] settings cache mount permissions",
        )
    }
}

/// The mount selector of a `source=` path: empty for the root.
fn selector(source: &str) -> String {
    let p = paths::clean(&format!("/{source}"));
    if p == "/" { String::new() } else { p }
}

fn ssh_target(s: &SshMount, index: usize) -> String {
    if s.target.is_empty() {
        format!("/run/buildkit/ssh_agent.{index}")
    } else {
        s.target.clone()
    }
}
