//! BuildKit's build checks (`docker build --check`): the rules strata runs,
//! with BuildKit's names, descriptions and documentation links, and the
//! small judgements several rules share (secret-looking names, "did you
//! mean" suggestions, instruction casing).
//!
//! The lowering ([`crate::lower`]) decides when a rule fires, at the
//! instruction BuildKit reports it on; this module only knows the rules.
//!
//! ```
//! use strata_dockerfile::lints;
//! let rule = lints::rule("UndefinedVar").unwrap();
//! assert_eq!(rule.url, "https://docs.docker.com/go/dockerfile/rule/undefined-var/");
//! assert!(lints::is_secret_name("GITHUB_TOKEN"));
//! assert!(!lints::is_secret_name("PUBLIC_KEY"));
//! ```

/// One build check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The rule's name (`check=skip=` takes these).
    pub name: &'static str,
    /// What the rule asks for, in BuildKit's words.
    pub description: &'static str,
    /// BuildKit's documentation of the rule (empty when it has none).
    pub url: &'static str,
    /// An experimental rule runs only when `check=experimental=NAME`
    /// names it (and `skip=` does not apply to it), as in BuildKit.
    pub experimental: bool,
}

const fn rule_of(name: &'static str, description: &'static str, url: &'static str) -> Rule {
    Rule {
        name,
        description,
        url,
        experimental: false,
    }
}

/// Every rule strata checks: BuildKit's rules, of its experimental ones
/// InvalidDefinitionDescription (not CopyIgnoredFile).
pub const RULES: [Rule; 21] = [
    rule_of(
        "StageNameCasing",
        "Stage names should be lowercase",
        "https://docs.docker.com/go/dockerfile/rule/stage-name-casing/",
    ),
    rule_of(
        "FromAsCasing",
        "The 'as' keyword should match the case of the 'from' keyword",
        "https://docs.docker.com/go/dockerfile/rule/from-as-casing/",
    ),
    rule_of(
        "NoEmptyContinuation",
        "Empty continuation lines will become errors in a future release",
        "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/",
    ),
    rule_of(
        "ConsistentInstructionCasing",
        "All commands within the Dockerfile should use the same casing (either upper or lower)",
        "https://docs.docker.com/go/dockerfile/rule/consistent-instruction-casing/",
    ),
    rule_of(
        "DuplicateStageName",
        "Stage names should be unique",
        "https://docs.docker.com/go/dockerfile/rule/duplicate-stage-name/",
    ),
    rule_of(
        "ReservedStageName",
        "Reserved words should not be used as stage names",
        "https://docs.docker.com/go/dockerfile/rule/reserved-stage-name/",
    ),
    rule_of(
        "JSONArgsRecommended",
        "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals",
        "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/",
    ),
    rule_of(
        "MaintainerDeprecated",
        "The MAINTAINER instruction is deprecated, use a label instead to define an image author",
        "https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/",
    ),
    rule_of(
        "UndefinedArgInFrom",
        "FROM command must use declared ARGs",
        "https://docs.docker.com/go/dockerfile/rule/undefined-arg-in-from/",
    ),
    rule_of(
        "WorkdirRelativePath",
        "Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes",
        "https://docs.docker.com/go/dockerfile/rule/workdir-relative-path/",
    ),
    rule_of(
        "UndefinedVar",
        "Variables should be defined before their use",
        "https://docs.docker.com/go/dockerfile/rule/undefined-var/",
    ),
    rule_of(
        "MultipleInstructionsDisallowed",
        "Multiple instructions of the same type should not be used in the same stage",
        "https://docs.docker.com/go/dockerfile/rule/multiple-instructions-disallowed/",
    ),
    rule_of(
        "LegacyKeyValueFormat",
        "Legacy key/value format with whitespace separator should not be used",
        "https://docs.docker.com/go/dockerfile/rule/legacy-key-value-format/",
    ),
    rule_of(
        "RedundantTargetPlatform",
        "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior",
        "https://docs.docker.com/go/dockerfile/rule/redundant-target-platform/",
    ),
    rule_of(
        "SecretsUsedInArgOrEnv",
        "Sensitive data should not be used in the ARG or ENV commands",
        "https://docs.docker.com/go/dockerfile/rule/secrets-used-in-arg-or-env/",
    ),
    rule_of(
        "InvalidDefaultArgInFrom",
        "Default value for global ARG results in an empty or invalid base image name",
        "https://docs.docker.com/go/dockerfile/rule/invalid-default-arg-in-from/",
    ),
    rule_of(
        "FromPlatformFlagConstDisallowed",
        "FROM --platform flag should not use a constant value",
        "https://docs.docker.com/go/dockerfile/rule/from-platform-flag-const-disallowed/",
    ),
    rule_of(
        "ExposeProtoCasing",
        "Protocol in EXPOSE instruction should be lowercase",
        "https://docs.docker.com/go/dockerfile/rule/expose-proto-casing/",
    ),
    // BuildKit gives this rule no documentation link.
    rule_of(
        "InvalidBaseImagePlatform",
        "Base image platform does not match expected target platform",
        "",
    ),
    rule_of(
        "ExposeInvalidFormat",
        "IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release",
        "https://docs.docker.com/go/dockerfile/rule/expose-invalid-format/",
    ),
    Rule {
        experimental: true,
        ..rule_of(
            "InvalidDefinitionDescription",
            "Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this is not intended to be a description comment, add an empty line or comment between the instruction and the comment.",
            "https://docs.docker.com/go/dockerfile/rule/invalid-definition-description/",
        )
    },
];

