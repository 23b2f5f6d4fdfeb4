//! The image configuration, as Docker and BuildKit write it, and how config
//! edits from a plan change it.
//!
//! `oci-spec`'s `Config` follows the OCI image spec strictly and so drops
//! Docker's `Healthcheck`, `Shell` and `OnBuild`, which a Dockerfile sets and
//! every runtime reads. These types are the Docker superset of the OCI
//! configuration, and keep any field they do not know in `extra`, so a base
//! image's configuration is carried forward intact.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use strata_plan::{Command, ConfigEdit, Healthcheck, HealthcheckTest};

/// The shell used to wrap shell-form commands when neither the Dockerfile
/// nor the base image sets one.
pub const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// The `PATH` BuildKit gives a build on Linux when the image has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// An image configuration blob (`application/vnd.oci.image.config.v1+json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// When the image was created (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// `MAINTAINER`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// CPU architecture in Go's naming (`amd64`, `arm64`).
    pub architecture: String,
    /// Operating system (`linux`).
    pub os: String,
    /// CPU variant (`v8`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The runtime defaults.
    #[serde(default)]
    pub config: RuntimeConfig,
    /// The uncompressed layer digests, bottom first.
    pub rootfs: RootFs,
    /// One entry per instruction, including those without a layer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Fields this version does not know, kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `rootfs` of an image configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Uncompressed layer digests (`sha256:…`), bottom first.
    pub diff_ids: Vec<String>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".to_string(),
            diff_ids: Vec::new(),
        }
    }
}

/// One `history` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// When the step was built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The instruction that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Author of the step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// A free-form comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True when the step added no layer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// The `config` object: defaults for containers run from the image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuntimeConfig {
    /// `USER`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `EXPOSE`: `"80/tcp": {}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    /// `ENV`, as `KEY=value` strings in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// `ENTRYPOINT`. Left out when empty (`ENTRYPOINT []`), as Go's
    /// `omitempty` leaves it out of BuildKit's config.
    #[serde(skip_serializing_if = "none_or_empty")]
    pub entrypoint: Option<Vec<String>>,
    /// `CMD`, left out when empty (`CMD []`) as `ENTRYPOINT`.
    #[serde(skip_serializing_if = "none_or_empty")]
    pub cmd: Option<Vec<String>>,
    /// Docker's `ArgsEscaped`: BuildKit sets it with every `CMD` (a
    /// Windows runtime reads it; Linux ones ignore it), so a `CMD` gives
    /// the same config as BuildKit's.
    #[serde(rename = "ArgsEscaped", skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    /// `VOLUME`: `"/data": {}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Value>>,
    /// `WORKDIR`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `LABEL`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// `STOPSIGNAL`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// `HEALTHCHECK`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// `ONBUILD` triggers.
    #[serde(rename = "OnBuild", skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    /// `SHELL`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// Fields this version does not know, kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Docker's healthcheck configuration (durations in nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", …]` or `["CMD-SHELL", cmd]`.
    pub test: Vec<String>,
    /// Time between checks.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: u64,
    /// Time a check may take.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: u64,
    /// Start-up grace period.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: u64,
    /// Time between checks during the start period.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: u64,
    /// Failures before unhealthy.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub retries: u32,
}

fn none_or_empty(v: &Option<Vec<String>>) -> bool {
    v.as_ref().is_none_or(Vec::is_empty)
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

impl RuntimeConfig {
    /// The shell that wraps shell-form commands at this point.
    pub fn shell(&self) -> Vec<String> {
        match &self.shell {
            Some(shell) if !shell.is_empty() => shell.clone(),
            _ => DEFAULT_SHELL.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Turns a plan command into an argv: exec form as is, shell form
    /// appended to the shell in effect.
    pub fn wrap(&self, command: &Command) -> Vec<String> {
        match command {
            Command::Exec(argv) => argv.clone(),
            Command::Shell(line) => {
                let mut argv = self.shell();
                argv.push(line.clone());
                argv
            }
        }
    }

    /// The value of `name` in `Env`, if set.
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env.as_ref()?.iter().rev().find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
            (k == name).then_some(v)
        })
    }

    /// Sets `name=value` in `Env`, replacing an earlier value in place.
    pub fn set_env(&mut self, name: &str, value: &str) {
        let entry = format!("{name}={value}");
        let env = self.env.get_or_insert_with(Vec::new);
        match env
            .iter_mut()
            .find(|kv| kv.split_once('=').map_or(kv.as_str(), |(k, _)| k) == name)
        {
            Some(slot) => *slot = entry,
            None => env.push(entry),
        }
    }

    /// The working directory in effect (`/` when unset).
    pub fn workdir(&self) -> &str {
        match self.working_dir.as_deref() {
            Some(dir) if !dir.is_empty() => dir,
            _ => "/",
        }
    }
}

