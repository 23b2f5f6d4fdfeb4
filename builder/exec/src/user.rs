//! Resolving `USER user[:group]` to numbers against the image's
//! `/etc/passwd` and `/etc/group`, as BuildKit does (runc's `GetExecUser`).
//!
//! - `""` is root. `uid:gid` with both numeric is taken as is, without
//!   reading the files and without supplementary groups.
//! - Otherwise the user is looked up by name or uid; a numeric user that is
//!   not in the file is used as is, with gid 0.
//! - An explicit group is looked up by name or gid (numeric ones need not
//!   exist); without one, the primary gid comes from `/etc/passwd` and the
//!   supplementary groups are those of `/etc/group` that list the user.

use crate::spec::Identity;
use crate::view::MergedView;
use std::path::PathBuf;

/// A user resolved to numbers, with its home directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    /// uid, gid and supplementary gids.
    pub identity: Identity,
    /// The home directory from `/etc/passwd` (`/` when unknown).
    pub home: String,
}

/// A user or group that does not exist in the image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// No such user.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    /// No such group.
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
    /// Reading `/etc/passwd` or `/etc/group` from the layers failed.
    #[error("reading {path} from the image: {message}")]
    Read {
        /// The file.
        path: &'static str,
        /// The OS error.
        message: String,
    },
}

/// Resolves `spec` against the text of `/etc/passwd` and `/etc/group`
/// (`None`: the file does not exist).
pub fn resolve_user(
    spec: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ResolvedUser, UserError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if spec.is_empty() {
        return Ok(root_with_home(passwd, 0));
    }
    if let (Ok(uid), Some(Ok(gid))) = (user_part.parse::<u32>(), group_part.map(str::parse::<u32>))
    {
        let home = home_of(passwd, uid);
        return Ok(ResolvedUser {
            identity: Identity {
                uid,
                gid,
                additional_gids: Vec::new(),
            },
            home,
        });
    }
    let passwd = passwd.unwrap_or("");
    let entry = passwd_lines(passwd).find(|f| f[0] == user_part || f[2] == user_part);
    let (uid, mut gid, name, home) = match entry {
        Some(f) => (
            f[2].parse::<u32>()
                .map_err(|_| UserError::NoUser(user_part.to_string()))?,
            f[3].parse::<u32>().unwrap_or(0),
            Some(f[0]),
            f.get(5)
                .filter(|h| !h.is_empty())
                .unwrap_or(&"/")
                .to_string(),
        ),
        None => match user_part.parse::<u32>() {
            Ok(uid) => (uid, 0, None, "/".to_string()),
            Err(_) => return Err(UserError::NoUser(user_part.to_string())),
        },
    };
    let groups = group.unwrap_or("");
    let mut additional_gids = Vec::new();
    match group_part {
        Some(g) => {
            let entry = group_lines(groups).find(|f| f[0] == g || f[2] == g);
            gid = match entry.and_then(|f| f[2].parse().ok()) {
                Some(gid) => gid,
                None => g.parse().map_err(|_| UserError::NoGroup(g.to_string()))?,
            };
        }
        None => {
            if let Some(name) = name {
                for f in group_lines(groups) {
                    let member = f
                        .get(3)
                        .is_some_and(|m| m.split(',').any(|m| m.trim() == name));
                    if let (true, Ok(g)) = (member, f[2].parse::<u32>())
                        && !additional_gids.contains(&g)
                    {
                        additional_gids.push(g);
                    }
                }
            }
        }
    }
    Ok(ResolvedUser {
        identity: Identity {
            uid,
            gid,
            additional_gids,
        },
        home,
    })
}

/// Resolves `spec` against the `/etc/passwd` and `/etc/group` of a layer
/// stack (top first), as the RUN container will see them.
pub fn resolve_user_in_layers(spec: &str, layers: &[PathBuf]) -> Result<ResolvedUser, UserError> {
    let view = MergedView::new(layers.to_vec());
    let read = |path: &'static str| -> Result<Option<String>, UserError> {
        view.read(path)
            .map(|o| o.map(|b| String::from_utf8_lossy(&b).into_owned()))
            .map_err(|e| UserError::Read {
                path,
                message: e.to_string(),
            })
    };
    let passwd = read("/etc/passwd")?;
    let group = read("/etc/group")?;
    resolve_user(spec, passwd.as_deref(), group.as_deref())
}

/// The home directory of `uid` in `/etc/passwd` text, `/` when unknown.
pub(crate) fn home_of(passwd: Option<&str>, uid: u32) -> String {
    let uid = uid.to_string();
    passwd
        .and_then(|p| passwd_lines(p).find(|f| f[2] == uid))
        .and_then(|f| f.get(5).filter(|h| !h.is_empty()).map(|h| h.to_string()))
        .unwrap_or_else(|| "/".to_string())
}

fn root_with_home(passwd: Option<&str>, uid: u32) -> ResolvedUser {
    ResolvedUser {
        identity: Identity::default(),
        home: home_of(passwd, uid),
    }
}

fn passwd_lines(text: &str) -> impl Iterator<Item = Vec<&str>> {
    fields(text, 4)
}

fn group_lines(text: &str) -> impl Iterator<Item = Vec<&str>> {
    fields(text, 3)
}

fn fields(text: &str, min: usize) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(move |f| f.len() >= min)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n# c\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
    const GROUP: &str =
        "root:x:0:\nwheel:x:10:app\nusers:x:100:other,app\napp:x:1000:\nnogroup:x:65534:\n";

    fn ids(spec: &str) -> Result<(u32, u32, Vec<u32>), UserError> {
        resolve_user(spec, Some(PASSWD), Some(GROUP))
            .map(|u| (u.identity.uid, u.identity.gid, u.identity.additional_gids))
    }

    #[test]
    fn names_ids_and_supplementary_groups() {
        assert_eq!(ids("").unwrap(), (0, 0, vec![]));
        assert_eq!(ids("root").unwrap(), (0, 0, vec![]));
        assert_eq!(ids("app").unwrap(), (1000, 1000, vec![10, 100]));
        assert_eq!(ids("1000").unwrap(), (1000, 1000, vec![10, 100]));
        assert_eq!(ids("app:users").unwrap(), (1000, 100, vec![]));
        assert_eq!(ids("app:4242").unwrap(), (1000, 4242, vec![]));
        assert_eq!(ids("1234:5678").unwrap(), (1234, 5678, vec![]));
        assert_eq!(ids("4321").unwrap(), (4321, 0, vec![]));
        assert_eq!(ids("nobody:nogroup").unwrap(), (65534, 65534, vec![]));
        let home = resolve_user("app", Some(PASSWD), Some(GROUP)).unwrap().home;
        assert_eq!(home, "/home/app");
    }

    #[test]
    fn unknown_names_are_errors() {
        assert_eq!(ids("ghost"), Err(UserError::NoUser("ghost".into())));
        assert_eq!(ids("app:ghosts"), Err(UserError::NoGroup("ghosts".into())));
        assert_eq!(
            resolve_user("app", None, None),
            Err(UserError::NoUser("app".into()))
        );
        assert_eq!(
            ids("ghost").unwrap_err().to_string(),
            "unable to find user ghost: no matching entries in passwd file"
        );
    }
}
