//! ARG scopes: the global one (before the first FROM, plus the platform
//! arguments BuildKit predefines) and one per stage.

use super::Platform;

/// Declared arguments, in order of declaration; a name may be declared
/// without a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ArgScope {
    args: Vec<(String, Option<String>)>,
}

/// Arguments every build knows without an `ARG` line in the global scope.
pub(crate) fn builtin_args(platform: &Platform) -> Vec<(String, String)> {
    let spec = platform.to_spec();
    let mut out = Vec::new();
    for prefix in ["BUILD", "TARGET"] {
        out.push((format!("{prefix}PLATFORM"), spec.clone()));
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
    pub(crate) fn global(platform: &Platform) -> Self {
        ArgScope {
            args: builtin_args(platform)
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

    /// Declared arguments that have a value, in declaration order.
    pub(crate) fn values(&self) -> Vec<(String, String)> {
        self.args
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
            .collect()
    }
}

/// Splits `NAME[=default]`, validating the name.
pub(crate) fn split_arg(word: &str) -> Result<(String, Option<String>), String> {
    let (name, default) = match word.split_once('=') {
        Some((n, d)) => (n, Some(d.to_string())),
        None => (word, None),
    };
    if name.is_empty() {
        return Err(format!("ARG names can not be blank: {word:?}"));
    }
    Ok((name.to_string(), default))
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
        let p = Platform {
            os: "linux".into(),
            arch: "arm64".into(),
            variant: "v8".into(),
        };
        let g = ArgScope::global(&p);
        assert_eq!(g.get("TARGETPLATFORM"), Some(Some("linux/arm64/v8")));
        assert_eq!(g.get("BUILDARCH"), Some(Some("arm64")));
    }

    #[test]
    fn arg_words() {
        assert_eq!(
            split_arg("A=b=c").unwrap(),
            ("A".into(), Some("b=c".into()))
        );
        assert!(split_arg("=x").is_err());
    }
}