/// The configuration of a stage while its steps are applied.
///
/// Besides the image configuration it tracks what BuildKit tracks per stage:
/// whether `CMD` was set in this stage (an `ENTRYPOINT` resets a `CMD`
/// inherited from the base image, but not one set in the same stage).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageConfig {
    /// The image configuration being built.
    pub image: ImageConfig,
    /// `CMD` was set by this stage.
    pub cmd_set: bool,
}

impl StageConfig {
    /// Starts a stage from its base image's configuration.
    pub fn from_base(mut image: ImageConfig) -> Self {
        if image.config.env_var("PATH").is_none() {
            image.config.set_env("PATH", DEFAULT_PATH);
        }
        StageConfig {
            image,
            cmd_set: false,
        }
    }

    /// Applies one config-only edit.
    pub fn apply(&mut self, edit: &ConfigEdit) {
        let config = &mut self.image.config;
        match edit {
            ConfigEdit::Env(pairs) => {
                for (k, v) in pairs {
                    config.set_env(k, v);
                }
            }
            ConfigEdit::Label(pairs) => {
                let labels = config.labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in pairs {
                    labels.insert(k.clone(), v.clone());
                }
            }
            ConfigEdit::Cmd(cmd) => {
                config.cmd = Some(config.wrap(cmd));
                config.args_escaped = Some(true);
                self.cmd_set = true;
            }
            ConfigEdit::Entrypoint(cmd) => {
                config.entrypoint = Some(config.wrap(cmd));
                if !self.cmd_set {
                    config.cmd = None;
                }
            }
            ConfigEdit::Expose(ports) => {
                let map = config.exposed_ports.get_or_insert_with(BTreeMap::new);
                for port in ports {
                    map.insert(port.clone(), Value::Object(Default::default()));
                }
            }
            ConfigEdit::Volume(paths) => {
                let map = config.volumes.get_or_insert_with(BTreeMap::new);
                for path in paths {
                    map.insert(path.clone(), Value::Object(Default::default()));
                }
            }
            ConfigEdit::User(user) => config.user = Some(user.clone()),
            ConfigEdit::StopSignal(signal) => config.stop_signal = Some(signal.clone()),
            ConfigEdit::Healthcheck(check) => config.healthcheck = Some(health_config(check)),
            ConfigEdit::Shell(shell) => config.shell = Some(shell.clone()),
            ConfigEdit::OnBuild(trigger) => {
                config
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(trigger.clone());
            }
            ConfigEdit::Maintainer(author) => self.image.author = Some(author.clone()),
        }
    }

    /// Sets the working directory: a relative path is joined with the
    /// current one, and the result is cleaned. Returns the new directory.
    pub fn set_workdir(&mut self, path: &str) -> String {
        let joined = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("{}/{}", self.image.config.workdir(), path)
        };
        let dir = clean_path(&joined);
        self.image.config.working_dir = Some(dir.clone());
        dir
    }
}

fn health_config(check: &Healthcheck) -> HealthConfig {
    let test = match &check.test {
        HealthcheckTest::None => vec!["NONE".to_string()],
        HealthcheckTest::Exec(argv) => {
            let mut test = vec!["CMD".to_string()];
            test.extend(argv.iter().cloned());
            test
        }
        HealthcheckTest::Shell(line) => vec!["CMD-SHELL".to_string(), line.clone()],
    };
    HealthConfig {
        test,
        interval: check.interval_ns,
        timeout: check.timeout_ns,
        start_period: check.start_period_ns,
        start_interval: check.start_interval_ns,
        retries: check.retries,
    }
}

