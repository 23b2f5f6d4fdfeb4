//! `.dockerignore` (and `COPY --exclude`) rule lists with Docker's semantics.
//!
//! A rule list is evaluated in order; a path is *excluded* when the last
//! rule that matches it or one of its parent directories is a plain rule,
//! and *included* when it is a `!` exception (moby's
//! `MatchesOrParentMatches`). A plain rule is only consulted while the path
//! is included and an exception only while it is excluded, exactly as moby
//! does (this matters for rule lists like `a/b`, `!a`).

use crate::error::ContextError;
use crate::pattern::Pattern;
use strata_plan::IgnoreRule;
use strata_plan::clean_path;

#[derive(Debug, Clone)]
struct Rule {
    pattern: Pattern,
    negated: bool,
}

/// A compiled, ordered list of ignore rules.
#[derive(Debug, Clone, Default)]
pub struct IgnoreMatcher {
    rules: Vec<Rule>,
    has_exceptions: bool,
}

/// Per-rule memory of "this rule matched this directory or one of its
/// parents", carried down a walk so a child is decided by matching only its
/// own path (moby's `MatchInfo`, without its skipped-rule blind spot).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchState(Vec<bool>);

impl IgnoreMatcher {
    /// Compiles `.dockerignore` rules as the frontend produced them.
    pub fn new(rules: &[IgnoreRule]) -> Result<Self, ContextError> {
        let mut out = IgnoreMatcher::default();
        for rule in rules {
            out.push(&rule.pattern, rule.negated)?;
        }
        Ok(out)
    }

    /// Compiles patterns written in `.dockerignore` syntax (a leading `!`
    /// negates), as `COPY --exclude=` takes them. Patterns are trimmed and
    /// cleaned like moby does; a leading `/` is dropped because every path
    /// matched here is relative.
    pub fn from_patterns<S: AsRef<str>>(patterns: &[S]) -> Result<Self, ContextError> {
        let mut out = IgnoreMatcher::default();
        for raw in patterns {
            let raw = raw.as_ref().trim();
            if raw.is_empty() {
                continue;
            }
            let (negated, body) = match raw.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, raw),
            };
            if negated && body.is_empty() {
                return Err(ContextError::BadPattern {
                    pattern: raw.to_string(),
                    reason: "illegal exclusion pattern \"!\"",
                });
            }
            out.push(body, negated)?;
        }
        Ok(out)
    }

    fn push(&mut self, pattern: &str, negated: bool) -> Result<(), ContextError> {
        let mut cleaned = clean_path(pattern);
        while let Some(rest) = cleaned.strip_prefix('/') {
            cleaned = rest.to_string();
        }
        if cleaned.is_empty() {
            cleaned = ".".to_string();
        }
        self.rules.push(Rule {
            pattern: Pattern::new(&cleaned)?,
            negated,
        });
        self.has_exceptions |= negated;
        Ok(())
    }

    /// Whether there are no rules at all (nothing is ever excluded).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether `path` (relative, cleaned, `/`-separated) is excluded:
    /// moby's `MatchesOrParentMatches`.
    pub fn is_excluded(&self, path: &str) -> bool {
        if self.rules.is_empty() || path.is_empty() {
            return false;
        }
        self.decide(|i| {
            let p = &self.rules[i].pattern;
            p.matches(path) || parents(path).any(|parent| p.matches(parent))
        })
    }

    /// The state for the root of a walk (`""`), to descend from with
    /// [`IgnoreMatcher::child_state`].
    pub fn root_state(&self) -> MatchState {
        MatchState(vec![false; self.rules.len()])
    }

    /// The state of a directory at `path`, computed from scratch.
    pub fn state_for(&self, path: &str) -> MatchState {
        let mut state = self.root_state();
        if path.is_empty() {
            return state;
        }
        for prefix in parents(path).collect::<Vec<_>>().into_iter().rev() {
            state = self.child_state(&state, prefix);
        }
        self.child_state(&state, path)
    }

    /// The state of `path`, a child of the directory whose state is `parent`.
    pub fn child_state(&self, parent: &MatchState, path: &str) -> MatchState {
        MatchState(
            self.rules
                .iter()
                .zip(&parent.0)
                .map(|(rule, &up)| up || rule.pattern.matches(path))
                .collect(),
        )
    }

    /// Whether `path`, a child of the directory whose state is `parent`, is
    /// excluded. Cheaper than building the child's state (no allocation).
    pub fn child_excluded(&self, parent: &MatchState, path: &str) -> bool {
        if self.rules.is_empty() {
            return false;
        }
        self.decide(|i| {
            parent.0.get(i).copied().unwrap_or(false) || self.rules[i].pattern.matches(path)
        })
    }

    /// Whether the path whose state this is is excluded.
    pub fn state_excluded(&self, state: &MatchState) -> bool {
        self.decide(|i| state.0.get(i).copied().unwrap_or(false))
    }

    /// Evaluates the rules in order, asking `hit(i)` only for rules that
    /// could change the outcome (as moby skips them).
    fn decide(&self, mut hit: impl FnMut(usize) -> bool) -> bool {
        let mut excluded = false;
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.negated != excluded {
                continue;
            }
            if hit(i) {
                excluded = !rule.negated;
            }
        }
        excluded
    }

    /// Whether an excluded directory `dir` must still be walked because a
    /// `!` exception could re-include something strictly below it. When this
    /// is `false` the whole subtree is excluded and is never read (BuildKit
    /// and the Docker CLI still walk such trees; moby/moby#20470).
    pub fn could_reinclude_below(&self, dir: &str) -> bool {
        self.has_exceptions
            && self
                .rules
                .iter()
                .any(|r| r.negated && r.pattern.could_match_below(dir))
    }
}

