//! `docker buildx build`'s flags and environment: those strata implements
//! (`--add-host`, `--shm-size`, `--ulimit`, `--call=check`, boolean
//! `--pull=false` forms, `--load`, `BUILDKIT_PROGRESS`, `--provenance=false`)
//! have their effect, the others fail naming the feature.

#[macro_use]
mod common;

use common::{Env, dockerfile_context};

fn add_host_reaches_run_etc_hosts(env: Env) {
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\nRUN cat /etc/hosts > /hosts.txt\n",
        &[],
    );
    env.build(
        &ctx,
        &[
            "-t",
            "hosts",
            "--add-host",
            "db.internal:10.1.2.3",
            "--add-host=v6=fd00::1",
            "--add-host",
            "gw:host-gateway",
        ],
    )
    .ok();
    let hosts = env.image("hosts").file("/hosts.txt").text();
    let lines: Vec<&str> = hosts.lines().collect();
    assert!(lines[0].starts_with("127.0.0.1\tlocalhost"), "{hosts}");
    assert_eq!(
        &lines[lines.len() - 3..],
        ["10.1.2.3\tdb.internal", "fd00::1\tv6", "127.0.0.1\tgw"],
        "{hosts}"
    );
}

fn shm_size_and_ulimit_reach_run(env: Env) {
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\nRUN df -k /dev/shm | tail -n 1 | awk '{print $2}' > /shm.txt && \
         ulimit -n > /nofile-soft.txt && ulimit -Hn > /nofile-hard.txt\n",
        &[],
    );
    env.build(
        &ctx,
        &[
            "-t",
            "limits",
            "--shm-size=128m",
            "--ulimit",
            "nofile=1000:2000",
        ],
    )
    .ok();
    let image = env.image("limits");
    assert_eq!(image.file("/shm.txt").text().trim(), "131072");
    assert_eq!(image.file("/nofile-soft.txt").text().trim(), "1000");
    assert_eq!(image.file("/nofile-hard.txt").text().trim(), "2000");
}

for_each_executor!(
    add_host_reaches_run_etc_hosts,
    shm_size_and_ulimit_reach_run
);

#[test]
fn an_added_host_is_part_of_the_run_key() {
    let env = Env::new();
    let ctx = dockerfile_context(&env, "ctx", "FROM busybox\nRUN echo hi\n", &[]);
    env.build(&ctx, &[]).ok();
    let same = env.build(&ctx, &[]).ok();
    assert_eq!(same.ran(), Vec::<String>::new());
    let other = env.build(&ctx, &["--add-host", "a:10.0.0.1"]).ok();
    assert_eq!(other.ran(), ["RUN echo hi"]);
}

#[test]
fn boolean_flags_take_docker_value_forms() {
    let env = Env::new();
    let ctx = dockerfile_context(&env, "ctx", "FROM busybox\nRUN echo hi\n", &[]);
    env.build(&ctx, &[]).ok();
    let b = env
        .build(
            &ctx,
            &[
                "--pull=false",
                "--push=false",
                "--no-cache=false",
                "--load",
                "--rm",
                "--force-rm",
                "-t",
                "l",
            ],
        )
        .ok();
    assert_eq!(b.ran(), Vec::<String>::new());
    // `--load` leaves the image in strata's store under its -t name.
    assert_eq!(env.image("l").config_digest, b.image_id());
    let b = env.build(&ctx, &["--no-cache=true"]).ok();
    assert_eq!(b.ran(), ["RUN echo hi"]);
}

#[test]
fn provenance_false_is_honoured_and_attestations_are_refused() {
    let env = Env::new();
    let ctx = dockerfile_context(&env, "ctx", "FROM busybox\n", &[]);
    env.build(
        &ctx,
        &[
            "--provenance=false",
            "--sbom=false",
            "--attest",
            "type=provenance,disabled=true",
        ],
    )
    .ok();
    for (flags, needle) in [
        (
            &["--provenance=mode=max"][..],
            "cannot produce provenance attestations",
        ),
        (
            &["--provenance"][..],
            "cannot produce provenance attestations",
        ),
        (&["--sbom=true"][..], "cannot produce sbom attestations"),
        (
            &["--attest", "type=sbom"][..],
            "cannot produce sbom attestations",
        ),
        (&["--attest", "type=vex"][..], "unknown type"),
    ] {
        let b = env.build(&ctx, flags).failed();
        assert!(b.stderr.contains(needle), "{flags:?}: {}", b.stderr);
    }
}

