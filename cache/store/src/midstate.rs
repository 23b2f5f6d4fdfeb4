//! SHA-256 that can stop after any byte and go on later from a saved
//! state ([`Midstate`]), so the digest of a stream whose beginning did not
//! change since an earlier one resumes where the change starts instead of
//! hashing the beginning again (a layer's diffID and blob digest after a
//! one-file edit).
//!
//! The state is FIPS 180-4's: the eight chaining words after the last
//! whole 64-byte block, the bytes of the block begun, and the length. It
//! does not depend on a library's layout, so a state saved in the store
//! by one version is read by any other. The block function is `sha2`'s
//! (SHA-NI where the CPU has it); only the buffering is here.

use serde::{Deserialize, Serialize};
use sha2::digest::generic_array::GenericArray;
use sha2::digest::typenum::U64;

const BLOCK: usize = 64;

/// FIPS 180-4's initial hash value for SHA-256.
const INITIAL: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// A SHA-256 computation that can be saved and resumed at any byte.
#[derive(Clone)]
pub struct ResumableSha256 {
    state: [u32; 8],
    /// Bytes hashed (including those in `buf`).
    len: u64,
    buf: [u8; BLOCK],
    buffered: usize,
}

impl std::fmt::Debug for ResumableSha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResumableSha256")
            .field("len", &self.len)
            .finish()
    }
}

impl Default for ResumableSha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl ResumableSha256 {
    /// A hash of nothing yet.
    pub fn new() -> Self {
        ResumableSha256 {
            state: INITIAL,
            len: 0,
            buf: [0; BLOCK],
            buffered: 0,
        }
    }

    /// Goes on from a saved state.
    pub fn resume(from: &Midstate) -> Self {
        let mut buf = [0; BLOCK];
        buf[..from.tail.len()].copy_from_slice(&from.tail);
        ResumableSha256 {
            state: from.state,
            len: from.len,
            buf,
            buffered: from.tail.len(),
        }
    }

    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing was hashed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Hashes more bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.buffered > 0 {
            let take = (BLOCK - self.buffered).min(data.len());
            self.buf[self.buffered..self.buffered + take].copy_from_slice(&data[..take]);
            self.buffered += take;
            data = &data[take..];
            if self.buffered < BLOCK {
                return;
            }
            let block = self.buf;
            compress(&mut self.state, &block);
            self.buffered = 0;
        }
        let whole = data.len() - data.len() % BLOCK;
        compress(&mut self.state, &data[..whole]);
        let rest = &data[whole..];
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buffered = rest.len();
    }

    /// The state after the bytes hashed so far, to resume from later.
    pub fn midstate(&self) -> Midstate {
        Midstate {
            len: self.len,
            state: self.state,
            tail: self.buf[..self.buffered].to_vec(),
        }
    }

    /// The digest of the bytes hashed.
    pub fn finalize(mut self) -> [u8; 32] {
        let bits = self.len.wrapping_mul(8);
        let mut last = [0u8; 2 * BLOCK];
        let n = self.buffered;
        last[..n].copy_from_slice(&self.buf[..n]);
        last[n] = 0x80;
        let end = if n + 1 + 8 <= BLOCK { BLOCK } else { 2 * BLOCK };
        last[end - 8..end].copy_from_slice(&bits.to_be_bytes());
        compress(&mut self.state, &last[..end]);
        let mut out = [0u8; 32];
        for (word, bytes) in self.state.iter().zip(out.chunks_exact_mut(4)) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

/// Runs SHA-256's block function over whole 64-byte blocks.
fn compress(state: &mut [u32; 8], blocks: &[u8]) {
    debug_assert_eq!(blocks.len() % BLOCK, 0);
    let count = blocks.len() / BLOCK;
    if count == 0 {
        return;
    }
    // SAFETY: `GenericArray<u8, U64>` is `repr(transparent)` over 64 bytes
    // with alignment 1, so `count` whole blocks of `blocks` are `count`
    // such arrays (sha2 makes the same cast the other way).
    let blocks: &[GenericArray<u8, U64>] =
        unsafe { std::slice::from_raw_parts(blocks.as_ptr().cast(), count) };
    sha2::compress256(state, blocks);
}

/// A saved SHA-256 state: what [`ResumableSha256::resume`] needs to go on
/// after `len` bytes. Written as `len`, the chaining words in hex, and the
/// bytes of the block begun in hex.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "MidstateText", into = "MidstateText")]
pub struct Midstate {
    len: u64,
    state: [u32; 8],
    tail: Vec<u8>,
}

impl std::fmt::Debug for Midstate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Midstate").field("len", &self.len).finish()
    }
}