/// The rule named `name`.
pub fn rule(name: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.name == name)
}

/// BuildKit's convention for describing a stage or an ARG: the comment
/// line right above it that starts with the name and a space; the rest of
/// that line is the description (`# base the image we build on`).
pub fn description<'c>(comments: &'c [String], name: &str) -> Option<&'c str> {
    if name.is_empty() {
        return None;
    }
    comments
        .iter()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
}

/// InvalidDefinitionDescription: the last comment line right above a
/// stage or an ARG does not start with one of its names (`names` non-empty).
pub fn misdescribed(comments: &[String], names: &[&str]) -> bool {
    let Some(last) = comments.last() else {
        return false;
    };
    let first_word = last.split(' ').next().unwrap_or_default();
    !names.is_empty() && !names.contains(&first_word)
}

/// Words that make an ARG or ENV name look like it holds a secret, and
/// words that clear it again (BuildKit's lists).
const SECRET_WORDS: [&str; 10] = [
    "apikey",
    "auth",
    "credential",
    "credentials",
    "key",
    "password",
    "pword",
    "passwd",
    "secret",
    "token",
];
const NOT_SECRET_WORDS: [&str; 3] = ["public", "file", "version"];

/// SecretsUsedInArgOrEnv: one of the `_`-separated words of `name` is a
/// secret word (any case) and none is a word that clears it
/// (`GITHUB_TOKEN` is, `PUBLIC_KEY` and `KEY_FILE` are not).
pub fn is_secret_name(name: &str) -> bool {
    let has = |list: &[&str]| {
        name.split('_')
            .any(|word| list.iter().any(|w| w.eq_ignore_ascii_case(word)))
    };
    has(&SECRET_WORDS) && !has(&NOT_SECRET_WORDS)
}

/// BuildKit's "did you mean" for `name` among `options` (case-sensitive):
/// the closest option less than 3 edits away (the first of equals), none
/// when `name` is itself an option.
pub fn suggest<'o>(name: &str, options: impl IntoIterator<Item = &'o str>) -> Option<&'o str> {
    let mut best = None;
    let mut min = 3;
    for option in options {
        if option == name {
            return None;
        }
        let distance = strsim::levenshtein(name, option);
        if distance < min {
            min = distance;
            best = Some(option);
        }
    }
    best
}

/// A keyword written all upper or all lower case.
fn self_consistent(word: &str) -> bool {
    word == word.to_ascii_lowercase() || word == word.to_ascii_uppercase()
}

