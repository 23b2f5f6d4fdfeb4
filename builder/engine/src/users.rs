//! Resolving `USER` and `--chown` specs against an image's `/etc/passwd`
//! and `/etc/group`.
//!
//! The two differ on a missing group: `USER name` takes the user's primary
//! group from `/etc/passwd` (and supplementary groups from `/etc/group`), as
//! runc does, while `COPY --chown=user` uses the uid as the gid, as Docker
//! documents and BuildKit does.

/// A user resolved to numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary group ids (sorted, without the primary group).
    pub additional_gids: Vec<u32>,
    /// Home directory (`/` when unknown).
    pub home: String,
}

/// A user or group that does not exist in the image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// `USER name` or `--chown=name` with no such user.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    /// `:group` with no such group.
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
}

#[derive(Debug)]
struct Passwd<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

#[derive(Debug)]
struct Group<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn passwd_entries(text: &str) -> Vec<Passwd<'_>> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            Some(Passwd {
                name: f.first()?,
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).copied().unwrap_or("/"),
            })
        })
        .collect()
}

fn group_entries(text: &str) -> Vec<Group<'_>> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            Some(Group {
                name: f.first()?,
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| m.split(',').filter(|s| !s.is_empty()).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

fn find_group(groups: &[Group<'_>], spec: &str) -> Result<u32, UserError> {
    if let Some(g) = groups.iter().find(|g| g.name == spec) {
        return Ok(g.gid);
    }
    spec.parse::<u32>()
        .map_err(|_| UserError::NoGroup(spec.to_string()))
}

/// Resolves a `USER` value (`name`, `uid`, `name:group`, `uid:gid`) as
/// runc does. Empty means root.
pub fn resolve_exec_user(spec: &str, passwd: &str, group: &str) -> Result<ExecUser, UserError> {
    let (user_spec, group_spec) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let users = passwd_entries(passwd);
    let groups = group_entries(group);
    let user_spec = if user_spec.is_empty() { "0" } else { user_spec };
    let found = users.iter().find(|u| u.name == user_spec).or_else(|| {
        let uid: u32 = user_spec.parse().ok()?;
        users.iter().find(|u| u.uid == uid)
    });
    let (uid, mut gid, name, home) = match found {
        Some(u) => (u.uid, u.gid, Some(u.name), u.home.to_string()),
        None => match user_spec.parse::<u32>() {
            Ok(uid) => (uid, 0, None, "/".to_string()),
            Err(_) => return Err(UserError::NoUser(user_spec.to_string())),
        },
    };
    let mut additional_gids = Vec::new();
    match group_spec {
        Some(g) if !g.is_empty() => gid = find_group(&groups, g)?,
        _ => {
            if let Some(name) = name {
                additional_gids = groups
                    .iter()
                    .filter(|g| g.members.contains(&name) && g.gid != gid)
                    .map(|g| g.gid)
                    .collect();
                additional_gids.sort_unstable();
                additional_gids.dedup();
            }
        }
    }
    Ok(ExecUser {
        uid,
        gid,
        additional_gids,
        home,
    })
}

/// Resolves a `--chown` value: a missing group means gid = uid.
pub fn resolve_chown(spec: &str, passwd: &str, group: &str) -> Result<(u32, u32), UserError> {
    let (user_spec, group_spec) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let uid = match user_spec.parse::<u32>() {
        Ok(uid) => uid,
        Err(_) => passwd_entries(passwd)
            .iter()
            .find(|u| u.name == user_spec)
            .map(|u| u.uid)
            .ok_or_else(|| UserError::NoUser(user_spec.to_string()))?,
    };
    let gid = match group_spec {
        Some(g) if !g.is_empty() => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => find_group(&group_entries(group), g)?,
        },
        _ => uid,
    };
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n# c\nweb:x:33:44::/var/www:/bin/false\n";
    const GROUP: &str = "root:x:0:\napp:x:1000:\nstaff:x:50:app,web\nwww:x:44:\ndocker:x:999:app\n";

    #[test]
    fn exec_user_by_name_gets_primary_and_supplementary_groups() {
        let u = resolve_exec_user("app", PASSWD, GROUP).unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids.clone()),
            (1000, 1000, vec![50, 999])
        );
        assert_eq!(u.home, "/home/app");
    }

    #[test]
    fn exec_user_numeric_and_explicit_group() {
        let u = resolve_exec_user("33", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid), (33, 44));
        let u = resolve_exec_user("4242", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 0, "/"));
        let u = resolve_exec_user("app:staff", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids.len()), (1000, 50, 0));
        assert_eq!(resolve_exec_user("", PASSWD, GROUP).unwrap().uid, 0);
    }

    #[test]
    fn unknown_names_are_errors() {
        assert_eq!(
            resolve_exec_user("nobody", PASSWD, GROUP),
            Err(UserError::NoUser("nobody".into()))
        );
        assert_eq!(
            resolve_exec_user("app:nogroup", PASSWD, GROUP),
            Err(UserError::NoGroup("nogroup".into()))
        );
    }

    #[test]
    fn chown_uses_uid_as_gid_when_group_missing() {
        assert_eq!(resolve_chown("web", PASSWD, GROUP).unwrap(), (33, 33));
        assert_eq!(resolve_chown("10", "", "").unwrap(), (10, 10));
        assert_eq!(resolve_chown("app:www", PASSWD, GROUP).unwrap(), (1000, 44));
        assert_eq!(resolve_chown("1:2", "", "").unwrap(), (1, 2));
        assert!(resolve_chown("ghost", PASSWD, GROUP).is_err());
    }
}
