//! What a cache record keeps so its step can run again (`strata cache
//! verify`), and how a rerun's output is compared with the recorded one.
//!
//! Only RUN steps are replayed: COPY, ADD and WORKDIR are content
//! functions of keyed inputs, while a command can read the clock, random
//! numbers or the network. A RUN with a bind or secret mount is not
//! replayable either: its sources (the context, other stages, secret
//! values) are not in the store.
//!
//! Outputs are compared by a *normalized* layer digest: the layer tar of
//! the step's upper directory with every modification time clamped to 0.
//! Without `SOURCE_DATE_EPOCH` every run stamps new mtimes, so raw diffIDs
//! would differ for every step; what matters is whether the files (names,
//! types, modes, owners, content, xattrs) are the same.

use crate::archive::Blob;
use crate::ops::PreparedRun;
use crate::state::{LayerRef, State};
use serde::{Deserialize, Serialize};
use std::path::Path;
use strata_layer::{Compression, LayerSource, WriteError, WriteOptions, write_layer};
use strata_plan::Mount;

/// The version of [`Replay`]'s encoding; a record with another version is
/// reported as not replayable.
pub const REPLAY_VERSION: u32 = 1;

/// A layer of the parent state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayLayer {
    /// Its diffID.
    pub diff_id: String,
    /// Its blob.
    pub digest: String,
    /// The blob's size.
    pub size: u64,
    /// The blob's media type.
    pub media_type: String,
}

/// Everything needed to run a recorded RUN step again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replay {
    /// [`REPLAY_VERSION`].
    pub version: u32,
    /// The parent's layers, bottom first.
    pub parent: Vec<ReplayLayer>,
    /// The step, resolved (its network mode included).
    pub run: PreparedRun,
}

impl Replay {
    /// The replay of a RUN on `parent`, or `None` when the step reads
    /// something the store does not keep (bind or secret mounts).
    pub fn for_run(parent: &State, run: &PreparedRun) -> Option<Replay> {
        let replayable = run
            .step
            .mounts
            .iter()
            .all(|m| matches!(m, Mount::Cache(_) | Mount::Tmpfs(_)));
        replayable.then(|| Replay {
            version: REPLAY_VERSION,
            parent: parent
                .layers
                .iter()
                .map(|l| ReplayLayer {
                    diff_id: l.diff_id.clone(),
                    digest: l.blob.digest.clone(),
                    size: l.blob.size,
                    media_type: l.blob.media_type.clone(),
                })
                .collect(),
            run: run.clone(),
        })
    }

    /// Reads the replay of a record; `None` when it has none or one of
    /// another version.
    pub fn from_record(value: Option<&serde_json::Value>) -> Option<Replay> {
        let replay: Replay = serde_json::from_value(value?.clone()).ok()?;
        (replay.version == REPLAY_VERSION).then_some(replay)
    }

    /// The parent's layers.
    pub fn parent_layers(&self) -> Vec<LayerRef> {
        self.parent
            .iter()
            .map(|l| LayerRef {
                diff_id: l.diff_id.clone(),
                blob: Blob {
                    digest: l.digest.clone(),
                    size: l.size,
                    media_type: l.media_type.clone(),
                },
            })
            .collect()
    }
}

/// The digest of the layer `dir` (an overlay upper directory or a
/// snapshot) would make with every mtime clamped to 0; `None` for an empty
/// directory (no layer).
pub fn normalized_digest(dir: &Path) -> Result<Option<String>, WriteError> {
    let empty = std::fs::read_dir(dir)
        .map(|mut d| d.next().is_none())
        .unwrap_or(true);
    if empty {
        return Ok(None);
    }
    let opts = WriteOptions {
        compression: Compression::None,
        source_date_epoch: Some(0),
        threads: 1,
    };
    let (_, digests) = write_layer(dir, LayerSource::OverlayUpper, &opts, std::io::sink())?;
    Ok(Some(digests.diff_id))
}

/// The paths whose entries differ between two layer directories (upper
/// directories or snapshots), compared by type, mode, owner, size, content
/// and link target, never by time. Sorted.
pub fn differing_paths(a: &Path, b: &Path) -> std::io::Result<Vec<String>> {
    let (a, b) = (describe_tree(a)?, describe_tree(b)?);
    let mut out: Vec<String> = a
        .iter()
        .filter(|(path, desc)| b.get(*path) != Some(desc))
        .map(|(path, _)| path.clone())
        .collect();
    out.extend(b.keys().filter(|p| !a.contains_key(*p)).cloned());
    out.sort();
    Ok(out)
}

/// Relative path (as `/path`) → a description of the entry.
fn describe_tree(root: &Path) -> std::io::Result<std::collections::BTreeMap<String, String>> {
    use sha2::{Digest as _, Sha256};
    use std::os::unix::fs::MetadataExt;
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let meta = std::fs::symlink_metadata(&path)?;
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let kind = meta.file_type();
            let what = if kind.is_dir() {
                todo.push(path.clone());
                "dir".to_string()
            } else if kind.is_symlink() {
                format!("link {}", std::fs::read_link(&path)?.display())
            } else if kind.is_file() {
                let mut sha = Sha256::new();
                std::io::copy(&mut std::fs::File::open(&path)?, &mut sha)?;
                format!("file {}", hex::encode(sha.finalize()))
            } else {
                format!("special {}", meta.rdev())
            };
            out.insert(
                format!("/{}", rel.display()),
                format!("{what} {:o} {}:{}", meta.mode(), meta.uid(), meta.gid()),
            );
        }
    }
    Ok(out)
}

/// How a replayed step compared with its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The same files.
    Same,
    /// Different files: the step is not deterministic.
    Differs {
        /// Normalized digest of the recorded layer (`None`: no layer).
        recorded: Option<String>,
        /// Normalized digest of the rerun's layer.
        rerun: Option<String>,
        /// Paths (absolute in the image, sorted) whose type, mode, owner,
        /// content or link target differ, or that only one side has.
        paths: Vec<String>,
    },
    /// Not run, for this reason.
    Skipped(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_digest_ignores_mtimes_but_not_content() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        assert_eq!(normalized_digest(a.path()).unwrap(), None);
        std::fs::write(a.path().join("f"), "1").unwrap();
        std::fs::write(b.path().join("f"), "1").unwrap();
        let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        std::fs::File::options()
            .append(true)
            .open(b.path().join("f"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let da = normalized_digest(a.path()).unwrap();
        assert!(da.is_some());
        assert_eq!(da, normalized_digest(b.path()).unwrap());
        assert!(differing_paths(a.path(), b.path()).unwrap().is_empty());
        std::fs::write(b.path().join("f"), "2").unwrap();
        std::fs::write(b.path().join("g"), "").unwrap();
        assert_ne!(da, normalized_digest(b.path()).unwrap());
        assert_eq!(differing_paths(a.path(), b.path()).unwrap(), ["/f", "/g"]);
    }
}
