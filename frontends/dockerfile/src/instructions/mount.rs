//! `RUN --mount=…` values, typed but not expanded.
//!
//! A value is a CSV record of `key=value` fields (Go's `encoding/csv`
//! rules). Keys are case-insensitive. String values (`target`, `source`,
//! `id`, `env`) stay as written for the lowering to expand; numbers and
//! sizes are checked now when they hold no variable and kept for
//! expansion otherwise ([`Deferred`]). The checks and messages are
//! BuildKit's, including that they depend on field order (`required`
//! before `type=secret` is an error).

use super::Expandable;

/// The kind of a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MountType {
    /// `type=bind` (the default): a read-only view of the context or a stage.
    Bind,
    /// `type=cache`: a persistent cache directory.
    Cache,
    /// `type=tmpfs`.
    Tmpfs,
    /// `type=secret`: a secret file or environment variable.
    Secret,
    /// `type=ssh`: an SSH agent socket.
    Ssh,
}

impl MountType {
    /// The name as written in `type=`.
    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }

    /// The file mode BuildKit uses when `mode=` is not given, for the types
    /// that take one.
    pub fn default_mode(self) -> Option<u32> {
        match self {
            MountType::Cache => Some(0o755),
            MountType::Secret => Some(0o400),
            MountType::Ssh => Some(0o600),
            MountType::Bind | MountType::Tmpfs => None,
        }
    }
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CacheSharing {
    /// `sharing=shared` (the default).
    Shared,
    /// `sharing=private`: a new directory when the cache is busy.
    Private,
    /// `sharing=locked`: wait for the other user.
    Locked,
}

/// A typed value that may still hold a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deferred<T> {
    /// Known now.
    Value(T),
    /// Holds `$`: expand it, then parse it as the key requires.
    Expand(Expandable),
}

/// One `--mount` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMount {
    /// The flag value as written.
    pub raw: String,
    /// `type=`.
    pub kind: MountType,
    /// `target=` / `dst=` / `destination=` (expanded by BuildKit).
    pub target: Option<Expandable>,
    /// `source=` / `src=` (expanded).
    pub source: Option<Expandable>,
    /// `from=`: a stage, image or named context (not expanded: BuildKit
    /// rejects variables here).
    pub from: Option<String>,
    /// `id=` (expanded).
    pub id: Option<Expandable>,
    /// `sharing=` for cache mounts; `Shared` by default.
    pub sharing: Option<CacheSharing>,
    /// `mode=` in octal.
    pub mode: Option<Deferred<u32>>,
    /// `uid=`.
    pub uid: Option<Deferred<u32>>,
    /// `gid=`.
    pub gid: Option<Deferred<u32>>,
    /// `size=` of a tmpfs mount, in bytes (`64m`, `1g`, binary units).
    pub size: Option<Deferred<u64>>,
    /// `env=` of a secret mount: expose it as this variable (expanded).
    pub env: Option<Expandable>,
    /// `required` for secret and ssh mounts.
    pub required: bool,
    /// Read-only: `ro`/`rw` as given, else true for bind, secret and ssh,
    /// false for cache and tmpfs.
    pub read_only: bool,
}

