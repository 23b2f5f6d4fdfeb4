//! The zstd:chunked table of contents (containers/storage's `TOC`, the
//! "manifest"), the footer, and the layer annotations that locate them.

use serde::Serialize;
use std::collections::BTreeMap;

/// Descriptor annotation: `sha256:` of the compressed TOC (current
/// containers/storage, podman 5).
pub const MANIFEST_CHECKSUM_ANNOTATION: &str =
    "io.github.containers.zstd-chunked.manifest-checksum";
/// Descriptor annotation: `offset:length:uncompressed length:1` of the TOC.
pub const MANIFEST_POSITION_ANNOTATION: &str =
    "io.github.containers.zstd-chunked.manifest-position";
/// Descriptor annotation: `offset:length:uncompressed length` of the
/// tar-split data.
pub const TARSPLIT_POSITION_ANNOTATION: &str =
    "io.github.containers.zstd-chunked.tarsplit-position";
/// The checksum annotation under the name containers/storage 1.43 (Debian
/// 12, podman 4.3) reads.
pub const LEGACY_MANIFEST_CHECKSUM_ANNOTATION: &str =
    "io.containers.zstd-chunked.manifest-checksum";
/// The position annotation under the name containers/storage 1.43 reads.
pub const LEGACY_MANIFEST_POSITION_ANNOTATION: &str =
    "io.containers.zstd-chunked.manifest-position";

/// Where the TOC and the tar-split data are in a zstd:chunked blob, and the
/// TOC's digest: what the descriptor's annotations say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestPositions {
    /// `sha256:` of the compressed TOC.
    pub manifest_checksum: String,
    /// Offset of the compressed TOC in the blob (after its frame header).
    pub manifest_offset: u64,
    /// Size of the compressed TOC.
    pub manifest_size: u64,
    /// Size of the TOC's JSON.
    pub manifest_uncompressed_size: u64,
    /// Offset of the compressed tar-split data.
    pub tarsplit_offset: u64,
    /// Size of the compressed tar-split data.
    pub tarsplit_size: u64,
    /// Size of the tar-split JSON lines.
    pub tarsplit_uncompressed_size: u64,
}

/// The manifest type containers/storage reads (`ManifestTypeCRFS`).
const MANIFEST_TYPE_CRFS: u64 = 1;
/// The footer's magic number (current containers/storage; 1.43 wrote and
/// read `GnUlInUx` in a 40-byte footer, but only when the annotations are
/// missing, and it never reads this one).
const FOOTER_MAGIC: &[u8; 8] = b"GNUlInUx";
/// Size of the footer's data.
pub(crate) const FOOTER_SIZE: usize = 64;

impl ManifestPositions {
    /// The descriptor annotations: both annotation spellings, so that
    /// containers/storage 1.43 and current versions find the TOC.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        let manifest = format!(
            "{}:{}:{}:{MANIFEST_TYPE_CRFS}",
            self.manifest_offset, self.manifest_size, self.manifest_uncompressed_size
        );
        let tarsplit = format!(
            "{}:{}:{}",
            self.tarsplit_offset, self.tarsplit_size, self.tarsplit_uncompressed_size
        );
        BTreeMap::from([
            (
                MANIFEST_CHECKSUM_ANNOTATION.to_string(),
                self.manifest_checksum.clone(),
            ),
            (MANIFEST_POSITION_ANNOTATION.to_string(), manifest.clone()),
            (TARSPLIT_POSITION_ANNOTATION.to_string(), tarsplit),
            (
                LEGACY_MANIFEST_CHECKSUM_ANNOTATION.to_string(),
                self.manifest_checksum.clone(),
            ),
            (LEGACY_MANIFEST_POSITION_ANNOTATION.to_string(), manifest),
        ])
    }

    /// The footer: seven little-endian numbers (TOC offset, size,
    /// uncompressed size, type; tar-split offset, size, uncompressed size)
    /// and the magic number.
    pub(crate) fn footer(&self) -> [u8; FOOTER_SIZE] {
        let mut out = [0u8; FOOTER_SIZE];
        let fields = [
            self.manifest_offset,
            self.manifest_size,
            self.manifest_uncompressed_size,
            MANIFEST_TYPE_CRFS,
            self.tarsplit_offset,
            self.tarsplit_size,
            self.tarsplit_uncompressed_size,
        ];
        for (slot, value) in out.chunks_exact_mut(8).zip(fields) {
            slot.copy_from_slice(&value.to_le_bytes());
        }
        out[56..].copy_from_slice(FOOTER_MAGIC);
        out
    }
}

