//! One `.dockerignore` pattern with moby/patternmatcher's exact semantics.
//!
//! moby compiles each pattern to a Go regular expression (`*` → `[^/]*`,
//! `?` → `[^/]`, `**` → `(.*/)?`, a trailing `**` → `.*`, `[...]` passed to
//! the regexp engine, `\x` → a literal `x`) anchored at both ends, with
//! three shortcuts that are *not* equivalent to the regexp and that Docker
//! users therefore depend on: a pattern without wildcards is compared
//! exactly, `prefix**` is a plain prefix test, and a pattern starting with
//! `**` is a plain suffix test (`**/foo` also matches `foo`).
//!
//! We do not use globset here because its semantics differ in ways users
//! would notice: `**` is only special as a whole path component, `{a,b}`
//! is an alternation (moby treats braces literally), `[!x]` negates
//! (moby's regexp treats `!` literally and negates with `^`), and the
//! prefix/suffix shortcuts above do not exist. Instead the pattern compiles
//! to a short token list matched by a linear-time position-set simulation.

use crate::error::ContextError;

/// A compiled token of a regexp-kind pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// A literal character.
    Lit(char),
    /// `*`: any run of characters other than `/`.
    Star,
    /// `?`: one character other than `/`.
    Any,
    /// `[...]`: one character in (or, negated, not in) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `**` followed by more pattern: `(.*/)?`.
    DoubleStar,
    /// `**` at the end of a pattern that is not a plain prefix: `.*`.
    Rest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Exact,
    Prefix(String),
    Suffix(String),
    Regex {
        toks: Vec<Tok>,
        /// When the pattern can only match paths with exactly this many `/`
        /// (no `**`, no class that admits `/`): a cheap pre-filter.
        slashes: Option<usize>,
    },
}

/// A compiled pattern (without its leading `!`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    kind: Kind,
}

impl Pattern {
    /// Compiles an already cleaned pattern (see `filepath.Clean`).
    pub fn new(text: &str) -> Result<Pattern, ContextError> {
        let bad = |reason| ContextError::BadPattern {
            pattern: text.to_string(),
            reason,
        };
        let chars: Vec<char> = text.chars().collect();
        let mut toks = Vec::new();
        let mut detected = 0u8; // 0 exact, 1 prefix, 2 suffix, 3 regex
        let mut pos = 0;
        let mut iteration = 0;
        while pos < chars.len() {
            let ch = chars[pos];
            pos += 1;
            match ch {
                '*' if chars.get(pos) == Some(&'*') => {
                    pos += 1;
                    if chars.get(pos) == Some(&'/') {
                        pos += 1;
                    }
                    if pos == chars.len() {
                        if detected == 0 {
                            detected = 1;
                        } else {
                            toks.push(Tok::Rest);
                            detected = 3;
                        }
                    } else {
                        toks.push(Tok::DoubleStar);
                        detected = 3;
                    }
                    if iteration == 0 {
                        detected = 2;
                    }
                }
                '*' => {
                    toks.push(Tok::Star);
                    detected = 3;
                }
                '?' => {
                    toks.push(Tok::Any);
                    detected = 3;
                }
                '\\' => match chars.get(pos) {
                    Some(&c) => {
                        toks.push(Tok::Lit(c));
                        pos += 1;
                        detected = 3;
                    }
                    None => return Err(bad("trailing backslash")),
                },
                '[' => {
                    let (tok, next) =
                        parse_class(&chars, pos).ok_or_else(|| bad("bad character class"))?;
                    toks.push(tok);
                    pos = next;
                    detected = 3;
                }
                c => toks.push(Tok::Lit(c)),
            }
            iteration += 1;
        }
        let kind = match detected {
            0 => Kind::Exact,
            1 => Kind::Prefix(text[..text.len() - 2].to_string()),
            2 => Kind::Suffix(text[2..].to_string()),
            _ => {
                let fixed = toks.iter().all(|t| match t {
                    Tok::DoubleStar | Tok::Rest => false,
                    Tok::Class { negated, ranges } => {
                        !*negated && !ranges.iter().any(|&(lo, hi)| lo <= '/' && '/' <= hi)
                    }
                    _ => true,
                });
                let slashes = fixed.then(|| toks.iter().filter(|t| **t == Tok::Lit('/')).count());
                Kind::Regex { toks, slashes }
            }
        };
        Ok(Pattern {
            text: text.to_string(),
            kind,
        })
    }

