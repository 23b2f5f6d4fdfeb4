//! Typed instructions: every instruction, every error, with line and
//! column; insta snapshots for realistic Dockerfiles.
#![allow(clippy::unwrap_used, clippy::panic)]

use strata_dockerfile::instructions::{
    CacheSharing, CommandLine, Deferred, Expandable, Healthcheck, Instruction, MountType, Network,
    Security, parse,
};

fn one(line: &str) -> Instruction {
    let source = format!("FROM base\n{line}\n");
    let mut found = parse("Dockerfile", &source).unwrap();
    assert_eq!(found.len(), 2, "{line}");
    found.remove(1).instruction
}

fn err(line: &str) -> String {
    let source = format!("FROM base\n{line}\n");
    let e = parse("Dockerfile", &source).unwrap_err();
    assert_eq!(e.location.line, 2, "{line}: {e}");
    e.message
}

fn x(s: &str) -> Expandable {
    Expandable(s.to_string())
}

#[test]
fn from_with_name_and_platform() {
    let found = parse(
        "Dockerfile",
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS Build\n",
    )
    .unwrap();
    let Instruction::From(f) = &found[0].instruction else {
        panic!()
    };
    assert_eq!(f.image, x("golang:1.22"));
    assert_eq!(f.name.as_deref(), Some("build"));
    assert_eq!(f.platform, Some(x("$BUILDPLATFORM")));
    let Instruction::From(f) = one("from scratch") else {
        panic!()
    };
    assert_eq!((f.image, f.name, f.platform), (x("scratch"), None, None));
}

#[test]
fn from_errors() {
    assert_eq!(
        err("FROM a b"),
        "FROM requires either one or three arguments"
    );
    assert_eq!(err("FROM"), "FROM requires either one or three arguments");
    assert_eq!(
        err("FROM a is b"),
        "FROM requires either one or three arguments"
    );
    assert_eq!(
        err("FROM a AS 1st"),
        "invalid name for build stage: \"1st\", name can't start with a number or contain symbols"
    );
    assert_eq!(
        err("FROM a AS b$c"),
        "invalid name for build stage: \"b$c\", name can't start with a number or contain symbols"
    );
    assert_eq!(
        err("FROM --plaform=x a"),
        "unknown flag: plaform (did you mean platform?)"
    );
}

#[test]
fn run_shell_exec_heredocs_and_flags() {
    let Instruction::Run(r) = one("RUN --network=none --security=insecure echo \"$HOME\"") else {
        panic!()
    };
    assert_eq!(r.cmd, CommandLine::Shell("echo \"$HOME\"".into()));
    assert_eq!((r.network, r.security), (Network::None, Security::Insecure));
    let Instruction::Run(r) = one("RUN [\"/bin/echo\", \"a b\"]") else {
        panic!()
    };
    assert_eq!(
        r.cmd,
        CommandLine::Exec(vec!["/bin/echo".into(), "a b".into()])
    );
    assert_eq!(
        (r.network, r.security),
        (Network::Default, Security::Sandbox)
    );
    let found = parse("D", "FROM x\nRUN <<EOF python3\nprint(1)\nEOF\n").unwrap();
    let Instruction::Run(r) = &found[1].instruction else {
        panic!()
    };
    assert_eq!(r.cmd, CommandLine::Shell("<<EOF python3".into()));
    assert_eq!(r.heredocs[0].content, "print(1)\n");
    assert_eq!((found[1].start_line, found[1].end_line), (2, 4));
}

