//! A tar header as Go's `archive/tar` reads it, which is what
//! containers/storage compares the TOC with: the raw numeric fields (mode
//! with whatever bits the writer put there), PAX records over them, times
//! with their nanoseconds.

use super::toc::TocEntry;
use std::collections::BTreeMap;
use std::io::{self, Read};

/// A point in time as Go's `time.Unix(secs, nanos)` keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GoTime {
    secs: i64,
    nanos: u32,
}

impl GoTime {
    fn whole(secs: i64) -> GoTime {
        GoTime { secs, nanos: 0 }
    }

    /// A PAX time (`secs[.fraction]`, maybe negative), as Go parses it.
    fn pax(text: &str) -> Option<GoTime> {
        let (negative, text) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let secs: i64 = whole.parse().ok()?;
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        let nanos: i64 = digits.parse().ok()?;
        let (secs, nanos) = if negative {
            (-secs, -nanos)
        } else {
            (secs, nanos)
        };
        // Normalised as time.Unix does: 0 <= nanos < 1e9.
        let total_secs = secs + nanos.div_euclid(1_000_000_000);
        Some(GoTime {
            secs: total_secs,
            nanos: nanos.rem_euclid(1_000_000_000) as u32,
        })
    }

    /// RFC 3339 with the nanoseconds Go's JSON encoding keeps.
    fn rfc3339(self) -> String {
        let base = strata_store::time::rfc3339(self.secs);
        if self.nanos == 0 {
            return base;
        }
        let frac = format!("{:09}", self.nanos);
        let frac = frac.trim_end_matches('0');
        format!("{}.{frac}Z", base.trim_end_matches('Z'))
    }
}

/// What Go's reader makes of one header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GoHeader {
    pub name: String,
    pub kind: &'static str,
    pub linkname: String,
    pub mode: i64,
    pub size: u64,
    pub uid: u64,
    pub gid: u64,
    pub mtime: GoTime,
    pub atime: Option<GoTime>,
    pub ctime: Option<GoTime>,
    pub devmajor: i64,
    pub devminor: i64,
    /// `SCHILY.xattr.` records, values in base64.
    pub xattrs: BTreeMap<String, String>,
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// A numeric field as Go's `parseNumeric`: base-256 when the high bit is
/// set, else octal with spaces and NULs trimmed (empty is 0).
fn numeric(field: &[u8]) -> Option<i64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut value: i64 = i64::from(field[0] & 0x3f);
        let negative = field[0] & 0x40 != 0;
        for b in &field[1..] {
            value = value.checked_mul(256)?.checked_add(i64::from(*b))?;
        }
        return Some(if negative { -value } else { value });
    }
    let text = std::str::from_utf8(field).ok()?;
    let text = text.trim_matches(|c| c == ' ' || c == '\0');
    if text.is_empty() {
        return Some(0);
    }
    i64::from_str_radix(text, 8).ok()
}

