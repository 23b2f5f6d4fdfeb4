//! The image configuration of the target stage, which LLB cannot carry.

use crate::LlbOptions;
use crate::error::LlbError;
use crate::paths;
use crate::reference::parse_platform;
use crate::state::DEFAULT_PATH;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use strata_plan::{
    Command, ConfigEdit, CopyStep, HealthcheckTest, ImageSource, Plan, Stage, Step, StepKind,
};

/// History comment BuildKit puts on entries made by the Dockerfile frontend.
const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

#[derive(Default)]
struct Config {
    user: String,
    env: Vec<(String, String)>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    args_escaped: bool,
    exposed: BTreeMap<String, ()>,
    volumes: BTreeMap<String, ()>,
    workdir: String,
    labels: BTreeMap<String, String>,
    stop_signal: String,
    healthcheck: Option<Value>,
    on_build: Vec<String>,
    shell: Vec<String>,
    author: String,
    history: Vec<Value>,
}

impl Config {
    fn set_env(&mut self, key: &str, value: &str) {
        match self.env.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.env.push((key.to_string(), value.to_string())),
        }
    }

    fn shell_wrap(&self, command: &Command) -> Vec<String> {
        match command {
            Command::Exec(v) => v.clone(),
            Command::Shell(s) => {
                let mut v = if self.shell.is_empty() {
                    vec!["/bin/sh".to_string(), "-c".to_string()]
                } else {
                    self.shell.clone()
                };
                v.push(s.clone());
                v
            }
        }
    }

    fn history(&mut self, created_by: String, empty_layer: bool) {
        let mut entry = Map::new();
        entry.insert("created_by".into(), Value::String(created_by));
        entry.insert("comment".into(), Value::String(HISTORY_COMMENT.into()));
        if empty_layer {
            entry.insert("empty_layer".into(), Value::Bool(true));
        }
        self.history.push(Value::Object(entry));
    }
}

/// The OCI image configuration (JSON) that the target stage produces from
/// an empty base: `ENV`, `CMD`, `ENTRYPOINT`, `LABEL`, `EXPOSE`, `VOLUME`,
/// `USER`, `WORKDIR`, `STOPSIGNAL`, `HEALTHCHECK`, `SHELL`, `ONBUILD`,
/// `MAINTAINER`, and a history entry per instruction as BuildKit writes it.
///
/// No I/O happens: the base image's own configuration is not known, so the
/// result only holds what the Dockerfile sets (plus the default `PATH` that
/// BuildKit guarantees); whoever solves the definition merges it over the
/// base image's config. `rootfs.diff_ids` is empty for the same reason.
pub fn image_config(plan: &Plan, opts: &LlbOptions) -> Result<Vec<u8>, LlbError> {
    let target = plan
        .target_stage()
        .ok_or(LlbError::MissingTarget(plan.target))?;
    // The chain of stages whose configs the target inherits, base first.
    let mut chain: Vec<&Stage> = vec![target];
    while let ImageSource::Stage(id) = chain[chain.len() - 1].base {
        let line = chain[chain.len() - 1].span.start_line;
        let base = plan
            .stage(id)
            .ok_or(LlbError::UnknownStage { stage: id, line })?;
        if chain.len() > plan.stages.len() {
            return Err(LlbError::StageNotBuilt { stage: id, line });
        }
        chain.push(base);
    }
    chain.reverse();

    let platform_str = chain
        .iter()
        .rev()
        .find_map(|s| s.platform.as_ref())
        .unwrap_or(&opts.platform);
    let line = chain.first().map_or(0, |s| s.span.start_line);
    let platform = parse_platform(platform_str).ok_or_else(|| LlbError::InvalidPlatform {
        platform: platform_str.clone(),
        line,
    })?;

    let mut cfg = Config::default();
    cfg.set_env("PATH", DEFAULT_PATH);
    for stage in &chain {
        let mut cmd_set = false;
        for step in &stage.steps {
            apply(&mut cfg, step, &mut cmd_set);
        }
    }

    let mut out = Map::new();
    out.insert("architecture".into(), json!(platform.architecture));
    out.insert("os".into(), json!(platform.os));
    if !platform.variant.is_empty() {
        out.insert("variant".into(), json!(platform.variant));
    }
    if !cfg.author.is_empty() {
        out.insert("author".into(), json!(cfg.author));
    }
    out.insert("config".into(), Value::Object(config_object(&cfg)));
    out.insert("rootfs".into(), json!({"type": "layers", "diff_ids": []}));
    out.insert("history".into(), Value::Array(cfg.history));
    let mut bytes = serde_json::to_vec_pretty(&Value::Object(out)).unwrap_or_default();
    bytes.push(b'\n');
    Ok(bytes)
}