/// The proper parent directories of `path`, deepest first (`a/b/c` → `a/b`, `a`).
fn parents(path: &str) -> impl Iterator<Item = &str> {
    let mut end = path.len();
    std::iter::from_fn(move || {
        let cut = path[..end].rfind('/')?;
        end = cut;
        Some(&path[..cut])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(lines: &[&str]) -> IgnoreMatcher {
        IgnoreMatcher::from_patterns(lines).unwrap()
    }

    #[test]
    fn parents_iterates_deepest_first() {
        assert_eq!(parents("a/b/c").collect::<Vec<_>>(), ["a/b", "a"]);
        assert_eq!(parents("a").count(), 0);
    }

    /// Examples from Docker's `.dockerignore` documentation.
    #[test]
    fn docker_docs_examples() {
        let m = matcher(&["*/temp*", "*/*/temp*", "temp?"]);
        assert!(m.is_excluded("somedir/temporary.txt"));
        assert!(m.is_excluded("somedir/temp"));
        assert!(m.is_excluded("somedir/subdir/temporary.txt"));
        assert!(m.is_excluded("tempa"));
        assert!(
            m.is_excluded("tempb/inside"),
            "a parent match excludes the child"
        );
        assert!(
            !m.is_excluded("temporary.txt"),
            "patterns are anchored at the root"
        );
        assert!(!m.is_excluded("a/b/c/temp"));

        let m = matcher(&["*.md", "!README*.md", "README-secret.md"]);
        assert!(m.is_excluded("CHANGES.md"));
        assert!(!m.is_excluded("README.md"));
        assert!(
            m.is_excluded("README-secret.md"),
            "the last matching rule wins"
        );

        let m = matcher(&["*.md", "README-secret.md", "!README*.md"]);
        assert!(
            !m.is_excluded("README-secret.md"),
            "the last matching rule wins"
        );

        let m = matcher(&["**/*.go"]);
        assert!(m.is_excluded("main.go"));
        assert!(m.is_excluded("a/b/c.go"));
        assert!(!m.is_excluded("a/b/c.rs"));
    }

    /// Behaviour of moby's MatchesOrParentMatches that differs from gitignore.
    #[test]
    fn moby_parent_and_exception_semantics() {
        let m = matcher(&["docs", "!docs/keep.md"]);
        assert!(m.is_excluded("docs"));
        assert!(m.is_excluded("docs/other.md"));
        assert!(!m.is_excluded("docs/keep.md"));
        assert!(
            !m.is_excluded("docs/keep.md/inner"),
            "an exception also covers its subtree"
        );

        // An exception for a parent re-includes a child excluded by an
        // earlier, more specific rule (unlike .gitignore).
        let m = matcher(&["a/b", "!a"]);
        assert!(!m.is_excluded("a/b/c"));

        // `*` alone excludes everything; `!` re-includes one tree.
        let m = matcher(&["*", "!src"]);
        assert!(m.is_excluded("Dockerfile"));
        assert!(!m.is_excluded("src/main.rs"));
        assert!(m.is_excluded("target/x"));

        // Leading slashes and `./` are cleaned away.
        let m = matcher(&["/build/", "./dist"]);
        assert!(m.is_excluded("build/out"));
        assert!(m.is_excluded("dist"));

        // Escapes.
        let m = matcher(&["\\!important"]);
        assert!(m.is_excluded("!important"));
    }

    #[test]
    fn incremental_state_agrees_with_from_scratch() {
        let rules = ["a", "!a/b/keep*", "**/*.log", "!x/**/y.log", "x/z"];
        let m = matcher(&rules);
        let paths = [
            "a",
            "a/b",
            "a/b/keep",
            "a/b/keep.txt",
            "a/b/c.log",
            "a/b/keep.log",
            "x",
            "x/y.log",
            "x/q/y.log",
            "x/q/z.log",
            "x/z",
            "x/z/y.log",
            "b.log",
            "b",
        ];
        for path in paths {
            let (dir, _) = path.rsplit_once('/').unwrap_or(("", path));
            let state = m.state_for(dir);
            assert_eq!(
                m.child_excluded(&state, path),
                m.is_excluded(path),
                "{path}"
            );
            assert_eq!(
                m.state_excluded(&m.state_for(path)),
                m.is_excluded(path),
                "{path}"
            );
        }
    }

    #[test]
    fn pruning_only_when_no_exception_can_match_below() {
        let m = matcher(&[
            "node_modules",
            "docs",
            "!docs/keep.md",
            "build/**",
            "!build/**/*.keep",
        ]);
        assert!(!m.could_reinclude_below("node_modules"));
        assert!(m.could_reinclude_below("docs"));
        assert!(!m.could_reinclude_below("docs/sub"));
        assert!(m.could_reinclude_below("build/x/y"));
        let none = matcher(&["node_modules"]);
        assert!(!none.could_reinclude_below("node_modules"));
    }

    #[test]
    fn lone_bang_is_an_error() {
        assert!(IgnoreMatcher::from_patterns(&["!"]).is_err());
    }
}