#[test]
fn unsupported_flags_fail_naming_the_feature() {
    let env = Env::new();
    let ctx = dockerfile_context(&env, "ctx", "FROM busybox\n", &[]);
    for (flags, needle) in [
        (
            &["--cgroup-parent", "/ci"][..],
            "--cgroup-parent=/ci: RUN steps cannot",
        ),
        (&["--builder", "mybuilder"][..], "has no builder"),
        (
            &["-m", "1g"][..],
            "--memory: a flag of docker's legacy builder",
        ),
        (&["--cpu-shares", "512"][..], "--cpu-shares: a flag"),
        (&["--squash"][..], "--squash: a flag"),
        (&["--rm=false"][..], "--rm=false"),
        (&["--call=describe"][..], "--call=describe: unknown method"),
        (
            &["--call=check,format=yaml"][..],
            "format=yaml is not supported",
        ),
        (
            &["--call=outline", "--check"][..],
            "ask for different answers",
        ),
        (&["--ulimit", "files=1"][..], "unknown resource \"files\""),
        (&["--shm-size", "lots"][..], "--shm-size lots"),
        (&["--add-host", "db:nowhere"][..], "invalid IP address"),
        (
            &["--build-arg", "BUILDKIT_INLINE_CACHE=1"][..],
            "inline cache",
        ),
        (
            &["--build-arg", "BUILDKIT_MULTI_PLATFORM=1"][..],
            "not an index",
        ),
        (
            &["--build-arg", "BUILDKIT_CACHE_MOUNT_NS=x"][..],
            "cache mount namespaces",
        ),
        (
            &["--print=llb", "--shm-size=1g"][..],
            "not encoded into LLB",
        ),
    ] {
        let b = env.build(&ctx, flags).failed();
        assert!(b.stderr.contains(needle), "{flags:?}: {}", b.stderr);
    }
}

