//! Golden dumps of the LLB produced for hand-built plans.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use strata_llb::{LlbOptions, NamedContext};
use strata_plan::*;

#[test]
fn image_base_with_env_user_shell_and_workdir_shaping_runs() {
    let p = plan(
        vec![stage(
            0,
            None,
            image("python:3.12-slim"),
            1,
            vec![
                run(2, "apt-get update"),
                config(
                    3,
                    "ENV APP=/srv LANG=C.UTF-8",
                    ConfigEdit::Env(vec![
                        ("APP".into(), "/srv".into()),
                        ("LANG".into(), "C.UTF-8".into()),
                    ]),
                ),
                workdir(4, "/srv"),
                workdir(5, "app"),
                config(6, "USER nobody", ConfigEdit::User("nobody".into())),
                {
                    let mut s = with_args(
                        run(7, "echo $VERSION"),
                        &[("VERSION", "1.2"), ("LANG", "ignored")],
                    );
                    // An ENV set LANG after its ARG: RUN sees the ENV's.
                    s.env_over_args.insert("LANG".into());
                    s
                },
                config(
                    8,
                    "SHELL [\"/bin/bash\", \"-eu\", \"-c\"]",
                    ConfigEdit::Shell(vec!["/bin/bash".into(), "-eu".into(), "-c".into()]),
                ),
                run(9, "echo in bash"),
                step(
                    10,
                    "RUN [\"python\", \"-V\"]",
                    StepKind::Run(run_step(Command::Exec(vec!["python".into(), "-V".into()]))),
                ),
            ],
        )],
        0,
    );
    insta::assert_snapshot!(dump(&p, &LlbOptions::default()));
}

#[test]
fn scratch_copies_from_context_with_ownership_modes_and_filters() {
    let mut p = plan(
        vec![stage(
            0,
            None,
            ImageSource::Scratch,
            1,
            vec![
                copy(
                    2,
                    "COPY --chown=app:1000 --chmod=640 --exclude=*.md src/ README* /opt/",
                    CopyStep {
                        chown: Some("app:1000".into()),
                        chmod: Some("640".into()),
                        exclude: vec!["*.md".into()],
                        ..copy_step(&["src/", "README*"], "/opt/")
                    },
                ),
                copy(
                    3,
                    "COPY --chmod=u+x,g-w bin/tool .",
                    CopyStep {
                        chmod: Some("u+x,g-w".into()),
                        ..copy_step(&["bin/tool"], ".")
                    },
                ),
                copy(
                    4,
                    "COPY --parents ./pkg/./a/*.go /build/",
                    CopyStep {
                        parents: true,
                        ..copy_step(&["pkg/./a/*.go", "go.mod"], "/build/")
                    },
                ),
                copy(
                    5,
                    "COPY <<EOF /etc/motd",
                    CopyStep {
                        sources: CopySources {
                            paths: vec![],
                            heredocs: vec![HeredocFile {
                                name: "motd".into(),
                                content: "hello\n".into(),
                            }],
                        },
                        ..copy_step(&[], "/etc/motd")
                    },
                ),
            ],
        )],
        0,
    );
    p.ignore_rules = vec![
        IgnoreRule {
            pattern: "target".into(),
            negated: false,
        },
        IgnoreRule {
            pattern: "target/keep<me>".into(),
            negated: true,
        },
    ];
    let opts = LlbOptions {
        session_id: Some("s3ss10n".into()),
        ..LlbOptions::default()
    };
    insta::assert_snapshot!(dump(&p, &opts));
}

