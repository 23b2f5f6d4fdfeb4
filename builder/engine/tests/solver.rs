//! The solver's cache decisions, with fake operations (no root needed).
#![allow(clippy::unwrap_used)]

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Mutex;
use strata_builder::archive::Blob;
use strata_builder::ops::{OpError, Ops, PreparedRun, SourceDigest, Stages};
use strata_builder::progress::NoProgress;
use strata_builder::solve::{SolveOptions, StepStatus, solve};
use strata_builder::state::{LayerRef, State};
use strata_cache::RecordStore;
use strata_plan::*;

fn sha(s: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(s.as_bytes())))
}

/// A context of files, and a log of what ran.
#[derive(Default)]
struct Fake {
    files: Mutex<BTreeMap<String, String>>,
    ran: Mutex<Vec<String>>,
    /// RUN commands whose output ignores their input (for early cut-off).
    constant_output: Vec<String>,
}

impl Fake {
    fn set(&self, path: &str, content: &str) {
        self.files
            .lock()
            .unwrap()
            .insert(path.into(), content.into());
    }
    fn take_ran(&self) -> Vec<String> {
        std::mem::take(&mut *self.ran.lock().unwrap())
    }
    fn layer(id: &str) -> LayerRef {
        LayerRef {
            diff_id: sha(id),
            blob: Blob {
                digest: sha(&format!("blob {id}")),
                size: 1,
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            },
        }
    }
    fn selected(&self, copy: &CopyStep) -> BTreeMap<String, String> {
        let files = self.files.lock().unwrap();
        files
            .iter()
            .filter(|(p, _)| copy.sources.paths.iter().any(|s| s == "." || s == *p))
            .map(|(p, c)| (p.clone(), sha(c)))
            .collect()
    }
}

impl Ops for Fake {
    fn base(&self, source: &ImageSource) -> Result<State, OpError> {
        match source {
            ImageSource::Image(r) if r == "base" => Ok(State::from_image(
                strata_builder::solve::scratch_config(),
                vec![Fake::layer("base")],
            )),
            other => Err(format!("no image {other:?}").into()),
        }
    }
    fn copy_inputs(&self, _: &State, copy: &CopyStep, _: &Stages) -> Result<SourceDigest, OpError> {
        let files = self.selected(copy);
        Ok(SourceDigest {
            digest: sha(&format!("{files:?}")),
            files: Some(files),
        })
    }
    fn copy(&self, _: &State, copy: &CopyStep, _: &Stages) -> Result<Option<LayerRef>, OpError> {
        self.ran
            .lock()
            .unwrap()
            .push(format!("COPY {}", copy.sources.paths.join(" ")));
        Ok(Some(Fake::layer(&format!("{:?}", self.selected(copy)))))
    }
    fn mkdir(&self, _: &State, dir: &str) -> Result<Option<LayerRef>, OpError> {
        self.ran.lock().unwrap().push(format!("WORKDIR {dir}"));
        Ok(None)
    }
    fn mount_inputs(
        &self,
        _: &State,
        run: &PreparedRun,
        _: &Stages,
    ) -> Result<BTreeMap<String, String>, OpError> {
        // A bind mount of the context exposes all of it.
        let files = self.files.lock().unwrap().clone();
        Ok(run
            .step
            .mounts
            .iter()
            .map(|m| (m.target().to_string(), sha(&format!("{files:?}"))))
            .collect())
    }
    fn run(
        &self,
        parent: &State,
        run: &PreparedRun,
        _: &Stages,
        out: &mut dyn FnMut(&str),
    ) -> Result<Option<LayerRef>, OpError> {
        let cmd = run.argv.last().cloned().unwrap_or_default();
        self.ran.lock().unwrap().push(format!("RUN {cmd}"));
        out("working");
        if cmd == "false" {
            return Err("exit code 1".into());
        }
        if self.constant_output.contains(&cmd) {
            return Ok(Some(Fake::layer(&cmd)));
        }
        Ok(Some(Fake::layer(&format!("{cmd} on {}", parent.identity))))
    }
}

fn step(line: usize, text: &str, kind: StepKind) -> Step {
    Step {
        span: Span {
            start_line: line,
            end_line: line,
        },
        text: text.into(),
        kind,
        build_args: BTreeMap::new(),
        env_over_args: Default::default(),
    }
}
fn copy(line: usize, src: &str, dest: &str) -> Step {
    step(
        line,
        &format!("COPY {src} {dest}"),
        StepKind::Copy(CopyStep {
            add: false,
            from: CopySource::Context,
            sources: CopySources {
                paths: vec![src.into()],
                heredocs: vec![],
            },
            dest: dest.into(),
            chown: None,
            chmod: None,
            link: false,
            parents: false,
            exclude: vec![],
            checksum: None,
            keep_git_dir: false,
            unpack: None,
        }),
    )
}
fn run(line: usize, cmd: &str) -> Step {
    step(
        line,
        &format!("RUN {cmd}"),
        StepKind::Run(RunStep {
            command: Command::Shell(cmd.into()),
            inline_files: vec![],
            mounts: vec![],
            network: NetworkMode::Default,
            security: SecurityMode::Sandbox,
            sandbox: Default::default(),
        }),
    )
}
fn stage(id: usize, base: ImageSource, steps: Vec<Step>) -> Stage {
    Stage {
        id: StageId(id),
        name: None,
        base,
        platform: None,
        steps,
        span: Span {
            start_line: 1,
            end_line: 1,
        },
    }
}

