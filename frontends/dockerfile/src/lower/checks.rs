//! Build checks: the `# check=skip=…;error=true;experimental=…` directive
//! (or the `BUILDKIT_DOCKERFILE_CHECK` build arg, which wins), read as
//! BuildKit's `ParseLintOptions` does, applied to the warnings of a plan.
//! Warnings that are not of a rule in [`crate::lints::RULES`] (an unused
//! build arg) are neither skipped nor turned into errors. An experimental
//! rule's warnings are kept only when `experimental=` names the rule.

use crate::error::DockerfileError;
use crate::instructions::parse_go_bool;
use crate::lints;
use std::collections::BTreeSet;
use strata_plan::Plan;

/// The build arg that overrides the `# check=` directive.
pub(crate) const CHECK_BUILD_ARG: &str = "BUILDKIT_DOCKERFILE_CHECK";

fn is_lint(rule: &str) -> bool {
    lints::rule(rule).is_some()
}

/// Which lint rules run and whether a violation fails the build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Checks {
    skip_all: bool,
    skip: BTreeSet<String>,
    error: bool,
    experimental: BTreeSet<String>,
}

impl Checks {
    /// Parses `skip=A,B;error=true` (`skip=all` skips every rule).
    pub(crate) fn parse(text: &str) -> Result<Checks, String> {
        let fail = |why: String| format!("failed to parse check options: {why}");
        let mut checks = Checks::default();
        let text = text.trim();
        if text.is_empty() {
            return Ok(checks);
        }
        for part in text.splitn(3, ';') {
            let Some((key, value)) = part.split_once('=') else {
                return Err(fail(format!("invalid check option {part:?}")));
            };
            match key.trim() {
                "skip" => {
                    let value = value.trim();
                    if value == "all" {
                        checks.skip_all = true;
                    } else {
                        checks.skip = value.split(',').map(|r| r.trim().to_string()).collect();
                    }
                }
                "error" => {
                    let v = value.trim();
                    checks.error = parse_go_bool(v).ok_or_else(|| {
                        fail(format!(
                            "failed to parse check option {part:?}: strconv.ParseBool: parsing {v:?}: invalid syntax"
                        ))
                    })?;
                }
                "experimental" => {
                    for name in value.split(',').map(str::trim) {
                        checks
                            .experimental
                            .insert(experimental_rule(name).map_err(fail)?);
                    }
                }
                other => return Err(fail(format!("invalid check option {other:?}"))),
            }
        }
        Ok(checks)
    }

    fn skips(&self, rule: &str) -> bool {
        match lints::rule(rule) {
            None => false,
            Some(r) if r.experimental => !self.experimental.contains(rule),
            Some(_) => self.skip_all || self.skip.contains(rule),
        }
    }

    /// Drops the warnings of skipped rules and of experimental rules not
    /// asked for.
    pub(crate) fn skip_rules(&self, plan: &mut Plan) {
        plan.warnings.retain(|w| !self.skips(&w.rule));
    }

    /// With `error=true`, the error for the rule warnings left, at the
    /// first one's line.
    pub(crate) fn violation(&self, plan: &Plan) -> Option<DockerfileError> {
        if !self.error {
            return None;
        }
        let violations: Vec<_> = plan.warnings.iter().filter(|w| is_lint(&w.rule)).collect();
        let first = violations.first()?;
        let rules: BTreeSet<&str> = violations.iter().map(|w| w.rule.as_str()).collect();
        let line = first.span.map_or(1, |s| s.start_line);
        let end = first.span.map_or(line, |s| s.end_line);
        Some(DockerfileError::spanning(
            line,
            end,
            1,
            format!(
                "lint violation found for rules: {}",
                rules.into_iter().collect::<Vec<_>>().join(", ")
            ),
        ))
    }
}

/// The experimental rule `name` of `experimental=NAME`: strata runs
/// InvalidDefinitionDescription; BuildKit's other one, and `all` (which
/// would include it), are refused rather than ignored.
fn experimental_rule(name: &str) -> Result<String, String> {
    match lints::rule(name) {
        Some(rule) if rule.experimental => Ok(rule.name.to_string()),
        _ if name == "CopyIgnoredFile" || name == "all" => Err(format!(
            "experimental={name}: strata does not run BuildKit's experimental check \
             CopyIgnoredFile; of the experimental checks it runs InvalidDefinitionDescription \
             (name it: experimental=InvalidDefinitionDescription)"
        )),
        _ => Err(format!(
            "experimental={name}: unknown experimental check (BuildKit's are CopyIgnoredFile \
             and InvalidDefinitionDescription)"
        )),
    }
}

/// Line and column of the `check` directive's value, for a bad value.
pub(crate) fn directive_position(source: &str) -> (usize, usize) {
    for (i, line) in source.lines().enumerate() {
        let lower = line.to_ascii_lowercase();
        if !lower.trim_start().starts_with('#') {
            break;
        }
        if let Some(at) = lower.find("check")
            && let Some(eq) = lower[at..].find('=')
        {
            let value = at + eq + 1;
            let skipped = line[value..].len() - line[value..].trim_start().len();
            return (i + 1, line[..value + skipped].chars().count() + 1);
        }
    }
    (1, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_follow_buildkit() {
        let c = Checks::parse("skip=StageNameCasing, FromAsCasing;error=true").unwrap();
        assert!(c.error && !c.skip_all);
        assert!(c.skips("FromAsCasing") && !c.skips("UndefinedArgInFrom"));
        assert!(Checks::parse(" skip=all ").unwrap().skip_all);
        assert_eq!(Checks::parse("").unwrap(), Checks::default());
        assert!(
            Checks::parse("error=maybe")
                .unwrap_err()
                .contains("ParseBool")
        );
        assert!(
            Checks::parse("skp=all")
                .unwrap_err()
                .contains("invalid check option \"skp\"")
        );
        assert!(Checks::parse("skip").is_err());
        // Three parts, as BuildKit.
        let c = Checks::parse("skip=FromAsCasing;error=true").unwrap();
        assert!(c.error && c.skips("FromAsCasing"));
    }

    #[test]
    fn experimental_rules_run_only_when_named() {
        let rule = "InvalidDefinitionDescription";
        assert!(Checks::default().skips(rule));
        let c = Checks::parse("skip=all;experimental=InvalidDefinitionDescription").unwrap();
        // `skip=` does not reach an experimental rule, as in BuildKit.
        assert!(!c.skips(rule) && c.skips("FromAsCasing"));
        for refused in ["CopyIgnoredFile", "all"] {
            let e = Checks::parse(&format!("experimental={refused}")).unwrap_err();
            assert!(
                e.contains("does not run BuildKit's experimental check"),
                "{e}"
            );
        }
        let e = Checks::parse("experimental=InvalidDefinitionDescription,Nope").unwrap_err();
        assert!(
            e.contains("experimental=Nope: unknown experimental check"),
            "{e}"
        );
        let e = Checks::parse("experimental=FromAsCasing").unwrap_err();
        assert!(e.contains("unknown experimental check"), "{e}");
    }

    #[test]
    fn directive_value_position() {
        assert_eq!(directive_position("# check=error=x\nFROM a\n"), (1, 9));
        assert_eq!(directive_position("# syntax=x\n#  check = skip\n"), (2, 12));
        assert_eq!(directive_position("FROM a\n"), (1, 1));
    }
}
