//! Stable cache keys.
//!
//! A key is SHA-256 over a self-delimiting encoding: a version prefix, a
//! domain (which kind of key), then named fields, each written as
//! `len(name) name len(value) value` with 64-bit little-endian lengths, so no
//! two different field sequences can encode to the same bytes. Nothing here
//! uses `std::hash::Hash`, whose output is not stable across releases.

use sha2::{Digest as _, Sha256};
use std::fmt;
use std::str::FromStr;

/// The version of the key encoding. Bump it when the meaning of any field
/// changes, so old records can never be mistaken for new ones.
pub const KEY_VERSION: u32 = 1;

/// A cache key or result identity: 32 bytes shown as lower-case hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(pub [u8; 32]);

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", &hex::encode(self.0)[..12])
    }
}

/// A string that is not 64 hex digits.
#[derive(Debug, thiserror::Error)]
#[error("invalid cache key {0:?}: expected 64 hex digits")]
pub struct ParseKeyError(String);

impl FromStr for Key {
    type Err = ParseKeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        if s.len() != 64 || hex::decode_to_slice(s, &mut out).is_err() {
            return Err(ParseKeyError(s.to_string()));
        }
        Ok(Key(out))
    }
}

impl serde::Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Builds a [`Key`] from named fields.
#[derive(Clone)]
pub struct KeyHasher {
    sha: Sha256,
}

impl KeyHasher {
    /// Starts a key of the given domain (`"run"`, `"copy"`, `"state"`, …).
    pub fn new(domain: &str) -> Self {
        let mut h = KeyHasher { sha: Sha256::new() };
        h.sha.update(b"strata-key\0");
        h.sha.update(KEY_VERSION.to_le_bytes());
        h.field("domain", domain.as_bytes());
        h
    }

    /// Adds a named field.
    pub fn field(&mut self, name: &str, value: &[u8]) -> &mut Self {
        self.sha.update((name.len() as u64).to_le_bytes());
        self.sha.update(name.as_bytes());
        self.sha.update((value.len() as u64).to_le_bytes());
        self.sha.update(value);
        self
    }

    /// Adds a named string field.
    pub fn str(&mut self, name: &str, value: &str) -> &mut Self {
        self.field(name, value.as_bytes())
    }

    /// Adds another key as a field (a parent identity, an input digest).
    pub fn key(&mut self, name: &str, value: &Key) -> &mut Self {
        self.field(name, &value.0)
    }

    /// Adds a list of strings, with its length, as one field.
    pub fn strs<S: AsRef<str>>(&mut self, name: &str, values: &[S]) -> &mut Self {
        self.field(name, &(values.len() as u64).to_le_bytes());
        for v in values {
            self.field("item", v.as_ref().as_bytes());
        }
        self
    }

    /// The key.
    pub fn finish(&self) -> Key {
        Key(self.sha.clone().finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_self_delimiting() {
        let mut a = KeyHasher::new("t");
        a.str("x", "ab").str("y", "c");
        let mut b = KeyHasher::new("t");
        b.str("x", "a").str("y", "bc");
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn domain_separates_keys() {
        assert_ne!(
            KeyHasher::new("run").finish(),
            KeyHasher::new("copy").finish()
        );
    }

    #[test]
    fn key_round_trips_through_text() {
        let k = KeyHasher::new("t").finish();
        let parsed: Key = k.to_string().parse().unwrap();
        assert_eq!(parsed, k);
        assert!("zz".parse::<Key>().is_err());
    }

    #[test]
    fn stable_across_releases() {
        // Pin one key: a change here means every stored record is orphaned,
        // which needs a KEY_VERSION bump.
        let mut h = KeyHasher::new("run");
        h.strs("argv", &["/bin/sh", "-c", "true"]);
        assert_eq!(
            h.finish().to_string(),
            KEY_PIN,
            "the key encoding changed: bump KEY_VERSION"
        );
    }

    const KEY_PIN: &str = "ba7c4f698073f72983dfba3923fb063d199959c40bf25153b60492b5fcdd2060";
}
