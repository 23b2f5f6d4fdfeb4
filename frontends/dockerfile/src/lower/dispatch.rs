//! One typed instruction of a stage → plan steps. RUN, COPY/ADD and the
//! configuration instructions have their own modules; this one routes.

use super::{Lowering, Site};
use crate::error::DockerfileError;
use crate::instructions::{CommandLine, Instruction, KeyValue};
use crate::parser::Node;
use strata_plan::{Command, ConfigEdit, StepKind};

impl Lowering<'_, '_> {
    /// Lowers one instruction of the current stage. `trigger` is the ONBUILD
    /// trigger text when the instruction comes from a base image.
    pub(super) fn instruction(
        &mut self,
        node: &Node,
        instruction: &Instruction,
        trigger: Option<&str>,
    ) -> Result<(), DockerfileError> {
        let text = trigger.map_or_else(|| node.original.trim().to_string(), str::to_string);
        let kind = match instruction {
            Instruction::Run(run) => StepKind::Run(self.run(node, run)?),
            Instruction::Copy(copy) => StepKind::Copy(self.copy(node, copy)?),
            Instruction::Workdir(dir) => StepKind::Workdir(self.workdir(node, dir.as_str())?),
            Instruction::Arg(decls) => return self.stage_arg(node, decls),
            Instruction::Env(pairs) => {
                self.legacy_key_value(node, "ENV", pairs);
                StepKind::Config(ConfigEdit::Env(self.env(node, pairs)?))
            }
            Instruction::Label(pairs) => {
                self.legacy_key_value(node, "LABEL", pairs);
                StepKind::Config(ConfigEdit::Label(self.key_values(node, pairs)?))
            }
            Instruction::Cmd(cmd) => {
                self.json_args(node, "CMD", cmd);
                StepKind::Config(ConfigEdit::Cmd(command(cmd)))
            }
            Instruction::Entrypoint(cmd) => {
                self.json_args(node, "ENTRYPOINT", cmd);
                StepKind::Config(ConfigEdit::Entrypoint(command(cmd)))
            }
            Instruction::Shell(argv) => {
                let index = self.stage_index();
                if let Some(state) = self.states.get_mut(index) {
                    state.shell = true;
                }
                StepKind::Config(ConfigEdit::Shell(argv.clone()))
            }
            Instruction::Expose(ports) => {
                StepKind::Config(ConfigEdit::Expose(self.expose(node, ports)?))
            }
            Instruction::Volume(volumes) => {
                let mut out = Vec::new();
                for v in volumes {
                    let value = self.expand(node, v.as_str())?;
                    if value.trim().is_empty() {
                        return Err(Site { node }
                            .at(&[v.as_str()], "VOLUME specified can not be an empty string"));
                    }
                    out.push(value);
                }
                StepKind::Config(ConfigEdit::Volume(out))
            }
            Instruction::User(user) => {
                StepKind::Config(ConfigEdit::User(self.expand(node, user.as_str())?))
            }
            Instruction::StopSignal(signal) => {
                StepKind::Config(ConfigEdit::StopSignal(self.expand(node, signal.as_str())?))
            }
            Instruction::Maintainer(author) => {
                self.warn(
                    Some(node.start_line),
                    "MaintainerDeprecated",
                    "MAINTAINER instruction is deprecated in favor of using label".into(),
                );
                StepKind::Config(ConfigEdit::Maintainer(author.clone()))
            }
            Instruction::Healthcheck(check) => {
                StepKind::Config(ConfigEdit::Healthcheck(super::config::healthcheck(check)))
            }
            Instruction::OnBuild(onbuild) => {
                StepKind::Config(ConfigEdit::OnBuild(onbuild.expression.clone()))
            }
            Instruction::From(_) => {
                return Err(Site { node }.at_keyword("FROM cannot be used here"));
            }
        };
        self.push(node, &text, kind);
        Ok(())
    }

    /// BuildKit's LegacyKeyValueFormat check: `ENV key value`.
    fn legacy_key_value(&mut self, node: &Node, keyword: &str, pairs: &[KeyValue]) {
        if pairs.iter().any(|p| p.legacy) {
            self.warn(
                Some(node.start_line),
                "LegacyKeyValueFormat",
                format!(
                    "\"{keyword} key=value\" should be used instead of legacy \"{keyword} key value\" format"
                ),
            );
        }
    }

    /// BuildKit's JSONArgsRecommended check: a shell-form CMD or
    /// ENTRYPOINT where no SHELL is set.
    fn json_args(&mut self, node: &Node, keyword: &str, cmd: &CommandLine) {
        let shell = self.states.get(self.stage_index()).is_some_and(|s| s.shell);
        if matches!(cmd, CommandLine::Shell(_)) && !shell {
            self.warn(
                Some(node.start_line),
                "JSONArgsRecommended",
                format!(
                    "JSON arguments recommended for {keyword} to prevent unintended behavior related to OS signals"
                ),
            );
        }
    }

    /// Expands a word with the current stage's ARGs and ENV.
    pub(super) fn expand(&self, node: &Node, word: &str) -> Result<String, DockerfileError> {
        let env = self.current_env();
        self.expand_in(node, word, &env)
    }

    /// Expands a word into words (unquoted blanks split) with the current
    /// stage's variables.
    pub(super) fn expand_words(
        &self,
        node: &Node,
        word: &str,
    ) -> Result<Vec<String>, DockerfileError> {
        let env = self.current_env();
        self.lexer
            .process_words(word, &env)
            .map_err(|e| super::expansion_error(node, word, &e))
    }

    /// The variables of the current stage.
    pub(super) fn current_env(&self) -> Vec<(String, String)> {
        self.states
            .get(self.stage_index())
            .map(super::StageState::expansion_env)
            .unwrap_or_default()
    }
}

fn command(cmd: &CommandLine) -> Command {
    match cmd {
        CommandLine::Shell(s) => Command::Shell(s.clone()),
        CommandLine::Exec(argv) => Command::Exec(argv.clone()),
    }
}
