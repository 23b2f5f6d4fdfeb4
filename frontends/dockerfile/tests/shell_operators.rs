//! Every expansion operator, quoting rule and error of the shell lexer,
//! checked against BuildKit's behaviour.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use strata_dockerfile::shell::{Lexer, Processed};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn run(word: &str, pairs: &[(&str, &str)]) -> Processed {
    Lexer::new('\\')
        .process(word, &env(pairs))
        .unwrap_or_else(|e| panic!("{word:?}: {e}"))
}

fn word(word: &str, pairs: &[(&str, &str)]) -> String {
    run(word, pairs).word
}

fn error(word: &str, pairs: &[(&str, &str)]) -> String {
    match Lexer::new('\\').process(word, &env(pairs)) {
        Ok(p) => panic!("{word:?} should fail, got {:?}", p.word),
        Err(e) => e.message,
    }
}

fn names(set: &std::collections::BTreeSet<String>) -> Vec<&str> {
    set.iter().map(String::as_str).collect()
}

const SET: &[(&str, &str)] = &[("FOO", "xxx"), ("BAR", "")];

#[test]
fn default_value() {
    let p = run("${FOO-a} ${BAR-b} ${BAZ-c}", SET);
    assert_eq!(p.word, "xxx  c");
    assert_eq!(names(&p.matched), ["BAR", "FOO"]);
    assert_eq!(names(&p.unmatched), ["BAZ"]);
    assert_eq!(word("${FOO:-a} ${BAR:-b} ${BAZ:-c}", SET), "xxx b c");
    assert_eq!(word("${FOO:-}", SET), "xxx");
    assert_eq!(word("${BAZ:-$FOO/${BAR:-z}}", SET), "xxx/z");
}

#[test]
fn alternate_value() {
    assert_eq!(word("${FOO+a} ${BAR+b} ${BAZ+c}", SET), "a b ");
    assert_eq!(word("${FOO:+a} ${BAR:+b} ${BAZ:+c}", SET), "a  ");
    assert_eq!(
        word("v${VARIANT:+-${VARIANT}}.tgz", &[("VARIANT", "v7")]),
        "v-v7.tgz"
    );
    assert_eq!(
        word("v${VARIANT:+-${VARIANT}}.tgz", &[("VARIANT", "")]),
        "v.tgz"
    );
}

#[test]
fn required_value() {
    assert_eq!(word("${FOO?a}", SET), "xxx");
    assert_eq!(word("${BAR?b}", SET), "");
    assert_eq!(word("${FOO:?a}", SET), "xxx");
    assert_eq!(error("${BAZ?must be set}", SET), "BAZ: must be set");
    assert_eq!(error("${BAZ?}", SET), "BAZ: is not allowed to be unset");
    assert_eq!(error("${BAR:?}", SET), "BAR: is not allowed to be empty");
    assert_eq!(error("${BAR:?no $FOO}", SET), "BAR: no xxx");
    assert_eq!(error("${BAZ:?}", SET), "BAZ: is not allowed to be unset");
}

#[test]
fn remove_prefix() {
    let v = &[("V", "xxyy"), ("X", "x"), ("E", "")];
    assert_eq!(word("${V#*x*y}", v), "y");
    assert_eq!(word("${V##*x*y}", v), "");
    assert_eq!(word("${V#*}", v), "xxyy");
    assert_eq!(word("${V##*x}", v), "yy");
    assert_eq!(word("${V#$X}", v), "xyy");
    assert_eq!(word("${V#$E}", v), "xxyy");
    assert_eq!(word("${V#}", v), "xxyy");
    assert_eq!(word("${V##}", v), "xxyy");
    assert_eq!(word("${V#y}", v), "xxyy");
    assert_eq!(word("${Q#?\\?}", &[("Q", "???y")]), "?y");
    assert_eq!(word("${UNSET#x}", v), "");
    // Regular-expression and bracket characters are literal.
    assert_eq!(
        word("${R#()[]{\\}^$.\\*\\?|\\\\}", &[("R", "()[]{}^$.*?|\\x")]),
        "x"
    );
    assert_eq!(word("${R#[a-z]}", &[("R", "[a-z]b")]), "b");
    assert_eq!(
        word("${P##*/}", &[("P", "/usr/local/app.tar.gz")]),
        "app.tar.gz"
    );
}