fn config_object(cfg: &Config) -> Map<String, Value> {
    let mut c = Map::new();
    let set = |m: &BTreeMap<String, ()>| -> Value {
        Value::Object(m.keys().map(|k| (k.clone(), json!({}))).collect())
    };
    if !cfg.user.is_empty() {
        c.insert("User".into(), json!(cfg.user));
    }
    if !cfg.exposed.is_empty() {
        c.insert("ExposedPorts".into(), set(&cfg.exposed));
    }
    let env: Vec<String> = cfg.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    c.insert("Env".into(), json!(env));
    if let Some(e) = &cfg.entrypoint {
        c.insert("Entrypoint".into(), json!(e));
    }
    if let Some(cmd) = &cfg.cmd {
        c.insert("Cmd".into(), json!(cmd));
    }
    if !cfg.volumes.is_empty() {
        c.insert("Volumes".into(), set(&cfg.volumes));
    }
    if !cfg.workdir.is_empty() {
        c.insert("WorkingDir".into(), json!(cfg.workdir));
    }
    if !cfg.labels.is_empty() {
        c.insert("Labels".into(), json!(cfg.labels));
    }
    if !cfg.stop_signal.is_empty() {
        c.insert("StopSignal".into(), json!(cfg.stop_signal));
    }
    if cfg.args_escaped {
        c.insert("ArgsEscaped".into(), json!(true));
    }
    if let Some(h) = &cfg.healthcheck {
        c.insert("Healthcheck".into(), h.clone());
    }
    if !cfg.on_build.is_empty() {
        c.insert("OnBuild".into(), json!(cfg.on_build));
    }
    if !cfg.shell.is_empty() {
        c.insert("Shell".into(), json!(cfg.shell));
    }
    c
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn go_quoted(list: &[String]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|s| Value::String(s.clone()).to_string())
        .collect();
    format!("[{}]", items.join(" "))
}

fn apply(cfg: &mut Config, step: &Step, cmd_set: &mut bool) {
    match &step.kind {
        StepKind::Run(run) => {
            let args = cfg.shell_wrap(&run.command);
            let mut parts = Vec::new();
            let recorded: Vec<String> = step
                .build_args
                .iter()
                .filter(|(k, _)| !crate::exec::is_proxy_arg(k))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            if !recorded.is_empty() {
                parts.push(format!("|{}", recorded.len()));
                parts.extend(recorded);
            }
            parts.extend(args);
            cfg.history(format!("RUN {} # buildkit", parts.join(" ")), false);
        }
        StepKind::Copy(copy) => cfg.history(copy_history(copy), false),
        StepKind::Workdir(dir) => {
            let base = if cfg.workdir.is_empty() {
                "/"
            } else {
                &cfg.workdir
            };
            cfg.workdir = paths::join(base, dir);
            let created_by = format!("WORKDIR {}", cfg.workdir);
            let empty = cfg.workdir == "/";
            cfg.history(created_by, empty);
        }
        StepKind::Config(edit) => apply_edit(cfg, edit, cmd_set),
    }
}

