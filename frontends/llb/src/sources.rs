//! Source vertices: images, local build contexts, HTTP and git.

use crate::graph::{self, Graph, OutputRef};
use crate::paths;
use bollard_buildkit_proto::pb;
use std::collections::{BTreeMap, BTreeSet};
use strata_plan::{CopySource, IgnoreRule, Mount, Plan, SourceKind, StepKind};

/// The name of the main build context, as `docker build` sends it.
pub(crate) const MAIN_CONTEXT: &str = "context";

/// A `SourceOp` vertex with the usual constraints.
pub(crate) fn source_op(
    graph: &mut Graph,
    identifier: String,
    attrs: BTreeMap<String, String>,
    platform: &pb::Platform,
    metadata: pb::OpMetadata,
) -> OutputRef {
    let op = pb::Op {
        inputs: vec![],
        platform: Some(platform.clone()),
        constraints: Some(pb::WorkerConstraints::default()),
        op: Some(pb::op::Op::Source(pb::SourceOp { identifier, attrs })),
    };
    graph.add(&op, metadata)
}

/// `docker-image://REF` for an already normalised reference.
pub(crate) fn image(
    graph: &mut Graph,
    normalized: &str,
    platform: &pb::Platform,
    name: &str,
) -> OutputRef {
    source_op(
        graph,
        format!("docker-image://{normalized}"),
        BTreeMap::new(),
        platform,
        graph::named(name, None),
    )
}

/// What a local context source filters, computed before any vertex is made
/// because the source's digest depends on it.
#[derive(Debug, Default, Clone)]
pub(crate) struct LocalFilter {
    /// Paths the build reads (`local.followpaths`); `None` when the whole
    /// context is read (a `COPY .` or a bind mount of the root).
    pub follow: Option<BTreeSet<String>>,
}

/// Collects, per local context name, the paths that the required stages read.
pub(crate) fn collect_filters(
    plan: &Plan,
    named_local: &dyn Fn(&str) -> bool,
) -> BTreeMap<String, LocalFilter> {
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut add = |name: &str, path: &str| {
        used.entry(name.to_string())
            .or_default()
            .insert(paths::clean(&format!("/{path}")));
    };
    for id in plan.required_stages() {
        let Some(stage) = plan.stage(id) else {
            continue;
        };
        for step in &stage.steps {
            match &step.kind {
                StepKind::Copy(copy) => {
                    let name = match &copy.from {
                        CopySource::Context => MAIN_CONTEXT,
                        CopySource::NamedContext(n) if named_local(n) => n.as_str(),
                        _ => continue,
                    };
                    for src in &copy.sources.paths {
                        if copy.add && (is_url(src) || is_git(src)) {
                            continue;
                        }
                        add(name, src);
                    }
                }
                StepKind::Run(run) => {
                    for mount in &run.mounts {
                        let (from, source) = match mount {
                            Mount::Bind(b) => (&b.from, b.source.as_str()),
                            Mount::Cache(c) => match &c.from {
                                Some(f) => (f, c.source.as_deref().unwrap_or("/")),
                                None => continue,
                            },
                            _ => continue,
                        };
                        let name = match from {
                            CopySource::Context => MAIN_CONTEXT,
                            CopySource::NamedContext(n) if named_local(n) => n.as_str(),
                            _ => continue,
                        };
                        add(name, source);
                    }
                }
                _ => {}
            }
        }
    }
    used.into_iter()
        .map(|(name, set)| {
            let follow = if set.contains("/") {
                None
            } else {
                Some(
                    set.iter()
                        .map(|p| p.trim_start_matches('/').to_string())
                        .collect(),
                )
            };
            (name, LocalFilter { follow })
        })
        .collect()
}