#[test]
fn remove_suffix() {
    let v = &[("V", "xxyy")];
    assert_eq!(word("${V%y}", v), "xxy");
    assert_eq!(word("${V%%y*}", v), "xx");
    assert_eq!(word("${V%y*}", v), "xxy");
    assert_eq!(word("${V%}", v), "xxyy");
    assert_eq!(word("${S%%\\**}", &[("S", "xx**")]), "xx");
    assert_eq!(word("${S%%\\**\\*}", &[("S", "a***yy*")]), "a");
    assert_eq!(word("${ABC:-.}${V%x}${ABC:-.}", v), ".xxyy.");
    assert_eq!(word("${P%.*}", &[("P", "app.tar.gz")]), "app.tar");
    assert_eq!(word("${P%%.*}", &[("P", "app.tar.gz")]), "app");
}

#[test]
fn replace_first_and_all() {
    let v = &[("V", "/foo*/*/*.txt"), ("N", "\\*/")];
    assert_eq!(
        word("${V/$N/.} - ${V//$N/.}", v),
        "/foo.*/*.txt - /foo..*.txt"
    );
    let v = &[("V", "/tmp/tmp/bar.txt"), ("N", "/tmp")];
    assert_eq!(word("${V/$N/} - ${V//$N/}", v), "/tmp/bar.txt - /bar.txt");
    let v = &[("V", "/a/foo/b/c.txt"), ("N", "/?/"), ("R", "/")];
    assert_eq!(
        word("${V/$N/$R} - ${V//$N/$R}", v),
        "/foo/b/c.txt - /foo/c.txt"
    );
    let v = &[("U", "http://example.com")];
    assert_eq!(word("${U/http:\\/\\//https://}", v), "https://example.com");
    // Escapes stay in the replacement, as BuildKit leaves them.
    assert_eq!(
        word("${V//\\//\\/}", &[("V", "/tmp/a.txt")]),
        "\\/tmp\\/a.txt"
    );
    // Stars are greedy.
    assert_eq!(word("${V/o*o/0}", &[("V", "foo boo")]), "f0");
    assert_eq!(word("${V/$E/ww}", &[("V", "xxyy"), ("E", "")]), "wwxxyy");
    assert_eq!(word("${V///}", &[("V", "xxyy")]), "xxyy");
    let p = run("${V///}", &[]);
    assert_eq!(p.word, "");
    assert_eq!(names(&p.unmatched), ["V"]);
}

#[test]
fn matches_and_unmatched_names() {
    let p = run("x", &[("DUMMY", "d")]);
    assert!(p.matched.is_empty() && p.unmatched.is_empty());
    let p = run("x ${UNUSED} $FOO ${FOO#x} '$NOT' \\$NOR", SET);
    assert_eq!(p.word, "x  xxx xx $NOT $NOR");
    assert_eq!(names(&p.matched), ["FOO"]);
    assert_eq!(names(&p.unmatched), ["UNUSED"]);
}

#[test]
fn quotes_and_escapes() {
    let v = &[("A", "a b")];
    assert_eq!(word("'$A' \"$A\" $A", v), "$A a b a b");
    assert_eq!(word("\"it's\" 'say \"hi\"'", v), "it's say \"hi\"");
    assert_eq!(word("\\$A \\'x\\' \\\"", v), "$A 'x' \"");
    assert_eq!(word("\"\\$A \\\" \\\\ \\x\"", v), "$A \" \\ \\x");
    assert_eq!(word("'\\$A'", v), "\\$A");
    assert_eq!(word("a\\", v), "a");
    assert_eq!(word("$ $. $1 $@ ${1}", v), "$ $.   ");
    assert_eq!(word("${A}b$A_x", v), "a bb");
}

#[test]
fn word_splitting() {
    let lexer = Lexer::new('\\');
    let v = env(&[("A", " a  b "), ("E", "")]);
    assert_eq!(lexer.process_words("$A", &v).unwrap(), ["a", "b"]);
    assert_eq!(lexer.process_words("\"$A\"", &v).unwrap(), [" a  b "]);
    assert_eq!(
        lexer.process_words("x$A'y z'", &v).unwrap(),
        ["x", "a", "b", "y z"]
    );
    assert_eq!(
        lexer.process_words("  one\\ two  three ", &v).unwrap(),
        ["one two", "three"]
    );
    assert!(lexer.process_words("$E", &v).unwrap().is_empty());
    assert!(lexer.process_words("\"\"", &v).unwrap().is_empty());
}

#[test]
fn backtick_escape_token() {
    let lexer = Lexer::new('`');
    let v = env(&[("A", "x")]);
    assert_eq!(
        lexer.process_word("`$A c:\\dir `\"q`\"", &v).unwrap(),
        "$A c:\\dir \"q\""
    );
    assert_eq!(lexer.process_word("\"``\"", &v).unwrap(), "`");
    // Patterns always use `\` for their own escapes.
    assert_eq!(
        lexer
            .process_word("${A#\\*}", &env(&[("A", "*y")]))
            .unwrap(),
        "y"
    );
}

