//! RUN as Docker does it: WORKDIR, ENV and ARG, USER, SHELL, heredocs and
//! network modes, checked in the files the commands wrote into the image.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, build_image, dockerfile_context};

crate::for_each_executor!(
    workdir_env_arg_user_and_shell_reach_run,
    build_args_change_only_the_steps_that_see_them,
    heredoc_run_runs_as_a_script,
    network_none_leaves_only_loopback,
    network_none_flag_does_not_reuse_host_network_results,
    run_network_host_wins_over_the_network_none_flag,
    run_does_not_leave_hosts_resolv_conf_or_mount_points_in_the_layer,
    user_without_group_gets_home_and_supplementary_groups,
    files_removed_by_run_are_whiteouts_in_the_layer,
    setuid_programs_work_for_a_non_root_user,
    an_arg_after_an_env_of_its_name_wins_in_run,
);

fn workdir_env_arg_user_and_shell_reach_run(env: Env) {
    let image = build_image(
        &env,
        "FROM busybox
ARG VERSION=1.0
ENV GREETING=hi
WORKDIR /a
WORKDIR b
RUN pwd > /pwd.txt && echo \"$GREETING $VERSION\" > /envarg.txt
RUN echo 'svc:x:1500:1600:svc:/home/svc:/bin/sh' >> /etc/passwd && echo 'svcgrp:x:1600:' >> /etc/group
USER svc
RUN id -u > /tmp/uid && id -g > /tmp/gid && echo $HOME > /tmp/home
WORKDIR /owned
USER root
RUN printf '#!/bin/sh\\necho \"custom:$*\" > /shell.out\\n' > /myshell && chmod +x /myshell
SHELL [\"/myshell\", \"-c\"]
RUN hello world
",
        &[],
        "run",
    );
    assert_eq!(image.file("/pwd.txt").text(), "/a/b\n");
    assert_eq!(image.file("/envarg.txt").text(), "hi 1.0\n");
    assert_eq!(image.file("/tmp/uid").text(), "1500\n");
    assert_eq!(image.file("/tmp/gid").text(), "1600\n");
    // WORKDIR makes a missing directory, owned by the user in effect.
    let owned = image.file("/owned");
    assert_eq!((owned.kind, owned.uid, owned.gid), ('d', 1500, 1600));
    assert_eq!(image.file("/a/b").kind, 'd');
    // SHELL wraps later shell-form commands.
    assert_eq!(image.file("/shell.out").text(), "custom:-c hello world\n");
    let config = image.runtime_config();
    let env_list: Vec<&str> = config["Env"]
        .as_array()
        .expect("Env")
        .iter()
        .map(|v| v.as_str().expect("string"))
        .collect();
    assert!(env_list.contains(&"GREETING=hi"), "{env_list:?}");
    assert!(
        !env_list.iter().any(|e| e.starts_with("VERSION=")),
        "an ARG is not in the image's Env: {env_list:?}"
    );
    assert_eq!(config["WorkingDir"], "/owned");
    assert_eq!(config["Shell"], serde_json::json!(["/myshell", "-c"]));
}

/// Regression: RUN saw the ENV's value of a name an ARG declared later
/// (`ENV V=env` then `ARG V=arg`), where BuildKit adds the ARG's value to
/// the stage's environment and the latest wins; the image's ENV keeps the
/// ENV's value.
fn an_arg_after_an_env_of_its_name_wins_in_run(env: Env) {
    let image = build_image(
        &env,
        "FROM busybox AS base
ENV V=env
ARG V=arg
RUN echo \"$V\" > /v1 && env | grep '^V=' > /v1env
ENV V=env2
RUN echo \"$V\" > /v2
FROM base
ARG V=child
RUN echo \"$V\" > /v3
",
        &[],
        "argenv",
    );
    assert_eq!(image.file("/v1").text(), "arg\n");
    assert_eq!(image.file("/v1env").text(), "V=arg\n");
    assert_eq!(image.file("/v2").text(), "env2\n");
    assert_eq!(image.file("/v3").text(), "child\n");
    let config = image.runtime_config();
    let env_list = config["Env"].as_array().expect("Env");
    assert!(
        env_list.contains(&serde_json::json!("V=env2")),
        "{env_list:?}"
    );
}

fn build_args_change_only_the_steps_that_see_them(env: Env) {
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "ARG BASE=busybox
FROM ${BASE}
RUN echo before > /before
ARG VERSION=1.0
RUN echo \"v=$VERSION\" > /version
RUN echo after > /after
",
        &[],
    );
    let first = env.build(&ctx, &["-t", "args"]).ok();
    assert_eq!(first.ran().len(), 3);
    assert_eq!(env.image("args").file("/version").text(), "v=1.0\n");
    let second = env
        .build(&ctx, &["-t", "args", "--build-arg", "VERSION=2.0"])
        .ok();
    assert_eq!(
        second.cached(),
        vec!["RUN echo before > /before".to_string()]
    );
    assert_eq!(
        second.ran(),
        vec![
            "RUN echo \"v=$VERSION\" > /version".to_string(),
            "RUN echo after > /after".to_string()
        ]
    );
    assert!(
        second.reason("RUN echo \"v=").contains("VERSION"),
        "{:?}",
        second.reason("RUN echo \"v=")
    );
    assert_eq!(env.image("args").file("/version").text(), "v=2.0\n");
    // An unused build arg changes nothing.
    let third = env
        .build(
            &ctx,
            &[
                "-t",
                "args",
                "--build-arg",
                "VERSION=2.0",
                "--build-arg",
                "UNUSED=1",
            ],
        )
        .ok();
    assert_eq!(third.ran(), Vec::<String>::new());
}

