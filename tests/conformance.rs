//! The conformance suite of `testdata/conformance/`: every case is a
//! Dockerfile, its context and an `expect` file of what BuildKit produces
//! (files with modes and owners, config, history, or the failure). The
//! format is described in `testdata/conformance/README.md`.
//!
//! All cases build in one store, one after the other; every case that does
//! not match is reported by name with all its mismatches, not only the first.
//!
//! With `STRATA_CONFORMANCE_DOCKER=1` the same cases are built by docker
//! (BuildKit) instead and checked against the same expectations: that is how
//! `testdata/conformance/verify-with-docker.sh` keeps the expectations
//! honest. CI never does that (it starts no dockerd).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Entry, Env, Image, apply_layer, decompress, run, run_ok};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Where the cases live.
fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/conformance")
}

/// One expectation line of an `expect` file.
#[derive(Debug)]
enum Expect {
    /// `file PATH [mode=0644] [uid=N] [gid=N] [content="…"]`
    File { path: String, attrs: Attrs },
    /// `dir PATH [mode=…] [uid=…] [gid=…]`
    Dir { path: String, attrs: Attrs },
    /// `symlink PATH TARGET`
    Symlink { path: String, target: String },
    /// `absent PATH`
    Absent(String),
    /// `config KEY JSON`: `config.config[KEY]` equals JSON (null: unset).
    Config { key: String, value: Value },
    /// `env NAME=VALUE`: the config's Env holds that entry.
    Env(String),
    /// `history layer|empty …`: the last history entries, oldest first.
    History(Vec<bool>),
}

/// Attributes a `file` or `dir` line may check.
#[derive(Debug, Default)]
struct Attrs {
    mode: Option<u32>,
    uid: Option<u64>,
    gid: Option<u64>,
    content: Option<String>,
}

/// A parsed `expect` file.
#[derive(Debug, Default)]
struct Case {
    name: String,
    dir: PathBuf,
    build_args: Vec<String>,
    target: Option<String>,
    /// (Dockerfile in the case directory, tag) built first.
    prebuild: Vec<(String, String)>,
    /// `fails CODE "fragment"`: the build must fail so.
    fails: Option<(i32, String)>,
    /// `output "fragment"`: the build's output contains it.
    output: Vec<String>,
    /// `docker-skip REASON`: docker 20.10's frontend cannot build the case.
    docker_skip: Option<String>,
    expects: Vec<Expect>,
}

/// Splits a line into words; a word in double quotes is a JSON string.
fn words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        if let Some(q) = rest
            .find('"')
            .filter(|q| !rest[..*q].contains(char::is_whitespace))
        {
            // `key="…"` or `"…"`: find the closing quote (not escaped).
            let bytes = rest.as_bytes();
            let mut end = q + 1;
            while end < bytes.len() && bytes[end] != b'"' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            if end >= bytes.len() {
                return Err(format!("unterminated quote in {line:?}"));
            }
            let text: String = serde_json::from_str(&rest[q..=end])
                .map_err(|e| format!("bad string in {line:?}: {e}"))?;
            out.push(format!("{}{text}", &rest[..q]));
            rest = rest[end + 1..].trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            out.push(rest[..end].to_string());
            rest = rest[end..].trim_start();
        }
    }
    Ok(out)
}

fn attrs(words: &[String]) -> Result<Attrs, String> {
    let mut a = Attrs::default();
    for w in words {
        let (k, v) = w
            .split_once('=')
            .ok_or(format!("expected key=value: {w}"))?;
        let num = |v: &str| v.parse::<u64>().map_err(|e| format!("{w}: {e}"));
        match k {
            "mode" => a.mode = Some(u32::from_str_radix(v, 8).map_err(|e| format!("{w}: {e}"))?),
            "uid" => a.uid = Some(num(v)?),
            "gid" => a.gid = Some(num(v)?),
            "content" => a.content = Some(v.to_string()),
            _ => return Err(format!("unknown attribute {k}")),
        }
    }
    Ok(a)
}

