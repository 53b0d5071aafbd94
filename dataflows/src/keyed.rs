//! Timely operators that keep keyed state of their own, for collections over totally ordered times.
//!
//! Each applies a time only once its input frontier has passed it, oldest first, and emits that time's
//! consolidated output changes, so its output is an ordinary collection; its state lives in hash maps
//! rather than in differential's traces. That trades `reduce`'s generality (partially ordered times,
//! shared arrangements) for constant-time access to a key's state, which is what live, small epochs need.

use std::collections::BTreeMap;
use std::hash::Hash;

use differential_dataflow::collection::AsCollection;
use differential_dataflow::hashable::Hashable;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::ExchangeData;

use crate::graph::Coll;
use crate::sharded::ShardedMap;
use crate::types::Epoch;

/// Updates held back until their time is complete, each time with the capabilities to emit at it.
pub struct Pending<D> {
    by_time: BTreeMap<Epoch, (Vec<Capability<Epoch>>, Vec<D>)>,
}

impl<D> Default for Pending<D> {
    fn default() -> Self {
        Pending { by_time: BTreeMap::new() }
    }
}

impl<D> Pending<D> {
    /// Holds `update` until `time` is complete; `capabilities` makes the capabilities to emit at it, once per time.
    pub fn push(&mut self, time: Epoch, capabilities: impl FnOnce() -> Vec<Capability<Epoch>>, update: D) {
        self.by_time.entry(time).or_insert_with(|| (capabilities(), Vec::new())).1.push(update);
    }

    /// The oldest held time, once `open` (the input frontier) no longer includes it.
    pub fn pop_complete(&mut self, open: impl Fn(&Epoch) -> bool) -> Option<(Epoch, Vec<Capability<Epoch>>, Vec<D>)> {
        let entry = self.by_time.first_entry()?;
        if open(entry.key()) {
            return None;
        }
        let time = *entry.key();
        let (capabilities, updates) = entry.remove();
        Some((time, capabilities, updates))
    }
}

/// A key's values (ascending, with multiplicities) and the output last computed from them.
type Folded<V, O> = (Vec<(V, isize)>, Option<O>);

/// For each key, `f` of its current values (a multiset: ascending values with positive multiplicities),
/// kept as a collection of `(key, output)`: when a time changes a key's values, the old output is retracted
/// and the new one inserted. `f` returning `None` means no output for the key.
///
/// The same contract as `reduce` with one output per key; `f` sees the values in the same ascending order,
/// so a float computed from them is bit-for-bit the same whatever the batching.
pub fn fold_by_key<'s, K, V, O, F>(input: Coll<'s, (K, V)>, name: &str, f: F) -> Coll<'s, (K, O)>
where
    K: ExchangeData + Hashable + Hash + Eq + Ord + Copy,
    V: ExchangeData + Ord + Copy,
    O: ExchangeData + Eq + Copy,
    F: Fn(&[(V, isize)]) -> Option<O> + 'static,
{
    type Update<K, V> = ((K, V), Epoch, isize);
    let by_key = Exchange::new(|update: &Update<K, V>| (update.0).0.hashed().into());
    input
        .inner
        .unary_frontier::<CapacityContainerBuilder<Vec<((K, O), Epoch, isize)>>, _, _, _>(by_key, name, move |_, _| {
            let mut state: ShardedMap<K, Folded<V, O>> = ShardedMap::default();
            let mut pending = Pending::default();
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    for ((key, value), time, diff) in data.drain(..) {
                        pending.push(time, || vec![cap.delayed(&time, 0)], (key, value, diff));
                    }
                });
                while let Some((time, capabilities, mut changes)) = pending.pop_complete(|t| frontier.less_equal(t)) {
                    changes.sort_unstable_by_key(|&(key, value, _)| (key, value));
                    let mut session = output.session(&capabilities[0]);
                    let mut at = 0;
                    while at < changes.len() {
                        let key = changes[at].0;
                        let slot = state.entry(key).or_default();
                        while at < changes.len() && changes[at].0 == key {
                            let (_, value, diff) = changes[at];
                            match slot.0.binary_search_by_key(&value, |&(v, _)| v) {
                                Ok(i) => {
                                    slot.0[i].1 += diff;
                                    if slot.0[i].1 == 0 {
                                        slot.0.remove(i);
                                    }
                                }
                                Err(i) => slot.0.insert(i, (value, diff)),
                            }
                            at += 1;
                        }
                        let new = if slot.0.is_empty() { None } else { f(&slot.0) };
                        if new != slot.1 {
                            if let Some(old) = slot.1 {
                                session.give(((key, old), time, -1));
                            }
                            if let Some(new) = new {
                                session.give(((key, new), time, 1));
                            }
                            slot.1 = new;
                        }
                        if slot.0.is_empty() {
                            state.remove(&key);
                        }
                    }
                }
            }
        })
        .as_collection()
}

