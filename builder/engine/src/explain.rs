//! Why a step missed the cache: a comparison with the last build of the
//! same step of the same Dockerfile and target ([`crate::history`]).

use std::collections::BTreeMap;
use strata_cache::RecordStore;
use strata_plan::ImageSource;

use crate::history::StepHistory;
use crate::state::State;

/// How many paths a reason names before "and N more", unless the build
/// asked for every one (`strata build --explain`).
pub const LISTED_FILES: usize = 3;

/// What an explanation may consult besides the two builds' inputs.
#[derive(Debug, Clone, Copy)]
pub struct MissContext<'a> {
    /// The first step of this stage that missed in this build, with its
    /// reason (`COPY requirements.txt /code/ (1 file changed: …)`).
    pub first_miss: Option<&'a str>,
    /// For a stage built on another stage: that stage's first miss, with
    /// its reason.
    pub base_miss: Option<&'a str>,
    /// The records, for the per-file manifests of sources.
    pub records: &'a RecordStore,
    /// How many paths to name per kind of change (`None`: all).
    pub max_files: Option<usize>,
}

/// Names of at most `max` paths, then "and N more".
fn list(paths: &[&String], max: Option<usize>) -> String {
    let max = max.unwrap_or(usize::MAX);
    let mut names: Vec<String> = paths.iter().take(max).map(|p| p.to_string()).collect();
    if paths.len() > max {
        names.push(format!("and {} more", paths.len() - max));
    }
    names.join(", ")
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Drops the directories of a sorted path list that other paths of the
/// list are in: a new directory of new files is named by its files.
fn without_parents(paths: Vec<&String>) -> Vec<&String> {
    let holds_another = |dir: &String| {
        let prefix = format!("{dir}/");
        let at = paths.partition_point(|p| p.as_str() < prefix.as_str());
        paths.get(at).is_some_and(|p| p.starts_with(&prefix))
    };
    paths
        .iter()
        .copied()
        .filter(|p| !holds_another(p))
        .collect()
}

/// Describes the difference between two per-file manifests, naming at
/// most `max` paths per kind of change (`None`: all of them).
pub fn describe_file_changes(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
    max: Option<usize>,
) -> String {
    let changed: Vec<&String> = new
        .iter()
        .filter(|(p, d)| old.get(*p).is_some_and(|o| o != *d))
        .map(|(p, _)| p)
        .collect();
    let added = without_parents(new.keys().filter(|p| !old.contains_key(*p)).collect());
    let removed = without_parents(old.keys().filter(|p| !new.contains_key(*p)).collect());
    let mut parts = Vec::new();
    if !changed.is_empty() {
        parts.push(format!(
            "{} changed: {}",
            plural(changed.len(), "file"),
            list(&changed, max)
        ));
    }
    if !added.is_empty() {
        parts.push(format!(
            "{} added: {}",
            plural(added.len(), "file"),
            list(&added, max)
        ));
    }
    if !removed.is_empty() {
        parts.push(format!(
            "{} removed: {}",
            plural(removed.len(), "file"),
            list(&removed, max)
        ));
    }
    if parts.is_empty() {
        "file metadata changed".to_string()
    } else {
        parts.join("; ")
    }
}

/// Explains a miss of `current` against the same step of the last build.
pub fn explain_miss(
    previous: Option<&StepHistory>,
    current: &StepHistory,
    cx: &MissContext<'_>,
) -> String {
    let Some(previous) = previous else {
        return "not built before".to_string();
    };
    if previous.inputs.parent != current.inputs.parent {
        return parent_change(previous, current, cx);
    }
    let old = &previous.inputs.inputs;
    let new = &current.inputs.inputs;
    let mut reasons = Vec::new();
    if old.get("definition") != new.get("definition") {
        reasons.push(format!("instruction changed (was: {})", previous.text));
    }
    let describe = |name: &str, before: Option<&String>, after: Option<&String>| {
        let arg = current.build_args.contains(name.trim_start_matches("env:"))
            || (after.is_none()
                && previous
                    .build_args
                    .contains(name.trim_start_matches("env:")));
        describe_input(name, arg, before, after, cx)
    };
    for (name, value) in new {
        if name == "definition" {
            continue;
        }
        match old.get(name) {
            Some(before) if before == value => {}
            before => reasons.push(describe(name, before, Some(value))),
        }
    }
    for (name, value) in old {
        if !new.contains_key(name) {
            reasons.push(describe(name, Some(value), None));
        }
    }
    if reasons.is_empty() {
        "no cache record for these inputs (pruned, or never stored)".to_string()
    } else {
        reasons.join("; ")
    }
}

/// Names a stage's base for explanations: what the user wrote and the
/// top layer (or, for another stage, its result), so a new base shows.
pub fn describe_base(source: &ImageSource, state: &State, stage_name: Option<&str>) -> String {
    let top = || {
        state
            .config
            .image
            .rootfs
            .diff_ids
            .last()
            .map(|d| format!(" (top layer {})", short(d)))
            .unwrap_or_default()
    };
    match source {
        ImageSource::Scratch => "scratch".to_string(),
        ImageSource::Image(name) => format!("image {name}{}", top()),
        ImageSource::NamedContext(name) => format!("context {name}{}", top()),
        ImageSource::Stage(id) => {
            let identity = state.identity.to_string();
            let id = id.0.to_string();
            format!(
                "stage {} (result {})",
                stage_name.unwrap_or(&id),
                identity.get(..12).unwrap_or(&identity)
            )
        }
    }
}

/// `sha256:` and the first 12 hex digits.
fn short(digest: &str) -> String {
    let (algo, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
    format!("{algo}:{}", hex.get(..12).unwrap_or(hex))
}

/// The entries of `list` that `other` lacks.
fn missing_from<'a>(list: &'a [String], other: &[String]) -> Vec<&'a str> {
    list.iter()
        .filter(|t| !other.contains(t))
        .map(String::as_str)
        .collect()
}

