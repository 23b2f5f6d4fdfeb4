//! Platforms (`linux/amd64`, `linux/arm64/v8`) and choosing one manifest
//! of an image index, as containerd's default matcher does.

use std::fmt;
use std::str::FromStr;

/// An OCI platform: operating system, architecture and variant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    /// `linux`, `windows`, …
    pub os: String,
    /// GOARCH names: `amd64`, `arm64`, `arm`, `386`, `ppc64le`, `s390x`, `riscv64`.
    pub architecture: String,
    /// `v7`, `v8`, …; `None` when not given.
    pub variant: Option<String>,
}

/// A platform string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {0:?}: expected os/arch[/variant], e.g. linux/amd64")]
pub struct PlatformError(pub String);

impl Platform {
    /// The platform this program runs on (`linux/amd64` on x86-64).
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", None),
            "arm" => ("arm", Some("v7")),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "loongarch64" => ("loong64", None),
            other => (other, None),
        };
        Platform {
            os: std::env::consts::OS.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
        .normalized()
    }

    /// Lower case, architecture aliases resolved (`x86_64` → `amd64`,
    /// `aarch64` → `arm64`), and the default variants dropped (`arm64/v8`
    /// is `arm64`; `arm` without a variant is `arm/v7`).
    pub fn normalized(&self) -> Platform {
        let os = self.os.to_lowercase();
        let mut variant = self.variant.as_ref().map(|v| v.to_lowercase());
        let architecture = match self.architecture.to_lowercase().as_str() {
            "x86_64" | "x86-64" => "amd64".to_string(),
            "i386" => "386".to_string(),
            "aarch64" | "arm64" => {
                if matches!(variant.as_deref(), Some("8" | "v8")) {
                    variant = None;
                }
                "arm64".to_string()
            }
            "armhf" => {
                variant = Some("v7".to_string());
                "arm".to_string()
            }
            "armel" => {
                variant = Some("v6".to_string());
                "arm".to_string()
            }
            "arm" => {
                variant = Some(match variant.as_deref() {
                    None | Some("" | "7") => "v7".to_string(),
                    Some("5" | "6" | "8") => format!("v{}", variant.as_deref().unwrap_or("7")),
                    Some(v) => v.to_string(),
                });
                "arm".to_string()
            }
            other => other.to_string(),
        };
        Platform {
            os,
            architecture,
            variant: variant.filter(|v| !v.is_empty()),
        }
    }

    /// Whether an index entry's platform fits this one.
    pub fn matches(&self, other: &Platform) -> bool {
        self.normalized() == other.normalized()
    }

    /// Reads the `platform` of an index entry (a JSON object with `os`,
    /// `architecture`, `variant`).
    pub fn from_json(value: &serde_json::Value) -> Option<Platform> {
        Some(Platform {
            os: value.get("os")?.as_str()?.to_string(),
            architecture: value.get("architecture")?.as_str()?.to_string(),
            variant: value
                .get("variant")
                .and_then(|v| v.as_str())
                .map(str::to_string),
        })
    }

    /// The JSON form used in descriptors.
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        map.insert("architecture".into(), self.architecture.clone().into());
        map.insert("os".into(), self.os.clone().into());
        if let Some(v) = &self.variant {
            map.insert("variant".into(), v.clone().into());
        }
        serde_json::Value::Object(map)
    }
}

impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) || !(2..=3).contains(&parts.len()) {
            return Err(PlatformError(s.to_string()));
        }
        Ok(Platform {
            os: parts[0].to_string(),
            architecture: parts[1].to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
        }
        .normalized())
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_normalise_match() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(p.to_string(), "linux/arm64");
        assert!(p.matches(&"linux/aarch64".parse().unwrap()));
        assert_eq!(
            "linux/arm".parse::<Platform>().unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(
            "Linux/x86_64".parse::<Platform>().unwrap().to_string(),
            "linux/amd64"
        );
        assert!(!p.matches(&"linux/amd64".parse().unwrap()));
        assert!(
            !"linux/arm/v6"
                .parse::<Platform>()
                .unwrap()
                .matches(&"linux/arm/v7".parse().unwrap())
        );
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", ""] {
            assert!(bad.parse::<Platform>().is_err(), "{bad}");
        }
    }

    #[test]
    fn host_is_normalised_and_round_trips_through_json() {
        let host = Platform::host();
        assert_eq!(host, host.normalized());
        if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
            assert_eq!(host.to_string(), "linux/amd64");
        }
        let json = "linux/arm/v7".parse::<Platform>().unwrap().to_json();
        assert_eq!(
            json,
            serde_json::json!({"architecture": "arm", "os": "linux", "variant": "v7"})
        );
        assert_eq!(
            Platform::from_json(&json).unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(
            Platform::from_json(&serde_json::json!({"os": "linux"})),
            None
        );
    }
}
