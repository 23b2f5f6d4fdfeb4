//! Slash-separated path helpers with Go's `path.Clean`/`path.Join` semantics,
//! which BuildKit applies to every path it puts in LLB.

pub(crate) use strata_plan::clean_path as clean;

/// Joins `path` onto `dir` unless it is absolute, then cleans the result.
pub(crate) fn join(dir: &str, path: &str) -> String {
    if path.starts_with('/') {
        clean(path)
    } else {
        clean(&format!("{dir}/{path}"))
    }
}

/// Makes `path` absolute against `dir` and cleans it, keeping a trailing
/// slash (which tells a copy that the destination is a directory). `.` and
/// the empty path mean the directory itself, with a trailing slash.
pub(crate) fn join_keep_slash(dir: &str, path: &str) -> String {
    let path = if path.is_empty() || path == "." {
        "./"
    } else {
        path
    };
    let mut out = join(dir, path);
    let wants_slash = path.ends_with('/') || path.ends_with("/.");
    if wants_slash && !out.ends_with('/') {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_keeps_only_requested_slashes() {
        assert_eq!(join("/app", "src"), "/app/src");
        assert_eq!(join("/app", "/etc/"), "/etc");
        assert_eq!(join_keep_slash("/app", "."), "/app/");
        assert_eq!(join_keep_slash("/app", "bin/"), "/app/bin/");
        assert_eq!(join_keep_slash("/", "x"), "/x");
        assert_eq!(join_keep_slash("/", ""), "/");
    }
}
