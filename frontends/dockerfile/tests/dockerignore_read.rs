//! `.dockerignore` reading, checked against moby's `ignorefile.ReadAll`.
#![allow(clippy::unwrap_used)]

use strata_dockerfile::dockerignore::parse;
use strata_plan::clean_path as clean;

fn rules(text: &str) -> Vec<String> {
    parse(text, ".dockerignore")
        .unwrap()
        .into_iter()
        .map(|r| {
            if r.negated {
                format!("!{}", r.pattern)
            } else {
                r.pattern
            }
        })
        .collect()
}

#[test]
fn comments_only_at_line_start() {
    assert_eq!(rules("# c\n  # not a comment\n#\n"), ["# not a comment"]);
    assert_eq!(rules("a#b\n"), ["a#b"]);
}

#[test]
fn crlf_tabs_and_blank_lines() {
    assert_eq!(rules("a\r\n\r\n\t b \t\r\n   \nc"), ["a", "b", "c"]);
    assert!(rules("").is_empty());
    assert!(rules("\n\n  \n# only comments\n").is_empty());
}

#[test]
fn byte_order_mark_only_at_start() {
    assert_eq!(rules("\u{feff}a\n"), ["a"]);
    assert_eq!(rules("\u{feff}#c\nb\n"), ["b"]);
}

#[test]
fn patterns_are_cleaned_and_anchored() {
    assert_eq!(
        rules("/build/\n./x/../y\n/\n//a//b/\n**/*.pyc\nsrc/./**/tmp\n../up\n/../up\na/..\n"),
        [
            "build",
            "y",
            "/",
            "a/b",
            "**/*.pyc",
            "src/**/tmp",
            "../up",
            "up",
            ".",
        ]
    );
}

#[test]
fn exclusions() {
    assert_eq!(
        rules("*.md\n!README.md\n! /docs/keep/\n!!x\n"),
        ["*.md", "!README.md", "!docs/keep", "!!x"]
    );
}

#[test]
fn lone_bang_is_an_error_with_its_line() {
    let e = parse("# c\n\na\n  !  \nb\n", "ctx/.dockerignore").unwrap_err();
    assert_eq!(e.line, 4);
    assert_eq!(e.file, "ctx/.dockerignore");
    assert_eq!(
        e.to_string(),
        "ctx/.dockerignore:4: illegal exclusion pattern: \"!\""
    );
}

#[test]
fn clean_matches_go() {
    let cases = [
        ("", "."),
        (".", "."),
        ("..", ".."),
        ("../..", "../.."),
        ("a/../..", ".."),
        ("/", "/"),
        ("//", "/"),
        ("/a/b/../../..", "/"),
        ("a/b/", "a/b"),
        ("a/./b/", "a/b"),
        ("./a", "a"),
    ];
    for (input, want) in cases {
        assert_eq!(clean(input), want, "clean({input:?})");
    }
}
