//! `RUN`: the command (with heredocs folded in as BuildKit does) and its
//! `--mount`s, expanded and made absolute.

use super::{Lowering, Site, join};
use crate::error::DockerfileError;
use crate::instructions::{
    self, CommandLine, Deferred, MountType, Network, RunMount, Security, parse_ram_size,
};
use crate::parser::{Node, parse_heredoc_word};
use strata_plan::{
    BindMount, CacheMount, CacheSharing, Command, CopySource, HeredocFile, Mount, NetworkMode,
    RunStep, SecretMount, SecurityMode, SshMount, TmpfsMount,
};

impl Lowering<'_, '_> {
    pub(super) fn run(
        &mut self,
        node: &Node,
        run: &instructions::Run,
    ) -> Result<RunStep, DockerfileError> {
        let mut mounts = Vec::new();
        let mut ssh_index = 0;
        for mount in &run.mounts {
            let lowered = self.mount(node, mount, ssh_index)?;
            if matches!(lowered, Mount::Ssh(_)) {
                ssh_index += 1;
            }
            mounts.push(lowered);
        }
        let (command, inline_files) = command(&run.cmd, &run.heredocs);
        Ok(RunStep {
            command,
            inline_files,
            mounts,
            network: match run.network {
                Network::Default => NetworkMode::Default,
                Network::None => NetworkMode::None,
                Network::Host => NetworkMode::Host,
            },
            security: match run.security {
                Security::Sandbox => SecurityMode::Sandbox,
                Security::Insecure => SecurityMode::Insecure,
            },
            sandbox: Default::default(),
        })
    }

