//! Golden plans for realistic Dockerfiles in testdata/dockerfiles.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use strata_dockerfile::{BaseImageInfo, ImageResolver, LowerOptions, Platform, lower};

/// A base image with ONBUILD triggers and an ENV, as the builder would
/// report it.
struct Images;

impl ImageResolver for Images {
    fn resolve(&self, reference: &str) -> Option<BaseImageInfo> {
        match reference {
            "base-with-triggers" => Some(BaseImageInfo {
                env: vec![("PATH".into(), "/usr/bin:/bin".into())],
                workdir: Some("/srv".into()),
                onbuild: vec![
                    "ARG TRIGGER_ARG=t".into(),
                    "RUN echo trigger $TRIGGER_ARG".into(),
                ],
                shell: false,
                platform: None,
            }),
            _ => None,
        }
    }
}

fn dockerfiles() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/dockerfiles")
}

fn plan_of(name: &str, build_args: &[(&str, &str)], target: Option<&str>) -> String {
    let source = fs::read_to_string(dockerfiles().join(name)).unwrap();
    let opts = LowerOptions {
        file_name: name.into(),
        build_args: build_args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        target: target.map(str::to_string),
        platform: Platform {
            os: "linux".into(),
            arch: "amd64".into(),
            variant: String::new(),
        },
        resolver: Some(&Images),
        ..Default::default()
    };
    match lower(&source, &opts) {
        Ok(plan) => plan.dump(),
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn django() {
    insta::assert_snapshot!(plan_of("django.Dockerfile", &[], None));
}

#[test]
fn go_multistage() {
    insta::assert_snapshot!(plan_of(
        "go-multistage.Dockerfile",
        &[("GO_VERSION", "1.23")],
        None
    ));
}

#[test]
fn node_target_builder() {
    insta::assert_snapshot!(plan_of("node.Dockerfile", &[], Some("builder")));
}

#[test]
fn heredocs() {
    insta::assert_snapshot!(plan_of("heredocs.Dockerfile", &[], None));
}

#[test]
fn arg_scoping() {
    insta::assert_snapshot!(plan_of(
        "arg-scoping.Dockerfile",
        &[("CONT_IMG_VER", "v2.0.1"), ("NOT_DECLARED", "1")],
        None
    ));
}

#[test]
fn onbuild_and_config() {
    insta::assert_snapshot!(plan_of("onbuild.Dockerfile", &[], None));
}

#[test]
fn onbuild_of_a_stage_runs_in_the_stages_built_on_it() {
    insta::assert_snapshot!(plan_of("onbuild-stages.Dockerfile", &[], None));
}
