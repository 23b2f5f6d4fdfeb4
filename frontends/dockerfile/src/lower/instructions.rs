//! One Dockerfile instruction → plan steps, with Docker's expansion rules:
//! COPY/ADD, ENV, LABEL, EXPOSE, USER, WORKDIR, VOLUME, STOPSIGNAL, ARG and
//! mount options are expanded; RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK and
//! ONBUILD are not (the shell expands them at run time).

use super::flags::{Flags, Kind};
use super::mounts::{RawMount, parse_mount};
use super::{Lowering, args};
use crate::parser::{Arg, Node, parse_heredoc_word};
use crate::shell::Lexer;
use std::collections::BTreeMap;
use strata_plan::{
    Command, ConfigEdit, CopySource, CopySources, CopyStep, Healthcheck, HealthcheckTest,
    HeredocFile, Mount, NetworkMode, RunStep, SecurityMode, Span, StageId, Step, StepKind,
};

type R<T> = Result<T, String>;

impl Lowering<'_, '_> {
    fn stage_index(&self) -> usize {
        self.stages.len() - 1
    }

    fn expand(&self, word: &str) -> R<String> {
        let env = self.states[self.stage_index()].expansion_env();
        self.lexer
            .process_word(word, &env)
            .map_err(|e| e.to_string())
    }

    fn expand_words(&self, word: &str) -> R<Vec<String>> {
        let env = self.states[self.stage_index()].expansion_env();
        self.lexer
            .process_words(word, &env)
            .map_err(|e| e.to_string())
    }