fn heredoc_run_runs_as_a_script(env: Env) {
    let image = build_image(
        &env,
        "FROM busybox
ENV WHO=heredoc
RUN <<EOF
echo \"line1 $WHO\" > /heredoc.txt
echo line2 >> /heredoc.txt
EOF
RUN <<EOF
#!/bin/sh -e
echo shebang > /shebang.txt
EOF
RUN cat <<EOF > /cat.txt
from cat
EOF
",
        &[],
        "hd",
    );
    assert_eq!(image.file("/heredoc.txt").text(), "line1 heredoc\nline2\n");
    assert_eq!(image.file("/shebang.txt").text(), "shebang\n");
    assert_eq!(image.file("/cat.txt").text(), "from cat\n");
}

fn interfaces(netdev: &str) -> Vec<String> {
    let mut names: Vec<String> = netdev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_string())
        .collect();
    names.sort();
    names
}

fn network_none_leaves_only_loopback(env: Env) {
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox
RUN --network=none cat /proc/net/dev > /none.txt
RUN cat /proc/net/dev > /default.txt
",
        &[],
    );
    env.build(&ctx, &["-t", "net"]).ok();
    let image = env.image("net");
    assert_eq!(interfaces(&image.file("/none.txt").text()), ["lo"]);
    // The default is the host's network, as BuildKit's.
    let host = std::fs::read_to_string("/proc/net/dev").expect("host netdev");
    assert_eq!(
        interfaces(&image.file("/default.txt").text()),
        interfaces(&host)
    );
}

fn network_none_flag_does_not_reuse_host_network_results(env: Env) {
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\nRUN --network=none cat /proc/net/dev > /none.txt\nRUN cat /proc/net/dev > /default.txt\n",
        &[],
    );
    let host = env.build(&ctx, &["-t", "net"]).ok();
    assert_eq!(host.ran().len(), 2);
    // `strata build --network=none` applies to every RUN, so a step built
    // with the host's network must not be reused.
    let b = env.build(&ctx, &["-t", "net2", "--network=none"]).ok();
    assert_eq!(
        b.cached(),
        vec!["RUN --network=none cat /proc/net/dev > /none.txt".to_string()]
    );
    assert_eq!(
        b.ran(),
        vec!["RUN cat /proc/net/dev > /default.txt".to_string()]
    );
    assert_eq!(
        interfaces(&env.image("net2").file("/default.txt").text()),
        ["lo"],
        "{}",
        b.stderr
    );
}

