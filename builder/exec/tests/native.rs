//! The built-in namespace executor, end to end (needs root).
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
mod suite;

use strata_exec::NamespaceExecutor;

fn exec() -> NamespaceExecutor {
    NamespaceExecutor::new()
}

suite::core_tests!(exec, "1001", None);

use strata_exec::Executor as _;

#[test]
fn killed_by_signal_is_reported() {
    if !common::ready(None) {
        return;
    }
    let s = common::Scratch::new();
    let out = common::run(&exec(), &s.spec("kill -9 $$"));
    assert_eq!(out.status, strata_exec::ExitStatus::Signaled(9));
}

#[test]
fn missing_executable_is_an_exec_error() {
    if !common::ready(None) {
        return;
    }
    let s = common::Scratch::new();
    let mut spec = s.spec("");
    spec.argv = vec!["no-such-tool".into()];
    let err = common::try_run(&exec(), &spec).err().unwrap();
    assert_eq!(
        err.to_string(),
        "exec \"no-such-tool\": executable file not found in $PATH"
    );
}

#[test]
fn setup_failures_name_the_step_and_errno() {
    if !common::ready(None) {
        return;
    }
    let s = common::Scratch::new();
    let mut spec = s.spec("true");
    spec.mounts = vec![strata_exec::MountSpec::Tmpfs {
        target: "/proc/strata-nonexistent".into(),
        size: None,
    }];
    let err = common::try_run(&exec(), &spec).err().unwrap();
    assert_eq!(
        err.to_string(),
        "container setup: create mount point /proc/strata-nonexistent: No such file or directory (os error 2)"
    );
}

/// A bare image (no /etc, /proc, /dev, /sys) and mount targets behind a
/// symlink: every mount point comes from the stub layer, none is left in
/// the upper dir.
#[test]
fn mount_points_missing_from_the_image_leave_no_trace() {
    if !common::ready(None) {
        return;
    }
    let image = tempfile::tempdir().unwrap();
    let bin = image.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::copy(common::base().join("bin/busybox"), bin.join("busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", bin.join("sh")).unwrap();
    std::fs::create_dir_all(image.path().join("run")).unwrap();
    std::fs::create_dir_all(image.path().join("var")).unwrap();
    std::os::unix::fs::symlink("../run", image.path().join("var/run")).unwrap();
    let s = common::Scratch::new();
    let mut spec = s.spec(
        "/bin/busybox cat /etc/hosts >/dev/null && /bin/busybox ls /proc/self/fd >/dev/null \
         && /bin/busybox ls /var/run/sock/dir && echo ok",
    );
    spec.lower_dirs = vec![image.path().to_path_buf()];
    spec.resolv_conf = Some(b"nameserver 192.0.2.1\n".to_vec());
    spec.mounts = vec![strata_exec::MountSpec::Tmpfs {
        target: "/var/run/sock/dir".into(),
        size: None,
    }];
    let out = common::run(&exec(), &spec);
    assert_eq!(out.stdout, "ok\n", "{}", out.stderr);
    assert!(s.upper_entries().is_empty(), "{:?}", s.upper_entries());
}

/// Overlay options are limited to a page: layers are passed through short
/// relative links, so a deep stack still mounts.
#[test]
fn many_lower_layers_mount() {
    if !common::ready(None) {
        return;
    }
    let layers = tempfile::tempdir().unwrap();
    let s = common::Scratch::new();
    let mut spec = s.spec("cat /layer-0 /layer-119");
    spec.lower_dirs.clear();
    for i in 0..120 {
        let dir = layers
            .path()
            .join(format!("a-rather-long-directory-name-for-layer-number-{i}"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join(format!("layer-{i}")), format!("{i}\n")).unwrap();
        spec.lower_dirs.push(dir);
    }
    spec.lower_dirs.push(common::base().to_path_buf());
    let out = common::run(&exec(), &spec);
    assert_eq!(out.stdout, "0\n119\n", "{}", out.stderr);
}

/// The command runs as PID 2 under the init (PID 1), which reaps orphans.
#[test]
fn init_reaps_orphans_and_the_command_sees_pid_2() {
    if !common::ready(None) {
        return;
    }
    let s = common::Scratch::new();
    // An orphaned background child is reparented to the init and reaped:
    // the run still ends when the command does.
    let out = common::run(
        &exec(),
        &s.spec("(sleep 0.2 &) ; echo $$; cat /proc/1/status | grep -c '^Pid:'"),
    );
    assert_eq!(out.stdout, "2\n1\n", "{}", out.stderr);
}
