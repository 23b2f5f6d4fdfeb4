//! Our own tar headers: ustar blocks, preceded by a PAX extended header when
//! a value does not fit (long or non-ASCII names and link targets, sizes of
//! 8 GiB and more, large ids or times) or extended attributes are present.
//!
//! The layout follows what Go's `archive/tar` writes for docker and BuildKit
//! layers in PAX format: numeric fields in zero-padded octal ending with a
//! NUL, empty user and group names, `ustar\0` + `00` magic, PAX records in
//! sorted key order.

use std::collections::BTreeMap;
use std::io::{self, Read};

/// Size of a tar block.
pub(crate) const BLOCK: usize = 512;

/// What an entry is, as a ustar type flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeFlag {
    Regular,
    HardLink,
    Symlink,
    Char,
    Block,
    Directory,
    Fifo,
    PaxHeader,
}

impl TypeFlag {
    fn byte(self) -> u8 {
        match self {
            TypeFlag::Regular => b'0',
            TypeFlag::HardLink => b'1',
            TypeFlag::Symlink => b'2',
            TypeFlag::Char => b'3',
            TypeFlag::Block => b'4',
            TypeFlag::Directory => b'5',
            TypeFlag::Fifo => b'6',
            TypeFlag::PaxHeader => b'x',
        }
    }
}

/// The fields of one tar entry header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TarHeader {
    pub name: String,
    pub flag: TypeFlag,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub mtime: i64,
    pub linkname: String,
    pub devmajor: u64,
    pub devminor: u64,
    /// Extended attributes, written as `SCHILY.xattr.NAME` records.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// Largest value of an octal field of `len` bytes (one byte is the NUL).
fn octal_max(len: usize) -> u64 {
    (1u64 << (3 * (len - 1) as u32)) - 1
}

/// The low octal digits of `value` that fit, zero-padded, then a NUL.
fn put_octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let mut rest = value;
    for digit in field[..digits].iter_mut().rev() {
        *digit = b'0' + (rest & 7) as u8;
        rest >>= 3;
    }
    field[digits] = 0;
}

fn put_str(field: &mut [u8], value: &[u8]) {
    field[..value.len()].copy_from_slice(value);
}

/// Splits a long ASCII name into ustar `prefix` and `name` at a `/`.
fn split_ustar(name: &str) -> Option<(&str, &str)> {
    if name.len() <= 100 {
        return Some(("", name));
    }
    let bytes = name.as_bytes();
    // The last '/' that leaves a name of at most 100 bytes and a prefix of at
    // most 155; the name must not be empty.
    let start = name.len().saturating_sub(101);
    let pos =
        (start..name.len().saturating_sub(1)).find(|&i| bytes[i] == b'/' && i <= 155 && i > 0)?;
    Some((&name[..pos], &name[pos + 1..]))
}

/// Appends one PAX record (`"LEN key=value\n"`, LEN counting itself).
fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// The PAX header name Go uses: `DIR/PaxHeaders.0/BASE`, cut to 100 bytes.
fn pax_name(name: &str) -> String {
    let trimmed = name.trim_end_matches('/');
    let (dir, base) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
    let full = if dir.is_empty() {
        format!("PaxHeaders.0/{base}")
    } else {
        format!("{dir}/PaxHeaders.0/{base}")
    };
    ascii_cut(&full, 100)
}

/// At most `max` bytes of the ASCII characters of `s`.
fn ascii_cut(s: &str, max: usize) -> String {
    s.chars().filter(char::is_ascii).take(max).collect()
}

