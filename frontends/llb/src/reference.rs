//! Image references and platforms, normalised as BuildKit does before they
//! reach a `docker-image://` source.

use bollard_buildkit_proto::pb;

/// Normalises an image reference the way Docker's `ParseNormalizedNamed`
/// followed by `TagNameOnly` does: `python` becomes
/// `docker.io/library/python:latest`, `ghcr.io/a/b@sha256:…` is kept, a
/// reference without tag or digest gets `:latest`.
///
/// Returns the reason when the reference is not valid.
pub fn normalize_image_ref(reference: &str) -> Result<String, &'static str> {
    if reference.is_empty() {
        return Err("empty reference");
    }
    if reference
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err("contains whitespace");
    }
    let (name_tag, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    if let Some(d) = digest {
        let (algo, hex) = d.split_once(':').ok_or("digest must be algorithm:hex")?;
        let hex_ok = !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit());
        if algo.is_empty() || !hex_ok || (algo == "sha256" && hex.len() != 64) {
            return Err("invalid digest");
        }
    }
    // A tag is the part after the last ':' that follows the last '/'.
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[last_slash..].rfind(':') {
        Some(i) => (
            &name_tag[..last_slash + i],
            Some(&name_tag[last_slash + i + 1..]),
        ),
        None => (name_tag, None),
    };
    if let Some(t) = tag {
        let valid = !t.is_empty()
            && t.len() <= 128
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            && !t.starts_with(['.', '-']);
        if !valid {
            return Err("invalid tag");
        }
    }
    if name.is_empty() {
        return Err("empty repository name");
    }
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => ("docker.io".to_string(), name.to_string()),
    };
    let domain = if domain == "index.docker.io" {
        "docker.io".to_string()
    } else {
        domain
    };
    let path = if domain == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    for component in path.split('/') {
        let valid = !component.is_empty()
            && component.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            })
            && component.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !valid {
            return Err("repository name must be lowercase [a-z0-9._-] components");
        }
    }
    let mut out = format!("{domain}/{path}");
    match (tag, digest) {
        (Some(t), _) => {
            out.push(':');
            out.push_str(t);
        }
        (None, None) => out.push_str(":latest"),
        (None, Some(_)) => {}
    }
    if let Some(d) = digest {
        out.push('@');
        out.push_str(d);
    }
    Ok(out)
}

/// Parses `os/arch[/variant]`, normalising common aliases (`x86_64` →
/// `amd64`, `aarch64` → `arm64`, `arm64/v8` → `arm64`). Returns `None` when
/// the string is not a platform.
pub fn parse_platform(s: &str) -> Option<pb::Platform> {
    let parts: Vec<&str> = s.split('/').collect();
    if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let os = parts[0].to_ascii_lowercase();
    let mut arch = parts[1].to_ascii_lowercase();
    let mut variant = parts
        .get(2)
        .map(|v| v.to_ascii_lowercase())
        .unwrap_or_default();
    match arch.as_str() {
        "x86_64" | "x86-64" => arch = "amd64".into(),
        "aarch64" => arch = "arm64".into(),
        _ => {}
    }
    if arch == "arm64" && variant == "v8" {
        variant.clear();
    }
    Some(pb::Platform {
        architecture: arch,
        os,
        variant,
        ..Default::default()
    })
}

/// Formats a platform as `os/arch[/variant]`.
pub fn format_platform(p: &pb::Platform) -> String {
    if p.variant.is_empty() {
        format!("{}/{}", p.os, p.architecture)
    } else {
        format!("{}/{}/{}", p.os, p.architecture, p.variant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_gain_registry_library_and_latest() {
        assert_eq!(
            normalize_image_ref("python").unwrap(),
            "docker.io/library/python:latest"
        );
        assert_eq!(
            normalize_image_ref("python:3.12-slim").unwrap(),
            "docker.io/library/python:3.12-slim"
        );
        assert_eq!(
            normalize_image_ref("moby/buildkit").unwrap(),
            "docker.io/moby/buildkit:latest"
        );
        assert_eq!(
            normalize_image_ref("index.docker.io/library/alpine:3").unwrap(),
            "docker.io/library/alpine:3"
        );
    }

    #[test]
    fn registries_ports_and_digests_are_kept() {
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            normalize_image_ref(&format!("localhost:5000/x@{digest}")).unwrap(),
            format!("localhost:5000/x@{digest}")
        );
        assert_eq!(
            normalize_image_ref(&format!("alpine:3.19@{digest}")).unwrap(),
            format!("docker.io/library/alpine:3.19@{digest}")
        );
        assert_eq!(
            normalize_image_ref("ghcr.io/org/img").unwrap(),
            "ghcr.io/org/img:latest"
        );
    }

    #[test]
    fn invalid_references_are_rejected() {
        assert!(normalize_image_ref("").is_err());
        assert!(normalize_image_ref("Python").is_err());
        assert!(normalize_image_ref("a b").is_err());
        assert!(normalize_image_ref("alpine@sha256:zz").is_err());
        assert!(normalize_image_ref("alpine:").is_err());
    }

    #[test]
    fn platforms_parse_and_normalise() {
        let p = parse_platform("linux/aarch64/v8").unwrap();
        assert_eq!(format_platform(&p), "linux/arm64");
        let p = parse_platform("linux/arm/v7").unwrap();
        assert_eq!(format_platform(&p), "linux/arm/v7");
        assert!(parse_platform("linux").is_none());
        assert!(parse_platform("linux//").is_none());
    }
}
