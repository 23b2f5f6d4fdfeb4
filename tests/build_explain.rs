//! What the cache tells the user (issue 5): each step's CACHED or run time,
//! the summary line, and why every miss missed, in the progress, in
//! `--metadata-file` and, with `--explain`, in full at the end.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Build, Env, dockerfile_context, write};

const DOCKERFILE: &str = "\
FROM busybox
ARG VERSION=1.0
ENV MODE=dev
WORKDIR /code
COPY requirements.txt /code/
RUN cat requirements.txt > /deps && echo \"$VERSION $MODE\" > /version
COPY . /code/
CMD [\"cat\", \"/version\"]
";

fn project(env: &Env) -> std::path::PathBuf {
    dockerfile_context(
        env,
        "app",
        DOCKERFILE,
        &[
            ("requirements.txt", "django==5.0\n"),
            ("manage.py", "print('manage')\n"),
            ("mysite/views.py", "def index(): pass\n"),
        ],
    )
}

/// The progress lines about steps, numbers and times replaced by `N`:
/// a step's header, `CACHED`, `cache miss: …`, `DONE Ns`; not the output
/// of RUN steps.
fn progress(b: &Build) -> Vec<String> {
    b.stderr
        .lines()
        .filter(|l| l.starts_with('#'))
        .filter(|l| {
            let rest = l.split_once(' ').map_or("", |(_, r)| r);
            let first = rest.split(' ').next().unwrap_or("");
            // `#3 0.123 text` is a line of a step's output.
            !(first.contains('.') && first.chars().all(|c| c.is_ascii_digit() || c == '.'))
        })
        .map(numbers_to_n)
        .collect()
}

/// Replaces every run of digits (with dots) by `N`.
fn numbers_to_n(line: &str) -> String {
    let mut out = String::new();
    let mut in_number = false;
    for c in line.chars() {
        if c.is_ascii_digit() || (in_number && c == '.') {
            if !in_number {
                out.push('N');
                in_number = true;
            }
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// The summary line, numbers replaced by `N`.
fn summary(b: &Build) -> String {
    let line = b
        .stderr
        .lines()
        .find(|l| l.contains(" steps: "))
        .unwrap_or_else(|| panic!("no summary in:\n{}", b.stderr));
    numbers_to_n(line)
}

/// Fails with the build's stderr unless it contains `text`.
fn says(b: &Build, text: &str) {
    assert!(b.stderr.contains(text), "no {text:?} in:\n{}", b.stderr);
}

/// (instruction, reason) of every step that ran, from the metadata.
fn reasons(b: &Build) -> Vec<(String, String)> {
    b.steps()
        .iter()
        .filter(|s| s["status"] == "ran")
        .map(|s| {
            (
                s["instruction"].as_str().unwrap_or_default().to_string(),
                s["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

const COPY_REQ: &str = "COPY requirements.txt /code/";
const RUN: &str = "RUN cat requirements.txt > /deps && echo \"$VERSION $MODE\" > /version";
const COPY_ALL: &str = "COPY . /code/";

#[test]
fn each_step_shows_cached_or_its_run_time_and_the_build_ends_with_a_summary() {
    let env = Env::new();
    let ctx = project(&env);
    let cold = env.build(&ctx, &["-t", "app"]).ok();
    assert_eq!(
        progress(&cold),
        [
            "#N [stage-N N/N] WORKDIR /code",
            "#N cache miss: not built before",
            "#N DONE Ns",
            "#N [stage-N N/N] COPY requirements.txt /code/",
            "#N cache miss: not built before",
            "#N DONE Ns",
            &format!("#N [stage-N N/N] {RUN}"),
            "#N cache miss: not built before",
            "#N DONE Ns",
            "#N [stage-N N/N] COPY . /code/",
            "#N cache miss: not built before",
            "#N DONE Ns",
        ],
        "{}",
        cold.stderr
    );
    let line = summary(&cold);
    assert!(
        line.starts_with("N steps: N cached, N run, hit rate N%; wrote N")
            && line.ends_with(" of layers; hashed N files (N bytes); Ns"),
        "{line}"
    );
    says(&cold, "4 steps: 0 cached, 4 run, hit rate 0.0%;");

    let again = env.build(&ctx, &["-t", "app"]).ok();
    assert_eq!(
        progress(&again),
        [
            "#N [stage-N N/N] WORKDIR /code",
            "#N CACHED",
            "#N [stage-N N/N] COPY requirements.txt /code/",
            "#N CACHED",
            &format!("#N [stage-N N/N] {RUN}"),
            "#N CACHED",
            "#N [stage-N N/N] COPY . /code/",
            "#N CACHED",
        ],
        "{}",
        again.stderr
    );
    says(
        &again,
        "4 steps: 4 cached, 0 run, hit rate 100.0%; wrote 0B of layers;",
    );
    // The step numbers and positions are BuildKit's: `#1 [stage-0 3/7] …`.
    says(&again, "[stage-0 3/7] WORKDIR /code\n");
}

#[test]
fn every_miss_names_the_input_that_changed_since_the_last_build() {
    let env = Env::new();
    let ctx = project(&env);
    let cold = env.build(&ctx, &["-t", "app"]).ok();
    assert_eq!(
        reasons(&cold),
        pairs(&[
            ("WORKDIR /code", "not built before"),
            (COPY_REQ, "not built before"),
            (RUN, "not built before"),
            (COPY_ALL, "not built before"),
        ])
    );

    // A source file.
    write(&ctx.join("mysite/views.py"), "def index(): return 1\n");
    let edit = env.build(&ctx, &["-t", "app"]).ok();
    assert_eq!(
        reasons(&edit),
        pairs(&[(COPY_ALL, "1 file changed: mysite/views.py")])
    );
    says(&edit, "cache miss: 1 file changed: mysite/views.py\n");

    // A dependency: the install says which earlier step changed, and why.
    write(
        &ctx.join("requirements.txt"),
        "django==5.0\nrequests==2.32\n",
    );
    let dep = env.build(&ctx, &["-t", "app"]).ok();
    let parent = "parent changed: COPY requirements.txt /code/ (1 file changed: requirements.txt)";
    assert_eq!(
        reasons(&dep),
        pairs(&[
            (COPY_REQ, "1 file changed: requirements.txt"),
            (RUN, parent),
            (COPY_ALL, parent),
        ])
    );

    // A build argument, from the first step that has it in scope.
    let arg = env
        .build(&ctx, &["-t", "app", "--build-arg", "VERSION=1.1"])
        .ok();
    assert_eq!(
        reasons(&arg),
        pairs(&[
            (RUN, "ARG VERSION: 1.0 → 1.1"),
            (
                COPY_ALL,
                "parent changed: RUN cat requirements.txt > /deps && echo \"$VERSION $MODE\" > /version (ARG VERSION: 1.0 → 1.1)"
            ),
        ])
    );
    assert_eq!(env.image("app").file("/version").text(), "1.1 dev\n");

    // Files added and removed.
    std::fs::remove_file(ctx.join("manage.py")).expect("rm");
    write(&ctx.join("mysite/urls.py"), "urls = []\n");
    let files = env
        .build(&ctx, &["-t", "app", "--build-arg", "VERSION=1.1"])
        .ok();
    assert_eq!(
        reasons(&files),
        pairs(&[(
            COPY_ALL,
            "1 file added: mysite/urls.py; 1 file removed: manage.py"
        )])
    );

    // A configuration step before the first step that ran.
    let dockerfile = DOCKERFILE.replace("ENV MODE=dev", "ENV MODE=prod");
    write(&ctx.join("Dockerfile"), &dockerfile);
    let config = env
        .build(&ctx, &["-t", "app", "--build-arg", "VERSION=1.1"])
        .ok();
    let env_changed = "parent changed: ENV MODE=prod; was: ENV MODE=dev";
    let after = "parent changed: WORKDIR /code (parent changed: ENV MODE=prod; was: ENV MODE=dev)";
    assert_eq!(
        reasons(&config),
        pairs(&[
            ("WORKDIR /code", env_changed),
            (COPY_REQ, after),
            (RUN, after),
            (COPY_ALL, after),
        ])
    );

    // --no-cache.
    let fresh = env
        .build(
            &ctx,
            &["-t", "app", "--build-arg", "VERSION=1.1", "--no-cache"],
        )
        .ok();
    assert_eq!(
        reasons(&fresh),
        pairs(&[
            ("WORKDIR /code", "--no-cache"),
            (COPY_REQ, "--no-cache"),
            (RUN, "--no-cache"),
            (COPY_ALL, "--no-cache"),
        ])
    );
    // The metadata gives every keyed step its key and status.
    for step in fresh.steps() {
        if step["status"] != "config" {
            assert_eq!(step["key"].as_str().expect("key").len(), 64);
        }
    }
}

#[test]
fn a_new_base_image_and_new_mount_content_are_named() {
    let env = Env::new();
    let base = dockerfile_context(
        &env,
        "base",
        "FROM busybox\nRUN echo v2 > /base-version\n",
        &[],
    );
    env.build(&base, &["-t", "base2"]).ok();
    let ctx = dockerfile_context(
        &env,
        "app",
        "ARG BASE=busybox\nFROM $BASE\nRUN --mount=type=bind,source=data,target=/data cat /data/x > /x\n",
        &[("data/x", "1\n")],
    );
    env.build(&ctx, &["-t", "app"]).ok();
    write(&ctx.join("data/x"), "2\n");
    let mount = env.build(&ctx, &["-t", "app"]).ok();
    let run = "RUN --mount=type=bind,source=data,target=/data cat /data/x > /x";
    assert_eq!(
        reasons(&mount),
        pairs(&[(run, "mount /data content changed")])
    );

    let b = env
        .build(&ctx, &["-t", "app", "--build-arg", "BASE=base2"])
        .ok();
    let top = |name: &str| {
        let image = env.image(name);
        let ids = image.config["rootfs"]["diff_ids"]
            .as_array()
            .expect("diff_ids")
            .clone();
        let last = ids.last().and_then(|d| d.as_str()).expect("a layer");
        last[..7 + 12].to_string()
    };
    assert_eq!(
        reasons(&b),
        pairs(&[(
            run,
            &format!(
                "base changed: image busybox (top layer {}) → image base2 (top layer {})",
                top("busybox"),
                top("base2")
            )
        )])
    );
}

#[test]
fn explain_lists_every_changed_file_and_recaps_the_misses() {
    let env = Env::new();
    let ctx = project(&env);
    env.build(&ctx, &["-t", "app"]).ok();
    for name in ["a", "b", "c", "d", "e"] {
        write(&ctx.join(format!("new/{name}.py")), "x = 1\n");
    }
    // Without --explain: the first three, and no recap.
    let short = env.build(&ctx, &["-t", "app"]).ok();
    let three = "5 files added: new/a.py, new/b.py, new/c.py, and 2 more";
    assert_eq!(reasons(&short), pairs(&[(COPY_ALL, three)]));
    says(&short, &format!("cache miss: {three}\n"));
    assert!(!short.stderr.contains("cache misses"), "{}", short.stderr);

    // With --explain: every file, in the progress, the metadata and a
    // recap at the end.
    write(&ctx.join("new/a.py"), "x = 2\n");
    for name in ["a", "b", "c", "d", "e"] {
        write(&ctx.join(format!("more/{name}.py")), "y = 1\n");
    }
    let full = env.build(&ctx, &["-t", "app", "--explain"]).ok();
    let all = "1 file changed: new/a.py; 5 files added: more/a.py, more/b.py, more/c.py, more/d.py, more/e.py";
    assert_eq!(reasons(&full), pairs(&[(COPY_ALL, all)]));
    says(&full, &format!("cache miss: {all}\n"));
    says(
        &full,
        &format!("cache misses (1):\n  [stage-0 6/7] COPY . /code/: {all}\n"),
    );

    // Nothing ran: the recap says so; -q keeps stdout to the image ID.
    let quiet = env
        .build(&ctx, &["-t", "app", "-q", "--explain-misses"])
        .ok();
    says(&quiet, "cache misses: none\n");
    assert_eq!(quiet.stdout.trim(), quiet.image_id());
}

#[test]
fn no_cache_filter_reruns_the_named_stage_and_says_so() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "ms",
        "FROM busybox AS builder\nWORKDIR /src\nCOPY main.c .\nRUN cat main.c > /app.bin\n\
         FROM busybox\nCOPY --from=builder /app.bin /usr/bin/app\nCMD [\"cat\", \"/usr/bin/app\"]\n",
        &[("main.c", "int main() {}\n")],
    );
    let first = env.build(&ctx, &["-t", "ms"]).ok();
    let filtered = env
        .build(&ctx, &["-t", "ms", "--no-cache-filter", "builder"])
        .ok();
    let why = "--no-cache-filter builder";
    assert_eq!(
        reasons(&filtered),
        pairs(&[
            ("WORKDIR /src", why),
            ("COPY main.c .", why),
            ("RUN cat main.c > /app.bin", why),
        ])
    );
    // The rerun made the same file: the runtime stage still hits.
    assert_eq!(
        filtered.cached(),
        vec!["COPY --from=builder /app.bin /usr/bin/app".to_string()]
    );
    assert_eq!(filtered.image_id(), first.image_id());
    says(&filtered, &format!("cache miss: {why}\n"));
    // A stage can also be named by its index.
    let by_index = env
        .build(&ctx, &["-t", "ms", "--no-cache-filter", "1"])
        .ok();
    assert_eq!(
        reasons(&by_index),
        pairs(&[(
            "COPY --from=builder /app.bin /usr/bin/app",
            "--no-cache-filter 1"
        )])
    );
}

#[test]
fn a_terminal_keeps_each_miss_reason_under_the_finished_step() {
    let env = Env::new();
    let ctx = project(&env);
    env.build(&ctx, &["-t", "app"]).ok();
    write(&ctx.join("mysite/views.py"), "def index(): return 2\n");
    let out = common::run(
        env.strata_build()
            .args(["--progress=tty", "-t", "app"])
            .arg(&ctx),
    );
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let screen: Vec<String> = final_screen(&stderr)
        .iter()
        .filter(|l| l.starts_with(" =>") || l.starts_with("    "))
        .map(|l| numbers_to_n(l))
        .collect();
    assert_eq!(
        screen,
        [
            " => CACHED [stage-N N/N] WORKDIR /code",
            " => CACHED [stage-N N/N] COPY requirements.txt /code/",
            &format!(" => CACHED [stage-N N/N] {RUN}"),
            " => [stage-N N/N] COPY . /code/  Ns",
            "    cache miss: N file changed: mysite/views.py",
            " => naming to app done",
        ],
        "{stderr:?}"
    );
}

/// What a terminal shows at the end of `out`: each redraw moves up over
/// the lines it replaces (`ESC[nA`) and clears them (`CR ESC[J`).
fn final_screen(out: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for chunk in out.split("\r\x1b[J") {
        let (text, up) = match chunk.rfind("\x1b[") {
            Some(i) if chunk.ends_with('A') => (
                &chunk[..i],
                chunk[i + 2..chunk.len() - 1].parse().unwrap_or(0),
            ),
            _ => (chunk, 0),
        };
        lines.extend(text.split_terminator('\n').map(str::to_string));
        lines.truncate(lines.len().saturating_sub(up));
    }
    lines
}

#[test]
fn misses_are_explained_against_the_last_build_of_the_same_target() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "targets",
        "FROM busybox AS dev\nARG LEVEL=debug\nRUN echo $LEVEL > /level\n\
         FROM busybox AS prod\nARG LEVEL=info\nRUN echo $LEVEL > /level\n",
        &[],
    );
    let dev = "RUN echo $LEVEL > /level";
    env.build(&ctx, &["--target", "dev", "--build-arg", "LEVEL=trace"])
        .ok();
    // Another target in between does not hide the dev build's history.
    let prod = env.build(&ctx, &["--target", "prod"]).ok();
    assert_eq!(reasons(&prod), pairs(&[(dev, "not built before")]));
    let b = env.build(&ctx, &["--target", "dev"]).ok();
    assert_eq!(reasons(&b), pairs(&[(dev, "ARG LEVEL: trace → debug")]));
    // Another Dockerfile of the same context has its own history, shared
    // by every way of naming it.
    let other = ctx.join("other.Dockerfile");
    write(
        &other,
        "FROM busybox\nARG LEVEL=a\nRUN echo $LEVEL > /level\n",
    );
    let by_path = env.build(&ctx, &["-f", &other.display().to_string()]).ok();
    assert_eq!(reasons(&by_path), pairs(&[(dev, "not built before")]));
    let relative = env.build_with(
        &ctx,
        &["-f", "other.Dockerfile", "--build-arg", "LEVEL=b"],
        |cmd| {
            cmd.current_dir(&ctx);
        },
    );
    assert_eq!(reasons(&relative.ok()), pairs(&[(dev, "ARG LEVEL: a → b")]));
}

#[test]
fn a_stage_built_on_another_names_that_stages_first_miss() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "chain",
        "FROM busybox AS builder\nCOPY main.c /src/\nRUN cat /src/main.c > /app.bin\n\
         FROM builder AS test\nRUN cat /app.bin > /tested\n",
        &[("main.c", "one\n")],
    );
    env.build(&ctx, &["--target", "test"]).ok();
    write(&ctx.join("main.c"), "two\n");
    let b = env.build(&ctx, &["--target", "test"]).ok();
    let copy = "COPY main.c /src/ (1 file changed: main.c)";
    assert_eq!(
        reasons(&b),
        pairs(&[
            ("COPY main.c /src/", "1 file changed: main.c"),
            (
                "RUN cat /src/main.c > /app.bin",
                &format!("parent changed: {copy}")
            ),
            (
                "RUN cat /app.bin > /tested",
                &format!("base changed: stage builder: {copy}")
            ),
        ])
    );
}

/// `cp -r`: new inodes and times, as a fresh `git clone` makes.
fn clone(env: &Env, from: &std::path::Path, to: &str) -> std::path::PathBuf {
    let to = env.path(to);
    std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
    common::run_ok(
        std::process::Command::new("cp")
            .arg("-r")
            .arg(from)
            .arg(&to),
    );
    to
}

/// Regression: histories were found only by the context's absolute path,
/// so the first build of a clone said "not built before" for an edited
/// file although the same Dockerfile and target had been built.
#[test]
fn an_edit_in_a_clone_was_explained_as_not_built_before() {
    let env = Env::new();
    let here = project(&env);
    env.build(&here, &["-t", "app"]).ok();

    let there = clone(&env, &here, "elsewhere/app");
    write(
        &there.join("mysite/views.py"),
        "def index(): return 'clone'\n",
    );
    let b = env.build(&there, &["-t", "app"]).ok();
    assert_eq!(
        reasons(&b),
        pairs(&[(COPY_ALL, "1 file changed: mysite/views.py")])
    );
    // Once, naming the checkout whose build was compared.
    let note = format!(
        "no earlier build of this Dockerfile here: misses are explained against its last build in {}",
        here.display()
    );
    assert_eq!(b.stderr.matches(&note).count(), 1, "{}", b.stderr);

    // Two checkouts built in turn: each is compared with its own last
    // build, not with the other's more recent one.
    write(&here.join("manage.py"), "print('here')\n");
    let back = env.build(&here, &["-t", "app"]).ok();
    assert_eq!(
        reasons(&back),
        pairs(&[(COPY_ALL, "1 file changed: manage.py")])
    );
    assert!(
        !back.stderr.contains("misses are explained against"),
        "{}",
        back.stderr
    );
    write(&there.join("mysite/urls.py"), "urls = []\n");
    let again = env.build(&there, &["-t", "app"]).ok();
    assert_eq!(
        reasons(&again),
        pairs(&[(COPY_ALL, "1 file added: mysite/urls.py")])
    );

    // A moved directory: compared with the build before the move.
    let moved = env.path("moved/app");
    std::fs::create_dir_all(moved.parent().expect("parent")).expect("mkdir");
    std::fs::rename(&here, &moved).expect("mv");
    write(&moved.join("requirements.txt"), "django==5.1\n");
    let after_move = env.build(&moved, &["-t", "app"]).ok();
    assert_eq!(
        after_move.reason(COPY_REQ),
        "1 file changed: requirements.txt"
    );

    // Another project whose Dockerfile has the same name (and target) but
    // other instructions is not compared with this one.
    let other = dockerfile_context(
        &env,
        "other-project",
        "FROM busybox\nWORKDIR /code\nCOPY . /code/\n",
        &[("main.py", "print('other')\n")],
    );
    let unrelated = env.build(&other, &["-t", "other"]).ok();
    assert_eq!(
        reasons(&unrelated),
        pairs(&[
            ("WORKDIR /code", "not built before"),
            ("COPY . /code/", "not built before")
        ])
    );
    assert!(!unrelated.stderr.contains("misses are explained against"));
}

/// A context from stdin is unpacked into a new temp directory each time:
/// its misses are explained against the last build of the same Dockerfile
/// text (they said "not built before").
#[test]
fn a_context_from_stdin_is_compared_with_the_last_build_of_its_dockerfile() {
    let env = Env::new();
    let ctx = project(&env);
    let from_stdin = |n: usize| {
        let tar = env.path(&format!("ctx-{n}.tar"));
        common::run_ok(
            std::process::Command::new("tar")
                .arg("-C")
                .arg(&ctx)
                .arg("-cf")
                .arg(&tar)
                .arg("."),
        );
        let input = std::fs::File::open(&tar).expect("tar");
        env.build_with(std::path::Path::new("-"), &["-t", "app"], |cmd| {
            cmd.stdin(input);
        })
        .ok()
    };
    from_stdin(1);
    write(
        &ctx.join("mysite/views.py"),
        "def index(): return 'stdin'\n",
    );
    let b = from_stdin(2);
    assert_eq!(
        reasons(&b),
        pairs(&[(COPY_ALL, "1 file changed: mysite/views.py")])
    );
    assert!(
        !b.stderr.contains("misses are explained against"),
        "{}",
        b.stderr
    );
    let histories = std::fs::read_dir(env.root.join("cache-v1/history"))
        .expect("history dir")
        .count();
    write(&ctx.join("manage.py"), "print('again')\n");
    from_stdin(3);
    assert_eq!(
        std::fs::read_dir(env.root.join("cache-v1/history"))
            .expect("history dir")
            .count(),
        histories,
        "a context from stdin leaves no history per temp directory"
    );
}
