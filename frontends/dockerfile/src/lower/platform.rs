//! Platforms (`linux/arm64`): the host's, and `FROM --platform=` values
//! parsed and normalised as containerd's `platforms` package does.

/// A platform in Go's naming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, …
    pub arch: String,
    /// `v7`, … (empty when none).
    pub variant: String,
}

impl Platform {
    /// The host platform.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            other => other,
        };
        let variant = if arch == "arm" { "v7" } else { "" };
        Platform {
            os: "linux".into(),
            arch: arch.into(),
            variant: variant.into(),
        }
    }

    /// `os/arch[/variant]`.
    pub fn to_spec(&self) -> String {
        if self.variant.is_empty() {
            format!("{}/{}", self.os, self.arch)
        } else {
            format!("{}/{}/{}", self.os, self.arch, self.variant)
        }
    }
}

const KNOWN_OS: [&str; 14] = [
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "netbsd",
    "openbsd",
    "solaris",
    "windows",
];

const KNOWN_ARCH: [&str; 20] = [
    "386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "loong64", "mips", "mipsle",
    "mips64", "mips64le", "ppc", "ppc64", "ppc64le", "riscv64", "s390", "s390x", "sparc64", "wasm",
];

/// containerd's `normalizeArch`: aliases and default variants.
fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let (arch, variant) = (arch.to_ascii_lowercase(), variant.to_ascii_lowercase());
    match arch.as_str() {
        "i386" => ("386".into(), String::new()),
        "x86_64" | "x86-64" | "amd64" => {
            let v = if variant == "v1" {
                String::new()
            } else {
                variant
            };
            ("amd64".into(), v)
        }
        "aarch64" | "arm64" => {
            let v = match variant.as_str() {
                "8" | "v8" | "v8.0" => String::new(),
                "9" | "9.0" | "v9.0" => "v9".into(),
                _ => variant,
            };
            ("arm64".into(), v)
        }
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => {
            let v = match variant.as_str() {
                "" | "7" => "v7".into(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            };
            ("arm".into(), v)
        }
        _ => (arch, variant),
    }
}

fn normalize_os(os: &str) -> String {
    let os = os.to_ascii_lowercase();
    if os == "macos" { "darwin".into() } else { os }
}

/// Parses `os[/arch[/variant]]` (or a lone architecture) and returns it
/// normalised (`linux/aarch64` → `linux/arm64`, `linux/arm` →
/// `linux/arm/v7`). A lone OS or architecture takes the host's other half.
pub fn normalize_platform(spec: &str) -> Result<String, String> {
    let fail = |why: &str| format!("failed to parse platform {spec}: {why}");
    if spec.contains('*') {
        return Err(fail("wildcards not yet supported"));
    }
    let parts: Vec<&str> = spec.split('/').collect();
    for part in &parts {
        if part.is_empty()
            || !part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(fail(&format!("invalid platform component {part:?}")));
        }
    }
    let host = Platform::host();
    let (os, (arch, variant)) = match parts.as_slice() {
        [one] => {
            let os = normalize_os(one);
            if KNOWN_OS.contains(&os.as_str()) {
                (os, (host.arch, host.variant))
            } else {
                let (arch, variant) = normalize_arch(one, "");
                if !KNOWN_ARCH.contains(&arch.as_str()) {
                    return Err(fail("unknown operating system or architecture"));
                }
                (host.os, (arch, variant))
            }
        }
        [os, arch] => (normalize_os(os), normalize_arch(arch, "")),
        [os, arch, variant] => (normalize_os(os), normalize_arch(arch, variant)),
        _ => return Err(fail("cannot parse platform specifier")),
    };
    Ok(Platform { os, arch, variant }.to_spec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_normalised() {
        assert_eq!(normalize_platform("linux/amd64").unwrap(), "linux/amd64");
        assert_eq!(normalize_platform("Linux/x86_64").unwrap(), "linux/amd64");
        assert_eq!(normalize_platform("linux/aarch64").unwrap(), "linux/arm64");
        assert_eq!(normalize_platform("linux/arm64/v8").unwrap(), "linux/arm64");
        assert_eq!(normalize_platform("linux/arm").unwrap(), "linux/arm/v7");
        assert_eq!(normalize_platform("linux/armel").unwrap(), "linux/arm/v6");
        assert_eq!(
            normalize_platform("windows/amd64").unwrap(),
            "windows/amd64"
        );
        let host = Platform::host();
        assert_eq!(
            normalize_platform("arm64").unwrap(),
            format!("{}/arm64", host.os)
        );
        assert_eq!(normalize_platform("linux").unwrap(), host.to_spec());
    }

    #[test]
    fn bad_platforms_fail() {
        for bad in [
            "",
            "linux/",
            "linux/amd64/v1/x",
            "linux/*",
            "nonsense",
            "linux/a b",
        ] {
            let e = normalize_platform(bad).unwrap_err();
            assert!(e.starts_with("failed to parse platform"), "{bad}: {e}");
        }
    }
}
