//! JSON as Go's `encoding/json` writes it, where BuildKit's bytes or
//! output must be matched.

/// Escapes what Go's encoder escapes in strings and serde_json does not:
/// `<`, `>`, `&` (as `\u003c` …) and U+2028/U+2029. These characters can
/// only appear inside strings of JSON text, so escaping them in the whole
/// text escapes exactly what Go escapes.
pub fn go_escape_html(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_characters_and_line_separators_are_escaped() {
        assert_eq!(
            go_escape_html("[\"a<b>&c\u{2028}\u{2029}\"]"),
            "[\"a\\u003cb\\u003e\\u0026c\\u2028\\u2029\"]"
        );
    }
}