/// `local://NAME` with BuildKit's attributes for a context sent by the client.
pub(crate) fn local(
    graph: &mut Graph,
    name: &str,
    session_id: Option<&str>,
    excludes: &[IgnoreRule],
    filter: Option<&LocalFilter>,
    platform: &pb::Platform,
) -> OutputRef {
    let mut attrs = BTreeMap::new();
    attrs.insert("local.sharedkeyhint".to_string(), name.to_string());
    if let Some(id) = session_id.filter(|s| !s.is_empty()) {
        attrs.insert("local.session".to_string(), id.to_string());
    }
    if !excludes.is_empty() {
        let patterns: Vec<String> = excludes
            .iter()
            .map(|r| {
                if r.negated {
                    format!("!{}", r.pattern)
                } else {
                    r.pattern.clone()
                }
            })
            .collect();
        attrs.insert("local.excludepatterns".to_string(), go_json(&patterns));
    }
    if let Some(follow) = filter.and_then(|f| f.follow.as_ref()) {
        let list: Vec<String> = follow.iter().cloned().collect();
        attrs.insert("local.followpaths".to_string(), go_json(&list));
    }
    let label = if name == MAIN_CONTEXT {
        "[internal] load build context".to_string()
    } else {
        format!("[context {name}] load from client")
    };
    source_op(
        graph,
        format!("local://{name}"),
        attrs,
        platform,
        graph::named(&label, None),
    )
}

/// A JSON array of strings encoded as Go's `json.Marshal` does (HTML
/// characters escaped), so attributes match BuildKit's byte for byte.
pub(crate) fn go_json(list: &[String]) -> String {
    strata_plan::go_escape_html(&serde_json::Value::from(list.to_vec()).to_string())
}

/// `ADD` sources fetched over HTTP(S).
pub(crate) fn is_url(src: &str) -> bool {
    SourceKind::of(src) == SourceKind::Url
}

/// `ADD` sources that are git repositories.
pub(crate) fn is_git(src: &str) -> bool {
    SourceKind::of(src) == SourceKind::Git
}

/// `https://…` source with its file name and optional checksum.
pub(crate) fn http(
    graph: &mut Graph,
    url: &str,
    checksum: Option<&str>,
    platform: &pb::Platform,
    name: &str,
) -> (OutputRef, String) {
    let filename = strata_plan::url_file_name(url);
    let mut attrs = BTreeMap::new();
    attrs.insert("http.filename".to_string(), filename.clone());
    if let Some(c) = checksum {
        attrs.insert("http.checksum".to_string(), c.to_string());
    }
    let out = source_op(
        graph,
        url.to_string(),
        attrs,
        platform,
        graph::named(name, None),
    );
    (out, filename)
}

/// `git://HOST/PATH#REF` source, keeping the full URL as `git.fullurl`.
pub(crate) fn git(
    graph: &mut Graph,
    src: &str,
    keep_git_dir: bool,
    platform: &pb::Platform,
    name: &str,
) -> OutputRef {
    let (remote, fragment) = match src.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (src, None),
    };
    let (bare, full) = if let Some(rest) = remote.strip_prefix("git@") {
        // scp-like: git@host:org/repo.git
        (rest.replacen(':', "/", 1), Some(remote.to_string()))
    } else if let Some((scheme, rest)) = remote.split_once("://") {
        let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        let full = (scheme != "git").then(|| remote.to_string());
        (rest.to_string(), full)
    } else {
        (remote.to_string(), None)
    };
    let mut identifier = format!("git://{bare}");
    if let Some(f) = fragment.filter(|f| !f.is_empty()) {
        identifier.push('#');
        identifier.push_str(f);
    }
    let mut attrs = BTreeMap::new();
    if let Some(full) = full {
        attrs.insert("git.fullurl".to_string(), full);
    }
    if keep_git_dir {
        attrs.insert("git.keepgitdir".to_string(), "true".to_string());
    }
    source_op(graph, identifier, attrs, platform, graph::named(name, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_json_escapes_html() {
        assert_eq!(
            go_json(&["a<b>&c".to_string(), "!x".to_string()]),
            r#"["a\u003cb\u003e\u0026c","!x"]"#
        );
    }
}