impl Midstate {
    /// How many bytes the state covers.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for the state of nothing hashed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[derive(Serialize, Deserialize)]
struct MidstateText {
    len: u64,
    h: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    tail: String,
}

impl From<Midstate> for MidstateText {
    fn from(m: Midstate) -> Self {
        let words: Vec<u8> = m.state.iter().flat_map(|w| w.to_be_bytes()).collect();
        MidstateText {
            len: m.len,
            h: hex::encode(words),
            tail: hex::encode(m.tail),
        }
    }
}

impl TryFrom<MidstateText> for Midstate {
    type Error = String;

    fn try_from(t: MidstateText) -> Result<Self, String> {
        let words = hex::decode(&t.h).map_err(|e| format!("bad SHA-256 state: {e}"))?;
        let tail = hex::decode(&t.tail).map_err(|e| format!("bad SHA-256 tail: {e}"))?;
        if words.len() != 32 {
            return Err(format!("a SHA-256 state has 32 bytes, not {}", words.len()));
        }
        if tail.len() as u64 != t.len % BLOCK as u64 {
            return Err(format!(
                "a SHA-256 state after {} bytes has a tail of {}, not {}",
                t.len,
                t.len % BLOCK as u64,
                tail.len()
            ));
        }
        let mut state = [0u32; 8];
        for (word, bytes) in state.iter_mut().zip(words.chunks_exact(4)) {
            *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        Ok(Midstate {
            len: t.len,
            state,
            tail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest as _, Sha256};

    fn sample(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn gives_sha256_for_every_length_and_split() {
        for n in [
            0,
            1,
            55,
            56,
            63,
            64,
            65,
            119,
            120,
            127,
            128,
            1000,
            4096 + 17,
        ] {
            let data = sample(n);
            let want: [u8; 32] = Sha256::digest(&data).into();
            let mut whole = ResumableSha256::new();
            whole.update(&data);
            assert_eq!(whole.len(), n as u64);
            assert_eq!(whole.finalize(), want, "{n} bytes");
            for split in [0, 1, 63, 64, 65, n / 2, n] {
                if split > n {
                    continue;
                }
                let mut h = ResumableSha256::new();
                for piece in data[..split].chunks(7) {
                    h.update(piece);
                }
                h.update(&data[split..]);
                assert_eq!(h.finalize(), want, "{n} bytes split at {split}");
            }
        }
    }

    #[test]
    fn a_saved_state_resumes_to_the_same_digest_after_a_round_trip() {
        let data = sample(10_000);
        let want: [u8; 32] = Sha256::digest(&data).into();
        for at in [0, 1, 64, 100, 512, 9_999, 10_000] {
            let mut h = ResumableSha256::new();
            h.update(&data[..at]);
            let text = serde_json::to_string(&h.midstate()).unwrap();
            let saved: Midstate = serde_json::from_str(&text).unwrap();
            assert_eq!(saved, h.midstate());
            assert_eq!(saved.len(), at as u64);
            let mut resumed = ResumableSha256::resume(&saved);
            resumed.update(&data[at..]);
            assert_eq!(resumed.finalize(), want, "resumed at {at}");
        }
    }

    #[test]
    fn a_state_whose_tail_does_not_fit_its_length_is_refused() {
        let bad = r#"{"len":3,"h":"6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19","tail":"00"}"#;
        assert!(serde_json::from_str::<Midstate>(bad).is_err());
        let short = r#"{"len":0,"h":"6a09"}"#;
        assert!(serde_json::from_str::<Midstate>(short).is_err());
        let empty =
            r#"{"len":0,"h":"6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19"}"#;
        let m: Midstate = serde_json::from_str(empty).unwrap();
        let want: [u8; 32] = Sha256::digest(b"").into();
        assert_eq!(ResumableSha256::resume(&m).finalize(), want);
    }
}
