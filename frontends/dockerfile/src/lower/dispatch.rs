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
        self.unmatched.borrow_mut().clear();
        let kind = self.instruction_kind(node, instruction, trigger)?;
        // Variables the instruction's expansions did not find (BuildKit
        // reports them before it runs the instruction).
        self.report_unmatched(node.start_line);
        if let Some(kind) = kind {
            let text = trigger.map_or_else(|| node.original.trim().to_string(), str::to_string);
            self.push(node, &text, kind);
        }
        Ok(())
    }

    /// The step an instruction makes (none for ARG, which only declares).
    fn instruction_kind(
        &mut self,
        node: &Node,
        instruction: &Instruction,
        trigger: Option<&str>,
    ) -> Result<Option<StepKind>, DockerfileError> {
        let kind = match instruction {
            Instruction::Run(run) => StepKind::Run(self.run(node, run)?),
            Instruction::Copy(copy) => StepKind::Copy(self.copy(node, copy)?),
            Instruction::Workdir(dir) => {
                let path = self.workdir(node, dir.as_str())?;
                self.workdir_lint(node.start_line, &path);
                StepKind::Workdir(path)
            }
            Instruction::Arg(decls) => {
                self.stage_arg(node, decls)?;
                return Ok(None);
            }
            Instruction::Env(pairs) => {
                self.legacy_key_value(node, pairs);
                let env = self.env(node, pairs)?;
                for (key, _) in &env {
                    self.secret_lint(node.start_line, "ENV", key);
                }
                StepKind::Config(ConfigEdit::Env(env))
            }
            Instruction::Label(pairs) => {
                self.legacy_key_value(node, pairs);
                StepKind::Config(ConfigEdit::Label(self.key_values(node, pairs)?))
            }
            Instruction::Cmd(cmd) => {
                self.used_once_lint(node);
                self.json_args(node, cmd);
                StepKind::Config(ConfigEdit::Cmd(command(cmd)))
            }
            Instruction::Entrypoint(cmd) => {
                self.used_once_lint(node);
                self.json_args(node, cmd);
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
                let value = self.expand(node, signal.as_str())?;
                if !super::signal::valid_signal(&value) {
                    return Err(
                        Site { node }.at(&[signal.as_str()], format!("invalid signal: {value}"))
                    );
                }
                StepKind::Config(ConfigEdit::StopSignal(value))
            }
            Instruction::Maintainer(author) => {
                // A parse-time check in BuildKit: not for ONBUILD triggers.
                if trigger.is_none() {
                    self.warn(
                        Some(node.start_line),
                        "MaintainerDeprecated",
                        "Maintainer instruction is deprecated in favor of using label".into(),
                    );
                }
                StepKind::Config(ConfigEdit::Maintainer(author.clone()))
            }
            Instruction::Healthcheck(check) => {
                self.used_once_lint(node);
                StepKind::Config(ConfigEdit::Healthcheck(super::config::healthcheck(check)))
            }
            Instruction::OnBuild(onbuild) => {
                StepKind::Config(ConfigEdit::OnBuild(onbuild.expression.clone()))
            }
            Instruction::From(_) => {
                return Err(Site { node }.at_keyword("FROM cannot be used here"));
            }
        };
        Ok(Some(kind))
    }

    /// BuildKit's LegacyKeyValueFormat check: `ENV key value`.
    fn legacy_key_value(&mut self, node: &Node, pairs: &[KeyValue]) {
        let keyword = &node.keyword_raw;
        for _ in pairs.iter().filter(|p| p.legacy) {
            self.warn_in_stage(
                node.start_line,
                "LegacyKeyValueFormat",
                format!(
                    "\"{keyword} key=value\" should be used instead of legacy \"{keyword} key value\" format"
                ),
            );
        }
    }

    /// BuildKit's JSONArgsRecommended check: a shell-form CMD or
    /// ENTRYPOINT where no SHELL is set.
    fn json_args(&mut self, node: &Node, cmd: &CommandLine) {
        let shell = self.states.get(self.stage_index()).is_some_and(|s| s.shell);
        let keyword = &node.keyword_raw;
        if matches!(cmd, CommandLine::Shell(_)) && !shell {
            self.warn_in_stage(
                node.start_line,
                "JSONArgsRecommended",
                format!(
                    "JSON arguments recommended for {keyword} to prevent unintended behavior related to OS signals"
                ),
            );
        }
    }

    /// Expands a word with the current stage's ARGs and ENV, noting the
    /// variables it does not find (for UndefinedVar).
    pub(super) fn expand(&self, node: &Node, word: &str) -> Result<String, DockerfileError> {
        let env = self.current_env();
        let processed = self
            .lexer
            .process(word, &env)
            .map_err(|e| super::expansion_error(node, word, &e))?;
        self.unmatched.borrow_mut().extend(processed.unmatched);
        Ok(processed.word)
    }

    /// Expands a word with the current stage's ARGs and ENV, where BuildKit
    /// does not check for undefined variables.
    pub(super) fn expand_unchecked(
        &self,
        node: &Node,
        word: &str,
    ) -> Result<String, DockerfileError> {
        self.expand_in(node, word, &self.current_env())
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
