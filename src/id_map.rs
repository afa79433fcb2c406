//! Maps on the packet path keyed by our own ids (UUIDs the library makes)
//! and SSRCs we chose: a forwarded packet goes through several lookups (its
//! transport, its consumer, its SRTP stream), and std's SipHash costs tens
//! of nanoseconds each on a 36-byte id. Its resistance to chosen keys buys
//! nothing where the keys are not chosen by a peer; maps keyed by what a
//! peer sends (incoming SSRCs) keep std's hasher.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::prefetch;

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

/// Where an entry of a [`SlotMap`] lives: its slot and the generation that
/// filled it. A key kept after its entry went finds nothing, not the entry
/// that took the slot next. The default key finds nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlotKey {
    index: u32,
    /// Never 0 for a filled slot.
    generation: u32,
}

/// In declaration order: the generation a lookup checks first, then the
/// value, so that the two share a cache line (the id is for iteration).
/// The generation is odd while the slot holds an entry and even while it
/// is free (insert and remove each move it on by one), and keys are only
/// made for filled slots: a key that matches its slot's generation finds
/// the entry without reading the `Option`'s tag. The compiler puts that tag
/// in the largest niche of the value, anywhere in it: 12 KB into a
/// transport's slot, a second cache miss for each lookup on the packet path.
#[repr(C)]
struct Slot<V> {
    generation: u32,
    entry: Option<Entry<V>>,
}

impl<V> Slot<V> {
    fn filled_as(&self, key: SlotKey) -> bool {
        self.generation == key.generation && self.generation & 1 == 1
    }
}

#[repr(C)]
struct Entry<V> {
    value: V,
    id: Arc<str>,
}

/// Entries found by id or, on the packet path, by the [`SlotKey`] resolved
/// once when a route is made: a forwarded copy then goes straight to its
/// transport and consumer (a vector index) instead of hashing two 36-byte
/// ids and chasing the buckets and key strings of two maps, cache misses
/// that a fan-out pays for every copy.
pub struct SlotMap<V> {
    keys: IdMap<Arc<str>, SlotKey>,
    slots: Vec<Slot<V>>,
    free: Vec<u32>,
}

impl<V> Default for SlotMap<V> {
    fn default() -> Self {
        Self {
            keys: IdMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<V> SlotMap<V> {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds, or replaces under a new key: a key kept for the entry it
    /// replaces finds nothing.
    pub fn insert(&mut self, id: Arc<str>, value: V) -> SlotKey {
        self.remove(&id);
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    entry: None,
                });
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 entries")
            }
        };
        let slot = &mut self.slots[index as usize];
        // Free slots are even (a new one is 0): odd from here.
        slot.generation = slot.generation.wrapping_add(1);
        debug_assert!(slot.generation & 1 == 1);
        slot.entry = Some(Entry {
            value,
            id: id.clone(),
        });
        let key = SlotKey {
            index,
            generation: slot.generation,
        };
        self.keys.insert(id, key);
        key
    }

    pub fn remove(&mut self, id: &str) -> Option<V> {
        let key = self.keys.remove(id)?;
        self.free.push(key.index);
        let slot = &mut self.slots[key.index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        slot.entry.take().map(|e| e.value)
    }

    pub fn key(&self, id: &str) -> Option<SlotKey> {
        self.keys.get(id).copied()
    }

    pub fn contains_key(&self, id: &str) -> bool {
        self.keys.contains_key(id)
    }

    pub fn get(&self, id: &str) -> Option<&V> {
        self.at(self.key(id)?).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut V> {
        let key = self.key(id)?;
        self.at_mut(key).map(|(_, v)| v)
    }

    pub fn at(&self, key: SlotKey) -> Option<(&Arc<str>, &V)> {
        let slot = self.slots.get(key.index as usize)?;
        if !slot.filled_as(key) {
            return None;
        }
        debug_assert!(slot.entry.is_some());
        // SAFETY: `filled_as` checked the slot's own generation is odd, and
        // an odd generation is a filled slot (see `Slot`), whatever key
        // (stale, default or from another map) asked.
        let e = unsafe { slot.entry.as_ref().unwrap_unchecked() };
        Some((&e.id, &e.value))
    }

    pub fn at_mut(&mut self, key: SlotKey) -> Option<(&Arc<str>, &mut V)> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if !slot.filled_as(key) {
            return None;
        }
        debug_assert!(slot.entry.is_some());
        // SAFETY: as in `at`.
        let e = unsafe { slot.entry.as_mut().unwrap_unchecked() };
        Some((&e.id, &mut e.value))
    }

    /// Asks for the first cache line of `key`'s slot (its generation, and
    /// the value's start), up to `lines` lines of it: a hint, with no check
    /// that the key is live.
    pub fn prefetch(&self, key: SlotKey, lines: usize) {
        if let Some(slot) = self.slots.get(key.index as usize) {
            prefetch::lines(slot, lines);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &V)> {
        self.slots
            .iter()
            .filter_map(|s| s.entry.as_ref().map(|e| (&e.id, &e.value)))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Arc<str>, &mut V)> {
        self.slots
            .iter_mut()
            .filter_map(|s| s.entry.as_mut().map(|e| (&e.id, &mut e.value)))
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.iter_mut().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_slot_key_finds_its_entry_and_nothing_once_it_is_gone() {
        let mut map: SlotMap<u32> = SlotMap::default();
        let a = map.insert(Arc::from("a"), 1);
        let b = map.insert(Arc::from("b"), 2);
        assert_eq!(map.at(a).map(|(id, v)| (&**id, *v)), Some(("a", 1)));
        assert_eq!(map.get("b"), Some(&2));
        assert_eq!(map.key("b"), Some(b));
        // A replaced entry gets a new key; the old one finds nothing.
        let a2 = map.insert(Arc::from("a"), 3);
        assert_ne!(a2, a);
        assert!(map.at(a).is_none());
        assert_eq!(map.at(a2).map(|(_, v)| *v), Some(3));
        // A removed entry's key finds nothing, not the next one in its slot.
        assert_eq!(map.remove("a"), Some(3));
        assert!(map.at(a2).is_none());
        let c = map.insert(Arc::from("c"), 4);
        assert!(map.at(a2).is_none());
        assert_eq!(map.at_mut(c).map(|(_, v)| *v), Some(4));
        assert!(map.at(SlotKey::default()).is_none());
        assert_eq!(map.remove("b"), Some(2));
        assert!(map.at(b).is_none() && !map.contains_key("b"));
        assert_eq!(map.len(), 1);
        assert_eq!(map.values().copied().collect::<Vec<_>>(), vec![4]);
    }
}
