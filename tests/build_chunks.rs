//! Chunked layers end to end: the same files give byte-identical blobs in
//! two fresh stores (gzip and zstd), and a rebuild after a one-file change
//! copies the other chunks from the previous layer blob.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, Image};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A context of about 9 MB: 300 text-like files and one of 3 MiB, all
/// derived from their index, copied by one `COPY`.
pub fn big_context(dir: &Path) -> PathBuf {
    let words = [
        "fn", "let", "mut", "impl", "match", "self", "crate", "Vec", "map", "iter",
    ];
    for i in 0..301u64 {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ i.wrapping_mul(0x2545_f491);
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let size = if i == 150 {
            3 << 20
        } else {
            4000 + (next() % 40_000) as usize
        };
        let mut text = String::with_capacity(size + 8);
        while text.len() < size {
            text.push_str(words[(next() % words.len() as u64) as usize]);
            text.push(if next() % 9 == 0 { '\n' } else { ' ' });
        }
        common::write(&dir.join(format!("src/d{}/f{i:03}.rs", i / 50)), &text);
    }
    common::write(&dir.join("Dockerfile"), "FROM scratch\nCOPY . /app/\n");
    dir.to_path_buf()
}

/// The chunk map the store keeps for a layer blob, as (key: uncompressed
/// BLAKE3, compressed SHA-256) pairs in order.
fn chunk_map(root: &Path, compression: &str, layer: &Path) -> Vec<(String, String)> {
    let format = match compression {
        "gzip" => "gzip-6-v2",
        _ => "zstd-3-v2",
    };
    let hex = layer.file_name().unwrap().to_str().unwrap();
    let path = root.join(format!("chunks-v1/{format}/{hex}.json"));
    let map: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    map["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap().to_string();
            (s("key"), s("compressed_sha256"))
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The image's only layer: its blob path, checked against its diffID.
fn only_layer(image: &Image) -> PathBuf {
    assert_eq!(image.layer_paths.len(), 1);
    let tar = common::decompress(&image.layer_paths[0]);
    assert_eq!(sha256(&tar), image.config["rootfs"]["diff_ids"][0]);
    image.layer_paths[0].clone()
}

#[test]
fn two_fresh_stores_give_byte_identical_chunked_layers() {
    let ctx_env = Env::new();
    let ctx = big_context(&ctx_env.path("ctx"));
    for compression in ["gzip", "zstd"] {
        let blobs: Vec<Vec<u8>> = (0..2)
            .map(|_| {
                let env = Env::new();
                env.build(&ctx, &["-t", "app", "--compression", compression])
                    .ok();
                let layer = only_layer(&env.image("app"));
                let map = chunk_map(&env.root, compression, &layer);
                assert!(map.len() >= 2, "{compression}: {} chunks", map.len());
                let bytes = std::fs::read(&layer).unwrap();
                env.assert_store_clean();
                bytes
            })
            .collect();
        assert!(blobs[0] == blobs[1], "{compression}: layer blobs differ");
    }
}

#[test]
fn a_one_file_change_reuses_the_other_chunks_of_the_layer() {
    for compression in ["gzip", "zstd"] {
        let env = Env::new();
        let ctx = big_context(&env.path("ctx"));
        let args = ["-t", "app", "--compression", compression];
        env.build(&ctx, &args).ok();
        let before = chunk_map(&env.root, compression, &only_layer(&env.image("app")));
        let edited = ctx.join("src/d2/f120.rs");
        let mut text = std::fs::read_to_string(&edited).unwrap();
        text.push_str("one more line that changes the size\n");
        common::write(&edited, &text);
        env.build(&ctx, &args).ok();
        let layer = only_layer(&env.image("app"));
        let after = chunk_map(&env.root, compression, &layer);
        let old: BTreeSet<_> = before.iter().collect();
        let new = after.iter().filter(|c| !old.contains(c)).count();
        assert!(
            (1..=2).contains(&new),
            "{compression}: {new} of {} chunks are new",
            after.len()
        );

        // Chunks copied from the old blob give the bytes a fresh store makes.
        let fresh = Env::new();
        fresh.build(&ctx, &args).ok();
        let fresh_layer = only_layer(&fresh.image("app"));
        assert_eq!(fresh_layer.file_name(), layer.file_name(), "{compression}");
        env.assert_store_clean();
    }
}
