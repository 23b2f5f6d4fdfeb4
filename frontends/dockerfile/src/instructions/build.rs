//! One function per instruction: checks a node's flags and arguments and
//! builds the typed instruction, with BuildKit's rules and messages.

use super::flags::{FlagError, Flags, Kind};
use super::mount::parse_mount;
use super::{
    ArgDecl, CommandLine, Copy, Expandable, From, Healthcheck, HeredocSource, Instruction,
    KeyValue, Network, OnBuild, Run, Security, parse_go_duration,
};
use crate::parser::{Arg, Node, parse_heredoc_word};

/// An instruction error: the message and the line and column it points at.
#[derive(Debug)]
pub(super) struct BuildError {
    pub message: String,
    pub at: (usize, usize),
}

type Result<T> = std::result::Result<T, BuildError>;

struct Ctx<'a> {
    node: &'a Node,
}

impl Ctx<'_> {
    /// An error pointing at the keyword.
    fn err(&self, message: impl Into<String>) -> BuildError {
        BuildError {
            message: message.into(),
            at: self.node.keyword_position(),
        }
    }

    fn flag_err(&self, e: FlagError) -> BuildError {
        BuildError {
            message: e.message,
            at: self.node.locate(&e.flag),
        }
    }

    fn flags(&self, spec: &[(&'static str, Kind)]) -> Result<Flags> {
        Flags::parse(&self.node.flags, spec).map_err(|e| self.flag_err(e))
    }

    /// BuildKit's `nodeArgs`: words, and for a nested instruction its
    /// keyword followed by its words.
    fn args(&self) -> Vec<String> {
        let mut out = Vec::new();
        for arg in &self.node.args {
            match arg {
                Arg::Word(w) => out.push(w.clone()),
                Arg::Node(child) => {
                    out.push(child.keyword_raw.clone());
                    out.extend(child.words().into_iter().map(str::to_string));
                }
            }
        }
        out
    }

    fn upper(&self) -> String {
        self.node.keyword.to_ascii_uppercase()
    }

    fn exactly_one(&self) -> Result<Expandable> {
        let args = self.args();
        match args.as_slice() {
            [one] => Ok(Expandable(one.clone())),
            _ => Err(self.err(format!("{} requires exactly one argument", self.upper()))),
        }
    }

    fn at_least_one(&self) -> Result<Vec<String>> {
        let args = self.args();
        if args.is_empty() {
            return Err(self.err(format!("{} requires at least one argument", self.upper())));
        }
        Ok(args)
    }

    /// BuildKit's `handleJSONArgs` folded into a command line.
    fn command_line(&self, args: Vec<String>) -> CommandLine {
        if self.node.json {
            CommandLine::Exec(args)
        } else {
            CommandLine::Shell(args.join(" "))
        }
    }
}

/// Types one node.
pub(super) fn instruction(node: &Node) -> Result<Instruction> {
    let cx = Ctx { node };
    match node.keyword.as_str() {
        "from" => from(&cx),
        "run" => run(&cx),
        "copy" => copy(&cx, false),
        "add" => copy(&cx, true),
        "env" => key_values(&cx).map(Instruction::Env),
        "label" => key_values(&cx).map(Instruction::Label),
        "cmd" => {
            cx.flags(&[])?;
            Ok(Instruction::Cmd(cx.command_line(cx.args())))
        }
        "entrypoint" => {
            cx.flags(&[])?;
            Ok(Instruction::Entrypoint(cx.command_line(cx.args())))
        }
        "expose" => {
            let mut ports = cx.at_least_one()?;
            cx.flags(&[])?;
            ports.sort();
            Ok(Instruction::Expose(
                ports.into_iter().map(Expandable).collect(),
            ))
        }
        "volume" => {
            let volumes = cx.at_least_one()?;
            cx.flags(&[])?;
            if volumes.iter().any(|v| v.trim().is_empty()) {
                return Err(cx.err("VOLUME specified can not be an empty string"));
            }
            Ok(Instruction::Volume(
                volumes.into_iter().map(Expandable).collect(),
            ))
        }
        "user" => single(&cx).map(Instruction::User),
        "workdir" => single(&cx).map(Instruction::Workdir),
        "stopsignal" => single(&cx).map(Instruction::StopSignal),
        "maintainer" => single(&cx).map(|m| Instruction::Maintainer(m.0)),
        "arg" => arg(&cx),
        "onbuild" => onbuild(&cx),
        "healthcheck" => healthcheck(&cx),
        "shell" => shell(&cx),
        _ => {
            let hint = super::suggest(&node.keyword_raw, &super::KEYWORDS, false)
                .map(|s| format!(" (did you mean {s}?)"))
                .unwrap_or_default();
            Err(cx.err(format!("unknown instruction: {}{hint}", node.keyword_raw)))
        }
    }
}

fn single(cx: &Ctx<'_>) -> Result<Expandable> {
    let value = cx.exactly_one()?;
    cx.flags(&[])?;
    Ok(value)
}

fn from(cx: &Ctx<'_>) -> Result<Instruction> {
    let args = cx.args();
    let name = match args.as_slice() {
        [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
            let lower = name.to_ascii_lowercase();
            let mut chars = lower.chars();
            let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
            if !valid {
                return Err(BuildError {
                    message: format!(
                        "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                    ),
                    at: cx.node.locate(name),
                });
            }
            Some(lower)
        }
        [_] => None,
        _ => return Err(cx.err("FROM requires either one or three arguments")),
    };
    let flags = cx.flags(&[("platform", Kind::String)])?;
    Ok(Instruction::From(From {
        image: Expandable(args[0].clone()),
        name,
        platform: flags.string("platform").map(Expandable),
    }))
}

fn run(cx: &Ctx<'_>) -> Result<Instruction> {
    let flags = cx.flags(&[
        ("mount", Kind::Strings),
        ("network", Kind::String),
        ("security", Kind::String),
    ])?;
    let mut mounts = Vec::new();
    for raw in flags.strings("mount") {
        let mount = parse_mount(&raw).map_err(|message| BuildError {
            message,
            at: cx.node.locate_first(&[&raw, "--mount"]),
        })?;
        mounts.push(mount);
    }
    let network = match flags.string("network").as_deref() {
        None | Some("default") => Network::Default,
        Some("none") => Network::None,
        Some("host") => Network::Host,
        Some(other) => {
            return Err(BuildError {
                message: format!("unsupported network mode {other:?}"),
                at: cx.node.locate("--network"),
            });
        }
    };
    let security = match flags.string("security").as_deref() {
        None | Some("sandbox") => Security::Sandbox,
        Some("insecure") => Security::Insecure,
        Some(other) => {
            return Err(BuildError {
                message: format!("unsupported security mode {other:?}"),
                at: cx.node.locate("--security"),
            });
        }
    };
    Ok(Instruction::Run(Run {
        cmd: cx.command_line(cx.args()),
        heredocs: cx.node.heredocs.clone(),
        mounts,
        network,
        security,
    }))
}

fn copy(cx: &Ctx<'_>, add: bool) -> Result<Instruction> {
    let name = if add { "ADD" } else { "COPY" };
    let args = cx.args();
    if args.len() < 2 {
        return Err(cx.err(format!(
            "{name} requires at least two arguments, but only one was provided. Destination could not be determined"
        )));
    }
    let mut spec = vec![
        ("exclude", Kind::Strings),
        ("chown", Kind::String),
        ("chmod", Kind::String),
        ("link", Kind::Bool),
    ];
    if add {
        spec.extend([
            ("keep-git-dir", Kind::Bool),
            ("checksum", Kind::String),
            ("unpack", Kind::Bool),
        ]);
    } else {
        spec.extend([("from", Kind::String), ("parents", Kind::Bool)]);
    }
    let flags = cx.flags(&spec)?;
    let (dest, sources) = args.split_last().ok_or_else(|| cx.err("no destination"))?;
    let json = cx.node.json;
    if !json && parse_heredoc_word(dest).is_some() {
        return Err(BuildError {
            message: format!("{name} cannot accept a heredoc as a destination"),
            at: cx.node.locate(dest),
        });
    }
    let mut paths = Vec::new();
    let mut heredoc_sources = Vec::new();
    for src in sources {
        match parse_heredoc_word(src).filter(|_| !json) {
            Some(word) => {
                // By name, the last document wins (BuildKit keeps a map).
                let doc = cx.node.heredocs.iter().rev().find(|h| h.name == word.name);
                let content = doc
                    .map(|d| {
                        let mut d = d.clone();
                        d.chomp = word.chomp;
                        d.body()
                    })
                    .unwrap_or_default();
                heredoc_sources.push(HeredocSource {
                    name: word.name,
                    content,
                    expand: word.expand,
                });
            }
            None => paths.push(Expandable(src.clone())),
        }
    }
    let opt = |n: &str| flags.string(n).map(Expandable);
    Ok(Instruction::Copy(Copy {
        add,
        sources: paths,
        heredoc_sources,
        dest: Expandable(dest.clone()),
        json,
        from: opt("from"),
        chown: opt("chown"),
        chmod: opt("chmod"),
        link: flags.bool("link").unwrap_or(false),
        parents: flags.bool("parents").unwrap_or(false),
        exclude: flags
            .strings("exclude")
            .into_iter()
            .map(Expandable)
            .collect(),
        checksum: opt("checksum"),
        keep_git_dir: flags.bool("keep-git-dir").unwrap_or(false),
        unpack: flags.bool("unpack"),
    }))
}

fn key_values(cx: &Ctx<'_>) -> Result<Vec<KeyValue>> {
    cx.flags(&[])?;
    let args = cx.args();
    let upper = cx.upper();
    if args.is_empty() {
        return Err(cx.err(format!("{upper} requires at least one argument")));
    }
    if !args.len().is_multiple_of(3) {
        return Err(cx.err(format!("Bad input to {upper}, too many arguments")));
    }
    let mut out = Vec::new();
    for triple in args.chunks(3) {
        if triple[0].is_empty() {
            return Err(cx.err(format!("{upper} names can not be blank")));
        }
        out.push(KeyValue {
            key: Expandable(triple[0].clone()),
            value: Expandable(triple[1].clone()),
            legacy: triple[2].is_empty(),
        });
    }
    Ok(out)
}

fn arg(cx: &Ctx<'_>) -> Result<Instruction> {
    let args = cx.at_least_one()?;
    cx.flags(&[])?;
    let decls = args
        .into_iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) => ArgDecl {
                name: Expandable(k.to_string()),
                default: Some(Expandable(v.to_string())),
            },
            None => ArgDecl {
                name: Expandable(a),
                default: None,
            },
        })
        .collect();
    Ok(Instruction::Arg(decls))
}

