//! RUN: the command in a container over the parent's snapshots, with its
//! `--mount`s; the upper directory is the layer.

use super::Worker;
use super::cache_mounts::CacheLease;
use super::error::{WorkerError, io_err};
use super::sources::Source;
use crate::ops::{PreparedRun, Stages};
use crate::state::{LayerRef, State};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;
use strata_context::DigestOptions;
use strata_exec::{
    ExitStatus, MountSpec, Network, RunIo, RunSpec, Security, host_resolv_conf,
    resolve_user_in_layers,
};
use strata_plan::{BindMount, CopySource, Mount, NetworkMode, SecurityMode};

/// Splits output into lines for the progress display.
struct Lines<'a, 'f> {
    buf: Vec<u8>,
    sink: &'a RefCell<&'f mut dyn FnMut(&str)>,
}

impl Lines<'_, '_> {
    fn emit(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        if let Ok(mut sink) = self.sink.try_borrow_mut() {
            sink(text);
        }
    }
}

impl Write for Lines<'_, '_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            self.emit(&line[..line.len() - 1]);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Lines<'_, '_> {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            self.emit(&rest);
        }
    }
}

/// What keeps a RUN's mounts alive until it ends.
#[derive(Default)]
struct MountGuards {
    caches: Vec<CacheLease>,
    agents: Vec<super::ssh::AgentProxy>,
    sources: Vec<Source>,
    dirs: Vec<tempfile::TempDir>,
}

fn describe(status: ExitStatus) -> String {
    match status {
        ExitStatus::Exited(code) => format!("exit code: {code}"),
        ExitStatus::Signaled(sig) => format!("killed by signal {sig}"),
    }
}

impl Worker {
    /// Digests of what bind mounts (and cache mounts seeded `from` a
    /// source) expose, by target.
    pub(crate) fn bind_digests(
        &self,
        _parent: &State,
        run: &PreparedRun,
        stages: &Stages,
    ) -> Result<BTreeMap<String, String>, WorkerError> {
        let mut out = BTreeMap::new();
        for mount in &run.step.mounts {
            let Mount::Bind(bind) = mount else {
                continue;
            };
            let source = self.source(&bind.from, stages)?;
            let paths = [bind.source.clone()];
            let selection = self.select(&source, &paths, &[], false)?;
            let digest = self.digest_selection(
                &source,
                &selection,
                DigestOptions {
                    include_mode: true,
                    include_owner: !source.local,
                },
            )?;
            out.insert(
                bind.target.clone(),
                format!("sha256:{}", digest.digest.hex()),
            );
        }
        Ok(out)
    }

    /// A bind mount's host directory or file.
    fn bind_source(
        &self,
        bind: &BindMount,
        stages: &Stages,
        guards: &mut MountGuards,
    ) -> Result<PathBuf, WorkerError> {
        let source = self.source(&bind.from, stages)?;
        let paths = [bind.source.clone()];
        let selection = self.select(&source, &paths, &[], false)?;
        let root = selection.roots.first().ok_or_else(|| {
            WorkerError::Invalid(format!("bind mount source {:?} not found", bind.source))
        })?;
        let host = source.ctx.root().join(&root.resolved);
        let needs_copy = source.local && !source.ctx.ignore().is_empty();
        let host = if needs_copy || (source.local && bind.read_write) {
            // The mount must show only what .dockerignore lets through, and
            // writes must never reach the user's files: a private copy.
            let tmp = self.scratch()?;
            let copy = tmp.dir.path().join("bind");
            materialize(&source, &selection, &copy)?;
            guards.dirs.push(tmp.dir);
            copy
        } else {
            // Read-only, or a stage's tree whose view has a throwaway
            // upper directory.
            host
        };
        guards.sources.push(source);
        Ok(host)
    }

    /// Runs a RUN step.
    pub(crate) fn do_run(
        &self,
        parent: &State,
        run: &PreparedRun,
        stages: &Stages,
        output: &mut dyn FnMut(&str),
    ) -> Result<Option<LayerRef>, WorkerError> {
        let scratch = self.run_in_scratch(parent, run, stages, output)?;
        let layer = self.commit_upper(&scratch.upper)?;
        drop(scratch);
        Ok(layer)
    }

