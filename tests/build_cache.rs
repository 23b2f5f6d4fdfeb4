//! The cache across rebuilds of a Django-style project: what reruns after
//! each kind of edit, and what the metadata says about it.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Build, Env, dockerfile_context, write};
use std::path::Path;

const DOCKERFILE: &str = "\
FROM busybox
ENV PYTHONUNBUFFERED=1
WORKDIR /code
COPY requirements.txt /code/
RUN cat requirements.txt > /deps && echo installed-$((40+2))
COPY . /code/
EXPOSE 8000
CMD [\"cat\", \"/code/app.py\"]
";

const STEPS: [&str; 4] = [
    "WORKDIR /code",
    "COPY requirements.txt /code/",
    "RUN cat requirements.txt > /deps && echo installed-$((40+2))",
    "COPY . /code/",
];

fn project(env: &Env, name: &str) -> std::path::PathBuf {
    dockerfile_context(
        env,
        name,
        DOCKERFILE,
        &[
            ("requirements.txt", "django==5.0\n"),
            ("manage.py", "print('manage')\n"),
            ("app.py", "print('hello')\n"),
            ("mysite/views.py", "def index(): pass\n"),
        ],
    )
}

fn all_cached(b: &Build) {
    assert_eq!(b.ran(), Vec::<String>::new(), "{}", b.stderr);
    assert_eq!(b.cached(), STEPS.to_vec());
}

fn touch_all(dir: &Path) {
    for entry in walk(dir) {
        let status = std::process::Command::new("touch")
            .args(["-d", "2030-01-01 00:00:00"])
            .arg(&entry)
            .status()
            .expect("touch");
        assert!(status.success());
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

#[test]
fn django_flow_reruns_only_what_an_edit_invalidated() {
    let env = Env::new();
    let ctx = project(&env, "app");

    // 1. Cold: every step runs, not built before.
    let cold = env.build(&ctx, &["-t", "app"]).ok();
    assert_eq!(cold.ran(), STEPS.to_vec());
    for step in STEPS {
        assert_eq!(cold.reason(step), "not built before");
    }
    let summary = &cold.metadata["strata.summary"];
    assert_eq!(summary["steps"], 4);
    assert_eq!(summary["run"], 4);
    assert_eq!(summary["cached"], 0);
    assert!(
        cold.stderr.contains("installed-42"),
        "RUN output is shown:\n{}",
        cold.stderr
    );
    let image = env.image("app");
    assert_eq!(cold.manifest_digest(), image.manifest_digest);
    assert_eq!(cold.image_id(), image.config_digest);
    assert_eq!(
        cold.metadata["containerimage.config.digest"],
        image.config_digest
    );
    assert_eq!(cold.metadata["image.name"], "app");
    assert_eq!(image.file("/deps").text(), "django==5.0\n");
    assert_eq!(
        image.file("/code/mysite/views.py").text(),
        "def index(): pass\n"
    );

    // 2. Nothing changed: all cached, the very same image.
    let again = env.build(&ctx, &["-t", "app"]).ok();
    all_cached(&again);
    assert_eq!(again.metadata["strata.summary"]["hitRate"], 100.0);
    assert_eq!(again.manifest_digest(), cold.manifest_digest());
    assert_eq!(again.image_id(), cold.image_id());
    assert!(again.stderr.contains("CACHED"), "{}", again.stderr);
    assert!(
        !again.stderr.contains("installed-42"),
        "the RUN did not run"
    );

    // 3. Edit a source file: only the last COPY runs, and says why.
    write(&ctx.join("mysite/views.py"), "def index(): return 1\n");
    let edit = env.build(&ctx, &["-t", "app"]).ok();
    assert_eq!(edit.ran(), vec!["COPY . /code/".to_string()]);
    assert!(
        edit.reason("COPY . /code/").contains("mysite/views.py"),
        "reason names the file: {:?}",
        edit.reason("COPY . /code/")
    );
    assert_ne!(edit.image_id(), cold.image_id());
    assert_eq!(
        env.image("app").file("/code/mysite/views.py").text(),
        "def index(): return 1\n"
    );

    // 4. Add a dependency: the install step and what follows rerun.
    write(
        &ctx.join("requirements.txt"),
        "django==5.0\nrequests==2.32\n",
    );
    let dep = env.build(&ctx, &["-t", "app"]).ok();
    assert_eq!(dep.cached(), vec!["WORKDIR /code".to_string()]);
    assert_eq!(dep.ran(), STEPS[1..].to_vec());
    assert!(
        dep.reason("COPY requirements.txt")
            .contains("requirements.txt")
    );
    assert!(
        dep.reason("RUN cat").contains("COPY requirements.txt"),
        "{:?}",
        dep.reason("RUN cat")
    );
    assert_eq!(
        env.image("app").file("/deps").text(),
        "django==5.0\nrequests==2.32\n"
    );
    let with_dep = dep.image_id();

    // 5. touch every file (mtime only): all cached.
    touch_all(&ctx);
    let touched = env.build(&ctx, &["-t", "app"]).ok();
    all_cached(&touched);
    assert_eq!(touched.image_id(), with_dep);

    // 6. Revert the dependency: hits the earlier results.
    write(&ctx.join("requirements.txt"), "django==5.0\n");
    let reverted = env.build(&ctx, &["-t", "app"]).ok();
    all_cached(&reverted);
    assert_eq!(reverted.image_id(), edit.image_id());

    // 7. --no-cache: everything runs.
    let fresh = env.build(&ctx, &["-t", "app", "--no-cache"]).ok();
    assert_eq!(fresh.ran(), STEPS.to_vec());
    assert!(
        fresh.reason("RUN cat").contains("no-cache"),
        "{:?}",
        fresh.reason("RUN cat")
    );
    assert!(fresh.stderr.contains("installed-42"));
    env.assert_store_clean();
}

#[test]
fn a_clone_of_the_project_elsewhere_hits_every_step() {
    let env = Env::new();
    let ctx = project(&env, "here");
    let first = env.build(&ctx, &["-t", "app"]).ok();
    assert_eq!(first.ran(), STEPS.to_vec());

    let elsewhere = env.path("somewhere/else/clone");
    std::fs::create_dir_all(elsewhere.parent().expect("parent")).expect("mkdir");
    // `cp -r` (not -a): new inodes and new mtimes, like a fresh git clone.
    common::run_ok(
        std::process::Command::new("cp")
            .arg("-r")
            .arg(&ctx)
            .arg(&elsewhere),
    );
    let clone = env.build(&elsewhere, &["-t", "clone"]).ok();
    all_cached(&clone);
    assert_eq!(clone.image_id(), first.image_id());
    assert_eq!(clone.manifest_digest(), first.manifest_digest());
}

#[test]
fn metadata_records_keys_lines_and_durations_per_step() {
    let env = Env::new();
    let ctx = project(&env, "meta");
    let b = env.build(&ctx, &["-t", "meta:v1", "-t", "meta:v2"]).ok();
    let steps = b.steps();
    // Every instruction after FROM is reported, config ones too.
    let instructions: Vec<&str> = steps
        .iter()
        .map(|s| s["instruction"].as_str().expect("instruction"))
        .collect();
    assert_eq!(
        instructions,
        [
            "ENV PYTHONUNBUFFERED=1",
            STEPS[0],
            STEPS[1],
            STEPS[2],
            STEPS[3],
            "EXPOSE 8000",
            "CMD [\"cat\", \"/code/app.py\"]",
        ]
    );
    let lines: Vec<u64> = steps
        .iter()
        .map(|s| s["line"].as_u64().expect("line"))
        .collect();
    assert_eq!(lines, [2, 3, 4, 5, 6, 7, 8]);
    for s in &steps {
        assert_eq!(s["stage"], 0);
        assert!(s["durationMs"].is_u64());
        if s["status"] == "config" {
            assert!(s["key"].is_null());
        } else {
            let key = s["key"].as_str().expect("key");
            assert_eq!(key.len(), 64, "{key}");
        }
    }
    assert_eq!(b.metadata["image.name"], "meta:v1,meta:v2");
    let desc = &b.metadata["containerimage.descriptor"];
    assert_eq!(
        desc["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(desc["digest"], b.metadata["containerimage.digest"]);
    let manifest_path = common::blob_path(&env.root, &b.manifest_digest());
    let size = std::fs::metadata(manifest_path)
        .expect("manifest blob")
        .len();
    assert_eq!(desc["size"], size);
    // Both tags name the same image.
    assert_eq!(
        env.image("meta:v1").manifest_digest,
        env.image("meta:v2").manifest_digest
    );
}

#[test]
fn mode_bits_are_keyed_only_where_they_reach_the_image() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "modes",
        "FROM busybox\nCOPY --chmod=0755 run.sh /fixed/\nCOPY run.sh /plain/\n",
        &[("run.sh", "echo hi\n")],
    );
    common::chmod(&ctx.join("run.sh"), 0o644);
    env.build(&ctx, &["-t", "m"]).ok();
    common::chmod(&ctx.join("run.sh"), 0o755);
    let b = env.build(&ctx, &["-t", "m"]).ok();
    assert_eq!(b.ran(), vec!["COPY run.sh /plain/".to_string()]);
    assert!(
        b.cached()
            .contains(&"COPY --chmod=0755 run.sh /fixed/".to_string()),
        "--chmod hides the source's mode (moby/buildkit#4374): {:?}",
        b.statuses()
    );
    let files = env.image("m").files();
    assert_eq!(files["plain/run.sh"].mode & 0o777, 0o755);
    assert_eq!(files["fixed/run.sh"].mode & 0o777, 0o755);
}

#[test]
fn dockerignore_edits_rerun_copy_only_when_the_selection_changes() {
    let env = Env::new();
    let ctx = dockerfile_context(
        &env,
        "ign",
        "FROM busybox\nCOPY . /app/\n",
        &[
            ("app.py", "app\n"),
            ("notes.md", "notes\n"),
            (".dockerignore", "*.log\n"),
        ],
    );
    env.build(&ctx, &["-t", "i"]).ok();
    write(&ctx.join("debug.log"), "ignored\n");
    assert_eq!(
        env.build(&ctx, &["-t", "i"]).ok().ran(),
        Vec::<String>::new()
    );
    write(&ctx.join(".dockerignore"), "*.log\nnotes.md\n");
    let b = env.build(&ctx, &["-t", "i"]).ok();
    assert_eq!(b.ran(), vec!["COPY . /app/".to_string()]);
    assert!(
        b.reason("COPY . /app/").contains("notes.md"),
        "{:?}",
        b.reason("COPY . /app/")
    );
    assert!(!env.image("i").files().contains_key("app/notes.md"));
}