/// Why the state a step starts from differs from the last build's.
fn parent_change(previous: &StepHistory, current: &StepHistory, cx: &MissContext<'_>) -> String {
    if let Some(step) = cx.first_miss {
        return format!("parent changed: {step}");
    }
    if previous.base != current.base {
        if let (Some(miss), Some(base)) = (cx.base_miss, &current.base) {
            let name = base.split(" (result").next().unwrap_or(base);
            return format!("base changed: {name}: {miss}");
        }
        return match (&previous.base, &current.base) {
            (Some(before), Some(after)) => format!("base changed: {before} → {after}"),
            _ => "base changed".to_string(),
        };
    }
    if previous.config_before != current.config_before {
        let added = missing_from(&current.config_before, &previous.config_before);
        let removed = missing_from(&previous.config_before, &current.config_before);
        let mut parts = Vec::new();
        if !added.is_empty() {
            parts.push(added.join(", "));
        }
        if !removed.is_empty() {
            parts.push(format!("was: {}", removed.join(", ")));
        }
        if parts.is_empty() {
            parts.push(current.config_before.join(", "));
        }
        return format!("parent changed: {}", parts.join("; "));
    }
    match &current.base {
        Some(base) => format!("base changed: {base} (configuration)"),
        None => "base changed".to_string(),
    }
}

