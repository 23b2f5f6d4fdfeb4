//! Shell-like word processing, as Docker does it in Dockerfiles: variable
//! expansion (`$v`, `${v:-w}`, `${v#p}`, `${v/p/r}`, …), quotes and escapes,
//! and word splitting. This is not a shell: no command substitution, no
//! globbing of file names.
//!
//! ```
//! use strata_dockerfile::shell::Lexer;
//! let env = vec![("HOME".to_string(), "/root".to_string())];
//! let lexer = Lexer::new('\\');
//! assert_eq!(lexer.process_word("${HOME}/a 'b c'", &env).unwrap(), "/root/a b c");
//! assert_eq!(lexer.process_words("a \"b c\" $HOME", &env).unwrap(), ["a", "b c", "/root"]);
//! ```

mod glob;

use std::collections::BTreeSet;

/// Where variables are looked up.
pub trait Env {
    /// The value of `name`, if it is set.
    fn get(&self, name: &str) -> Option<&str>;
}

/// Pairs in order; a later pair overrides an earlier one.
impl Env for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Env for std::collections::BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        std::collections::BTreeMap::get(self, name).map(String::as_str)
    }
}

/// A word that could not be processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {word:?}: {message}")]
pub struct ShellError {
    /// The input.
    pub word: String,
    /// What is wrong.
    pub message: String,
    /// Where in `word` (0-based, in characters) the construct at fault
    /// starts: the `$` of the substitution or the opening quote.
    pub position: usize,
}

impl ShellError {
    /// [`ShellError::position`] as a byte offset in [`ShellError::word`].
    pub fn byte_position(&self) -> usize {
        self.word
            .char_indices()
            .nth(self.position)
            .map_or(self.word.len(), |(at, _)| at)
    }
}

/// The result of processing, with the variables it referenced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Processed {
    /// The word as one string.
    pub word: String,
    /// The word split into words (unquoted whitespace separates them).
    pub words: Vec<String>,
    /// Variables referenced that were set.
    pub matched: BTreeSet<String>,
    /// Variables referenced that were not set.
    pub unmatched: BTreeSet<String>,
}

/// Processes words with a given escape character and options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    escape: char,
    /// Keep quote characters in the output.
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters.
    pub skip_process_quotes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset_env: bool,
    /// Treat `$` as an ordinary character: quotes and escapes are still
    /// processed, variables are not expanded.
    pub skip_expansion: bool,
}

impl Lexer {
    /// A lexer with the Dockerfile's escape character.
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
            skip_expansion: false,
        }
    }

    /// Processes `word` into one string.
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<String, ShellError> {
        Ok(self.process(word, env)?.word)
    }

    /// Processes `word` into words.
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, ShellError> {
        Ok(self.process(word, env)?.words)
    }

    /// Processes `word`, returning the string, the words and the variables used.
    pub fn process(&self, word: &str, env: &dyn Env) -> Result<Processed, ShellError> {
        let mut w = ShellWord {
            chars: word.chars().collect(),
            pos: 0,
            env,
            lexer: *self,
            raw_escapes: self.raw_escapes,
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
            error_at: None,
        };
        let (result, words) = w
            .process_stop_on(None, self.raw_escapes)
            .map_err(|message| ShellError {
                word: word.to_string(),
                message,
                position: w.error_at.unwrap_or(0),
            })?;
        Ok(Processed {
            word: result,
            words,
            matched: w.matched,
            unmatched: w.unmatched,
        })
    }
}

#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }
    fn add_raw_char(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }
    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(std::mem::take(&mut self.word));
        }
        self.words
    }
}

struct ShellWord<'a> {
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Env,
    lexer: Lexer,
    raw_escapes: bool,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
    /// Start of the innermost construct that failed.
    error_at: Option<usize>,
}

type Res<T> = Result<T, String>;

