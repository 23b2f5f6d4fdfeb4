//! What a build tells its user: the final image configuration's dates and
//! labels, the summary line, `--metadata-file`.

use crate::cli::BuildArgs;
use anyhow::{Context, Result, bail};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use std::path::Path;
use std::time::Duration;
use strata_builder::archive::ImageBlobs;
use strata_builder::history::HistoryIds;
use strata_builder::image_config::ImageConfig;
use strata_builder::solve::{SolveOutput, StepReport, StepStatus};
use strata_builder::state::HISTORY_COMMENT;
use strata_builder::time::rfc3339;

/// Names "this Dockerfile and target in this context" and "this
/// Dockerfile's text and target anywhere" across builds, so a miss can be
/// explained against the previous build (see `strata_builder::history`).
/// Paths are made absolute (`-f` is relative to the working directory), so
/// `-f docker/Dockerfile` and the same file named from elsewhere share one.
pub fn history_ids(context: &Path, args: &BuildArgs, dockerfile_text: &str) -> HistoryIds {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let dockerfile = match args.file.as_deref() {
        Some("-") => "-".into(),
        Some(file) => absolute(Path::new(file)),
        None => absolute(&context.join("Dockerfile")),
    };
    let target = args.target.as_deref().unwrap_or("");
    let text_digest = hex::encode(Sha256::digest(dockerfile_text.as_bytes()));
    let same_dockerfile = digest_of(&["same-dockerfile", &text_digest, target]);
    if args.context == "-" {
        // A context from stdin has no place (a new temp directory each
        // time): the Dockerfile's text is all that names it.
        return HistoryIds {
            exact: same_dockerfile.clone(),
            same_dockerfile,
            context: "a build context from stdin".into(),
        };
    }
    if crate::cmd::remote::is_remote(&args.context) {
        // A remote context is fetched into a new temp directory each
        // time: the URL (with its ref) and `-f` as given name its place.
        let file = args.file.as_deref().unwrap_or("");
        return HistoryIds {
            exact: digest_of(&["remote", &args.context, file, target]),
            same_dockerfile,
            context: args.context.clone(),
        };
    }
    let context = absolute(context).to_string_lossy().into_owned();
    HistoryIds {
        exact: digest_of(&[&context, &dockerfile.to_string_lossy(), target]),
        same_dockerfile,
        context,
    }
}

/// The first 16 bytes of SHA-256 over length-prefixed `parts`, in hex.
fn digest_of(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// The target's configuration with dates and `--label`s.
///
/// `created` is `SOURCE_DATE_EPOCH` when set (for strata's history
/// entries too); otherwise the target state's time: the base image's
/// `created` moved forward only by RUN steps (see `strata_builder::time`),
/// so a rebuild that hits every step, and a clean build without RUN, give
/// the very same image digest.
pub fn final_config(
    solved: &SolveOutput,
    labels: &[String],
    source_date_epoch: Option<i64>,
) -> Result<ImageConfig> {
    let mut config = solved.target.config.image.clone();
    let created = rfc3339(source_date_epoch.unwrap_or(solved.target.time));
    config.created = Some(created.clone());
    for entry in &mut config.history {
        let ours = entry.comment.as_deref() == Some(HISTORY_COMMENT);
        if (ours && source_date_epoch.is_some()) || entry.created.is_none() {
            entry.created = Some(created.clone());
        }
    }
    for label in labels {
        let Some((k, v)) = label.split_once('=') else {
            bail!("--label {label:?}: expected KEY=VALUE");
        };
        config
            .config
            .labels
            .get_or_insert_with(Default::default)
            .insert(k.to_string(), v.to_string());
    }
    Ok(config)
}

/// Counts of a build.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Steps with a cache key (config-only steps are not counted).
    pub steps: usize,
    /// Of which came from the cache.
    pub hits: usize,
    /// Of which ran.
    pub misses: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// Context bytes read to hash.
    pub hashed_bytes: u64,
    /// Context files read to hash.
    pub hashed_files: u64,
    /// Bytes of layer blobs this build added to the store.
    pub bytes_written: u64,
}

impl Summary {
    /// Counts the steps of a solve.
    pub fn new(
        steps: &[StepReport],
        elapsed: Duration,
        hashed: (u64, u64),
        bytes_written: u64,
    ) -> Summary {
        let hits = steps
            .iter()
            .filter(|s| s.status == StepStatus::Cached)
            .count();
        let misses = steps
            .iter()
            .filter(|s| matches!(s.status, StepStatus::Ran(_)))
            .count();
        Summary {
            steps: hits + misses,
            hits,
            misses,
            elapsed,
            hashed_bytes: hashed.0,
            hashed_files: hashed.1,
            bytes_written,
        }
    }

    /// The hit rate in percent (100 for a build with nothing to cache).
    pub fn hit_rate(&self) -> f64 {
        if self.steps == 0 {
            100.0
        } else {
            self.hits as f64 * 100.0 / self.steps as f64
        }
    }

    /// One line for the end of the build.
    pub fn line(&self) -> String {
        format!(
            "{} steps: {} cached, {} run, hit rate {:.1}%; wrote {} of layers; hashed {} files ({} bytes); {:.2}s",
            self.steps,
            self.hits,
            self.misses,
            self.hit_rate(),
            crate::cmd::images::human(self.bytes_written),
            self.hashed_files,
            self.hashed_bytes,
            self.elapsed.as_secs_f64()
        )
    }
}

/// `--explain`'s recap: every step that ran, with why, in build order.
pub fn explain_misses(steps: &[StepReport]) -> String {
    let misses: Vec<String> = steps
        .iter()
        .filter_map(|s| match &s.status {
            StepStatus::Ran(reason) => Some(format!("  {}: {reason}\n", s.step)),
            _ => None,
        })
        .collect();
    if misses.is_empty() {
        "cache misses: none\n".to_string()
    } else {
        format!("cache misses ({}):\n{}", misses.len(), misses.concat())
    }
}

/// Writes `--metadata-file`: BuildKit's keys plus strata's per-step report.
pub fn write_metadata(
    path: &Path,
    image: &ImageBlobs,
    steps: &[StepReport],
    summary: &Summary,
    tags: &[String],
) -> Result<()> {
    let steps: Vec<serde_json::Value> = steps
        .iter()
        .map(|s| {
            let (status, reason) = match &s.status {
                StepStatus::Cached => ("cached", None),
                StepStatus::Ran(reason) => ("ran", Some(reason.clone())),
                StepStatus::Config => ("config", None),
            };
            json!({
                "stage": s.step.stage,
                "stageName": s.step.stage_name,
                "step": s.step.index,
                "instruction": s.step.text,
                "line": s.line,
                "key": s.key.map(|k| k.to_string()),
                "status": status,
                "reason": reason,
                "durationMs": s.duration_ms,
            })
        })
        .collect();
    let value = json!({
        "containerimage.digest": image.manifest.digest,
        "containerimage.config.digest": image.config.digest,
        "containerimage.descriptor": {
            "mediaType": image.manifest.media_type,
            "digest": image.manifest.digest,
            "size": image.manifest.size,
        },
        "image.name": tags.join(","),
        "strata.steps": steps,
        "strata.summary": {
            "steps": summary.steps,
            "cached": summary.hits,
            "run": summary.misses,
            "hitRate": summary.hit_rate(),
            "hashedFiles": summary.hashed_files,
            "hashedBytes": summary.hashed_bytes,
            "bytesWritten": summary.bytes_written,
            "durationMs": summary.elapsed.as_millis() as u64,
        },
    });
    let text = serde_json::to_string_pretty(&value).context("encoding metadata")?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}
