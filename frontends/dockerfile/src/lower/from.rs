//! `FROM`: a new stage, its base (scratch, an earlier stage, a named
//! context or an image), its platform, and the ONBUILD triggers of a base
//! image.

use super::args::ArgScope;
use super::platform::normalize_platform;
use super::{Lowering, NamedSource, Site, StageState};
use crate::error::DockerfileError;
use crate::instructions::{self, Instruction};
use crate::parser::{Node, SourceMap, parse};
use strata_plan::{ConfigEdit, ImageSource, Span, Stage, StageId, StepKind};

impl Lowering<'_, '_> {
    pub(super) fn from(
        &mut self,
        node: &Node,
        from: &instructions::From,
    ) -> Result<(), DockerfileError> {
        let site = Site { node };
        let written = from.image.as_str();
        let env = self.global.values();
        let processed = self
            .lexer
            .process(written, &env)
            .map_err(|e| super::expansion_error(node, written, &e))?;
        self.undeclared_in_from(node.start_line, &processed);
        // The args of the FROM line are used by the stage (outline).
        let mut used = processed.matched.clone();
        let image = processed.word;
        if image.is_empty() {
            return Err(site.at(
                &[written],
                format!("base name ({written}) should not be blank"),
            ));
        }
        let platform = match &from.platform {
            Some(p) => {
                let processed = self
                    .lexer
                    .process(p.as_str(), &env)
                    .map_err(|e| super::expansion_error(node, p.as_str(), &e))?;
                self.undeclared_in_from(node.start_line, &processed);
                used.extend(processed.matched.iter().cloned());
                let normalized = normalize_platform(&processed.word);
                let name = from.name.as_deref().unwrap_or_default();
                let ok = normalized.as_ref().ok().map(String::as_str);
                self.platform_lints(node.start_line, p.as_str(), &processed, ok, name);
                Some(normalized.map_err(|m| site.at_flag_value("platform", m))?)
            }
            None => None,
        };
        self.stage_lints(node, from);
        if let Some(name) = &from.name
            && self.stages.iter().any(|s| s.name.as_ref() == Some(name))
        {
            // BuildKit builds it; a reference to the name means the last
            // stage of that name.
            self.warn(
                Some(node.start_line),
                "DuplicateStageName",
                format!("Duplicate stage name {name:?}, stage names should be unique"),
            );
        }
        // A stage named like a build context is that context (BuildKit):
        // its base and instructions are ignored.
        let opts = self.opts;
        let replacing = from
            .name
            .as_deref()
            .and_then(|name| opts.named_contexts.get(name));
        self.replaced = replacing.is_some();
        let (base, mut state) = match replacing {
            Some((key, source)) => self.named_base(key, source),
            None => self.base(&image),
        };
        if state.workdir.is_empty() {
            state.workdir = "/".into();
        }
        let id = self.stages.len();
        self.stages.push(Stage {
            id: StageId(id),
            name: from.name.clone(),
            base: base.clone(),
            platform,
            steps: Vec::new(),
            span: Span {
                start_line: node.start_line,
                end_line: node.end_line,
            },
        });
        self.states.push(state);
        if self.replaced {
            // BuildKit runs nothing of it, not even its FROM line's args.
            self.outline
                .stage(node, from.name.as_deref(), Default::default());
            return Ok(());
        }
        self.outline.stage(node, from.name.as_deref(), used);
        match &base {
            ImageSource::Image(reference) => {
                let info = self.opts.resolver.and_then(|r| r.resolve(reference));
                let stage_platform = self.stages.last().and_then(|s| s.platform.clone());
                if let Some(actual) = info.as_ref().and_then(|i| i.platform.as_ref()) {
                    self.base_platform_lint(node.start_line, &image, actual, stage_platform);
                }
                let onbuild = info.map(|info| info.onbuild).unwrap_or_default();
                self.triggers(node, written, reference, &onbuild)?;
            }
            ImageSource::Stage(base_id) => {
                let onbuild = self.stage_onbuild(*base_id);
                self.triggers(node, written, &format!("stage {image}"), &onbuild)?;
            }
            ImageSource::Scratch | ImageSource::NamedContext(_) => {}
        }
        Ok(())
    }

