//! `--call=outline`: BuildKit's `frontend.outline` result (`format=json`)
//! and buildx's tables of it.

use super::json::{bytes, insert_some, location, marshal_indent};
use super::tabwriter::aligned;
use serde_json::{Map, Value};
use strata_dockerfile::subrequests::{Outline, OutlineMount};

/// The `result.json` of `frontend.outline`.
pub fn json(outline: &Outline, source: &str) -> String {
    let mut o = Map::new();
    insert_some(&mut o, "name", outline.name.as_deref());
    insert_some(&mut o, "description", outline.description.as_deref());
    if !outline.args.is_empty() {
        let args = outline.args.iter().map(|a| {
            let mut arg = Map::new();
            arg.insert("name".into(), Value::String(a.name.clone()));
            insert_some(&mut arg, "description", a.description.as_deref());
            insert_some(&mut arg, "value", a.value.as_deref());
            arg.insert("location".into(), location(a.span));
            Value::Object(arg)
        });
        o.insert("args".into(), Value::Array(args.collect()));
    }
    for (key, mounts) in [("secrets", &outline.secrets), ("ssh", &outline.ssh)] {
        if !mounts.is_empty() {
            o.insert(key.into(), Value::Array(mounts.iter().map(mount).collect()));
        }
    }
    o.insert(
        "sources".into(),
        Value::Array(vec![bytes(source.as_bytes())]),
    );
    marshal_indent(&Value::Object(o))
}

fn mount(m: &OutlineMount) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), Value::String(m.id.clone()));
    if m.required {
        o.insert("required".into(), Value::Bool(true));
    }
    o.insert("location".into(), location(m.span));
    Value::Object(o)
}

/// buildx's text: the target, then tables of build args, secrets and ssh
/// agents, each followed by an empty line.
pub fn text(outline: &Outline) -> String {
    let mut out = String::new();
    if outline.name.is_some() || outline.description.is_some() {
        let name = outline.name.as_deref().unwrap_or("(default)");
        let mut rows = vec![vec!["TARGET:".to_string(), name.to_string()]];
        if let Some(description) = &outline.description {
            rows.push(vec!["DESCRIPTION:".to_string(), description.clone()]);
        }
        out.push_str(&aligned(&rows, 1));
        out.push('\n');
    }
    if !outline.args.is_empty() {
        let mut rows = vec![row(&["BUILD ARG", "VALUE", "DESCRIPTION"])];
        for a in &outline.args {
            rows.push(vec![
                a.name.clone(),
                a.value.clone().unwrap_or_default(),
                a.description.clone().unwrap_or_default(),
            ]);
        }
        out.push_str(&aligned(&rows, 3));
        out.push('\n');
    }
    for (title, mounts) in [("SECRET", &outline.secrets), ("SSH", &outline.ssh)] {
        if mounts.is_empty() {
            continue;
        }
        let mut rows = vec![row(&[title, "REQUIRED"])];
        for m in mounts {
            let required = if m.required { "true" } else { "" };
            rows.push(row(&[&m.id, required]));
        }
        out.push_str(&aligned(&rows, 3));
        out.push('\n');
    }
    out
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}
