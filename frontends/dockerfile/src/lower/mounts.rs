//! `RUN --mount=…` values.

use strata_plan::{
    BindMount, CacheMount, CacheSharing, CopySource, Mount, SecretMount, SshMount, TmpfsMount,
};

/// Splits a CSV record (`a=b,"c=d,e"`) into fields, honouring double quotes.
fn csv_fields(value: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    if quoted {
        return Err(format!("unterminated quote in --mount={value}"));
    }
    fields.push(field);
    Ok(fields)
}

fn parse_bool(key: &str, value: Option<&str>) -> Result<bool, String> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(format!("invalid value for {key}: {other}")),
    }
}

fn parse_octal(key: &str, value: &str) -> Result<u32, String> {
    u32::from_str_radix(value, 8).map_err(|_| format!("invalid value for {key}: {value}"))
}

fn parse_id(key: &str, value: &str) -> Result<u32, String> {
    value
        .parse()
        .map_err(|_| format!("invalid value for {key}: {value}"))
}

/// Parses sizes like `1024`, `64k`, `10m`, `1g` (binary units, as Docker's
/// `RAMInBytes`).
pub(crate) fn parse_size(value: &str) -> Result<u64, String> {
    let v = value.trim().to_ascii_lowercase();
    let v = v.trim_end_matches('b').trim_end_matches('i');
    let (num, mult) = match v.chars().last() {
        Some('k') => (&v[..v.len() - 1], 1u64 << 10),
        Some('m') => (&v[..v.len() - 1], 1 << 20),
        Some('g') => (&v[..v.len() - 1], 1 << 30),
        Some('t') => (&v[..v.len() - 1], 1 << 40),
        _ => (v, 1),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid size: {value}"))?;
    if n < 0.0 {
        return Err(format!("invalid size: {value}"));
    }
    Ok((n * mult as f64) as u64)
}

/// The parsed `--mount`, before targets are made absolute.
pub(crate) struct RawMount {
    pub mount: Mount,
    /// `from=` as written, for the lowering to resolve (stage, context, image).
    pub from: Option<String>,
}

/// Parses one `--mount` value. `expand` expands a value with the build's
/// variables; `ssh_index` numbers default ssh sockets.
pub(crate) fn parse_mount(
    value: &str,
    expand: &mut dyn FnMut(&str) -> Result<String, String>,
    ssh_index: usize,
) -> Result<RawMount, String> {
    let mut kind = "bind".to_string();
    let mut opts: Vec<(String, Option<String>)> = Vec::new();
    for field in csv_fields(value)? {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(expand(v.trim())?)),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        if k == "type" {
            kind = v.clone().unwrap_or_default().to_ascii_lowercase();
        } else {
            opts.push((k, v));
        }
    }
    let mut target = None;
    let mut source = None;
    let mut from = None;
    let mut id = None;
    let mut read_only = None;
    let mut sharing = CacheSharing::Shared;
    let mut mode = None;
    let (mut uid, mut gid) = (0, 0);
    let mut size = None;
    let mut required = false;
    let mut env = None;
    for (k, v) in &opts {
        let need = || {
            v.clone()
                .ok_or_else(|| format!("invalid field '{k}' must be a key=value pair"))
        };
        match k.as_str() {
            "target" | "dst" | "destination" => target = Some(need()?),
            "source" | "src" => source = Some(need()?),
            "from" => from = Some(need()?),
            "id" => id = Some(need()?),
            "readonly" | "ro" => read_only = Some(parse_bool(k, v.as_deref())?),
            "readwrite" | "rw" => read_only = Some(!parse_bool(k, v.as_deref())?),
            "sharing" => {
                sharing = match need()?.as_str() {
                    "shared" => CacheSharing::Shared,
                    "private" => CacheSharing::Private,
                    "locked" => CacheSharing::Locked,
                    other => return Err(format!("unsupported sharing value {other:?}")),
                }
            }
            "mode" => mode = Some(parse_octal(k, &need()?)?),
            "uid" => uid = parse_id(k, &need()?)?,
            "gid" => gid = parse_id(k, &need()?)?,
            "size" => size = Some(parse_size(&need()?)?),
            "required" => required = parse_bool(k, v.as_deref())?,
            "env" => env = Some(need()?),
            other => return Err(format!("unexpected key '{other}' in '{value}'")),
        }
    }
    let allowed: &[&str] = match kind.as_str() {
        "bind" => &[
            "target",
            "dst",
            "destination",
            "source",
            "src",
            "from",
            "readonly",
            "ro",
            "readwrite",
            "rw",
        ],
        "cache" => &[
            "target",
            "dst",
            "destination",
            "source",
            "src",
            "from",
            "id",
            "readonly",
            "ro",
            "readwrite",
            "rw",
            "sharing",
            "mode",
            "uid",
            "gid",
        ],
        "tmpfs" => &["target", "dst", "destination", "size"],
        "secret" => &[
            "target",
            "dst",
            "destination",
            "id",
            "required",
            "mode",
            "uid",
            "gid",
            "env",
        ],
        "ssh" => &[
            "target",
            "dst",
            "destination",
            "id",
            "required",
            "mode",
            "uid",
            "gid",
        ],
        other => return Err(format!("unsupported mount type {other:?}")),
    };
    if let Some((k, _)) = opts.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        return Err(format!("option '{k}' is not allowed for a {kind} mount"));
    }
    let need_target =
        |t: Option<String>| t.ok_or_else(|| format!("mount type={kind} requires a target"));
    let mount = match kind.as_str() {
        "bind" => Mount::Bind(BindMount {
            target: need_target(target)?,
            source: source.unwrap_or_else(|| "/".into()),
            from: CopySource::Context,
            read_write: read_only == Some(false),
        }),
        "cache" => {
            let target = need_target(target)?;
            Mount::Cache(CacheMount {
                id: id.unwrap_or_else(|| target.clone()),
                target,
                sharing,
                from: None,
                source,
                read_only: read_only == Some(true),
                mode: mode.unwrap_or(0o755),
                uid,
                gid,
            })
        }
        "tmpfs" => Mount::Tmpfs(TmpfsMount {
            target: need_target(target)?,
            size,
        }),
        "secret" => {
            let id = match (&id, &target) {
                (Some(id), _) => id.clone(),
                (None, Some(t)) => t.rsplit('/').next().unwrap_or(t).to_string(),
                (None, None) if env.is_some() => env.clone().unwrap_or_default(),
                (None, None) => return Err("secret mount requires an id or a target".into()),
            };
            let target = match (target, &env) {
                (Some(t), _) => t,
                (None, Some(_)) => String::new(),
                (None, None) => format!("/run/secrets/{id}"),
            };
            Mount::Secret(SecretMount {
                id,
                target,
                env,
                required,
                mode: mode.unwrap_or(0o400),
                uid,
                gid,
            })
        }
        _ => Mount::Ssh(SshMount {
            id: id.unwrap_or_else(|| "default".into()),
            target: target.unwrap_or_else(|| format!("/run/buildkit/ssh_agent.{ssh_index}")),
            required,
            mode: mode.unwrap_or(0o600),
            uid,
            gid,
        }),
    };
    Ok(RawMount { mount, from })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &str) -> Result<Mount, String> {
        parse_mount(v, &mut |s| Ok(s.replace("$V", "x")), 0).map(|m| m.mount)
    }

    #[test]
    fn defaults_per_type() {
        match p("type=cache,target=/root/.cache").unwrap() {
            Mount::Cache(c) => {
                assert_eq!(
                    (c.id.as_str(), c.mode, c.sharing),
                    ("/root/.cache", 0o755, CacheSharing::Shared)
                );
            }
            other => panic!("{other:?}"),
        }
        match p("target=/src").unwrap() {
            Mount::Bind(b) => assert!(!b.read_write && b.source == "/"),
            other => panic!("{other:?}"),
        }
        match p("type=secret,id=tok").unwrap() {
            Mount::Secret(s) => {
                assert_eq!((s.target.as_str(), s.mode), ("/run/secrets/tok", 0o400))
            }
            other => panic!("{other:?}"),
        }
        match p("type=secret,target=/etc/ssl/certs/ca.crt").unwrap() {
            Mount::Secret(s) => assert_eq!(s.id, "ca.crt"),
            other => panic!("{other:?}"),
        }
        match p("type=tmpfs,dst=/t,size=64m").unwrap() {
            Mount::Tmpfs(t) => assert_eq!(t.size, Some(64 << 20)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn values_are_expanded_and_validated() {
        match p("type=cache,id=c-$V,target=/c,sharing=locked,uid=1000,mode=0700").unwrap() {
            Mount::Cache(c) => {
                assert_eq!((c.id.as_str(), c.uid, c.mode), ("c-x", 1000, 0o700));
                assert_eq!(c.sharing, CacheSharing::Locked);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            p("type=nfs,target=/x")
                .unwrap_err()
                .contains("unsupported mount type")
        );
        assert!(p("type=bind").unwrap_err().contains("requires a target"));
        assert!(
            p("type=tmpfs,target=/t,id=x")
                .unwrap_err()
                .contains("not allowed")
        );
        assert!(p("type=cache,target=/c,sharing=odd").is_err());
        assert!(p("type=bind,target=/x,bogus=1").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("1k").unwrap(), 1024);
        assert_eq!(parse_size("1.5g").unwrap(), 3 << 29);
        assert!(parse_size("lots").is_err());
    }
}
