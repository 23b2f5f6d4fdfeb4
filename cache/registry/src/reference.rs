//! Image references (`python`, `localhost:5000/a/b:t`, `name@sha256:…`),
//! parsed and normalised the way docker's `distribution/reference` does.
//!
//! Grammar (the one docker documents):
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [domain '/'] path-component ['/' path-component]*
//! domain           := host [':' port-number]
//! host             := domain-name | '[' IPv6 ']'
//! domain-name      := domain-component ['.' domain-component]*
//! domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! path-component   := alpha-numeric [separator alpha-numeric]*
//! alpha-numeric    := /[a-z0-9]+/
//! separator        := /[_.]|__|[-]+/
//! tag              := /[\w][\w.-]{0,127}/
//! ```
//!
//! Normalisation: the first component is a registry only when it contains
//! `.` or `:`, is `localhost`, or has upper-case letters; otherwise the
//! registry is `docker.io`, and a one-component name on `docker.io` gets
//! `library/`. `index.docker.io` is `docker.io`. A reference with neither
//! tag nor digest gets the tag `latest`.

use std::fmt;
use std::str::FromStr;
use strata_store::Digest;

/// The registry of names without one.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The tag of references without a tag or digest.
pub const DEFAULT_TAG: &str = "latest";
/// Where `docker.io`'s API lives.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
/// The longest name (registry, `/`, repository) docker accepts.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A normalised image reference: registry, repository, and a tag, a digest
/// or both.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not a reference. Messages follow docker's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The empty string.
    #[error("invalid reference format: repository name must have at least one component")]
    Empty,
    /// Something does not fit the grammar.
    #[error("invalid reference format: {input:?}: {reason}")]
    InvalidFormat {
        /// The text given.
        input: String,
        /// Which part is wrong.
        reason: String,
    },
    /// Upper-case letters in the repository.
    #[error("invalid reference format: repository name ({name}) must be lowercase")]
    Uppercase {
        /// The repository as written.
        name: String,
    },
    /// A name longer than [`NAME_TOTAL_LENGTH_MAX`].
    #[error(
        "invalid reference format: repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters ({length} in {input:?})"
    )]
    NameTooLong {
        /// The text given.
        input: String,
        /// The normalised name's length.
        length: usize,
    },
    /// 64 hex digits alone: an image ID, not a name.
    #[error("invalid repository name ({input}), cannot specify 64-byte hexadecimal strings")]
    HexName {
        /// The text given.
        input: String,
    },
    /// A digest that is malformed or not `sha256`.
    #[error("invalid reference format: {input:?}: digest {digest:?}: {reason}")]
    InvalidDigest {
        /// The text given.
        input: String,
        /// The digest part.
        digest: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl Reference {
    /// Parses and normalises `s` (docker's `ParseNormalizedNamed` followed
    /// by `TagNameOnly`).
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let invalid = |reason: &str| ReferenceError::InvalidFormat {
            input: s.to_string(),
            reason: reason.to_string(),
        };
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ReferenceError::HexName {
                input: s.to_string(),
            });
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, d)) => (rest, Some(parse_digest(s, d)?)),
            None => (s, None),
        };
        let last_slash = rest.rfind('/');
        let (name, tag) = match rest.rfind(':') {
            Some(colon) if last_slash.is_none_or(|sl| colon > sl) => {
                let tag = &rest[colon + 1..];
                if !is_tag(tag) {
                    return Err(invalid(&format!("invalid tag {tag:?}")));
                }
                (&rest[..colon], Some(tag.to_string()))
            }
            _ => (rest, None),
        };
        if name.is_empty() {
            return Err(invalid("no repository name"));
        }
        let (mut registry, remainder) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.to_lowercase() != first =>
            {
                (first.to_string(), remainder)
            }
            _ => (DEFAULT_REGISTRY.to_string(), name),
        };
        if remainder.to_lowercase() != remainder {
            return Err(ReferenceError::Uppercase {
                name: remainder.to_string(),
            });
        }
        if registry == "index.docker.io" {
            registry = DEFAULT_REGISTRY.to_string();
        }
        let repository = if registry == DEFAULT_REGISTRY && !remainder.contains('/') {
            format!("library/{remainder}")
        } else {
            remainder.to_string()
        };
        if !is_domain(&registry) {
            return Err(invalid(&format!("invalid registry {registry:?}")));
        }
        if let Some(bad) = repository.split('/').find(|c| !is_path_component(c)) {
            return Err(invalid(&format!(
                "invalid repository path component {bad:?}"
            )));
        }
        let length = registry.len() + 1 + repository.len();
        if length > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong {
                input: s.to_string(),
                length,
            });
        }
        let tag = if tag.is_none() && digest.is_none() {
            Some(DEFAULT_TAG.to_string())
        } else {
            tag
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// A reference from its parts, validated like [`Reference::parse`].
    pub fn new(
        registry: &str,
        repository: &str,
        tag: Option<&str>,
        digest: Option<&Digest>,
    ) -> Result<Reference, ReferenceError> {
        let mut s = format!("{registry}/{repository}");
        if let Some(t) = tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = digest {
            s.push('@');
            s.push_str(d.as_str());
        }
        Reference::parse(&s)
    }

    /// The registry as named (`docker.io`, `localhost:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host (and port) that serves the registry's API:
    /// `registry-1.docker.io` for `docker.io`, else the registry itself.
    pub fn api_host(&self) -> &str {
        if self.registry == DEFAULT_REGISTRY {
            DOCKER_HUB_API_HOST
        } else {
            &self.registry
        }
    }

    /// The repository (`library/python`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if any (`latest` when neither tag nor digest was written).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What the registry's manifest endpoint is asked for: the digest when
    /// there is one (a tag beside a digest is ignored, as docker does),
    /// else the tag.
    pub fn manifest_reference(&self) -> &str {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.as_str(),
            (None, Some(t)) => t,
            (None, None) => DEFAULT_TAG,
        }
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        Reference::new(&self.registry, &self.repository, Some(tag), None)
    }

    /// The same repository pinned to `digest`, without a tag.
    pub fn with_digest(&self, digest: &Digest) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest.clone()),
        }
    }

    /// The short form docker prints: `python:latest`, `foo/bar:1`,
    /// `localhost:5000/a:t`.
    pub fn familiar(&self) -> String {
        let full = self.to_string();
        if self.registry != DEFAULT_REGISTRY {
            return full;
        }
        let short = &full[DEFAULT_REGISTRY.len() + 1..];
        short.strip_prefix("library/").unwrap_or(short).to_string()
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

/// A digest: the grammar first (`algorithm:hex`), then what strata
/// supports (sha256 with 64 lower-case hex digits, as go-digest checks).
fn parse_digest(input: &str, d: &str) -> Result<Digest, ReferenceError> {
    let err = |reason| ReferenceError::InvalidDigest {
        input: input.to_string(),
        digest: d.to_string(),
        reason,
    };
    let Some((algorithm, hex)) = d.split_once(':') else {
        return Err(err("expected algorithm:hex"));
    };
    let algorithm_ok = algorithm.split(['+', '.', '_', '-']).all(|c| {
        c.starts_with(|ch: char| ch.is_ascii_alphabetic())
            && c.chars().all(|ch| ch.is_ascii_alphanumeric())
    });
    if !algorithm_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(err("expected algorithm:hex with at least 32 hex digits"));
    }
    if algorithm != "sha256" {
        return Err(err("unsupported digest algorithm (only sha256)"));
    }
    d.parse::<Digest>()
        .map_err(|_| err("a sha256 digest has 64 lower-case hex digits"))
}

