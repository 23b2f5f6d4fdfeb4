//! Result identities and step keys.
//!
//! A stage's state after each step has an *identity*: a hash of its layer
//! chain (diffIDs) and its runtime configuration. Keys of later steps are
//! computed from that identity, never from the text that produced it, so two
//! different instructions that produce the same result lead to the same keys
//! afterwards (early cut-off).

use crate::image_config::{ImageConfig, RuntimeConfig};
use strata_cache::{Key, KeyHasher};
use strata_plan::{PLAN_ENCODING_VERSION, Step};

/// The identity of a stage's state: layer chain plus configuration.
pub fn state_identity(image: &ImageConfig) -> Key {
    let mut h = KeyHasher::new("state");
    h.strs("diff_ids", &image.rootfs.diff_ids);
    h.field("config", &canonical_config(&image.config));
    h.str("os", &image.os)
        .str("architecture", &image.architecture);
    h.finish()
}

fn canonical_config(config: &RuntimeConfig) -> Vec<u8> {
    // Field order is fixed by the struct and maps are BTreeMaps, so this
    // encoding is canonical. Serialising plain data cannot fail; an empty
    // value would still give a stable (if coarser) key.
    serde_json::to_vec(config).unwrap_or_default()
}

/// The canonical, versioned encoding of a step's definition: what it does
/// after expansion, without its source position or original text.
pub fn step_definition(step: &Step) -> Key {
    let mut h = KeyHasher::new("step");
    h.field("plan_version", &PLAN_ENCODING_VERSION.to_le_bytes());
    h.field("kind", &serde_json::to_vec(&step.kind).unwrap_or_default());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_plan::{Command, ConfigEdit, Span, StepKind};

    fn step(text: &str, kind: StepKind) -> Step {
        Step {
            span: Span {
                start_line: 1,
                end_line: 1,
            },
            text: text.into(),
            kind,
            build_args: Default::default(),
            env_over_args: Default::default(),
        }
    }

    #[test]
    fn definition_ignores_text_and_position() {
        let a = step(
            "CMD $X",
            StepKind::Config(ConfigEdit::Cmd(Command::Shell("1".into()))),
        );
        let mut b = step(
            "CMD 1",
            StepKind::Config(ConfigEdit::Cmd(Command::Shell("1".into()))),
        );
        b.span.start_line = 7;
        assert_eq!(step_definition(&a), step_definition(&b));
        let c = step(
            "CMD 2",
            StepKind::Config(ConfigEdit::Cmd(Command::Shell("2".into()))),
        );
        assert_ne!(step_definition(&a), step_definition(&c));
    }

    #[test]
    fn identity_follows_layers_and_config_not_history() {
        let mut a = ImageConfig::default();
        let base = state_identity(&a);
        a.history.push(Default::default());
        a.created = Some("2020-01-01T00:00:00Z".into());
        assert_eq!(state_identity(&a), base);
        a.rootfs.diff_ids.push("sha256:1".into());
        let with_layer = state_identity(&a);
        assert_ne!(with_layer, base);
        a.config.user = Some("app".into());
        assert_ne!(state_identity(&a), with_layer);
    }
}