/// Splits one CSV record as Go's `encoding/csv` reader does (fields may be
/// `"quoted"`, `""` is a quote inside quotes, a bare quote elsewhere is an
/// error).
pub(crate) fn csv_fields(value: &str) -> Result<Vec<String>, String> {
    if value.is_empty() {
        return Err("failed to parse csv mounts: EOF".to_string());
    }
    let mut fields = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => {
                        return Err(
                            "failed to parse csv mounts: extraneous or missing \" in quoted-field"
                                .to_string(),
                        );
                    }
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => {
                    return Err(
                        "failed to parse csv mounts: extraneous or missing \" in quoted-field"
                            .to_string(),
                    );
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => {
                        fields.push(field);
                        break;
                    }
                    Some('"') => {
                        return Err(
                            "failed to parse csv mounts: bare \" in non-quoted-field".to_string()
                        );
                    }
                    Some(c) => field.push(c),
                }
            }
        }
    }
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Docker's `units.RAMInBytes`: `1024`, `64k`, `1.5GiB`, `10 mb` (binary
/// multipliers).
pub fn parse_ram_size(value: &str) -> Option<u64> {
    let num_len = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (num, rest) = value.split_at(num_len);
    // `\d+(\.\d+)*`
    if num.is_empty()
        || num
            .split('.')
            .any(|part| part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut chars = rest.chars().peekable();
    let mult: u64 = match chars.peek().map(char::to_ascii_lowercase) {
        Some('k') => 1 << 10,
        Some('m') => 1 << 20,
        Some('g') => 1 << 30,
        Some('t') => 1 << 40,
        Some('p') => 1 << 50,
        _ => 1,
    };
    if mult != 1 {
        chars.next();
    }
    if matches!(chars.peek(), Some('i' | 'I')) {
        chars.next();
    }
    if matches!(chars.peek(), Some('b' | 'B')) {
        chars.next();
    }
    if chars.next().is_some() {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    let bytes = n * mult as f64;
    (bytes.is_finite() && bytes < u64::MAX as f64).then_some(bytes as u64)
}

fn number<T>(
    key: &str,
    value: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Deferred<T>, String> {
    if value.contains('$') {
        return Ok(Deferred::Expand(Expandable(value.to_string())));
    }
    parse(value)
        .map(Deferred::Value)
        .ok_or_else(|| format!("invalid value {value} for {key}"))
}

const ALL_KEYS: [&str; 19] = [
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "env",
];

/// Parses one `--mount` value with BuildKit's rules and messages.
pub fn parse_mount(raw: &str) -> Result<RunMount, String> {
    let mut m = RunMount {
        raw: raw.to_string(),
        kind: MountType::Bind,
        target: None,
        source: None,
        from: None,
        id: None,
        sharing: None,
        mode: None,
        uid: None,
        gid: None,
        size: None,
        env: None,
        required: false,
        read_only: false,
    };
    let mut ro_auto = true;
    let unexpected = |key: &str, kind: MountType| {
        format!("unexpected key '{key}' for mount type '{}'", kind.as_str())
    };
    for field in csv_fields(raw)? {
        let Some((key, value)) = field.split_once('=') else {
            match field.to_ascii_lowercase().as_str() {
                "readonly" | "ro" => {
                    m.read_only = true;
                    ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.read_only = false;
                    ro_auto = false;
                }
                "required" if matches!(m.kind, MountType::Secret | MountType::Ssh) => {
                    m.required = true;
                }
                "required" => return Err(unexpected("required", m.kind)),
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        let key = key.to_ascii_lowercase();
        let literal_bool = |value: &str| {
            parse_go_bool(value).ok_or_else(|| format!("invalid value for {key}: {value}"))
        };
        match key.as_str() {
            "type" => {
                m.kind = match value.to_ascii_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ => {
                        let types = ["bind", "cache", "tmpfs", "secret", "ssh"];
                        let hint = super::suggest(value, &types, false)
                            .map(|s| format!(" (did you mean {s}?)"))
                            .unwrap_or_default();
                        return Err(format!("unsupported mount type {value:?}{hint}"));
                    }
                }
            }
            "from" => {
                if let Some(at) = value.find('$')
                    && at != value.len() - 1
                {
                    return Err(
                        "'from' doesn't support variable expansion, define alias stage instead"
                            .to_string(),
                    );
                }
                m.from = Some(value.to_string());
            }
            "source" | "src" => m.source = Some(Expandable(value.to_string())),
            "target" | "dst" | "destination" => m.target = Some(Expandable(value.to_string())),
            "readonly" | "ro" => {
                m.read_only = literal_bool(value)?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.read_only = !literal_bool(value)?;
                ro_auto = false;
            }
            "required" => {
                if !matches!(m.kind, MountType::Secret | MountType::Ssh) {
                    return Err(unexpected("required", m.kind));
                }
                m.required = literal_bool(value)?;
            }
            "id" => m.id = Some(Expandable(value.to_string())),
            "sharing" => {
                if m.kind != MountType::Cache {
                    return Err(format!(
                        "invalid cache sharing set for {} mount",
                        m.kind.as_str()
                    ));
                }
                m.sharing = Some(match value.to_ascii_lowercase().as_str() {
                    "shared" => CacheSharing::Shared,
                    "private" => CacheSharing::Private,
                    "locked" => CacheSharing::Locked,
                    _ => return Err(format!("unsupported sharing value {value:?}")),
                });
            }
            "mode" => m.mode = Some(number("mode", value, |v| u32::from_str_radix(v, 8).ok())?),
            "uid" => m.uid = Some(number("uid", value, |v| v.parse().ok())?),
            "gid" => m.gid = Some(number("gid", value, |v| v.parse().ok())?),
            "env" => m.env = Some(Expandable(value.to_string())),
            "size" => {
                if m.kind != MountType::Tmpfs {
                    return Err(unexpected("size", m.kind));
                }
                m.size = Some(number("size", value, parse_ram_size)?);
            }
            _ => {
                let hint = super::suggest(&key, &ALL_KEYS, true)
                    .map(|s| format!(" (did you mean {s}?)"))
                    .unwrap_or_default();
                return Err(format!("unexpected key '{key}' in '{field}'{hint}"));
            }
        }
    }
    if matches!(m.kind, MountType::Bind | MountType::Tmpfs) {
        for (name, given) in [
            ("mode", m.mode.is_some()),
            ("uid", m.uid.is_some()),
            ("gid", m.gid.is_some()),
        ] {
            if given {
                return Err(format!(
                    "{name} not allowed for {:?} type mounts",
                    m.kind.as_str()
                ));
            }
        }
    }
    if ro_auto {
        m.read_only = !matches!(m.kind, MountType::Cache | MountType::Tmpfs);
    }
    if m.kind == MountType::Secret {
        if m.from.is_some() {
            return Err("secret mount should not have a from".to_string());
        }
        if m.source.is_none() && m.target.is_none() && m.id.is_none() && m.env.is_none() {
            return Err("invalid secret mount. one of source, target required".to_string());
        }
        if m.source.is_some() && m.id.is_some() {
            return Err("both source and id can't be set".to_string());
        }
    }
    if m.kind == MountType::Cache && m.sharing.is_none() {
        m.sharing = Some(CacheSharing::Shared);
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(raw: &str) -> String {
        parse_mount(raw).err().unwrap_or_default()
    }

    #[test]
    fn csv_like_go() {
        assert_eq!(csv_fields("a,b").unwrap(), ["a", "b"]);
        assert_eq!(csv_fields("\"a,b\",c").unwrap(), ["a,b", "c"]);
        assert_eq!(csv_fields("\"say \"\"hi\"\"\"").unwrap(), ["say \"hi\""]);
        assert_eq!(csv_fields("a,").unwrap(), ["a", ""]);
        assert!(csv_fields("a\"b").is_err());
        assert!(csv_fields("\"ab").is_err());
        assert!(csv_fields("\"a\"b").is_err());
        assert!(csv_fields("").is_err());
    }

    #[test]
    fn ram_sizes() {
        assert_eq!(parse_ram_size("1024"), Some(1024));
        assert_eq!(parse_ram_size("64k"), Some(65536));
        assert_eq!(parse_ram_size("1.5GiB"), Some(1_610_612_736));
        assert_eq!(parse_ram_size("10 mb"), Some(10 << 20));
        assert_eq!(parse_ram_size("1x"), None);
        assert_eq!(parse_ram_size("k"), None);
        assert_eq!(parse_ram_size("1..2"), None);
        assert_eq!(parse_ram_size("-1"), None);
    }

    #[test]
    fn defaults_per_type() {
        let m = parse_mount("type=cache,target=/root/.cache").unwrap();
        assert_eq!(m.kind, MountType::Cache);
        assert_eq!(m.sharing, Some(CacheSharing::Shared));
        assert!(!m.read_only);
        assert_eq!(m.target, Some(Expandable("/root/.cache".into())));
        let m = parse_mount("target=/src,from=build,source=/out").unwrap();
        assert_eq!(m.kind, MountType::Bind);
        assert!(m.read_only);
        assert_eq!(m.from.as_deref(), Some("build"));
        let m = parse_mount("type=bind,target=/x,rw").unwrap();
        assert!(!m.read_only);
        let m = parse_mount("type=tmpfs,target=/t,size=64m").unwrap();
        assert_eq!(m.size, Some(Deferred::Value(64 << 20)));
        assert!(!m.read_only);
        let m = parse_mount("type=secret,id=tok,env=TOKEN,required,mode=0440,uid=$UID").unwrap();
        assert!(m.required && m.read_only);
        assert_eq!(m.mode, Some(Deferred::Value(0o440)));
        assert_eq!(m.uid, Some(Deferred::Expand(Expandable("$UID".into()))));
        let m = parse_mount("TYPE=SSH,Required=true").unwrap();
        assert_eq!((m.kind, m.required), (MountType::Ssh, true));
        assert_eq!(MountType::Ssh.default_mode(), Some(0o600));
        let m = parse_mount("type=cache,target=/c,sharing=LOCKED,ro,id=$X").unwrap();
        assert_eq!(m.sharing, Some(CacheSharing::Locked));
        assert!(m.read_only);
    }

    #[test]
    fn errors_match_buildkit() {
        assert_eq!(err("type=foo"), "unsupported mount type \"foo\"");
        assert_eq!(
            err("type=cahce"),
            "unsupported mount type \"cahce\" (did you mean cache?)"
        );
        assert_eq!(
            err("target"),
            "invalid field 'target' must be a key=value pair"
        );
        assert_eq!(
            err("required,type=secret,id=a"),
            "unexpected key 'required' for mount type 'bind'"
        );
        assert_eq!(
            err("type=cache,size=1m"),
            "unexpected key 'size' for mount type 'cache'"
        );
        assert_eq!(
            err("sharing=locked"),
            "invalid cache sharing set for bind mount"
        );
        assert_eq!(
            err("type=cache,sharing=all"),
            "unsupported sharing value \"all\""
        );
        assert_eq!(err("type=cache,mode=9"), "invalid value 9 for mode");
        assert_eq!(err("type=cache,uid=-1"), "invalid value -1 for uid");
        assert_eq!(err("type=tmpfs,size=big"), "invalid value big for size");
        assert_eq!(
            err("target=/x,mode=0755"),
            "mode not allowed for \"bind\" type mounts"
        );
        assert_eq!(
            err("type=tmpfs,target=/x,gid=1"),
            "gid not allowed for \"tmpfs\" type mounts"
        );
        assert_eq!(
            err("type=secret"),
            "invalid secret mount. one of source, target required"
        );
        assert_eq!(
            err("type=secret,id=a,from=b"),
            "secret mount should not have a from"
        );
        assert_eq!(
            err("type=secret,id=a,src=b"),
            "both source and id can't be set"
        );
        assert_eq!(err("ro=maybe"), "invalid value for ro: maybe");
        assert_eq!(
            err("from=$STAGE_x,target=/x"),
            "'from' doesn't support variable expansion, define alias stage instead"
        );
        assert_eq!(
            err("tagret=/x"),
            "unexpected key 'tagret' in 'tagret=/x' (did you mean target?)"
        );
        assert!(err("a\"b").contains("bare \""));
    }
}
