//! What an `ADD` source string names: a path in the source tree, a file
//! to fetch over HTTP(S), or a git repository; and the name a fetched file
//! gets. Frontends and the builder must agree on this, so it lives here.

/// The kind of an `ADD` source, decided by its form as BuildKit's
/// Dockerfile frontend does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A path (with wildcards) in the source tree.
    Path,
    /// An `http://` or `https://` URL of a file.
    Url,
    /// A git repository: `git://…`, `ssh://…`, `user@host:path`, or an
    /// HTTP(S) URL whose path ends in `.git` (a `#ref:subdir` may follow).
    Git,
}

impl SourceKind {
    /// Classifies a source as written (after expansion).
    pub fn of(src: &str) -> SourceKind {
        if src.starts_with("git://") || src.starts_with("ssh://") || is_scp_like(src) {
            return SourceKind::Git;
        }
        if !(src.starts_with("http://") || src.starts_with("https://")) {
            return SourceKind::Path;
        }
        let base = src.split(['#', '?']).next().unwrap_or(src);
        if base.trim_end_matches('/').ends_with(".git") {
            SourceKind::Git
        } else {
            SourceKind::Url
        }
    }
}

/// `user@host:path`, git's scp-like ssh form as BuildKit recognises it:
/// a user of `[A-Za-z0-9_-]` and a host of `[A-Za-z0-9.-]` before the `:`.
pub fn is_scp_like(s: &str) -> bool {
    let Some((user, rest)) = s.split_once('@') else {
        return false;
    };
    let Some((host, _)) = rest.split_once(':') else {
        return false;
    };
    let ok = |part: &str, extra: u8| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == extra)
    };
    ok(user, b'_') && ok(host, b'.')
}

/// The name BuildKit gives a file fetched from `url`: the last segment of
/// its path, percent-decoded, or `__unnamed__` when there is none.
pub fn url_file_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let path = rest.find('/').map_or("", |at| &rest[at..]);
    let decoded = percent_decode(path);
    let base = decoded
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("");
    if base.is_empty() || base == "." || base == ".." {
        "__unnamed__".to_string()
    } else {
        base.to_string()
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_classified_by_form() {
        use SourceKind::*;
        for (src, kind) in [
            ("https://github.com/moby/buildkit.git#v0.13", Git),
            ("https://github.com/moby/buildkit.git?ref=v1", Git),
            ("git@github.com:moby/buildkit.git", Git),
            ("git://127.0.0.1/repo", Git),
            ("ssh://git@host/repo", Git),
            ("root@127.0.0.1:/srv/r.git", Git),
            ("a/b@c:d", Path),
            ("user@host/x", Path),
            ("https://example.com/file.tar", Url),
            ("http://example.com/", Url),
            ("repo.git", Path),
            ("src/*.py", Path),
        ] {
            assert_eq!(SourceKind::of(src), kind, "{src}");
        }
    }

    #[test]
    fn names_come_from_the_url_path() {
        assert_eq!(url_file_name("https://x.io/a/b.tar.gz?x=1"), "b.tar.gz");
        assert_eq!(url_file_name("https://x.io/a/b/?x=1#f"), "b");
        assert_eq!(url_file_name("https://x.io/dir/my%20file"), "my file");
        assert_eq!(url_file_name("https://x.io"), "__unnamed__");
        assert_eq!(url_file_name("https://x.io/"), "__unnamed__");
        assert_eq!(url_file_name("http://x.io/a/.."), "__unnamed__");
    }
}
