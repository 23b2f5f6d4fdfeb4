//! BuildKit's shell conformance data: `envVarTest` (one word, with
#![allow(clippy::unwrap_used)]
//! expansion) and `wordsTest` (word splitting).

mod common;

use std::fs;
use strata_dockerfile::shell::Lexer;

#[test]
fn env_var_test() {
    let Some(dir) = common::conformance_dir() else {
        return;
    };
    let text = fs::read_to_string(dir.join("buildkit/shell/envVarTest")).unwrap();
    let env: Vec<(String, String)> = [
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let lexer = Lexer::new('\\');
    let (mut checked, mut failures) = (0, Vec::new());
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.splitn(3, '|').collect();
        assert_eq!(parts.len(), 3, "line {}: {line:?}", n + 1);
        let (platform, input, expected) = (parts[0].trim(), parts[1].trim(), parts[2].trim());
        if platform == "W" {
            continue;
        }
        checked += 1;
        let got = lexer.process_word(input, &env);
        let ok = match (&got, expected) {
            (Err(_), "error") => true,
            (Ok(v), e) => v == e,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "line {}: {input:?} → {got:?}, want {expected:?}",
                n + 1
            ));
        }
    }
    assert!(checked > 200, "only {checked} cases");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn words_test() {
    let Some(dir) = common::conformance_dir() else {
        return;
    };
    let text = fs::read_to_string(dir.join("buildkit/shell/wordsTest")).unwrap();
    let mut env: Vec<(String, String)> = Vec::new();
    let lexer = Lexer::new('\\');
    let (mut checked, mut failures) = (0, Vec::new());
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("ENV ") {
            let rest = rest.trim_start();
            let (k, v) = rest.split_once('=').unwrap();
            env.push((k.to_string(), v.to_string()));
            continue;
        }
        let (input, expected) = line.split_once('|').unwrap();
        let (input, expected) = (input.trim(), expected.trim_start());
        checked += 1;
        let got = lexer.process_words(input, &env);
        let ok = match (&got, expected) {
            (Err(_), "error") => true,
            (Ok(words), e) => *words == e.split(',').collect::<Vec<_>>(),
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "line {}: {input:?} → {got:?}, want {expected:?}",
                n + 1
            ));
        }
    }
    assert!(checked >= 20, "only {checked} cases");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