/// The Django-like Dockerfile: deps first, then the code.
fn django() -> Plan {
    Plan {
        stages: vec![stage(
            0,
            ImageSource::Image("base".into()),
            vec![
                step(2, "WORKDIR /code", StepKind::Workdir("/code".into())),
                copy(3, "requirements.txt", "/code/"),
                run(4, "pip install -r requirements.txt"),
                copy(5, ".", "/code/"),
                step(
                    6,
                    "CMD [\"python\"]",
                    StepKind::Config(ConfigEdit::Cmd(Command::Exec(vec!["python".into()]))),
                ),
            ],
        )],
        target: StageId(0),
        ..Default::default()
    }
}

fn opts() -> SolveOptions {
    SolveOptions {
        layer_media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        history: Some(strata_builder::history::HistoryIds {
            exact: "django".into(),
            same_dockerfile: "django-dockerfile".into(),
            context: "/django".into(),
        }),
        ..Default::default()
    }
}

fn statuses(out: &strata_builder::solve::SolveOutput) -> Vec<String> {
    out.steps
        .iter()
        .map(|s| match &s.status {
            StepStatus::Cached => "cached".to_string(),
            StepStatus::Ran(why) => format!("ran: {why}"),
            StepStatus::Config => "config".to_string(),
        })
        .collect()
}

#[test]
fn django_edit_sequence_reruns_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let records = RecordStore::open(dir.path()).unwrap();
    let ops = Fake::default();
    ops.set("requirements.txt", "django\n");
    ops.set("app.py", "print(1)\n");
    let plan = django();

    let first = solve(&plan, &ops, &records, &NoProgress, &opts()).unwrap();
    assert_eq!(ops.take_ran().len(), 4);
    assert_eq!(
        first.target.layers.len(),
        1 + 3,
        "base + 2 COPY + RUN (WORKDIR made no layer)"
    );

    // Nothing changed: every step cached, same result.
    let again = solve(&plan, &ops, &records, &NoProgress, &opts()).unwrap();
    assert!(ops.take_ran().is_empty());
    assert_eq!(
        statuses(&again),
        ["cached", "cached", "cached", "cached", "config"]
    );
    assert_eq!(again.target.identity, first.target.identity);

    // Edit code: only the last COPY runs, and the reason names the file.
    ops.set("app.py", "print(2)\n");
    let edit = solve(&plan, &ops, &records, &NoProgress, &opts()).unwrap();
    assert_eq!(ops.take_ran(), ["COPY ."]);
    assert_eq!(statuses(&edit)[3], "ran: 1 file changed: app.py");

    // Add a dependency: the install and what follows run, earlier steps hit.
    ops.set("requirements.txt", "django\nsix\n");
    let dep = solve(&plan, &ops, &records, &NoProgress, &opts()).unwrap();
    assert_eq!(
        ops.take_ran(),
        [
            "COPY requirements.txt",
            "RUN pip install -r requirements.txt",
            "COPY ."
        ]
    );
    let st = statuses(&dep);
    assert_eq!(st[0], "cached");
    assert_eq!(st[1], "ran: 1 file changed: requirements.txt");
    assert_eq!(
        st[2],
        "ran: parent changed: COPY requirements.txt /code/ (1 file changed: requirements.txt)"
    );

    // Revert: hits the earlier result.
    ops.set("requirements.txt", "django\n");
    ops.set("app.py", "print(1)\n");
    let back = solve(&plan, &ops, &records, &NoProgress, &opts()).unwrap();
    assert!(ops.take_ran().is_empty());
    assert_eq!(back.target.identity, first.target.identity);
}

