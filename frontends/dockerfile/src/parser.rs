//! Dockerfile syntax: lines, directives, continuations, heredocs → a syntax
//! tree of [`Node`]s with line spans, as BuildKit's parser builds it.
//!
//! This stage knows no instruction semantics beyond how each keyword's
//! arguments are split (JSON or shell form, name=value pairs, words); the
//! `instructions` stage gives them meaning.
//!
//! ```
//! use strata_dockerfile::parser::parse;
//! let parsed = parse("FROM alpine\nRUN echo hi \\\n  there\n").unwrap();
//! assert_eq!(parsed.nodes[1].keyword, "run");
//! assert_eq!(parsed.nodes[1].start_line, 2);
//! assert_eq!(parsed.nodes[1].end_line, 3);
//! assert_eq!(parsed.dump(), "(from \"alpine\")\n(run \"echo hi   there\")\n");
//! ```

mod args;
mod directives;
mod dump;
mod heredoc;
mod source_map;

pub use directives::Directives;
pub use heredoc::{Heredoc, parse_heredoc_word};
pub use source_map::SourceMap;

use crate::error::DockerfileError;

/// One argument of a node: a string, or (for `ONBUILD`) a nested instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// A plain argument.
    Word(String),
    /// A nested instruction.
    Node(Box<Node>),
}

impl Arg {
    /// The string, if this is a plain argument.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Arg::Word(s) => Some(s),
            Arg::Node(_) => None,
        }
    }
}

/// One instruction as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The keyword, lower-cased (`run`).
    pub keyword: String,
    /// The keyword as written (`Run`).
    pub keyword_raw: String,
    /// Leading `--flag[=value]` words.
    pub flags: Vec<String>,
    /// The arguments, split as the keyword's parser does.
    pub args: Vec<Arg>,
    /// The arguments were in JSON (exec) form.
    pub json: bool,
    /// Heredoc documents the instruction reads, in order.
    pub heredocs: Vec<Heredoc>,
    /// The instruction text with continuations joined.
    pub original: String,
    /// First line (1-based).
    pub start_line: usize,
    /// Last line, heredoc bodies included.
    pub end_line: usize,
    /// Comment lines directly above the instruction.
    pub comments: Vec<String>,
    /// Where [`Node::original`] is in the file, for error columns.
    pub source_map: SourceMap,
}

impl Node {
    /// The plain string arguments, skipping nested nodes.
    pub fn words(&self) -> Vec<&str> {
        self.args.iter().filter_map(Arg::as_str).collect()
    }
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Parser directives from the top of the file.
    pub directives: Directives,
    /// The instructions, in order.
    pub nodes: Vec<Node>,
    /// Non-fatal findings (empty continuation lines, …) with their line.
    pub warnings: Vec<(usize, String)>,
}

impl Parsed {
    /// The syntax tree in BuildKit's dump format, one instruction per line.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            out.push('(');
            out.push_str(&dump::dump_node(node));
            out.push_str(")\n");
        }
        out
    }
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    trim_newline(line).trim_start().starts_with('#')
}

/// Removes a trailing escape character (and blanks after it). Returns the
/// line and whether the instruction ends here. As in BuildKit, an escape
/// preceded by another escape (`\\` at the end) is not a continuation.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(rest) if !rest.ends_with(escape) => (rest, false),
        _ => (line, true),
    }
}

/// Reads one physical line: directives see every line (as BuildKit's
/// `processLine` does) and a comment line reads as empty.
fn process_line<'a>(
    directives: &mut Directives,
    raw: &'a str,
    line_no: usize,
    strip_left: bool,
) -> Result<&'a str, DockerfileError> {
    let mut token = trim_newline(raw);
    if strip_left {
        token = token.trim_start();
    }
    directives.parse_line(token).map_err(|(m, at)| {
        let column = token.get(..at).map_or(1, |t| t.chars().count() + 1);
        DockerfileError::at(line_no, column, m)
    })?;
    Ok(if is_comment(token) { "" } else { token })
}

