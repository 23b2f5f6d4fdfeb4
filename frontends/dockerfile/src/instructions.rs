//! Typed instructions: each parsed [`Node`] checked and turned into an
//! [`Instruction`], as BuildKit's `instructions` package does.
//!
//! Values stay as written. A field of type [`Expandable`] is one that
//! BuildKit expands with the ARG/ENV variables in scope (and removes quotes
//! from) before use; plain `String` fields are used literally. Expansion is
//! the lowering's job, with the [`shell`](crate::shell) module.
//!
//! ```
//! use strata_dockerfile::instructions::{parse, Instruction};
//! let found = parse("Dockerfile", "FROM alpine AS base\nCOPY --link a b /dst/\n").unwrap();
//! let Instruction::Copy(copy) = &found[1].instruction else { panic!() };
//! assert!(copy.link);
//! assert_eq!(copy.sources.len(), 2);
//! ```

mod build;
mod duration;
mod flags;
mod mount;

pub use duration::parse_go_duration;
pub(crate) use mount::parse_go_bool;
pub use mount::{CacheSharing, Deferred, MountType, RunMount, parse_mount, parse_ram_size};

use crate::error::DockerfileError;
use crate::parser::{self, Heredoc, Node};

/// A value BuildKit expands (variables, quote removal) before use, kept as
/// written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expandable(pub String);

impl Expandable {
    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An instruction with its place in the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The typed instruction.
    pub instruction: Instruction,
    /// First line (1-based).
    pub start_line: usize,
    /// Last line, heredoc bodies included.
    pub end_line: usize,
    /// The instruction text with continuations joined.
    pub original: String,
}

/// A command in shell form or exec (JSON) form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// Shell form: run with the shell in effect (`/bin/sh -c`). Not
    /// expanded by BuildKit (the shell does it). Empty for a bare `CMD`.
    Shell(String),
    /// Exec form: the argv as written in the JSON array, not expanded.
    Exec(Vec<String>),
}

/// A `name=value` pair of ENV or LABEL; both sides are expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The name as written.
    pub key: Expandable,
    /// The value as written, quotes included.
    pub value: Expandable,
    /// Written in the legacy `ENV key value` form (no `=`).
    pub legacy: bool,
}

/// One `name[=default]` of an ARG; both sides are expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// The name as written.
    pub name: Expandable,
    /// The default, when given.
    pub default: Option<Expandable>,
}

/// `FROM [--platform=…] image [AS name]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The base image or stage; expanded with the global ARGs only.
    pub image: Expandable,
    /// The stage name, lower-cased (not expanded).
    pub name: Option<String>,
    /// `--platform=` (expanded with the global ARGs and the platform ARGs).
    pub platform: Option<Expandable>,
}

/// `RUN --network=…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// `default` (or not given).
    Default,
    /// `none`.
    None,
    /// `host`.
    Host,
}

/// `RUN --security=…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `sandbox` (or not given).
    Sandbox,
    /// `insecure`.
    Insecure,
}

/// `RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The command (not expanded by BuildKit).
    pub cmd: CommandLine,
    /// Heredoc documents the command reads; their bodies are not expanded
    /// by BuildKit (the shell sees them).
    pub heredocs: Vec<Heredoc>,
    /// `--mount=` values, in order.
    pub mounts: Vec<RunMount>,
    /// `--network=` (not expanded).
    pub network: Network,
    /// `--security=` (not expanded).
    pub security: Security,
}

/// A heredoc used as a COPY/ADD source: a file named after the delimiter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeredocSource {
    /// The file name (the delimiter word).
    pub name: String,
    /// The body, `<<-` tabs already stripped.
    pub content: String,
    /// BuildKit expands the body (the delimiter was not quoted).
    pub expand: bool,
}

