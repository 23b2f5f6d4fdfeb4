//! Slash paths as BuildKit's Go code sees them.

/// Cleans a slash-separated path lexically, as Go's `path.Clean` (which
/// BuildKit and tar-split apply): drops `.` and empty segments, resolves
/// `..` (never above the root of an absolute path), and gives `.` for an
/// empty relative result and `/` for an empty absolute one.
pub fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::clean_path;

    #[test]
    fn paths_are_cleaned_as_go_does() {
        for (path, want) in [
            ("", "."),
            ("/", "/"),
            ("./", "."),
            ("./a/b/", "a/b"),
            ("a//b/./c", "a/b/c"),
            ("a//b/./c/..", "a/b"),
            ("a/./b/../c/", "a/c"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("../x", "../x"),
            ("./a", "a"),
            ("a/b/", "a/b"),
            ("a/../..", ".."),
            ("/../a", "/a"),
            ("a/**/", "a/**"),
            ("/../x", "/x"),
            ("/../a//b", "/a/b"),
        ] {
            assert_eq!(clean_path(path), want, "{path:?}");
        }
    }
}