#[test]
fn run_mounts_are_typed() {
    let Instruction::Run(r) = one(
        "RUN --mount=type=cache,target=/root/.cache,sharing=locked,id=$ID \
         --mount=type=secret,id=npm,env=NPM_TOKEN --mount=from=build,src=/out,target=/in \
         --mount=type=tmpfs,dst=/tmp,size=1g --mount=type=ssh,required make",
    ) else {
        panic!()
    };
    assert_eq!(r.mounts.len(), 5);
    let kinds: Vec<MountType> = r.mounts.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        [
            MountType::Cache,
            MountType::Secret,
            MountType::Bind,
            MountType::Tmpfs,
            MountType::Ssh
        ]
    );
    assert_eq!(r.mounts[0].sharing, Some(CacheSharing::Locked));
    assert_eq!(r.mounts[0].id, Some(x("$ID")));
    assert_eq!(r.mounts[1].env, Some(x("NPM_TOKEN")));
    assert!(r.mounts[2].read_only);
    assert_eq!(r.mounts[2].from.as_deref(), Some("build"));
    assert_eq!(r.mounts[3].size, Some(Deferred::Value(1 << 30)));
    assert!(r.mounts[4].required);
    assert_eq!(r.cmd, CommandLine::Shell("make".into()));
}

#[test]
fn run_errors() {
    assert_eq!(
        err("RUN --network=bridge x"),
        "unsupported network mode \"bridge\""
    );
    assert_eq!(err("RUN --security=x y"), "unsupported security mode \"x\"");
    assert_eq!(
        err("RUN --mount=type=nope x"),
        "unsupported mount type \"nope\""
    );
    assert_eq!(err("RUN --mount x"), "missing a value on flag: mount");
    assert_eq!(
        err("RUN --mout=type=bind x"),
        "unknown flag: mout (did you mean mount?)"
    );
    assert_eq!(
        err("RUN --network=host --network=none x"),
        "duplicate flag specified: network"
    );
}

#[test]
fn copy_and_add_flags() {
    let Instruction::Copy(c) = one(
        "COPY --from=build --chown=1000:1000 --chmod=755 --link --parents --exclude=*.md --exclude=.git a b/ /dst/",
    ) else {
        panic!()
    };
    assert!(!c.add && c.link && c.parents && !c.json);
    assert_eq!(c.sources, [x("a"), x("b/")]);
    assert_eq!(c.dest, x("/dst/"));
    assert_eq!(c.from, Some(x("build")));
    assert_eq!(c.chown, Some(x("1000:1000")));
    assert_eq!(c.chmod, Some(x("755")));
    assert_eq!(c.exclude, [x("*.md"), x(".git")]);
    let Instruction::Copy(c) = one(
        "ADD --checksum=sha256:abc --keep-git-dir=true --unpack=false --link=false https://x/y.tar /y",
    ) else {
        panic!()
    };
    assert!(c.add && c.keep_git_dir && !c.link);
    assert_eq!(c.unpack, Some(false));
    assert_eq!(c.checksum, Some(x("sha256:abc")));
    let Instruction::Copy(c) = one("ADD [\"a b\", \"/c d\"]") else {
        panic!()
    };
    assert!(c.json);
    assert_eq!(
        (c.sources, c.dest, c.unpack),
        (vec![x("a b")], x("/c d"), None)
    );
}

#[test]
fn copy_heredoc_sources() {
    let found = parse(
        "D",
        "FROM x\nCOPY <<-one <<\"two\" src /dst/\n\tA $x\n\tone\nB $y\ntwo\n",
    )
    .unwrap();
    let Instruction::Copy(c) = &found[1].instruction else {
        panic!()
    };
    assert_eq!(c.sources, [x("src")]);
    let docs: Vec<(&str, &str, bool)> = c
        .heredoc_sources
        .iter()
        .map(|h| (h.name.as_str(), h.content.as_str(), h.expand))
        .collect();
    assert_eq!(docs, [("one", "A $x\n", true), ("two", "B $y\n", false)]);
}

#[test]
fn copy_errors() {
    assert_eq!(
        err("COPY onlyone"),
        "COPY requires at least two arguments, but only one was provided. Destination could not be determined"
    );
    assert_eq!(
        err("ADD"),
        "ADD requires at least two arguments, but only one was provided. Destination could not be determined"
    );
    assert_eq!(err("COPY --checksum=x a b"), "unknown flag: checksum");
    assert_eq!(err("ADD --from=x a b"), "unknown flag: from");
    assert_eq!(err("ADD --parents a b"), "unknown flag: parents");
    assert_eq!(
        err("COPY --link=maybe a b"),
        "expecting boolean value for flag link, not: maybe"
    );
    assert_eq!(err("COPY --chown a b"), "missing a value on flag: chown");
    assert_eq!(
        err("COPY a <<EOF\nEOF"),
        "COPY cannot accept a heredoc as a destination"
    );
}