/// Parses a Dockerfile.
pub fn parse(source: &str) -> Result<Parsed, DockerfileError> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let lines: Vec<&str> = source.split_inclusive('\n').collect();
    let mut directives = Directives::default();
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut comments: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let raw = lines[i];
        if is_comment(raw) {
            // As BuildKit: everything after the line's first character.
            let first = trim_newline(raw);
            let after_first = first
                .char_indices()
                .nth(1)
                .map_or("", |(at, _)| &first[at..]);
            let comment = after_first.trim().to_string();
            if comment.is_empty() {
                comments.clear();
            } else {
                comments.push(comment);
            }
        }
        let token = process_line(&mut directives, raw, i + 1, true)?;
        i += 1;
        let start_line = i;
        let escape = directives.escape;
        let (first, mut ended) = trim_continuation(token, escape);
        if ended && first.is_empty() {
            continue;
        }
        let mut line = first.to_string();
        let mut map = SourceMap::default();
        let physical = trim_newline(raw);
        map.push(start_line, 0, physical, physical.len() - token.len());
        let mut empty_continuation = false;
        while !ended && i < lines.len() {
            let raw = lines[i];
            let token = process_line(&mut directives, raw, i + 1, false)?;
            i += 1;
            if is_comment(raw) {
                continue;
            }
            if token.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (part, end) = trim_continuation(token, escape);
            map.push(i, line.len(), trim_newline(raw), 0);
            line.push_str(part);
            ended = end;
        }
        if empty_continuation {
            warnings.push((
                start_line,
                format!("Empty continuation line found in: {line}"),
            ));
        }
        let mut node = args::node_from_line(&line, &directives).map_err(|e| {
            let at = line.trim_end().len().saturating_sub(e.suffix_len);
            let (l, c) = map.position(at).unwrap_or((start_line, 1));
            let mut err = DockerfileError::spanning(l, i, c, e.message);
            err.location.end_line = i.max(l);
            err
        })?;
        node.start_line = start_line;
        node.set_source_map(&map);
        node.comments = std::mem::take(&mut comments);
        if node.can_contain_heredoc() && line.contains("<<") {
            for mut doc in heredoc::heredocs_from_line(&line) {
                let mut terminated = false;
                while i < lines.len() {
                    let raw = lines[i];
                    i += 1;
                    let mut candidate = trim_newline(raw);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    // As BuildKit: the line as read, its own line ending kept.
                    doc.content.push_str(raw);
                }
                if !terminated {
                    let (l, c) = node.heredoc_position(&doc.name);
                    return Err(DockerfileError::spanning(
                        l,
                        i,
                        c,
                        format!(
                            "unterminated heredoc: no line {:?} ends the document started here",
                            doc.name
                        ),
                    ));
                }
                node.heredocs.push(doc);
            }
        }
        node.end_line = i;
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err(DockerfileError::spanning(
            lines.len().max(1),
            lines.len().max(1),
            1,
            "file with no instructions",
        ));
    }
    Ok(Parsed {
        directives,
        nodes,
        warnings,
    })
}

impl Node {
    fn set_source_map(&mut self, map: &SourceMap) {
        self.source_map = map.clone();
        // A nested instruction's text is the end of this one's.
        let end = self.original.trim_end().len();
        for arg in &mut self.args {
            if let Arg::Node(child) = arg {
                let shift = end.saturating_sub(child.original.len());
                child.set_source_map(&map.shifted(shift));
            }
        }
    }

    /// The line and column of byte `offset` of [`Node::original`].
    pub fn position(&self, offset: usize) -> (usize, usize) {
        self.source_map
            .position(offset)
            .unwrap_or((self.start_line, 1))
    }

    /// Byte offset in [`Node::original`] of the first `needle` at or after
    /// byte `from`.
    pub fn find(&self, needle: &str, from: usize) -> Option<usize> {
        let rest = self.original.get(from..)?;
        rest.find(needle).map(|at| from + at)
    }

    /// The line and column of the first `needle` after the keyword, or of
    /// the keyword when `needle` is not in the text as written.
    pub fn locate(&self, needle: &str) -> (usize, usize) {
        self.locate_first(&[needle])
    }