#[test]
fn environment_of_docker_and_buildx() {
    let env = Env::new();
    let ctx = dockerfile_context(&env, "ctx", "FROM busybox\nRUN echo hi\n", &[]);
    let b = env
        .build_with(&ctx, &[], |c| {
            c.env("DOCKER_BUILDKIT", "0");
        })
        .failed();
    assert!(b.stderr.contains("legacy builder"), "{}", b.stderr);
    let b = env
        .build_with(&ctx, &[], |c| {
            c.env("BUILDX_METADATA_PROVENANCE", "max");
        })
        .failed();
    assert!(
        b.stderr.contains("BUILDX_METADATA_PROVENANCE=max"),
        "{}",
        b.stderr
    );
    // BUILDKIT_PROGRESS=quiet is --progress=quiet: only the image ID on
    // stdout (the explicit --progress=plain of `build` is left out here).
    let mut cmd = env.strata_build();
    cmd.env("BUILDKIT_PROGRESS", "quiet")
        .env("DOCKER_BUILDKIT", "1")
        .env("BUILDX_NO_DEFAULT_ATTESTATIONS", "1")
        .args(["-t", "q"])
        .arg(&ctx);
    let out = common::run(&mut cmd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", env.image("q").config_digest)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("RUN echo hi"));
}

#[test]
fn call_check_is_check() {
    let env = Env::new();
    let ctx = dockerfile_context(&env, "ctx", "from busybox AS base\n", &[]);
    let b = env.build(&ctx, &["--call=check"]).failed();
    let all = format!("{}{}", b.stdout, b.stderr);
    assert!(all.contains("FromAsCasing"), "{all}");
    let ok = dockerfile_context(&env, "ok", "FROM busybox\n", &[]);
    env.build(&ok, &["--call", "check"]).ok();
    assert!(env.build(&ok, &["--call=build"]).ok().iid.is_some());
}

/// The manifest skopeo reads from an OCI layout (`oci:DIR:TAG`).
fn skopeo_manifest(layout: &std::path::Path, tag: &str) -> serde_json::Value {
    let raw = common::run_ok(std::process::Command::new("skopeo").args([
        "inspect",
        "--raw",
        &format!("oci:{}:{tag}", layout.display()),
    ]));
    serde_json::from_str(&raw).expect("manifest JSON")
}

#[test]
fn annotations_reach_the_manifest_of_the_store_and_of_each_output() {
    if !common::have_tool("skopeo") {
        return;
    }
    let env = Env::new();
    let ctx = dockerfile_context(&env, "ctx", "FROM busybox\n", &[]);
    let layout = env.path("layout");
    let b = env
        .build(
            &ctx,
            &[
                "-t",
                "annotated",
                "--annotation",
                "org.opencontainers.image.source=https://example.com/app",
                "--annotation=manifest:stage=ci",
                "-o",
                &format!(
                    "type=oci,dest={},tar=false,name=out,annotation.extra=1,annotation-manifest.more=2",
                    layout.display()
                ),
            ],
        )
        .ok();
    let stored = skopeo_manifest(&env.root, "annotated:latest");
    assert_eq!(
        stored["annotations"],
        serde_json::json!({
            "org.opencontainers.image.source": "https://example.com/app",
            "stage": "ci",
        })
    );
    // The metadata names the exported image, as buildx's names its
    // exporter's.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json"))
            .expect("index JSON");
    assert_eq!(
        index["manifests"][0]["digest"].as_str(),
        Some(b.manifest_digest().as_str())
    );
    assert_ne!(b.manifest_digest(), env.image("annotated").manifest_digest);
    let exported = skopeo_manifest(&layout, "latest");
    assert_eq!(
        exported["annotations"],
        serde_json::json!({
            "extra": "1",
            "more": "2",
            "org.opencontainers.image.source": "https://example.com/app",
            "stage": "ci",
        })
    );
    // Levels a single-platform image does not have are refused.
    for (flags, needle) in [
        (
            &["--annotation", "index:a=b"][..],
            "index annotations are not supported",
        ),
        (
            &["--annotation", "manifest-descriptor:a=b"][..],
            "manifest-descriptor annotations",
        ),
        (
            &["-o", "type=image,annotation-index.a=b"][..],
            "index annotations",
        ),
        (
            &["-o", "type=local,dest=x,annotation.a=b"][..],
            "writes no manifest",
        ),
    ] {
        let b = env.build(&ctx, flags).failed();
        assert!(b.stderr.contains(needle), "{flags:?}: {}", b.stderr);
    }
}

#[test]
fn an_output_annotation_is_in_the_pushed_manifest() {
    let Some(reg) = common::registry::Registry::start(false) else {
        return;
    };
    if !common::have_tool("skopeo") {
        return;
    }
    let env = Env::new();
    let ctx = dockerfile_context(&env, "ctx", "FROM busybox\nRUN echo hi > /f\n", &[]);
    let name = format!("{}/app:1", reg.host());
    let built = env
        .build(
            &ctx,
            &[
                "-t",
                "plain",
                "--annotation",
                "org.opencontainers.image.title=app",
                "-o",
                &format!("type=image,name={name},push=true,annotation.pushed=yes"),
            ],
        )
        .ok();
    let raw = common::run_ok(std::process::Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{name}"),
    ]));
    let manifest: serde_json::Value = serde_json::from_str(&raw).expect("manifest JSON");
    assert_eq!(
        manifest["annotations"],
        serde_json::json!({"org.opencontainers.image.title": "app", "pushed": "yes"})
    );
    // The metadata names what was pushed (as buildx's), not the store's
    // image without the output's annotation.
    let inspect = common::run_ok(std::process::Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{name}"),
    ]));
    let inspect: serde_json::Value = serde_json::from_str(&inspect).expect("inspect JSON");
    assert_eq!(
        inspect["Digest"].as_str(),
        Some(built.manifest_digest().as_str())
    );
    assert_ne!(built.manifest_digest(), env.image("plain").manifest_digest);
}