#[test]
fn env_label_pairs() {
    let Instruction::Env(e) = one("ENV A=1 B=\"two words\"") else {
        panic!()
    };
    assert_eq!(e.len(), 2);
    assert_eq!(
        (e[1].key.as_str(), e[1].value.as_str(), e[1].legacy),
        ("B", "\"two words\"", false)
    );
    let Instruction::Env(e) = one("ENV PATH /usr/bin:$PATH") else {
        panic!()
    };
    assert_eq!(
        (e[0].key.as_str(), e[0].value.as_str(), e[0].legacy),
        ("PATH", "/usr/bin:$PATH", true)
    );
    let Instruction::Label(l) = one("LABEL org.opencontainers.image.title=\"x\" a=") else {
        panic!()
    };
    assert_eq!(l[1].value, x(""));
}

#[test]
fn env_label_errors() {
    assert_eq!(err("ENV"), "ENV requires at least one argument");
    assert_eq!(err("LABEL"), "LABEL requires at least one argument");
    assert_eq!(err("ENV =x"), "ENV names can not be blank");
    assert_eq!(err("ENV --x=1 A=b"), "unknown flag: x");
    assert_eq!(err("ENV A"), "ENV must have two arguments");
}

#[test]
fn cmd_entrypoint_shell() {
    assert_eq!(
        one("CMD [\"a\"]"),
        Instruction::Cmd(CommandLine::Exec(vec!["a".into()]))
    );
    assert_eq!(
        one("CMD echo  hi"),
        Instruction::Cmd(CommandLine::Shell("echo  hi".into()))
    );
    assert_eq!(
        one("CMD"),
        Instruction::Cmd(CommandLine::Shell(String::new()))
    );
    assert_eq!(
        one("ENTRYPOINT []"),
        Instruction::Entrypoint(CommandLine::Exec(vec![]))
    );
    assert_eq!(
        one("SHELL [\"bash\", \"-eo\", \"pipefail\", \"-c\"]"),
        Instruction::Shell(vec![
            "bash".into(),
            "-eo".into(),
            "pipefail".into(),
            "-c".into()
        ])
    );
    assert_eq!(
        err("SHELL bash -c"),
        "SHELL requires the arguments to be in JSON form"
    );
    assert_eq!(err("SHELL []"), "SHELL requires at least one argument");
    assert_eq!(err("CMD --x a"), "unknown flag: x");
}

#[test]
fn single_argument_instructions() {
    assert_eq!(one("USER app:app"), Instruction::User(x("app:app")));
    assert_eq!(one("WORKDIR /a b"), Instruction::Workdir(x("/a b")));
    assert_eq!(
        one("STOPSIGNAL SIGKILL"),
        Instruction::StopSignal(x("SIGKILL"))
    );
    assert_eq!(
        one("MAINTAINER Jo <jo@x>"),
        Instruction::Maintainer("Jo <jo@x>".into())
    );
    assert_eq!(err("USER"), "USER requires exactly one argument");
    assert_eq!(err("WORKDIR"), "WORKDIR requires exactly one argument");
    assert_eq!(
        err("STOPSIGNAL"),
        "STOPSIGNAL requires exactly one argument"
    );
    assert_eq!(
        err("MAINTAINER"),
        "MAINTAINER requires exactly one argument"
    );
    assert_eq!(err("WORKDIR --x=1 /a"), "unknown flag: x");
}