    /// One `--mount`: values expanded, `from=` resolved, targets absolute.
    fn mount(
        &mut self,
        node: &Node,
        m: &RunMount,
        ssh_index: usize,
    ) -> Result<Mount, DockerfileError> {
        let site = Site { node };
        let fail = |message: String| site.at(&[m.raw.as_str(), "--mount"], message);
        let expand = |this: &Self, v: &Option<instructions::Expandable>| {
            v.as_ref()
                .map(|e| this.expand(node, e.as_str()))
                .transpose()
        };
        let target = expand(self, &m.target)?;
        let source = expand(self, &m.source)?;
        let id = expand(self, &m.id)?;
        let env = expand(self, &m.env)?;
        let number = |this: &Self,
                      key: &str,
                      v: &Option<Deferred<u32>>,
                      parse: fn(&str) -> Option<u32>|
         -> Result<Option<u32>, DockerfileError> {
            match v {
                None => Ok(None),
                Some(Deferred::Value(n)) => Ok(Some(*n)),
                Some(Deferred::Expand(e)) => {
                    let text = this.expand(node, e.as_str())?;
                    parse(&text)
                        .map(Some)
                        .ok_or_else(|| fail(format!("invalid value {text} for {key}")))
                }
            }
        };
        let mode = number(self, "mode", &m.mode, |v| u32::from_str_radix(v, 8).ok())?;
        let uid = number(self, "uid", &m.uid, |v| v.parse().ok())?.unwrap_or(0);
        let gid = number(self, "gid", &m.gid, |v| v.parse().ok())?.unwrap_or(0);
        let size = match &m.size {
            None => None,
            Some(Deferred::Value(n)) => Some(*n),
            Some(Deferred::Expand(e)) => {
                let text = self.expand(node, e.as_str())?;
                Some(
                    parse_ram_size(&text)
                        .ok_or_else(|| fail(format!("invalid value {text} for size")))?,
                )
            }
        };
        let from = match &m.from {
            Some(f) if m.kind != MountType::Tmpfs => Some(self.source(node, f, "from=")?),
            _ => None,
        };
        let workdir = self
            .states
            .get(self.stage_index())
            .map(|s| s.workdir.clone())
            .unwrap_or_else(|| "/".into());
        // BuildKit joins a relative (or missing) target with the working
        // directory and refuses `/`.
        let absolute = |t: &Option<String>| -> Result<String, DockerfileError> {
            let joined = join(&workdir, t.as_deref().unwrap_or_default());
            if joined == "/" {
                return Err(fail(format!("invalid mount target {joined:?}")));
            }
            Ok(joined)
        };
        Ok(match m.kind {
            MountType::Bind => Mount::Bind(BindMount {
                target: absolute(&target)?,
                source: source.unwrap_or_else(|| "/".into()),
                from: from.unwrap_or(CopySource::Context),
                read_write: !m.read_only,
            }),
            MountType::Cache => Mount::Cache(CacheMount {
                id: id.or_else(|| target.clone()).unwrap_or_default(),
                target: absolute(&target)?,
                sharing: match m.sharing {
                    Some(instructions::CacheSharing::Private) => CacheSharing::Private,
                    Some(instructions::CacheSharing::Locked) => CacheSharing::Locked,
                    _ => CacheSharing::Shared,
                },
                from,
                source,
                read_only: m.read_only,
                mode: mode.unwrap_or(0o755),
                uid,
                gid,
            }),
            MountType::Tmpfs => Mount::Tmpfs(TmpfsMount {
                target: absolute(&target)?,
                size,
            }),
            MountType::Secret => {
                // `source=` names the secret too; else the target's base name.
                let id = match source.or(id) {
                    Some(id) => id,
                    None => match &target {
                        Some(t) => t.rsplit('/').next().unwrap_or(t).to_string(),
                        None => return Err(fail("one of source, target required".into())),
                    },
                };
                let target = match (target, &env) {
                    (Some(t), _) => join(&workdir, &t),
                    (None, Some(_)) => String::new(),
                    (None, None) => {
                        format!("/run/secrets/{}", id.rsplit('/').next().unwrap_or(&id))
                    }
                };
                self.outline.mount(node, false, &id, m.required);
                Mount::Secret(SecretMount {
                    id,
                    target,
                    env,
                    required: m.required,
                    mode: mode.unwrap_or(0o400),
                    uid,
                    gid,
                })
            }
            MountType::Ssh => {
                if source.is_some() {
                    return Err(fail("ssh does not support source".into()));
                }
                let id = id.unwrap_or_else(|| "default".into());
                self.outline.mount(node, true, &id, m.required);
                Mount::Ssh(SshMount {
                    id,
                    target: match target {
                        Some(t) => join(&workdir, &t),
                        None => format!("/run/buildkit/ssh_agent.{ssh_index}"),
                    },
                    required: m.required,
                    mode: mode.unwrap_or(0o600),
                    uid,
                    gid,
                })
            }
        })
    }
}

/// The command and the heredoc files it reads, as BuildKit's `dispatchRun`
/// builds them: a lone heredoc is the script itself (a file under
/// `/dev/pipes/` when it starts with `#!`); otherwise the documents are
/// appended to the command line for the shell to read.
fn command(cmd: &CommandLine, heredocs: &[crate::parser::Heredoc]) -> (Command, Vec<HeredocFile>) {
    let line = match cmd {
        CommandLine::Exec(argv) => return (Command::Exec(argv.clone()), Vec::new()),
        CommandLine::Shell(line) => line.clone(),
    };
    match heredocs {
        [] => (Command::Shell(line), Vec::new()),
        [doc] if parse_heredoc_word(line.trim()).is_some() => {
            let data = doc.body();
            if data.starts_with("#!") {
                let file = HeredocFile {
                    name: doc.name.clone(),
                    content: data,
                };
                (
                    Command::Shell(format!("/dev/pipes/{}", doc.name)),
                    vec![file],
                )
            } else {
                (Command::Shell(data), Vec::new())
            }
        }
        docs => {
            let mut full = line;
            for doc in docs {
                full.push('\n');
                full.push_str(&doc.content);
                full.push_str(&doc.name);
            }
            (Command::Shell(full), Vec::new())
        }
    }
}