/// ConsistentInstructionCasing over the instruction keywords of the stages
/// (as written, with their lines): each keyword not in the casing most
/// self-consistent keywords use (upper case on a tie), with the casing
/// it should have.
pub fn casing_violations<'k>(keywords: &[(usize, &'k str)]) -> Vec<(usize, &'k str, &'static str)> {
    let lower = keywords
        .iter()
        .filter(|(_, k)| self_consistent(k) && *k == k.to_ascii_lowercase())
        .count();
    let upper = keywords
        .iter()
        .filter(|(_, k)| self_consistent(k) && *k != k.to_ascii_lowercase())
        .count();
    let majority_lower = lower > upper;
    keywords
        .iter()
        .filter_map(|&(line, k)| {
            if majority_lower && k != k.to_ascii_lowercase() {
                Some((line, k, "lowercase"))
            } else if !majority_lower && k != k.to_ascii_uppercase() {
                Some((line, k, "uppercase"))
            } else {
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_buildkit_docs() {
        for r in RULES {
            assert!(
                r.url
                    .starts_with("https://docs.docker.com/go/dockerfile/rule/")
                    || r.name == "InvalidBaseImagePlatform"
            );
            assert!(!r.description.is_empty());
        }
        assert!(rule("CopyIgnoredFile").is_none());
        let experimental: Vec<_> = RULES.iter().filter(|r| r.experimental).collect();
        assert_eq!(experimental.len(), 1);
        assert_eq!(experimental[0].name, "InvalidDefinitionDescription");
    }

    #[test]
    fn descriptions_follow_the_name_and_a_space() {
        let comments = vec!["check=x".to_string(), "base the image".to_string()];
        assert_eq!(description(&comments, "base"), Some("the image"));
        assert_eq!(description(&comments, "bas"), None);
        assert_eq!(description(&comments, ""), None);
        assert!(!misdescribed(&comments, &["base"]));
        assert!(misdescribed(&comments, &["other"]));
        assert!(!misdescribed(&[], &["base"]));
        assert!(!misdescribed(&comments, &[]));
    }

    #[test]
    fn secret_names_follow_buildkits_word_lists() {
        for yes in [
            "SECRET_PASSPHRASE",
            "SUPER_Secret",
            "password",
            "auth",
            "super_duper_secret_token",
            "apikey",
            "git_key",
            "AWS_CREDENTIALS",
        ] {
            assert!(is_secret_name(yes), "{yes}");
        }
        for no in [
            "PUBLIC_KEY",
            "public_token",
            "sunflower",
            "KEYS",
            "MONKEY",
            "SSH_KEY_FILE",
            "TOKEN_VERSION",
            "",
        ] {
            assert!(!is_secret_name(no), "{no}");
        }
    }

    #[test]
    fn suggestions_are_close_and_never_exact() {
        let keys = ["DIR_BINARIES", "DIR_ASSETS", "DIR_CONFIG"];
        assert_eq!(suggest("DIR_ASSET", keys), Some("DIR_ASSETS"));
        assert_eq!(suggest("PAHT", ["HOME", "PATH"]), Some("PATH"));
        assert_eq!(suggest("foo", ["bar"]), None);
        assert_eq!(suggest("PATH", ["PAT", "PATH"]), None);
    }

    #[test]
    fn casing_follows_the_majority() {
        let v = casing_violations(&[(1, "FROM"), (2, "copy"), (3, "COPY")]);
        assert_eq!(v, [(2, "copy", "uppercase")]);
        let v = casing_violations(&[(1, "FROM"), (2, "copy"), (3, "copy"), (4, "From")]);
        assert_eq!(v, [(1, "FROM", "lowercase"), (4, "From", "lowercase")]);
        // A tie (or nothing self-consistent) asks for upper case.
        let v = casing_violations(&[(1, "From"), (2, "FROM")]);
        assert_eq!(v, [(1, "From", "uppercase")]);
        assert!(casing_violations(&[(1, "from"), (2, "run")]).is_empty());
    }
}
