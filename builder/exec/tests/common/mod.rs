//! Shared helpers: a busybox root filesystem built once per test binary by
//! testdata/rootfs/host-rootfs.sh, and runs that capture output.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use strata_exec::{ExecError, Executor, ExitStatus, RunIo, RunSpec};

/// Whether the environment can run containers. Outside CI, tests return
/// early (with a note) when not root or busybox is missing; in CI they fail.
pub fn ready(tool: Option<&str>) -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut missing = Vec::new();
    if !root {
        missing.push("root".to_string());
    }
    if !Path::new("/bin/busybox").exists() && !Path::new("/usr/bin/busybox").exists() {
        missing.push("busybox-static".to_string());
    }
    if let Some(tool) = tool
        && !Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    {
        missing.push(tool.to_string());
    }
    if missing.is_empty() {
        return true;
    }
    assert!(!ci, "CI=true but missing: {missing:?}");
    eprintln!("note: skipping, missing {missing:?}");
    false
}

/// The shared read-only base layer.
pub fn base() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        // One per test binary, rebuilt on every run, never accumulating.
        let exe = std::env::current_exe().unwrap();
        let name = exe.file_stem().unwrap().to_string_lossy().into_owned();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rootfs-{name}"));
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rootfs/host-rootfs.sh");
        let _ = std::fs::remove_dir_all(&dir);
        let status = Command::new("sh").arg(&script).arg(&dir).status().unwrap();
        assert!(status.success(), "host-rootfs.sh failed");
        dir
    })
}

/// A run's scratch: upper and work dirs.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("upper")).unwrap();
        std::fs::create_dir(dir.path().join("work")).unwrap();
        Scratch { dir }
    }

    pub fn upper(&self) -> PathBuf {
        self.dir.path().join("upper")
    }

    /// A spec running `sh -c script` on the base layer.
    pub fn spec(&self, script: &str) -> RunSpec {
        let mut spec = RunSpec::new(
            vec![base().to_path_buf()],
            self.upper(),
            self.dir.path().join("work"),
            vec!["/bin/sh".into(), "-c".into(), script.into()],
        );
        spec.env = vec![("PATH".into(), "/usr/local/bin:/usr/bin:/bin:/sbin".into())];
        spec
    }

    /// Every path in the upper dir, relative, sorted.
    pub fn upper_entries(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.upper(), &self.upper(), &mut out);
        out.sort();
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
        if e.file_type().unwrap().is_dir() {
            walk(root, &p, out);
        }
    }
}

/// The output of one run.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

pub fn try_run(exec: &dyn Executor, spec: &RunSpec) -> Result<Output, ExecError> {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = exec.run(spec, &mut RunIo::new(&mut out, &mut err))?;
    Ok(Output {
        status,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    })
}

pub fn run(exec: &dyn Executor, spec: &RunSpec) -> Output {
    match try_run(exec, spec) {
        Ok(o) => o,
        Err(e) => panic!("run failed: {e}"),
    }
}

/// Runs `script` and returns its stdout, asserting success.
pub fn sh(exec: &dyn Executor, scratch: &Scratch, script: &str) -> String {
    let out = run(exec, &scratch.spec(script));
    assert!(
        out.status.success(),
        "{script}: {:?} stderr={}",
        out.status,
        out.stderr
    );
    out.stdout
}