#[test]
fn identical_output_cuts_off_later_misses() {
    let dir = tempfile::tempdir().unwrap();
    let records = RecordStore::open(dir.path()).unwrap();
    let ops = Fake {
        constant_output: vec!["normalize".into()],
        ..Default::default()
    };
    ops.set("in.txt", "a");
    let mut normalize = run(2, "normalize");
    if let StepKind::Run(r) = &mut normalize.kind {
        r.mounts.push(Mount::Bind(BindMount {
            target: "/src".into(),
            source: "/".into(),
            from: CopySource::Context,
            read_write: false,
        }));
    }
    let plan = Plan {
        stages: vec![stage(
            0,
            ImageSource::Image("base".into()),
            vec![normalize, run(3, "expensive")],
        )],
        target: StageId(0),
        ..Default::default()
    };
    solve(&plan, &ops, &records, &NoProgress, &opts()).unwrap();
    ops.take_ran();
    ops.set("in.txt", "b");
    let out = solve(&plan, &ops, &records, &NoProgress, &opts()).unwrap();
    assert_eq!(ops.take_ran(), ["RUN normalize"], "the expensive step hit");
    assert_eq!(statuses(&out)[0], "ran: mount /src content changed");
}

#[test]
fn no_cache_reruns_everything_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let records = RecordStore::open(dir.path()).unwrap();
    let ops = Fake::default();
    ops.set("requirements.txt", "x");
    let plan = django();
    solve(&plan, &ops, &records, &NoProgress, &opts()).unwrap();
    ops.take_ran();
    let out = solve(
        &plan,
        &ops,
        &records,
        &NoProgress,
        &SolveOptions {
            no_cache: true,
            ..opts()
        },
    )
    .unwrap();
    assert_eq!(ops.take_ran().len(), 4);
    assert_eq!(statuses(&out)[0], "ran: --no-cache");
}

#[test]
fn independent_stages_build_and_failures_name_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let records = RecordStore::open(dir.path()).unwrap();
    let ops = Fake::default();
    let plan = Plan {
        stages: vec![
            stage(
                0,
                ImageSource::Image("base".into()),
                vec![run(2, "build a")],
            ),
            stage(
                1,
                ImageSource::Image("base".into()),
                vec![run(4, "build b")],
            ),
            stage(2, ImageSource::Stage(StageId(0)), vec![run(6, "false")]),
            stage(3, ImageSource::Scratch, vec![]),
        ],
        target: StageId(2),
        ..Default::default()
    };
    let err = solve(&plan, &ops, &records, &NoProgress, &opts()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("RUN false") && msg.contains("line 6") && msg.contains("exit code 1"),
        "{msg}"
    );
    let mut ran = ops.take_ran();
    ran.sort();
    assert_eq!(
        ran,
        ["RUN build a", "RUN false"],
        "stage 1 is not needed by the target"
    );
}

#[test]
fn build_args_change_run_keys_only_where_in_scope() {
    let dir = tempfile::tempdir().unwrap();
    let records = RecordStore::open(dir.path()).unwrap();
    let ops = Fake::default();
    let with_arg = |v: &str| {
        let mut late = run(3, "make");
        late.build_args.insert("VERSION".into(), v.into());
        Plan {
            stages: vec![stage(
                0,
                ImageSource::Image("base".into()),
                vec![run(2, "setup"), late],
            )],
            target: StageId(0),
            ..Default::default()
        }
    };
    solve(&with_arg("1.0"), &ops, &records, &NoProgress, &opts()).unwrap();
    ops.take_ran();
    let out = solve(&with_arg("1.1"), &ops, &records, &NoProgress, &opts()).unwrap();
    assert_eq!(ops.take_ran(), ["RUN make"]);
    assert_eq!(statuses(&out)[1], "ran: ARG VERSION: 1.0 → 1.1");
}

#[test]
fn host_platform_matches_any_variant_only() {
    use strata_builder::solve::{host_architecture, is_host_platform};
    let host = format!("linux/{}", host_architecture());
    assert!(is_host_platform(&host));
    assert!(is_host_platform(&format!("{host}/v2")));
    assert!(!is_host_platform(&format!("{host}x")));
    assert!(!is_host_platform("linux/s390x"));
    assert!(!is_host_platform(&format!(
        "windows/{}",
        host_architecture()
    )));
}

#[test]
fn a_stage_of_another_platform_fails_before_anything_runs() {
    let fake = Fake::default();
    let dir = tempfile::tempdir().unwrap();
    let records = RecordStore::open(dir.path()).unwrap();
    let mut plan = django();
    plan.stages[0].platform = Some("linux/s390x".into());
    let err = solve(&plan, &fake, &records, &NoProgress, &opts()).unwrap_err();
    assert!(
        err.to_string().contains("FROM --platform=linux/s390x"),
        "{err}"
    );
    assert!(fake.take_ran().is_empty());
}

/// Records of another store, as `--cache-from` brings them.
#[derive(Debug)]
struct Imported(BTreeMap<strata_cache::Key, strata_cache::CacheRecord>);

impl strata_cache::ImportedCache for Imported {
    fn lookup(&self, key: &strata_cache::Key) -> Option<strata_cache::CacheRecord> {
        self.0.get(key).cloned()
    }
    fn fetch_blob(&self, _: &str) -> Result<bool, strata_cache::FetchError> {
        Ok(false)
    }
}