fn is_tag(t: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if b.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

fn is_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("", port),
                None => return false,
            },
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, p),
            None => (d, "0"),
        }
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    host.is_empty() && d.starts_with('[') || host.split('.').all(is_domain_component)
}

fn is_domain_component(c: &str) -> bool {
    let b = c.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(s: &str) -> String {
        Reference::parse(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .to_string()
    }

    const D: &str = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

    #[test]
    fn normalises_like_docker() {
        let cases = [
            ("python", "docker.io/library/python:latest"),
            ("python:3.12-slim", "docker.io/library/python:3.12-slim"),
            ("docker/docker", "docker.io/docker/docker:latest"),
            ("library/debian", "docker.io/library/debian:latest"),
            ("docker.io/docker/docker", "docker.io/docker/docker:latest"),
            (
                "docker.io/library/debian",
                "docker.io/library/debian:latest",
            ),
            ("docker.io/debian", "docker.io/library/debian:latest"),
            (
                "index.docker.io/docker/docker",
                "docker.io/docker/docker:latest",
            ),
            ("index.docker.io/debian", "docker.io/library/debian:latest"),
            (
                "127.0.0.1:5000/docker/docker",
                "127.0.0.1:5000/docker/docker:latest",
            ),
            ("127.0.0.1:5000/debian", "127.0.0.1:5000/debian:latest"),
            ("192.168.0.1", "docker.io/library/192.168.0.1:latest"),
            ("192.168.0.1:80", "docker.io/library/192.168.0.1:80"),
            ("192.168.0.1:8/debian", "192.168.0.1:8/debian:latest"),
            ("localhost/foo", "localhost/foo:latest"),
            ("localhost:5000/a/b:t", "localhost:5000/a/b:t"),
            ("foo.bar.com/bar/baz", "foo.bar.com/bar/baz:latest"),
            ("[fc00::1]:5000/docker", "[fc00::1]:5000/docker:latest"),
            ("[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000/repo:tag"),
            ("[2001:db8::1]/repo", "[2001:db8::1]/repo:latest"),
            ("test.com:tag", "docker.io/library/test.com:tag"),
            ("test.com:5000", "docker.io/library/test.com:5000"),
            ("test:5000/repo:tag", "test:5000/repo:tag"),
            (
                "lowercase:Uppercase",
                "docker.io/library/lowercase:Uppercase",
            ),
            ("foo_bar.com:8080", "docker.io/library/foo_bar.com:8080"),
            ("foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com:8080"),
            ("a__b/c-----d.e_f", "docker.io/a__b/c-----d.e_f:latest"),
            ("Foo/bar", "Foo/bar:latest"),
        ];
        for (input, want) in cases {
            assert_eq!(full(input), want, "{input}");
        }
        // With a digest no tag is added; a tag beside a digest is kept.
        assert_eq!(
            full(&format!("repo@{D}")),
            format!("docker.io/library/repo@{D}")
        );
        assert_eq!(
            full(&format!("test:5000/repo:tag@{D}")),
            format!("test:5000/repo:tag@{D}")
        );
    }

    #[test]
    fn parts_and_forms() {
        let r = Reference::parse(&format!("localhost:5000/a/b:t@{D}")).unwrap();
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(r.api_host(), "localhost:5000");
        assert_eq!(r.repository(), "a/b");
        assert_eq!(r.tag(), Some("t"));
        assert_eq!(r.digest().unwrap().as_str(), D);
        assert_eq!(r.manifest_reference(), D, "the digest wins over the tag");
        assert_eq!(r.name(), "localhost:5000/a/b");
        assert_eq!(r.familiar(), format!("localhost:5000/a/b:t@{D}"));

        let p = Reference::parse("python").unwrap();
        assert_eq!(p.api_host(), DOCKER_HUB_API_HOST);
        assert_eq!(p.manifest_reference(), "latest");
        assert_eq!(p.familiar(), "python:latest");
        assert_eq!(
            Reference::parse("foo/bar:1").unwrap().familiar(),
            "foo/bar:1"
        );
        let pinned = p.with_digest(&D.parse().unwrap());
        assert_eq!(pinned.to_string(), format!("docker.io/library/python@{D}"));
        assert_eq!(pinned.tag(), None);
        assert_eq!(
            p.with_tag("3").unwrap().to_string(),
            "docker.io/library/python:3"
        );
        assert!(p.with_tag("-bad").is_err());
        // Parsing the printed form gives the same reference back.
        for s in [
            "python",
            "localhost:5000/a/b:t",
            "[::1]:5000/x@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        ] {
            let r = Reference::parse(s).unwrap();
            assert_eq!(Reference::parse(&r.to_string()).unwrap(), r);
        }
    }

    #[test]
    fn rejects_like_docker() {
        let long = format!("{}/x", "a".repeat(250));
        let bad = [
            "https://github.com/docker/docker",
            "-docker",
            "-docker/docker",
            "-docker.io/docker/docker",
            "docker:///docker/docker",
            "docker.io/docker///docker",
            "[fc00::1]",
            "[fc00::1]:5000",
            "fc00::1:5000/debian",
            ":justtag",
            "@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "foo:",
            "foo::bar",
            "a/a:tag:tag",
            "foo/bar:-tag",
            "foo/bar/",
            "foo//bar",
            "a___b",
            "a-/b",
            "repo@sha256",
            "repo@sha256:fff",
            "validname@invaliddigest:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "validname@sha256:fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "validname@sha256:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
            "a@b@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            &long,
        ];
        for s in bad {
            assert!(Reference::parse(s).is_err(), "{s} should be refused");
        }
        assert_eq!(Reference::parse(""), Err(ReferenceError::Empty));
        assert_eq!(
            Reference::parse("docker/Docker").unwrap_err().to_string(),
            "invalid reference format: repository name (docker/Docker) must be lowercase"
        );
        assert_eq!(
            Reference::parse("Uppercase:tag").unwrap_err().to_string(),
            "invalid reference format: repository name (Uppercase) must be lowercase"
        );
        assert!(matches!(
            Reference::parse("docker.io/docker/Docker"),
            Err(ReferenceError::Uppercase { name }) if name == "docker/Docker"
        ));
        let hex = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";
        assert!(matches!(
            Reference::parse(hex),
            Err(ReferenceError::HexName { .. })
        ));
        assert_eq!(
            full(&format!("docker.io/{hex}")),
            format!("docker.io/library/{hex}:latest"),
            "a hex name is fine once it is qualified"
        );
        assert!(matches!(
            Reference::parse(&long),
            Err(ReferenceError::NameTooLong { length: 262, .. })
        ));
        assert!(matches!(
            Reference::parse("x@sha512:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
            Err(ReferenceError::InvalidDigest { reason, .. }) if reason.contains("unsupported")
        ));
        // The error names the part that is wrong.
        let msg = Reference::parse("foo/bar:-tag").unwrap_err().to_string();
        assert!(msg.contains("invalid tag \"-tag\""), "{msg}");
    }

    #[test]
    fn name_length_counts_the_normalised_name() {
        // 255 with "docker.io/" is the limit.
        let ok = format!("x/{}", "a".repeat(255 - "docker.io/x/".len()));
        assert!(Reference::parse(&ok).is_ok());
        let too_long = format!("x/{}", "a".repeat(256 - "docker.io/x/".len()));
        assert!(matches!(
            Reference::parse(&too_long),
            Err(ReferenceError::NameTooLong { length: 256, .. })
        ));
    }
}