#[test]
fn expose_volume_arg() {
    assert_eq!(
        one("EXPOSE 8080/udp 443 $PORT"),
        Instruction::Expose(vec![x("$PORT"), x("443"), x("8080/udp")])
    );
    assert_eq!(
        one("VOLUME [\"/a\", \"/b\"]"),
        Instruction::Volume(vec![x("/a"), x("/b")])
    );
    let Instruction::Arg(a) = one("ARG A B=2 C=\"x y\" D=") else {
        panic!()
    };
    let decls: Vec<(&str, Option<&str>)> = a
        .iter()
        .map(|d| (d.name.as_str(), d.default.as_ref().map(Expandable::as_str)))
        .collect();
    assert_eq!(
        decls,
        [
            ("A", None),
            ("B", Some("2")),
            ("C", Some("\"x y\"")),
            ("D", Some(""))
        ]
    );
    assert_eq!(err("EXPOSE"), "EXPOSE requires at least one argument");
    assert_eq!(err("VOLUME"), "VOLUME requires at least one argument");
    assert_eq!(
        err("VOLUME [\"\"]"),
        "VOLUME specified can not be an empty string"
    );
    assert_eq!(err("ARG"), "ARG requires at least one argument");
}

#[test]
fn arg_before_from_is_an_instruction() {
    let found = parse("D", "ARG V=1\nFROM x:$V\n").unwrap();
    assert!(matches!(found[0].instruction, Instruction::Arg(_)));
}

#[test]
fn healthcheck_forms() {
    let Instruction::Healthcheck(h) = one(
        "HEALTHCHECK --interval=30s --timeout=1m30s --start-period=500ms --start-interval=0 --retries=3 CMD curl -f http://localhost/",
    ) else {
        panic!()
    };
    assert_eq!(
        h,
        Healthcheck::Cmd {
            cmd: CommandLine::Shell("curl -f http://localhost/".into()),
            interval_ns: 30_000_000_000,
            timeout_ns: 90_000_000_000,
            start_period_ns: 500_000_000,
            start_interval_ns: 0,
            retries: 3,
        }
    );
    let Instruction::Healthcheck(Healthcheck::Cmd { cmd, retries, .. }) =
        one("HEALTHCHECK cmd [\"/bin/check\", \"-q\"]")
    else {
        panic!()
    };
    assert_eq!(
        cmd,
        CommandLine::Exec(vec!["/bin/check".into(), "-q".into()])
    );
    assert_eq!(retries, 0);
    assert_eq!(
        one("HEALTHCHECK none"),
        Instruction::Healthcheck(Healthcheck::None)
    );
    // BuildKit ignores flags on HEALTHCHECK NONE.
    assert_eq!(
        one("HEALTHCHECK --whatever NONE"),
        Instruction::Healthcheck(Healthcheck::None)
    );
}

#[test]
fn healthcheck_errors() {
    assert_eq!(
        err("HEALTHCHECK"),
        "HEALTHCHECK requires at least one argument"
    );
    assert_eq!(
        err("HEALTHCHECK NONE x"),
        "HEALTHCHECK NONE takes no arguments"
    );
    assert_eq!(
        err("HEALTHCHECK CMD"),
        "Missing command after HEALTHCHECK CMD"
    );
    assert_eq!(
        err("HEALTHCHECK RUN x"),
        "Unknown type \"RUN\" in HEALTHCHECK (try CMD)"
    );
    assert_eq!(
        err("HEALTHCHECK --interval=10 CMD x"),
        "time: missing unit in duration \"10\""
    );
    assert_eq!(
        err("HEALTHCHECK --timeout=1us CMD x"),
        "Interval \"timeout\" cannot be less than 1ms"
    );
    assert_eq!(
        err("HEALTHCHECK --retries=0 CMD x"),
        "--retries must be at least 1 (not 0)"
    );
    assert_eq!(
        err("HEALTHCHECK --retries=two CMD x"),
        "strconv.ParseInt: parsing \"two\": invalid syntax"
    );
    assert_eq!(
        err("HEALTHCHECK --retries=9999999999 CMD x"),
        "strconv.ParseInt: parsing \"9999999999\": value out of range"
    );
    assert_eq!(
        err("HEALTHCHECK --interval CMD x"),
        "missing a value on flag: interval"
    );
}

