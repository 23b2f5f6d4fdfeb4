//! eStargz layers checked against stargz-snapshotter's `docs/estargz.md`
//! by a reader written from the spec: the footer names the table of
//! contents' member, the TOC digest is the annotation's, and every file's
//! data is where the TOC says, in members of its own, with its digests.
#![allow(clippy::unwrap_used)]

use flate2::read::{GzDecoder, MultiGzDecoder};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;
use strata_layer::{
    Compression, ESTARGZ_CHUNK_SIZE, Entry, EntryKind, EstargzDigests, LayerDigests, LayerWriter,
    MemoryChunkCache, NoChunkCache, WriteOptions, to_estargz,
};

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn entry(path: &str, kind: EntryKind, mode: u32) -> Entry {
    Entry {
        path: path.into(),
        kind,
        mode,
        uid: 1000,
        gid: 1000,
        mtime: 1_700_000_000,
        xattrs: BTreeMap::new(),
    }
}

/// A plain gzip layer with every entry type, an empty file, a file of
/// exactly one chunk and one of several chunks; returns it with its
/// digests and the files' contents.
fn plain_layer() -> (Vec<u8>, LayerDigests, BTreeMap<String, Vec<u8>>) {
    let big: Vec<u8> = (0..(ESTARGZ_CHUNK_SIZE + 12_345))
        .map(|i| (i % 251) as u8 ^ (i >> 11) as u8)
        .collect();
    let files = BTreeMap::from([
        ("app/big.bin".to_string(), big),
        ("app/empty".to_string(), Vec::new()),
        (
            "app/exact".to_string(),
            vec![7u8; ESTARGZ_CHUNK_SIZE as usize],
        ),
        ("app/hello.txt".to_string(), b"hello\n".to_vec()),
    ]);
    let opts = WriteOptions {
        compression: Compression::Gzip { level: 1 },
        ..Default::default()
    };
    let mut w = LayerWriter::new(Vec::new(), &opts).unwrap();
    let mut dir = entry("app", EntryKind::Directory, 0o755);
    dir.xattrs
        .insert("user.note".into(), b"\x00bin\xffary".to_vec());
    w.append(&dir, &mut std::io::empty()).unwrap();
    for (path, content) in &files {
        let size = content.len() as u64;
        w.append(
            &entry(path, EntryKind::File { size }, 0o644),
            &mut &content[..],
        )
        .unwrap();
    }
    let link = |target: &str| EntryKind::Symlink {
        target: target.into(),
    };
    w.append(
        &entry("app/link", link("hello.txt"), 0o777),
        &mut std::io::empty(),
    )
    .unwrap();
    let hard = EntryKind::HardLink {
        target: "app/hello.txt".into(),
    };
    w.append(&entry("app/hard", hard, 0o644), &mut std::io::empty())
        .unwrap();
    w.append(
        &entry("app/fifo", EntryKind::Fifo, 0o600),
        &mut std::io::empty(),
    )
    .unwrap();
    w.append(
        &entry("gone", EntryKind::Whiteout, 0),
        &mut std::io::empty(),
    )
    .unwrap();
    let (blob, digests) = w.finish().unwrap();
    (blob, digests, files)
}

/// The offset of the TOC's member, read from the 51-byte footer.
fn footer_offset(blob: &[u8]) -> u64 {
    let footer = &blob[blob.len() - 51..];
    let mut dec = GzDecoder::new(footer);
    let mut out = Vec::new();
    dec.read_to_end(&mut out).unwrap();
    assert!(out.is_empty(), "the footer holds no data");
    assert_eq!(footer[3] & 4, 4, "FEXTRA is set");
    let extra = dec.header().unwrap().extra().unwrap().to_vec();
    assert_eq!(&extra[..2], b"SG");
    assert_eq!(u16::from_le_bytes([extra[2], extra[3]]), 22);
    let text = std::str::from_utf8(&extra[4..]).unwrap();
    let hex = text.strip_suffix("STARGZ").unwrap();
    assert_eq!(hex.len(), 16);
    u64::from_str_radix(hex, 16).unwrap()
}

