//! tar-split data (vbatts/tar-split's JSON packer, as containers/storage
//! embeds it in zstd:chunked layers): the tar stream without file
//! contents, so the exact tar can be put together again from the TOC's
//! files. One JSON object per line: a segment (`type` 2, raw bytes in
//! base64: a file's padding, the next entry's headers) before each entry,
//! then the entry (`type` 1, its name, size and the CRC-64 of its
//! contents), and at the end the end-of-archive blocks.

use crc::{CRC_64_GO_ISO, Crc};
use serde::Serialize;
use std::collections::BTreeSet;
use std::io::{self, Write};

/// Go's `hash/crc64` with the ISO table, as tar-split checks contents.
pub(crate) const CRC64: Crc<u64> = Crc::<u64>::new(&CRC_64_GO_ISO);

#[derive(Serialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    size: u64,
    payload: Option<String>,
    position: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Writes tar-split lines into a zstd stream.
pub(crate) struct TarSplit {
    encoder: zstd::stream::Encoder<'static, Vec<u8>>,
    position: u64,
    uncompressed: u64,
    seen: BTreeSet<String>,
}

impl TarSplit {
    pub fn new(level: i32) -> io::Result<TarSplit> {
        let mut encoder = zstd::stream::Encoder::new(Vec::new(), level)?;
        encoder.include_checksum(true)?;
        Ok(TarSplit {
            encoder,
            position: 0,
            uncompressed: 0,
            seen: BTreeSet::new(),
        })
    }

    fn line(&mut self, line: &Line<'_>) -> io::Result<()> {
        let mut json = serde_json::to_vec(line).map_err(io::Error::other)?;
        json.push(b'\n');
        self.encoder.write_all(&json)?;
        self.uncompressed += json.len() as u64;
        self.position += 1;
        Ok(())
    }

    /// Raw bytes of the tar stream that are not file contents.
    pub fn segment(&mut self, raw: &[u8]) -> io::Result<()> {
        self.line(&Line {
            kind: 2,
            name: "",
            size: 0,
            payload: Some(strata_store::base64::encode(raw)),
            position: self.position,
        })
    }

    /// An entry; `crc` is the CRC-64 of its contents (`None` when empty).
    /// Two entries with the same path are refused, as tar-split does.
    pub fn entry(&mut self, name: &str, size: u64, crc: Option<u64>) -> io::Result<()> {
        // tar-split compares cleaned paths.
        if !self.seen.insert(strata_plan::clean_path(name)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{name}: the layer holds this path twice, which zstd:chunked's tar-split data cannot"
                ),
            ));
        }
        self.line(&Line {
            kind: 1,
            name,
            size,
            payload: crc.map(|c| strata_store::base64::encode(&c.to_be_bytes())),
            position: self.position,
        })
    }

    /// The compressed data and the size of the lines.
    pub fn finish(self) -> io::Result<(Vec<u8>, u64)> {
        Ok((self.encoder.finish()?, self.uncompressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_is_gos_iso_checksum() {
        // Go: crc64.Checksum([]byte("hello"), crc64.MakeTable(crc64.ISO))
        assert_eq!(CRC64.checksum(b"hello"), 0x3c3eeee2d8100000);
    }

    #[test]
    fn lines_are_tar_splits_json() {
        let mut ts = TarSplit::new(3).unwrap();
        ts.segment(b"hdr").unwrap();
        ts.entry("a/", 0, None).unwrap();
        ts.entry("a/f", 5, Some(1)).unwrap();
        let err = ts.entry("./a/f", 0, None).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let (data, size) = ts.finish().unwrap();
        let text = zstd::stream::decode_all(&data[..]).unwrap();
        assert_eq!(text.len() as u64, size);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "{\"type\":2,\"payload\":\"aGRy\",\"position\":0}\n\
             {\"type\":1,\"name\":\"a/\",\"payload\":null,\"position\":1}\n\
             {\"type\":1,\"name\":\"a/f\",\"size\":5,\"payload\":\"AAAAAAAAAAE=\",\"position\":2}\n"
        );
    }
}