    fn push(&mut self, node: &Node, text: &str, kind: StepKind) {
        let state = &self.states[self.stage_index()];
        let mut build_args: BTreeMap<String, String> = state.args.values().into_iter().collect();
        for (k, v) in &self.opts.build_args {
            if args::is_predefined(k) {
                build_args.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        let index = self.stage_index();
        self.stages[index].steps.push(Step {
            span: Span {
                start_line: node.start_line,
                end_line: node.end_line,
            },
            text: text.to_string(),
            kind,
            build_args,
        });
    }

    /// Lowers one instruction of the current stage. `trigger` is the ONBUILD
    /// trigger text when the instruction comes from a base image.
    pub(super) fn instruction(&mut self, node: &Node, trigger: Option<&str>) -> R<()> {
        let text = trigger.map_or_else(|| node.original.trim().to_string(), str::to_string);
        let kw = node.keyword.as_str();
        let no_flags = |node: &Node| Flags::parse(kw, &node.flags, &[]);
        let one_arg = |node: &Node| -> R<String> {
            match node.words().as_slice() {
                [one] => Ok(one.to_string()),
                _ => Err(format!(
                    "{} requires exactly one argument",
                    kw.to_uppercase()
                )),
            }
        };
        let kind = match kw {
            "run" => StepKind::Run(self.run(node)?),
            "copy" | "add" => StepKind::Copy(self.copy(node, kw == "add")?),
            "workdir" => {
                no_flags(node)?;
                let dir = self.expand(&one_arg(node)?)?;
                if dir.is_empty() {
                    return Err("WORKDIR requires a non-empty path".into());
                }
                let index = self.stage_index();
                let state = &mut self.states[index];
                state.workdir = join(&state.workdir, &dir);
                StepKind::Workdir(dir)
            }
            "arg" => {
                no_flags(node)?;
                if node.words().is_empty() {
                    return Err("ARG requires at least one argument".into());
                }
                for word in node.words() {
                    let (name, default) = args::split_arg(word)?;
                    let default = match default {
                        Some(d) => Some(self.expand(&d)?),
                        None => None,
                    };
                    let global = self.global.get(&name).flatten().map(str::to_string);
                    let value = self
                        .opts
                        .build_args
                        .get(&name)
                        .cloned()
                        .or(default)
                        .or(global);
                    self.consumed.insert(name.clone());
                    let index = self.stage_index();
                    self.states[index].args.declare(&name, value);
                }
                return Ok(());
            }
            "env" | "label" => {
                no_flags(node)?;
                let words = node.words();
                if words.is_empty() {
                    return Err(format!(
                        "{} requires at least one argument",
                        kw.to_uppercase()
                    ));
                }
                let mut pairs = Vec::new();
                for triple in words.chunks(3) {
                    let [k, v, _] = triple else {
                        return Err(format!("{} expects name=value pairs", kw.to_uppercase()));
                    };
                    let key = self.expand(k)?;
                    if key.is_empty() {
                        return Err(format!("{} names can not be blank", kw.to_uppercase()));
                    }
                    let value = self.expand(v)?;
                    if kw == "env" {
                        let index = self.stage_index();
                        let env = &mut self.states[index].env;
                        env.retain(|(ek, _)| *ek != key);
                        env.push((key.clone(), value.clone()));
                    }
                    pairs.push((key, value));
                }
                StepKind::Config(if kw == "env" {
                    ConfigEdit::Env(pairs)
                } else {
                    ConfigEdit::Label(pairs)
                })
            }
            "cmd" | "entrypoint" => {
                no_flags(node)?;
                let command = command(node).ok_or_else(|| {
                    format!("{} requires at least one argument", kw.to_uppercase())
                })?;
                StepKind::Config(if kw == "cmd" {
                    ConfigEdit::Cmd(command)
                } else {
                    ConfigEdit::Entrypoint(command)
                })
            }
            "shell" => {
                no_flags(node)?;
                if !node.json {
                    return Err("SHELL requires the arguments to be in JSON form".into());
                }
                let words: Vec<String> = node.words().iter().map(|s| s.to_string()).collect();
                if words.is_empty() {
                    return Err("SHELL requires at least one argument".into());
                }
                StepKind::Config(ConfigEdit::Shell(words))
            }
            "expose" => {
                no_flags(node)?;
                if node.words().is_empty() {
                    return Err("EXPOSE requires at least one argument".into());
                }
                let mut ports = Vec::new();
                for word in node.words() {
                    for port in self.expand_words(word)? {
                        ports.extend(expand_ports(&port)?);
                    }
                }
                StepKind::Config(ConfigEdit::Expose(ports))
            }
            "volume" => {
                no_flags(node)?;
                let mut volumes = Vec::new();
                for word in node.words() {
                    let v = self.expand(word)?;
                    if v.trim().is_empty() {
                        return Err("VOLUME specified can not be an empty string".into());
                    }
                    volumes.push(v);
                }
                if volumes.is_empty() {
                    return Err("VOLUME requires at least one argument".into());
                }
                StepKind::Config(ConfigEdit::Volume(volumes))
            }
            "user" => {
                no_flags(node)?;
                StepKind::Config(ConfigEdit::User(self.expand(&one_arg(node)?)?))
            }
            "stopsignal" => {
                no_flags(node)?;
                StepKind::Config(ConfigEdit::StopSignal(self.expand(&one_arg(node)?)?))
            }
            "maintainer" => {
                no_flags(node)?;
                self.warn(
                    Some(node.start_line),
                    "MaintainerDeprecated",
                    "MAINTAINER instruction is deprecated in favor of using label".into(),
                );
                StepKind::Config(ConfigEdit::Maintainer(one_arg(node)?))
            }
            "healthcheck" => StepKind::Config(ConfigEdit::Healthcheck(healthcheck(node)?)),
            "onbuild" => {
                no_flags(node)?;
                let Some(Arg::Node(inner)) = node.args.first() else {
                    return Err("ONBUILD requires at least one argument".into());
                };
                if matches!(inner.keyword.as_str(), "onbuild" | "from" | "maintainer") {
                    return Err(format!(
                        "{} isn't allowed as an ONBUILD trigger",
                        inner.keyword.to_uppercase()
                    ));
                }
                StepKind::Config(ConfigEdit::OnBuild(inner.original.trim().to_string()))
            }
            "from" => return Err("FROM cannot be used here".into()),
            other => return Err(format!("unknown instruction: {}", other.to_uppercase())),
        };
        self.push(node, &text, kind);
        Ok(())
    }

    /// Resolves `--from=` (expanded): a stage by name or index, a named
    /// context, or an image.
    fn source(&mut self, from: Option<&str>, line: usize) -> R<CopySource> {
        let Some(from) = from else {
            return Ok(CopySource::Context);
        };
        let from = self.expand(from)?;
        let lower = from.to_ascii_lowercase();
        let current = self.stage_index();
        let by_name = self
            .all_stage_names
            .iter()
            .position(|s| s.as_deref() == Some(lower.as_str()));
        let by_index = from.parse::<usize>().ok();
        let id = match (by_name, by_index) {
            (Some(i), _) => Some(i),
            (None, Some(i)) if i < self.all_stage_names.len() => Some(i),
            (None, Some(i)) => {
                return Err(format!(
                    "invalid stage index {i}: the Dockerfile has {} stages",
                    self.all_stage_names.len()
                ));
            }
            _ => None,
        };
        if let Some(id) = id {
            if id == current {
                return Err(format!("circular dependency detected on stage: {from}"));
            }
            self.references.push((current, id, line));
            return Ok(CopySource::Stage(StageId(id)));
        }
        if self.opts.named_contexts.contains(&from) {
            return Ok(CopySource::NamedContext(from));
        }
        Ok(CopySource::Image(from))
    }

    fn run(&mut self, node: &Node) -> R<RunStep> {
        let flags = Flags::parse(
            "run",
            &node.flags,
            &[
                ("mount", Kind::Repeat),
                ("network", Kind::Value),
                ("security", Kind::Value),
            ],
        )?;
        let network = match flags
            .value("network")
            .map(|n| self.expand(n))
            .transpose()?
            .as_deref()
        {
            None | Some("default") => NetworkMode::Default,
            Some("none") => NetworkMode::None,
            Some("host") => NetworkMode::Host,
            Some(other) => {
                return Err(format!(
                    "network mode {other:?} not supported (default, none or host)"
                ));
            }
        };
        let security = match flags
            .value("security")
            .map(|n| self.expand(n))
            .transpose()?
            .as_deref()
        {
            None | Some("sandbox") => SecurityMode::Sandbox,
            Some("insecure") => SecurityMode::Insecure,
            Some(other) => {
                return Err(format!(
                    "security mode {other:?} not supported (sandbox or insecure)"
                ));
            }
        };
        let mut mounts = Vec::new();
        let mut ssh_index = 0;
        for value in flags.values("mount") {
            let mut expand = |s: &str| self.expand(s);
            let RawMount { mut mount, from } = parse_mount(value, &mut expand, ssh_index)?;
            if matches!(mount, Mount::Ssh(_)) {
                ssh_index += 1;
            }
            let source = match &from {
                Some(f) => Some(self.source(Some(f), node.start_line)?),
                None => None,
            };
            let workdir = self.states[self.stage_index()].workdir.clone();
            match &mut mount {
                Mount::Bind(b) => {
                    b.target = join(&workdir, &b.target);
                    if let Some(s) = source {
                        b.from = s;
                    }
                }
                Mount::Cache(c) => {
                    c.target = join(&workdir, &c.target);
                    c.from = source;
                }
                Mount::Tmpfs(t) => t.target = join(&workdir, &t.target),
                Mount::Secret(s) if !s.target.is_empty() => s.target = join(&workdir, &s.target),
                Mount::Secret(_) => {}
                Mount::Ssh(s) => s.target = join(&workdir, &s.target),
            }
            mounts.push(mount);
        }
        let mut inline_files = Vec::new();
        let command = if node.json {
            Command::Exec(node.words().iter().map(|s| s.to_string()).collect())
        } else {
            let line = node
                .words()
                .first()
                .map(|s| s.to_string())
                .ok_or("RUN requires at least one argument")?;
            match node.heredocs.as_slice() {
                [] => Command::Shell(line),
                [doc] if parse_heredoc_word(line.trim()).is_some() => {
                    let data = doc.body();
                    if data.starts_with("#!") {
                        inline_files.push(HeredocFile {
                            name: doc.name.clone(),
                            content: data,
                        });
                        Command::Shell(format!("/dev/pipes/{}", doc.name))
                    } else {
                        Command::Shell(data)
                    }
                }
                docs => {
                    let mut full = line;
                    for doc in docs {
                        full.push('\n');
                        full.push_str(&doc.content);
                        full.push_str(&doc.name);
                    }
                    Command::Shell(full)
                }
            }
        };
        Ok(RunStep {
            command,
            inline_files,
            mounts,
            network,
            security,
        })
    }

    fn copy(&mut self, node: &Node, add: bool) -> R<CopyStep> {
        let allowed: &[(&str, Kind)] = if add {
            &[
                ("chown", Kind::Value),
                ("chmod", Kind::Value),
                ("link", Kind::Bool),
                ("exclude", Kind::Repeat),
                ("checksum", Kind::Value),
                ("keep-git-dir", Kind::Bool),
                ("unpack", Kind::Bool),
            ]
        } else {
            &[
                ("from", Kind::Value),
                ("chown", Kind::Value),
                ("chmod", Kind::Value),
                ("link", Kind::Bool),
                ("parents", Kind::Bool),
                ("exclude", Kind::Repeat),
            ]
        };
        let flags = Flags::parse(&node.keyword, &node.flags, allowed)?;
        let words = node.words();
        let name = node.keyword.to_uppercase();
        if words.len() < 2 {
            return Err(format!(
                "{name} requires at least two arguments, but only {} provided. Destination could not be determined",
                words.len()
            ));
        }
        let (srcs, dest) = words.split_at(words.len() - 1);
        let dest = self.expand(dest[0])?;
        let mut sources = CopySources::default();
        for src in srcs {
            if !node.json
                && let Some(word) = parse_heredoc_word(src)
                && let Some(doc) = node.heredocs.iter().find(|d| d.name == word.name)
            {
                let body = doc.body();
                let content = if doc.expand {
                    let mut lexer = Lexer::new(self.escape);
                    lexer.skip_process_quotes = true;
                    let env = self.states[self.stage_index()].expansion_env();
                    lexer.process_word(&body, &env).map_err(|e| e.to_string())?
                } else {
                    body
                };
                sources.heredocs.push(HeredocFile {
                    name: doc.name.clone(),
                    content,
                });
                continue;
            }
            sources.paths.push(self.expand(src)?);
        }
        let expand_opt =
            |this: &Self, name: &str| flags.value(name).map(|v| this.expand(v)).transpose();
        let chown = expand_opt(self, "chown")?;
        let chmod = expand_opt(self, "chmod")?;
        if let Some(mode) = &chmod {
            validate_chmod(mode)?;
        }
        let checksum = expand_opt(self, "checksum")?;
        let exclude = flags
            .values("exclude")
            .iter()
            .map(|e| self.expand(e))
            .collect::<R<Vec<_>>>()?;
        let from = self.source(flags.value("from"), node.start_line)?;
        Ok(CopyStep {
            add,
            from,
            sources,
            dest,
            chown,
            chmod,
            link: flags.bool("link").unwrap_or(false),
            parents: flags.bool("parents").unwrap_or(false),
            exclude,
            checksum,
            keep_git_dir: flags.bool("keep-git-dir").unwrap_or(false),
            unpack: flags.bool("unpack"),
        })
    }
}

fn command(node: &Node) -> Option<Command> {
    if node.json {
        return Some(Command::Exec(
            node.words().iter().map(|s| s.to_string()).collect(),
        ));
    }
    node.words().first().map(|s| Command::Shell(s.to_string()))
}

/// `path` made absolute against the working directory, and cleaned.
fn join(workdir: &str, path: &str) -> String {
    if path.starts_with('/') {
        return crate::dockerignore::clean(path);
    }
    crate::dockerignore::clean(&format!("/{workdir}/{path}"))
}

/// Checks that `--chmod` is octal or symbolic (`u+x,g-w`).
fn validate_chmod(mode: &str) -> R<()> {
    let octal =
        !mode.is_empty() && mode.len() <= 5 && mode.bytes().all(|b| (b'0'..=b'7').contains(&b));
    let symbolic = mode.split(',').all(|clause| {
        let Some(at) = clause.find(['+', '-', '=']) else {
            return false;
        };
        clause[..at].bytes().all(|b| b"ugoa".contains(&b))
            && clause[at + 1..].bytes().all(|b| b"rwxXst".contains(&b))
    });
    if octal || symbolic {
        Ok(())
    } else {
        Err(format!(
            "invalid chmod parameter {mode:?}: expected octal (755) or symbolic (u+x)"
        ))
    }
}

/// `80`, `80/udp`, `8000-8002/tcp` → `80/tcp`, … (ranges expanded).
fn expand_ports(spec: &str) -> R<Vec<String>> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let port = |p: &str| -> R<u16> {
        p.parse::<u16>()
            .map_err(|_| format!("invalid containerPort: {p}"))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => {
            let p = port(ports)?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(format!(
            "invalid range specified for containerPort: {ports}"
        ));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// Go durations: `30s`, `1m30s`, `500ms`, `1h`, `1.5s`.
pub(crate) fn parse_duration(s: &str) -> R<u64> {
    let bad = || format!("time: invalid duration {s:?}");
    if s == "0" {
        return Ok(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += value * mult;
        rest = &rest[unit_len..];
    }
    Ok(total as u64)
}

fn healthcheck(node: &Node) -> R<Healthcheck> {
    let words = node.words();
    let Some(kind) = words.first() else {
        return Err("HEALTHCHECK requires an argument (NONE or CMD)".into());
    };
    let kind = kind.to_ascii_uppercase();
    if kind == "NONE" {
        if words.len() > 1 || !node.flags.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Healthcheck {
            test: HealthcheckTest::None,
            interval_ns: 0,
            timeout_ns: 0,
            start_period_ns: 0,
            start_interval_ns: 0,
            retries: 0,
        });
    }
    if kind != "CMD" {
        return Err(format!("unknown type {kind:?} in HEALTHCHECK (try CMD)"));
    }
    let flags = Flags::parse(
        "healthcheck",
        &node.flags,
        &[
            ("interval", Kind::Value),
            ("timeout", Kind::Value),
            ("start-period", Kind::Value),
            ("start-interval", Kind::Value),
            ("retries", Kind::Value),
        ],
    )?;
    let rest: Vec<String> = words[1..].iter().map(|s| s.to_string()).collect();
    let test = if node.json {
        HealthcheckTest::Exec(rest)
    } else {
        match rest.first() {
            Some(line) => HealthcheckTest::Shell(line.clone()),
            None => return Err("HEALTHCHECK CMD requires a command".into()),
        }
    };
    let duration = |name: &str| -> R<u64> {
        match flags.value(name) {
            None => Ok(0),
            Some(v) => {
                let d = parse_duration(v)?;
                if d != 0 && d < 1_000_000 {
                    return Err(format!("--{name} cannot be less than 1ms"));
                }
                Ok(d)
            }
        }
    };
    let retries = match flags.value("retries") {
        None => 0,
        Some(v) => v
            .parse::<u32>()
            .map_err(|_| format!("--retries must be a non-negative integer, not {v:?}"))?,
    };
    Ok(Healthcheck {
        test,
        interval_ns: duration("interval")?,
        timeout_ns: duration("timeout")?,
        start_period_ns: duration("start-period")?,
        start_interval_ns: duration("start-interval")?,
        retries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), 30_000_000_000);
        assert_eq!(parse_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_duration("500ms").unwrap(), 500_000_000);
        assert_eq!(parse_duration("1.5h").unwrap(), 5_400_000_000_000);
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn ports() {
        assert_eq!(expand_ports("80").unwrap(), ["80/tcp"]);
        assert_eq!(expand_ports("53/UDP").unwrap(), ["53/udp"]);
        assert_eq!(
            expand_ports("8000-8002").unwrap(),
            ["8000/tcp", "8001/tcp", "8002/tcp"]
        );
        assert!(expand_ports("70000").is_err());
        assert!(expand_ports("80/icmp").is_err());
    }

    #[test]
    fn chmod_values() {
        for ok in ["755", "0644", "u+x", "u+x,g-w,o=r", "a=rX"] {
            validate_chmod(ok).unwrap();
        }
        for bad in ["999", "u+z", "x", ""] {
            assert!(validate_chmod(bad).is_err(), "{bad}");
        }
    }
}
