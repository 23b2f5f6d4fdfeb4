//! Golden cases (`testdata/subrequests/<case>`): buildx's text and
//! BuildKit's JSON of `--call=targets`, `--call=outline` (the default
//! target and every named stage) and `--call=check,format=json`.

#![allow(clippy::unwrap_used, clippy::panic)]

use super::{Call, Method, lint, outline, targets};
use std::collections::BTreeMap;
use std::path::PathBuf;
use strata_dockerfile::lower::check;
use strata_dockerfile::subrequests;
use strata_dockerfile::{BaseImageInfo, ImageResolver, LowerOptions, Platform};

/// Every image has PATH and HOME and is for linux/amd64.
struct Images;

impl ImageResolver for Images {
    fn resolve(&self, _: &str) -> Option<BaseImageInfo> {
        Some(BaseImageInfo {
            env: vec![
                ("PATH".into(), "/usr/bin:/bin".into()),
                ("HOME".into(), "/root".into()),
            ],
            platform: Some(amd64()),
            ..Default::default()
        })
    }
}

fn amd64() -> Platform {
    Platform {
        os: "linux".into(),
        arch: "amd64".into(),
        variant: String::new(),
    }
}

fn cases() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/subrequests")
}

/// Every subrequest's answers for one case, as one text.
fn answers(case: &str) -> String {
    let dir = cases().join(case);
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
        platform: amd64(),
        build_platform: amd64(),
        ..Default::default()
    };
    let list = subrequests::targets(&source, "Dockerfile").unwrap();
    let mut out = format!(
        "== --call=targets\n{}== --call=targets,format=json\n{}\n",
        targets::text(&list),
        targets::json(&list, &source)
    );
    let named = list.iter().filter_map(|t| t.name.clone());
    for target in [None].into_iter().chain(named.map(Some)) {
        opts.target = target.clone();
        let flag = target.map(|t| format!(" --target={t}")).unwrap_or_default();
        match subrequests::outline(&source, &opts) {
            Ok(o) => out.push_str(&format!(
                "== --call=outline{flag}\n{}== --call=outline,format=json{flag}\n{}\n",
                outline::text(&o),
                outline::json(&o, &source)
            )),
            Err(e) => out.push_str(&format!("== --call=outline{flag}\nerror: {e}\n")),
        }
    }
    opts.target = None;
    opts.all_stages = true;
    let (warnings, error) = match check(&source, &opts) {
        Ok(report) => (report.warnings, report.error),
        Err(e) => (Vec::new(), Some(e)),
    };
    out.push_str(&format!(
        "== --call=check,format=json\n{}\n",
        lint::json(&warnings, error.as_ref(), "Dockerfile", &source)
    ));
    out
}

#[test]
fn every_case_answers_as_its_snapshot() {
    let mut names: Vec<String> = std::fs::read_dir(cases())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        insta::assert_snapshot!(name.clone(), answers(&name));
    }
}

#[test]
fn call_fields_follow_buildx() {
    let c = Call::parse("check,format=json,ignorestatus=true").unwrap();
    assert_eq!(
        (c.method, c.json, c.ignore_status),
        (Method::Check, true, true)
    );
    assert_eq!(Call::parse("lint").unwrap().method, Method::Check);
    assert_eq!(
        Call::parse("format=text,targets").unwrap().method,
        Method::Targets
    );
    for (bad, needle) in [
        ("outline,targets", "more than one method"),
        ("format=json", "no method"),
        ("check,format=yaml", "format=yaml is not supported"),
        ("check,ignorestatus=maybe", "invalid ignorestatus"),
        ("check,colour=red", "invalid field"),
        ("describe", "unknown method"),
    ] {
        let e = format!("{:#}", Call::parse(bad).unwrap_err());
        assert!(e.contains(needle), "{bad}: {e}");
    }
}
