//! Co-occurrence and top-K neighbour candidates as two small state machines, which the graph runs as
//! timely operators ([`crate::graph::cooccurrence`]).
//!
//! - [`UserWindows`] (sharded by user) keeps each user's co-occurrence window as a small multiset and turns
//!   each window change into the pair changes it causes: an item entering (or leaving) a window pairs with
//!   every other item in it, in both directions.
//! - [`PartnerLists`] (sharded by the first item of a pair) sums the pair changes into co-counts and keeps,
//!   per item, the best entries by co-count in a short sorted vector with a reserve below the `k` listed.
//!
//! Why not `join` + `count_total` + an ordered set per item, as the graph first did: live epochs are small
//! (a few thousand events), so hot pairs change in every epoch, and every change of a co-count went through
//! a sorted batch, a trace merge, four updates (retract and insert, both directions) and two searches of a
//! B-tree of thousands of partners (cache misses at every level). Here a change is a hash-map update in the
//! item's own counts, and only changes at the top of an item's ranking touch its sorted vector, which is
//! short enough to stay in cache. The outputs are the same collections, checked against the reference model.

use std::cmp::Reverse;
use std::collections::HashMap;

use rustc_hash::FxBuildHasher;

use crate::cocounts::{AddScratch, Counts, MERGE_RATIO};
use crate::sharded::ShardedMap;
use crate::types::{ItemId, Neighbour, NeighbourList, UserId};

/// A pair change: `((a, b), diff)`, the number of users whose windows hold both `a` and `b` changes by `diff`.
pub type PairDelta = ((ItemId, ItemId), isize);

/// Each user's co-occurrence window as a multiset of items (a window holds distinct items, so every
/// multiplicity is 1, but the arithmetic below is exact for any multiplicities).
#[derive(Default)]
pub struct UserWindows {
    windows: ShardedMap<UserId, Vec<(ItemId, isize)>>,
}

impl UserWindows {
    /// An empty set of windows.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one time's window changes `((user, item), diff)` and reports the pair changes to `emit`.
    ///
    /// The changes are consolidated first (an item that left and re-entered a window within the time is no
    /// change), then applied one at a time: the pairs of `x` change by `diff · m(y)` for every other item
    /// `y` with its current multiplicity `m(y)`, which sums to exactly `pairs(after) − pairs(before)`
    /// whatever the order.
    pub fn apply(&mut self, mut changes: Vec<((UserId, ItemId), isize)>, mut emit: impl FnMut(PairDelta)) {
        changes.sort_unstable_by_key(|&(key, _)| key);
        for ((user, item), diff) in crate::keyed::sum_runs(&changes) {
            let window = self.windows.entry(user).or_default();
            change(window, item, diff, &mut emit);
            if window.is_empty() {
                self.windows.remove(&user);
            }
        }
    }
}

fn change(window: &mut Vec<(ItemId, isize)>, item: ItemId, diff: isize, emit: &mut impl FnMut(PairDelta)) {
    for &(other, multiplicity) in window.iter() {
        if other != item {
            emit(((item, other), diff * multiplicity));
            emit(((other, item), diff * multiplicity));
        }
    }
    match window.iter().position(|&(other, _)| other == item) {
        Some(at) => {
            window[at].1 += diff;
            if window[at].1 == 0 {
                window.swap_remove(at);
            }
        }
        None => window.push((item, diff)),
    }
}

/// Marks an item's listed top as about to change; the first time, keeps its first `keep` entries (if
/// changes are reported) in `before`.
fn touch(touched: &mut bool, partners: &Partners, keep: Option<usize>, before: &mut Vec<Entry>) {
    if let (false, Some(k)) = (*touched, keep) {
        before.clear();
        before.extend_from_slice(partners.listed(k));
    }
    *touched = true;
}

/// A partner in ranking order: higher co-count first, then lower item id.
type Entry = (Reverse<u32>, ItemId);

fn neighbour((Reverse(cocount), item): Entry) -> Neighbour {
    Neighbour { item, cocount }
}