/// A zstd skippable frame holding `data` (decoders pass over it).
pub(crate) fn skippable_frame(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let len = u32::try_from(data.len())
        .map_err(|_| std::io::Error::other("a zstd:chunked metadata frame exceeds 4 GiB"))?;
    let mut out = Vec::with_capacity(data.len() + 8);
    out.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18]);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(data);
    Ok(out)
}

/// The TOC.
#[derive(Debug, Serialize)]
pub(crate) struct Toc {
    pub version: u32,
    pub entries: Vec<TocEntry>,
    /// `sha256:` of the compressed tar-split data.
    #[serde(rename = "tarSplitDigest")]
    pub tar_split_digest: String,
}

fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// One TOC entry, fields in containers/storage's order; zero fields left
/// out as Go's `omitempty` does.
#[derive(Debug, Default, Clone, Serialize)]
pub(crate) struct TocEntry {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    #[serde(rename = "linkName", skip_serializing_if = "String::is_empty")]
    pub link_name: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub mode: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub size: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub uid: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub gid: u64,
    #[serde(rename = "modtime", skip_serializing_if = "Option::is_none")]
    pub mod_time: Option<String>,
    #[serde(rename = "accesstime", skip_serializing_if = "Option::is_none")]
    pub access_time: Option<String>,
    #[serde(rename = "changetime", skip_serializing_if = "Option::is_none")]
    pub change_time: Option<String>,
    #[serde(rename = "devMajor", skip_serializing_if = "is_zero")]
    pub dev_major: i64,
    #[serde(rename = "devMinor", skip_serializing_if = "is_zero")]
    pub dev_minor: i64,
    /// Values in standard base64.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub xattrs: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub digest: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub offset: u64,
    #[serde(rename = "endOffset", skip_serializing_if = "is_zero")]
    pub end_offset: u64,
    #[serde(rename = "chunkSize", skip_serializing_if = "is_zero")]
    pub chunk_size: u64,
    #[serde(rename = "chunkOffset", skip_serializing_if = "is_zero")]
    pub chunk_offset: u64,
    #[serde(rename = "chunkDigest", skip_serializing_if = "String::is_empty")]
    pub chunk_digest: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_footer_holds_the_positions_and_the_magic() {
        let p = ManifestPositions {
            manifest_checksum: "sha256:00".into(),
            manifest_offset: 10,
            manifest_size: 20,
            manifest_uncompressed_size: 30,
            tarsplit_offset: 38,
            tarsplit_size: 5,
            tarsplit_uncompressed_size: 9,
        };
        let f = p.footer();
        let n = |i: usize| u64::from_le_bytes(f[8 * i..8 * i + 8].try_into().unwrap());
        assert_eq!((0..7).map(n).collect::<Vec<_>>(), [10, 20, 30, 1, 38, 5, 9]);
        assert_eq!(&f[56..], b"GNUlInUx");
        let a = p.annotations();
        assert_eq!(a[MANIFEST_POSITION_ANNOTATION], "10:20:30:1");
        assert_eq!(a[LEGACY_MANIFEST_POSITION_ANNOTATION], "10:20:30:1");
        assert_eq!(a[TARSPLIT_POSITION_ANNOTATION], "38:5:9");
        assert_eq!(a[LEGACY_MANIFEST_CHECKSUM_ANNOTATION], "sha256:00");
    }

    #[test]
    fn a_skippable_frame_is_passed_over_by_a_decoder() {
        let mut blob = zstd::bulk::compress(b"data", 3).unwrap();
        blob.extend(skippable_frame(b"hidden").unwrap());
        assert_eq!(zstd::stream::decode_all(&blob[..]).unwrap(), b"data");
    }
}
