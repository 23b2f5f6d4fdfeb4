//! Golden cases of the build checks (`testdata/lints/<Rule>/{warns,quiet}`):
//! every rule fires on its `warns` Dockerfile and not on its `quiet` one,
//! both for a build of the last stage and for `--check` of every stage.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use strata_dockerfile::lower::check;
use strata_dockerfile::{BaseImageInfo, ImageResolver, LowerOptions, Platform, lints, lower};
use strata_plan::Warning;

/// Every image has PATH and HOME, except `unknown-image`; `s390x-only` is
/// for linux/s390x, the others for linux/amd64 (what the cases build for,
/// whatever the host).
struct Images;

impl ImageResolver for Images {
    fn resolve(&self, reference: &str) -> Option<BaseImageInfo> {
        let platform = match reference {
            "s390x-only" => linux("s390x"),
            _ => linux("amd64"),
        };
        (reference != "unknown-image").then(|| BaseImageInfo {
            env: vec![
                ("PATH".into(), "/usr/bin:/bin".into()),
                ("HOME".into(), "/root".into()),
            ],
            platform: Some(platform),
            ..Default::default()
        })
    }
}

fn linux(arch: &str) -> Platform {
    Platform {
        os: "linux".into(),
        arch: arch.into(),
        variant: String::new(),
    }
}

fn cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/lints")
}

fn render(warnings: &[Warning]) -> String {
    let mut out = String::new();
    for w in warnings {
        let lines = match w.span {
            Some(s) if s.end_line != s.start_line => format!("{}-{}", s.start_line, s.end_line),
            Some(s) => s.start_line.to_string(),
            None => "-".into(),
        };
        out.push_str(&format!("  {lines}: {}: {}\n", w.rule, w.message));
    }
    if out.is_empty() {
        out.push_str("  (none)\n");
    }
    out
}

/// The warnings of a build of the last stage and of `--check`.
fn run(dir: &Path) -> (Vec<Warning>, Vec<Warning>) {
    let source = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
    let build_args: BTreeMap<String, String> = std::fs::read_to_string(dir.join("build-args"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let valid = |s: &str| strata_registry::Reference::parse(s).is_ok();
    let mut opts = LowerOptions {
        build_args,
        resolver: Some(&Images),
        reference_check: Some(&valid),
        platform: linux("amd64"),
        build_platform: linux("amd64"),
        ..Default::default()
    };
    let built = match lower(&source, &opts) {
        Ok(plan) => plan.warnings,
        Err(e) => panic!("{}: {e}", dir.display()),
    };
    opts.all_stages = true;
    let checked = check(&source, &opts).unwrap().warnings;
    (built, checked)
}

#[test]
fn every_rule_has_a_warning_and_a_quiet_case() {
    for rule in lints::RULES {
        let dir = cases_dir().join(rule.name);
        let (built, checked) = run(&dir.join("warns"));
        let fired = |ws: &[Warning]| ws.iter().any(|w| w.rule == rule.name);
        assert!(fired(&checked), "{}: warns/ drew no warning", rule.name);
        let (quiet_built, quiet_checked) = run(&dir.join("quiet"));
        assert!(
            !fired(&quiet_built) && !fired(&quiet_checked),
            "{}: quiet/ drew {:?}",
            rule.name,
            quiet_checked
        );
        let text = format!(
            "warns, build:\n{}warns, --check:\n{}quiet, --check:\n{}",
            render(&built),
            render(&checked),
            render(&quiet_checked)
        );
        insta::assert_snapshot!(rule.name, text);
    }
}