fn parse_case(dir: &Path) -> Result<Case, String> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(dir.join("expect")).map_err(|e| format!("expect: {e}"))?;
    let mut case = Case {
        name,
        dir: dir.to_path_buf(),
        ..Case::default()
    };
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |e: String| format!("expect:{}: {e}", n + 1);
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        // `config`, `env` and `docker-skip` take the rest of the line as is.
        let w = match verb {
            "config" | "env" | "docker-skip" => Vec::new(),
            _ => words(rest).map_err(err)?,
        };
        let one = |what: &str| -> Result<String, String> {
            match w.as_slice() {
                [x] => Ok(x.clone()),
                _ => Err(err(format!("{verb} takes one {what}"))),
            }
        };
        let e = match verb {
            "build-arg" => {
                case.build_args.push(one("NAME=VALUE")?);
                continue;
            }
            "target" => {
                case.target = Some(one("stage")?);
                continue;
            }
            "prebuild" => {
                let [file, tag] = w.as_slice() else {
                    return Err(err("prebuild FILE TAG".into()));
                };
                case.prebuild.push((file.clone(), tag.clone()));
                continue;
            }
            "fails" => {
                let [code, msg] = w.as_slice() else {
                    return Err(err("fails CODE \"message\"".into()));
                };
                let code = code.parse().map_err(|e| err(format!("{e}")))?;
                case.fails = Some((code, msg.clone()));
                continue;
            }
            "output" => {
                case.output.push(one("fragment")?);
                continue;
            }
            "docker-skip" => {
                case.docker_skip = Some(rest.to_string());
                continue;
            }
            "file" | "dir" => {
                let (path, more) = w.split_first().ok_or(err("missing path".into()))?;
                let attrs = attrs(more).map_err(err)?;
                let path = path.clone();
                if verb == "file" {
                    Expect::File { path, attrs }
                } else {
                    Expect::Dir { path, attrs }
                }
            }
            "symlink" => {
                let [path, target] = w.as_slice() else {
                    return Err(err("symlink PATH TARGET".into()));
                };
                Expect::Symlink {
                    path: path.clone(),
                    target: target.clone(),
                }
            }
            "absent" => Expect::Absent(one("path")?),
            "env" => Expect::Env(rest.to_string()),
            "config" => {
                let (key, json) = rest.split_once(' ').ok_or(err("config KEY JSON".into()))?;
                let value = serde_json::from_str(json).map_err(|e| err(format!("{e}")))?;
                Expect::Config {
                    key: key.to_string(),
                    value,
                }
            }
            "history" => Expect::History(
                w.iter()
                    .map(|x| match x.as_str() {
                        "layer" => Ok(false),
                        "empty" => Ok(true),
                        _ => Err(err(format!("history takes layer|empty, not {x}"))),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(err(format!("unknown expectation {verb}"))),
        };
        case.expects.push(e);
    }
    Ok(case)
}

/// What built the cases: strata, or docker for the verification script.
enum Builder {
    Strata(Env),
    Docker { docker: String, layout: PathBuf },
}

/// The outcome of one build: the exit code, the output and the image.
struct Outcome {
    code: Option<i32>,
    output: String,
    image: Option<Image>,
}

impl Builder {
    fn new() -> Builder {
        if std::env::var("STRATA_CONFORMANCE_DOCKER").is_ok_and(|v| v == "1") {
            let docker = std::env::var("DOCKER").unwrap_or_else(|_| "docker".into());
            let layout = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("conformance-docker");
            let _ = std::fs::remove_dir_all(&layout);
            Builder::Docker { docker, layout }
        } else {
            Builder::Strata(Env::new())
        }
    }

    /// The context of a case: its `context/` directory, or an empty one
    /// when the case has none (git keeps no empty directory).
    fn context(case: &Case) -> PathBuf {
        let ctx = case.dir.join("context");
        if ctx.is_dir() {
            return ctx;
        }
        let empty = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("conformance-empty-context");
        std::fs::create_dir_all(&empty).expect("empty context dir");
        empty
    }

    fn build(&self, case: &Case, dockerfile: &str, tag: &str, full: bool) -> Outcome {
        let file = case.dir.join(dockerfile);
        let ctx = Builder::context(case);
        let mut args: Vec<String> = vec!["-f".into(), file.display().to_string()];
        args.extend(["-t".into(), tag.into()]);
        if full {
            for a in &case.build_args {
                args.extend(["--build-arg".into(), a.clone()]);
            }
            if let Some(t) = &case.target {
                args.extend(["--target".into(), t.clone()]);
            }
        }
        match self {
            Builder::Strata(env) => {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let b = env.build(&ctx, &args);
                let image = (b.code == Some(0)).then(|| env.image(tag));
                Outcome {
                    code: b.code,
                    output: b.stderr,
                    image,
                }
            }
            Builder::Docker { docker, layout } => {
                let out = run(Command::new(docker)
                    .env("DOCKER_BUILDKIT", "1")
                    .args(["build", "--progress=plain", "--network=host"])
                    .args(&args)
                    .arg(&ctx));
                let code = out.status.code();
                let image = (code == Some(0)).then(|| docker_image(docker, layout, tag));
                Outcome {
                    code,
                    output: String::from_utf8_lossy(&out.stderr).into_owned(),
                    image,
                }
            }
        }
    }
}

/// The image `tag` read from `docker save` (the docker archive keeps
/// the config as docker wrote it: Healthcheck, Shell, OnBuild included).
fn docker_image(docker: &str, dir: &Path, tag: &str) -> Image {
    let dir = dir.join(tag);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("docker save dir");
    let tar = dir.join("image.tar");
    run_ok(Command::new(docker).args(["save", "-o"]).arg(&tar).arg(tag));
    run_ok(Command::new("tar").arg("-C").arg(&dir).arg("-xf").arg(&tar));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest.json"))
            .expect("manifest.json is JSON");
    let config_file = manifest[0]["Config"].as_str().expect("Config").to_string();
    let config = serde_json::from_slice(&std::fs::read(dir.join(&config_file)).expect("config"))
        .expect("config is JSON");
    let layer_paths = manifest[0]["Layers"]
        .as_array()
        .expect("Layers")
        .iter()
        .map(|l| dir.join(l.as_str().expect("layer path")))
        .collect();
    Image {
        manifest_digest: String::new(),
        manifest: Value::Null,
        config_digest: config_file,
        config,
        layer_paths,
    }
}

fn describe(e: Option<&Entry>) -> String {
    match e {
        None => "missing".into(),
        Some(e) => format!(
            "kind {} mode {:04o} uid {} gid {} link {:?} content {:?}",
            e.kind,
            e.mode & 0o7777,
            e.uid,
            e.gid,
            e.link,
            e.text()
        ),
    }
}

fn check_attrs(path: &str, kind: char, attrs: &Attrs, e: Option<&Entry>, bad: &mut Vec<String>) {
    let ok = e.is_some_and(|e| {
        e.kind == kind
            && attrs.mode.is_none_or(|m| e.mode & 0o7777 == m)
            && attrs.uid.is_none_or(|u| e.uid == u)
            && attrs.gid.is_none_or(|g| e.gid == g)
            && attrs.content.as_ref().is_none_or(|c| e.text() == *c)
    });
    if !ok {
        bad.push(format!(
            "{path}: expected {kind} {attrs:?}, got {}",
            describe(e)
        ));
    }
}

/// The flattened file system of an image. Every case shares the base
/// layer: it is read once (its blob path names its content).
fn flattened(image: &Image) -> BTreeMap<String, Entry> {
    static BASE: Mutex<Option<(PathBuf, BTreeMap<String, Entry>)>> = Mutex::new(None);
    let Some((first, rest)) = image.layer_paths.split_first() else {
        return BTreeMap::new();
    };
    let mut files = {
        let mut base = BASE.lock().expect("base cache");
        match base.as_ref() {
            Some((path, files)) if path == first => files.clone(),
            _ => {
                let mut files = BTreeMap::new();
                apply_layer(&mut files, &decompress(first));
                *base = Some((first.clone(), files.clone()));
                files
            }
        }
    };
    for layer in rest {
        apply_layer(&mut files, &decompress(layer));
    }
    files
}

/// Every mismatch between an image and the case's expectations.
fn check_image(case: &Case, image: &Image) -> Vec<String> {
    let files = flattened(image);
    let get = |p: &str| files.get(p.trim_start_matches('/'));
    let config = image.runtime_config();
    let mut bad = Vec::new();
    for e in &case.expects {
        match e {
            Expect::File { path, attrs } => check_attrs(path, 'f', attrs, get(path), &mut bad),
            Expect::Dir { path, attrs } => check_attrs(path, 'd', attrs, get(path), &mut bad),
            Expect::Symlink { path, target } => {
                let got = get(path);
                if !got.is_some_and(|e| e.kind == 'l' && e.link.as_deref() == Some(target)) {
                    bad.push(format!(
                        "{path}: expected symlink to {target}, got {}",
                        describe(got)
                    ));
                }
            }
            Expect::Absent(path) => {
                if let Some(e) = get(path) {
                    bad.push(format!(
                        "{path}: expected absent, got {}",
                        describe(Some(e))
                    ));
                }
            }
            Expect::Config { key, value } => {
                let got = config.get(key).unwrap_or(&Value::Null);
                // An empty list or map is the same as unset in a config.
                let empty = |v: &Value| {
                    v.is_null()
                        || v.as_array().is_some_and(Vec::is_empty)
                        || v.as_object().is_some_and(|o| o.is_empty())
                };
                if got != value && !(empty(got) && empty(value)) {
                    bad.push(format!("config {key}: expected {value}, got {got}"));
                }
            }
            Expect::Env(entry) => {
                let env = config["Env"].as_array().cloned().unwrap_or_default();
                if !env.iter().any(|v| v.as_str() == Some(entry)) {
                    bad.push(format!("Env: expected {entry:?} in {env:?}"));
                }
            }
            Expect::History(pattern) => {
                let history = image.config["history"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let got: Vec<bool> = history
                    .iter()
                    .map(|h| h["empty_layer"].as_bool().unwrap_or(false))
                    .collect();
                let tail = &got[got.len().saturating_sub(pattern.len())..];
                if tail != pattern.as_slice() {
                    let names: Vec<&Value> = history.iter().map(|h| &h["created_by"]).collect();
                    bad.push(format!(
                        "history: expected empty_layer {pattern:?} at the end, got {got:?} ({names:?})"
                    ));
                }
            }
        }
    }
    bad
}

/// Runs one case; Err with every mismatch.
fn run_case(builder: &Builder, case: &Case) -> Result<(), Vec<String>> {
    let tag = format!("conf-{}", case.name);
    for (file, pre) in &case.prebuild {
        let out = builder.build(case, file, pre, false);
        if out.code != Some(0) {
            return Err(vec![format!("prebuild {file} failed:\n{}", out.output)]);
        }
    }
    let out = builder.build(case, "Dockerfile", &tag, true);
    let missing: Vec<String> = case
        .output
        .iter()
        .filter(|f| !out.output.contains(f.as_str()))
        .map(|f| format!("expected {f:?} in the output:\n{}", out.output))
        .collect();
    if !missing.is_empty() {
        return Err(missing);
    }
    match (&case.fails, out.image) {
        (Some((code, msg)), _) => {
            let mut bad = Vec::new();
            if out.code != Some(*code) {
                bad.push(format!("expected exit code {code}, got {:?}", out.code));
            }
            if !out.output.contains(msg.as_str()) {
                bad.push(format!("expected {msg:?} in the output:\n{}", out.output));
            }
            if bad.is_empty() { Ok(()) } else { Err(bad) }
        }
        (None, None) => Err(vec![format!(
            "build failed ({:?}):\n{}",
            out.code, out.output
        )]),
        (None, Some(image)) => {
            let bad = check_image(case, &image);
            if bad.is_empty() { Ok(()) } else { Err(bad) }
        }
    }
}

#[test]
fn conformance_cases_build_as_buildkit_does() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("testdata/conformance")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("expect").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 30, "the suite lost cases: {dirs:?}");
    let only = std::env::var("CONFORMANCE_CASES").ok();
    let builder = Builder::new();
    let docker = matches!(builder, Builder::Docker { .. });
    let mut failures = Vec::new();
    let mut passed = 0;
    for dir in dirs {
        let case = match parse_case(&dir) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{}: {e}", dir.display()));
                continue;
            }
        };
        if only
            .as_ref()
            .is_some_and(|o| !o.split(',').any(|n| n == case.name))
        {
            continue;
        }
        if docker && let Some(reason) = &case.docker_skip {
            eprintln!("skip {}: {reason}", case.name);
            continue;
        }
        let start = std::time::Instant::now();
        let result = run_case(&builder, &case);
        let took = start.elapsed().as_secs_f64();
        match result {
            Ok(()) => {
                eprintln!("ok   {} ({took:.1}s)", case.name);
                passed += 1;
            }
            Err(bad) => {
                eprintln!("FAIL {}", case.name);
                failures.push(format!("{}:\n  {}", case.name, bad.join("\n  ")));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases passed, {} failed:\n{}",
        passed,
        failures.len(),
        failures.join("\n")
    );
}
