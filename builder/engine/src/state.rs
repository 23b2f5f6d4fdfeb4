//! The state of a stage between steps.

use crate::archive::Blob;
use crate::image_config::{History, ImageConfig, StageConfig};
use crate::key::state_identity;
use crate::time::{parse_rfc3339, rfc3339};
use strata_cache::{Key, LayerBlob};

/// The `comment` of the history entries strata's steps add.
pub const HISTORY_COMMENT: &str = "strata.dockerfile.v0";

/// A layer of a stage's filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRef {
    /// SHA-256 of the uncompressed tar.
    pub diff_id: String,
    /// The compressed blob in the store.
    pub blob: Blob,
}

impl LayerRef {
    /// The layer of a cache record, if the record has a blob of `media_type`
    /// (or, failing that, any blob).
    pub fn from_record(layer: &LayerBlob, media_type: &str) -> Option<LayerRef> {
        let (media, (digest, size)) = layer
            .blobs
            .get_key_value(media_type)
            .or_else(|| layer.blobs.iter().next())?;
        Some(LayerRef {
            diff_id: layer.diff_id.clone(),
            blob: Blob {
                digest: digest.clone(),
                size: *size,
                media_type: media.clone(),
            },
        })
    }

    /// The layer as a cache record holds it (its one blob).
    pub fn to_record(&self) -> LayerBlob {
        LayerBlob {
            diff_id: self.diff_id.clone(),
            blobs: [(
                self.blob.media_type.clone(),
                (self.blob.digest.clone(), self.blob.size),
            )]
            .into(),
        }
    }
}

/// A stage's filesystem (layer chain) and configuration.
#[derive(Debug, Clone)]
pub struct State {
    /// The configuration, with `rootfs.diff_ids` and `history`.
    pub config: StageConfig,
    /// The layers, bottom first (parallel to `rootfs.diff_ids`).
    pub layers: Vec<LayerRef>,
    /// Hash of the layer chain and runtime configuration.
    pub identity: Key,
    /// The state's time (seconds since the epoch): the base image's
    /// `created` (0 for scratch), moved forward only by steps that ran
    /// something (see [`crate::time`]). Not part of the identity.
    pub time: i64,
}

impl State {
    /// A state from a base image's configuration and layers.
    pub fn from_image(image: ImageConfig, layers: Vec<LayerRef>) -> State {
        let time = image
            .created
            .as_deref()
            .and_then(parse_rfc3339)
            .unwrap_or(0);
        let config = StageConfig::from_base(image);
        let identity = state_identity(&config.image);
        State {
            config,
            layers,
            identity,
            time,
        }
    }

    /// Recomputes the identity after a change.
    pub fn refresh(&mut self) {
        self.identity = state_identity(&self.config.image);
    }

    /// Adds a step's result made at `time`: its layer (if it made one) and
    /// a history entry. The state's time becomes the later of the two.
    pub fn push(&mut self, layer: Option<LayerRef>, created_by: &str, time: i64) {
        self.time = self.time.max(time);
        let empty_layer = layer.is_none();
        if let Some(layer) = layer {
            self.config
                .image
                .rootfs
                .diff_ids
                .push(layer.diff_id.clone());
            self.layers.push(layer);
        }
        self.config.image.history.push(History {
            created: Some(rfc3339(self.time)),
            created_by: Some(created_by.to_string()),
            comment: Some(HISTORY_COMMENT.to_string()),
            empty_layer,
            ..Default::default()
        });
        self.refresh();
    }
}
