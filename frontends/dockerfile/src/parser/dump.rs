//! BuildKit's dump format for the syntax tree, with Go's `strconv.Quote`.

use super::{Arg, Node};

/// Quotes a string as Go's `strconv.Quote` does.
pub(super) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols
/// and the ASCII space. Rust has no general-category table, so this takes
/// the complement: controls, separators (Unicode blanks), format
/// characters (Cf) and private use (Co) are not printable. Unassigned code
/// points are the only difference left.
fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32,
        // Cf: format characters.
        0x00ad
        | 0x0600..=0x0605
        | 0x061c
        | 0x06dd
        | 0x070f
        | 0x0890..=0x0891
        | 0x08e2
        | 0x180e
        | 0x200b..=0x200f
        | 0x202a..=0x202e
        | 0x2060..=0x2064
        | 0x2066..=0x206f
        | 0xfeff
        | 0xfff9..=0xfffb
        | 0x110bd
        | 0x110cd
        | 0x13430..=0x1343f
        | 0x1bca0..=0x1bca3
        | 0x1d173..=0x1d17a
        | 0xe0001
        | 0xe0020..=0xe007f
        // Co: private use.
        | 0xe000..=0xf8ff
        | 0xf0000..=0xffffd
        | 0x100000..=0x10fffd
        // Noncharacters.
        | 0xfffe..=0xffff
    )
}

/// One node as BuildKit's `Node.Dump` prints it (without the outer parens).
pub(super) fn dump_node(node: &Node) -> String {
    let mut s = node.keyword.clone();
    if !node.flags.is_empty() {
        let flags: Vec<String> = node.flags.iter().map(|f| go_quote(f)).collect();
        s.push_str(&format!(" [{}]", flags.join(" ")));
    }
    for arg in &node.args {
        match arg {
            Arg::Word(w) => {
                s.push(' ');
                s.push_str(&go_quote(w));
            }
            Arg::Node(child) => {
                s.push_str(&format!(" ({})", dump_node(child)));
            }
        }
    }
    s.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_matches_go() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("tab\there\n"), r#""tab\there\n""#);
        assert_eq!(go_quote("\u{1}"), r#""\x01""#);
        assert_eq!(go_quote("한국어"), "\"한국어\"");
        assert_eq!(go_quote("\u{7f}\u{a0}\u{ad}é"), r#""\x7f\u00a0\u00adé""#);
        assert_eq!(
            go_quote("\u{200b}\u{e000}\u{1f600}"),
            "\"\\u200b\\ue000\u{1f600}\""
        );
        assert_eq!(go_quote("\u{f0000}"), r#""\U000f0000""#);
    }
}
