//! Resolving `--chown` specs against an image's `/etc/passwd` and
//! `/etc/group`. (`USER` is resolved by `strata_exec::resolve_user`, as
//! runc does; the two differ on a missing group: `--chown=user` uses the
//! uid as the gid, as Docker documents and BuildKit does.)

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
}

#[derive(Debug)]
struct Group<'a> {
    name: &'a str,
    gid: u32,
}

fn passwd_entries(text: &str) -> Vec<Passwd<'_>> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            // A line without a numeric gid is not a valid entry.
            f.get(3)?.parse::<u32>().ok()?;
            Some(Passwd {
                name: f.first()?,
                uid: f.get(2)?.parse().ok()?,
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
    fn unknown_names_are_errors() {
        assert_eq!(
            resolve_chown("nobody", PASSWD, GROUP),
            Err(UserError::NoUser("nobody".into()))
        );
        assert_eq!(
            resolve_chown("app:nogroup", PASSWD, GROUP),
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