    /// The pattern text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `path` (slash-separated, relative, cleaned) matches the
    /// pattern itself (no parent-directory logic).
    pub fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix(p) => path.starts_with(p.as_str()),
            Kind::Suffix(s) => {
                path.ends_with(s.as_str()) || s.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Kind::Regex { toks, slashes } => {
                if let Some(n) = slashes
                    && path.bytes().filter(|&b| b == b'/').count() != *n
                {
                    return false;
                }
                let s: Vec<char> = path.chars().collect();
                let reach = simulate(toks, &s);
                reach[s.len()]
            }
        }
    }

    /// Whether some path strictly below directory `dir` could match this
    /// pattern (conservative: `true` when unsure). Used to decide whether an
    /// excluded directory must still be walked for `!` exceptions.
    pub fn could_match_below(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        match &self.kind {
            Kind::Exact => self.text.starts_with(&prefix),
            Kind::Prefix(p) => p.starts_with(&prefix) || prefix.starts_with(p.as_str()),
            Kind::Suffix(_) => true,
            Kind::Regex { toks, .. } => {
                // The pattern can still match a longer string iff, after
                // consuming `dir/`, some token boundary is reachable exactly
                // at its end (a star may also have absorbed the whole of it).
                let s: Vec<char> = prefix.chars().collect();
                let mut cur = vec![false; s.len() + 1];
                cur[0] = true;
                if cur[s.len()] {
                    return true;
                }
                for tok in toks {
                    cur = step(tok, &cur, &s);
                    if cur[s.len()] {
                        return true;
                    }
                }
                false
            }
        }
    }
}

/// Parses a class body starting after `[`; returns the token and the index
/// after the closing `]`. Mirrors what Go's regexp accepts for the classes
/// moby emits, and rejects what `filepath.Match` rejects (empty classes).
fn parse_class(chars: &[char], mut pos: usize) -> Option<(Tok, usize)> {
    let mut negated = false;
    if chars.get(pos) == Some(&'^') {
        negated = true;
        pos += 1;
    }
    let mut ranges = Vec::new();
    let read = |pos: &mut usize| -> Option<char> {
        let c = *chars.get(*pos)?;
        *pos += 1;
        if c == '\\' {
            let e = *chars.get(*pos)?;
            *pos += 1;
            Some(e)
        } else if matches!(c, '*' | '?' | '[') {
            None // moby would emit a broken regexp here
        } else {
            Some(c)
        }
    };
    loop {
        match chars.get(pos) {
            None => return None,
            Some(']') if !ranges.is_empty() => {
                return Some((Tok::Class { negated, ranges }, pos + 1));
            }
            Some(']') | Some('-') if ranges.is_empty() => return None,
            _ => {}
        }
        let lo = read(&mut pos)?;
        let mut hi = lo;
        if chars.get(pos) == Some(&'-') && chars.get(pos + 1).is_some_and(|&c| c != ']') {
            pos += 1;
            hi = read(&mut pos)?;
            if hi < lo {
                return None;
            }
        }
        ranges.push((lo, hi));
    }
}

/// Applies one token to the set of reachable positions.
fn step(tok: &Tok, cur: &[bool], s: &[char]) -> Vec<bool> {
    let n = s.len();
    let mut next = vec![false; n + 1];
    match tok {
        Tok::Lit(c) => {
            for p in 0..n {
                next[p + 1] = cur[p] && s[p] == *c;
            }
        }
        Tok::Any => {
            for p in 0..n {
                next[p + 1] = cur[p] && s[p] != '/';
            }
        }
        Tok::Class { negated, ranges } => {
            for p in 0..n {
                let inside = ranges.iter().any(|&(lo, hi)| lo <= s[p] && s[p] <= hi);
                next[p + 1] = cur[p] && inside != *negated;
            }
        }
        Tok::Star => {
            for p in 0..=n {
                next[p] = cur[p] || (p > 0 && next[p - 1] && s[p - 1] != '/');
            }
        }
        Tok::DoubleStar => {
            let mut seen = false;
            for p in 0..=n {
                next[p] = cur[p] || (seen && p > 0 && s[p - 1] == '/');
                seen |= cur[p];
            }
        }
        Tok::Rest => {
            let mut seen = false;
            for p in 0..=n {
                seen |= cur[p];
                next[p] = seen;
            }
        }
    }
    next
}

