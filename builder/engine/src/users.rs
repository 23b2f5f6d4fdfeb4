//! Resolving the owner of files a step writes (`--chown`, and the
//! directory `WORKDIR` makes for the `USER` in effect) against an image's
//! `/etc/passwd` and `/etc/group`, as BuildKit's file operations do: a
//! user name takes its uid and primary gid from `/etc/passwd`, a numeric
//! user (or `root`) is used as both uid and gid, and an empty part is 0
//! (`user:` is the root group, `:group` the root user). A name that is in
//! neither file is an error here (BuildKit silently uses 0). (`USER` for a
//! RUN is resolved by `strata_exec::resolve_user`, as runc does: there a
//! numeric uid found in `/etc/passwd` takes that entry's gid.)

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
            Some(Passwd {
                name: f.first()?,
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
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

/// A user or group part as BuildKit's `llb.WithUser` reads it: a number
/// (or `root`) is an id; the empty part is id 0; anything else a name.
fn numeric(part: &str) -> Option<u32> {
    match part {
        "" | "root" => Some(0),
        _ => part.parse().ok(),
    }
}

/// Resolves a `--chown` value (or the `USER` a `WORKDIR` directory gets)
/// to a uid and gid, as BuildKit's file operations do (see the module
/// docs).
pub fn resolve_chown(spec: &str, passwd: &str, group: &str) -> Result<(u32, u32), UserError> {
    let (user_spec, group_spec) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let (uid, mut gid) = match numeric(user_spec) {
        Some(id) => (id, id),
        None => passwd_entries(passwd)
            .iter()
            .find(|u| u.name == user_spec)
            .map(|u| (u.uid, u.gid))
            .ok_or_else(|| UserError::NoUser(user_spec.to_string()))?,
    };
    if let Some(g) = group_spec {
        gid = match numeric(g) {
            Some(id) => id,
            None => group_entries(group)
                .iter()
                .find(|e| e.name == g)
                .map(|e| e.gid)
                .ok_or_else(|| UserError::NoGroup(g.to_string()))?,
        };
    }
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
    fn chown_by_id_uses_the_uid_as_gid() {
        assert_eq!(resolve_chown("10", "", "").unwrap(), (10, 10));
        assert_eq!(resolve_chown("root", "", "").unwrap(), (0, 0));
        assert_eq!(resolve_chown("app:www", PASSWD, GROUP).unwrap(), (1000, 44));
        assert_eq!(resolve_chown("1:2", "", "").unwrap(), (1, 2));
        assert!(resolve_chown("ghost", PASSWD, GROUP).is_err());
    }

    /// `--chown=web` gave web's uid as the gid (33:33) where BuildKit takes
    /// the primary group of web's passwd entry (33:44).
    #[test]
    fn chown_by_name_takes_the_users_primary_group() {
        assert_eq!(resolve_chown("web", PASSWD, GROUP).unwrap(), (33, 44));
        assert_eq!(resolve_chown("web:staff", PASSWD, GROUP).unwrap(), (33, 50));
    }

    /// `--chown=:www` failed ("unable to find user"), and `--chown=web:`
    /// kept web's group, where BuildKit reads an empty part as id 0.
    #[test]
    fn chown_empty_user_or_group_is_root() {
        assert_eq!(resolve_chown(":www", PASSWD, GROUP).unwrap(), (0, 44));
        assert_eq!(resolve_chown("web:", PASSWD, GROUP).unwrap(), (33, 0));
        assert_eq!(resolve_chown("app:root", PASSWD, GROUP).unwrap(), (1000, 0));
    }
}
