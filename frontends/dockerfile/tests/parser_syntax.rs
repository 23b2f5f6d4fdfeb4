//! Focused parser behaviour beyond the BuildKit corpus: heredocs,
//! directives, escapes, dump quoting and error locations.
#![allow(clippy::unwrap_used, clippy::panic)]

use strata_dockerfile::parser::parse;

#[test]
fn onbuild_triggers_read_heredocs() {
    let p = parse("FROM x\nONBUILD RUN <<EOF\necho hi\nEOF\nRUN ok\n").unwrap();
    assert_eq!(p.nodes.len(), 3);
    let onbuild = &p.nodes[1];
    assert_eq!(onbuild.heredocs.len(), 1);
    assert_eq!(onbuild.heredocs[0].content, "echo hi\n");
    assert_eq!((onbuild.start_line, onbuild.end_line), (2, 4));
    assert_eq!(
        p.dump(),
        "(from \"x\")\n(onbuild (run \"<<EOF\"))\n(run \"ok\")\n"
    );
}

#[test]
fn heredoc_bodies_keep_their_line_endings_and_are_not_dumped() {
    let p = parse("FROM x\r\nCOPY <<A <<-B /d/\r\na\r\nA\r\n\tb\r\n\tB\r\n").unwrap();
    let docs = &p.nodes[1].heredocs;
    assert_eq!(docs[0].content, "a\r\n");
    assert_eq!(docs[1].content, "\tb\r\n");
    assert_eq!(docs[1].body(), "b\r\n");
    assert_eq!(p.dump(), "(from \"x\")\n(copy \"<<A\" \"<<-B\" \"/d/\")\n");
}

#[test]
fn heredoc_terminator_must_match_exactly() {
    let p = parse("FROM x\nRUN <<EOF\n EOF\nEOF \nEOF\n").unwrap();
    assert_eq!(p.nodes[1].heredocs[0].content, " EOF\nEOF \n");
    // `<<-` strips tabs (not spaces) before the terminator.
    assert!(parse("FROM x\nRUN <<-EOF\n  EOF\n").is_err());
    let p = parse("FROM x\nRUN <<-EOF\n\t\tEOF\n").unwrap();
    assert_eq!(p.nodes[1].heredocs[0].content, "");
}

#[test]
fn heredocs_after_a_continuation_start_after_the_joined_line() {
    let p = parse("FROM x\nRUN cat <<EOF \\\n  > /f\nbody\nEOF\n").unwrap();
    assert_eq!(p.nodes[1].words(), ["cat <<EOF   > /f"]);
    assert_eq!(p.nodes[1].heredocs[0].content, "body\n");
    assert_eq!(p.nodes[1].end_line, 5);
}

#[test]
fn heredoc_expand_and_chomp_flags() {
    let p = parse("FROM x\nRUN <<'A' 3<<-\"B\" <<C\nA\n\tB\nC\n").unwrap();
    let flags: Vec<(&str, bool, bool, u32)> = p.nodes[1]
        .heredocs
        .iter()
        .map(|h| (h.name.as_str(), h.expand, h.chomp, h.fd))
        .collect();
    assert_eq!(
        flags,
        [
            ("A", false, false, 0),
            ("B", false, true, 3),
            ("C", true, false, 0)
        ]
    );
}

#[test]
fn heredocs_only_for_run_copy_add() {
    let p = parse("FROM x\nENV A=<<EOF\nCMD cat <<EOF\n").unwrap();
    assert_eq!(p.nodes.len(), 3);
    assert!(p.nodes.iter().all(|n| n.heredocs.is_empty()));
}

#[test]
fn directives_are_case_insensitive_and_only_at_the_top() {
    let p = parse("# Syntax=docker/dockerfile:1\n#ESCAPE = `\n# check=skip=all\nFROM x\n").unwrap();
    assert_eq!(p.directives.escape, '`');
    let keys: Vec<&str> = p.directives.values.keys().map(String::as_str).collect();
    assert_eq!(keys, ["check", "escape", "syntax"]);
    // After a plain comment, a directive is just a comment.
    let p = parse("# hello\n# escape=`\nFROM x\n").unwrap();
    assert_eq!(p.directives.escape, '\\');
    // After an empty line too.
    let p = parse("\n# escape=`\nFROM x\n").unwrap();
    assert_eq!(p.directives.escape, '\\');
}

#[test]
fn duplicate_directive_is_an_error_on_its_line() {
    let e = parse("# syntax=a\n# SYNTAX=b\nFROM x\n").unwrap_err();
    assert_eq!(e.location.line, 2);
    assert_eq!(e.message, "only one syntax parser directive can be used");
    let e = parse("# escape=x\nFROM x\n").unwrap_err();
    assert_eq!(e.location.line, 1);
    assert!(e.message.contains("invalid escape token"), "{e}");
}

#[test]
fn backtick_escape_keeps_backslashes() {
    let p = parse("# escape=`\nFROM x\nRUN dir C:\\ `\n  /b\nCOPY a\\ b\\\n").unwrap();
    assert_eq!(p.nodes[1].words(), ["dir C:\\   /b"]);
    assert_eq!(p.nodes[2].words(), ["a\\", "b\\"]);
}

#[test]
fn keywords_are_case_insensitive_and_leading_blanks_ignored() {
    let p = parse("  from x\n\tRuN echo\n").unwrap();
    assert_eq!(p.nodes[1].keyword, "run");
    assert_eq!(p.nodes[1].keyword_raw, "RuN");
    assert_eq!(p.nodes[1].keyword_position(), (2, 2));
    assert_eq!(p.nodes[1].locate("echo"), (2, 6));
}

