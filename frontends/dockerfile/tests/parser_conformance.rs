//! BuildKit's parser corpus: every case parses and dumps exactly its
#![allow(clippy::unwrap_used)]
//! `result`, every negative case fails, and line numbers match.

mod common;

use std::fs;
use strata_dockerfile::parser::parse;

#[test]
fn testfiles_dump_exactly_their_result() {
    let Some(dir) = common::conformance_dir() else {
        return;
    };
    let mut cases: Vec<_> = fs::read_dir(dir.join("buildkit/parser/testfiles"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 30,
        "corpus looks incomplete: {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let source = fs::read_to_string(case.join("Dockerfile")).unwrap();
        let want = fs::read_to_string(case.join("result"))
            .unwrap()
            .replace("\r\n", "\n");
        match parse(&source) {
            Ok(parsed) => {
                let got = parsed.dump();
                if got != want {
                    failures.push(format!("{name}:\n--- want\n{want}--- got\n{got}"));
                }
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn negative_testfiles_fail() {
    let Some(dir) = common::conformance_dir() else {
        return;
    };
    let mut count = 0;
    for entry in fs::read_dir(dir.join("buildkit/parser/testfiles-negative")).unwrap() {
        let path = entry.unwrap().path();
        let source = fs::read_to_string(path.join("Dockerfile")).unwrap();
        assert!(
            parse(&source).is_err(),
            "{} parsed but must fail",
            path.display()
        );
        count += 1;
    }
    assert!(count >= 4);
}

#[test]
fn line_numbers_span_continuations_and_comments() {
    let Some(dir) = common::conformance_dir() else {
        return;
    };
    let source = fs::read_to_string(dir.join("buildkit/parser/testfile-line/Dockerfile")).unwrap();
    let parsed = parse(&source).unwrap();
    let spans: Vec<(usize, usize)> = parsed
        .nodes
        .iter()
        .map(|n| (n.start_line, n.end_line))
        .collect();
    assert_eq!(spans, [(5, 5), (11, 12), (17, 31)]);
}