fn ustar_block(h: &TarHeader, name: &str, prefix: &str, linkname: &str) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    put_str(&mut b[0..100], name.as_bytes());
    put_octal(&mut b[100..108], u64::from(h.mode & 0o7777));
    put_octal(&mut b[108..116], h.uid.min(octal_max(8)));
    put_octal(&mut b[116..124], h.gid.min(octal_max(8)));
    put_octal(&mut b[124..136], h.size.min(octal_max(12)));
    put_octal(&mut b[136..148], clamp_time(h.mtime));
    b[156] = h.flag.byte();
    put_str(&mut b[157..257], linkname.as_bytes());
    put_str(&mut b[257..263], b"ustar\0");
    put_str(&mut b[263..265], b"00");
    put_octal(&mut b[329..337], h.devmajor.min(octal_max(8)));
    put_octal(&mut b[337..345], h.devminor.min(octal_max(8)));
    put_str(&mut b[345..500], prefix.as_bytes());
    // The checksum is computed with its own field as spaces.
    b[148..156].fill(b' ');
    let sum: u64 = b.iter().map(|&x| u64::from(x)).sum();
    put_octal(&mut b[148..155], sum);
    b[155] = b' ';
    b
}

fn clamp_time(t: i64) -> u64 {
    u64::try_from(t).unwrap_or(0).min(octal_max(12))
}

