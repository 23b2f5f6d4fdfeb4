//! Why a step missed the cache: a comparison with the last build of the
//! same step of the same Dockerfile and target.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use strata_cache::{RecordStore, StepInputs};

/// What the last build of a Dockerfile + target keyed each step on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastBuild {
    /// `"<stage>:<step index>"` → the step's inputs.
    pub steps: BTreeMap<String, StepHistory>,
}

/// One step of the last build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepHistory {
    /// The instruction as written.
    pub text: String,
    /// What went into its key.
    pub inputs: StepInputs,
}

/// Names of at most `max` paths, then "and N more".
fn list(paths: &[&String], max: usize) -> String {
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

/// Describes the difference between two per-file manifests.
pub fn describe_file_changes(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> String {
    let changed: Vec<&String> = new
        .iter()
        .filter(|(p, d)| old.get(*p).is_some_and(|o| o != *d))
        .map(|(p, _)| p)
        .collect();
    let added: Vec<&String> = new.keys().filter(|p| !old.contains_key(*p)).collect();
    let removed: Vec<&String> = old.keys().filter(|p| !new.contains_key(*p)).collect();
    let mut parts = Vec::new();
    if !changed.is_empty() {
        parts.push(format!(
            "{} changed: {}",
            plural(changed.len(), "file"),
            list(&changed, 3)
        ));
    }
    if !added.is_empty() {
        parts.push(format!(
            "{} added: {}",
            plural(added.len(), "file"),
            list(&added, 3)
        ));
    }
    if !removed.is_empty() {
        parts.push(format!(
            "{} removed: {}",
            plural(removed.len(), "file"),
            list(&removed, 3)
        ));
    }
    if parts.is_empty() {
        "file metadata changed".to_string()
    } else {
        parts.join("; ")
    }
}

/// Explains a miss. `first_miss` is the earliest step of this stage that
/// missed in this build (the reason a parent changed).
pub fn explain_miss(
    previous: Option<&StepHistory>,
    current: &StepInputs,
    first_miss: Option<&str>,
    records: &RecordStore,
) -> String {
    let Some(previous) = previous else {
        return "not built before".to_string();
    };
    if previous.inputs.parent != current.parent {
        return match first_miss {
            Some(step) => format!("parent changed: {step}"),
            None => "base image changed".to_string(),
        };
    }
    let old = &previous.inputs.inputs;
    let new = &current.inputs;
    let mut reasons = Vec::new();
    if old.get("definition") != new.get("definition") {
        reasons.push(format!("instruction changed (was: {})", previous.text));
    }
    for (name, value) in new {
        if name == "definition" {
            continue;
        }
        match old.get(name) {
            Some(before) if before == value => {}
            Some(before) => reasons.push(describe_input(name, Some(before), Some(value), records)),
            None => reasons.push(describe_input(name, None, Some(value), records)),
        }
    }
    for (name, value) in old {
        if !new.contains_key(name) {
            reasons.push(describe_input(name, Some(value), None, records));
        }
    }
    if reasons.is_empty() {
        "no cache record for these inputs (pruned, or never stored)".to_string()
    } else {
        reasons.join("; ")
    }
}

fn describe_input(
    name: &str,
    before: Option<&String>,
    after: Option<&String>,
    records: &RecordStore,
) -> String {
    if name == "source" {
        if let (Some(b), Some(a)) = (before, after)
            && let (Ok(Some(old)), Ok(Some(new))) =
                (records.get_manifest(b), records.get_manifest(a))
        {
            return describe_file_changes(&old, &new);
        }
        return "source content changed".to_string();
    }
    let label = name
        .strip_prefix("env:")
        .map(|v| format!("env {v}"))
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
    use strata_cache::KeyHasher;

    fn m(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn file_changes_are_named() {
        let old = m(&[("a.py", "1"), ("b.py", "2"), ("gone.py", "3")]);
        let new = m(&[("a.py", "1"), ("b.py", "9"), ("new.py", "4")]);
        assert_eq!(
            describe_file_changes(&old, &new),
            "1 file changed: b.py; 1 file added: new.py; 1 file removed: gone.py"
        );
    }

    #[test]
    fn parent_change_names_the_first_miss() {
        let dir = tempfile::tempdir().unwrap();
        let records = RecordStore::open(dir.path()).unwrap();
        let prev = StepHistory {
            text: "RUN pip install".into(),
            inputs: StepInputs {
                parent: Some(KeyHasher::new("a").finish()),
                inputs: m(&[("definition", "d")]),
            },
        };
        let cur = StepInputs {
            parent: Some(KeyHasher::new("b").finish()),
            inputs: m(&[("definition", "d")]),
        };
        assert_eq!(
            explain_miss(
                Some(&prev),
                &cur,
                Some("COPY requirements.txt /code/"),
                &records
            ),
            "parent changed: COPY requirements.txt /code/"
        );
        assert_eq!(explain_miss(None, &cur, None, &records), "not built before");
    }

    #[test]
    fn env_changes_show_values() {
        let dir = tempfile::tempdir().unwrap();
        let records = RecordStore::open(dir.path()).unwrap();
        let parent = Some(KeyHasher::new("a").finish());
        let prev = StepHistory {
            text: "RUN make".into(),
            inputs: StepInputs {
                parent,
                inputs: m(&[("definition", "d"), ("env:VERSION", "1.0")]),
            },
        };
        let cur = StepInputs {
            parent,
            inputs: m(&[("definition", "d"), ("env:VERSION", "1.1")]),
        };
        assert_eq!(
            explain_miss(Some(&prev), &cur, None, &records),
            "env VERSION: 1.0 → 1.1"
        );
    }
}
