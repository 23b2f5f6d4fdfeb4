//! `WWW-Authenticate` challenges (RFC 7235) as registries send them:
//! `Basic realm="…"` or `Bearer realm="…",service="…",scope="…"`.

use std::collections::BTreeMap;

/// How a registry wants to be authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// HTTP basic auth with the registry's own user list.
    Basic,
    /// Get a token from `realm` for `service` and the scopes needed.
    Bearer {
        realm: String,
        service: Option<String>,
        /// The scope the registry asked for, when it said.
        scope: Option<String>,
    },
}

/// Parses the first challenge this client knows (Bearer preferred over
/// Basic when both are offered).
pub(crate) fn parse(headers: &[&str]) -> Option<Challenge> {
    let mut basic = false;
    for header in headers {
        let trimmed = header.trim();
        let (scheme, rest) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            let params = params(rest);
            if let Some(realm) = params.get("realm") {
                return Some(Challenge::Bearer {
                    realm: realm.clone(),
                    service: params.get("service").cloned(),
                    scope: params.get("scope").cloned(),
                });
            }
        } else if scheme.eq_ignore_ascii_case("basic") {
            basic = true;
        }
    }
    basic.then_some(Challenge::Basic)
}

/// `k=v, k2="quoted, \"x\""` → map with lower-case keys.
fn params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() && chars.peek().is_none() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        out.insert(key.trim().to_lowercase(), value.trim().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_with_quoted_params() {
        let c = parse(&[
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#,
        ]);
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:samalba/my-app:pull,push".into()),
            })
        );
        let c = parse(&[r#"bearer REALM=http://127.0.0.1:1/t, error="invalid_token""#]);
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:1/t".into(),
                service: None,
                scope: None,
            })
        );
    }

    #[test]
    fn basic_and_unknown() {
        assert_eq!(
            parse(&[r#"Basic realm="Registry Realm""#]),
            Some(Challenge::Basic)
        );
        assert_eq!(parse(&["Negotiate"]), None);
        assert_eq!(parse(&[]), None);
        assert_eq!(
            parse(&[r#"Basic realm="r""#, r#"Bearer realm="https://t/""#]),
            Some(Challenge::Bearer {
                realm: "https://t/".into(),
                service: None,
                scope: None
            }),
            "bearer is preferred"
        );
        assert_eq!(
            params(r#"a="x\"y, z", b=2"#)
                .into_iter()
                .collect::<Vec<_>>(),
            [("a".into(), "x\"y, z".into()), ("b".into(), "2".into())]
        );
    }
}
