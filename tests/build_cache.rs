//! The cache's finer points on a Django-style project: what the metadata
//! says per step, which mode bits are keyed, `.dockerignore` edits. The
//! "Must hold" edit sequence runs on examples/django itself
//! (tests/example_django.rs).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, dockerfile_context, write};

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

#[test]
fn a_no_op_answered_by_the_selection_memo_still_explains_the_next_edit() {
    let env = Env::new();
    let ctx = project(&env, "app");
    // Files written in the second of a walk are racy: no memo for them.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.build(&ctx, &["-t", "app"]).ok();

    // Without the stat cache, a no-op that hashes nothing was answered by
    // the memo alone.
    let stat_caches = env.root.join("statcache-v1");
    for dir in std::fs::read_dir(&stat_caches).unwrap() {
        std::fs::remove_file(dir.unwrap().path().join("entries.bin")).unwrap();
    }
    let noop = env.build(&ctx, &["-t", "app"]).ok();
    assert_eq!(noop.cached(), STEPS.to_vec(), "{}", noop.stderr);
    assert_eq!(noop.metadata["strata.summary"]["hashedFiles"], 0);

    // Without the per-file manifests, a recalled digest comes without
    // one: the no-op computes them again.
    std::fs::remove_dir_all(env.root.join("cache-v1/manifests")).unwrap();
    let again = env.build(&ctx, &["-t", "app"]).ok();
    assert_eq!(again.cached(), STEPS.to_vec(), "{}", again.stderr);
    // The no-op wrote the manifests again, so the next miss names the file.
    write(&ctx.join("mysite/views.py"), "def index(): return 1\n");
    let edit = env.build(&ctx, &["-t", "app"]).ok();
    assert_eq!(edit.ran(), vec!["COPY . /code/".to_string()]);
    assert_eq!(
        edit.reason("COPY . /code/"),
        "1 file changed: mysite/views.py"
    );
}
