//! Errors with their place in the Dockerfile.

use std::fmt;

/// Where in a Dockerfile something is: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (1 when only the line is known).
    pub column: usize,
}

/// A Dockerfile error: what went wrong, where, and the line itself.
#[derive(Debug, Clone, PartialEq, Eq)]
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
            location: Location { line, column },
            source_line: None,
            message: message.into(),
        }
    }

    /// Adds the file name and the text of the error's line from `source`.
    pub fn in_file(mut self, file: &str, source: &str) -> Self {
        self.file = file.to_string();
        if self.source_line.is_none() && self.location.line > 0 {
            self.source_line = source
                .lines()
                .nth(self.location.line - 1)
                .map(|l| l.trim_end_matches('\r').to_string());
        }
        self
    }
}

impl fmt::Display for DockerfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = if self.file.is_empty() {
            "Dockerfile"
        } else {
            &self.file
        };
        write!(
            f,
            "{file}:{}:{}: {}",
            self.location.line, self.location.column, self.message
        )?;
        if let Some(line) = &self.source_line {
            let gutter = format!("{:>4} | ", self.location.line);
            write!(f, "\n{gutter}{line}")?;
            let caret_at = line
                .char_indices()
                .take(self.location.column.saturating_sub(1))
                .map(|(_, c)| if c == '\t' { '\t' } else { ' ' })
                .collect::<String>();
            write!(f, "\n{}{caret_at}^", " ".repeat(gutter.len()))?;
        }
        Ok(())
    }
}

impl std::error::Error for DockerfileError {}

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
}
