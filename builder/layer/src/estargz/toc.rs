//! The eStargz table of contents (`stargz.index.json`) and footer, as
//! stargz-snapshotter's `docs/estargz.md` specifies them.

use crate::tarfmt::{TarHeader, TypeFlag};
use serde::Serialize;
use std::collections::BTreeMap;

/// The tar name of the table of contents.
pub(crate) const TOC_NAME: &str = "stargz.index.json";
/// The landmark entry saying that no file is prioritised for prefetch.
pub(crate) const NO_PREFETCH_LANDMARK: &str = ".no.prefetch.landmark";
/// The landmark entry ending the prioritised files (none here; skipped
/// when a converted layer has it).
pub(crate) const PREFETCH_LANDMARK: &str = ".prefetch.landmark";
/// The content of a landmark file.
pub(crate) const LANDMARK_CONTENT: u8 = 0x0f;
/// Size of the footer gzip member.
pub(crate) const FOOTER_SIZE: usize = 51;

/// The table of contents.
#[derive(Debug, Serialize)]
pub(crate) struct Toc {
    pub version: u32,
    pub entries: Vec<TocEntry>,
}

fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// One entry of the table of contents; zero fields are left out, as Go's
/// `omitempty` does in the reference writer.
#[derive(Debug, Default, Clone, Serialize)]
pub(crate) struct TocEntry {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "is_zero")]
    pub size: u64,
    #[serde(rename = "modtime", skip_serializing_if = "String::is_empty")]
    pub mod_time: String,
    #[serde(rename = "linkName", skip_serializing_if = "String::is_empty")]
    pub link_name: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub mode: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub uid: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub gid: u64,
    /// Where the gzip member holding the data starts in the blob.
    #[serde(skip_serializing_if = "is_zero")]
    pub offset: u64,
    #[serde(rename = "devMajor", skip_serializing_if = "is_zero")]
    pub dev_major: u64,
    #[serde(rename = "devMinor", skip_serializing_if = "is_zero")]
    pub dev_minor: u64,
    /// Values in standard base64, as Go encodes `[]byte`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub xattrs: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub digest: String,
    #[serde(rename = "chunkOffset", skip_serializing_if = "is_zero")]
    pub chunk_offset: u64,
    #[serde(rename = "chunkSize", skip_serializing_if = "is_zero")]
    pub chunk_size: u64,
    #[serde(rename = "chunkDigest", skip_serializing_if = "String::is_empty")]
    pub chunk_digest: String,
}

impl TocEntry {
    /// The entry describing a tar header (data fields are filled later).
    pub fn of(h: &TarHeader) -> TocEntry {
        let kind = match h.flag {
            TypeFlag::Regular | TypeFlag::PaxHeader => "reg",
            TypeFlag::HardLink => "hardlink",
            TypeFlag::Symlink => "symlink",
            TypeFlag::Char => "char",
            TypeFlag::Block => "block",
            TypeFlag::Directory => "dir",
            TypeFlag::Fifo => "fifo",
        };
        TocEntry {
            name: h.name.clone(),
            kind,
            size: if h.flag == TypeFlag::Regular {
                h.size
            } else {
                0
            },
            // Go leaves the time out when it is the epoch.
            mod_time: if h.mtime == 0 {
                String::new()
            } else {
                strata_store::time::rfc3339(h.mtime)
            },
            link_name: h.linkname.clone(),
            mode: h.mode,
            uid: h.uid,
            gid: h.gid,
            dev_major: h.devmajor,
            dev_minor: h.devminor,
            xattrs: h
                .xattrs
                .iter()
                .map(|(k, v)| (k.clone(), strata_store::base64::encode(v)))
                .collect(),
            ..TocEntry::default()
        }
    }
}

/// The footer: an empty gzip member whose extra field (subfield `SG`)
/// holds the offset of the table of contents' member, `%016xSTARGZ`. The
/// bytes are those Go's `compress/gzip` writes at `NoCompression`.
pub(crate) fn footer(toc_offset: u64) -> [u8; FOOTER_SIZE] {
    let subfield = format!("{toc_offset:016x}STARGZ");
    let mut out = [0u8; FOOTER_SIZE];
    // ID1 ID2 CM=deflate FLG=FEXTRA, MTIME 0, XFL 0, OS unknown.
    out[..10].copy_from_slice(&[0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 255]);
    out[10..12].copy_from_slice(&26u16.to_le_bytes());
    out[12..14].copy_from_slice(b"SG");
    out[14..16].copy_from_slice(&22u16.to_le_bytes());
    out[16..38].copy_from_slice(subfield.as_bytes());
    // One final stored block of no bytes; CRC-32 and size of nothing: 0.
    out[38..43].copy_from_slice(&[1, 0, 0, 0xff, 0xff]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_footer_is_an_empty_gzip_member_naming_the_offset() {
        let f = footer(0x1234);
        let mut out = Vec::new();
        let mut dec = flate2::read::GzDecoder::new(&f[..]);
        dec.read_to_end(&mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(
            dec.header().and_then(|h| h.extra()),
            Some(&b"SG\x16\x000000000000001234STARGZ"[..])
        );
    }
}
