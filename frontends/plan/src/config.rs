//! Instructions that only edit the image configuration.

use serde::{Deserialize, Serialize};

/// A command in shell form or exec (JSON) form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Shell form: the builder wraps it with the shell in effect.
    Shell(String),
    /// Exec form: used as the argv as is.
    Exec(Vec<String>),
}

/// An edit of the image configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigEdit {
    /// `ENV k=v …`, in order; later pairs override earlier ones.
    Env(Vec<(String, String)>),
    /// `LABEL k=v …`.
    Label(Vec<(String, String)>),
    /// `CMD`.
    Cmd(Command),
    /// `ENTRYPOINT`; also resets a `CMD` inherited from the base image.
    Entrypoint(Command),
    /// `EXPOSE`, normalised to `PORT/PROTO` (`80/tcp`), ranges expanded.
    Expose(Vec<String>),
    /// `VOLUME`.
    Volume(Vec<String>),
    /// `USER user[:group]`.
    User(String),
    /// `STOPSIGNAL`.
    StopSignal(String),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `SHELL`.
    Shell(Vec<String>),
    /// `ONBUILD INSTRUCTION`: the trigger text, recorded in the config.
    OnBuild(String),
    /// `MAINTAINER` (sets the config's author).
    Maintainer(String),
}

/// A `HEALTHCHECK` definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healthcheck {
    /// The test to run.
    pub test: HealthcheckTest,
    /// `--interval` in nanoseconds (0 = inherit).
    pub interval_ns: u64,
    /// `--timeout` in nanoseconds.
    pub timeout_ns: u64,
    /// `--start-period` in nanoseconds.
    pub start_period_ns: u64,
    /// `--start-interval` in nanoseconds.
    pub start_interval_ns: u64,
    /// `--retries` (0 = inherit).
    pub retries: u32,
}

/// What a healthcheck runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HealthcheckTest {
    /// `HEALTHCHECK NONE`: disable any inherited check (`["NONE"]`).
    None,
    /// `CMD` in exec form (`["CMD", …]`).
    Exec(Vec<String>),
    /// `CMD` in shell form (`["CMD-SHELL", cmd]`).
    Shell(String),
}
