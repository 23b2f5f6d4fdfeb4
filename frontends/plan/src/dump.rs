//! A readable text rendering of a plan, for `strata build --print=plan` and
//! golden tests. One line per step, values quoted where they could be
//! ambiguous; stable across runs (maps are ordered).

use crate::{
    Command, ConfigEdit, CopySource, HealthcheckTest, ImageSource, Mount, NetworkMode, Plan,
    SecurityMode, StepKind,
};
use std::fmt::Write as _;

impl Plan {
    /// Renders the plan as text.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.directives {
            let _ = writeln!(out, "# {name}={value}");
        }
        let required = self.required_stages();
        for stage in &self.stages {
            let name = stage
                .name
                .as_deref()
                .map(|n| format!(" AS {n}"))
                .unwrap_or_default();
            let platform = stage
                .platform
                .as_deref()
                .map(|p| format!(" --platform={p}"))
                .unwrap_or_default();
            let mark = if stage.id == self.target {
                " (target)"
            } else if required.contains(&stage.id) {
                ""
            } else {
                " (unused)"
            };
            let _ = writeln!(
                out,
                "stage {}{name}: FROM{platform} {} [line {}]{mark}",
                stage.id.0,
                image_source(&stage.base),
                stage.span.start_line
            );
            for step in &stage.steps {
                let _ = write!(
                    out,
                    "  {:>3}: {}",
                    step.span.start_line,
                    step_line(&step.kind)
                );
                if !step.build_args.is_empty() {
                    let args: Vec<String> = step
                        .build_args
                        .iter()
                        .map(|(k, v)| format!("{k}={v:?}"))
                        .collect();
                    let _ = write!(out, "  args[{}]", args.join(" "));
                }
                if !step.env_over_args.is_empty() {
                    let names: Vec<&str> = step.env_over_args.iter().map(String::as_str).collect();
                    let _ = write!(out, "  env-over-args[{}]", names.join(" "));
                }
                out.push('\n');
            }
        }
        for rule in &self.ignore_rules {
            let bang = if rule.negated { "!" } else { "" };
            let _ = writeln!(out, "ignore {bang}{}", rule.pattern);
        }
        for warning in &self.warnings {
            let line = warning
                .span
                .map(|s| format!(" [line {}]", s.start_line))
                .unwrap_or_default();
            let _ = writeln!(out, "warning {}{line}: {}", warning.rule, warning.message);
        }
        out
    }
}

fn image_source(source: &ImageSource) -> String {
    match source {
        ImageSource::Scratch => "scratch".to_string(),
        ImageSource::Stage(id) => format!("stage {}", id.0),
        ImageSource::Image(r) => format!("image {r:?}"),
        ImageSource::NamedContext(n) => format!("context {n:?}"),
    }
}

fn copy_source(source: &CopySource) -> String {
    match source {
        CopySource::Context => "context".to_string(),
        CopySource::NamedContext(n) => format!("context {n:?}"),
        CopySource::Stage(id) => format!("stage {}", id.0),
        CopySource::Image(r) => format!("image {r:?}"),
    }
}

fn command(cmd: &Command) -> String {
    match cmd {
        Command::Shell(s) => format!("shell {s:?}"),
        Command::Exec(argv) => format!("exec {argv:?}"),
    }
}

fn pairs(pairs: &[(String, String)]) -> String {
    let items: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    items.join(" ")
}