#[test]
fn run_with_every_mount_type_and_network_and_security_modes() {
    let mounts = vec![
        Mount::Cache(CacheMount {
            target: "/root/.cache/pip".into(),
            id: "pip".into(),
            sharing: CacheSharing::Locked,
            from: None,
            source: None,
            read_only: false,
            mode: 0o755,
            uid: 0,
            gid: 0,
        }),
        Mount::Cache(CacheMount {
            target: "/var/cache/apt".into(),
            id: "/var/cache/apt".into(),
            sharing: CacheSharing::Private,
            from: None,
            source: None,
            read_only: false,
            mode: 0o700,
            uid: 1000,
            gid: 1000,
        }),
        Mount::Bind(BindMount {
            target: "/src".into(),
            source: "app".into(),
            from: CopySource::Context,
            read_write: false,
        }),
        Mount::Bind(BindMount {
            target: "/scratchpad".into(),
            source: "/".into(),
            from: CopySource::Stage(StageId(0)),
            read_write: true,
        }),
        Mount::Tmpfs(TmpfsMount {
            target: "/tmp".into(),
            size: Some(64 << 20),
        }),
        Mount::Secret(SecretMount {
            id: "npmrc".into(),
            target: "/root/.npmrc".into(),
            env: None,
            required: true,
            mode: 0o400,
            uid: 0,
            gid: 0,
        }),
        Mount::Secret(SecretMount {
            id: "token".into(),
            target: String::new(),
            env: Some("API_TOKEN".into()),
            required: false,
            mode: 0o400,
            uid: 0,
            gid: 0,
        }),
        Mount::Ssh(SshMount {
            id: "default".into(),
            target: "/run/buildkit/ssh_agent.0".into(),
            required: false,
            mode: 0o600,
            uid: 0,
            gid: 0,
        }),
    ];
    let big = RunStep {
        mounts,
        network: NetworkMode::None,
        security: SecurityMode::Insecure,
        ..run_step(Command::Shell(
            "pip install -r /src/requirements.txt".into(),
        ))
    };
    let host = RunStep {
        network: NetworkMode::Host,
        inline_files: vec![HeredocFile {
            name: "EOT".into(),
            content: "#!/usr/bin/env python3\nprint('hi')\n".into(),
        }],
        ..run_step(Command::Shell("/dev/pipes/EOT".into()))
    };
    let p = plan(
        vec![
            stage(
                0,
                Some("seed"),
                image("alpine"),
                1,
                vec![run(2, "mkdir /seed")],
            ),
            stage(
                1,
                None,
                image("python:3.12"),
                3,
                vec![
                    step(4, "RUN --mount=... pip install", StepKind::Run(big)),
                    with_args(
                        step(5, "RUN --network=host <<EOT", StepKind::Run(host)),
                        &[("HTTPS_PROXY", "http://proxy:3128"), ("A", "b")],
                    ),
                ],
            ),
        ],
        1,
    );
    insta::assert_snapshot!(dump(&p, &LlbOptions::default()));
}

#[test]
fn multi_stage_graph_stops_at_the_target() {
    let p = plan(
        vec![
            stage(
                0,
                Some("deps"),
                image("golang:1.22"),
                1,
                vec![
                    workdir(2, "/src"),
                    copy(
                        3,
                        "COPY go.mod go.sum ./",
                        copy_step(&["go.mod", "go.sum"], "./"),
                    ),
                ],
            ),
            stage(
                1,
                Some("build"),
                ImageSource::Stage(StageId(0)),
                4,
                vec![
                    copy(5, "COPY . .", copy_step(&["."], ".")),
                    run(6, "go build -o /out/app"),
                ],
            ),
            stage(
                2,
                Some("final"),
                image("gcr.io/distroless/static"),
                7,
                vec![
                    copy(
                        8,
                        "COPY --from=build /out/app /app",
                        CopyStep {
                            from: CopySource::Stage(StageId(1)),
                            ..copy_step(&["/out/app"], "/app")
                        },
                    ),
                    copy(
                        9,
                        "COPY --from=busybox:1.36 /bin/busybox /bin/",
                        CopyStep {
                            from: CopySource::Image("busybox:1.36".into()),
                            ..copy_step(&["/bin/busybox"], "/bin/")
                        },
                    ),
                ],
            ),
            stage(
                3,
                Some("unused"),
                image("alpine"),
                10,
                vec![run(11, "false")],
            ),
        ],
        2,
    );
    let out = dump(&p, &LlbOptions::default());
    assert!(!out.contains("false"), "unused stage must not be compiled");
    insta::assert_snapshot!(out);
}

#[test]
fn add_fetches_urls_with_checksums_and_git_repositories() {
    let p = plan(
        vec![stage(
            0,
            None,
            image("alpine:3.20"),
            1,
            vec![
                copy(
                    2,
                    "ADD --checksum=sha256:24454f83 https://example.com/dl/tool.tar.gz /opt/",
                    CopyStep {
                        add: true,
                        checksum: Some("sha256:24454f83".into()),
                        ..copy_step(&["https://example.com/dl/tool.tar.gz"], "/opt/")
                    },
                ),
                copy(
                    3,
                    "ADD --keep-git-dir https://github.com/moby/buildkit.git#v0.13.0 /bk",
                    CopyStep {
                        add: true,
                        keep_git_dir: true,
                        ..copy_step(&["https://github.com/moby/buildkit.git#v0.13.0"], "/bk")
                    },
                ),
                copy(
                    4,
                    "ADD rootfs.tar.xz /",
                    CopyStep {
                        add: true,
                        ..copy_step(&["rootfs.tar.xz"], "/")
                    },
                ),
            ],
        )],
        0,
    );
    insta::assert_snapshot!(dump(&p, &LlbOptions::default()));
}

