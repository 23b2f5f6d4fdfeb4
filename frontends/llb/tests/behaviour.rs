//! Determinism, errors with lines, and edge cases of the LLB compiler.
#![allow(clippy::unwrap_used)]

mod common;

use bollard_buildkit_proto::pb;
use common::*;
use prost::Message;
use strata_llb::{LlbError, LlbOptions, compile, compile_definition, render};
use strata_plan::*;

fn sample(cmd: &str) -> Plan {
    plan(
        vec![
            stage(0, Some("a"), image("alpine"), 1, vec![run(2, "touch /a")]),
            stage(
                1,
                None,
                image("debian:12"),
                3,
                vec![
                    config(
                        4,
                        "ENV X=1",
                        ConfigEdit::Env(vec![("X".into(), "1".into())]),
                    ),
                    copy(
                        5,
                        "COPY --from=a /a /a",
                        CopyStep {
                            from: CopySource::Stage(StageId(0)),
                            ..copy_step(&["/a"], "/a")
                        },
                    ),
                    run(6, cmd),
                ],
            ),
        ],
        1,
    )
}

fn ops(bytes: &[u8]) -> Vec<(String, pb::Op)> {
    let def = pb::Definition::decode(bytes).unwrap();
    def.def
        .iter()
        .map(|raw| {
            (
                strata_llb::digest_of(raw),
                pb::Op::decode(raw.as_slice()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_same_plan_always_gives_the_same_bytes() {
    let opts = LlbOptions::default();
    let first = compile(&sample("make"), &opts).unwrap();
    for _ in 0..5 {
        assert_eq!(compile(&sample("make"), &opts).unwrap(), first);
    }
    let def = compile_definition(&sample("make"), &opts).unwrap();
    assert_eq!(def.encode_to_vec(), first);
}

#[test]
fn different_plans_give_different_definitions_sharing_common_vertices() {
    let opts = LlbOptions::default();
    let a = ops(&compile(&sample("make"), &opts).unwrap());
    let b = ops(&compile(&sample("make test"), &opts).unwrap());
    assert_ne!(a.last().unwrap().0, b.last().unwrap().0);
    // Everything before the changed RUN is the same vertex in both.
    let shared: Vec<_> = a
        .iter()
        .filter(|(d, _)| b.iter().any(|(e, _)| e == d))
        .collect();
    assert_eq!(
        shared.len(),
        a.len() - 2,
        "only the RUN and the output differ"
    );
}

#[test]
fn env_reaches_later_runs_only() {
    let opts = LlbOptions::default();
    let bytes = compile(&sample("env"), &opts).unwrap();
    let execs: Vec<pb::ExecOp> = ops(&bytes)
        .into_iter()
        .filter_map(|(_, op)| match op.op {
            Some(pb::op::Op::Exec(e)) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(execs.len(), 2);
    let env = |e: &pb::ExecOp| e.meta.clone().unwrap().env;
    assert!(!env(&execs[0]).contains(&"X=1".to_string()));
    assert!(env(&execs[1]).contains(&"X=1".to_string()));
}

#[test]
fn from_scratch_alone_is_an_empty_definition() {
    let p = plan(vec![stage(0, None, ImageSource::Scratch, 1, vec![])], 0);
    let bytes = compile(&p, &LlbOptions::default()).unwrap();
    let def = pb::Definition::decode(bytes.as_slice()).unwrap();
    assert!(def.def.is_empty());
    assert_eq!(render(&bytes).unwrap(), "");
}

#[test]
fn stage_platform_applies_to_its_ops() {
    let mut s = stage(0, None, image("alpine"), 1, vec![run(2, "uname -m")]);
    s.platform = Some("linux/arm64".into());
    let bytes = compile(&plan(vec![s], 0), &LlbOptions::default()).unwrap();
    let all = ops(&bytes);
    for (_, op) in &all[..all.len() - 1] {
        assert_eq!(op.platform.as_ref().unwrap().architecture, "arm64");
    }
}

#[test]
fn errors_name_the_line_of_the_step() {
    let opts = LlbOptions::default();
    let one = |steps: Vec<Step>| plan(vec![stage(0, None, image("alpine"), 1, steps)], 0);

    let err = compile(
        &one(vec![copy(
            7,
            "COPY --chmod=9z x /",
            CopyStep {
                chmod: Some("9z".into()),
                ..copy_step(&["x"], "/")
            },
        )]),
        &opts,
    )
    .unwrap_err();
    assert!(
        matches!(err, LlbError::InvalidChmod { line: 7, .. }),
        "{err}"
    );
    assert!(err.to_string().starts_with("line 7:"));

    let empty = step(3, "RUN []", StepKind::Run(run_step(Command::Exec(vec![]))));
    let err = compile(&one(vec![empty]), &opts).unwrap_err();
    assert!(matches!(err, LlbError::EmptyCommand { line: 3 }), "{err}");

    let url = copy(
        4,
        "COPY https://x.io/f /",
        copy_step(&["https://x.io/f"], "/"),
    );
    let err = compile(&one(vec![url]), &opts).unwrap_err();
    assert!(matches!(err, LlbError::UrlInCopy { line: 4, .. }), "{err}");

    let sum = copy(
        5,
        "ADD --checksum=sha256:00 f /",
        CopyStep {
            add: true,
            checksum: Some("sha256:00".into()),
            ..copy_step(&["f"], "/")
        },
    );
    let err = compile(&one(vec![sum]), &opts).unwrap_err();
    assert!(
        matches!(err, LlbError::ChecksumNotHttp { line: 5 }),
        "{err}"
    );

    let root_mount = RunStep {
        mounts: vec![Mount::Tmpfs(TmpfsMount {
            target: "/".into(),
            size: None,
        })],
        ..run_step(Command::Shell("true".into()))
    };
    let err = compile(
        &one(vec![step(
            6,
            "RUN --mount=type=tmpfs,target=/ true",
            StepKind::Run(root_mount),
        )]),
        &opts,
    )
    .unwrap_err();
    assert!(
        matches!(err, LlbError::InvalidMountTarget { line: 6, .. }),
        "{err}"
    );

    let bad_ref = plan(vec![stage(0, None, image("Alpine"), 9, vec![])], 0);
    let err = compile(&bad_ref, &opts).unwrap_err();
    assert!(
        matches!(err, LlbError::InvalidImageRef { line: 9, .. }),
        "{err}"
    );

    let mut bad_platform = stage(0, None, image("alpine"), 2, vec![]);
    bad_platform.platform = Some("linux".into());
    let err = compile(&plan(vec![bad_platform], 0), &opts).unwrap_err();
    assert!(
        matches!(err, LlbError::InvalidPlatform { line: 2, .. }),
        "{err}"
    );
}

#[test]
fn from_an_unmapped_named_context_is_an_error() {
    let p = plan(
        vec![stage(
            0,
            None,
            ImageSource::NamedContext("base".into()),
            3,
            vec![],
        )],
        0,
    );
    let err = compile(&p, &LlbOptions::default()).unwrap_err();
    assert!(
        matches!(err, LlbError::NamedContextUnmapped { ref name, line: 3 } if name == "base"),
        "{err}"
    );
    // Mapped to a local directory, the stage starts from local://base.
    let mut opts = LlbOptions::default();
    opts.named_contexts
        .insert("base".into(), strata_llb::NamedContext::Local);
    let out = render(&compile(&p, &opts).unwrap()).unwrap();
    assert!(out.contains("identifier: local://base"), "{out}");
}

#[test]
fn missing_target_and_bad_options_are_errors() {
    let p = plan(vec![stage(0, None, image("alpine"), 1, vec![])], 4);
    assert!(matches!(
        compile(&p, &LlbOptions::default()),
        Err(LlbError::MissingTarget(StageId(4)))
    ));
    let opts = LlbOptions {
        platform: "amd64".into(),
        ..LlbOptions::default()
    };
    let p = plan(vec![stage(0, None, image("alpine"), 1, vec![])], 0);
    assert!(matches!(
        compile(&p, &opts),
        Err(LlbError::InvalidPlatform { line: 0, .. })
    ));
}

#[test]
fn render_rejects_bytes_that_are_not_a_definition() {
    assert!(matches!(
        render(&[0xff, 0xff, 0xff]),
        Err(LlbError::Decode(_))
    ));
}
