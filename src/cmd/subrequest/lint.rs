//! `--call=check,format=json`: BuildKit's lint result (`frontend.lint`):
//! the warnings with their rule, description, link, message and lines,
//! the Dockerfile they are about, and the error the checks end with
//! (`check=error=true`, or a Dockerfile that does not lower).

use super::json::{bytes, insert_some, location, marshal_indent};
use serde_json::{Map, Value, json};
use strata_dockerfile::{DockerfileError, lints};
use strata_plan::{Span, Warning};

/// The `result.json` of `frontend.lint`. The source carries no
/// `definition` (BuildKit's LLB of the Dockerfile's source, which only a
/// BuildKit session gives a meaning).
pub fn json(
    warnings: &[Warning],
    error: Option<&DockerfileError>,
    file: &str,
    source: &str,
) -> String {
    let list: Vec<Value> = warnings.iter().map(warning).collect();
    let mut o = Map::new();
    // Go marshals BuildKit's nil slice when nothing fired as null.
    o.insert(
        "warnings".into(),
        if list.is_empty() {
            Value::Null
        } else {
            Value::Array(list)
        },
    );
    o.insert(
        "sources".into(),
        json!([{
            "filename": file,
            "data": bytes(source.as_bytes()),
            "language": "Dockerfile",
        }]),
    );
    if let Some(e) = error {
        let at = e.location;
        let location = match at.line {
            0 => json!({}),
            line => location(Span {
                start_line: line,
                end_line: at.end_line.max(line),
            }),
        };
        o.insert(
            "buildError".into(),
            json!({ "message": e.message, "location": location }),
        );
    }
    marshal_indent(&Value::Object(o))
}

fn warning(w: &Warning) -> Value {
    let rule = lints::rule(&w.rule);
    let mut o = Map::new();
    o.insert("ruleName".into(), Value::String(w.rule.clone()));
    insert_some(&mut o, "description", rule.map(|r| r.description));
    insert_some(&mut o, "url", rule.map(|r| r.url));
    insert_some(&mut o, "detail", Some(&w.message));
    o.insert(
        "location".into(),
        w.span.map_or_else(|| json!({}), location),
    );
    Value::Object(o)
}
