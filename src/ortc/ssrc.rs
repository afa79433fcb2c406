//! Random SSRCs for the router's side of streams.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// A random SSRC in mediasoup's range, 100000000..=999999999, which leaves
/// room to add small offsets (RTX, simulcast streams) without overflow.
pub fn generate_random_ssrc() -> u32 {
    // RandomState is randomly keyed per process and per instance; that is
    // enough entropy for SSRCs and needs no extra crate.
    let random = RandomState::new().build_hasher().finish();
    100_000_000 + (random % 900_000_000) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_in_range_and_varies() {
        let values: Vec<u32> = (0..100).map(|_| generate_random_ssrc()).collect();
        assert!(
            values
                .iter()
                .all(|v| (100_000_000..=999_999_999).contains(v))
        );
        assert!(values.windows(2).any(|w| w[0] != w[1]));
    }
}
