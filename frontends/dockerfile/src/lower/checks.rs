//! Build checks: the `# check=skip=…;error=true` directive (or the
//! `BUILDKIT_DOCKERFILE_CHECK` build arg, which wins), read as BuildKit's
//! `ParseLintOptions` does, applied to the lint warnings of a plan.

use crate::error::DockerfileError;
use crate::instructions::parse_go_bool;
use std::collections::BTreeSet;
use strata_plan::Plan;

/// The build arg that overrides the `# check=` directive.
pub(crate) const CHECK_BUILD_ARG: &str = "BUILDKIT_DOCKERFILE_CHECK";

/// Warnings that are BuildKit lint rules (others, such as an unused build
/// arg, are neither skipped nor turned into errors).
const LINT_RULES: [&str; 8] = [
    "FromAsCasing",
    "JSONArgsRecommended",
    "LegacyKeyValueFormat",
    "MaintainerDeprecated",
    "NoEmptyContinuation",
    "ReservedStageName",
    "StageNameCasing",
    "UndefinedArgInFrom",
];

/// Rules BuildKit checks while it builds a stage (not while it parses
/// the file), so only in the stages the target needs.
const DISPATCH_RULES: [&str; 1] = ["JSONArgsRecommended"];

/// Drops the warnings of [`DISPATCH_RULES`] about instructions of stages
/// the target does not need.
pub(crate) fn drop_unreached(plan: &mut Plan) {
    let needed: BTreeSet<usize> = plan
        .required_stages()
        .into_iter()
        .filter_map(|id| plan.stage(id))
        .flat_map(|stage| stage.steps.iter().map(|step| step.span.start_line))
        .collect();
    plan.warnings.retain(|w| {
        !DISPATCH_RULES.contains(&w.rule.as_str())
            || w.span.is_some_and(|s| needed.contains(&s.start_line))
    });
}

/// Which lint rules run and whether a violation fails the build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Checks {
    skip_all: bool,
    skip: BTreeSet<String>,
    error: bool,
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
        for part in text.splitn(2, ';') {
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
                other => return Err(fail(format!("invalid check option {other:?}"))),
            }
        }
        Ok(checks)
    }

    fn skips(&self, rule: &str) -> bool {
        self.skip_all || self.skip.contains(rule)
    }

    /// Drops skipped lint warnings; with `error=true`, fails when any lint
    /// warning is left, at the first one's line.
    pub(crate) fn apply(&self, plan: &mut Plan) -> Result<(), DockerfileError> {
        let is_lint = |rule: &str| LINT_RULES.contains(&rule);
        plan.warnings
            .retain(|w| !(is_lint(&w.rule) && self.skips(&w.rule)));
        if !self.error {
            return Ok(());
        }
        let violations: Vec<_> = plan.warnings.iter().filter(|w| is_lint(&w.rule)).collect();
        let Some(first) = violations.first() else {
            return Ok(());
        };
        let rules: BTreeSet<&str> = violations.iter().map(|w| w.rule.as_str()).collect();
        let line = first.span.map_or(1, |s| s.start_line);
        let end = first.span.map_or(line, |s| s.end_line);
        Err(DockerfileError::spanning(
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
    }

    #[test]
    fn directive_value_position() {
        assert_eq!(directive_position("# check=error=x\nFROM a\n"), (1, 9));
        assert_eq!(directive_position("# syntax=x\n#  check = skip\n"), (2, 12));
        assert_eq!(directive_position("FROM a\n"), (1, 1));
    }
}
