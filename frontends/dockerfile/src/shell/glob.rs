//! Patterns for `${v#p}`, `${v%p}` and `${v/p/r}`, with BuildKit's meaning:
//! `*` is any run of characters, `?` one character (neither crosses a
//! newline), everything else is literal (no bracket classes). `\` escapes
//! `*`, `?` and `\`; before `}` or `/` it is dropped; before anything else it
//! is an error. Matching follows a regular expression's leftmost-first
//! preference, with stars lazy or greedy as the operator asks.

/// One pattern element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,
    Star,
}

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pattern {
    tokens: Vec<Token>,
    greedy: bool,
}

impl Pattern {
    /// Parses `src`; `greedy` makes `*` prefer the longest run.
    pub(super) fn parse(src: &str, greedy: bool) -> Result<Pattern, String> {
        let mut tokens = Vec::new();
        let mut chars = src.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => tokens.push(Token::Star),
                '?' => tokens.push(Token::Any),
                '\\' => match chars.peek() {
                    Some('}' | '/') => {}
                    Some(&e @ ('*' | '?' | '\\')) => {
                        chars.next();
                        tokens.push(Token::Char(e));
                    }
                    other => {
                        let shown = other.map(char::to_string).unwrap_or_default();
                        return Err(format!(
                            "invalid pattern ({src}) in substitution: invalid escape '\\{shown}'"
                        ));
                    }
                },
                c => tokens.push(Token::Char(c)),
            }
        }
        Ok(Pattern { tokens, greedy })
    }

    /// Marks of `(token, position)` states known not to match; they do not
    /// depend on where a match started, so one table serves a whole search.
    fn memo(&self, s: &[char]) -> Vec<bool> {
        vec![false; (self.tokens.len() + 1) * (s.len() + 1)]
    }

    /// The end of the preferred match starting exactly at `start`.
    fn match_at(&self, s: &[char], start: usize) -> Option<usize> {
        self.step(s, 0, start, &mut self.memo(s))
    }

    fn step(&self, s: &[char], ti: usize, pos: usize, failed: &mut [bool]) -> Option<usize> {
        let Some(token) = self.tokens.get(ti) else {
            return Some(pos);
        };
        let key = ti * (s.len() + 1) + pos;
        if failed.get(key).copied().unwrap_or(false) {
            return None;
        }
        let found = match token {
            Token::Char(c) => match s.get(pos) {
                Some(x) if x == c => self.step(s, ti + 1, pos + 1, failed),
                _ => None,
            },
            Token::Any => match s.get(pos) {
                Some(x) if *x != '\n' => self.step(s, ti + 1, pos + 1, failed),
                _ => None,
            },
            Token::Star => {
                let run = s[pos..].iter().take_while(|c| **c != '\n').count();
                if self.greedy {
                    (0..=run)
                        .rev()
                        .find_map(|k| self.step(s, ti + 1, pos + k, failed))
                } else {
                    (0..=run).find_map(|k| self.step(s, ti + 1, pos + k, failed))
                }
            }
        };
        if found.is_none()
            && let Some(slot) = failed.get_mut(key)
        {
            *slot = true;
        }
        found
    }

    /// The leftmost match at or after `from`, as `(start, end)`.
    fn find(&self, s: &[char], from: usize) -> Option<(usize, usize)> {
        let mut failed = self.memo(s);
        (from..=s.len())
            .find_map(|start| self.step(s, 0, start, &mut failed).map(|end| (start, end)))
    }
}

/// Reverses a pattern, keeping each `\x` pair in order (`a\*c` → `c\*a`).
fn reverse_pattern(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut pieces: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() {
            pieces.push(chars[i..i + 2].iter().collect());
            i += 2;
        } else {
            pieces.push(chars[i].to_string());
            i += 1;
        }
    }
    pieces.reverse();
    pieces.concat()
}

/// `${v#p}` / `${v##p}`: removes the matching prefix (lazy or greedy).
pub(super) fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    let pattern = Pattern::parse(pattern, greedy)?;
    let chars: Vec<char> = value.chars().collect();
    Ok(match pattern.match_at(&chars, 0) {
        Some(end) => chars[end..].iter().collect(),
        None => value.to_string(),
    })
}

/// `${v%p}` / `${v%%p}`: removes the matching suffix, found as a prefix of
/// the reversed value with the reversed pattern.
pub(super) fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    let reversed: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&reverse_pattern(pattern), &reversed, greedy)?;
    Ok(trimmed.chars().rev().collect())
}

