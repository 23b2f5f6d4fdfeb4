//! One store, two builds at once; and builds without RUN that give the same
//! image digest from two fresh stores.

mod common;

use common::{Env, dockerfile_context};
use std::process::Stdio;

#[test]
fn two_builds_of_different_projects_at_once_on_one_store() {
    let env = Env::new();
    let make = |name: &str, word: &str| {
        dockerfile_context(
            &env,
            name,
            &format!(
                "FROM busybox\nCOPY . /src/\nRUN sleep 1 && cat /src/word.txt > /word && echo {word} >> /word\n"
            ),
            &[("word.txt", word)],
        )
    };
    let a = make("a", "alpha");
    let b = make("b", "beta");
    let spawn = |ctx: &std::path::Path, tag: &str| {
        env.strata()
            .args(["build", "--progress=plain", "-t", tag])
            .arg(ctx)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn strata")
    };
    let first = spawn(&a, "a");
    let second = spawn(&b, "b");
    for child in [first, second] {
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(env.image("a").file("/word").text(), "alphaalpha\n");
    assert_eq!(env.image("b").file("/word").text(), "betabeta\n");
    env.assert_store_clean();
    // Both results are cached afterwards.
    assert_eq!(env.build(&a, &["-t", "a"]).ok().ran(), Vec::<String>::new());
    assert_eq!(env.build(&b, &["-t", "b"]).ok().ran(), Vec::<String>::new());
}

#[test]
fn builds_without_run_are_reproducible_across_fresh_stores() {
    let dockerfile =
        "FROM busybox\nWORKDIR /app\nCOPY . .\nENV MODE=prod\nCMD [\"cat\", \"/app/f.txt\"]\n";
    let mut digests = Vec::new();
    for _ in 0..2 {
        let env = Env::new();
        // The same context path in both stores' worlds would be a
        // coincidence; the directory names differ, the content does not.
        let ctx = dockerfile_context(&env, "ctx", dockerfile, &[("f.txt", "f\n")]);
        let when = std::process::Command::new("touch")
            .args(["-d", "2024-01-01 00:00:00"])
            .arg(ctx.join("f.txt"))
            .arg(ctx.join("Dockerfile"))
            .arg(&ctx)
            .status()
            .expect("touch");
        assert!(when.success());
        let b = env.build(&ctx, &["-t", "repro"]).ok();
        digests.push(b.manifest_digest());
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    assert_eq!(digests[0], digests[1]);
}