#[test]
fn copy_link_merges_onto_the_stage() {
    let p = plan(
        vec![stage(
            0,
            None,
            image("alpine"),
            1,
            vec![copy(
                2,
                "COPY --link --chown=1:1 app /app",
                CopyStep {
                    link: true,
                    chown: Some("1:1".into()),
                    ..copy_step(&["app"], "/app")
                },
            )],
        )],
        0,
    );
    let out = dump(&p, &LlbOptions::default());
    assert!(out.contains(" merge [#"));
    insta::assert_snapshot!(out);
}

#[test]
fn named_contexts_map_to_local_sources_or_images() {
    let mut opts = LlbOptions::default();
    opts.named_contexts
        .insert("base".into(), NamedContext::Image("ubuntu:24.04".into()));
    let p = plan(
        vec![stage(
            0,
            None,
            ImageSource::NamedContext("base".into()),
            1,
            vec![copy(
                2,
                "COPY --from=docs . /usr/share/doc/app",
                CopyStep {
                    from: CopySource::NamedContext("docs".into()),
                    ..copy_step(&["."], "/usr/share/doc/app")
                },
            )],
        )],
        0,
    );
    insta::assert_snapshot!(dump(&p, &opts));
}

#[test]
fn image_config_collects_the_target_chain() {
    let p = plan(
        vec![
            stage(
                0,
                Some("base"),
                image("alpine"),
                1,
                vec![
                    config(
                        2,
                        "ENV A=1",
                        ConfigEdit::Env(vec![("A".into(), "1".into())]),
                    ),
                    config(
                        3,
                        "CMD [\"sh\"]",
                        ConfigEdit::Cmd(Command::Exec(vec!["sh".into()])),
                    ),
                    config(
                        4,
                        "LABEL org.x=y",
                        ConfigEdit::Label(vec![("org.x".into(), "y".into())]),
                    ),
                ],
            ),
            stage(
                1,
                None,
                ImageSource::Stage(StageId(0)),
                5,
                vec![
                    with_args(
                        run(6, "make"),
                        &[("V", "2"), ("http_proxy", "http://user:secret@proxy")],
                    ),
                    config(
                        7,
                        "ENV A=2 B=3",
                        ConfigEdit::Env(vec![("A".into(), "2".into()), ("B".into(), "3".into())]),
                    ),
                    config(
                        8,
                        "ENTRYPOINT app --serve",
                        ConfigEdit::Entrypoint(Command::Shell("app --serve".into())),
                    ),
                    config(
                        9,
                        "EXPOSE 8080/tcp 53/udp",
                        ConfigEdit::Expose(vec!["8080/tcp".into(), "53/udp".into()]),
                    ),
                    config(10, "VOLUME /data", ConfigEdit::Volume(vec!["/data".into()])),
                    workdir(11, "/srv"),
                    config(12, "USER 10001", ConfigEdit::User("10001".into())),
                    config(
                        13,
                        "STOPSIGNAL SIGTERM",
                        ConfigEdit::StopSignal("SIGTERM".into()),
                    ),
                    config(
                        14,
                        "HEALTHCHECK --interval=30s CMD curl -f localhost",
                        ConfigEdit::Healthcheck(Healthcheck {
                            test: HealthcheckTest::Shell("curl -f localhost".into()),
                            interval_ns: 30_000_000_000,
                            timeout_ns: 0,
                            start_period_ns: 0,
                            start_interval_ns: 0,
                            retries: 3,
                        }),
                    ),
                    config(
                        15,
                        "ONBUILD RUN echo child",
                        ConfigEdit::OnBuild("RUN echo child".into()),
                    ),
                ],
            ),
        ],
        1,
    );
    let json = strata_llb::image_config(&p, &LlbOptions::default()).unwrap();
    let text = String::from_utf8(json).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    // ENTRYPOINT in a stage that set no CMD clears the inherited one.
    assert!(value["config"].get("Cmd").is_none());
    // Proxy arguments (they may hold credentials) stay out of the history.
    assert!(!text.contains("secret@proxy"));
    insta::assert_snapshot!(text);
}