#[test]
fn imported_records_hit_when_the_local_records_miss() {
    let ops = Fake::default();
    ops.set("requirements.txt", "django\n");
    ops.set("app.py", "print(1)\n");
    let plan = django();
    let dir_a = tempfile::tempdir().unwrap();
    let a = RecordStore::open(dir_a.path()).unwrap();
    let first = solve(&plan, &ops, &a, &NoProgress, &opts()).unwrap();
    ops.take_ran();
    let imported = Imported(
        a.list()
            .unwrap()
            .into_iter()
            .map(|(r, _)| (r.key, r))
            .collect(),
    );

    let dir_b = tempfile::tempdir().unwrap();
    let b = RecordStore::open(dir_b.path()).unwrap();
    let with_import = SolveOptions {
        imported: Some(std::sync::Arc::new(imported)),
        ..opts()
    };
    let out = solve(&plan, &ops, &b, &NoProgress, &with_import).unwrap();
    assert!(ops.take_ran().is_empty());
    assert_eq!(
        statuses(&out),
        ["cached", "cached", "cached", "cached", "config"]
    );
    assert_eq!(out.target.layers, first.target.layers);

    // An edit still misses: the import answers only for unchanged inputs.
    ops.set("app.py", "print(2)\n");
    solve(&plan, &ops, &b, &NoProgress, &with_import).unwrap();
    assert_eq!(ops.take_ran(), ["COPY ."]);
}

fn predicted(p: &strata_builder::predict::Prediction) -> Vec<String> {
    use strata_builder::predict::Outcome;
    p.steps
        .iter()
        .map(|s| match s.outcome {
            Outcome::Hit | Outcome::PredictedHit => "cached".to_string(),
            Outcome::Miss => "ran".to_string(),
            Outcome::Config => "config".to_string(),
        })
        .collect()
}

fn ran_or_cached(out: &strata_builder::solve::SolveOutput) -> Vec<String> {
    statuses(out)
        .into_iter()
        .map(|s| {
            if s.starts_with("ran") {
                "ran".into()
            } else {
                s
            }
        })
        .collect()
}

#[test]
fn prediction_over_an_edit_sequence_matches_the_builds() {
    use strata_builder::predict::{Outcome, Predictor};
    let built = tempfile::tempdir().unwrap();
    let built = RecordStore::open(built.path()).unwrap();
    // The predictor's store stays empty: it never runs anything, so every
    // hit after the first build is one it predicted itself.
    let empty = tempfile::tempdir().unwrap();
    let empty = RecordStore::open(empty.path()).unwrap();
    let ops = Fake::default();
    let mut predictor = Predictor::new(&empty, &opts().layer_media_type);
    let plan = django();
    let edits: [(&str, &str); 5] = [
        ("requirements.txt", "django\n"),
        ("app.py", "print(2)\n"),
        ("requirements.txt", "django\nsix\n"),
        ("app.py", "print(2)\n"),         // no change
        ("requirements.txt", "django\n"), // revert: the first build's result
    ];
    ops.set("app.py", "print(1)\n");
    for (path, content) in edits {
        ops.set(path, content);
        let prediction = predictor.predict(&plan, &ops).unwrap();
        let build = solve(&plan, &ops, &built, &NoProgress, &opts()).unwrap();
        ops.take_ran();
        assert_eq!(
            predicted(&prediction),
            ran_or_cached(&build),
            "after {path}"
        );
        // A prediction against the built store: every step hits, with the
        // very keys the build used.
        let after = Predictor::new(&built, &opts().layer_media_type)
            .predict(&plan, &ops)
            .unwrap();
        assert!(after.steps.iter().all(|s| s.outcome != Outcome::Miss));
        let after_keys: Vec<_> = after.steps.iter().map(|s| s.key).collect();
        let built_keys: Vec<_> = build.steps.iter().map(|s| s.key).collect();
        assert_eq!(after_keys, built_keys);
    }
    assert!(ops.take_ran().is_empty(), "a prediction performs nothing");
}

#[test]
fn prediction_in_a_cold_store_misses_from_the_first_keyed_step() {
    use strata_builder::predict::Predictor;
    let dir = tempfile::tempdir().unwrap();
    let records = RecordStore::open(dir.path()).unwrap();
    let ops = Fake::default();
    ops.set("requirements.txt", "django\n");
    let prediction = Predictor::new(&records, &opts().layer_media_type)
        .predict(&django(), &ops)
        .unwrap();
    assert_eq!(
        predicted(&prediction),
        ["ran", "ran", "ran", "ran", "config"]
    );
    assert_eq!(prediction.counts(), (4, 0));
    assert!(ops.take_ran().is_empty());
}