fn onbuild(cx: &Ctx<'_>) -> Result<Instruction> {
    let Some(Arg::Node(child)) = cx.node.args.first() else {
        return Err(cx.err("ONBUILD requires at least one argument"));
    };
    cx.flags(&[])?;
    let keyword = child.keyword_raw.trim().to_ascii_uppercase();
    match keyword.as_str() {
        "ONBUILD" => {
            return Err(cx.err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"));
        }
        "MAINTAINER" | "FROM" => {
            return Err(BuildError {
                message: format!("{keyword} isn't allowed as an ONBUILD trigger"),
                at: cx.node.locate(&child.keyword_raw),
            });
        }
        _ => {}
    }
    // `(?i)^\s*ONBUILD\s*` removed from the original text.
    let original = cx.node.original.trim_start();
    let rest = original
        .get(cx.node.keyword_raw.len()..)
        .unwrap_or_default()
        .trim_start();
    let mut expression = rest.to_string();
    for doc in &cx.node.heredocs {
        expression.push('\n');
        expression.push_str(&doc.content);
        expression.push_str(&doc.name);
    }
    let mut inner = (**child).clone();
    inner.heredocs = cx.node.heredocs.clone();
    let trigger = instruction(&inner).ok().map(Box::new);
    Ok(Instruction::OnBuild(OnBuild {
        expression,
        keyword,
        trigger,
    }))
}

fn duration(cx: &Ctx<'_>, flags: &Flags, name: &str) -> Result<i64> {
    let Some(text) = flags.string(name).filter(|s| !s.is_empty()) else {
        return Ok(0);
    };
    let err = |message: String| BuildError {
        message,
        at: cx.node.locate(&format!("--{name}")),
    };
    let ns = parse_go_duration(&text).map_err(err)?;
    if ns == 0 {
        return Ok(0);
    }
    if ns < 1_000_000 {
        return Err(err(format!("Interval {name:?} cannot be less than 1ms")));
    }
    Ok(ns)
}

fn healthcheck(cx: &Ctx<'_>) -> Result<Instruction> {
    let args = cx.at_least_one()?;
    let typ = args[0].to_ascii_uppercase();
    let rest = args[1..].to_vec();
    if typ == "NONE" {
        // BuildKit does not look at the flags of HEALTHCHECK NONE.
        if !rest.is_empty() {
            return Err(cx.err("HEALTHCHECK NONE takes no arguments"));
        }
        return Ok(Instruction::Healthcheck(Healthcheck::None));
    }
    let flags = cx.flags(&[
        ("interval", Kind::String),
        ("timeout", Kind::String),
        ("start-period", Kind::String),
        ("start-interval", Kind::String),
        ("retries", Kind::String),
    ])?;
    if typ != "CMD" {
        return Err(cx.err(format!("Unknown type {typ:?} in HEALTHCHECK (try CMD)")));
    }
    if rest.is_empty() {
        return Err(cx.err("Missing command after HEALTHCHECK CMD"));
    }
    let cmd = cx.command_line(rest);
    let interval_ns = duration(cx, &flags, "interval")?;
    let timeout_ns = duration(cx, &flags, "timeout")?;
    let start_period_ns = duration(cx, &flags, "start-period")?;
    let start_interval_ns = duration(cx, &flags, "start-interval")?;
    let retries = match flags.string("retries").filter(|s| !s.is_empty()) {
        None => 0,
        Some(text) => {
            let err = |message: String| BuildError {
                message,
                at: cx.node.locate("--retries"),
            };
            let n: i32 = match text.parse::<i64>() {
                Ok(n) => i32::try_from(n).map_err(|_| {
                    err(format!(
                        "strconv.ParseInt: parsing {text:?}: value out of range"
                    ))
                })?,
                Err(_) => {
                    return Err(err(format!(
                        "strconv.ParseInt: parsing {text:?}: invalid syntax"
                    )));
                }
            };
            if n < 1 {
                return Err(err(format!("--retries must be at least 1 (not {n})")));
            }
            n.unsigned_abs()
        }
    };
    Ok(Instruction::Healthcheck(Healthcheck::Cmd {
        cmd,
        interval_ns,
        timeout_ns,
        start_period_ns,
        start_interval_ns,
        retries,
    }))
}

fn shell(cx: &Ctx<'_>) -> Result<Instruction> {
    cx.flags(&[])?;
    let args = cx.args();
    if args.is_empty() {
        return Err(cx.err("SHELL requires at least one argument"));
    }
    if !cx.node.json {
        return Err(BuildError {
            message: "SHELL requires the arguments to be in JSON form".into(),
            at: cx.node.locate(&args[0]),
        });
    }
    Ok(Instruction::Shell(args))
}
