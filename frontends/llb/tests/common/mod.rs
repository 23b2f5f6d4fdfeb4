//! Builders for hand-written plans.
#![allow(dead_code, clippy::unwrap_used)]

use bollard_buildkit_proto::pb;
use prost::Message;
use std::collections::BTreeMap;
use strata_plan::*;

pub fn step(line: usize, text: &str, kind: StepKind) -> Step {
    Step {
        span: Span {
            start_line: line,
            end_line: line,
        },
        text: text.to_string(),
        kind,
        build_args: BTreeMap::new(),
        env_over_args: Default::default(),
    }
}

pub fn with_args(mut s: Step, args: &[(&str, &str)]) -> Step {
    s.build_args = args
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    s
}

pub fn run_step(command: Command) -> RunStep {
    RunStep {
        command,
        inline_files: vec![],
        mounts: vec![],
        network: NetworkMode::Default,
        security: SecurityMode::Sandbox,
        sandbox: Default::default(),
    }
}

pub fn run(line: usize, cmd: &str) -> Step {
    step(
        line,
        &format!("RUN {cmd}"),
        StepKind::Run(run_step(Command::Shell(cmd.to_string()))),
    )
}

pub fn copy_step(paths: &[&str], dest: &str) -> CopyStep {
    CopyStep {
        add: false,
        from: CopySource::Context,
        sources: CopySources {
            paths: paths.iter().map(|s| s.to_string()).collect(),
            heredocs: vec![],
        },
        dest: dest.to_string(),
        chown: None,
        chmod: None,
        link: false,
        parents: false,
        exclude: vec![],
        checksum: None,
        keep_git_dir: false,
        unpack: None,
    }
}

pub fn copy(line: usize, text: &str, c: CopyStep) -> Step {
    step(line, text, StepKind::Copy(c))
}

pub fn config(line: usize, text: &str, edit: ConfigEdit) -> Step {
    step(line, text, StepKind::Config(edit))
}

pub fn workdir(line: usize, dir: &str) -> Step {
    step(
        line,
        &format!("WORKDIR {dir}"),
        StepKind::Workdir(dir.to_string()),
    )
}

pub fn stage(
    id: usize,
    name: Option<&str>,
    base: ImageSource,
    line: usize,
    steps: Vec<Step>,
) -> Stage {
    Stage {
        id: StageId(id),
        name: name.map(str::to_string),
        base,
        platform: None,
        steps,
        span: Span {
            start_line: line,
            end_line: line,
        },
    }
}

pub fn plan(stages: Vec<Stage>, target: usize) -> Plan {
    Plan {
        stages,
        target: StageId(target),
        ..Default::default()
    }
}

pub fn image(r: &str) -> ImageSource {
    ImageSource::Image(r.to_string())
}

/// Structural checks every definition must pass: each input names an
/// earlier op, metadata keys are digests of ops, and the last op is the
/// output pointer with a single input.
pub fn check_definition(bytes: &[u8]) -> pb::Definition {
    let def = pb::Definition::decode(bytes).unwrap();
    let mut seen = Vec::new();
    for raw in &def.def {
        let op = pb::Op::decode(raw.as_slice()).unwrap();
        for input in &op.inputs {
            assert!(
                seen.contains(&input.digest),
                "input {} is not an earlier op",
                input.digest
            );
        }
        seen.push(strata_llb::digest_of(raw));
    }
    for key in def.metadata.keys() {
        assert!(seen.contains(key), "metadata for unknown op {key}");
    }
    if let Some(last) = def.def.last() {
        let op = pb::Op::decode(last.as_slice()).unwrap();
        assert!(op.op.is_none(), "last op must be the output pointer");
        assert_eq!(op.inputs.len(), 1);
    }
    def
}

/// Compiles, checks the structure and renders.
pub fn dump(plan: &Plan, opts: &strata_llb::LlbOptions) -> String {
    let bytes = strata_llb::compile(plan, opts).unwrap();
    check_definition(&bytes);
    strata_llb::render(&bytes).unwrap()
}