#[test]
fn unknown_instructions_dump_an_empty_argument() {
    let p = parse("FROM x\nFOO bar baz\n").unwrap();
    assert_eq!(p.dump(), "(from \"x\")\n(foo \"\")\n");
}

#[test]
fn continuation_at_eof_ends_the_instruction() {
    let p = parse("FROM x\nRUN a \\").unwrap();
    assert_eq!(p.nodes[1].words(), ["a"]);
    let p = parse("FROM x\nRUN a \\\n").unwrap();
    assert_eq!(p.nodes[1].words(), ["a"]);
    assert_eq!(p.nodes[1].end_line, 2);
}

#[test]
fn lone_escape_line_continues() {
    let p = parse("FROM x\nRUN a \\\n\\\nb\n").unwrap();
    assert_eq!(p.nodes[1].words(), ["a b"]);
}

#[test]
fn json_forms_and_fallbacks() {
    let p = parse("FROM x\nCMD [\"a\", \"b c\"]\nCMD [\"a\", 'b']\nCMD [\"a\"] x\nVOLUME [\"/v\"]\nVOLUME /a /b\n")
        .unwrap();
    assert!(p.nodes[1].json);
    assert_eq!(p.nodes[1].words(), ["a", "b c"]);
    assert!(!p.nodes[2].json);
    assert_eq!(p.nodes[2].words(), ["[\"a\", 'b']"]);
    assert!(!p.nodes[3].json);
    assert!(p.nodes[4].json);
    assert_eq!(p.nodes[5].words(), ["/a", "/b"]);
    let e = parse("FROM x\nRUN [\"a\", 1]\n").unwrap_err();
    assert_eq!(e.location.line, 2);
    assert_eq!(
        e.message,
        "when using JSON array syntax, arrays must be comprised of strings only"
    );
}

#[test]
fn env_and_label_triples_keep_quotes() {
    let p = parse("FROM x\nENV A=\"b c\" D='e' F=g\\ h\nLABEL x y z\n").unwrap();
    assert_eq!(
        p.dump().lines().nth(1).unwrap(),
        r#"(env "A" "\"b c\"" "=" "D" "'e'" "=" "F" "g\\ h" "=")"#
    );
    assert_eq!(p.dump().lines().nth(2).unwrap(), r#"(label "x" "y z" "")"#);
    let e = parse("FROM x\nENV A=b c\n").unwrap_err();
    assert!(e.message.contains("can't find = in \"c\""), "{e}");
}

#[test]
fn flags_are_extracted_before_arguments() {
    let p = parse(
        "FROM x\nCOPY --from=a --chown=\"u g\" -- --x /d\nRUN --mount=type=cache,target=/c echo\n",
    )
    .unwrap();
    assert_eq!(p.nodes[1].flags, ["--from=a", "--chown=u g"]);
    assert_eq!(p.nodes[1].words(), ["--x", "/d"]);
    assert_eq!(
        p.dump().lines().nth(2).unwrap(),
        r#"(run ["--mount=type=cache,target=/c"] "echo")"#
    );
}

#[test]
fn errors_carry_the_instruction_span_and_render_a_caret() {
    let e = parse("FROM x\nENV A \\\n\n  \n").unwrap_err();
    assert_eq!((e.location.line, e.location.end_line), (2, 4));
    let e = e.in_file("ctx/Dockerfile", "FROM x\nENV A \\\n\n  \n");
    assert_eq!(
        e.to_string(),
        "ctx/Dockerfile:2:5: ENV must have two arguments\n   2 | ENV A \\\n           ^"
    );
}

#[test]
fn empty_continuation_lines_warn() {
    let p = parse("FROM x\nRUN a \\\n\n b\n").unwrap();
    assert_eq!(
        p.warnings,
        [(2, "Empty continuation line found in: RUN a  b".to_string())]
    );
}

#[test]
fn comments_above_an_instruction_are_kept() {
    let p = parse("FROM x\n# one\n#two\nRUN a\n").unwrap();
    assert_eq!(p.nodes[1].comments, ["one", "two"]);
}

#[test]
fn bom_is_ignored() {
    let p = parse("\u{feff}# escape=`\nFROM x\n").unwrap();
    assert_eq!(p.directives.escape, '`');
}

#[test]
fn odd_input_never_panics() {
    let inputs = [
        "\\",
        "`",
        "FROM",
        "RUN <<",
        "RUN <<-",
        "COPY <<\"\" x",
        "ONBUILD",
        "ONBUILD ONBUILD",
        "HEALTHCHECK",
        "ENV",
        "ENV =",
        "LABEL \"",
        "RUN [",
        "RUN [\"\\ud800\"]",
        "\u{0}",
        "FROM x\nRUN <<EOF",
        "# escape=\\\n\\",
        "RUN --",
        "RUN --\"",
        "RUN --a\\",
        "ENV a\\",
        "ENV 'a",
        "FROM é\u{85}\u{a0}x",
        "\r\r\r",
        "ONBUILD RUN <<A <<B\nA\n",
    ];
    for input in inputs {
        let _ = parse(input);
    }
}

#[test]
fn positions_follow_continuation_lines_and_onbuild_triggers() {
    let p = parse(
        "FROM x\n  COPY --link \\\n# note\n\t--chmod=7 a b\nONBUILD  RUN --mount=type=tmpfs echo\n",
    )
    .unwrap();
    assert_eq!(p.nodes[1].keyword_position(), (2, 3));
    assert_eq!(p.nodes[1].locate("--chmod"), (4, 2));
    assert_eq!(p.nodes[1].locate("not there"), (2, 3));
    let strata_dockerfile::parser::Arg::Node(child) = &p.nodes[2].args[0] else {
        panic!("ONBUILD holds its trigger")
    };
    assert_eq!(child.keyword_position(), (5, 10));
    assert_eq!(child.locate("echo"), (5, 33));
}
