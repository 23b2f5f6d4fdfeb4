//! Explaining a cache miss: which entries of a selection changed.

use crate::digest::Manifest;

/// The differences between two manifests of the same COPY's selection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestChanges {
    /// Paths only in the new manifest, sorted.
    pub added: Vec<String>,
    /// Paths only in the old manifest, sorted.
    pub removed: Vec<String>,
    /// Paths in both whose entry digest differs, sorted.
    pub changed: Vec<String>,
}

/// Lists what changed from `old` to `new`.
pub fn changed_since(old: &Manifest, new: &Manifest) -> ManifestChanges {
    let mut out = ManifestChanges::default();
    for (path, digest) in new {
        match old.get(path) {
            None => out.added.push(path.clone()),
            Some(d) if d != digest => out.changed.push(path.clone()),
            Some(_) => {}
        }
    }
    out.removed = old
        .keys()
        .filter(|p| !new.contains_key(*p))
        .cloned()
        .collect();
    out
}

impl ManifestChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// A one-line summary for `--explain`, naming at most `max_names`
    /// paths per group: `1 file changed: mysite/views.py`.
    pub fn summary(&self, max_names: usize) -> String {
        let mut parts = Vec::new();
        for (list, verb) in [
            (&self.changed, "changed"),
            (&self.added, "added"),
            (&self.removed, "removed"),
        ] {
            if list.is_empty() {
                continue;
            }
            let noun = if list.len() == 1 { "file" } else { "files" };
            let mut names: Vec<&str> = list.iter().take(max_names).map(String::as_str).collect();
            let more = list.len().saturating_sub(max_names);
            let tail = if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            };
            if names.is_empty() {
                parts.push(format!("{} {noun} {verb}", list.len()));
            } else {
                names.sort_unstable();
                parts.push(format!(
                    "{} {noun} {verb}: {}{tail}",
                    list.len(),
                    names.join(", ")
                ));
            }
        }
        if parts.is_empty() {
            "no changes".to_string()
        } else {
            parts.join("; ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Sha256Digest;

    fn manifest(items: &[(&str, u8)]) -> Manifest {
        items
            .iter()
            .map(|&(p, d)| (p.to_string(), Sha256Digest([d; 32])))
            .collect()
    }

    #[test]
    fn lists_added_removed_changed() {
        let old = manifest(&[("a", 1), ("mysite/views.py", 2), ("gone", 3)]);
        let new = manifest(&[("a", 1), ("mysite/views.py", 9), ("new1", 4), ("new2", 5)]);
        let c = changed_since(&old, &new);
        assert_eq!(c.changed, ["mysite/views.py"]);
        assert_eq!(c.added, ["new1", "new2"]);
        assert_eq!(c.removed, ["gone"]);
        assert_eq!(
            c.summary(1),
            "1 file changed: mysite/views.py; 2 files added: new1 (and 1 more); 1 file removed: gone"
        );
        assert!(changed_since(&old, &old).is_empty());
        assert_eq!(changed_since(&old, &old).summary(3), "no changes");
    }
}
