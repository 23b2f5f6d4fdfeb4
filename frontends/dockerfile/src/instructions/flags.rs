//! Instruction flags (`--from=x`, `--link`, `--mount=…`), parsed as
//! BuildKit's `BFlags` does: every flag must be declared by the instruction,
//! booleans take `--x`, `--x=true|false`, strings need `=value`, repeatable
//! flags keep every value, and a flag given twice is an error otherwise.

use std::collections::BTreeMap;

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `--name` or `--name=true|false` (case-insensitive).
    Bool,
    /// `--name=value`, once.
    String,
    /// `--name=value`, repeatable.
    Strings,
}

/// A flag error: the message and the flag word it is about (for the
/// column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FlagError {
    /// BuildKit's message.
    pub message: String,
    /// The `--name` the error is about.
    pub flag: String,
}

/// The flags given to one instruction, by name.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    bools: BTreeMap<&'static str, bool>,
    strings: BTreeMap<&'static str, String>,
    lists: BTreeMap<&'static str, Vec<String>>,
}

impl Flags {
    /// Parses `words` (each starting with `--`) against `spec`.
    pub(crate) fn parse(
        words: &[String],
        spec: &[(&'static str, Kind)],
    ) -> Result<Flags, FlagError> {
        let mut flags = Flags::default();
        for word in words {
            if word == "--" {
                break;
            }
            let err = |message: String| FlagError {
                message,
                flag: word.split('=').next().unwrap_or(word).to_string(),
            };
            let Some(body) = word.strip_prefix("--") else {
                return Err(err(format!("arg should start with -- : {word}")));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(key, kind)) = spec.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = spec.iter().map(|(n, _)| *n).collect();
                let hint = super::suggest(name, &names, true)
                    .map(|s| format!(" (did you mean {s}?)"))
                    .unwrap_or_default();
                return Err(err(format!("unknown flag: {name}{hint}")));
            };
            let seen = flags.bools.contains_key(key) || flags.strings.contains_key(key);
            if seen && kind != Kind::Strings {
                return Err(err(format!("duplicate flag specified: {name}")));
            }
            match kind {
                Kind::Bool => {
                    let on = match value.map(str::to_ascii_lowercase).as_deref() {
                        None => true,
                        Some("") => {
                            return Err(err(format!("missing a value on flag: {name}")));
                        }
                        Some("true") => true,
                        Some("false") => false,
                        Some(_) => {
                            return Err(err(format!(
                                "expecting boolean value for flag {name}, not: {}",
                                value.unwrap_or_default()
                            )));
                        }
                    };
                    flags.bools.insert(key, on);
                }
                Kind::String => {
                    let Some(value) = value else {
                        return Err(err(format!("missing a value on flag: {name}")));
                    };
                    flags.strings.insert(key, value.to_string());
                }
                Kind::Strings => {
                    let Some(value) = value else {
                        return Err(err(format!("missing a value on flag: {name}")));
                    };
                    flags.lists.entry(key).or_default().push(value.to_string());
                }
            }
        }
        Ok(flags)
    }

    /// A boolean flag: `None` when not given.
    pub(crate) fn bool(&self, name: &str) -> Option<bool> {
        self.bools.get(name).copied()
    }

    /// A string flag: `None` when not given.
    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.strings.get(name).cloned()
    }

    /// Every value of a repeatable flag, in order.
    pub(crate) fn strings(&self, name: &str) -> Vec<String> {
        self.lists.get(name).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &[(&str, Kind)] = &[
        ("link", Kind::Bool),
        ("from", Kind::String),
        ("exclude", Kind::Strings),
    ];

    fn parse(words: &[&str]) -> Result<Flags, FlagError> {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        Flags::parse(&words, SPEC)
    }

    fn message(words: &[&str]) -> String {
        parse(words).err().map(|e| e.message).unwrap_or_default()
    }

    #[test]
    fn values_by_kind() {
        let f = parse(&["--link=FALSE", "--from=a=b", "--exclude=x", "--exclude=y"]).unwrap();
        assert_eq!(f.bool("link"), Some(false));
        assert_eq!(f.string("from").as_deref(), Some("a=b"));
        assert_eq!(f.strings("exclude"), ["x", "y"]);
        let f = parse(&["--link", "--from="]).unwrap();
        assert_eq!(f.bool("link"), Some(true));
        assert_eq!(f.string("from").as_deref(), Some(""));
        assert_eq!(f.strings("exclude"), Vec::<String>::new());
    }

    #[test]
    fn errors_match_buildkit() {
        assert_eq!(
            message(&["--form=x"]),
            "unknown flag: form (did you mean from?)"
        );
        assert_eq!(message(&["--chown=x"]), "unknown flag: chown");
        assert_eq!(message(&["--from"]), "missing a value on flag: from");
        assert_eq!(message(&["--link="]), "missing a value on flag: link");
        assert_eq!(message(&["--exclude"]), "missing a value on flag: exclude");
        assert_eq!(
            message(&["--link=yes"]),
            "expecting boolean value for flag link, not: yes"
        );
        assert_eq!(
            message(&["--from=a", "--from=b"]),
            "duplicate flag specified: from"
        );
        assert_eq!(
            message(&["--link", "--link"]),
            "duplicate flag specified: link"
        );
        assert_eq!(parse(&["--form=x"]).unwrap_err().flag, "--form");
    }
}