/// The TOC JSON: one gzip member at `offset` holding the tar entry
/// `stargz.index.json`.
fn toc_json(blob: &[u8], offset: u64) -> Vec<u8> {
    let mut member = Vec::new();
    GzDecoder::new(&blob[offset as usize..])
        .read_to_end(&mut member)
        .unwrap();
    let mut archive = tar::Archive::new(&member[..]);
    let mut entries = archive.entries().unwrap();
    let mut toc = entries.next().unwrap().unwrap();
    assert_eq!(&*toc.path_bytes(), b"stargz.index.json");
    let mut json = Vec::new();
    toc.read_to_end(&mut json).unwrap();
    json
}

/// `size` uncompressed bytes of the member starting at `offset`.
fn read_member(blob: &[u8], offset: u64, size: u64) -> Vec<u8> {
    assert_eq!(&blob[offset as usize..offset as usize + 2], &[0x1f, 0x8b]);
    let mut out = Vec::new();
    GzDecoder::new(&blob[offset as usize..])
        .take(size)
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out.len() as u64, size, "the member at {offset} is short");
    out
}

fn convert(plain: &[u8], digests: &LayerDigests) -> (Vec<u8>, EstargzDigests) {
    let (blob, esgz, _) = to_estargz(
        plain,
        &digests.diff_id,
        1,
        Vec::new(),
        Arc::new(NoChunkCache),
    )
    .unwrap();
    (blob, esgz)
}

