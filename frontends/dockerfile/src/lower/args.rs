//! ARG scopes: the global one (before the first FROM, plus the platform
//! arguments BuildKit predefines) and one per stage.

use super::Platform;

/// Declared arguments, in order of declaration; a name may be declared
/// without a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ArgScope {
    args: Vec<(String, Option<String>)>,
}

/// Arguments every build knows without an `ARG` line in the global scope:
/// `BUILD*` describe the build's platform, `TARGET*` the one built for.
pub(crate) fn builtin_args(build: &Platform, target: &Platform) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (prefix, platform) in [("BUILD", build), ("TARGET", target)] {
        out.push((format!("{prefix}PLATFORM"), platform.to_spec()));
        out.push((format!("{prefix}OS"), platform.os.clone()));
        out.push((format!("{prefix}ARCH"), platform.arch.clone()));
        out.push((format!("{prefix}VARIANT"), platform.variant.clone()));
    }
    out
}

/// Build args that RUN sees without an `ARG` declaration (proxies).
pub(crate) fn is_predefined(name: &str) -> bool {
    matches!(
        name,
        "HTTP_PROXY"
            | "http_proxy"
            | "HTTPS_PROXY"
            | "https_proxy"
            | "FTP_PROXY"
            | "ftp_proxy"
            | "NO_PROXY"
            | "no_proxy"
            | "ALL_PROXY"
            | "all_proxy"
    )
}

impl ArgScope {
    /// The global scope with the predefined platform arguments.
    pub(crate) fn global(build: &Platform, target: &Platform) -> Self {
        ArgScope {
            args: builtin_args(build, target)
                .into_iter()
                .map(|(k, v)| (k, Some(v)))
                .collect(),
        }
    }

    /// Declares `name` (again) with `value`.
    pub(crate) fn declare(&mut self, name: &str, value: Option<String>) {
        self.args.retain(|(k, _)| k != name);
        self.args.push((name.to_string(), value));
    }

    /// The value of a declared argument (`Some(None)`: declared, no value).
    pub(crate) fn get(&self, name: &str) -> Option<Option<&str>> {
        self.args
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_deref())
    }

    /// The names of all declared arguments, in declaration order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.args.iter().map(|(k, _)| k.clone()).collect()
    }

    /// Declared arguments that have a value, in declaration order.
    pub(crate) fn values(&self) -> Vec<(String, String)> {
        self.args
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redeclaring_moves_to_the_end_and_replaces() {
        let mut s = ArgScope::default();
        s.declare("A", Some("1".into()));
        s.declare("B", None);
        s.declare("A", Some("2".into()));
        assert_eq!(s.values(), [("A".to_string(), "2".to_string())]);
        assert_eq!(s.get("B"), Some(None));
        assert_eq!(s.get("C"), None);
    }

    #[test]
    fn builtins_describe_the_platform() {
        let build = Platform {
            os: "linux".into(),
            arch: "amd64".into(),
            variant: String::new(),
        };
        let target = Platform {
            os: "linux".into(),
            arch: "arm".into(),
            variant: "v7".into(),
        };
        let g = ArgScope::global(&build, &target);
        assert_eq!(g.get("TARGETPLATFORM"), Some(Some("linux/arm/v7")));
        assert_eq!(g.get("TARGETVARIANT"), Some(Some("v7")));
        assert_eq!(g.get("BUILDARCH"), Some(Some("amd64")));
        assert_eq!(g.get("BUILDPLATFORM"), Some(Some("linux/amd64")));
    }
}
