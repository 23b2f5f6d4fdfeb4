//! Errors with their place in the Dockerfile.
//!
//! Every stage (parser, instructions, lowering) reports a user's mistake as
//! one [`DockerfileError`]: the file, the 1-based line and column, the text
//! of that line, and what was expected there. `Display` renders it as a
//! compiler would:
//!
//! ```text
//! Dockerfile:2:6: unknown instruction: FORM
//!    2 | RUN  FORM x
//!             ^
//! ```

use std::fmt;

/// Where in a Dockerfile something is: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (1 when only the line is known).
    pub column: usize,
    /// The last line of the instruction the error is about (equal to
    /// `line` for a one-line instruction, 0 when unknown).
    pub end_line: usize,
}

/// A Dockerfile error: what went wrong, where, and the line itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct DockerfileError {
    /// The Dockerfile's name as the user gave it.
    pub file: String,
    /// Where the error is.
    pub location: Location,
    /// The text of that line (without its newline), when known.
    pub source_line: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl DockerfileError {
    /// An error at a line and column, without the file name and line text
    /// (filled in by [`DockerfileError::in_file`]).
    pub fn at(line: usize, column: usize, message: impl Into<String>) -> Self {
        DockerfileError {
            file: String::new(),
            location: Location {
                line,
                column,
                end_line: line,
            },
            source_line: None,
            message: message.into(),
        }
    }

    /// An error about an instruction spanning `line..=end_line`, pointing
    /// at `column` of its first line.
    pub fn spanning(
        line: usize,
        end_line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        let mut e = DockerfileError::at(line, column, message);
        e.location.end_line = end_line.max(line);
        e
    }

    /// Adds the file name and the text of the error's line from `source`.
    pub fn in_file(mut self, file: &str, source: &str) -> Self {
        self.file = file.to_string();
        if self.source_line.is_none() && self.location.line > 0 {
            let source = source.strip_prefix('\u{feff}').unwrap_or(source);
            self.source_line = source
                .lines()
                .nth(self.location.line - 1)
                .map(str::to_string);
        }
        self
    }

    fn render(&self) -> String {
        let file = if self.file.is_empty() {
            "Dockerfile"
        } else {
            &self.file
        };
        let mut out = format!(
            "{file}:{}:{}: {}",
            self.location.line, self.location.column, self.message
        );
        if let Some(line) = &self.source_line {
            let gutter = format!("{:>4} | ", self.location.line);
            out.push_str(&format!("\n{gutter}{line}"));
            // Keep tabs so the caret lines up under tab-indented text.
            let caret_at = line
                .chars()
                .take(self.location.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect::<String>();
            out.push_str(&format!("\n{}{caret_at}^", " ".repeat(gutter.len())));
        }
        out
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_shows_file_line_column_and_caret() {
        let e = DockerfileError::at(2, 6, "unknown instruction: FORM")
            .in_file("app/Dockerfile", "FROM a\nRUN  FORM x\n");
        assert_eq!(
            e.to_string(),
            "app/Dockerfile:2:6: unknown instruction: FORM\n   2 | RUN  FORM x\n            ^"
        );
    }

    #[test]
    fn caret_keeps_tabs_and_unknown_file_reads_dockerfile() {
        let e = DockerfileError::spanning(1, 3, 3, "bad").in_file("", "\tX y\n");
        assert_eq!(e.location.end_line, 3);
        assert_eq!(
            e.to_string(),
            "Dockerfile:1:3: bad\n   1 | \tX y\n       \t ^"
        );
    }

    #[test]
    fn line_past_the_end_has_no_source_text() {
        let e = DockerfileError::at(9, 1, "file with no instructions").in_file("D", "\n");
        assert_eq!(e.source_line, None);
        assert_eq!(e.to_string(), "D:9:1: file with no instructions");
    }
}