fn step_line(kind: &StepKind) -> String {
    match kind {
        StepKind::Run(run) => {
            let mut s = format!("RUN {}", command(&run.command));
            if run.network != NetworkMode::Default {
                let _ = write!(s, " network={:?}", run.network);
            }
            if run.security != SecurityMode::Sandbox {
                let _ = write!(s, " security={:?}", run.security);
            }
            for m in &run.mounts {
                let _ = write!(s, " mount[{}]", mount(m));
            }
            for f in &run.inline_files {
                let _ = write!(s, " file[{} {:?}]", f.name, f.content);
            }
            for (host, ip) in &run.sandbox.extra_hosts {
                let _ = write!(s, " add-host[{host}={ip}]");
            }
            if let Some(size) = run.sandbox.shm_size {
                let _ = write!(s, " shm-size={size}");
            }
            for u in &run.sandbox.ulimits {
                let limit = |v: Option<u64>| v.map_or("-1".to_string(), |v| v.to_string());
                let _ = write!(s, " ulimit[{}={}:{}]", u.name, limit(u.soft), limit(u.hard));
            }
            s
        }
        StepKind::Copy(c) => {
            let mut s = String::from(if c.add { "ADD" } else { "COPY" });
            let _ = write!(s, " from={}", copy_source(&c.from));
            for p in &c.sources.paths {
                let _ = write!(s, " {p:?}");
            }
            for h in &c.sources.heredocs {
                let _ = write!(s, " heredoc[{} {:?}]", h.name, h.content);
            }
            let _ = write!(s, " -> {:?}", c.dest);
            let flags = [
                ("chown", c.chown.as_deref()),
                ("chmod", c.chmod.as_deref()),
                ("checksum", c.checksum.as_deref()),
            ];
            for (name, value) in flags {
                if let Some(v) = value {
                    let _ = write!(s, " {name}={v}");
                }
            }
            for (name, on) in [
                ("link", c.link),
                ("parents", c.parents),
                ("keep-git-dir", c.keep_git_dir),
            ] {
                if on {
                    let _ = write!(s, " {name}");
                }
            }
            if let Some(unpack) = c.unpack {
                let _ = write!(s, " unpack={unpack}");
            }
            for e in &c.exclude {
                let _ = write!(s, " exclude={e:?}");
            }
            s
        }
        StepKind::Workdir(p) => format!("WORKDIR {p:?}"),
        StepKind::Config(edit) => match edit {
            ConfigEdit::Env(p) => format!("ENV {}", pairs(p)),
            ConfigEdit::Label(p) => format!("LABEL {}", pairs(p)),
            ConfigEdit::Cmd(c) => format!("CMD {}", command(c)),
            ConfigEdit::Entrypoint(c) => format!("ENTRYPOINT {}", command(c)),
            ConfigEdit::Expose(p) => format!("EXPOSE {p:?}"),
            ConfigEdit::Volume(v) => format!("VOLUME {v:?}"),
            ConfigEdit::User(u) => format!("USER {u:?}"),
            ConfigEdit::StopSignal(s) => format!("STOPSIGNAL {s:?}"),
            ConfigEdit::Healthcheck(h) => {
                let test = match &h.test {
                    HealthcheckTest::None => "NONE".to_string(),
                    HealthcheckTest::Exec(a) => format!("exec {a:?}"),
                    HealthcheckTest::Shell(s) => format!("shell {s:?}"),
                };
                format!(
                    "HEALTHCHECK {test} interval={}ns timeout={}ns start-period={}ns start-interval={}ns retries={}",
                    h.interval_ns, h.timeout_ns, h.start_period_ns, h.start_interval_ns, h.retries
                )
            }
            ConfigEdit::Shell(s) => format!("SHELL {s:?}"),
            ConfigEdit::OnBuild(t) => format!("ONBUILD {t:?}"),
            ConfigEdit::Maintainer(m) => format!("MAINTAINER {m:?}"),
        },
    }
}

fn mount(m: &Mount) -> String {
    match m {
        Mount::Bind(b) => format!(
            "bind target={} source={} from={}{}",
            b.target,
            b.source,
            copy_source(&b.from),
            if b.read_write { " rw" } else { "" }
        ),
        Mount::Cache(c) => format!(
            "cache target={} id={} sharing={:?} mode={:o} uid={} gid={}{}{}",
            c.target,
            c.id,
            c.sharing,
            c.mode,
            c.uid,
            c.gid,
            c.from
                .as_ref()
                .map(|f| format!(" from={}", copy_source(f)))
                .unwrap_or_default(),
            if c.read_only { " ro" } else { "" }
        ),
        Mount::Tmpfs(t) => format!(
            "tmpfs target={}{}",
            t.target,
            t.size.map(|s| format!(" size={s}")).unwrap_or_default()
        ),
        Mount::Secret(s) => format!(
            "secret id={} target={}{} required={} mode={:o} uid={} gid={}",
            s.id,
            s.target,
            s.env
                .as_deref()
                .map(|e| format!(" env={e}"))
                .unwrap_or_default(),
            s.required,
            s.mode,
            s.uid,
            s.gid
        ),
        Mount::Ssh(s) => format!(
            "ssh id={} target={} required={} mode={:o}",
            s.id, s.target, s.required, s.mode
        ),
    }
}

#[cfg(test)]
mod tests {
    use crate::*;

    #[test]
    fn dump_marks_target_and_unused_stages() {
        let step = |text: &str, kind| Step {
            span: Span {
                start_line: 3,
                end_line: 3,
            },
            text: text.into(),
            kind,
            build_args: [("V".to_string(), "1".to_string())].into(),
            env_over_args: Default::default(),
        };
        let plan = Plan {
            stages: vec![
                Stage {
                    id: StageId(0),
                    name: Some("unused".into()),
                    base: ImageSource::Scratch,
                    platform: None,
                    steps: vec![],
                    span: Span {
                        start_line: 1,
                        end_line: 1,
                    },
                },
                Stage {
                    id: StageId(1),
                    name: None,
                    base: ImageSource::Image("alpine".into()),
                    platform: None,
                    steps: vec![step(
                        "RUN echo",
                        StepKind::Run(RunStep {
                            command: Command::Shell("echo $V".into()),
                            inline_files: vec![],
                            mounts: vec![Mount::Tmpfs(TmpfsMount {
                                target: "/t".into(),
                                size: None,
                            })],
                            network: NetworkMode::None,
                            security: SecurityMode::Sandbox,
                            sandbox: Default::default(),
                        }),
                    )],
                    span: Span {
                        start_line: 2,
                        end_line: 2,
                    },
                },
            ],
            target: StageId(1),
            ..Default::default()
        };
        assert_eq!(
            plan.dump(),
            "stage 0 AS unused: FROM scratch [line 1] (unused)\n\
             stage 1: FROM image \"alpine\" [line 2] (target)\n\
             \x20   3: RUN shell \"echo $V\" network=None mount[tmpfs target=/t]  args[V=\"1\"]\n"
        );
    }
}