fn simulate(toks: &[Tok], s: &[char]) -> Vec<bool> {
    let mut cur = vec![false; s.len() + 1];
    cur[0] = true;
    for tok in toks {
        cur = step(tok, &cur, s);
        if !cur.iter().any(|&b| b) {
            break;
        }
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        Pattern::new(&strata_plan::clean_path(pattern))
            .unwrap()
            .matches(path)
    }

    /// Cases from moby/patternmatcher's TestMatches table (Unix rows).
    #[test]
    fn moby_match_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("**", "file", true),
            ("**", "file/", true),
            ("**/", "file", true),
            ("**/", "file/", true),
            ("**", "/", true),
            ("**/", "/", true),
            ("**", "dir/file", true),
            ("**/", "dir/file", true),
            ("**", "dir/file/", true),
            ("**/", "dir/file/", true),
            ("**/**", "dir/file", true),
            ("**/**", "dir/file/", true),
            ("dir/**", "dir/file", true),
            ("dir/**", "dir/file/", true),
            ("dir/**", "dir/dir2/file", true),
            ("dir/**", "dir/dir2/file/", true),
            ("**/dir", "dir", true),
            ("**/dir", "dir/file", false),
            ("**/dir2/*", "dir/dir2/file", true),
            ("**/dir2/*", "dir/dir2/file/", false),
            ("**/dir2/**", "dir/dir2/dir3/file", true),
            ("**/dir2/**", "dir/dir2/dir3/file/", true),
            ("**file", "file", true),
            ("**file", "dir/file", true),
            ("**/file", "dir/file", true),
            ("**file", "dir/dir/file", true),
            ("**/file", "dir/dir/file", true),
            ("**/file*", "dir/dir/file", true),
            ("**/file*", "dir/dir/file.txt", true),
            ("**/file*txt", "dir/dir/file.txt", true),
            ("**/file*.txt", "dir/dir/file.txt", true),
            ("**/file*.txt*", "dir/dir/file.txt", true),
            ("**/**/*.txt", "dir/dir/file.txt", true),
            ("**/**/*.txt2", "dir/dir/file.txt", false),
            ("**/*.txt", "file.txt", true),
            ("**/**/*.txt", "file.txt", true),
            ("a**/*.txt", "a/file.txt", true),
            ("a**/*.txt", "a/dir/file.txt", true),
            ("a**/*.txt", "a/dir/dir/file.txt", true),
            ("a/*.txt", "a/dir/file.txt", false),
            ("a/*.txt", "a/file.txt", true),
            ("a/*.txt**", "a/file.txt", true),
            ("a[b-d]e", "ae", false),
            ("a[b-d]e", "ace", true),
            ("a[b-d]e", "aae", false),
            ("a[^b-d]e", "aze", true),
            (".*", ".foo", true),
            (".*", "foo", false),
            ("abc.def", "abcdef", false),
            ("abc.def", "abc.def", true),
            ("abc.def", "abcZdef", false),
            ("abc?def", "abcZdef", true),
            ("abc?def", "abcdef", false),
            ("a\\\\", "a\\", true),
            ("**/foo/bar", "foo/bar", true),
            ("**/foo/bar", "dir/foo/bar", true),
            ("**/foo/bar", "dir/dir2/foo/bar", true),
            ("abc/**", "abc", false),
            ("abc/**", "abc/def", true),
            ("abc/**", "abc/def/ghi", true),
            ("**/.foo", ".foo", true),
            ("**/.foo", "bar.foo", false),
            ("a(b)c/def", "a(b)c/def", true),
            ("a(b)c/def", "a(b)c/xyz", false),
            ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
            (
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
            (
                "dist/*.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
        ];
        for &(pattern, path, want) in cases {
            assert_eq!(m(pattern, path), want, "pattern {pattern:?} path {path:?}");
        }
    }

    #[test]
    fn shortcuts_differ_from_the_regexp_as_in_moby() {
        // Suffix shortcut: `**foo` is a plain suffix test, so it matches `xfoo`
        // although the regexp `^(.*/)?foo$` would not.
        assert!(m("**foo", "xfoo"));
        // Prefix shortcut: `abc**` matches across directories.
        assert!(m("abc**", "abcdef/ghi"));
        // Exact: no wildcard means string equality.
        assert!(m("a{b,c}", "a{b,c}"));
        assert!(!m("a{b,c}", "ab"));
    }

    #[test]
    fn star_and_question_do_not_cross_slashes_but_classes_may() {
        assert!(!m("a*", "ab/c"));
        assert!(!m("a?c", "a/c"));
        assert!(m("a[^x]c", "a/c"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "x"));
        assert!(m("[!x]", "!"), "`!` is literal in moby's regexp classes");
    }

    #[test]
    fn bad_patterns_are_rejected() {
        for p in ["a[", "[]", "a\\", "[z-a]", "[-a]"] {
            assert!(Pattern::new(p).is_err(), "{p:?} should be rejected");
        }
    }

    #[test]
    fn could_match_below_is_exact_enough_to_prune() {
        let below = |p: &str, d: &str| Pattern::new(p).unwrap().could_match_below(d);
        assert!(below("node_modules/keep", "node_modules"));
        assert!(!below("src/keep", "node_modules"));
        assert!(
            !below("node_modules", "node_modules"),
            "matches the dir itself, not below"
        );
        assert!(below("*/keep", "node_modules"));
        assert!(!below("*.md", "docs"));
        assert!(below("docs/*.md", "docs"));
        assert!(!below("docs/*.md", "docs/sub"));
        assert!(below("**/*.md", "anything"));
        assert!(below("docs**", "docs"));
        assert!(!below("doc/**", "docs"));
        assert!(below("a/**/z", "a/b/c"));
        assert!(!below("a/b/c", "a/b/c/d"));
        assert!(below("a[^x]b/c", "a"), "a class may match `/`");
    }
}
