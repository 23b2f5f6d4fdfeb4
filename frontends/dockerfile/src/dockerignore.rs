//! `.dockerignore` text → rules, as Docker reads it: `#` comments at the
//! start of a line, blank lines skipped, `!` exceptions, paths cleaned and
//! anchored at the context root (a leading `/` removed).
//!
//! Matching the rules against paths is the context crate's job.

use strata_plan::{IgnoreRule, clean_path};

/// A `.dockerignore` line that cannot be a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct IgnoreFileError {
    /// The file's name.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses `.dockerignore` text.
pub fn parse(text: &str, file: &str) -> Result<Vec<IgnoreRule>, IgnoreFileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rules = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let negated = pattern.starts_with('!');
        if negated {
            pattern = pattern[1..].trim();
            if pattern.is_empty() {
                return Err(IgnoreFileError {
                    file: file.to_string(),
                    line: n + 1,
                    message: "illegal exclusion pattern: \"!\"".into(),
                });
            }
        }
        let mut cleaned = clean_path(pattern);
        if cleaned.len() > 1 && cleaned.starts_with('/') {
            cleaned.remove(0);
        }
        rules.push(IgnoreRule {
            pattern: cleaned,
            negated,
        });
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_docker() {
        let rules = parse(
            "\u{feff}# comment\n\n  *.pyc  \n/build/\n!build/keep\n a/./b/../c \n#x\n ! spaced\n",
            ".dockerignore",
        )
        .unwrap();
        let got: Vec<(String, bool)> = rules.into_iter().map(|r| (r.pattern, r.negated)).collect();
        assert_eq!(
            got,
            [
                ("*.pyc".to_string(), false),
                ("build".to_string(), false),
                ("build/keep".to_string(), true),
                ("a/c".to_string(), false),
                ("spaced".to_string(), true),
            ]
        );
    }

    #[test]
    fn lone_bang_is_an_error() {
        let e = parse("a\n!\n", ".dockerignore").unwrap_err();
        assert_eq!(e.line, 2);
    }
}
