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

/// Matches `#\s*name\s*=\s*value` and returns the name and trimmed value.
fn directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let name_len = rest
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_alphanumeric() && (*i > 0 || c.is_ascii_alphabetic())))
        .map_or(rest.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let (name, rest) = rest.split_at(name_len);
    let value = rest.trim_start().strip_prefix('=')?.trim();
    if value.is_empty() {
        return None;
    }
    Some((name, value))
}

impl Directives {
    /// Looks at one line while directives are still allowed (before any
    /// other line). Errors on a repeated directive or a bad escape.
    pub fn parse_line(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some((name, value)) = directive(line) else {
            self.done = true;
            return Ok(());
        };
        let name = name.to_ascii_lowercase();
        if !KNOWN.contains(&name.as_str()) {
            self.done = true;
            return Ok(());
        }
        if self.values.contains_key(&name) {
            return Err(format!("only one {name} parser directive can be used"));
        }
        if name == "escape" {
            self.escape = match value {
                "\\" => '\\',
                "`" => '`',
                other => {
                    return Err(format!(
                        "invalid escape token '{other}' does not match ` or \\"
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
    fn unknown_directive_ends_directives() {
        let mut d = Directives::default();
        d.parse_line("# foo=bar").unwrap();
        d.parse_line("# escape=`").unwrap();
        assert_eq!(d.escape, '\\');
    }
}