#[test]
fn lexer_options() {
    let v = env(&[("A", "x")]);
    let mut lexer = Lexer::new('\\');
    lexer.skip_expansion = true;
    assert_eq!(
        lexer.process_word("$A \"${A}\" 'q' \\$", &v).unwrap(),
        "$A ${A} q $"
    );

    let mut lexer = Lexer::new('\\');
    lexer.raw_quotes = true;
    assert_eq!(lexer.process_word("'$A' \"$A\"", &v).unwrap(), "'$A' \"x\"");

    let mut lexer = Lexer::new('\\');
    lexer.raw_escapes = true;
    assert_eq!(lexer.process_word("\\$A \\q", &v).unwrap(), "\\$A \\q");

    let mut lexer = Lexer::new('\\');
    lexer.skip_process_quotes = true;
    assert_eq!(lexer.process_word("'$A'", &v).unwrap(), "'x'");

    let mut lexer = Lexer::new('\\');
    lexer.skip_unset_env = true;
    assert_eq!(
        lexer
            .process_word("$U ${U} ${U:-d} ${U#p} ${U/a/b} $A", &v)
            .unwrap(),
        "$U ${U} ${U:-d} ${U#p} ${U/a/b} x"
    );
}

#[test]
fn map_environment() {
    let mut map = BTreeMap::new();
    map.insert("K".to_string(), "v".to_string());
    assert_eq!(Lexer::new('\\').process_word("$K$k", &map).unwrap(), "v");
    // In a list of pairs the last one wins.
    let pairs = env(&[("K", "1"), ("K", "2")]);
    assert_eq!(Lexer::new('\\').process_word("$K", &pairs).unwrap(), "2");
}

#[test]
fn errors() {
    let cases: &[(&str, &str)] = &[
        ("${", "syntax error: missing '}'"),
        ("${}", "syntax error: bad substitution"),
        ("${:}", "syntax error: bad substitution"),
        ("${{A}", "syntax error: bad substitution"),
        ("${A", "syntax error: missing '}'"),
        ("${A:-x", "syntax error: missing '}'"),
        ("${A#x", "syntax error: missing '}'"),
        ("${A/x", "syntax error: missing '/' in ${}"),
        ("${A/x/y", "syntax error: missing '}'"),
        ("${A=x}", "unsupported modifier (=) in substitution"),
        ("${A=}", "unsupported modifier (=) in substitution"),
        ("${A:=x}", "unsupported modifier (:=) in substitution"),
        ("${A:#x}", "unsupported modifier (:#) in substitution"),
        ("${A:%x}", "unsupported modifier (:%) in substitution"),
        ("${A//x}", "syntax error: missing '/' in ${}"),
        ("${A//}", "syntax error: missing '/' in ${}"),
        (
            "'abc",
            "unexpected end of statement while looking for matching single-quote",
        ),
        (
            "\"abc",
            "unexpected end of statement while looking for matching double-quote",
        ),
        // An unterminated quote inside braces reports the missing brace.
        ("${A:-'x}", "syntax error: missing '}'"),
        (
            "${A#\\q}",
            "invalid pattern (\\q) in substitution: invalid escape '\\q'",
        ),
        (
            "${A/\\q/r}",
            "invalid pattern (\\q) in substitution: invalid escape '\\q'",
        ),
    ];
    for (input, message) in cases {
        assert_eq!(&error(input, &[("A", "axb")]), message, "input {input:?}");
    }
    let e = Lexer::new('\\').process_word("${}", &env(&[])).unwrap_err();
    assert_eq!(e.word, "${}");
    assert_eq!(
        e.to_string(),
        "failed to process \"${}\": syntax error: bad substitution"
    );
}

#[test]
fn errors_know_where_the_construct_at_fault_starts() {
    let fail = |w: &str| Lexer::new('\\').process(w, &env(&[])).unwrap_err();
    let e = fail("a-é-${X:?gone}");
    assert_eq!((e.position, e.byte_position()), (4, 5));
    // The innermost substitution is at fault.
    assert_eq!(fail("x ${A:-${B:?no}}").position, 7);
    assert_eq!(fail("ok 'open").position, 3);
    assert_eq!(fail("a \"b ${c").position, 5);
    assert_eq!(fail("a \"b c").position, 2);
}
