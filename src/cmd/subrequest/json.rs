//! JSON as BuildKit's Go code writes a subrequest's `result.json`
//! (`json.MarshalIndent(v, "", "  ")`): two-space indents, `<`, `>`, `&`
//! and U+2028/U+2029 escaped as `\u003c` …, byte slices in standard
//! base64, and a `pb.Location` with only the fields that are set.

use serde_json::{Value, json};
use strata_plan::Span;

/// `v` indented and escaped as Go's `encoding/json` does.
pub fn marshal_indent(v: &Value) -> String {
    strata_plan::go_escape_html(&serde_json::to_string_pretty(v).unwrap_or_default())
}

/// A `pb.Location` of one instruction in source 0: whole lines, so the
/// zero `sourceIndex` and `character`s are left out, as Go's `omitempty`
/// leaves them.
pub fn location(span: Span) -> Value {
    json!({
        "ranges": [{
            "start": { "line": span.start_line },
            "end": { "line": span.end_line },
        }]
    })
}

/// Bytes as Go marshals a `[]byte`.
pub fn bytes(data: &[u8]) -> Value {
    Value::String(strata_store::base64::encode(data))
}

/// Inserts `key: value` when `value` is set (`omitempty`).
pub fn insert_some(object: &mut serde_json::Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        object.insert(key.into(), Value::String(v.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_characters_are_escaped_as_go_does() {
        let v = json!({ "detail": "a <b> & c\u{2028}", "n": [] });
        assert_eq!(
            marshal_indent(&v),
            "{\n  \"detail\": \"a \\u003cb\\u003e \\u0026 c\\u2028\",\n  \"n\": []\n}"
        );
    }

    #[test]
    fn a_location_has_only_its_lines() {
        let span = Span {
            start_line: 3,
            end_line: 4,
        };
        assert_eq!(
            location(span).to_string(),
            r#"{"ranges":[{"start":{"line":3},"end":{"line":4}}]}"#
        );
    }
}
