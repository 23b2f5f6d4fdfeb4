//! Tests every executor must pass; instantiated by `core_tests!(ctor, N, tool)`
//! where `ctor()` makes the executor and `N` is a sleep duration unique to
//! the test binary (to find leftover processes) and `tool` an external
//! program the executor needs (`Some("runc")`).

/// Defines the shared tests for the executor made by `$exec()`.
macro_rules! core_tests {
    ($exec:ident, $sleep:literal, $tool:expr) => {
        use common::{Scratch, run, sh};
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        use strata_exec::{ExecError, Identity, MountSpec, Network, RunIo, Security};

        #[test]
        fn stdout_and_stderr_are_captured() {
            if !common::ready($tool) {
                return;
            }
            let s = Scratch::new();
            let out = run(&$exec(), &s.spec("echo hello; echo oops >&2"));
            assert!(out.status.success());
            assert_eq!(out.stdout, "hello\n");
            assert_eq!(out.stderr, "oops\n");
        }

        #[test]
        fn exit_code_is_propagated() {
            if !common::ready($tool) {
                return;
            }
            let s = Scratch::new();
            let out = run(&$exec(), &s.spec("exit 3"));
            assert_eq!(out.status.code(), Some(3));
            assert!(!out.status.success());
        }

        #[test]
        fn env_cwd_and_user() {
            if !common::ready($tool) {
                return;
            }
            let s = Scratch::new();
            let mut spec = s.spec("echo $FOO; pwd; id -u; id -g; id -G; echo $HOME");
            spec.env.push(("FOO".into(), "bar baz".into()));
            spec.cwd = "/work/new".into();
            spec.user = Identity {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![10, 100],
            };
            let out = run(&$exec(), &spec);
            assert!(out.status.success(), "{}", out.stderr);
            assert_eq!(out.stdout, "bar baz\n/work/new\n1000\n1000\n1000 10 100\n/home/app\n");
            let md = std::fs::metadata(s.upper().join("work/new")).unwrap();
            assert_eq!((md.uid(), md.gid(), md.mode() & 0o7777), (1000, 1000, 0o755));
            assert_eq!(s.upper_entries(), ["work", "work/new"]);
        }

        #[test]
        fn root_has_only_its_primary_group() {
            if !common::ready($tool) {
                return;
            }
            let s = Scratch::new();
            assert_eq!(sh(&$exec(), &s, "id -u; id -G; echo $HOME"), "0\n0\n/root\n");
        }

        #[test]
        fn plain_root_is_used_as_is_and_mount_points_leave_no_trace() {
            if !common::ready($tool) {
                return;
            }
            let s = Scratch::new();
            let root = s.dir.path().join("plain");
            let copied = std::process::Command::new("cp")
                .arg("-a")
                .arg(common::base())
                .arg(&root)
                .status()
                .unwrap();
            assert!(copied.success());
            // No /proc and no /etc/hosts: the executor must make both.
            std::fs::remove_dir(root.join("proc")).unwrap();
            let _ = std::fs::remove_file(root.join("etc/hosts"));
            let mtime = |p: &std::path::Path| {
                let md = std::fs::symlink_metadata(p).unwrap();
                (md.mtime(), md.mtime_nsec())
            };
            let (root_before, etc_before) = (mtime(&root), mtime(&root.join("etc")));
            let mut spec = s.spec("echo x > /tmp/f && ls /proc/self >/dev/null && cat /etc/hosts");
            spec.lower_dirs = Vec::new();
            spec.upper_dir = root.clone();
            spec.plain_root = true;
            let out = run(&$exec(), &spec);
            assert!(out.status.success(), "{}", out.stderr);
            assert!(out.stdout.contains("buildkitsandbox"), "{}", out.stdout);
            assert_eq!(std::fs::read_to_string(root.join("tmp/f")).unwrap(), "x\n");
            assert!(!root.join("proc").exists());
            assert!(!root.join("etc/hosts").exists());
            assert_eq!(mtime(&root), root_before, "times of / put back");
            assert_eq!(mtime(&root.join("etc")), etc_before, "times of /etc put back");
            assert!(s.upper_entries().is_empty(), "{:?}", s.upper_entries());
        }

        #[test]
        fn writes_land_in_the_upper_dir_only() {
            if !common::ready($tool) {
                return;
            }
            let s = Scratch::new();
            sh(&$exec(), &s, "echo x > /tmp/f && rm /etc/group && mkdir /newdir");
            assert_eq!(s.upper_entries(), ["etc", "etc/group", "newdir", "tmp", "tmp/f"]);
            let wh = std::fs::symlink_metadata(s.upper().join("etc/group")).unwrap();
            assert!(wh.file_type().is_char_device() && wh.rdev() == 0, "whiteout");
            assert!(common::base().join("etc/group").exists());
            assert!(!common::base().join("tmp/f").exists());
            assert_eq!(std::fs::read_to_string(s.upper().join("tmp/f")).unwrap(), "x\n");
        }

        #[test]
        fn hosts_and_resolv_conf_leave_no_trace() {
            if !common::ready($tool) {
                return;
            }
            let s = Scratch::new();
            let mut spec = s.spec(
                "cat /etc/hosts /etc/resolv.conf; echo x >> /etc/hosts || echo ro",
            );
            spec.resolv_conf = Some(b"nameserver 192.0.2.1\n".to_vec());
            let out = run(&$exec(), &spec);
            assert!(out.status.success(), "{}", out.stderr);
            assert_eq!(
                out.stdout,
                "127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\nnameserver 192.0.2.1\nro\n"
            );
            assert!(s.upper_entries().is_empty(), "{:?}", s.upper_entries());
        }

        #[test]
        fn hostname_is_set() {
            if !common::ready($tool) {
                return;
            }
            let s = Scratch::new();
            let mut spec = s.spec("hostname; cat /proc/sys/kernel/hostname");
            spec.hostname = "strata-test".into();
            let out = run(&$exec(), &spec);
            assert_eq!(out.stdout, "strata-test\nstrata-test\n");
        }

        #[test]
        fn network_none_has_only_loopback_up() {
            if !common::ready($tool) {
                return;
            }
            let s = Scratch::new();
            let mut spec = s.spec(
                "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /sys/class/net/lo/flags",
            );
            spec.network = Network::None;
            let out = run(&$exec(), &spec);
            assert!(out.status.success(), "{}", out.stderr);
            let lines: Vec<&str> = out.stdout.lines().collect();
            assert_eq!(lines[0], "lo");
            assert_eq!(lines.len(), 2, "{}", out.stdout);
            let flags = u32::from_str_radix(lines[1].trim_start_matches("0x"), 16).unwrap();
            assert_eq!(flags & 1, 1, "lo is up");
        }

        #[test]
        fn processes_are_in_a_new_pid_namespace() {
            if !common::ready($tool) {
                return;
            }
            let s = Scratch::new();
            let out = sh(&$exec(), &s, "echo $$; ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\\n' ' '");
            let mut lines = out.lines();
            let me: u32 = lines.next().unwrap().parse().unwrap();
            assert!(me <= 2, "shell pid {me}");
            let pids: Vec<u32> = lines
                .next()
                .unwrap()
                .split_whitespace()
                .map(|p| p.parse().unwrap())
                .collect();
            assert_eq!(pids[0], 1);
            // Only the init or shell and the pipeline's processes are visible.
            assert!(pids.len() <= 6, "{pids:?}");
            assert!(!pids.contains(&std::process::id()), "{pids:?}");
        }

        #[test]
        fn capabilities_match_dockers_default_set() {
            if !common::ready($tool) {
                return;
            }
            let s = Scratch::new();
            let out = sh(&$exec(), &s, "grep -E '^(Cap|NoNewPrivs)' /proc/self/status");
            assert_eq!(
                out,
                "CapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\n\
                 CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\n\
                 NoNewPrivs:\t0\n"
            );
            let mut spec = s.spec("grep -E '^(CapEff|NoNewPrivs)' /proc/self/status");
            spec.user = Identity {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![],
            };
            spec.no_new_privs = true;
            let out = run(&$exec(), &spec);
            assert_eq!(out.stdout, "CapEff:\t0000000000000000\nNoNewPrivs:\t1\n");
        }

        #[test]
        fn insecure_keeps_every_capability() {
            if !common::ready($tool) {
                return;
            }
            let own = std::fs::read_to_string("/proc/self/status").unwrap();
            let own_bnd = own.lines().find(|l| l.starts_with("CapBnd:")).unwrap().to_string();
            let s = Scratch::new();
            let mut spec = s.spec("grep CapBnd /proc/self/status; cat /proc/kcore >/dev/null 2>&1; echo $?");
            spec.security = Security::Insecure;
            let out = run(&$exec(), &spec);
            assert!(out.stdout.starts_with(&format!("{own_bnd}\n")), "{}", out.stdout);
        }

        #[test]
        fn tmpfs_bind_and_secret_mounts() {
            if !common::ready($tool) {
                return;
            }
            let s = Scratch::new();
            let host = tempfile::tempdir().unwrap();
            let (ro, rw) = (host.path().join("ro"), host.path().join("rw"));
            std::fs::create_dir_all(&ro).unwrap();
            std::fs::create_dir_all(&rw).unwrap();
            std::fs::write(ro.join("hello"), "from host\n").unwrap();
            let mut spec = s.spec(
                "cat /mnt/ro/hello; touch /mnt/ro/x 2>/dev/null || echo ro-ok; \
                 echo y > /data/rw/y; \
                 grep ' /scratch ' /proc/mounts | cut -d' ' -f3; echo t > /scratch/t; \
                 stat -c '%a %u %g' /run/secrets/tok; cat /run/secrets/tok",
            );
            spec.mounts = vec![
                MountSpec::Bind { source: ro.clone(), target: "/mnt/ro".into(), read_only: true },
                MountSpec::Bind { source: rw.clone(), target: "/data/rw".into(), read_only: false },
                MountSpec::Tmpfs { target: "/scratch".into(), size: Some(1 << 20) },
                MountSpec::File {
                    target: "/run/secrets/tok".into(),
                    content: b"s3cret".to_vec(),
                    mode: 0o400,
                    uid: 1000,
                    gid: 1000,
                },
            ];
            let out = run(&$exec(), &spec);
            assert!(out.status.success(), "{}", out.stderr);
            assert_eq!(out.stdout, "from host\nro-ok\ntmpfs\n400 1000 1000\ns3cret");
            assert_eq!(std::fs::read_to_string(rw.join("y")).unwrap(), "y\n");
            assert!(!ro.join("x").exists());
            assert!(s.upper_entries().is_empty(), "{:?}", s.upper_entries());
        }

        #[test]
        fn cancel_kills_the_process_tree() {
            if !common::ready($tool) {
                return;
            }
            let s = Scratch::new();
            let spec = s.spec(concat!("sleep ", $sleep, " & sleep ", $sleep));
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let mut io = RunIo::new(&mut out, &mut err);
            let cancel = io.cancel.clone();
            let canceller = std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(500));
                cancel.cancel();
            });
            let start = std::time::Instant::now();
            let result = $exec().run(&spec, &mut io);
            canceller.join().unwrap();
            assert!(matches!(result, Err(ExecError::Cancelled)), "{result:?}");
            assert!(start.elapsed() < std::time::Duration::from_secs(5));
            let needle = format!("sleep\0{}\0", $sleep);
            for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
                assert!(
                    !String::from_utf8_lossy(&cmdline).contains(&needle),
                    "leftover process {:?}",
                    entry.path()
                );
            }
        }
    };
}

pub(crate) use core_tests;