    /// Runs a RUN step; its changes are left in the scratch's upper
    /// directory (removed when the scratch is dropped).
    pub(crate) fn run_in_scratch(
        &self,
        parent: &State,
        run: &PreparedRun,
        stages: &Stages,
        output: &mut dyn FnMut(&str),
    ) -> Result<super::view::Scratch, WorkerError> {
        if run.step.security == SecurityMode::Insecure && !self.opts.allow_insecure {
            return Err(WorkerError::Invalid(
                "RUN --security=insecure needs `--allow security.insecure`".into(),
            ));
        }
        let scratch = self.scratch()?;
        // With the copy snapshotter the command runs on a plain copy of the
        // parent's root, diffed into the upper dir afterwards.
        let copied = if self.copy_snapshots {
            Some(self.copy_root(&parent.layers, &scratch)?)
        } else {
            None
        };
        let (lowers, root) = match &copied {
            Some(c) => (Vec::new(), c.path.clone()),
            None => (self.lowers(&parent.layers)?, scratch.upper.clone()),
        };
        let user = match &copied {
            Some(c) => resolve_user_in_layers(&run.user, std::slice::from_ref(&c.path))?,
            None => resolve_user_in_layers(&run.user, &lowers)?,
        };
        let mut spec = RunSpec::new(lowers, root, scratch.work.clone(), run.argv.clone());
        spec.plain_root = copied.is_some();
        spec.env = run.env.clone();
        spec.cwd = run.workdir.clone();
        spec.user = user.identity;
        spec.network = match run.step.network {
            NetworkMode::None => Network::None,
            NetworkMode::Default | NetworkMode::Host => Network::Host,
        };
        spec.security = match run.step.security {
            SecurityMode::Sandbox => Security::Sandbox,
            SecurityMode::Insecure => Security::Insecure,
        };
        spec.resolv_conf = Some(host_resolv_conf(spec.network)?.into_bytes());
        apply_sandbox(&run.step.sandbox, &mut spec)?;
        let mut guards = MountGuards::default();
        for mount in &run.step.mounts {
            self.add_mount(mount, stages, &mut spec, &mut guards)?;
        }
        for doc in &run.step.inline_files {
            spec.mounts.push(MountSpec::File {
                target: format!("/dev/pipes/{}", doc.name),
                content: doc.content.clone().into_bytes(),
                mode: 0o755,
                uid: 0,
                gid: 0,
            });
        }
        let sink = RefCell::new(output);
        let status = {
            let mut out = Lines {
                buf: Vec::new(),
                sink: &sink,
            };
            let mut err = Lines {
                buf: Vec::new(),
                sink: &sink,
            };
            let mut io = RunIo::new(&mut out, &mut err);
            io.cancel = self.cancel.clone();
            self.executor.run(&spec, &mut io)?
        };
        drop(guards);
        if !status.success() {
            return Err(WorkerError::Failed {
                command: command_text(&run.argv),
                status: describe(status),
            });
        }
        if let Some(copied) = &copied {
            copied.diff_into(&scratch.upper)?;
        }
        Ok(scratch)
    }

    fn add_mount(
        &self,
        mount: &Mount,
        stages: &Stages,
        spec: &mut RunSpec,
        guards: &mut MountGuards,
    ) -> Result<(), WorkerError> {
        match mount {
            Mount::Bind(bind) => {
                let source = self.bind_source(bind, stages, guards)?;
                spec.mounts.push(MountSpec::Bind {
                    source,
                    target: bind.target.clone(),
                    read_only: !bind.read_write,
                });
            }
            Mount::Cache(cache) => {
                let lease = self.cache_mounts.lease(cache)?;
                if lease.fresh
                    && let Some(from) = &cache.from
                {
                    self.seed_cache(from, cache.source.as_deref(), &lease.path, stages)?;
                }
                spec.mounts.push(MountSpec::Bind {
                    source: lease.path.clone(),
                    target: cache.target.clone(),
                    read_only: cache.read_only,
                });
                guards.caches.push(lease);
            }
            Mount::Tmpfs(tmpfs) => spec.mounts.push(MountSpec::Tmpfs {
                target: tmpfs.target.clone(),
                size: tmpfs.size,
            }),
            Mount::Secret(secret) => {
                let Some(value) = self.opts.secrets.get(&secret.id) else {
                    if secret.required {
                        return Err(WorkerError::Invalid(format!(
                            "secret {} not found (pass it with --secret id={},src=FILE or env=VAR)",
                            secret.id, secret.id
                        )));
                    }
                    return Ok(());
                };
                if let Some(var) = &secret.env {
                    spec.env
                        .push((var.clone(), String::from_utf8_lossy(value).into_owned()));
                }
                if !secret.target.is_empty() {
                    spec.mounts.push(MountSpec::File {
                        target: secret.target.clone(),
                        content: value.clone(),
                        mode: secret.mode,
                        uid: secret.uid,
                        gid: secret.gid,
                    });
                }
            }
            Mount::Ssh(ssh) => {
                let Some(agent) = self.opts.ssh.get(&ssh.id) else {
                    if ssh.required {
                        return Err(WorkerError::Invalid(format!(
                            "no SSH agent {id:?} for RUN --mount=type=ssh (pass --ssh {id}=SOCKET, or --ssh default for $SSH_AUTH_SOCK)",
                            id = ssh.id
                        )));
                    }
                    return Ok(());
                };
                let proxy = super::ssh::AgentProxy::start(agent, ssh.uid, ssh.gid, ssh.mode)
                    .map_err(|e| {
                        WorkerError::Invalid(format!(
                            "SSH agent {:?} at {}: {e}",
                            ssh.id,
                            agent.display()
                        ))
                    })?;
                spec.mounts.push(MountSpec::Bind {
                    source: proxy.path().to_path_buf(),
                    target: ssh.target.clone(),
                    read_only: false,
                });
                // As BuildKit: the first agent is the default one.
                if !spec.env.iter().any(|(k, _)| k == "SSH_AUTH_SOCK") {
                    spec.env.push(("SSH_AUTH_SOCK".into(), ssh.target.clone()));
                }
                guards.agents.push(proxy);
            }
        }
        Ok(())
    }

