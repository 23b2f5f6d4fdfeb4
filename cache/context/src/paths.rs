//! Lexical helpers for slash-separated paths relative to a root.

use std::cmp::Ordering;

/// Cleans `p` as a path below a root, the way BuildKit treats COPY sources
/// (`path.Join("/", p)`): empty and `.` components vanish, `..` removes the
/// previous component and never climbs above the root, so `../x` is `x`.
/// The result has no leading or trailing `/`; the root itself is `""`.
pub fn clean_rel(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for comp in p.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// Joins a relative directory and a name (`""` is the root).
pub(crate) fn join(dir: &str, name: &str) -> String {
    match (dir.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (_, true) => dir.to_string(),
        _ => {
            let mut s = String::with_capacity(dir.len() + 1 + name.len());
            s.push_str(dir);
            s.push('/');
            s.push_str(name);
            s
        }
    }
}

/// Orders paths component by component (`a` < `a/b` < `a.b`), so that a
/// directory's subtree is contiguous in a sorted list. This is the order of
/// every list this crate returns and of everything it hashes.
pub fn path_cmp(a: &str, b: &str) -> Ordering {
    let key = |c: u8| if c == b'/' { 0 } else { c };
    a.bytes().map(key).cmp(b.bytes().map(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_rel_clamps_to_root() {
        assert_eq!(clean_rel("../x"), "x");
        assert_eq!(clean_rel("/a/./b/"), "a/b");
        assert_eq!(clean_rel("a/../../b"), "b");
        assert_eq!(clean_rel("."), "");
        assert_eq!(clean_rel("./"), "");
        assert_eq!(clean_rel("a//b"), "a/b");
    }

    #[test]
    fn component_order_keeps_subtrees_together() {
        let mut v = vec!["a.b", "a/b", "a", "a-c", "a/b/c", "b"];
        v.sort_by(|x, y| path_cmp(x, y));
        assert_eq!(v, ["a", "a/b", "a/b/c", "a-c", "a.b", "b"]);
    }
}
