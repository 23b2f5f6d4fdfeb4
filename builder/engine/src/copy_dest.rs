//! Where COPY and ADD put things: Docker's destination rules.
//!
//! - A relative destination is joined with the working directory; a
//!   trailing `/` is kept and means "a directory".
//! - Several sources, or a wildcard matching several paths, need a
//!   directory destination ending in `/`.
//! - A directory source copies its *content* into the destination.
//! - A file goes to `DEST/NAME` when the destination ends with `/` or is an
//!   existing directory (following symlinks inside the root), else to `DEST`.
//! - `--parents` keeps each source's path (after a `/./` pivot, only the part
//!   after it) below the destination: a selection root is then the pivot
//!   directory, whose content goes to the destination itself.

use crate::image_config::clean_path;

/// The destination as written, made absolute against the working directory.
/// The result is clean, except that a trailing `/` (or `/.`) is kept as `/`.
pub fn absolute_dest(dest: &str, workdir: &str) -> String {
    let wants_dir = dest.ends_with('/') || dest.ends_with("/.") || dest == ".";
    let joined = if dest.starts_with('/') {
        clean_path(dest)
    } else {
        clean_path(&format!("{workdir}/{dest}"))
    };
    if wants_dir && joined != "/" {
        format!("{joined}/")
    } else {
        joined
    }
}

/// One source path after wildcard matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// The matched path relative to the source root (`src/app`, `a.txt`).
    pub path: String,
    /// It is (or links to) a directory.
    pub is_dir: bool,
}

/// A destination error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestError {
    /// Several sources need a directory destination.
    #[error(
        "when using COPY with more than one source file, the destination must be a directory and end with a / (got {0:?})"
    )]
    NotADirectory(String),
}

/// Where each matched source goes: returns, per match, the directory or file
/// path its content is written to. `total_sources` counts every source path
/// and heredoc of the instruction; `exists_dir` says whether a path exists in
/// the destination root as a directory.
pub fn targets(
    dest: &str,
    matches: &[Matched],
    total_sources: usize,
    parents: bool,
    exists_dir: &dyn Fn(&str) -> bool,
) -> Result<Vec<String>, DestError> {
    let dest_is_dir = dest.ends_with('/');
    let base = dest.trim_end_matches('/');
    let base = if base.is_empty() { "/" } else { base };
    let many = total_sources > 1 || matches.len() > 1;
    if many && !dest_is_dir && !exists_dir(base) {
        return Err(DestError::NotADirectory(dest.to_string()));
    }
    let into_dir = dest_is_dir || many || exists_dir(base);
    Ok(matches
        .iter()
        .map(|m| {
            if parents {
                // A root of `--parents` is the pivot (the part before `/./`,
                // else the source root): its content, which keeps the path
                // below the pivot, goes to the destination itself.
                if m.is_dir {
                    return base.to_string();
                }
                let kept = m
                    .path
                    .rsplit_once("/./")
                    .map_or(m.path.as_str(), |(_, r)| r);
                let kept = kept.trim_start_matches("./").trim_matches('/');
                return join(base, kept);
            }
            if m.is_dir {
                base.to_string()
            } else if into_dir {
                let name = m.path.rsplit('/').next().unwrap_or(&m.path);
                join(base, name)
            } else {
                base.to_string()
            }
        })
        .collect())
}

/// Joins a path below a directory (`"/"` + `"a"` = `"/a"`); an empty
/// relative path is the directory itself.
pub fn join(dir: &str, rel: &str) -> String {
    if rel.is_empty() {
        dir.to_string()
    } else if dir.ends_with('/') {
        format!("{dir}{rel}")
    } else {
        format!("{dir}/{rel}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(p: &str) -> Matched {
        Matched {
            path: p.into(),
            is_dir: false,
        }
    }
    fn dir(p: &str) -> Matched {
        Matched {
            path: p.into(),
            is_dir: true,
        }
    }
    fn none(_: &str) -> bool {
        false
    }

    #[test]
    fn relative_destinations_follow_workdir() {
        assert_eq!(absolute_dest(".", "/code"), "/code/");
        assert_eq!(absolute_dest("./", "/code"), "/code/");
        assert_eq!(absolute_dest("x", "/code"), "/code/x");
        assert_eq!(absolute_dest("x/", "/"), "/x/");
        assert_eq!(absolute_dest("/abs/../y", "/code"), "/y");
        assert_eq!(absolute_dest("/", "/code"), "/");
    }

    #[test]
    fn single_file_to_new_path_is_a_rename() {
        let t = targets("/code/app.py", &[file("src/main.py")], 1, false, &none).unwrap();
        assert_eq!(t, ["/code/app.py"]);
    }

    #[test]
    fn file_into_trailing_slash_or_existing_dir() {
        let t = targets("/code/", &[file("src/main.py")], 1, false, &none).unwrap();
        assert_eq!(t, ["/code/main.py"]);
        let t = targets("/code", &[file("main.py")], 1, false, &|p| p == "/code").unwrap();
        assert_eq!(t, ["/code/main.py"]);
    }

    #[test]
    fn directory_copies_its_content() {
        let t = targets("/app", &[dir("src")], 1, false, &none).unwrap();
        assert_eq!(t, ["/app"]);
        let t = targets("/", &[dir(".")], 1, false, &|_| true).unwrap();
        assert_eq!(t, ["/"]);
    }

    #[test]
    fn several_sources_need_a_directory() {
        let err = targets("/x", &[file("a"), file("b")], 2, false, &none).unwrap_err();
        assert!(err.to_string().contains("must be a directory"));
        let t = targets("/x/", &[file("a"), file("d/b")], 2, false, &none).unwrap();
        assert_eq!(t, ["/x/a", "/x/b"]);
        // An existing directory is fine even without the slash.
        let t = targets("/x", &[file("a"), file("b")], 2, false, &|p| p == "/x").unwrap();
        assert_eq!(t, ["/x/a", "/x/b"]);
    }

    #[test]
    fn parents_keep_the_source_path() {
        let t = targets(
            "/dst/",
            &[file("x/y/f.txt"), dir("a"), dir("")],
            3,
            true,
            &none,
        )
        .unwrap();
        // The directories are pivots (`a/./b/c`, `b/c`): the paths below
        // them are kept inside the destination.
        assert_eq!(t, ["/dst/x/y/f.txt", "/dst", "/dst"]);
    }
}
