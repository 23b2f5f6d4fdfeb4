//! Shared helpers of the end-to-end tests of `strata build`.
//!
//! Every test binary makes one base image (`busybox:latest`, a busybox-static
//! root filesystem from `testdata/rootfs/host-rootfs.sh`) in a template store
//! the first time a test asks for it; each test then works on its own copy
//! of that store, so tests never see each other's cache.
//!
//! Images are read back by hand from the store's OCI layout (index.json,
//! manifest, config, gzip tar layers), not through strata's own code, so the
//! tests check what other tools would see.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code, missing_docs)]

pub mod django;
pub mod kill;
pub mod lazy;
pub mod registry;
pub mod servers;
pub mod ssh;

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The strata binary under test.
pub const STRATA: &str = env!("CARGO_BIN_EXE_strata");

/// True when running in CI, where a missing tool is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether `tool` is on PATH. In CI a missing tool fails the test; outside
/// CI the test prints a note and should return early.
pub fn have_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(!in_ci(), "{tool} is required in CI but is not installed");
        eprintln!("note: {tool} not installed; skipping this test");
    }
    found
}

/// Runs a command, returning its output (never panics on failure).
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command that must succeed, returning its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Where the tests' directories go (cargo's temp dir for this crate).
pub fn tmp_base() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// The template store with `busybox:latest` imported and its layer
/// already extracted, made once per test binary.
pub fn template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        assert!(
            have_tool("busybox"),
            "the end-to-end tests need busybox-static (apt-get install busybox-static)"
        );
        let exe = std::env::current_exe().expect("test binary path");
        let name = exe
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("e2e")
            .to_string();
        let dir = tmp_base().join(format!("e2e-template-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("template dir");
        let rootfs = dir.join("rootfs");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/rootfs/host-rootfs.sh");
        run_ok(Command::new("sh").arg(&script).arg(&rootfs));
        let tar = dir.join("rootfs.tar");
        run_ok(
            Command::new("tar")
                .arg("-C")
                .arg(&rootfs)
                .arg("-cf")
                .arg(&tar)
                .arg("."),
        );
        let store = dir.join("store");
        run_ok(
            Command::new(STRATA)
                .arg("--root")
                .arg(&store)
                .args(["import"])
                .arg(&tar)
                .args(["busybox", "-c", r#"CMD ["sh"]"#]),
        );
        // One build extracts the base layer, so tests start with it.
        let ctx = dir.join("prime");
        std::fs::create_dir_all(&ctx).expect("prime dir");
        std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN true\n").expect("Dockerfile");
        run_ok(
            Command::new(STRATA)
                .arg("--root")
                .arg(&store)
                .args(["build", "--progress=plain"])
                .arg(&ctx),
        );
        store
    })
}

/// Runs each listed test body (a `fn(Env)`) twice: with the built-in
/// executor (module `builtin`) and with `--runtime runc` (module `runc`).
#[macro_export]
macro_rules! for_each_executor {
    ($($name:ident),* $(,)?) => {
        mod builtin {
            $(
                #[test]
                fn $name() {
                    super::$name(super::common::Env::new());
                }
            )*
        }
        mod runc {
            $(
                #[test]
                fn $name() {
                    if let Some(env) = super::common::Env::with_runtime("runc") {
                        super::$name(env);
                    }
                }
            )*
        }
    };
}

/// One test's world: a temporary directory with its own store.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    builds: AtomicUsize,
    /// `--runtime` given to every build (None: the built-in executor).
    pub runtime: Option<String>,
}

impl Env {
    /// A fresh store holding `busybox:latest`.
    pub fn new() -> Env {
        Env::from_template(template())
    }

    /// A fresh store: a copy of the store `template`.
    pub fn from_template(template: &Path) -> Env {
        let dir = tempfile::Builder::new()
            .prefix("strata-e2e-")
            .tempdir_in(tmp_base())
            .expect("tempdir");
        let root = dir.path().join("store");
        run_ok(Command::new("cp").arg("-a").arg(template).arg(&root));
        Env {
            dir,
            root,
            builds: AtomicUsize::new(0),
            runtime: None,
        }
    }

    /// A fresh store whose builds run RUN with `strata build --runtime
    /// RUNTIME`; None (after a note) when the runtime is not installed,
    /// outside CI.
    pub fn with_runtime(runtime: &str) -> Option<Env> {
        if !have_tool(runtime) {
            return None;
        }
        let mut env = Env::new();
        env.runtime = Some(runtime.to_string());
        Some(env)
    }

