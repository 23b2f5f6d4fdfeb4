//! What BuildKit's Dockerfile frontend answers to buildx's subrequests
//! `frontend.targets` (`--call=targets`: the stages a build can target)
//! and `frontend.outline` (`--call=outline`: the build args, secrets and
//! ssh mounts a target uses). Descriptions follow BuildKit's convention: a
//! comment line right above `FROM … AS name` or `ARG name` that starts
//! with the name and a space ([`crate::lints::description`]).
//!
//! ```
//! use strata_dockerfile::subrequests::targets;
//! let text = "# base the image we build on\nFROM alpine AS base\nFROM base\n";
//! let list = targets(text, "Dockerfile").unwrap();
//! assert_eq!(list[0].name.as_deref(), Some("base"));
//! assert_eq!(list[0].description.as_deref(), Some("the image we build on"));
//! assert!(list[1].default && list[1].name.is_none());
//! ```

use crate::error::DockerfileError;
use crate::instructions::{self, Instruction};
use crate::lints;
use crate::parser::parse;
use strata_plan::Span;

pub use crate::lower::outline;

/// A stage a build can target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `AS name`, lower-cased (none for an unnamed stage).
    pub name: Option<String>,
    /// The last stage: what a build without `--target` builds.
    pub default: bool,
    /// The `# name description` comment above the `FROM`.
    pub description: Option<String>,
    /// The base as written (variables not expanded).
    pub base: String,
    /// `--platform=` as written.
    pub platform: Option<String>,
    /// The `FROM` instruction.
    pub span: Span,
}

/// The stages of a Dockerfile, in order, as BuildKit lists them: parsed
/// only (nothing is expanded or resolved), so any Dockerfile that parses
/// lists its stages.
pub fn targets(source: &str, file_name: &str) -> Result<Vec<Target>, DockerfileError> {
    let in_file = |e: DockerfileError| e.in_file(file_name, source);
    let parsed = parse(source).map_err(in_file)?;
    let mut out = Vec::new();
    for node in &parsed.nodes {
        let typed = instructions::from_node(node).map_err(in_file)?;
        if let Instruction::From(from) = typed.instruction {
            let description = from
                .name
                .as_deref()
                .and_then(|name| lints::description(&node.comments, name))
                .map(str::to_string);
            out.push(Target {
                name: from.name,
                default: false,
                description,
                base: from.image.as_str().to_string(),
                platform: from.platform.map(|p| p.as_str().to_string()),
                span: Span {
                    start_line: node.start_line,
                    end_line: node.end_line,
                },
            });
        }
    }
    match out.last_mut() {
        Some(last) => last.default = true,
        None => {
            return Err(in_file(DockerfileError::at(
                1,
                1,
                "no build stage: the Dockerfile has no FROM",
            )));
        }
    }
    Ok(out)
}

/// What a target needs from the one who builds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outline {
    /// The target stage's name (none for an unnamed stage).
    pub name: Option<String>,
    /// The target stage's `# name description` comment.
    pub description: Option<String>,
    /// The build args the target uses, in Dockerfile order.
    pub args: Vec<OutlineArg>,
    /// The secrets its `RUN --mount=type=secret` read, in Dockerfile order.
    pub secrets: Vec<OutlineMount>,
    /// The ssh agents its `RUN --mount=type=ssh` forward.
    pub ssh: Vec<OutlineMount>,
}

/// A build arg the target uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlineArg {
    /// The arg's name.
    pub name: String,
    /// The `# NAME description` comment above its `ARG`.
    pub description: Option<String>,
    /// Its value in this build (a `--build-arg`, else the default), if any.
    pub value: Option<String>,
    /// The `ARG` instruction that declares it.
    pub span: Span,
}

/// A secret or ssh agent a target's `RUN` mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlineMount {
    /// The secret's or agent's id.
    pub id: String,
    /// `required=true`.
    pub required: bool,
    /// The first `RUN` that mounts it.
    pub span: Span,
}
