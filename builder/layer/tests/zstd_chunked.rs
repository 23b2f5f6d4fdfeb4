//! zstd:chunked layers read as containers/storage's `pkg/chunked` reads
//! them: the footer and the annotations locate the TOC and the tar-split
//! data, the TOC's digest is the annotation's, every file's data is in
//! frames of its own where the TOC says, with its digests, and tar-split
//! puts the exact tar together again from the files. (The Go readers
//! themselves run in the end-to-end test, `tests/build_zstd_chunked.rs`.)
#![allow(clippy::unwrap_used)]

mod common;

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;
use strata_layer::{
    Compression, LayerDigests, LayerSource, MemoryChunkCache, NoChunkCache, WriteOptions,
    ZSTD_CHUNKED_CHUNK_SIZE, ZstdChunkedDigests, to_zstd_chunked, write_layer,
};

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A gzip layer of the sample tree plus a file of three chunks; returns
/// it, its digests and its tar.
fn plain_layer() -> (Vec<u8>, LayerDigests, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    common::sample_tree(dir.path(), false);
    let big: Vec<u8> = (0..(2 * ZSTD_CHUNKED_CHUNK_SIZE + 999))
        .map(|i| (i % 251) as u8 ^ (i >> 12) as u8)
        .collect();
    std::fs::write(dir.path().join("app/big.bin"), big).unwrap();
    std::fs::write(dir.path().join("app/empty"), "").unwrap();
    common::pin_mtimes(dir.path(), 1_600_000_000);
    let opts = WriteOptions {
        compression: Compression::Gzip { level: 1 },
        ..Default::default()
    };
    let (blob, digests) = write_layer(dir.path(), LayerSource::Plain, &opts, Vec::new()).unwrap();
    let mut tar = Vec::new();
    flate2::read::MultiGzDecoder::new(&blob[..])
        .read_to_end(&mut tar)
        .unwrap();
    (blob, digests, tar)
}

fn convert(plain: &[u8], digests: &LayerDigests) -> (Vec<u8>, ZstdChunkedDigests) {
    let (blob, z, _) = to_zstd_chunked(
        plain,
        &digests.diff_id,
        3,
        Vec::new(),
        Arc::new(NoChunkCache),
    )
    .unwrap();
    (blob, z)
}

fn le(bytes: &[u8], field: usize) -> u64 {
    u64::from_le_bytes(bytes[8 * field..8 * field + 8].try_into().unwrap())
}

/// The contents of a skippable frame starting `at` (its header included).
fn skippable(blob: &[u8], at: usize) -> &[u8] {
    assert_eq!(&blob[at..at + 4], &[0x50, 0x2a, 0x4d, 0x18]);
    let len = u32::from_le_bytes(blob[at + 4..at + 8].try_into().unwrap()) as usize;
    &blob[at + 8..at + 8 + len]
}

/// The tar's regular files: name → contents.
fn files_of(tar: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in tar::Archive::new(tar).entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type().is_file() {
            let name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            out.insert(name, data);
        }
    }
    out
}

