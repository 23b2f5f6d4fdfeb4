//! Choosing the store root.

use std::ffi::OsString;
use std::path::PathBuf;

/// Where the store lives: the `--root` value when given, else
/// `$STRATA_ROOT`, else `/var/lib/strata` when running as root (euid 0),
/// else `$XDG_DATA_HOME/strata`, else `~/.local/share/strata`.
pub fn select_root(flag: Option<PathBuf>) -> PathBuf {
    choose_root(
        flag,
        env("STRATA_ROOT"),
        rustix::process::geteuid().is_root(),
        env("XDG_DATA_HOME"),
        env("HOME"),
    )
}

/// An environment variable, ignoring empty values (as XDG asks).
fn env(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

fn choose_root(
    flag: Option<PathBuf>,
    strata_root: Option<OsString>,
    is_root: bool,
    xdg_data_home: Option<OsString>,
    home: Option<OsString>,
) -> PathBuf {
    if let Some(flag) = flag {
        return flag;
    }
    if let Some(root) = strata_root {
        return root.into();
    }
    if is_root {
        return PathBuf::from("/var/lib/strata");
    }
    // XDG: a relative XDG_DATA_HOME is invalid and must be ignored.
    if let Some(xdg) = xdg_data_home.map(PathBuf::from).filter(|p| p.is_absolute()) {
        return xdg.join("strata");
    }
    home.map_or_else(|| PathBuf::from("."), PathBuf::from)
        .join(".local/share/strata")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<OsString> {
        Some(v.into())
    }

    #[test]
    fn precedence() {
        let flag = Some(PathBuf::from("/flag"));
        assert_eq!(
            choose_root(flag, s("/env"), true, s("/x"), s("/h")),
            PathBuf::from("/flag")
        );
        assert_eq!(
            choose_root(None, s("/env"), true, s("/x"), s("/h")),
            PathBuf::from("/env")
        );
        assert_eq!(
            choose_root(None, None, true, s("/x"), s("/h")),
            PathBuf::from("/var/lib/strata")
        );
        assert_eq!(
            choose_root(None, None, false, s("/x"), s("/h")),
            PathBuf::from("/x/strata")
        );
        assert_eq!(
            choose_root(None, None, false, s("rel"), s("/h")),
            PathBuf::from("/h/.local/share/strata")
        );
        assert_eq!(
            choose_root(None, None, false, None, s("/h")),
            PathBuf::from("/h/.local/share/strata")
        );
    }
}
