//! The Django example (`examples/django`) as the end-to-end tests build it:
//! its files copied per test, on a test base image without network
//! (busybox with the fake `pip` of `testdata/rootfs/fake-pip.sh`) given
//! through `--build-arg BASE=…`, with the `cacert` secret its Dockerfile
//! mounts.

use super::{Build, Env, run_ok, template, tmp_base, write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The test base image's name in the store.
pub const BASE: &str = "strata-test/busybox-pip";

/// Where the fake pip installs, and the file listing what it installed.
pub const INSTALLED: &str = "/usr/local/lib/python3/site-packages/installed.txt";

/// The example's steps that have a cache key, in order (the RUN is the
/// install).
pub const WORKDIR: &str = "WORKDIR /code";
pub const COPY_REQ: &str = "COPY requirements.txt /code/";
pub const INSTALL: &str = "RUN --mount=type=secret,id=cacert";
pub const COPY_ALL: &str = "COPY . /code/";

/// The example's directory in the source tree.
pub fn source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/django")
}

/// A store template: the busybox template plus [`BASE`], made once per
/// test binary.
fn base_template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary path");
        let name = exe.file_name().and_then(|n| n.to_str()).unwrap_or("e2e");
        let dir = tmp_base().join(format!("e2e-template-{name}-django"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("template dir");
        let store = dir.join("store");
        run_ok(Command::new("cp").arg("-a").arg(template()).arg(&store));
        let ctx = dir.join("base");
        let pip = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/rootfs/fake-pip.sh");
        std::fs::create_dir_all(&ctx).expect("base dir");
        std::fs::copy(&pip, ctx.join("pip")).expect("copying the fake pip");
        write(
            &ctx.join("Dockerfile"),
            "FROM busybox\nCOPY --chmod=0755 pip /usr/local/bin/pip\n",
        );
        run_ok(
            Command::new(super::STRATA)
                .arg("--root")
                .arg(&store)
                .args(["build", "--progress=plain", "-t", BASE])
                .arg(&ctx),
        );
        store
    })
}

/// A fresh store holding `busybox` and [`BASE`].
pub fn env() -> Env {
    Env::from_template(base_template())
}

/// Copies the example into the test's directory `name` (new inodes and
/// times, as a fresh checkout) and returns it.
pub fn copy(env: &Env, name: &str) -> PathBuf {
    let dir = env.path(name);
    std::fs::create_dir_all(&dir).expect("example dir");
    run_ok(
        Command::new("cp")
            .arg("-r")
            .arg(source().join("."))
            .arg(&dir),
    );
    dir
}

/// The arguments every build of the example gets: the base and the
/// `cacert` secret from `cacert` (a file).
pub fn args(cacert: &Path) -> Vec<String> {
    vec![
        "--build-arg".into(),
        format!("BASE={BASE}"),
        "--secret".into(),
        format!("id=cacert,src={}", cacert.display()),
    ]
}

/// A CA bundle for the `cacert` secret (not a real one: the fake pip
/// needs none).
pub fn cacert(env: &Env) -> PathBuf {
    let file = env.path("cacert.pem");
    write(&file, "not a real CA bundle\n");
    file
}

/// `strata build` of an example copy with [`args`] and `extra` arguments.
pub fn build(env: &Env, dir: &Path, extra: &[&str]) -> Build {
    let mut all = args(&cacert(env));
    all.extend(extra.iter().map(|a| a.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    env.build(dir, &all)
}
