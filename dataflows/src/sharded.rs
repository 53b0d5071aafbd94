//! A hash map split into many small maps, so that growing it never stalls an epoch.
//!
//! A hash map grows by doubling: one insert moves every entry. Keyed state that grows with the data (a
//! user–item fold, distinct users per item, users' windows) holds hundreds of thousands of entries per
//! worker, and moving them took 40–50 ms inside a single live epoch, on one worker while the other waited:
//! the slowest epochs of a sustained HTTP ingest, measured. Split 256 ways, each shard grows on its own,
//! so the same total work comes in pieces 1/256 the size, spread over many epochs.

use std::collections::hash_map::{Entry, HashMap};
use std::hash::{BuildHasher, Hash};

use rustc_hash::FxBuildHasher;

/// Shards per map: enough that a shard's growth costs well under a millisecond at millions of entries.
const SHARDS: usize = 256;

/// A map from dense engine ids (or tuples of them) to values, in [`SHARDS`] independently growing parts.
///
/// Keys are hashed with FxHash, as everywhere else in the graph: they are ids the engine assigned, never
/// strings from requests.
#[derive(Clone)]
pub struct ShardedMap<K, V> {
    shards: Box<[HashMap<K, V, FxBuildHasher>]>,
}

impl<K, V> Default for ShardedMap<K, V> {
    fn default() -> Self {
        ShardedMap { shards: (0..SHARDS).map(|_| HashMap::default()).collect() }
    }
}

impl<K: Hash + Eq, V> ShardedMap<K, V> {
    /// The shard of `key`. The shard is chosen from the top bits of the hash multiplied by an odd constant
    /// rather than from the hash's own top bits, which the shard's table uses to tag its entries: all the
    /// keys of a shard would otherwise share a tag and every lookup would compare against every probed entry.
    fn shard(&self, key: &K) -> usize {
        let hash = FxBuildHasher.hash_one(key);
        (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SHARDS.trailing_zeros())) as usize
    }

    /// The entry of `key`, for in-place insertion or update.
    pub fn entry(&mut self, key: K) -> Entry<'_, K, V> {
        let shard = self.shard(&key);
        self.shards[shard].entry(key)
    }

    /// The value of `key`, if any.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.shards[self.shard(key)].get(key)
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let shard = self.shard(key);
        self.shards[shard].remove(key)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(HashMap::is_empty)
    }

    /// Removes and yields every entry.
    pub fn drain(&mut self) -> impl Iterator<Item = (K, V)> + '_ {
        self.shards.iter_mut().flat_map(HashMap::drain)
    }
}

impl<K: std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for ShardedMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.shards.iter().flat_map(|s| s.iter())).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The sharded map behaves as one map under any sequence of inserts, updates and removals.
        #[test]
        fn behaves_as_one_map(ops in proptest::collection::vec((0u32..2_000, -3i64..4), 0..3_000)) {
            let mut sharded: ShardedMap<u32, i64> = ShardedMap::default();
            let mut plain: std::collections::HashMap<u32, i64> = std::collections::HashMap::new();
            for (key, diff) in ops {
                if diff == 0 {
                    prop_assert_eq!(sharded.remove(&key), plain.remove(&key));
                } else {
                    *sharded.entry(key).or_default() += diff;
                    *plain.entry(key).or_default() += diff;
                }
                prop_assert_eq!(sharded.get(&key), plain.get(&key));
            }
            prop_assert_eq!(sharded.len(), plain.len());
            prop_assert_eq!(sharded.is_empty(), plain.is_empty());
            let mut drained: Vec<_> = sharded.drain().collect();
            drained.sort_unstable();
            let mut expected: Vec<_> = plain.into_iter().collect();
            expected.sort_unstable();
            prop_assert_eq!(drained, expected);
            prop_assert!(sharded.is_empty());
        }
    }

    #[test]
    fn spreads_dense_ids_over_every_shard() {
        let map: ShardedMap<u32, ()> = ShardedMap::default();
        let mut used = vec![0usize; SHARDS];
        for id in 0..(SHARDS as u32 * 64) {
            used[map.shard(&id)] += 1;
        }
        // Dense ids must not crowd into a few shards (each would then grow as one big map).
        assert!(used.iter().all(|&n| (16..=192).contains(&n)), "{used:?}");
    }
}