/// One worker's share of the co-counts and neighbour lists: for each owned item, every partner's co-count
/// and its best partners in order.
///
/// Invariants per item, after every change: `top` is sorted best first and holds only eligible partners
/// (co-count at least `min_cocount`) with their current counts; every eligible partner outside `top` ranks
/// after `top`'s last entry. After each time, `top` holds at least `min(k, eligible)` entries, so its first
/// `k` are exactly the item's top-`k`. Up to `reserve` more are kept below them, so that a listed partner
/// falling out is usually replaced from `top` itself; only when the reserve runs dry is the item's whole
/// count map scanned (a refill), which the reserve makes rare.
pub struct PartnerLists {
    k: usize,
    min_cocount: u32,
    /// Entries kept in `top` at most (`k` plus the reserve).
    capacity: usize,
    slots: HashMap<ItemId, u32, FxBuildHasher>,
    items: Vec<Partners>,
    /// The item of each slot.
    ids: Vec<ItemId>,
    /// See [`MERGE_RATIO`].
    merge_ratio: usize,
    /// See [`REBUILD_RATIO`].
    rebuild_ratio: usize,
    /// The entries a rebuild or refill ranks (reused).
    ranked: Vec<Entry>,
    /// What adding to an item's counts works in, and the moves it reports.
    scratch: AddScratch,
    /// A time's changes `(partner, diff)` grouped by slot, and where each slot's group starts (reused).
    grouped: Vec<(ItemId, isize)>,
    starts: Vec<u32>,
    /// Whether [`PartnerLists::apply`] reports the changes of the lists, and whether it reports changed
    /// lists whole.
    publish_changes: bool,
    publish_lists: bool,
}

#[derive(Default)]
struct Partners {
    /// Every partner's co-count.
    counts: Counts,
    /// Partners with a co-count of at least `min_cocount`.
    eligible: usize,
    top: Vec<Entry>,
}

impl PartnerLists {
    /// Lists of the `k` best partners per item, among those co-occurring at least `min_cocount` times.
    pub fn new(k: usize, min_cocount: isize) -> Self {
        Self::with_reserve(k, min_cocount, k / 4 + 8)
    }

    /// The same with `reserve` entries kept below the `k` listed (tests use tiny reserves to force refills).
    pub fn with_reserve(k: usize, min_cocount: isize, reserve: usize) -> Self {
        PartnerLists {
            k,
            min_cocount: u32::try_from(min_cocount.max(1)).unwrap_or(u32::MAX),
            capacity: k + reserve,
            slots: HashMap::default(),
            items: Vec::new(),
            ids: Vec::new(),
            merge_ratio: MERGE_RATIO,
            rebuild_ratio: REBUILD_RATIO,
            ranked: Vec::new(),
            scratch: AddScratch::default(),
            grouped: Vec::new(),
            starts: Vec::new(),
            publish_changes: true,
            publish_lists: false,
        }
    }

    /// The same reporting the changes of the lists (`changes`, the default) and/or each changed list whole
    /// (`lists`).
    pub fn publishing(mut self, changes: bool, lists: bool) -> Self {
        self.publish_changes = changes;
        self.publish_lists = lists;
        self
    }