/// The number of each key (the sum of its diffs), as `count_total` gives it: `(key, count)` for every key
/// whose count is not zero, retracted and re-inserted when the count changes.
pub fn count_by_key<'s, K>(input: Coll<'s, K>, name: &str) -> Coll<'s, (K, isize)>
where
    K: ExchangeData + Hashable + Hash + Eq + Ord + Copy,
{
    tally(input, name, |key, old, new, give| {
        if old != 0 {
            give((key, old), -1);
        }
        if new != 0 {
            give((key, new), 1);
        }
    })
}

/// The keys with a positive count, once each, as `distinct_total` gives them.
pub fn distinct_by_key<'s, K>(input: Coll<'s, K>, name: &str) -> Coll<'s, K>
where
    K: ExchangeData + Hashable + Hash + Eq + Ord + Copy,
{
    tally(input, name, |key, old, new, give| match (old > 0, new > 0) {
        (false, true) => give(key, 1),
        (true, false) => give(key, -1),
        _ => {}
    })
}

/// Sums each key's diffs per time in a hash map and reports every key whose sum changed, with the old and
/// new sums, to `changed`, which gives the output changes.
fn tally<'s, K, O, C>(input: Coll<'s, K>, name: &str, changed: C) -> Coll<'s, O>
where
    K: ExchangeData + Hashable + Hash + Eq + Ord + Copy,
    O: ExchangeData,
    C: Fn(K, isize, isize, &mut dyn FnMut(O, isize)) + 'static,
{
    let by_key = Exchange::new(|update: &(K, Epoch, isize)| update.0.hashed().into());
    input
        .inner
        .unary_frontier::<CapacityContainerBuilder<Vec<(O, Epoch, isize)>>, _, _, _>(by_key, name, move |_, _| {
            let mut counts: ShardedMap<K, isize> = ShardedMap::default();
            let mut pending = Pending::default();
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    for (key, time, diff) in data.drain(..) {
                        pending.push(time, || vec![cap.delayed(&time, 0)], (key, diff));
                    }
                });
                while let Some((time, capabilities, mut changes)) = pending.pop_complete(|t| frontier.less_equal(t)) {
                    changes.sort_unstable_by_key(|&(key, _)| key);
                    let mut session = output.session(&capabilities[0]);
                    let mut give = |record: O, diff: isize| session.give((record, time, diff));
                    for (key, sum) in sum_runs(&changes) {
                        let count = counts.entry(key).or_insert(0);
                        let old = *count;
                        *count += sum;
                        let new = *count;
                        if new == 0 {
                            counts.remove(&key);
                        }
                        changed(key, old, new, &mut give);
                    }
                }
            }
        })
        .as_collection()
}

/// The non-zero sums of the runs of equal keys in `sorted` (changes sorted by key): a time's changes,
/// consolidated.
pub(crate) fn sum_runs<K: PartialEq + Copy>(sorted: &[(K, isize)]) -> impl Iterator<Item = (K, isize)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < sorted.len() {
            let key = sorted[at].0;
            let mut sum = 0;
            while at < sorted.len() && sorted[at].0 == key {
                sum += sorted[at].1;
                at += 1;
            }
            if sum != 0 {
                return Some((key, sum));
            }
        }
        None
    })
}
