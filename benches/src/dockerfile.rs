//! A generated Dockerfile of a given number of instructions, in the style
//! of a large real one: several stages, build args and environment used in
//! expansions, RUN with cache mounts and long continuation lines, COPY from
//! the context and from earlier stages.

use std::fmt::Write as _;

/// Instructions per stage (the last stage may be shorter).
const STAGE_LEN: usize = 50;

/// A Dockerfile of exactly `instructions` instructions (at least 3: the
/// global ARG, one FROM and the final CMD); the same text for the same
/// count.
pub fn generated(instructions: usize) -> String {
    let instructions = instructions.max(3);
    let mut lines: Vec<String> = Vec::with_capacity(instructions);
    let mut stage = 0usize;
    let mut k = 0usize;
    while lines.len() + 2 < instructions {
        let pos = lines.len() % STAGE_LEN;
        let line = if pos == 0 {
            stage = lines.len() / STAGE_LEN;
            if stage == 0 {
                "FROM ${BASE_IMAGE} AS stage0".to_string()
            } else if stage.is_multiple_of(3) {
                format!("FROM --platform=$BUILDPLATFORM ${{BASE_IMAGE}} AS stage{stage}")
            } else {
                format!("FROM stage{} AS stage{stage}", stage - 1)
            }
        } else {
            k += 1;
            step(stage, pos, k)
        };
        lines.push(line);
    }
    lines.push(r#"CMD ["/opt/app/bin/server", "--port", "8000"]"#.to_string());

    let mut out = String::from(
        "# syntax=docker/dockerfile:1\n# Generated: a large multi-stage Dockerfile for benchmarks.\n\
         ARG BASE_IMAGE=debian:bookworm-slim\n",
    );
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The instruction at position `pos` (1..STAGE_LEN) of stage `stage`.
fn step(stage: usize, pos: usize, k: usize) -> String {
    let mut s = String::new();
    // `write!` to a String cannot fail.
    let _ = match pos {
        1 => write!(s, "ARG VERSION_{stage}=1.{stage}.0"),
        2 => write!(
            s,
            "ENV APP_HOME=/opt/app{stage} PATH=/opt/app{stage}/bin:$PATH LANG=C.UTF-8"
        ),
        3 => write!(s, "WORKDIR ${{APP_HOME}}/work"),
        4 => write!(
            s,
            "LABEL org.opencontainers.image.version=\"${{VERSION_{stage}:-dev}}\" stage=\"{stage}\""
        ),
        _ => match k % 8 {
            0 => write!(
                s,
                "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \\\n    \
                 apt-get update && apt-get install -y --no-install-recommends \\\n        \
                 pkg{k}-dev libfoo{k} ca-certificates \\\n    \
                 && rm -rf /var/lib/apt/lists/*"
            ),
            1 => write!(
                s,
                "COPY --chown=1000:1000 src/p{:02}/ ./src/p{:02}/",
                k % 50,
                k % 50
            ),
            2 => write!(
                s,
                "ENV STEP_{k}=${{APP_HOME}}/step{k} MODE_{k}=${{MODE:-release}}"
            ),
            3 => write!(
                s,
                "RUN echo \"building ${{STEP_{}}} for $VERSION_{stage}\" > /tmp/step{k} \\\n    \
                 && test -n \"${{APP_HOME}}\"",
                k - 1
            ),
            4 if stage > 0 => write!(
                s,
                "COPY --from=stage{} /opt/app{}/bin/ /usr/local/bin/",
                stage - 1,
                stage - 1
            ),
            4 => write!(s, "COPY requirements-{k}.txt ./"),
            5 => write!(s, "EXPOSE {}/tcp", 8000 + k % 100),
            6 => write!(
                s,
                "RUN --mount=type=bind,source=scripts,target=/scripts \\\n    \
                 --mount=type=secret,id=token,required=false \\\n    \
                 /scripts/build.sh --jobs 2 --out ${{APP_HOME}}/bin/tool{k}"
            ),
            _ => write!(s, "USER {}", if k % 16 == 7 { "root" } else { "1000:1000" }),
        },
    };
    s
}

#[cfg(test)]
mod tests {
    use super::generated;

    #[test]
    fn same_count_same_text_and_first_and_last_instructions() {
        let a = generated(500);
        assert_eq!(a, generated(500));
        assert!(a.contains("\nFROM ${BASE_IMAGE} AS stage0\n"));
        assert!(a.ends_with("CMD [\"/opt/app/bin/server\", \"--port\", \"8000\"]\n"));
        assert!(a.contains("FROM stage7 AS stage8\n"));
        assert!(a.contains("FROM --platform=$BUILDPLATFORM ${BASE_IMAGE} AS stage9\n"));
        assert!(!generated(100).contains("stage2"));
    }
}
