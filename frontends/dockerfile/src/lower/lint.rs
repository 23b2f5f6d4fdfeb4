//! Where the lowering runs BuildKit's build checks ([`crate::lints`]):
//! checks of the whole file (instruction casing, base names with default
//! ARGs, `FROM --platform` values), and checks BuildKit makes while it
//! builds a stage (undefined variables, secrets in ARG/ENV, relative
//! WORKDIR, repeated CMD/ENTRYPOINT/HEALTHCHECK), which [`Lowering::warn_in_stage`]
//! ties to their stage.

use super::platform::normalize_platform;
use super::{ArgScope, Lowering, Platform};
use crate::instructions::Instruction;
use crate::lints;
use crate::parser::Node;
use crate::shell::Processed;

/// Build args BuildKit reads itself, never as variables.
const NON_ENV_ARGS: [&str; 2] = ["BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"];

/// The lines of a stage's CMD, ENTRYPOINT and HEALTHCHECK, for
/// MultipleInstructionsDisallowed (a stage built on another starts afresh).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UsedOnce {
    cmd: Option<usize>,
    entrypoint: Option<usize>,
    healthcheck: Option<usize>,
}

impl Lowering<'_, '_> {
    /// ConsistentInstructionCasing over the instructions of the stages
    /// (from the first FROM on; global ARGs do not count).
    pub(super) fn casing_lint(&mut self, nodes: &[Node], typed: &[Instruction]) {
        let first = typed
            .iter()
            .position(|i| matches!(i, Instruction::From(_)))
            .unwrap_or(typed.len());
        let keywords: Vec<(usize, &str)> = nodes
            .iter()
            .skip(first)
            .map(|n| (n.start_line, n.keyword_raw.as_str()))
            .collect();
        for (line, keyword, casing) in lints::casing_violations(&keywords) {
            self.warn(
                Some(line),
                "ConsistentInstructionCasing",
                format!(
                    "Command '{keyword}' should match the case of the command majority ({casing})"
                ),
            );
        }
    }

    /// InvalidDefinitionDescription (experimental): the comment right above
    /// a named stage or an ARG does not start with its name, so it is no
    /// description (BuildKit checks it while parsing: every stage, global
    /// ARGs too).
    pub(super) fn description_lint(&mut self, nodes: &[Node], typed: &[Instruction]) {
        for (node, instruction) in nodes.iter().zip(typed) {
            let (keyword, names): (&str, Vec<&str>) = match instruction {
                Instruction::From(from) => match &from.name {
                    Some(name) => ("FROM", vec![name.as_str()]),
                    None => continue,
                },
                Instruction::Arg(decls) => ("ARG", decls.iter().map(|d| d.name.as_str()).collect()),
                _ => continue,
            };
            if lints::misdescribed(&node.comments, &names) {
                let example = match names.as_slice() {
                    [one] => *one,
                    _ => "<arg_key>",
                };
                self.warn(
                    Some(node.start_line),
                    "InvalidDefinitionDescription",
                    format!(
                        "Comment for {keyword} should follow the format: `# {example} <description>`"
                    ),
                );
            }
        }
    }