    /// `strata --root ROOT build [--runtime R]`.
    pub fn strata_build(&self) -> Command {
        let mut cmd = self.strata();
        cmd.arg("build");
        if let Some(runtime) = &self.runtime {
            cmd.args(["--runtime", runtime]);
        }
        cmd
    }

    /// A path inside the test's directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes files (parents created) under the test directory's `name`
    /// and returns that directory.
    pub fn context(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.path(name);
        std::fs::create_dir_all(&dir).expect("context dir");
        for (rel, content) in files {
            write(&dir.join(rel), content);
        }
        dir
    }

    /// `strata --root ROOT ARGS…`.
    pub fn strata(&self) -> Command {
        let mut cmd = Command::new(STRATA);
        cmd.arg("--root").arg(&self.root);
        cmd.env_remove("SOURCE_DATE_EPOCH");
        cmd
    }

    /// `strata build --progress=plain --metadata-file … --iidfile … ARGS CONTEXT`.
    pub fn build(&self, context: &Path, args: &[&str]) -> Build {
        self.build_with(context, args, |_| {})
    }

    /// Like [`Env::build`], with a chance to adjust the command.
    pub fn build_with(
        &self,
        context: &Path,
        args: &[&str],
        adjust: impl FnOnce(&mut Command),
    ) -> Build {
        let n = self.builds.fetch_add(1, Ordering::SeqCst);
        let meta = self.path(&format!("meta-{n}.json"));
        let iid = self.path(&format!("iid-{n}"));
        let mut cmd = self.strata_build();
        cmd.args(["--progress=plain", "--metadata-file"])
            .arg(&meta)
            .arg("--iidfile")
            .arg(&iid)
            .args(args)
            .arg(context);
        adjust(&mut cmd);
        let out = run(&mut cmd);
        let metadata = std::fs::read(&meta)
            .ok()
            .map(|b| serde_json::from_slice(&b).expect("metadata is JSON"))
            .unwrap_or(Value::Null);
        Build {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            metadata,
            iid: std::fs::read_to_string(&iid).ok(),
        }
    }

    /// The image tagged `name` in the store.
    pub fn image(&self, name: &str) -> Image {
        Image::load(&self.root, name)
    }

