//! Named build contexts (`--build-context NAME=…`) as BuildKit's
//! Dockerfile frontend sees them: a name matches a `FROM`, a `--from=` or
//! a mount's `from=` after docker's reference normalisation, and a stage
//! whose name is a context's is replaced by that context.

use std::collections::BTreeMap;

/// What a named build context is, as far as the Dockerfile is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedSource {
    /// An image (`docker-image://REF`, or an `oci-layout://` image the
    /// caller made available under this reference): used exactly as if
    /// the Dockerfile had named the reference.
    Image(String),
    /// A local directory: its files are the root filesystem of a stage
    /// based on it (on an empty configuration), and the tree `--from`
    /// reads.
    Local,
}

/// The named contexts of a build, keyed by [`context_key`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamedContexts(BTreeMap<String, NamedSource>);

impl NamedContexts {
    /// No named contexts.
    pub fn new() -> Self {
        NamedContexts::default()
    }

    /// Adds (or replaces) the context `name`.
    pub fn insert(&mut self, name: &str, source: NamedSource) {
        self.0.insert(context_key(name), source);
    }

    /// The context that `name` (a base image, a stage name or a `--from`
    /// value) refers to, with its key.
    pub fn get(&self, name: &str) -> Option<(String, &NamedSource)> {
        let key = context_key(name);
        let source = self.0.get(&key)?;
        Some((key, source))
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<(String, NamedSource)> for NamedContexts {
    fn from_iter<I: IntoIterator<Item = (String, NamedSource)>>(iter: I) -> Self {
        let mut out = NamedContexts::new();
        for (name, source) in iter {
            out.insert(&name, source);
        }
        out
    }
}

/// The key BuildKit looks a context up by: the name in docker's short
/// form without a `:latest` tag, so `alpine`, `alpine:latest`,
/// `docker.io/library/alpine` and `index.docker.io/library/alpine:latest`
/// all name the context `alpine`, while `alpine:3.19` names only
/// `alpine:3.19`.
pub fn context_key(name: &str) -> String {
    let mut short = name.trim();
    for registry in ["docker.io/", "index.docker.io/"] {
        if let Some(rest) = short.strip_prefix(registry) {
            short = rest;
            if let Some(official) = short.strip_prefix("library/")
                && !official.contains('/')
            {
                short = official;
            }
            break;
        }
    }
    let last = short.rsplit('/').next().unwrap_or(short);
    if !last.contains('@')
        && let Some(untagged) = short.strip_suffix(":latest")
    {
        return untagged.to_string();
    }
    short.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_docker_normalisation() {
        for name in [
            "alpine",
            "alpine:latest",
            "docker.io/library/alpine",
            "index.docker.io/library/alpine:latest",
            "docker.io/alpine",
        ] {
            assert_eq!(context_key(name), "alpine", "{name}");
        }
        assert_eq!(context_key("alpine:3.19"), "alpine:3.19");
        assert_eq!(context_key("docker.io/me/app"), "me/app");
        assert_eq!(
            context_key("localhost:5000/app:latest"),
            "localhost:5000/app"
        );
        assert_eq!(context_key("localhost:5000/app"), "localhost:5000/app");
        assert_eq!(context_key("base"), "base");
        let pinned =
            "alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000";
        assert_eq!(context_key(pinned), pinned);
    }

    #[test]
    fn lookups_normalise_both_sides() {
        let mut named = NamedContexts::new();
        named.insert("docker.io/library/alpine:latest", NamedSource::Local);
        assert_eq!(
            named.get("alpine").map(|(k, _)| k),
            Some("alpine".to_string())
        );
        assert!(named.get("alpine:3.19").is_none());
    }
}
