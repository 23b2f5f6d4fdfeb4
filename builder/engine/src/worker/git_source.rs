//! The git source forms `ADD` accepts, parsed as BuildKit parses them.
//!
//! - Transports: `https://`, `http://`, `git://`, `ssh://` URLs and the
//!   scp-like `user@host:path` (ssh).
//! - A fragment `#ref:subdir`, or the CSV form `##ref=…,commit=…,subdir=…`.
//! - Query parameters (dockerfile 1.18): `ref`, `tag` (`refs/tags/…`),
//!   `branch` (`refs/heads/…`), `checksum` (alias `commit`), `subdir`,
//!   `keep-git-dir` and `submodules` (a bare key means `true`). A key twice,
//!   an unknown key, a ref that two parameters name differently, or
//!   `branch` with `tag` is an error.

use super::git::GitError;
use strata_plan::is_scp_like;

/// A git source, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GitSource {
    /// The repository as git is given it (no fragment, no query).
    pub(crate) url: String,
    /// The branch, tag, full ref or commit; empty for `HEAD`.
    pub(crate) reference: String,
    /// The directory inside the repository; empty for its root.
    pub(crate) subdir: String,
    /// The commit the ref must resolve to (`?checksum=`, `?commit=`).
    pub(crate) checksum: Option<String>,
    /// `?keep-git-dir=`, when given.
    pub(crate) keep_git_dir: Option<bool>,
    /// Whether submodules are checked out (`?submodules=false` skips them).
    pub(crate) submodules: bool,
    /// Fetched over ssh (`ssh://` or `user@host:path`).
    pub(crate) ssh: bool,
}

impl GitSource {
    /// Parses a source `SourceKind::of` classified as git.
    pub(crate) fn parse(src: &str) -> Result<GitSource, GitError> {
        let bad = |message: String| GitError::Url {
            src: src.to_string(),
            message,
        };
        let (base, fragment) = src.split_once('#').unwrap_or((src, ""));
        let (remote, query) = base.split_once('?').unwrap_or((base, ""));
        let ssh = match remote.split_once("://") {
            Some((scheme, _)) => match scheme.to_ascii_lowercase().as_str() {
                "ssh" => true,
                "http" | "https" | "git" => false,
                other => return Err(bad(format!("unsupported git protocol {other:?}"))),
            },
            None if is_scp_like(remote) => true,
            None => return Err(bad("not a git URL".into())),
        };
        if remote.split_once("://").is_some_and(|(_, r)| r.is_empty()) {
            return Err(bad("the URL names no host".into()));
        }
        let (reference, subdir, commit) = split_fragment(fragment).map_err(bad)?;
        let mut source = GitSource {
            url: remote.to_string(),
            reference,
            subdir,
            checksum: commit,
            keep_git_dir: None,
            submodules: true,
            ssh,
        };
        source.load_query(query).map_err(bad)?;
        if source.reference.is_empty()
            && let Some(sum) = &source.checksum
        {
            source.reference = sum.clone();
        }
        source.subdir = clean_subdir(&source.subdir).map_err(bad)?;
        Ok(source)
    }