fn run_network_host_wins_over_the_network_none_flag(env: Env) {
    // As in BuildKit: `--network` of the build is the default of every
    // RUN, and a RUN's own `--network` overrides it.
    let ctx = dockerfile_context(
        &env,
        "ctx",
        "FROM busybox\nRUN --network=host cat /proc/net/dev > /host.txt\nRUN cat /proc/net/dev > /plain.txt\n",
        &[],
    );
    env.build(&ctx, &["-t", "net", "--network=none"]).ok();
    let image = env.image("net");
    let host = std::fs::read_to_string("/proc/net/dev").expect("host netdev");
    assert_eq!(
        interfaces(&image.file("/host.txt").text()),
        interfaces(&host)
    );
    assert_eq!(interfaces(&image.file("/plain.txt").text()), ["lo"]);
    // The plan shows the network each RUN gets.
    let plan = common::run_ok(
        env.strata()
            .args(["build", "--print=plan", "--network=none"])
            .arg(&ctx),
    );
    let with = |mode: &str| plan.lines().filter(|l| l.contains(mode)).count();
    assert_eq!(
        (with("network=Host"), with("network=None")),
        (1, 1),
        "{plan}"
    );
}

fn run_does_not_leave_hosts_resolv_conf_or_mount_points_in_the_layer(env: Env) {
    let image = build_image(
        &env,
        "FROM busybox
RUN test -s /etc/resolv.conf && test -e /etc/hosts && test -e /dev/null && hostname > /tmp/hostname && touch /marker
",
        &[],
        "clean",
    );
    let last = image.layer_tars().pop().expect("a layer");
    let mut archive = tar::Archive::new(&last[..]);
    let mut names: Vec<String> = archive
        .entries()
        .expect("entries")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .to_string_lossy()
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_string()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["marker", "tmp", "tmp/hostname"]);
}

fn user_without_group_gets_home_and_supplementary_groups(env: Env) {
    let image = build_image(
        &env,
        "FROM busybox
USER app
RUN id -G > /tmp/groups && echo $HOME > /tmp/home
USER app:users
RUN id -u > /tmp/u2 && id -g > /tmp/g2
USER 1000
RUN id -u > /tmp/u3 && echo $HOME > /tmp/home3
",
        &[],
        "users",
    );
    let mut groups: Vec<String> = image
        .file("/tmp/groups")
        .text()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    groups.sort();
    groups.dedup();
    assert_eq!(groups, ["10", "100", "1000"]);
    assert_eq!(image.file("/tmp/home").text(), "/home/app\n");
    assert_eq!(image.file("/tmp/u2").text(), "1000\n");
    assert_eq!(image.file("/tmp/g2").text(), "100\n");
    assert_eq!(image.file("/tmp/u3").text(), "1000\n");
    assert_eq!(image.file("/tmp/home3").text(), "/home/app\n");
}

fn files_removed_by_run_are_whiteouts_in_the_layer(env: Env) {
    let image = build_image(
        &env,
        "FROM busybox
RUN mkdir -p /d/keep /d/gone && echo 1 > /d/f && echo 2 > /d/gone/x && echo 3 > /d/keep/y
RUN rm /d/f && rm -r /d/gone && rm /bin/vi
",
        &[],
        "wh",
    );
    let files = image.files();
    assert!(!files.contains_key("d/f"));
    assert!(!files.contains_key("d/gone"));
    assert!(!files.contains_key("d/gone/x"));
    assert!(!files.contains_key("bin/vi"));
    assert_eq!(files["d/keep/y"].text(), "3\n");
    assert!(files.contains_key("bin/cat"));
    let last = image.layer_tars().pop().expect("layer");
    let mut names: Vec<String> = tar::Archive::new(&last[..])
        .entries()
        .expect("entries")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .to_string_lossy()
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_string()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["bin", "bin/.wh.vi", "d", "d/.wh.f", "d/.wh.gone"]);
}

/// no_new_privs stays off, as in BuildKit (moby/buildkit#745): a setuid
/// program run by a non-root USER gets euid 0 (`su`, `sudo`, `ping` need
/// this). With no_new_privs, exec would ignore the setuid bit.
fn setuid_programs_work_for_a_non_root_user(env: Env) {
    let image = build_image(
        &env,
        "FROM busybox
RUN cp /bin/bash /bin/suid-bash && chmod 4755 /bin/suid-bash
USER app
RUN /bin/suid-bash -p -c 'echo \"$UID $EUID\"' > /tmp/ids
",
        &[],
        "suid",
    );
    assert_eq!(image.file("/bin/suid-bash").mode & 0o7777, 0o4755);
    assert_eq!(image.file("/tmp/ids").text(), "1000 0\n");
}