    /// What `image` (expanded) names, and the state a stage on it starts with.
    fn base(&self, image: &str) -> (ImageSource, StageState) {
        let lower = image.to_ascii_lowercase();
        if lower == "scratch" {
            return (ImageSource::Scratch, StageState::empty_image());
        }
        if let Some(id) = self
            .stages
            .iter()
            .rposition(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            // As in BuildKit, a stage built FROM another keeps its ARGs
            // and whether a WORKDIR was set (moby/buildkit dockerfile2llb:
            // dispatchState.init), not its CMD/ENTRYPOINT/HEALTHCHECK lines.
            let parent = self.states.get(id).cloned().unwrap_or_default();
            let state = StageState {
                used_once: Default::default(),
                ..parent
            };
            return (ImageSource::Stage(StageId(id)), state);
        }
        let opts = self.opts;
        if let Some((key, source)) = opts.named_contexts.get(image) {
            return self.named_base(key, source);
        }
        self.image_base(image)
    }

    /// A base that is a named context: an image context is its image; a
    /// local directory starts on an empty configuration.
    fn named_base(&self, key: String, source: &NamedSource) -> (ImageSource, StageState) {
        match source {
            NamedSource::Image(reference) => self.image_base(reference),
            NamedSource::Local => (ImageSource::NamedContext(key), StageState::empty_image()),
        }
    }

    /// A base image, with the ENV and WORKDIR the resolver knows of it.
    fn image_base(&self, image: &str) -> (ImageSource, StageState) {
        let info = self.opts.resolver.and_then(|r| r.resolve(image));
        let mut state = StageState {
            env: info.as_ref().map(|i| i.env.clone()).unwrap_or_default(),
            shell: info.as_ref().is_some_and(|i| i.shell),
            env_known: info.is_some(),
            workdir: info.and_then(|i| i.workdir).unwrap_or_default(),
            args: ArgScope::default(),
            ..StageState::default()
        };
        if state.env_known {
            state.ensure_path();
        }
        (ImageSource::Image(image.to_string()), state)
    }

    /// The ONBUILD instructions written in a stage, in order. As in
    /// BuildKit, a stage built on it runs them; the triggers of the
    /// stage's own base ran in the stage and do not pass on.
    fn stage_onbuild(&self, id: StageId) -> Vec<String> {
        let Some(stage) = self.stages.get(id.0) else {
            return Vec::new();
        };
        stage
            .steps
            .iter()
            .filter_map(|step| match &step.kind {
                StepKind::Config(ConfigEdit::OnBuild(trigger)) => Some(trigger.clone()),
                _ => None,
            })
            .collect()
    }

    /// Runs the ONBUILD triggers of a stage's base (an image's `OnBuild`,
    /// or an earlier stage's ONBUILD instructions), in order, as if they
    /// were the stage's first instructions (placed on the FROM line).
    fn triggers(
        &mut self,
        node: &Node,
        written: &str,
        reference: &str,
        onbuild: &[String],
    ) -> Result<(), DockerfileError> {
        let at = node.locate(written);
        let site = Site { node };
        let wrap = |trigger: &str, message: &str| {
            site.error(
                at,
                format!("ONBUILD trigger {trigger:?} of {reference}: {message}"),
            )
        };
        for trigger in onbuild {
            let parsed = parse(trigger).map_err(|e| wrap(trigger, &e.message))?;
            for mut child in parsed.nodes {
                child.start_line = node.start_line;
                child.end_line = node.end_line;
                child.source_map = SourceMap::default();
                let typed =
                    instructions::from_node(&child).map_err(|e| wrap(trigger, &e.message))?;
                if matches!(typed.instruction, Instruction::From(_)) {
                    return Err(wrap(trigger, "FROM isn't allowed as an ONBUILD trigger"));
                }
                self.instruction(&child, &typed.instruction, Some(trigger))
                    .map_err(|e| wrap(trigger, &e.message))?;
            }
        }
        Ok(())
    }

    /// BuildKit's checks of a FROM line: stage name casing, reserved
    /// names, `AS` casing.
    fn stage_lints(&mut self, node: &Node, from: &instructions::From) {
        let words = node.words();
        let (Some(raw_as), Some(raw_name), Some(name)) = (words.get(1), words.get(2), &from.name)
        else {
            return;
        };
        if *raw_name != name.as_str() {
            self.warn(
                Some(node.start_line),
                "StageNameCasing",
                format!("Stage name '{raw_name}' should be lowercase"),
            );
        }
        if matches!(name.as_str(), "scratch" | "context") {
            self.warn(
                Some(node.start_line),
                "ReservedStageName",
                format!("Stage name should not use the same name as reserved stage {name:?}"),
            );
        }
        let kw = &node.keyword_raw;
        let upper = |s: &str| s == s.to_ascii_uppercase();
        let lower = |s: &str| s == s.to_ascii_lowercase();
        if (upper(kw) && !upper(raw_as)) || (lower(kw) && !lower(raw_as)) {
            self.warn(
                Some(node.start_line),
                "FromAsCasing",
                format!("'{raw_as}' and '{kw}' keywords' casing do not match"),
            );
        }
    }
}