    /// Applies the query parameters.
    fn load_query(&mut self, query: &str) -> Result<(), String> {
        if query.is_empty() {
            return Ok(());
        }
        let mut params: std::collections::BTreeMap<String, Option<String>> = Default::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = match pair.split_once('=') {
                Some((k, v)) => (decode(k), Some(decode(v))),
                None => (decode(pair), None),
            };
            if params.insert(k.clone(), v).is_some() {
                return Err(format!("query {k:?} has multiple values"));
            }
        }
        let (mut tag, mut branch) = (String::new(), String::new());
        for (k, v) in params {
            let v = v.filter(|v| !v.is_empty());
            let bool_of = |v: Option<String>| match v {
                None => Ok(true),
                Some(s) => parse_bool(&s).ok_or_else(|| format!("invalid {k} value: {s:?}")),
            };
            match k.as_str() {
                "keep-git-dir" => self.keep_git_dir = Some(bool_of(v)?),
                "submodules" => self.submodules = bool_of(v)?,
                _ => {
                    let Some(v) = v else {
                        return Err(format!("query {k:?} has no value"));
                    };
                    match k.as_str() {
                        "ref" => set_once(&mut self.reference, v, "ref")?,
                        "tag" => tag = v,
                        "branch" => branch = v,
                        "subdir" => set_once(&mut self.subdir, v, "subdir")?,
                        "checksum" | "commit" => self.checksum = Some(v),
                        _ => return Err(format!("unexpected query {k:?}")),
                    }
                }
            }
        }
        if !tag.is_empty() {
            if !branch.is_empty() {
                return Err("branch conflicts with tag".into());
            }
            set_once(&mut self.reference, prefixed("refs/tags/", tag), "ref")?;
        }
        if !branch.is_empty() {
            set_once(&mut self.reference, prefixed("refs/heads/", branch), "ref")?;
        }
        Ok(())
    }

    /// The commit to check against: `--checksum` and `?checksum=` must
    /// agree when both are given.
    pub(crate) fn checksum_with(&self, flag: Option<&str>) -> Result<Option<String>, GitError> {
        match (flag, &self.checksum) {
            (Some(f), Some(q)) if f != q => Err(GitError::Url {
                src: self.url.clone(),
                message: format!("checksum mismatch {f:?} != {q:?}"),
            }),
            (Some(f), _) => Ok(Some(f.to_string())),
            (None, q) => Ok(q.clone()),
        }
    }

    /// Whether `.git` is kept: `--keep-git-dir=true` and
    /// `?keep-git-dir=false` contradict each other.
    pub(crate) fn keep_git_dir_with(&self, flag: bool) -> Result<bool, GitError> {
        match self.keep_git_dir {
            Some(false) if flag => Err(GitError::Url {
                src: self.url.clone(),
                message: "inconsistent keep-git-dir configuration".into(),
            }),
            Some(q) => Ok(q || flag),
            None => Ok(flag),
        }
    }
}

/// `ref:subdir`, or (after a second `#`) `ref=…,commit=…,subdir=…`.
fn split_fragment(fragment: &str) -> Result<(String, String, Option<String>), String> {
    let Some(csv) = fragment.strip_prefix('#') else {
        let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
        return Ok((reference.to_string(), subdir.to_string(), None));
    };
    let (mut reference, mut subdir, mut commit) = (String::new(), String::new(), None);
    for field in csv_fields(csv)? {
        let Some((key, value)) = field.split_once('=') else {
            return Err(format!("invalid field '{field}' must be a key=value pair"));
        };
        match key.to_ascii_lowercase().as_str() {
            "ref" => reference = value.to_string(),
            "commit" => commit = Some(value.to_string()),
            "subdir" => subdir = value.to_string(),
            other => {
                return Err(format!(
                    "unexpected key '{other}' in '{field}' (supported keys: ref, commit, subdir)"
                ));
            }
        }
    }
    Ok((reference, subdir, commit))
}

/// Comma-separated fields; a field in double quotes may hold commas
/// (`""` is a quote inside one).
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    if s.is_empty() {
        return Ok(fields);
    }
    let mut field = String::new();
    let mut chars = s.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    if quoted {
        return Err(format!("failed to parse CSV {s:?}: unterminated quote"));
    }
    fields.push(field);
    Ok(fields)
}

fn set_once(slot: &mut String, value: String, what: &str) -> Result<(), String> {
    if !slot.is_empty() && *slot != value {
        return Err(format!("{what} conflicts: {slot:?} vs {value:?}"));
    }
    *slot = value;
    Ok(())
}

