//! Parser directives: `# syntax=`, `# escape=`, `# check=` at the very top.

use std::collections::BTreeMap;

/// The directives of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// The escape character (`\` or `` ` ``).
    pub escape: char,
    /// Every directive seen, by lower-case name.
    pub values: BTreeMap<String, String>,
    done: bool,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            escape: '\\',
            values: BTreeMap::new(),
            done: false,
        }
    }
}

const KNOWN: [&str; 3] = ["syntax", "escape", "check"];

/// Go's RE2 `\s`: `[\t\n\f\r ]`.
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ')
}

/// Matches BuildKit's `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` and
/// returns the name and value.
fn directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start_matches(is_re_space);
    if !rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let name_len = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let (name, rest) = rest.split_at(name_len);
    let rest = rest.trim_start_matches(is_re_space).strip_prefix('=')?;
    let value = rest
        .trim_end_matches(is_re_space)
        .trim_start_matches(is_re_space);
    if !value.is_empty() {
        return Some((name, value));
    }
    // Only blanks after `=`: the lazy group must still take one character,
    // so the regex backtracks and the value is the last blank.
    let last = rest.chars().last()?;
    Some((name, &rest[rest.len() - last.len_utf8()..]))
}

impl Directives {
    /// Looks at one line while directives are still allowed (before any
    /// other line). Errors on a repeated directive or a bad escape, with
    /// the byte offset in `line` of the name or value at fault.
    pub fn parse_line(&mut self, line: &str) -> Result<(), (String, usize)> {
        if self.done {
            return Ok(());
        }
        let Some((name, value)) = directive(line) else {
            self.done = true;
            return Ok(());
        };
        // Both are slices of `line`.
        let offset_of =
            |part: &str| (part.as_ptr() as usize).saturating_sub(line.as_ptr() as usize);
        let (name_at, value_at) = (offset_of(name), offset_of(value));
        let name = name.to_ascii_lowercase();
        if !KNOWN.contains(&name.as_str()) {
            self.done = true;
            return Ok(());
        }
        if self.values.contains_key(&name) {
            return Err((
                format!("only one {name} parser directive can be used"),
                name_at,
            ));
        }
        if name == "escape" {
            self.escape = match value {
                "\\" => '\\',
                "`" => '`',
                other => {
                    return Err((
                        format!("invalid escape token '{other}' does not match ` or \\"),
                        value_at,
                    ));
                }
            };
        }
        self.values.insert(name, value.to_string());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_only_at_the_top() {
        let mut d = Directives::default();
        d.parse_line("# syntax = docker/dockerfile:1").unwrap();
        d.parse_line("#ESCAPE=`").unwrap();
        d.parse_line("FROM x").unwrap();
        d.parse_line("# check=skip=all").unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(
            d.values.get("syntax").map(String::as_str),
            Some("docker/dockerfile:1")
        );
        assert!(!d.values.contains_key("check"));
    }

    #[test]
    fn duplicates_and_bad_escapes_fail() {
        let mut d = Directives::default();
        d.parse_line("# escape=\\").unwrap();
        assert!(d.parse_line("# escape=`").is_err());
        let mut d = Directives::default();
        assert!(d.parse_line("# escape=x").is_err());
    }

    #[test]
    fn directive_syntax_follows_the_regex() {
        assert_eq!(directive("#syntax=a b "), Some(("syntax", "a b")));
        assert_eq!(
            directive("#  Check =\tskip=all"),
            Some(("Check", "skip=all"))
        );
        assert_eq!(directive("# escape=  "), Some(("escape", " ")));
        assert_eq!(directive("# escape="), None);
        assert_eq!(directive("# 1x=y"), None);
        assert_eq!(directive("# x-y=z"), None);
        assert_eq!(directive("# x\u{b}=z"), None);
        let mut d = Directives::default();
        assert!(d.parse_line("# escape=  ").is_err());
    }

    #[test]
    fn unknown_directive_ends_directives() {
        let mut d = Directives::default();
        d.parse_line("# foo=bar").unwrap();
        d.parse_line("# escape=`").unwrap();
        assert_eq!(d.escape, '\\');
    }
}
