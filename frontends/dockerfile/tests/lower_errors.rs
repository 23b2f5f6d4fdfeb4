//! Every Dockerfile mistake names the file, line and column and shows the line.
#![allow(clippy::panic)]

use strata_dockerfile::{LowerOptions, lower};

fn error_of(source: &str, target: Option<&str>) -> String {
    let opts = LowerOptions {
        file_name: "app/Dockerfile".into(),
        target: target.map(str::to_string),
        ..Default::default()
    };
    match lower(source, &opts) {
        Ok(plan) => panic!("expected an error, got a plan:\n{}", plan.dump()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_input_errors() {
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("unknown instruction", "FROM a\nFORM b\n", None),
        ("unknown flag", "FROM a\nCOPY --form=x a b\n", None),
        ("flag without value", "FROM a\nCOPY --from a b\n", None),
        ("unterminated heredoc", "FROM a\nRUN <<EOF\necho hi\n", None),
        ("shell needs json", "FROM a\nSHELL /bin/bash -c\n", None),
        ("copy needs a destination", "FROM a\nCOPY onlyone\n", None),
        ("before from", "RUN echo\nFROM a\n", None),
        ("missing target", "FROM a AS one\n", Some("two")),
        (
            "cycle",
            "FROM a AS one\nCOPY --from=two /x /x\nFROM a AS two\nCOPY --from=one /y /y\n",
            None,
        ),
        (
            "self reference",
            "FROM a AS one\nCOPY --from=one /x /x\n",
            None,
        ),
        ("bad mount", "FROM a\nRUN --mount=type=tmpfs echo\n", None),
        ("bad network", "FROM a\nRUN --network=bridge echo\n", None),
        (
            "json array of non-strings",
            "FROM a\nCMD [\"a\", 1]\n",
            None,
        ),
        ("env without value", "FROM a\nENV PATH\n", None),
        ("bad port", "FROM a\nEXPOSE 99999\n", None),
        (
            "bad healthcheck",
            "FROM a\nHEALTHCHECK --interval=5 CMD true\n",
            None,
        ),
        ("onbuild from", "FROM a\nONBUILD FROM b\n", None),
        ("bad stage name", "FROM a AS 1st\n", None),
        ("bad expansion", "FROM a\nENV X=${Y:?required}\n", None),
        (
            "spaces in an env expansion",
            "FROM a\nENV X=${Y:?must be set}\n",
            None,
        ),
        ("bad chmod", "FROM a\nCOPY --chmod=rwx a /b\n", None),
        ("no from", "ARG X=1\n", None),
        ("empty", "# nothing\n", None),
        ("bad escape directive", "# escape=x\nFROM a\n", None),
        (
            "flag on a continuation line",
            "FROM a\nCOPY --link \\\n  --chmod=9999 a /b\n",
            None,
        ),
        (
            "bad mount value on a continuation line",
            "FROM a\nRUN --mount=type=cache,target=/c \\\n    --mount=type=secret,sharing=locked echo\n",
            None,
        ),
        (
            "expansion error in a COPY source",
            "FROM a\nCOPY --link src/${DIR:?set DIR} /app/\n",
            None,
        ),
        (
            "expansion error in FROM",
            "ARG V\nFROM alpine:${V:?version}\n",
            None,
        ),
        (
            "bare quote in a mount value",
            "FROM a\nRUN --mount=type=bind,target=/x\\\"y echo\n",
            None,
        ),
        (
            "stage index out of range",
            "FROM a\nFROM b\nCOPY --from=7 /x /y\n",
            None,
        ),
        (
            "mount from an index out of range",
            "FROM a\nRUN --mount=from=3,target=/m true\n",
            None,
        ),
        ("bad platform", "FROM --platform=linux/a*m alpine\n", None),
        (
            "checksum on a local file",
            "FROM a\nADD --checksum=sha256:0000 a.tar /x/\n",
            None,
        ),
        ("empty volume", "FROM a\nVOLUME [\"\"]\n", None),
        ("second port bad", "FROM a\nEXPOSE 80 8o/tcp\n", None),
        (
            "secret without id or target",
            "FROM a\nRUN --mount=type=secret,env=TOKEN true\n",
            None,
        ),
        (
            "bad retries",
            "FROM a\nHEALTHCHECK --retries=0 CMD true\n",
            None,
        ),
        (
            "short healthcheck interval",
            "FROM a\nHEALTHCHECK --interval=10us CMD true\n",
            None,
        ),
        (
            "bad json form of COPY",
            "FROM a\nCOPY [\"a\", 2, \"/b\"]\n",
            None,
        ),
        (
            "bad check directive",
            "# check=skip=all;fail=true\nFROM a\n",
            None,
        ),
        (
            "lint violation with error=true",
            "# check=error=true\nFROM a AS Build\n",
            None,
        ),
        ("indented keyword", "FROM a\n   CPY x y\n", None),
        (
            "unterminated second heredoc",
            "FROM a\nRUN <<A cat <<B\na\nA\nb\n",
            None,
        ),
    ];
    let mut out = String::new();
    for (name, source, target) in cases {
        out.push_str(&format!("## {name}\n{}\n\n", error_of(source, *target)));
    }
    insta::assert_snapshot!(out);
}

/// Regression: `STOPSIGNAL SIGFOO` was accepted into the config; BuildKit
/// refuses a signal moby's `ParseSignal` does not know.
#[test]
fn stopsignal_of_an_unknown_signal_is_an_error() {
    let e = error_of("FROM a\nARG SIG=SIGFOO\nSTOPSIGNAL $SIG\n", None);
    assert!(e.contains("invalid signal: SIGFOO"), "{e}");
    assert!(e.contains("app/Dockerfile:3:"), "{e}");
    let opts = LowerOptions::default();
    for ok in ["SIGTERM", "9", "RTMIN+3", "sigkill"] {
        let source = format!("FROM a\nSTOPSIGNAL {ok}\n");
        assert!(lower(&source, &opts).is_ok(), "{ok}");
    }
}

/// Regression: COPY --from a stage defined later was built; BuildKit
/// dispatches stages in order and refuses it (for the stages it builds).
#[test]
fn copy_from_a_later_stage_is_an_error() {
    let source =
        "FROM a AS first\nCOPY --from=later /a /a\nFROM a AS later\nRUN true\nFROM first\n";
    let e = error_of(source, None);
    assert!(
        e.contains(
            "cannot copy from stage \"later\", it needs to be defined before current stage \"first\""
        ),
        "{e}"
    );
    assert!(e.contains("app/Dockerfile:2:13:"), "{e}");
    // A target that does not build the copying stage is fine.
    let opts = LowerOptions {
        target: Some("later".into()),
        ..Default::default()
    };
    assert!(lower(source, &opts).is_ok());
}