    /// Applies one time's pair changes. Reports each co-count change of a pair with at least `min_cocount`
    /// to `counted` (the old count retracted, the new one inserted), and, as [`PartnerLists::publishing`]
    /// chose, each change of a top-`k` list to `listed` and each changed top-`k` list whole to `relisted`
    /// (empty when the item has no partners left), all consolidated.
    pub fn apply(
        &mut self,
        changes: Vec<PairDelta>,
        mut counted: impl FnMut(((ItemId, ItemId), isize), isize),
        mut listed: impl FnMut((ItemId, Neighbour), isize),
        mut relisted: impl FnMut(ItemId, NeighbourList),
    ) {
        // Group the changes by item with a counting sort on the items' dense slots; each item's group is then
        // applied by `Counts::add` (sorted there only for sparse counts): small, cache-resident work instead
        // of one sort of the whole time's changes (the biggest cost left here once counting itself was cheap).
        let mut grouped = std::mem::take(&mut self.grouped);
        let mut starts = std::mem::take(&mut self.starts);
        grouped.clear();
        starts.clear();
        let slots: Vec<u32> = changes.iter().map(|&((a, _), _)| self.slot(a) as u32).collect();
        starts.resize(self.items.len() + 1, 0);
        for &slot in &slots {
            starts[slot as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        grouped.resize(changes.len(), (0, 0));
        {
            let mut next = starts.clone();
            for (&((_, b), diff), &slot) in changes.iter().zip(&slots) {
                grouped[next[slot as usize] as usize] = (b, diff);
                next[slot as usize] += 1;
            }
        }
        drop(changes);
        let mut before: Vec<Entry> = Vec::new();
        let nonempty: Vec<usize> = (0..self.items.len()).filter(|&s| starts[s] < starts[s + 1]).collect();
        for (at, &slot) in nonempty.iter().enumerate() {
            // The next item's counts and ranking are fetched while this one is applied: nearly every access to
            // them is otherwise a cache miss (see [`crate::cocounts::prefetch`]).
            if let Some(&next) = nonempty.get(at + 1) {
                let partners = &self.items[next];
                partners.counts.prefetch(grouped[starts[next] as usize..starts[next + 1] as usize].iter().map(|c| c.0));
                crate::cocounts::prefetch_slice(&partners.top);
            }
            let group = &mut grouped[starts[slot] as usize..starts[slot + 1] as usize];
            let a = self.ids[slot];
            let partners = &mut self.items[slot];
            // First every count of the item, then the ranking, from the old and new counts.
            partners.counts.add(group, &mut self.scratch, self.merge_ratio);
            let moves = &self.scratch.moves;
            // Whether the listed top-`k` changed; its entries before the first change, if changes are reported.
            let mut touched = false;
            let keep = self.publish_changes.then_some(self.k);
            // Many moves against few partners: ranking again from the counts is cheaper than moving entries
            // one at a time (see [`REBUILD_RATIO`]).
            let rebuild = moves.len() * self.rebuild_ratio >= partners.counts.partners();
            for &(b, old, new) in moves {
                if old >= self.min_cocount {
                    counted(((a, b), old as isize), -1);
                }
                if new >= self.min_cocount {
                    counted(((a, b), new as isize), 1);
                }
                if rebuild {
                    continue;
                }
                let old = (old >= self.min_cocount).then_some((Reverse(old), b));
                let new = (new >= self.min_cocount).then_some((Reverse(new), b));
                if !touched && partners.touches_listed(old, new, self.k) {
                    touch(&mut touched, partners, keep, &mut before);
                }
                partners.update(old, new, self.capacity);
            }
            if rebuild {
                // Ranking again needs the listed entries before, whatever is reported, to know if they changed.
                touch(&mut touched, partners, Some(self.k), &mut before);
                partners.rebuild(self.capacity, self.min_cocount, &mut self.ranked);
                touched = before[..] != *partners.listed(self.k);
            } else if partners.top.len() < self.k.min(partners.eligible) {
                touch(&mut touched, partners, keep, &mut before);
                partners.refill(self.capacity, self.min_cocount, &mut self.ranked);
            }
            if touched {
                let after = partners.listed(self.k);
                if self.publish_changes {
                    diff_sorted(&before, after, |entry, diff| listed((a, neighbour(entry)), diff));
                }
                if self.publish_lists {
                    relisted(a, after.iter().copied().map(neighbour).collect());
                }
            }
            if partners.counts.partners() == 0 {
                partners.top = Vec::new();
                partners.counts = Counts::default();
            }
        }
        self.grouped = grouped;
        self.starts = starts;
    }

    /// The same with another threshold between merging and binary-searching counts (tests take both paths).
    pub fn with_merge_ratio(mut self, ratio: usize) -> Self {
        self.merge_ratio = ratio.max(1);
        self
    }

    /// The same with another threshold between ranking again and moving entries (tests take both paths;
    /// 0 never ranks again).
    pub fn with_rebuild_ratio(mut self, ratio: usize) -> Self {
        self.rebuild_ratio = ratio;
        self
    }

    fn slot(&mut self, item: ItemId) -> usize {
        if let Some(&slot) = self.slots.get(&item) {
            return slot as usize;
        }
        let slot = self.items.len();
        self.slots.insert(item, u32::try_from(slot).expect("fewer than 2^32 items"));
        self.items.push(Partners::default());
        self.ids.push(item);
        slot
    }
}

impl Partners {
    /// The first `k` entries of `top`: the listed partners.
    fn listed(&self, k: usize) -> &[Entry] {
        &self.top[..self.top.len().min(k)]
    }

    /// Whether moving a partner from `old` to `new` (either may be ineligible) can change the first `k`.
    fn touches_listed(&self, old: Option<Entry>, new: Option<Entry>, k: usize) -> bool {
        let kth = self.top.get(k.saturating_sub(1)).copied();
        let within = |e: Entry| self.top.len() < k || kth.is_some_and(|kth| e <= kth);
        old.is_some_and(within) || new.is_some_and(within)
    }

    /// The eligible partners outside `top`.
    fn outside(&self) -> usize {
        self.eligible - self.top.len()
    }

    /// Whether an eligible entry is in `top` (every eligible entry outside it ranks after its last).
    fn position(&self, entry: Entry) -> Option<usize> {
        match self.top.last() {
            Some(&last) if entry <= last => {
                let p = self.top.partition_point(|e| *e < entry);
                debug_assert_eq!(
                    self.top.get(p),
                    Some(&entry),
                    "an eligible partner ranking before the last is in top"
                );
                Some(p)
            }
            _ => None,
        }
    }

    /// Moves one partner from `old` to `new` in the ranking, keeping the invariants.
    fn update(&mut self, old: Option<Entry>, new: Option<Entry>, capacity: usize) {
        match (old.and_then(|e| self.position(e)), new) {
            // Listed, and no longer eligible.
            (Some(p), None) => {
                self.top.remove(p);
                self.eligible -= 1;
            }
            // Listed, and better now: it moves up past the entries it now beats.
            (Some(p), Some(new)) if new < self.top[p] => {
                let q = self.top[..p].partition_point(|e| *e < new);
                self.top[q..=p].rotate_right(1);
                self.top[q] = new;
            }
            // Listed, and worse now: it moves down, unless it would pass the last entry while some partner
            // outside might rank before it; then it leaves `top`.
            (Some(p), Some(new)) => {
                let further = self.top[p + 1..].partition_point(|e| *e < new);
                if p + 1 + further == self.top.len() && self.outside() > 0 {
                    self.top.remove(p);
                } else {
                    self.top[p..=p + further].rotate_left(1);
                    self.top[p + further] = new;
                }
            }
            (None, new) => {
                if old.is_some() {
                    self.eligible -= 1;
                }
                if let Some(new) = new {
                    self.eligible += 1;
                    // It enters `top` if it beats the last entry (so every other outsider too), or if no
                    // other eligible partner is outside.
                    let beats_last = self.top.last().is_some_and(|last| new < *last);
                    if beats_last || self.outside() == 1 {
                        let q = self.top.partition_point(|e| *e < new);
                        self.top.insert(q, new);
                        self.top.truncate(capacity);
                    }
                }
            }
        }
    }

    /// Refills `top` from the counts, up to `capacity`, with the best partners outside it.
    fn refill(&mut self, capacity: usize, min_cocount: u32, ranked: &mut Vec<Entry>) {
        let want = capacity.min(self.eligible) - self.top.len();
        let last = self.top.last().copied();
        best_entries(&self.counts, min_cocount, |e| last.is_none_or(|last| e > last), want, ranked);
        self.top.extend_from_slice(ranked);
    }

    /// Ranks `top` again from the counts: the best `capacity` eligible partners, and `eligible` recounted.
    fn rebuild(&mut self, capacity: usize, min_cocount: u32, ranked: &mut Vec<Entry>) {
        self.eligible = best_entries(&self.counts, min_cocount, |_| true, capacity, ranked);
        self.top.clear();
        self.top.extend_from_slice(ranked);
    }
}

/// Leaves in `ranked`, best first, the best `want` entries of `counts` with at least `min_cocount` that
/// `keep` accepts; returns how many were acceptable.
///
/// One pass with a cut-off: once `ranked` holds twice `want` candidates, it keeps only the best `want`, and
/// from then on entries ranking after the worst of those are counted but not kept. Collecting every
/// eligible partner and selecting once moved and selected thousands of entries per hot item, every time
/// an item was ranked again (a quarter of the workers' time when query load made epochs large).
fn best_entries(
    counts: &Counts,
    min_cocount: u32,
    keep: impl Fn(Entry) -> bool,
    want: usize,
    ranked: &mut Vec<Entry>,
) -> usize {
    ranked.clear();
    let mut acceptable = 0;
    let mut cutoff: Option<Entry> = None;
    let room = 2 * want.max(1);
    counts.for_each(|b, c| {
        let entry = (Reverse(c), b);
        if c < min_cocount || !keep(entry) {
            return;
        }
        acceptable += 1;
        if want == 0 || cutoff.is_some_and(|cut| entry > cut) {
            return;
        }
        ranked.push(entry);
        if ranked.len() >= room {
            ranked.select_nth_unstable(want - 1);
            ranked.truncate(want);
            cutoff = ranked.iter().max().copied();
        }
    });
    if ranked.len() > want {
        ranked.select_nth_unstable(want);
        ranked.truncate(want);
    }
    ranked.sort_unstable();
    acceptable
}

/// Partners per moved partner below which [`PartnerLists::apply`] ranks an item's partners again from its
/// counts instead of moving each changed partner within `top`. A move is a binary search and a shift of
/// `top` (tens of ns once `top` is prefetched); ranking again is a pass over the counts with a cut-off
/// (a few ns per partner). Hot items, whose co-counts change by the thousand in every live epoch, take
/// the rebuild. Measured on the live-shaped graph (`bench dataflows-child --exponent 0 --item-exponent
/// 0.67 --window 40 --neighbours 200`): 4 was 1.17x the throughput of 16 at 5,000-event epochs and even
/// at 2,500; 2 and 8 were within noise of 4 at 5,000, 2 worse at 2,500.
const REBUILD_RATIO: usize = 4;

/// Emits the difference between two lists sorted by the same order: `-1` for entries only in `before`,
/// `+1` for entries only in `after`.
fn diff_sorted(before: &[Entry], after: &[Entry], mut emit: impl FnMut(Entry, isize)) {
    let (mut i, mut j) = (0, 0);
    while i < before.len() || j < after.len() {
        match (before.get(i), after.get(j)) {
            (Some(x), Some(y)) if x == y => {
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x < y => {
                emit(*x, -1);
                i += 1;
            }
            (Some(_), Some(y)) => {
                emit(*y, 1);
                j += 1;
            }
            (Some(x), None) => {
                emit(*x, -1);
                i += 1;
            }
            (None, Some(y)) => {
                emit(*y, 1);
                j += 1;
            }
            (None, None) => unreachable!(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// Accumulates emitted changes, dropping what cancels.
    fn accumulate<K: Ord>(into: &mut BTreeMap<K, isize>, key: K, diff: isize) {
        let slot = into.entry(key).or_insert(0);
        *slot += diff;
        if *slot == 0 {
            into.retain(|_, d| *d != 0);
        }
    }

    /// Random times of window changes that keep every window a set: each step adds an absent item or
    /// removes a present one, and a time may remove and re-add the same item.
    fn window_times() -> impl Strategy<Value = Vec<Vec<(UserId, ItemId, bool)>>> {
        proptest::collection::vec(proptest::collection::vec((0u32..4, 0u32..8, any::<bool>()), 0..12), 0..12)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

        #[test]
        fn windows_emit_exactly_the_pair_changes(times in window_times()) {
            let mut model: BTreeMap<UserId, BTreeSet<ItemId>> = BTreeMap::new();
            let mut windows = UserWindows::new();
            let mut pairs: BTreeMap<(ItemId, ItemId), isize> = BTreeMap::new();
            for steps in times {
                let mut changes = Vec::new();
                for (user, item, reinsert) in steps {
                    let set = model.entry(user).or_default();
                    if set.remove(&item) {
                        changes.push(((user, item), -1));
                        if reinsert {
                            set.insert(item);
                            changes.push(((user, item), 1));
                        }
                    } else {
                        set.insert(item);
                        changes.push(((user, item), 1));
                    }
                }
                windows.apply(changes, |(pair, diff)| accumulate(&mut pairs, pair, diff));
                let mut expected: BTreeMap<(ItemId, ItemId), isize> = BTreeMap::new();
                for set in model.values() {
                    for &a in set {
                        for &b in set {
                            if a != b {
                                *expected.entry((a, b)).or_default() += 1;
                            }
                        }
                    }
                }
                prop_assert_eq!(&pairs, &expected);
            }
        }

        #[test]
        fn lists_are_the_top_k_of_the_counts(
            times in proptest::collection::vec(
                proptest::collection::vec((0u32..3, 0u32..16, -3isize..4), 0..24), 0..16),
            k in 1usize..5,
            min_cocount in 1isize..3,
            reserve in 0usize..3,
            merge_ratio in prop_oneof![Just(1usize), Just(4), Just(1000)],
            rebuild_ratio in prop_oneof![Just(0usize), Just(2), Just(1000)],
            (changes_out, lists_out) in prop_oneof![Just((true, false)), Just((false, true)), Just((true, true))],
        ) {
            let mut lists = PartnerLists::with_reserve(k, min_cocount, reserve)
                .with_merge_ratio(merge_ratio)
                .with_rebuild_ratio(rebuild_ratio)
                .publishing(changes_out, lists_out);
            let mut whole: BTreeMap<ItemId, Vec<Neighbour>> = BTreeMap::new();
            let mut counts: BTreeMap<(ItemId, ItemId), isize> = BTreeMap::new();
            let mut counted: BTreeMap<((ItemId, ItemId), isize), isize> = BTreeMap::new();
            let mut listed: BTreeMap<(ItemId, Neighbour), isize> = BTreeMap::new();
            for steps in times {
                // Keep every count non-negative, as co-counts are.
                let mut changes = Vec::new();
                for (a, b, diff) in steps {
                    let count = counts.entry((a, b)).or_insert(0);
                    let diff = diff.max(-*count);
                    *count += diff;
                    changes.push(((a, b), diff));
                }
                lists.apply(
                    changes,
                    |key, diff| accumulate(&mut counted, key, diff),
                    |key, diff| accumulate(&mut listed, key, diff),
                    |item, list| {
                        if list.is_empty() {
                            whole.remove(&item);
                        } else {
                            whole.insert(item, list.to_vec());
                        }
                    },
                );
                let eligible: BTreeMap<(ItemId, ItemId), isize> =
                    counts.iter().filter(|(_, c)| **c >= min_cocount).map(|(p, c)| (*p, *c)).collect();
                let expected_counted: BTreeMap<_, isize> = eligible.iter().map(|(p, c)| ((*p, *c), 1)).collect();
                prop_assert_eq!(&counted, &expected_counted);
                let mut per_item: BTreeMap<ItemId, Vec<(Reverse<u32>, ItemId)>> = BTreeMap::new();
                for (&(a, b), &c) in &eligible {
                    per_item.entry(a).or_default().push((Reverse(c as u32), b));
                }
                let mut expected_listed = BTreeMap::new();
                let mut expected_whole = BTreeMap::new();
                for (a, mut entries) in per_item {
                    entries.sort();
                    let top: Vec<Neighbour> = entries.into_iter().take(k).map(neighbour).collect();
                    for &n in &top {
                        expected_listed.insert((a, n), 1);
                    }
                    expected_whole.insert(a, top);
                }
                if changes_out {
                    prop_assert_eq!(&listed, &expected_listed);
                } else {
                    prop_assert!(listed.is_empty());
                }
                if lists_out {
                    prop_assert_eq!(&whole, &expected_whole);
                } else {
                    prop_assert!(whole.is_empty());
                }
            }
        }
    }
}