/// Reads some of the data of the entry `name` into `buf` (again when
/// interrupted); data that ends before `buf` could be filled at all is an
/// error, since the header promised more.
pub(crate) fn read_data(content: &mut dyn Read, buf: &mut [u8], name: &str) -> io::Result<usize> {
    loop {
        match content.read(buf) {
            Ok(0) if !buf.is_empty() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{name}: the data ends early"),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Zero bytes that pad `size` bytes of data to a whole block.
pub(crate) fn padding(size: u64) -> usize {
    let rem = (size % BLOCK as u64) as usize;
    if rem == 0 { 0 } else { BLOCK - rem }
}

/// Encodes the header blocks of an entry (a PAX header when needed, then the
/// ustar header). The entry's data and padding follow separately.
pub(crate) fn encode(h: &TarHeader) -> Vec<u8> {
    let mut records = BTreeMap::<String, Vec<u8>>::new();
    let (prefix, name) = match split_ustar(&h.name) {
        Some((p, n)) if h.name.is_ascii() => (p.to_string(), n.to_string()),
        _ => {
            records.insert("path".into(), h.name.as_bytes().to_vec());
            (String::new(), ascii_cut(&h.name, 100))
        }
    };
    let linkname = if h.linkname.len() <= 100 && h.linkname.is_ascii() {
        h.linkname.clone()
    } else {
        records.insert("linkpath".into(), h.linkname.as_bytes().to_vec());
        ascii_cut(&h.linkname, 100)
    };
    if h.size > octal_max(12) {
        records.insert("size".into(), h.size.to_string().into_bytes());
    }
    if h.uid > octal_max(8) {
        records.insert("uid".into(), h.uid.to_string().into_bytes());
    }
    if h.gid > octal_max(8) {
        records.insert("gid".into(), h.gid.to_string().into_bytes());
    }
    if h.mtime < 0 || h.mtime as u64 > octal_max(12) {
        records.insert("mtime".into(), h.mtime.to_string().into_bytes());
    }
    for (key, value) in &h.xattrs {
        records.insert(format!("SCHILY.xattr.{key}"), value.clone());
    }
    let mut out = Vec::with_capacity(BLOCK * 3);
    if !records.is_empty() {
        let mut data = Vec::new();
        for (key, value) in &records {
            pax_record(&mut data, key, value);
        }
        let pax = TarHeader {
            name: pax_name(&h.name),
            flag: TypeFlag::PaxHeader,
            mode: 0,
            uid: 0,
            gid: 0,
            size: data.len() as u64,
            mtime: 0,
            linkname: String::new(),
            devmajor: 0,
            devminor: 0,
            xattrs: BTreeMap::new(),
        };
        out.extend_from_slice(&ustar_block(&pax, &pax.name, "", ""));
        let pad = padding(data.len() as u64);
        out.extend_from_slice(&data);
        out.resize(out.len() + pad, 0);
    }
    out.extend_from_slice(&ustar_block(h, &name, &prefix, &linkname));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn header(name: &str) -> TarHeader {
        TarHeader {
            name: name.into(),
            flag: TypeFlag::Regular,
            mode: 0o4755,
            uid: 1000,
            gid: 1000,
            size: 3,
            mtime: 1_700_000_000,
            linkname: String::new(),
            devmajor: 0,
            devminor: 0,
            xattrs: BTreeMap::new(),
        }
    }

    fn archive(h: &TarHeader, data: &[u8]) -> Vec<u8> {
        let mut out = encode(h);
        out.extend_from_slice(data);
        out.resize(out.len() + padding(data.len() as u64), 0);
        out.resize(out.len() + 2 * BLOCK, 0);
        out
    }

    #[test]
    fn pax_record_length_counts_itself() {
        let mut out = Vec::new();
        pax_record(&mut out, "path", b"a");
        assert_eq!(out, b"9 path=a\n");
        let mut out = Vec::new();
        pax_record(&mut out, "path", &[b'x'; 93]);
        // 93 + "path" 4 + 3 separators = 100, plus "103" = 103.
        assert!(out.starts_with(b"103 path="));
        assert_eq!(out.len(), 103);
    }

    #[test]
    fn short_entry_is_one_ustar_block_the_tar_crate_reads() {
        let bytes = encode(&header("a/b.txt"));
        assert_eq!(bytes.len(), BLOCK);
        assert_eq!(&bytes[257..265], b"ustar\x0000");
        assert_eq!(&bytes[100..108], b"0004755\0");
        let data = archive(&header("a/b.txt"), b"abc");
        let mut ar = tar::Archive::new(&data[..]);
        let mut e = ar.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(e.path().unwrap().to_str(), Some("a/b.txt"));
        assert_eq!(e.header().mode().unwrap(), 0o4755);
        assert_eq!(e.header().mtime().unwrap(), 1_700_000_000);
        assert_eq!(e.header().username_bytes(), Some(&b""[..]));
        let mut s = String::new();
        e.read_to_string(&mut s).unwrap();
        assert_eq!(s, "abc");
    }

    #[test]
    fn long_names_use_the_prefix_then_pax() {
        let split = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        let bytes = encode(&header(&split));
        assert_eq!(bytes.len(), BLOCK, "fits in prefix + name");
        let long = format!("{}/{}", "d".repeat(200), "f".repeat(110));
        let mut h = header(&long);
        h.flag = TypeFlag::Symlink;
        h.size = 0;
        h.linkname = "é".repeat(60);
        h.xattrs
            .insert("security.capability".into(), vec![1, 0, 0, 2]);
        let data = archive(&h, b"");
        let mut ar = tar::Archive::new(&data[..]);
        let mut e = ar.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(e.path().unwrap().to_str(), Some(long.as_str()));
        assert_eq!(
            e.link_name().unwrap().unwrap().to_str(),
            Some("é".repeat(60).as_str())
        );
        let recs: Vec<(String, Vec<u8>)> = e
            .pax_extensions()
            .unwrap()
            .unwrap()
            .map(|r| {
                let r = r.unwrap();
                (r.key().unwrap().to_string(), r.value_bytes().to_vec())
            })
            .collect();
        let keys: Vec<&str> = recs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["SCHILY.xattr.security.capability", "linkpath", "path"]
        );
        assert_eq!(recs[0].1, [1, 0, 0, 2]);
    }

    #[test]
    fn large_values_go_to_pax() {
        let mut h = header("big");
        h.size = 9 << 30;
        h.uid = 5_000_000;
        h.mtime = -1;
        let bytes = encode(&h);
        let text = String::from_utf8_lossy(&bytes[BLOCK..2 * BLOCK]);
        assert!(text.contains("mtime=-1\n"), "{text}");
        assert!(text.contains(&format!("size={}\n", 9u64 << 30)), "{text}");
        assert!(text.contains("uid=5000000\n"), "{text}");
        assert_eq!(&bytes[..13], b"PaxHeaders.0/");
    }
}