#[test]
fn onbuild_triggers() {
    let Instruction::OnBuild(o) = one("ONBUILD RUN echo hi") else {
        panic!()
    };
    assert_eq!(o.keyword, "RUN");
    assert_eq!(o.expression, "RUN echo hi");
    assert!(matches!(o.trigger.as_deref(), Some(Instruction::Run(_))));
    let found = parse("D", "FROM x\nonbuild   COPY <<EOF /f\nhello\nEOF\n").unwrap();
    let Instruction::OnBuild(o) = &found[1].instruction else {
        panic!()
    };
    assert_eq!(o.expression, "COPY <<EOF /f\nhello\nEOF");
    let Some(Instruction::Copy(c)) = o.trigger.as_deref() else {
        panic!()
    };
    assert_eq!(c.heredoc_sources[0].content, "hello\n");
    // An unknown trigger is only checked when a later build runs it.
    let Instruction::OnBuild(o) = one("ONBUILD FOO bar") else {
        panic!()
    };
    assert_eq!((o.keyword.as_str(), o.trigger), ("FOO", None));
}

#[test]
fn onbuild_errors() {
    assert_eq!(err("ONBUILD"), "ONBUILD requires at least one argument");
    assert_eq!(
        err("ONBUILD ONBUILD RUN x"),
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    assert_eq!(
        err("ONBUILD FROM x"),
        "FROM isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        err("ONBUILD maintainer x"),
        "MAINTAINER isn't allowed as an ONBUILD trigger"
    );
}

#[test]
fn unknown_instruction_suggests_and_points_at_the_keyword() {
    let source = "FROM x\n  FORM y\n";
    let e = parse("app/Dockerfile", source).unwrap_err();
    assert_eq!((e.location.line, e.location.column), (2, 3));
    assert_eq!(
        e.to_string(),
        "app/Dockerfile:2:3: unknown instruction: FORM (did you mean FROM?)\n   2 |   FORM y\n         ^"
    );
    assert_eq!(err("BLAH x"), "unknown instruction: BLAH");
}

#[test]
fn flag_errors_point_at_the_flag() {
    let e = parse("D", "FROM x\nCOPY --link --form=a b c\n").unwrap_err();
    assert_eq!((e.location.line, e.location.column), (2, 13));
    assert_eq!(e.message, "unknown flag: form (did you mean from?)");
    // A bad mount points at its value.
    let e = parse("D", "FROM x\nRUN --mount=type=cache,sharing=x \\\n  make\n").unwrap_err();
    assert_eq!(
        (e.location.line, e.location.column, e.location.end_line),
        (2, 13, 3)
    );
    assert_eq!(e.message, "unsupported sharing value \"x\"");
}

fn dump(source: &str) -> String {
    parse("Dockerfile", source)
        .unwrap()
        .iter()
        .map(|l| format!("{}-{}: {:?}\n", l.start_line, l.end_line, l.instruction))
        .collect()
}

#[test]
fn snapshot_go_multistage() {
    insta::assert_snapshot!(dump(
        r#"# syntax=docker/dockerfile:1
ARG GO_VERSION=1.22
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go mod download
COPY . .
ARG TARGETOS TARGETARCH
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app ./cmd/app

FROM gcr.io/distroless/static:nonroot
COPY --from=build --chmod=0755 /out/app /app
USER nonroot:nonroot
EXPOSE 8080
HEALTHCHECK --interval=30s CMD ["/app", "health"]
ENTRYPOINT ["/app"]
"#
    ));
}

#[test]
fn snapshot_python_with_heredocs() {
    insta::assert_snapshot!(dump(
        "FROM python:3.12-slim\nENV PYTHONDONTWRITEBYTECODE=1 \\\n    PIP_NO_CACHE_DIR=off\nLABEL maintainer=\"team@example.com\" version=\"1.0\"\nRUN --mount=type=secret,id=pip,target=/etc/pip.conf <<EOF\nset -e\npip install -r requirements.txt\nEOF\nCOPY <<-\"EOT\" /app/config.ini\n\t[app]\n\tdebug=$DEBUG\n\tEOT\nVOLUME /data\nSTOPSIGNAL SIGTERM\nONBUILD COPY . /app\nCMD python -m app\n"
    ));
}