/// `${v/p/r}` / `${v//p/r}`: replaces the first (every) leftmost greedy
/// match. Replacing every match expands `$0`, `${0}` and `$$` in the
/// replacement as a regular-expression template does (other references are
/// empty); a single replacement is literal.
pub(super) fn replace(
    pattern: &str,
    value: &str,
    replacement: &str,
    all: bool,
) -> Result<String, String> {
    let pattern = Pattern::parse(pattern, true)?;
    let chars: Vec<char> = value.chars().collect();
    if !all {
        return Ok(match pattern.find(&chars, 0) {
            Some((start, end)) => {
                let mut out: String = chars[..start].iter().collect();
                out.push_str(replacement);
                out.extend(&chars[end..]);
                out
            }
            None => value.to_string(),
        });
    }
    let mut out = String::new();
    let (mut search, mut last_end) = (0, 0);
    while search <= chars.len() {
        let Some((start, end)) = pattern.find(&chars, search) else {
            break;
        };
        out.extend(&chars[last_end..start]);
        // An empty match right after a match is not replaced again.
        if end > last_end || start == 0 {
            expand(&mut out, replacement, &chars[start..end]);
        }
        last_end = end;
        search = if search + 1 > end { search + 1 } else { end };
    }
    out.extend(&chars[last_end..]);
    Ok(out)
}

/// Appends `template` with `$name` / `${name}` references resolved: `0` is
/// the match, any other name is empty, `$$` is `$`, a malformed `$` is kept.
fn expand(out: &mut String, template: &str, matched: &[char]) {
    let is_name = |c: &char| c.is_alphanumeric() || *c == '_';
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let (name, tail) = match after.strip_prefix('{') {
            Some(inner) => match inner.find('}') {
                Some(close)
                    if !inner[..close].is_empty()
                        && inner[..close].chars().all(|c| is_name(&c)) =>
                {
                    (&inner[..close], &inner[close + 1..])
                }
                _ => ("", after),
            },
            None => {
                let len: usize = after.chars().take_while(is_name).map(char::len_utf8).sum();
                (&after[..len], &after[len..])
            }
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
            continue;
        }
        if name == "0" {
            out.extend(matched);
        }
        rest = tail;
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_are_literal_and_escapes_checked() {
        assert_eq!(trim_prefix("[a]", "[a]x", false).unwrap(), "x");
        assert_eq!(trim_prefix("\\*\\?\\\\", "*?\\x", false).unwrap(), "x");
        assert_eq!(trim_prefix("a\\}", "a}x", false).unwrap(), "x");
        let e = trim_prefix("\\a", "a", false).unwrap_err();
        assert!(e.contains("invalid escape '\\a'"), "{e}");
        assert!(trim_prefix("a\\", "a", false).is_err());
    }

    #[test]
    fn lazy_and_greedy() {
        assert_eq!(trim_prefix("*x*y", "xxyy", false).unwrap(), "y");
        assert_eq!(trim_prefix("*x*y", "xxyy", true).unwrap(), "");
        assert_eq!(trim_prefix("*", "xxyy", false).unwrap(), "xxyy");
        assert_eq!(trim_suffix("\\**\\*", "a***yy*", true).unwrap(), "a");
        assert_eq!(trim_suffix("x*", "axbx", false).unwrap(), "axb");
        assert_eq!(trim_suffix("x*", "axbx", true).unwrap(), "a");
    }

    #[test]
    fn stars_stop_at_newlines() {
        assert_eq!(trim_prefix("*b", "a\nb", true).unwrap(), "a\nb");
        assert_eq!(trim_prefix("?", "\nb", true).unwrap(), "\nb");
    }

    #[test]
    fn many_stars_do_not_backtrack_exponentially() {
        let value = "a".repeat(400);
        let pattern = "*a*a*a*a*a*a*a*b";
        assert_eq!(trim_prefix(pattern, &value, true).unwrap(), value);
        assert_eq!(replace(pattern, &value, "x", true).unwrap(), value);
    }

    #[test]
    fn replace_all_like_go() {
        assert_eq!(replace("*", "abc", "r", true).unwrap(), "r");
        assert_eq!(replace("x*", "abc", "-", true).unwrap(), "abc");
        assert_eq!(replace("", "ab", "-", true).unwrap(), "-a-b-");
        assert_eq!(replace("", "ab", "-", false).unwrap(), "-ab");
        assert_eq!(replace("b", "abab", "<$0>", true).unwrap(), "a<b>a<b>");
        assert_eq!(replace("b", "abab", "<$0>", false).unwrap(), "a<$0>ab");
        assert_eq!(replace("b", "ab", "$$ ${0} $x $", true).unwrap(), "a$ b  $");
    }
}