impl ShellWord<'_> {
    /// Remembers `start` as the error's place unless an inner construct
    /// already did.
    fn failed_at<T>(&mut self, start: usize, result: Res<T>) -> Res<T> {
        if result.is_err() && self.error_at.is_none() {
            self.error_at = Some(start);
        }
        result
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn get_env(&mut self, name: &str) -> Option<String> {
        match self.env.get(name) {
            Some(v) => {
                self.matched.insert(name.to_string());
                Some(v.to_string())
            }
            None => {
                self.unmatched.insert(name.to_string());
                None
            }
        }
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Res<(String, Vec<String>)> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let out = self.stop_on(stop);
        self.raw_escapes = saved;
        out
    }

    fn stop_on(&mut self, stop: Option<char>) -> Res<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        let quotes = !self.lexer.skip_process_quotes;
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.next();
                return Ok((result, words.finish()));
            }
            if c == '$' && !self.lexer.skip_expansion {
                let start = self.pos;
                let value = self.process_dollar();
                let value = self.failed_at(start, value)?;
                result.push_str(&value);
                words.add_string(&value);
            } else if quotes && (c == '\'' || c == '"') {
                let start = self.pos;
                let value = if c == '\'' {
                    self.single_quote()
                } else {
                    self.double_quote()
                };
                let value = self.failed_at(start, value)?;
                result.push_str(&value);
                words.add_raw_string(&value);
            } else {
                self.next();
                if c == self.lexer.escape {
                    if self.raw_escapes {
                        words.add_raw_char(c);
                        result.push(c);
                    }
                    let Some(escaped) = self.next() else {
                        break;
                    };
                    words.add_raw_char(escaped);
                    result.push(escaped);
                } else {
                    words.add_char(c);
                    result.push(c);
                }
            }
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn single_quote(&mut self) -> Res<String> {
        let mut result = String::new();
        let open = self.next();
        if self.lexer.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    );
                }
                Some('\'') => {
                    if self.lexer.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Res<String> {
        let mut result = String::new();
        let open = self.next();
        if self.lexer.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    );
                }
                Some('"') => {
                    self.next();
                    if self.lexer.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') if !self.lexer.skip_expansion => {
                    let start = self.pos;
                    let value = self.process_dollar();
                    let value = self.failed_at(start, value)?;
                    result.push_str(&value);
                }
                Some(_) => {
                    let mut c = self.next().unwrap_or_default();
                    if c == self.lexer.escape {
                        if self.raw_escapes {
                            result.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.lexer.escape => {
                                c = n;
                                self.next();
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(c);
                }
            }
        }
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return c.to_string();
            }
            if !c.is_alphanumeric() && c != '_' {
                break;
            }
            name.push(c);
            self.next();
        }
        name
    }

    fn process_dollar(&mut self) -> Res<String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lexer.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.process_name();
        let Some(mut c) = self.next() else {
            return Err("syntax error: missing '}'".into());
        };
        let mut modifier = c.to_string();
        let mut null_is_unset = false;
        match c {
            '}' => Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lexer.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                if c == ':' {
                    null_is_unset = true;
                    c = self.next().unwrap_or('\0');
                    modifier.push(c);
                }
                if !matches!(c, '+' | '-' | '?' | '#' | '%') {
                    return Err(format!("unsupported modifier ({modifier}) in substitution"));
                }
                let raw = c == '#' || c == '%';
                if null_is_unset && raw {
                    return Err(format!("unsupported modifier ({modifier}) in substitution"));
                }
                let word = match self.process_stop_on(Some('}'), raw) {
                    Ok((w, _)) => w,
                    Err(e) if self.peek().is_none() => {
                        let _ = e;
                        return Err("syntax error: missing '}'".into());
                    }
                    Err(e) => return Err(e),
                };
                let value = self.get_env(&name);
                if self.lexer.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}{modifier}{word}}}"));
                }
                let empty_counts =
                    |v: &Option<String>| v.is_none() || (null_is_unset && v.as_deref() == Some(""));
                match c {
                    '-' => Ok(if empty_counts(&value) {
                        word
                    } else {
                        value.unwrap_or_default()
                    }),
                    '+' => Ok(if empty_counts(&value) {
                        String::new()
                    } else {
                        word
                    }),
                    '?' => match value {
                        None => Err(format!(
                            "{name}: {}",
                            if word.is_empty() {
                                "is not allowed to be unset"
                            } else {
                                &word
                            }
                        )),
                        Some(v) if null_is_unset && v.is_empty() => Err(format!(
                            "{name}: {}",
                            if word.is_empty() {
                                "is not allowed to be empty"
                            } else {
                                &word
                            }
                        )),
                        Some(v) => Ok(v),
                    },
                    _ => {
                        let value = value.unwrap_or_default();
                        let (greedy, pattern) = match word.strip_prefix(c) {
                            Some(rest) => (true, rest.to_string()),
                            None => (false, word),
                        };
                        if c == '%' {
                            glob::trim_suffix(&pattern, &value, greedy)
                        } else {
                            glob::trim_prefix(&pattern, &value, greedy)
                        }
                    }
                }
            }
            '/' => {
                let all = self.peek() == Some('/');
                if all {
                    self.next();
                }
                let pattern = match self.process_stop_on(Some('/'), true) {
                    Ok((p, _)) => p,
                    Err(_) if self.peek().is_none() => {
                        return Err("syntax error: missing '/' in ${}".into());
                    }
                    Err(e) => return Err(e),
                };
                let replacement = match self.process_stop_on(Some('}'), true) {
                    Ok((r, _)) => r,
                    Err(_) if self.peek().is_none() => {
                        return Err("syntax error: missing '}'".into());
                    }
                    Err(e) => return Err(e),
                };
                let value = self.get_env(&name);
                let Some(value) = value else {
                    if self.lexer.skip_unset_env {
                        return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
                    }
                    return Ok(String::new());
                };
                glob::replace(&pattern, &value, &replacement, all)
            }
            _ => Err(format!("unsupported modifier ({modifier}) in substitution")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        vec![
            ("A".into(), "hello world".into()),
            ("P".into(), "/usr/local/bin/app.tar.gz".into()),
            ("E".into(), String::new()),
        ]
    }

    fn w(s: &str) -> Result<String, ShellError> {
        Lexer::new('\\').process_word(s, &env())
    }

    #[test]
    fn trim_operators() {
        assert_eq!(w("${P#*/}").unwrap(), "usr/local/bin/app.tar.gz");
        assert_eq!(w("${P##*/}").unwrap(), "app.tar.gz");
        assert_eq!(w("${P%.*}").unwrap(), "/usr/local/bin/app.tar");
        assert_eq!(w("${P%%.*}").unwrap(), "/usr/local/bin/app");
        assert_eq!(w("${P#nomatch}").unwrap(), "/usr/local/bin/app.tar.gz");
    }

    #[test]
    fn replace_operators() {
        assert_eq!(w("${A/o/0}").unwrap(), "hell0 world");
        assert_eq!(w("${A//o/0}").unwrap(), "hell0 w0rld");
        assert_eq!(w("${A/w*/there}").unwrap(), "hello there");
        assert_eq!(w("${NOPE/a/b}").unwrap(), "");
    }

    #[test]
    fn unset_and_empty_operators() {
        assert_eq!(w("${E:-d}").unwrap(), "d");
        assert_eq!(w("${E-d}").unwrap(), "");
        assert_eq!(w("${E+s}").unwrap(), "s");
        assert_eq!(w("${E:+s}").unwrap(), "");
        assert_eq!(w("${NOPE?custom}").unwrap_err().message, "NOPE: custom");
        assert!(w("${E:?}").is_err());
        assert!(w("${E:#x}").is_err());
    }

    #[test]
    fn matches_are_recorded() {
        let p = Lexer::new('\\')
            .process("$A ${NOPE:-x} $A", &env())
            .unwrap();
        assert_eq!(p.matched.into_iter().collect::<Vec<_>>(), ["A"]);
        assert_eq!(p.unmatched.into_iter().collect::<Vec<_>>(), ["NOPE"]);
    }

    #[test]
    fn skip_unset_keeps_references() {
        let mut l = Lexer::new('\\');
        l.skip_unset_env = true;
        assert_eq!(
            l.process_word("$X ${Y} ${Z:-d} $A", &env()).unwrap(),
            "$X ${Y} ${Z:-d} hello world"
        );
    }

    #[test]
    fn backtick_escape() {
        let l = Lexer::new('`');
        assert_eq!(l.process_word("a`$b c:\\d", &env()).unwrap(), "a$b c:\\d");
    }
}