fn copy_history(copy: &CopyStep) -> String {
    let mut s = String::from(if copy.add { "ADD" } else { "COPY" });
    if copy.parents {
        s.push_str(" --parents");
    }
    if let Some(c) = &copy.chown {
        s.push_str(&format!(" --chown={c}"));
    }
    if let Some(c) = &copy.chmod {
        s.push_str(&format!(" --chmod={c}"));
    }
    for p in &copy.sources.paths {
        s.push(' ');
        s.push_str(p);
    }
    for h in &copy.sources.heredocs {
        s.push_str(&format!(" <<{}", h.name));
    }
    s.push(' ');
    s.push_str(&copy.dest);
    s.push_str(" # buildkit");
    s
}

fn apply_edit(cfg: &mut Config, edit: &ConfigEdit, cmd_set: &mut bool) {
    let pairs = |kv: &[(String, String)]| -> String {
        kv.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match edit {
        ConfigEdit::Env(kv) => {
            for (k, v) in kv {
                cfg.set_env(k, v);
            }
            cfg.history(format!("ENV {}", pairs(kv)), true);
        }
        ConfigEdit::Label(kv) => {
            for (k, v) in kv {
                cfg.labels.insert(k.clone(), v.clone());
            }
            cfg.history(format!("LABEL {}", pairs(kv)), true);
        }
        ConfigEdit::Cmd(c) => {
            let args = cfg.shell_wrap(c);
            cfg.history(format!("CMD {}", go_quoted(&args)), true);
            cfg.cmd = Some(args);
            cfg.args_escaped = true;
            *cmd_set = true;
        }
        ConfigEdit::Entrypoint(c) => {
            let args = cfg.shell_wrap(c);
            cfg.history(format!("ENTRYPOINT {}", go_quoted(&args)), true);
            cfg.entrypoint = Some(args);
            if !*cmd_set {
                cfg.cmd = None;
            }
        }
        ConfigEdit::Expose(ports) => {
            let mut these = BTreeMap::new();
            for p in ports {
                cfg.exposed.insert(p.clone(), ());
                these.insert(p.clone(), ());
            }
            let listed: Vec<String> = these.keys().map(|p| format!("{p}:{{}}")).collect();
            cfg.history(format!("EXPOSE map[{}]", listed.join(" ")), true);
        }
        ConfigEdit::Volume(v) => {
            for p in v {
                cfg.volumes.insert(p.clone(), ());
            }
            cfg.history(format!("VOLUME [{}]", v.join(" ")), true);
        }
        ConfigEdit::User(u) => {
            cfg.user = u.clone();
            cfg.history(format!("USER {u}"), true);
        }
        ConfigEdit::StopSignal(s) => {
            cfg.stop_signal = s.clone();
            cfg.history(format!("STOPSIGNAL {s}"), true);
        }
        ConfigEdit::Healthcheck(h) => {
            let test: Vec<String> = match &h.test {
                HealthcheckTest::None => vec!["NONE".into()],
                HealthcheckTest::Exec(v) => std::iter::once("CMD".to_string())
                    .chain(v.iter().cloned())
                    .collect(),
                HealthcheckTest::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
            };
            let mut m = Map::new();
            m.insert("Test".into(), json!(test));
            for (key, ns) in [
                ("Interval", h.interval_ns),
                ("Timeout", h.timeout_ns),
                ("StartPeriod", h.start_period_ns),
                ("StartInterval", h.start_interval_ns),
            ] {
                if ns != 0 {
                    m.insert(key.into(), json!(ns));
                }
            }
            if h.retries != 0 {
                m.insert("Retries".into(), json!(h.retries));
            }
            cfg.history(format!("HEALTHCHECK {}", go_quoted(&test)), true);
            cfg.healthcheck = Some(Value::Object(m));
        }
        ConfigEdit::Shell(s) => {
            cfg.shell = s.clone();
            cfg.history(format!("SHELL [{}]", s.join(" ")), true);
        }
        ConfigEdit::OnBuild(t) => cfg.on_build.push(t.clone()),
        ConfigEdit::Maintainer(m) => {
            cfg.author = m.clone();
            cfg.history(format!("MAINTAINER {m}"), true);
        }
    }
}