    /// InvalidDefaultArgInFrom: every FROM expanded with the global ARGs'
    /// defaults only (no build args) must name a valid image reference.
    pub(super) fn default_arg_lint(&mut self, nodes: &[Node], typed: &[Instruction]) {
        let Some(valid) = self.opts.reference_check else {
            return;
        };
        let mut scope = ArgScope::global(&self.opts.build_platform, &self.opts.platform);
        let mut in_stages = false;
        for (node, instruction) in nodes.iter().zip(typed) {
            match instruction {
                Instruction::Arg(decls) if !in_stages => {
                    for decl in decls {
                        let value = match &decl.default {
                            Some(d) => match self.lexer.process_word(d.as_str(), &scope.values()) {
                                Ok(v) => Some(v),
                                Err(_) => return,
                            },
                            None => None,
                        };
                        scope.declare(decl.name.as_str(), value);
                    }
                }
                Instruction::From(from) => {
                    in_stages = true;
                    let written = from.image.as_str();
                    let Ok(name) = self.lexer.process_word(written, &scope.values()) else {
                        return;
                    };
                    if !valid(&name) {
                        self.warn(
                            Some(node.start_line),
                            "InvalidDefaultArgInFrom",
                            format!(
                                "Default value for ARG {written} results in empty or invalid base image name"
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
    }

    /// UndefinedArgInFrom: variables of a FROM line (image or platform)
    /// that no global ARG declares, with a close declared name.
    pub(super) fn undeclared_in_from(&mut self, line: usize, processed: &Processed) {
        for name in &processed.unmatched {
            if self.global.get(name).is_some() {
                continue;
            }
            let known = self.global.names();
            let hint = lints::suggest(name, known.iter().map(String::as_str))
                .map(|s| format!(" (did you mean {s}?)"))
                .unwrap_or_default();
            self.warn(
                Some(line),
                "UndefinedArgInFrom",
                format!("FROM argument '{name}' is not declared{hint}"),
            );
        }
    }

    /// RedundantTargetPlatform and FromPlatformFlagConstDisallowed for a
    /// `FROM --platform=` value as written and as expanded.
    pub(super) fn platform_lints(
        &mut self,
        line: usize,
        written: &str,
        processed: &Processed,
        normalized: Option<&str>,
        stage_name: &str,
    ) {
        let only_target = processed.unmatched.is_empty()
            && processed.matched.len() == 1
            && processed.matched.contains("TARGETPLATFORM");
        if only_target
            && self.global.get("TARGETPLATFORM").flatten() == Some(processed.word.as_str())
        {
            self.warn(
                Some(line),
                "RedundantTargetPlatform",
                format!(
                    "Setting platform to predefined {written} in FROM is redundant as this is the default behavior"
                ),
            );
        }
        let constant = processed.matched.is_empty() && processed.unmatched.is_empty();
        let Some(spec) = normalized.filter(|_| constant) else {
            return;
        };
        let mut parts = spec.split('/');
        let (os, arch) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if !stage_name.contains(os) && !stage_name.contains(arch) {
            self.warn(
                Some(line),
                "FromPlatformFlagConstDisallowed",
                format!(
                    "FROM --platform flag should not use constant value {:?}",
                    processed.word
                ),
            );
        }
    }

    /// InvalidBaseImagePlatform: the base image's OS or architecture is not
    /// the stage's (`FROM --platform`, else the platform built for).
    pub(super) fn base_platform_lint(
        &mut self,
        line: usize,
        image: &str,
        actual: &Platform,
        stage_platform: Option<String>,
    ) {
        let expected = stage_platform.unwrap_or_else(|| self.opts.platform.to_spec());
        let normal = |spec: &str| normalize_platform(spec).unwrap_or_else(|_| spec.to_string());
        let actual = normal(&actual.to_spec());
        let expected = normal(&expected);
        let os_arch = |spec: &str| spec.split('/').take(2).collect::<Vec<_>>().join("/");
        if os_arch(&actual) != os_arch(&expected) {
            self.warn_in_stage(
                line,
                "InvalidBaseImagePlatform",
                format!(
                    "Base image {image} was pulled with platform {actual:?}, expected {expected:?} for current build"
                ),
            );
        }
    }

    /// UndefinedVar for the variables the current instruction's expansions
    /// did not find: not ARGs the stage declares (with or without a
    /// value), reported only where the base image's ENV is known.
    pub(super) fn report_unmatched(&mut self, line: usize) {
        let names = std::mem::take(&mut *self.unmatched.borrow_mut());
        let Some(state) = self.states.get(self.stage_index()) else {
            return;
        };
        if !state.env_known {
            return;
        }
        let env = state.expansion_env();
        let undefined: Vec<String> = names
            .into_iter()
            .filter(|n| state.args.get(n).is_none() && !NON_ENV_ARGS.contains(&n.as_str()))
            .collect();
        for name in undefined {
            let hint = lints::suggest(&name, env.iter().map(|(k, _)| k.as_str()))
                .map(|s| format!(" (did you mean ${s}?)"))
                .unwrap_or_default();
            self.warn_in_stage(
                line,
                "UndefinedVar",
                format!("Usage of undefined variable '${name}'{hint}"),
            );
        }
    }

    /// SecretsUsedInArgOrEnv for a stage's `ARG`/`ENV` name.
    pub(super) fn secret_lint(&mut self, line: usize, instruction: &str, key: &str) {
        if lints::is_secret_name(key) {
            self.warn_in_stage(
                line,
                "SecretsUsedInArgOrEnv",
                format!(
                    "Do not use ARG or ENV instructions for sensitive data ({instruction} {key:?})"
                ),
            );
        }
    }

    /// WorkdirRelativePath: the first WORKDIR of a stage (and the stages
    /// it is built on) is relative, so it depends on the base image's.
    pub(super) fn workdir_lint(&mut self, line: usize, path: &str) {
        let index = self.stage_index();
        let Some(state) = self.states.get_mut(index) else {
            return;
        };
        let first = !state.workdir_set;
        state.workdir_set = true;
        if first && !path.starts_with('/') {
            self.warn_in_stage(
                line,
                "WorkdirRelativePath",
                format!("Relative workdir {path:?} can have unexpected results if the base image changes"),
            );
        }
    }

    /// MultipleInstructionsDisallowed: a second CMD, ENTRYPOINT or
    /// HEALTHCHECK in a stage; the warning is at the one that is ignored.
    pub(super) fn used_once_lint(&mut self, node: &Node) {
        let index = self.stage_index();
        let Some(state) = self.states.get_mut(index) else {
            return;
        };
        let slot = match node.keyword.as_str() {
            "cmd" => &mut state.used_once.cmd,
            "entrypoint" => &mut state.used_once.entrypoint,
            "healthcheck" => &mut state.used_once.healthcheck,
            _ => return,
        };
        let previous = slot.replace(node.start_line);
        if let Some(line) = previous {
            self.warn_in_stage(
                line,
                "MultipleInstructionsDisallowed",
                format!(
                    "Multiple {} instructions should not be used in the same stage because only the last one will be used",
                    node.keyword_raw
                ),
            );
        }
    }
}