    /// [`Node::locate`] for the first of `needles` that is in the text.
    pub fn locate_first(&self, needles: &[&str]) -> (usize, usize) {
        let after_keyword = self.keyword_raw.len().min(self.original.len());
        let at = needles
            .iter()
            .filter(|n| !n.is_empty())
            .find_map(|n| self.find(n, after_keyword));
        self.position(at.unwrap_or(0))
    }

    /// The line and column of the keyword.
    pub fn keyword_position(&self) -> (usize, usize) {
        self.position(0)
    }

    /// Where the `<<NAME` (or `<<-"NAME"`, …) that starts heredoc `name` is.
    fn heredoc_position(&self, name: &str) -> (usize, usize) {
        let mut from = 0;
        while let Some(at) = self.find("<<", from) {
            let rest = self.original[at + 2..].trim_start_matches(['-', '"', '\'', ' ', '\t']);
            if rest.starts_with(name) {
                return self.position(at);
            }
            from = at + 2;
        }
        self.keyword_position()
    }

    /// RUN, COPY and ADD in shell form may read heredocs, also as the
    /// trigger of an `ONBUILD` (whose node then owns the documents).
    fn can_contain_heredoc(&self) -> bool {
        let node = match (self.keyword.as_str(), self.args.first()) {
            ("onbuild", Some(Arg::Node(child))) => child,
            _ => self,
        };
        matches!(node.keyword.as_str(), "run" | "copy" | "add") && !node.json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heredocs_are_read_after_the_line() {
        let p = parse("FROM x\nRUN <<EOF bash\necho hi\n  EOF\nEOF\nRUN <<-A cat <<\"B\"\n\tone\n\tA\ntwo $x\nB\n").unwrap();
        assert_eq!(p.nodes[1].heredocs.len(), 1);
        assert_eq!(p.nodes[1].heredocs[0].content, "echo hi\n  EOF\n");
        assert!(p.nodes[1].heredocs[0].expand);
        assert_eq!((p.nodes[1].start_line, p.nodes[1].end_line), (2, 5));
        let docs = &p.nodes[2].heredocs;
        assert_eq!(docs.len(), 2);
        assert!(docs[0].chomp && docs[0].expand);
        assert_eq!(docs[0].content, "\tone\n");
        assert_eq!(docs[1].name, "B");
        assert!(!docs[1].expand);
        assert_eq!(p.nodes[2].end_line, 10);
    }

    #[test]
    fn unterminated_heredoc_names_its_line() {
        let e = parse("FROM x\nRUN <<EOF\necho\n").unwrap_err();
        assert_eq!(e.location.line, 2);
        assert!(e.message.contains("unterminated heredoc"), "{e}");
    }

    #[test]
    fn json_form_has_no_heredocs() {
        let p = parse("FROM x\nRUN [\"cat\", \"<<EOF\"]\n").unwrap();
        assert!(p.nodes[1].heredocs.is_empty());
        assert!(p.nodes[1].json);
    }

    #[test]
    fn escape_directive_changes_continuations() {
        let p = parse("# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo\n").unwrap();
        assert_eq!(p.directives.escape, '`');
        assert_eq!(p.nodes[1].words(), ["dir c:\\   && echo"]);
    }

    #[test]
    fn comments_and_blank_lines_inside_continuations_are_skipped() {
        let p = parse("FROM x\nRUN a \\\n# note\n\n  b\n").unwrap();
        assert_eq!(p.nodes[1].words(), ["a   b"]);
        assert_eq!(p.warnings.len(), 1);
    }

    #[test]
    fn escaped_escape_at_end_is_not_a_continuation() {
        let p = parse("FROM x\nENV C a\\\\\nENV D b\n").unwrap();
        assert_eq!(p.nodes.len(), 3);
    }

    #[test]
    fn empty_files_are_errors() {
        assert!(parse("").is_err());
        assert!(parse("# only a comment\n\n").is_err());
    }
}