/// Cleans an absolute slash-separated path lexically, like Go's `path.Clean`
/// on `"/" + p`: no empty, `.` or `..` components, no trailing slash.
pub fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage() -> StageConfig {
        StageConfig::from_base(ImageConfig {
            architecture: "amd64".into(),
            os: "linux".into(),
            ..Default::default()
        })
    }

    #[test]
    fn shell_form_uses_shell_in_effect() {
        let mut s = stage();
        s.apply(&ConfigEdit::Cmd(Command::Shell("echo hi".into())));
        assert_eq!(
            s.image.config.cmd.as_deref(),
            Some(&["/bin/sh".to_string(), "-c".into(), "echo hi".into()][..])
        );
        s.apply(&ConfigEdit::Shell(vec!["/bin/bash".into(), "-xc".into()]));
        s.apply(&ConfigEdit::Cmd(Command::Shell("echo hi".into())));
        assert_eq!(
            s.image.config.cmd.as_ref().map(|c| c[0].as_str()),
            Some("/bin/bash")
        );
    }

    #[test]
    fn cmd_sets_args_escaped_as_buildkit_does() {
        let mut s = stage();
        s.apply(&ConfigEdit::Entrypoint(Command::Exec(vec!["/app".into()])));
        assert_eq!(
            s.image.config.args_escaped, None,
            "ENTRYPOINT alone sets nothing"
        );
        s.apply(&ConfigEdit::Cmd(Command::Exec(vec!["--serve".into()])));
        let json = serde_json::to_value(&s.image.config).unwrap();
        assert_eq!(json["ArgsEscaped"], true, "{json}");
    }

    /// Regression: `CMD []` wrote `"Cmd": []` where BuildKit's config has
    /// no `Cmd` (Go's `omitempty`), so `docker inspect` showed `[]`, not null.
    #[test]
    fn empty_cmd_and_entrypoint_are_left_out() {
        let mut s = stage();
        s.apply(&ConfigEdit::Cmd(Command::Exec(vec![])));
        s.apply(&ConfigEdit::Entrypoint(Command::Exec(vec![])));
        let json = serde_json::to_value(&s.image.config).unwrap();
        assert!(json.get("Cmd").is_none(), "{json}");
        assert!(json.get("Entrypoint").is_none(), "{json}");
    }

    #[test]
    fn entrypoint_resets_inherited_cmd_only() {
        let mut s = stage();
        s.image.config.cmd = Some(vec!["inherited".into()]);
        s.apply(&ConfigEdit::Entrypoint(Command::Exec(vec!["/app".into()])));
        assert_eq!(s.image.config.cmd, None);

        let mut s = stage();
        s.apply(&ConfigEdit::Cmd(Command::Exec(vec!["--help".into()])));
        s.apply(&ConfigEdit::Entrypoint(Command::Exec(vec!["/app".into()])));
        assert_eq!(s.image.config.cmd, Some(vec!["--help".to_string()]));
    }

    #[test]
    fn env_replaces_in_place_and_path_defaults() {
        let mut s = stage();
        assert_eq!(s.image.config.env_var("PATH"), Some(DEFAULT_PATH));
        s.apply(&ConfigEdit::Env(vec![
            ("A".into(), "1".into()),
            ("B".into(), "2".into()),
        ]));
        s.apply(&ConfigEdit::Env(vec![("A".into(), "3".into())]));
        assert_eq!(
            s.image.config.env.as_deref().map(|e| e[1..].to_vec()),
            Some(vec!["A=3".to_string(), "B=2".to_string()])
        );
    }

    #[test]
    fn workdir_is_relative_to_previous() {
        let mut s = stage();
        assert_eq!(s.set_workdir("a"), "/a");
        assert_eq!(s.set_workdir("b/../c/"), "/a/c");
        assert_eq!(s.set_workdir("/x/./y"), "/x/y");
    }

    #[test]
    fn healthcheck_forms() {
        let mut s = stage();
        s.apply(&ConfigEdit::Healthcheck(Healthcheck {
            test: HealthcheckTest::Shell("curl -f localhost".into()),
            interval_ns: 30_000_000_000,
            timeout_ns: 0,
            start_period_ns: 0,
            start_interval_ns: 0,
            retries: 3,
        }));
        let json = serde_json::to_value(&s.image.config.healthcheck).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 30_000_000_000u64, "Retries": 3})
        );
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let text = r#"{"architecture":"amd64","os":"linux","config":{"Env":["A=1"],"ArgsEscaped":true},"rootfs":{"type":"layers","diff_ids":[]},"os.version":"x"}"#;
        let config: ImageConfig = serde_json::from_str(text).unwrap();
        let back = serde_json::to_value(&config).unwrap();
        assert_eq!(back["config"]["ArgsEscaped"], true);
        assert_eq!(back["os.version"], "x");
    }
}
