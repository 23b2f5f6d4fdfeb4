//! `--call=targets`: BuildKit's `frontend.targets` result (`format=json`)
//! and buildx's table of it.

use super::json::{bytes, insert_some, location, marshal_indent};
use super::tabwriter::aligned;
use serde_json::{Map, Value, json};
use strata_dockerfile::subrequests::Target;

/// The `result.json` of `frontend.targets`.
pub fn json(targets: &[Target], source: &str) -> String {
    let list: Vec<Value> = targets
        .iter()
        .map(|t| {
            let mut o = Map::new();
            insert_some(&mut o, "name", t.name.as_deref());
            if t.default {
                o.insert("default".into(), Value::Bool(true));
            }
            insert_some(&mut o, "description", t.description.as_deref());
            insert_some(&mut o, "base", Some(&t.base));
            insert_some(&mut o, "platform", t.platform.as_deref());
            o.insert("location".into(), location(t.span));
            Value::Object(o)
        })
        .collect();
    marshal_indent(&json!({ "targets": list, "sources": [bytes(source.as_bytes())] }))
}

/// buildx's `TARGET`/`DESCRIPTION` table, the default marked.
pub fn text(targets: &[Target]) -> String {
    let mut rows = vec![vec!["TARGET".to_string(), "DESCRIPTION".to_string()]];
    for t in targets {
        let name = match (&t.name, t.default) {
            (None, true) => "(default)".to_string(),
            (Some(name), true) => format!("{name} (default)"),
            (name, false) => name.clone().unwrap_or_default(),
        };
        rows.push(vec![name, t.description.clone().unwrap_or_default()]);
    }
    aligned(&rows, 1)
}