#[test]
fn estargz_layers_follow_the_spec() {
    let (plain, digests, files) = plain_layer();
    let (blob, esgz) = convert(&plain, &digests);
    assert_eq!(sha(&blob), esgz.layer.digest);
    assert_eq!(blob.len() as u64, esgz.layer.size);

    // One gzip stream for ordinary readers: the diffID and the size are
    // those of what it decompresses to.
    let mut tar_bytes = Vec::new();
    MultiGzDecoder::new(&blob[..])
        .read_to_end(&mut tar_bytes)
        .unwrap();
    assert_eq!(sha(&tar_bytes), esgz.layer.diff_id);
    assert_eq!(tar_bytes.len() as u64, esgz.layer.uncompressed_size);
    assert_ne!(esgz.layer.diff_id, digests.diff_id, "the TOC is in the tar");

    // The same entries as the plain layer, after the landmark, then the TOC.
    let names = |bytes: &[u8]| -> Vec<(String, u8, u32, u64)> {
        let mut archive = tar::Archive::new(bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
                (
                    name,
                    h.entry_type().as_byte(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect()
    };
    let mut plain_tar = Vec::new();
    MultiGzDecoder::new(&plain[..])
        .read_to_end(&mut plain_tar)
        .unwrap();
    let mut got = names(&tar_bytes);
    assert_eq!(got.remove(0).0, ".no.prefetch.landmark");
    assert_eq!(got.pop().unwrap().0, "stargz.index.json");
    assert_eq!(got, names(&plain_tar));

    // Footer -> TOC member -> JSON whose digest is the annotation's.
    let toc_offset = footer_offset(&blob);
    let json = toc_json(&blob, toc_offset);
    assert_eq!(sha(&json), esgz.toc_digest);
    let toc: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(toc["version"], 1);
    let entries = toc["entries"].as_array().unwrap();

    // Every regular file: its chunks, each at the start of a member, give
    // the chunk digests, and together the file and its digest.
    let mut contents: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut offsets = Vec::new();
    let mut current: Option<(String, u64)> = None;
    for e in entries {
        let name = e["name"].as_str().unwrap().to_string();
        let kind = e["type"].as_str().unwrap();
        match kind {
            "reg" => {
                let size = e["size"].as_u64().unwrap_or(0);
                contents.insert(name.clone(), Vec::new());
                current = Some((name.clone(), size));
                if size == 0 {
                    assert_eq!(e["digest"], sha(b""));
                    assert!(e.get("offset").is_none());
                    continue;
                }
            }
            "chunk" => {
                assert_eq!(
                    current.as_ref().unwrap().0,
                    name,
                    "a chunk follows its file"
                );
            }
            _ => {
                assert!(e.get("offset").is_none(), "{name} has no data");
                continue;
            }
        }
        let (_, size) = current.clone().unwrap();
        let chunk_offset = e["chunkOffset"].as_u64().unwrap_or(0);
        let chunk_size = match e["chunkSize"].as_u64().unwrap_or(0) {
            0 => size - chunk_offset,
            n => n,
        };
        let offset = e["offset"].as_u64().unwrap();
        offsets.push(offset);
        let data = read_member(&blob, offset, chunk_size);
        assert_eq!(e["chunkDigest"].as_str().unwrap(), sha(&data), "{name}");
        let file = contents.get_mut(&name).unwrap();
        assert_eq!(file.len() as u64, chunk_offset);
        file.extend_from_slice(&data);
    }
    for e in entries.iter().filter(|e| e["type"] == "reg") {
        let name = e["name"].as_str().unwrap();
        assert_eq!(
            e["digest"].as_str().unwrap(),
            sha(&contents[name]),
            "{name}"
        );
    }
    // Offsets rise, each member ends where the next begins, the last
    // before the TOC.
    assert!(offsets.windows(2).all(|w| w[0] < w[1]));
    assert!(offsets.iter().all(|o| *o < toc_offset));
    let chunks = entries.iter().filter(|e| e["type"] == "chunk").count();
    assert_eq!(
        chunks, 1,
        "the big file takes two chunks, the exact one one"
    );
    assert_eq!(contents[".no.prefetch.landmark"], [0x0f]);
    for (path, content) in &files {
        assert_eq!(&contents[path], content, "{path}");
    }

    // Metadata as the spec names it.
    let by_name = |n: &str| entries.iter().find(|e| e["name"] == n).unwrap();
    let dir = by_name("app/");
    assert_eq!(dir["type"], "dir");
    assert_eq!(dir["mode"], 0o755);
    assert_eq!(dir["uid"], 1000);
    assert_eq!(dir["modtime"], "2023-11-14T22:13:20Z");
    assert_eq!(dir["xattrs"]["user.note"], "AGJpbv9hcnk=");
    assert_eq!(by_name("app/link")["linkName"], "hello.txt");
    assert_eq!(by_name("app/hard")["type"], "hardlink");
    assert_eq!(by_name("app/hard")["linkName"], "app/hello.txt");
    assert_eq!(by_name("app/fifo")["type"], "fifo");
    assert_eq!(by_name("app/exact").get("chunkSize"), None, "a last chunk");
    assert_eq!(by_name(".wh.gone")["type"], "reg");
}

#[test]
fn estargz_is_deterministic_and_reuses_members() {
    let (plain, digests, _) = plain_layer();
    let (first, a) = convert(&plain, &digests);
    let cache = Arc::new(MemoryChunkCache::default());
    let (second, b, chunks) =
        to_estargz(&plain[..], &digests.diff_id, 1, Vec::new(), cache.clone()).unwrap();
    assert_eq!(first, second);
    assert_eq!(a, b);
    assert_eq!(cache.hits(), 0);
    let (third, _, again) =
        to_estargz(&plain[..], &digests.diff_id, 1, Vec::new(), cache.clone()).unwrap();
    assert_eq!(first, third);
    assert_eq!(cache.hits() as usize, chunks.len());
    assert!(again.iter().all(|c| c.reused));
    // A converted layer converts to itself: TOC and landmark are not kept
    // twice.
    let (fourth, c, _) = to_estargz(
        &first[..],
        &a.layer.diff_id,
        1,
        Vec::new(),
        Arc::new(NoChunkCache),
    )
    .unwrap();
    assert_eq!(c.layer.diff_id, a.layer.diff_id);
    assert_eq!(fourth, first);
}

#[test]
fn estargz_checks_the_source_diff_id() {
    let (plain, _, _) = plain_layer();
    let err = to_estargz(
        &plain[..],
        "sha256:00",
        1,
        Vec::new(),
        Arc::new(NoChunkCache),
    )
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
}