    /// Fills a new cache directory from `from` (a stage, image or context).
    fn seed_cache(
        &self,
        from: &CopySource,
        subpath: Option<&str>,
        dir: &std::path::Path,
        stages: &Stages,
    ) -> Result<(), WorkerError> {
        let source = self.source(from, stages)?;
        let paths = [subpath.unwrap_or("/").to_string()];
        let selection = self.select(&source, &paths, &[], false)?;
        let tmp = dir.with_extension("seed");
        materialize(&source, &selection, &tmp)?;
        for entry in fs::read_dir(&tmp).map_err(io_err(&tmp))? {
            let entry = entry.map_err(io_err(&tmp))?;
            let to = dir.join(entry.file_name());
            fs::rename(entry.path(), &to).map_err(io_err(&to))?;
        }
        fs::remove_dir_all(&tmp).map_err(io_err(&tmp))
    }
}

/// Copies a selection (a single source root) into `dest` on the host.
fn materialize(
    source: &Source,
    selection: &strata_context::Selection,
    dest: &std::path::Path,
) -> Result<(), WorkerError> {
    use strata_context::EntryKind;
    let root = source.ctx.root();
    for entry in &selection.entries {
        let to = if entry.rel.is_empty() {
            dest.to_path_buf()
        } else {
            dest.join(&entry.rel)
        };
        let from = root.join(&entry.path);
        match entry.meta.kind {
            EntryKind::Dir => fs::create_dir_all(&to).map_err(io_err(&to))?,
            EntryKind::File => {
                fs::copy(&from, &to).map_err(io_err(&to))?;
            }
            EntryKind::Symlink => {
                if let Some(target) = &entry.link_target {
                    std::os::unix::fs::symlink(target, &to).map_err(io_err(&to))?;
                }
            }
            EntryKind::Other => {}
        }
    }
    Ok(())
}

/// A command as BuildKit quotes it in errors.
fn command_text(argv: &[String]) -> String {
    argv.join(" ")
}

/// `--add-host`, `--shm-size` and `--ulimit` as BuildKit applies them:
/// each extra host a `IP<TAB>NAME` line after the default `/etc/hosts`.
fn apply_sandbox(sandbox: &strata_plan::RunSandbox, spec: &mut RunSpec) -> Result<(), WorkerError> {
    if !sandbox.extra_hosts.is_empty() {
        let mut hosts = strata_exec::default_hosts(&spec.hostname);
        for (name, ip) in &sandbox.extra_hosts {
            hosts.push_str(&format!("{ip}\t{name}\n"));
        }
        spec.hosts = Some(hosts.into_bytes());
    }
    spec.shm_size = sandbox.shm_size;
    for u in &sandbox.ulimits {
        let unlimited = u64::MAX;
        let limit = strata_exec::Rlimit::new(
            &u.name,
            u.soft.unwrap_or(unlimited),
            u.hard.unwrap_or(unlimited),
        )
        .ok_or_else(|| WorkerError::Invalid(format!("--ulimit {}: unknown resource", u.name)))?;
        spec.rlimits.push(limit);
    }
    Ok(())
}