/// `COPY` or `ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// `ADD` rather than `COPY`.
    pub add: bool,
    /// Source paths, URLs or git references (expanded, wildcards allowed).
    pub sources: Vec<Expandable>,
    /// Heredoc documents used as source files.
    pub heredoc_sources: Vec<HeredocSource>,
    /// The destination (expanded).
    pub dest: Expandable,
    /// The arguments were in JSON form.
    pub json: bool,
    /// `--from=` (COPY only; expanded).
    pub from: Option<Expandable>,
    /// `--chown=` (expanded).
    pub chown: Option<Expandable>,
    /// `--chmod=` (expanded).
    pub chmod: Option<Expandable>,
    /// `--link`.
    pub link: bool,
    /// `--parents` (COPY only).
    pub parents: bool,
    /// `--exclude=` patterns, repeatable (expanded).
    pub exclude: Vec<Expandable>,
    /// `--checksum=` (ADD only; expanded).
    pub checksum: Option<Expandable>,
    /// `--keep-git-dir` (ADD only).
    pub keep_git_dir: bool,
    /// `--unpack[=bool]` (ADD only); `None` when not given.
    pub unpack: Option<bool>,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`.
    None,
    /// `HEALTHCHECK [flags] CMD …` (nothing here is expanded).
    Cmd {
        /// The test command.
        cmd: CommandLine,
        /// `--interval`, in nanoseconds (0 = inherit).
        interval_ns: i64,
        /// `--timeout`, in nanoseconds.
        timeout_ns: i64,
        /// `--start-period`, in nanoseconds.
        start_period_ns: i64,
        /// `--start-interval`, in nanoseconds.
        start_interval_ns: i64,
        /// `--retries` (0 = inherit).
        retries: u32,
    },
}

/// `ONBUILD INSTRUCTION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnBuild {
    /// The trigger as recorded in the image config: the text after
    /// `ONBUILD`, then each heredoc's body and delimiter.
    pub expression: String,
    /// The trigger's keyword, upper-cased (`RUN`).
    pub keyword: String,
    /// The trigger, typed, when it is a valid instruction. BuildKit checks
    /// a trigger only when a later build runs it, so an invalid one is
    /// not an error here.
    pub trigger: Option<Box<Instruction>>,
}

/// A typed Dockerfile instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `FROM`.
    From(From),
    /// `RUN`.
    Run(Run),
    /// `COPY` or `ADD` (see [`Copy::add`]).
    Copy(Copy),
    /// `ENV`.
    Env(Vec<KeyValue>),
    /// `LABEL`.
    Label(Vec<KeyValue>),
    /// `CMD`.
    Cmd(CommandLine),
    /// `ENTRYPOINT`.
    Entrypoint(CommandLine),
    /// `EXPOSE`, sorted as BuildKit does (each expanded into words).
    Expose(Vec<Expandable>),
    /// `VOLUME` (each expanded).
    Volume(Vec<Expandable>),
    /// `USER` (expanded).
    User(Expandable),
    /// `WORKDIR` (expanded).
    Workdir(Expandable),
    /// `ARG`, several declarations per line.
    Arg(Vec<ArgDecl>),
    /// `ONBUILD`.
    OnBuild(OnBuild),
    /// `STOPSIGNAL` (expanded).
    StopSignal(Expandable),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `SHELL` (JSON form only; not expanded).
    Shell(Vec<String>),
    /// `MAINTAINER` (not expanded).
    Maintainer(String),
}

/// Every instruction keyword, lower-case.
pub const KEYWORDS: [&str; 18] = [
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// Parses a Dockerfile and types every instruction. Errors carry the file
/// name and the offending line.
pub fn parse(file_name: &str, source: &str) -> Result<Vec<Located>, DockerfileError> {
    let in_file = |e: DockerfileError| e.in_file(file_name, source);
    let parsed = parser::parse(source).map_err(in_file)?;
    parsed
        .nodes
        .iter()
        .map(|node| from_node(node).map_err(in_file))
        .collect()
}

/// Types one parsed node.
pub fn from_node(node: &Node) -> Result<Located, DockerfileError> {
    let instruction = build::instruction(node).map_err(|e| {
        let (line, column) = e.at;
        DockerfileError::spanning(line, node.end_line, column, e.message)
    })?;
    Ok(Located {
        instruction,
        start_line: node.start_line,
        end_line: node.end_line,
        original: node.original.clone(),
    })
}

/// The closest option to a mistyped `value`, as BuildKit's `suggest`: the
/// first option at the smallest edit distance below 3, none when an option
/// matches exactly. Without case sensitivity the suggestion takes the
/// value's case (`FORM` → `FROM`).
pub(crate) fn suggest(value: &str, options: &[&str], case_sensitive: bool) -> Option<String> {
    let norm = |s: &str| {
        if case_sensitive {
            s.to_string()
        } else {
            s.to_lowercase()
        }
    };
    let wanted = norm(value);
    let mut best: Option<String> = None;
    let mut min = 3;
    for option in options {
        let option = norm(option);
        if option == wanted {
            return None;
        }
        let d = levenshtein(&wanted, &option);
        if d < min {
            min = d;
            best = Some(option);
        }
    }
    let best = best?;
    if case_sensitive || value == value.to_lowercase() {
        Some(best)
    } else if value == value.to_uppercase() {
        Some(best.to_uppercase())
    } else {
        Some(best)
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_need_a_close_match() {
        assert_eq!(suggest("form", &KEYWORDS, false).as_deref(), Some("from"));
        assert_eq!(suggest("COPPY", &KEYWORDS, false).as_deref(), Some("COPY"));
        assert_eq!(suggest("Coppy", &KEYWORDS, false).as_deref(), Some("copy"));
        assert_eq!(suggest("xyzzy", &KEYWORDS, false), None);
        assert_eq!(suggest("RUN", &KEYWORDS, false), None);
        assert_eq!(suggest("Link", &["link"], true).as_deref(), Some("link"));
    }
}