impl GoHeader {
    /// Reads a `tar` crate entry's header the way Go does.
    pub fn of<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<GoHeader> {
        let raw = *entry.header().as_bytes();
        let path = String::from_utf8(entry.path_bytes().into_owned())
            .map_err(|_| invalid("a tar name is not UTF-8 (zstd:chunked's TOC is JSON)".into()))?;
        let field = |range: std::ops::Range<usize>, what: &str| {
            numeric(&raw[range])
                .ok_or_else(|| invalid(format!("{path}: the {what} field is not a number")))
        };
        let flag = raw[156];
        let kind = match flag {
            b'0' => "reg",
            b'\0' if path.ends_with('/') => "dir",
            b'\0' => "reg",
            b'1' => "hardlink",
            b'2' => "symlink",
            b'3' => "char",
            b'4' => "block",
            b'5' => "dir",
            b'6' => "fifo",
            other => {
                return Err(invalid(format!(
                    "{path}: tar entry type {:?} cannot be written as zstd:chunked",
                    other as char
                )));
            }
        };
        let ustar = &raw[257..263] == b"ustar\0";
        let gnu = &raw[257..265] == b"ustar  \0";
        let mut h = GoHeader {
            linkname: match entry.link_name_bytes() {
                Some(l) => String::from_utf8(l.into_owned())
                    .map_err(|_| invalid(format!("{path}: the link target is not UTF-8")))?,
                None => String::new(),
            },
            name: path.clone(),
            kind,
            mode: field(100..108, "mode")?,
            size: entry.size(),
            uid: field(108..116, "uid")? as u64,
            gid: field(116..124, "gid")? as u64,
            mtime: GoTime::whole(field(136..148, "mtime")?),
            atime: None,
            ctime: None,
            devmajor: if ustar || gnu {
                field(329..337, "devmajor")?
            } else {
                0
            },
            devminor: if ustar || gnu {
                field(337..345, "devminor")?
            } else {
                0
            },
            xattrs: BTreeMap::new(),
        };
        if gnu {
            let time = |range: std::ops::Range<usize>| {
                (raw[range.start] != 0)
                    .then(|| numeric(&raw[range]))
                    .flatten()
                    .map(GoTime::whole)
            };
            h.atime = time(345..357);
            h.ctime = time(357..369);
        }
        if let Some(pax) = entry.pax_extensions()? {
            for record in pax {
                let record = record?;
                let value = record.value_bytes();
                let text = || std::str::from_utf8(value).ok().map(str::trim);
                let key = record.key_bytes();
                let bad = || {
                    invalid(format!(
                        "{path}: bad PAX record {}",
                        String::from_utf8_lossy(key)
                    ))
                };
                match key {
                    b"uid" => h.uid = text().and_then(|v| v.parse().ok()).ok_or_else(bad)?,
                    b"gid" => h.gid = text().and_then(|v| v.parse().ok()).ok_or_else(bad)?,
                    b"mtime" => h.mtime = text().and_then(GoTime::pax).ok_or_else(bad)?,
                    b"atime" => h.atime = Some(text().and_then(GoTime::pax).ok_or_else(bad)?),
                    b"ctime" => h.ctime = Some(text().and_then(GoTime::pax).ok_or_else(bad)?),
                    key if key.starts_with(b"GNU.sparse.") => {
                        return Err(invalid(format!(
                            "{path}: sparse files cannot be written as zstd:chunked"
                        )));
                    }
                    key => {
                        if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                            let name = String::from_utf8(name.to_vec()).map_err(|_| {
                                invalid(format!("{path}: an xattr name is not UTF-8"))
                            })?;
                            h.xattrs.insert(name, strata_store::base64::encode(value));
                        }
                    }
                }
            }
        }
        if !matches!(kind, "reg") && h.size != 0 {
            return Err(invalid(format!(
                "{path}: a {kind} entry with a size cannot be written as zstd:chunked"
            )));
        }
        Ok(h)
    }

    /// The TOC entry for this header (data fields are filled later).
    pub fn toc_entry(&self) -> TocEntry {
        TocEntry {
            kind: self.kind,
            name: self.name.clone(),
            link_name: self.linkname.clone(),
            mode: self.mode,
            size: self.size,
            uid: self.uid,
            gid: self.gid,
            mod_time: Some(self.mtime.rfc3339()),
            access_time: self.atime.map(GoTime::rfc3339),
            change_time: self.ctime.map(GoTime::rfc3339),
            dev_major: self.devmajor,
            dev_minor: self.devminor,
            xattrs: self.xattrs.clone(),
            ..TocEntry::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_as_go_reads_them() {
        assert_eq!(numeric(b"0000644\0"), Some(0o644));
        assert_eq!(numeric(b"  755 \0"), Some(0o755));
        assert_eq!(numeric(b"\0\0\0\0"), Some(0));
        assert_eq!(numeric(&[0x80, 0, 0, 1, 0]), Some(256));
        assert_eq!(numeric(b"9"), None);
    }

    #[test]
    fn pax_times_keep_their_nanoseconds() {
        let t = GoTime::pax("1700000000.25").unwrap();
        assert_eq!(t.rfc3339(), "2023-11-14T22:13:20.25Z");
        assert_eq!(GoTime::pax("5").unwrap().rfc3339(), "1970-01-01T00:00:05Z");
        // -1.5 s is 1.5 s before the epoch.
        assert_eq!(
            GoTime::pax("-1.5").unwrap(),
            GoTime {
                secs: -2,
                nanos: 500_000_000
            }
        );
        assert_eq!(GoTime::pax("1.x"), None);
    }
}
