//! Maps on the packet path keyed by our own ids (UUIDs the library makes)
//! and SSRCs we chose: a forwarded packet goes through several lookups (its
//! transport, its consumer, its SRTP stream), and std's SipHash costs tens
//! of nanoseconds each on a 36-byte id. Its resistance to chosen keys buys
//! nothing where the keys are not chosen by a peer; maps keyed by what a
//! peer sends (incoming SSRCs) keep std's hasher.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FxHash (Firefox's, rustc's): one multiply per 8 bytes.
#[derive(Default, Clone, Copy)]
pub struct IdHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl IdHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A `HashMap` with [`IdHasher`].
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn ids_and_ssrcs_spread_and_look_up() {
        let mut map: IdMap<Arc<str>, usize> = IdMap::default();
        for i in 0..1000 {
            map.insert(Arc::from(format!("{i:08x}-5c1e-4d2a-9f3b-1234567890ab")), i);
        }
        for i in 0..1000 {
            assert_eq!(
                map.get(format!("{i:08x}-5c1e-4d2a-9f3b-1234567890ab").as_str()),
                Some(&i)
            );
        }
        // Ids that differ only in their last byte (the remainder) differ.
        let hash = |s: &str| {
            let mut h = IdHasher::default();
            h.write(s.as_bytes());
            h.finish()
        };
        assert_ne!(hash("abcdefgh1"), hash("abcdefgh2"));
        let mut ssrcs: IdMap<u32, u32> = IdMap::default();
        ssrcs.insert(7, 1);
        assert_eq!(ssrcs.get(&7), Some(&1));
    }
}