fn describe_input(
    name: &str,
    arg: bool,
    before: Option<&String>,
    after: Option<&String>,
    cx: &MissContext<'_>,
) -> String {
    if name == "source" {
        if let (Some(b), Some(a)) = (before, after)
            && let (Ok(Some(old)), Ok(Some(new))) =
                (cx.records.get_manifest(b), cx.records.get_manifest(a))
        {
            return describe_file_changes(&old, &new, cx.max_files);
        }
        return "source content changed".to_string();
    }
    let label = name
        .strip_prefix("env:")
        .map(|v| {
            if arg {
                format!("ARG {v}")
            } else {
                format!("env {v}")
            }
        })
        .or_else(|| {
            name.strip_prefix("mount:")
                .map(|m| format!("mount {m} content"))
        })
        .unwrap_or_else(|| name.to_string());
    match (before, after) {
        (Some(b), Some(a)) if !name.starts_with("mount:") => format!("{label}: {b} → {a}"),
        (None, Some(a)) if !name.starts_with("mount:") => format!("{label}: (unset) → {a}"),
        (Some(b), None) if !name.starts_with("mount:") => format!("{label}: {b} → (unset)"),
        _ => format!("{label} changed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use strata_cache::{KeyHasher, StepInputs};

    fn m(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn step(text: &str, parent: &str, inputs: &[(&str, &str)]) -> StepHistory {
        StepHistory {
            text: text.into(),
            inputs: StepInputs {
                parent: Some(KeyHasher::new(parent).finish()),
                inputs: m(inputs),
            },
            base: Some("busybox".into()),
            config_before: Vec::new(),
            build_args: BTreeSet::new(),
        }
    }

    fn explain(prev: Option<&StepHistory>, cur: &StepHistory, first: Option<&str>) -> String {
        let dir = tempfile::tempdir().unwrap();
        let records = RecordStore::open(dir.path()).unwrap();
        let cx = MissContext {
            first_miss: first,
            base_miss: None,
            records: &records,
            max_files: Some(LISTED_FILES),
        };
        explain_miss(prev, cur, &cx)
    }

    #[test]
    fn file_changes_are_named() {
        let old = m(&[("a.py", "1"), ("b.py", "2"), ("gone.py", "3")]);
        let new = m(&[("a.py", "1"), ("b.py", "9"), ("new.py", "4")]);
        assert_eq!(
            describe_file_changes(&old, &new, Some(3)),
            "1 file changed: b.py; 1 file added: new.py; 1 file removed: gone.py"
        );
    }

    #[test]
    fn file_lists_stop_at_the_limit_unless_all_are_asked_for() {
        let old = m(&[]);
        let new = m(&[("a", "1"), ("b", "1"), ("c", "1"), ("d", "1"), ("e", "1")]);
        assert_eq!(
            describe_file_changes(&old, &new, Some(3)),
            "5 files added: a, b, c, and 2 more"
        );
        assert_eq!(
            describe_file_changes(&old, &new, None),
            "5 files added: a, b, c, d, e"
        );
        let dirs = m(&[("d", "dir"), ("d-1", "1"), ("d/x", "1"), ("empty", "dir")]);
        assert_eq!(
            describe_file_changes(&old, &dirs, None),
            "3 files added: d-1, d/x, empty"
        );
    }

    #[test]
    fn parent_change_names_the_first_miss() {
        let prev = step("RUN pip install", "a", &[("definition", "d")]);
        let cur = step("RUN pip install", "b", &[("definition", "d")]);
        assert_eq!(
            explain(Some(&prev), &cur, Some("COPY requirements.txt /code/")),
            "parent changed: COPY requirements.txt /code/"
        );
        assert_eq!(explain(None, &cur, None), "not built before");
    }

    #[test]
    fn parent_change_without_a_miss_names_the_base_or_the_config_step() {
        let prev = step("RUN make", "a", &[("definition", "d")]);
        let mut cur = step("RUN make", "b", &[("definition", "d")]);
        cur.base = Some("busybox:1.37".into());
        assert_eq!(
            explain(Some(&prev), &cur, None),
            "base changed: busybox → busybox:1.37"
        );
        let mut prev = prev;
        prev.config_before = vec!["ENV MODE=dev".into()];
        cur.base = prev.base.clone();
        cur.config_before = vec!["ENV MODE=prod".into()];
        assert_eq!(
            explain(Some(&prev), &cur, None),
            "parent changed: ENV MODE=prod; was: ENV MODE=dev"
        );
        cur.config_before = prev.config_before.clone();
        assert_eq!(
            explain(Some(&prev), &cur, None),
            "base changed: busybox (configuration)"
        );
    }

    #[test]
    fn env_and_arg_changes_show_values() {
        let prev = step(
            "RUN make",
            "a",
            &[("definition", "d"), ("env:VERSION", "1.0")],
        );
        let mut cur = step(
            "RUN make",
            "a",
            &[("definition", "d"), ("env:VERSION", "1.1")],
        );
        assert_eq!(explain(Some(&prev), &cur, None), "env VERSION: 1.0 → 1.1");
        cur.build_args.insert("VERSION".into());
        assert_eq!(explain(Some(&prev), &cur, None), "ARG VERSION: 1.0 → 1.1");
    }
}