    /// `strata store check` must pass.
    pub fn assert_store_clean(&self) {
        let out = run(self.strata().args(["store", "check"]));
        assert!(
            out.status.success(),
            "store check failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A podman of the test's own (its own storage and runroot, the runc
/// runtime, no default ulimits: this VM refuses podman's defaults).
pub struct Podman {
    conf: PathBuf,
    root: PathBuf,
    runroot: tempfile::TempDir,
}

impl Podman {
    /// A podman storing under the test directory.
    pub fn new(env: &Env) -> Podman {
        let conf = env.path("containers.conf");
        write(
            &conf,
            "[containers]\ndefault_ulimits = []\n[engine]\nruntime = \"runc\"\n",
        );
        // podman refuses a runroot longer than 50 characters.
        let runroot = tempfile::Builder::new()
            .prefix("strata-pm-")
            .tempdir_in("/tmp")
            .expect("runroot");
        Podman {
            conf,
            root: env.path("podman/root"),
            runroot,
        }
    }

    /// `podman --root … ARGS`.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new("podman");
        cmd.env("CONTAINERS_CONF", &self.conf)
            .arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(self.runroot.path())
            .args(["--storage-driver", "vfs"]);
        cmd
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd().args(["rmi", "-a", "-f"]).output();
    }
}

/// Writes a file, creating its parents.
pub fn write(path: &Path, content: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("parent dir");
    }
    std::fs::write(path, content).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Sets a file's permission bits.
pub fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// What one `strata build` did.
#[derive(Debug)]
pub struct Build {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// `--metadata-file` (Null when the build failed before writing it).
    pub metadata: Value,
    /// `--iidfile`.
    pub iid: Option<String>,
}

impl Build {
    /// Panics with the output unless the build succeeded.
    pub fn ok(self) -> Build {
        assert_eq!(
            self.code,
            Some(0),
            "build failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics unless the build failed (exit status 1..).
    pub fn failed(self) -> Build {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "build should have failed ({:?}):\nstderr:\n{}",
            self.code,
            self.stderr
        );
        self
    }

    /// The metadata's per-step records.
    pub fn steps(&self) -> Vec<Value> {
        self.metadata["strata.steps"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// (instruction, status) of every step that has a cache key.
    pub fn statuses(&self) -> Vec<(String, String)> {
        self.steps()
            .iter()
            .filter(|s| s["status"] != "config")
            .map(|s| {
                (
                    s["instruction"].as_str().unwrap_or_default().to_string(),
                    s["status"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Instructions of the steps that ran.
    pub fn ran(&self) -> Vec<String> {
        self.statuses()
            .into_iter()
            .filter(|(_, s)| s == "ran")
            .map(|(i, _)| i)
            .collect()
    }

    /// Instructions of the steps that came from the cache.
    pub fn cached(&self) -> Vec<String> {
        self.statuses()
            .into_iter()
            .filter(|(_, s)| s == "cached")
            .map(|(i, _)| i)
            .collect()
    }

    /// The recorded reason of the step whose instruction starts with `prefix`.
    pub fn reason(&self, prefix: &str) -> String {
        let steps = self.steps();
        let step = steps
            .iter()
            .find(|s| {
                s["instruction"]
                    .as_str()
                    .is_some_and(|i| i.starts_with(prefix))
            })
            .unwrap_or_else(|| panic!("no step {prefix:?} in {:#}", self.metadata));
        step["reason"].as_str().unwrap_or_default().to_string()
    }

    /// The manifest digest from the metadata.
    pub fn manifest_digest(&self) -> String {
        self.metadata["containerimage.digest"]
            .as_str()
            .expect("containerimage.digest")
            .to_string()
    }

    /// The image ID (config digest) from `--iidfile`.
    pub fn image_id(&self) -> String {
        self.iid.clone().expect("iidfile written")
    }
}

/// One entry of an image's flattened file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 'f' file, 'd' directory, 'l' symlink, 'h' hard link, 'o' other.
    pub kind: char,
    /// Permission bits (with setuid/setgid/sticky).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// File content.
    pub data: Vec<u8>,
    /// Symlink or hard link target.
    pub link: Option<String>,
    /// Modification time (seconds since the epoch).
    pub mtime: u64,
}

impl Entry {
    /// The content as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// An image read from an OCI layout by hand.
#[derive(Debug)]
pub struct Image {
    pub manifest_digest: String,
    pub manifest: Value,
    pub config_digest: String,
    pub config: Value,
    /// Paths of the layer blobs, base first.
    pub layer_paths: Vec<PathBuf>,
}

/// Path of a blob in an OCI layout.
pub fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    layout.join("blobs/sha256").join(hex)
}

fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

impl Image {
    /// The manifest named `name` (or `name:latest`) in the layout's index.
    pub fn load(layout: &Path, name: &str) -> Image {
        let index = read_json(&layout.join("index.json"));
        let wanted = [name.to_string(), format!("{name}:latest")];
        let desc = index["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| {
                m["annotations"]["org.opencontainers.image.ref.name"]
                    .as_str()
                    .is_some_and(|n| wanted.iter().any(|w| w == n))
            })
            .unwrap_or_else(|| panic!("no image {name} in {}: {index:#}", layout.display()));
        let manifest_digest = desc["digest"].as_str().expect("digest").to_string();
        Image::from_manifest(layout, &manifest_digest)
    }

    /// The image of a manifest digest in a layout.
    pub fn from_manifest(layout: &Path, manifest_digest: &str) -> Image {
        let manifest = read_json(&blob_path(layout, manifest_digest));
        let config_digest = manifest["config"]["digest"]
            .as_str()
            .expect("config digest")
            .to_string();
        let config = read_json(&blob_path(layout, &config_digest));
        let layer_paths = manifest["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| blob_path(layout, l["digest"].as_str().expect("layer digest")))
            .collect();
        Image {
            manifest_digest: manifest_digest.to_string(),
            manifest,
            config_digest,
            config,
            layer_paths,
        }
    }

    /// The decompressed tar of every layer, base first.
    pub fn layer_tars(&self) -> Vec<Vec<u8>> {
        self.layer_paths.iter().map(|p| decompress(p)).collect()
    }

    /// The flattened file system: whiteouts applied, paths without a
    /// leading `/` or `./` (`etc/passwd`).
    pub fn files(&self) -> BTreeMap<String, Entry> {
        let mut files: BTreeMap<String, Entry> = BTreeMap::new();
        for tar_bytes in self.layer_tars() {
            apply_layer(&mut files, &tar_bytes);
        }
        files
    }

    /// One file of the flattened file system (panics when missing).
    pub fn file(&self, path: &str) -> Entry {
        let files = self.files();
        let key = path.trim_start_matches('/');
        files.get(key).cloned().unwrap_or_else(|| {
            let near: Vec<&String> = files
                .keys()
                .filter(|k| k.starts_with(key.split('/').next().unwrap_or("")))
                .take(40)
                .collect();
            panic!("{path} is not in the image; nearby: {near:?}")
        })
    }

    /// The config's `config` object (Env, Cmd, …).
    pub fn runtime_config(&self) -> &Value {
        &self.config["config"]
    }
}

/// Applies one uncompressed layer tar to a flattened file system (see
/// [`Image::files`]): whiteouts remove, entries replace.
pub fn apply_layer(files: &mut BTreeMap<String, Entry>, tar_bytes: &[u8]) {
    let mut archive = tar::Archive::new(tar_bytes);
    for entry in archive.entries().expect("tar entries") {
        let mut entry = entry.expect("tar entry");
        let path = entry
            .path()
            .expect("entry path")
            .to_string_lossy()
            .into_owned();
        let path = path
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        let (dir, base) = match path.rsplit_once('/') {
            Some((d, b)) => (format!("{d}/"), b.to_string()),
            None => (String::new(), path.clone()),
        };
        if base == ".wh..wh..opq" {
            files.retain(|k, _| !k.starts_with(&dir) || *k == dir.trim_end_matches('/'));
            continue;
        }
        if let Some(gone) = base.strip_prefix(".wh.") {
            let gone = format!("{dir}{gone}");
            files.retain(|k, _| *k != gone && !k.starts_with(&format!("{gone}/")));
            continue;
        }
        let header = entry.header();
        let kind = match header.entry_type() {
            tar::EntryType::Regular => 'f',
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            _ => 'o',
        };
        let mode = header.mode().expect("mode");
        let uid = header.uid().expect("uid");
        let gid = header.gid().expect("gid");
        let mtime = header.mtime().expect("mtime");
        let link = entry
            .link_name()
            .expect("link name")
            .map(|l| l.to_string_lossy().into_owned());
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("entry data");
        if kind != 'd' {
            files.retain(|k, _| !k.starts_with(&format!("{path}/")));
        }
        files.insert(
            path,
            Entry {
                kind,
                mode,
                uid,
                gid,
                data,
                link,
                mtime,
            },
        );
    }
}

/// A layer blob decompressed (gzip or zstd, several members or frames
/// allowed, or plain tar).
pub fn decompress(path: &Path) -> Vec<u8> {
    let file =
        std::fs::File::open(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut out = Vec::new();
    strata_layer::detect_reader(file)
        .and_then(|mut r| r.read_to_end(&mut out))
        .unwrap_or_else(|e| panic!("decompressing {}: {e}", path.display()));
    out
}

/// A small Dockerfile context: `Dockerfile` plus files.
pub fn dockerfile_context(
    env: &Env,
    name: &str,
    dockerfile: &str,
    files: &[(&str, &str)],
) -> PathBuf {
    let dir = env.context(name, files);
    write(&dir.join("Dockerfile"), dockerfile);
    dir
}

/// Builds `dockerfile` in a fresh context and returns the image tagged `tag`.
pub fn build_image(env: &Env, dockerfile: &str, files: &[(&str, &str)], tag: &str) -> Image {
    let ctx = dockerfile_context(env, &format!("ctx-{tag}"), dockerfile, files);
    env.build(&ctx, &["-t", tag]).ok();
    env.image(tag)
}

/// `umoci unpack` of the store's image `name` (`NAME:TAG`) into the
/// bundle `env.path("bundle")`; returns the bundle.
pub fn umoci_unpack(env: &Env, name: &str) -> PathBuf {
    let bundle = env.path("bundle");
    run_ok(
        Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:{name}", env.root.display()))
            .arg(&bundle),
    );
    bundle
}

/// The mount points under `dir` listed in /proc/self/mountinfo.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let dir = dir.to_string_lossy().into_owned();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&dir))
        .map(str::to_string)
        .collect()
}

/// Sets the modification time of `dir` and everything under it to `date`
/// (`touch -d`), changing nothing else.
pub fn touch_tree(dir: &Path, date: &str) {
    run_ok(
        Command::new("find")
            .arg(dir)
            .args(["-exec", "touch", "-h", "-d", date, "{}", "+"]),
    );
}