#[test]
fn zstd_chunked_layers_follow_containers_storage() {
    let (plain, digests, tar) = plain_layer();
    let (blob, z) = convert(&plain, &digests);

    // The tar is the layer's, byte for byte: same diffID, and an ordinary
    // zstd reader passes over the metadata frames.
    assert_eq!(z.layer.diff_id, digests.diff_id);
    assert_eq!(z.layer.uncompressed_size, tar.len() as u64);
    assert_eq!(z.layer.digest, sha(&blob));
    assert_eq!(zstd::stream::decode_all(&blob[..]).unwrap(), tar);

    // The footer (the last skippable frame) and the annotations agree.
    let footer = skippable(&blob, blob.len() - 72);
    assert_eq!(&footer[56..], b"GNUlInUx");
    let p = &z.positions;
    assert_eq!(
        (0..7).map(|i| le(footer, i)).collect::<Vec<_>>(),
        [
            p.manifest_offset,
            p.manifest_size,
            p.manifest_uncompressed_size,
            1,
            p.tarsplit_offset,
            p.tarsplit_size,
            p.tarsplit_uncompressed_size
        ]
    );
    let notes = p.annotations();
    assert_eq!(
        notes["io.github.containers.zstd-chunked.manifest-position"],
        format!(
            "{}:{}:{}:1",
            p.manifest_offset, p.manifest_size, p.manifest_uncompressed_size
        )
    );
    assert_eq!(
        notes["io.containers.zstd-chunked.manifest-checksum"],
        p.manifest_checksum
    );

    // The TOC: its digest is over the compressed bytes, as the reader
    // checks it.
    let at = p.manifest_offset as usize;
    let manifest = &blob[at..at + p.manifest_size as usize];
    assert_eq!(skippable(&blob, at - 8), manifest);
    assert_eq!(sha(manifest), p.manifest_checksum);
    let json = zstd::stream::decode_all(manifest).unwrap();
    assert_eq!(json.len() as u64, p.manifest_uncompressed_size);
    let toc: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(toc["version"], 1);

    // Every file's data is in frames of its own, where the TOC says.
    let files = files_of(&tar);
    let entries = toc["entries"].as_array().unwrap();
    let mut seen = 0;
    let mut several = 0;
    let mut i = 0;
    while i < entries.len() {
        let e = &entries[i];
        i += 1;
        assert_ne!(e["type"], "chunk", "a chunk entry follows its file");
        if e["type"] != "reg" || e.get("size").is_none() {
            assert!(e.get("offset").is_none(), "{e}");
            continue;
        }
        let name = e["name"].as_str().unwrap();
        let data = &files[name];
        assert_eq!(e["size"], data.len() as u64);
        assert_eq!(e["digest"], sha(data));
        let mut parts = vec![e];
        while i < entries.len() && entries[i]["type"] == "chunk" {
            assert_eq!(entries[i]["name"], name);
            parts.push(&entries[i]);
            i += 1;
        }
        let mut next = 0u64;
        for (j, part) in parts.iter().enumerate() {
            let start = part["offset"].as_u64().unwrap() as usize;
            let end = match parts.get(j + 1) {
                Some(n) => n["offset"].as_u64().unwrap(),
                None => e["endOffset"].as_u64().unwrap(),
            } as usize;
            let chunk = zstd::stream::decode_all(&blob[start..end]).unwrap();
            let from = part["chunkOffset"].as_u64().unwrap_or(0);
            assert_eq!(from, next);
            assert_eq!(
                chunk,
                data[from as usize..from as usize + chunk.len()],
                "{name}"
            );
            if parts.len() > 1 {
                assert_eq!(part["chunkSize"], chunk.len() as u64);
                assert_eq!(part["chunkDigest"], sha(&chunk));
            } else {
                assert_eq!(part.get("chunkDigest"), None);
            }
            assert!(chunk.len() as u64 <= ZSTD_CHUNKED_CHUNK_SIZE);
            next = from + chunk.len() as u64;
        }
        assert_eq!(next, data.len() as u64);
        seen += 1;
        several += usize::from(parts.len() > 1);
    }
    assert_eq!(seen, files.values().filter(|d| !d.is_empty()).count());
    assert_eq!(several, 1, "app/big.bin is three chunks");

    // tar-split gives the exact tar back from the files.
    let at = p.tarsplit_offset as usize;
    let split = &blob[at..at + p.tarsplit_size as usize];
    assert_eq!(skippable(&blob, at - 8), split);
    assert_eq!(toc["tarSplitDigest"], sha(split));
    let lines = zstd::stream::decode_all(split).unwrap();
    assert_eq!(lines.len() as u64, p.tarsplit_uncompressed_size);
    let crc = crc::Crc::<u64>::new(&crc::CRC_64_GO_ISO);
    let mut back = Vec::new();
    for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let line: Value = serde_json::from_slice(line).unwrap();
        let payload = line["payload"]
            .as_str()
            .map(|p| strata_store::base64::decode(p).unwrap());
        match line["type"].as_u64().unwrap() {
            2 => back.extend(payload.unwrap()),
            1 => {
                let size = line["size"].as_u64().unwrap_or(0);
                if size > 0 {
                    let data = &files[line["name"].as_str().unwrap()];
                    assert_eq!(payload.unwrap(), crc.checksum(data).to_be_bytes());
                    back.extend(data);
                }
            }
            other => panic!("tar-split entry type {other}"),
        }
    }
    assert_eq!(sha(&back), digests.diff_id);
}

#[test]
fn zstd_chunked_is_deterministic_and_reuses_frames() {
    let (plain, digests, _) = plain_layer();
    let (first, a) = convert(&plain, &digests);
    let cache = Arc::new(MemoryChunkCache::default());
    let (second, b, frames) =
        to_zstd_chunked(&plain[..], &digests.diff_id, 3, Vec::new(), cache.clone()).unwrap();
    assert_eq!(first, second);
    assert_eq!(a, b);
    assert_eq!(cache.hits(), 0);
    let (third, _, again) =
        to_zstd_chunked(&plain[..], &digests.diff_id, 3, Vec::new(), cache.clone()).unwrap();
    assert_eq!(first, third);
    assert_eq!(cache.hits() as usize, frames.len());
    assert!(again.iter().all(|c| c.reused));
    // A zstd:chunked layer converts to itself.
    let (fourth, _, _) = to_zstd_chunked(
        &first[..],
        &digests.diff_id,
        3,
        Vec::new(),
        Arc::new(NoChunkCache),
    )
    .unwrap();
    assert_eq!(fourth, first);
}

#[test]
fn zstd_chunked_checks_the_source_diff_id() {
    let (plain, _, _) = plain_layer();
    let err = to_zstd_chunked(
        &plain[..],
        "sha256:00",
        3,
        Vec::new(),
        Arc::new(NoChunkCache),
    )
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
}

#[test]
fn a_path_twice_is_refused_as_tar_split_refuses_it() {
    let mut builder = tar::Builder::new(Vec::new());
    for _ in 0..2 {
        let mut h = tar::Header::new_ustar();
        h.set_path("a/f").unwrap();
        h.set_size(1);
        h.set_cksum();
        builder.append(&h, &b"x"[..]).unwrap();
    }
    let tar = builder.into_inner().unwrap();
    let err =
        to_zstd_chunked(&tar[..], &sha(&tar), 3, Vec::new(), Arc::new(NoChunkCache)).unwrap_err();
    assert!(err.to_string().contains("a/f"), "{err}");
}