fn prefixed(prefix: &str, name: String) -> String {
    if name.starts_with(prefix) {
        name
    } else {
        format!("{prefix}{name}")
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Query decoding: `+` is a space, `%XX` a byte.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if hex(bytes.get(i + 1)).is_some() && hex(bytes.get(i + 2)).is_some() => {
                let (h, l) = (hex(bytes.get(i + 1)), hex(bytes.get(i + 2)));
                out.push((h.unwrap_or(0) * 16 + l.unwrap_or(0)) as u8);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The subdirectory, cleaned; one that leaves the repository is refused.
fn clean_subdir(subdir: &str) -> Result<String, String> {
    let parts: Vec<&str> = subdir
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(format!(
            "subdir {subdir:?} leaves the repository (`..` is not allowed)"
        ));
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(s: &str) -> GitSource {
        GitSource::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn fragments_parse_like_buildkit() {
        let s = parsed("https://h/r.git#v1.0:docs/site/");
        assert_eq!(
            (s.url.as_str(), s.reference.as_str(), s.subdir.as_str()),
            ("https://h/r.git", "v1.0", "docs/site")
        );
        assert!(!s.ssh && s.submodules && s.checksum.is_none());
        let s = parsed("git://127.0.0.1:9418/r");
        assert_eq!((s.reference.as_str(), s.subdir.as_str()), ("", ""));
        let s = parsed("https://h/r.git#:sub");
        assert_eq!((s.reference.as_str(), s.subdir.as_str()), ("", "sub"));
        let s = parsed("https://h/r.git##ref=main,subdir=\"a,b\",commit=abc");
        assert_eq!(
            (
                s.reference.as_str(),
                s.subdir.as_str(),
                s.checksum.as_deref()
            ),
            ("main", "a,b", Some("abc"))
        );
    }

    #[test]
    fn ssh_forms_are_ssh() {
        let s = parsed("git@github.com:moby/buildkit.git#v0.12:docs");
        assert!(s.ssh);
        assert_eq!(s.url, "git@github.com:moby/buildkit.git");
        assert_eq!((s.reference.as_str(), s.subdir.as_str()), ("v0.12", "docs"));
        let s = parsed("ssh://git@127.0.0.1:2222/srv/r.git#main");
        assert!(s.ssh);
        assert_eq!(s.url, "ssh://git@127.0.0.1:2222/srv/r.git");
        assert!(is_scp_like("root@127.0.0.1:/srv/r.git"));
        assert!(!is_scp_like("a/b@c:d"));
        assert!(!is_scp_like("https://u@h:1/x"));
    }

    #[test]
    fn queries_parse_like_buildkit() {
        let s = parsed("https://h/r.git?tag=v1&subdir=docs");
        assert_eq!(
            (s.url.as_str(), s.reference.as_str(), s.subdir.as_str()),
            ("https://h/r.git", "refs/tags/v1", "docs")
        );
        let s = parsed("https://h/r.git?branch=refs/heads/dev");
        assert_eq!(s.reference, "refs/heads/dev");
        let s = parsed("https://h/r.git?ref=pull/42/head&keep-git-dir&submodules=false");
        assert_eq!(s.reference, "pull/42/head");
        assert_eq!((s.keep_git_dir, s.submodules), (Some(true), false));
        let commit = "a".repeat(40);
        let s = parsed(&format!("ssh://git@h/r.git?commit={commit}"));
        assert_eq!(s.reference, commit, "a checksum alone is the ref");
        assert_eq!(s.checksum.as_deref(), Some(commit.as_str()));
        // The fragment and the query may both name the ref when they agree.
        assert_eq!(parsed("https://h/r.git?ref=main#main").reference, "main");
        for (bad, says) in [
            (
                "https://h/r.git?tag=a&branch=b",
                "branch conflicts with tag",
            ),
            ("https://h/r.git?ref=a#b", "ref conflicts"),
            ("https://h/r.git?subdir=a#:b", "subdir conflicts"),
            ("https://h/r.git?ref=a&ref=a", "multiple values"),
            ("https://h/r.git?depth=1", "unexpected query \"depth\""),
            ("https://h/r.git?ref=", "has no value"),
            ("https://h/r.git?keep-git-dir=maybe", "invalid keep-git-dir"),
            ("https://h/r.git#main:../etc", "leaves the repository"),
            ("https://h/r.git##ref=a,depth=1", "unexpected key"),
            ("ftp://h/r.git", "unsupported git protocol"),
        ] {
            let e = GitSource::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn flags_and_query_must_agree() {
        let s = parsed("https://h/r.git?checksum=abc&keep-git-dir=false");
        assert_eq!(s.checksum_with(None).unwrap().as_deref(), Some("abc"));
        assert_eq!(
            s.checksum_with(Some("abc")).unwrap().as_deref(),
            Some("abc")
        );
        assert!(s.checksum_with(Some("def")).is_err());
        assert!(!s.keep_git_dir_with(false).unwrap());
        assert!(s.keep_git_dir_with(true).is_err());
        let s = parsed("https://h/r.git?keep-git-dir=1");
        assert!(s.keep_git_dir_with(false).unwrap());
    }
}
