//! Instruction flags (`--from=x`, `--link`), validated per instruction.

use std::collections::BTreeMap;

/// The flags of one instruction, by name; repeatable flags keep every value.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    values: BTreeMap<String, Vec<Option<String>>>,
}

/// How a flag may be used.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `--name=value`, once.
    Value,
    /// `--name=value`, many times.
    Repeat,
    /// `--name` or `--name=true|false`.
    Bool,
}

impl Flags {
    /// Parses `--name[=value]` words against the allowed flags.
    pub(crate) fn parse(
        keyword: &str,
        words: &[String],
        allowed: &[(&str, Kind)],
    ) -> Result<Flags, String> {
        let mut flags = Flags::default();
        for word in words {
            let Some(body) = word.strip_prefix("--") else {
                return Err(format!("invalid flag {word:?}: flags start with --"));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let Some((_, kind)) = allowed.iter().find(|(n, _)| *n == name) else {
                return Err(format!(
                    "unknown flag: --{name} (allowed for {}: {})",
                    keyword.to_uppercase(),
                    if allowed.is_empty() {
                        "none".to_string()
                    } else {
                        allowed
                            .iter()
                            .map(|(n, _)| format!("--{n}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ));
            };
            let slot = flags.values.entry(name.to_string()).or_default();
            match kind {
                Kind::Value => {
                    if value.is_none() {
                        return Err(format!("missing a value on flag: --{name}"));
                    }
                    if !slot.is_empty() {
                        return Err(format!("duplicate flag specified: --{name}"));
                    }
                }
                Kind::Repeat => {
                    if value.is_none() {
                        return Err(format!("missing a value on flag: --{name}"));
                    }
                }
                Kind::Bool => {
                    if let Some(v) = &value
                        && !matches!(v.to_ascii_lowercase().as_str(), "true" | "false")
                    {
                        return Err(format!(
                            "expecting boolean value for flag --{name}, not: {v}"
                        ));
                    }
                }
            }
            slot.push(value);
        }
        Ok(flags)
    }

    /// The value of a single-valued flag.
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name)?.last()?.as_deref()
    }

    /// Every value of a repeatable flag.
    pub(crate) fn values(&self, name: &str) -> Vec<&str> {
        self.values
            .get(name)
            .map(|v| v.iter().filter_map(|x| x.as_deref()).collect())
            .unwrap_or_default()
    }

    /// A boolean flag: present (`--x` or `--x=true`), or absent/false.
    pub(crate) fn bool(&self, name: &str) -> Option<bool> {
        let v = self.values.get(name)?.last()?;
        Some(v.as_deref().is_none_or(|v| v.eq_ignore_ascii_case("true")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_and_validates() {
        let allowed = [
            ("from", Kind::Value),
            ("link", Kind::Bool),
            ("exclude", Kind::Repeat),
        ];
        let f = Flags::parse(
            "copy",
            &w(&["--from=a", "--link", "--exclude=x", "--exclude=y"]),
            &allowed,
        )
        .unwrap();
        assert_eq!(f.value("from"), Some("a"));
        assert_eq!(f.bool("link"), Some(true));
        assert_eq!(f.values("exclude"), ["x", "y"]);
        assert!(
            Flags::parse("copy", &w(&["--nope=1"]), &allowed)
                .unwrap_err()
                .contains("unknown flag: --nope")
        );
        assert!(Flags::parse("copy", &w(&["--from"]), &allowed).is_err());
        assert!(Flags::parse("copy", &w(&["--from=a", "--from=b"]), &allowed).is_err());
        assert!(Flags::parse("copy", &w(&["--link=maybe"]), &allowed).is_err());
        assert_eq!(
            Flags::parse("copy", &w(&["--link=false"]), &allowed)
                .unwrap()
                .bool("link"),
            Some(false)
        );
    }
}
