//! One item's co-counts with all its partners, in the form that suits how many partners it has.
//!
//! Most items co-occur with a few partners: a vector of `(partner, count)` sorted by partner is compact and
//! its changes are binary searches or one merge. Popular items co-occur with a large share of the catalogue
//! (on a steady live stream, nearly every item with nearly every other); for them a row indexed by the
//! partner's id (4 bytes per item in the catalogue against 8 per partner) is at most twice the size, and a
//! change is one indexed add: no search, and no pass over the row to apply a time's changes, which for a
//! merge meant reading and writing the whole row of every item in every epoch.

use crate::types::ItemId;

/// The buffers [`Counts::add`] works in, kept between calls; `moves` holds the last call's moves.
#[derive(Default)]
pub struct AddScratch {
    /// `(partner, old, new)` of every partner the last call changed.
    pub moves: Vec<(ItemId, u32, u32)>,
    /// Per partner id, 1 + its index in `moves` while a dense add runs, else 0.
    marks: Vec<u32>,
    /// A dense add's net change of each partner in `moves`, at the same index.
    nets: Vec<isize>,
    /// The sparse form's consolidated changes.
    run: Vec<(ItemId, isize)>,
    /// The buffer a sparse merge writes into (then copied back into the item's counts).
    merged: Vec<(ItemId, u32)>,
}

/// Partners below which an item's counts stay sparse whatever their density.
const DENSE_MIN_PARTNERS: usize = 256;

/// One item's co-counts (see the module documentation).
pub enum Counts {
    /// `(partner, count)`, sorted by partner, no zero counts.
    Sparse(Vec<(ItemId, u32)>),
    /// The count of every partner id below the row's length, and how many are not zero.
    Dense {
        /// Indexed by partner id.
        row: Vec<u32>,
        /// Non-zero entries of `row`.
        partners: usize,
    },
}

impl Default for Counts {
    fn default() -> Self {
        Counts::Sparse(Vec::new())
    }
}

impl Counts {
    /// Partners with a non-zero count.
    pub fn partners(&self) -> usize {
        match self {
            Counts::Sparse(counts) => counts.len(),
            Counts::Dense { partners, .. } => *partners,
        }
    }

    /// Calls `f` with every partner and its count, for non-zero counts, ascending by partner: a plain loop
    /// per form, for the passes over all counts (ranking again), where a chained iterator over both forms
    /// cost more than the work.
    pub fn for_each(&self, mut f: impl FnMut(ItemId, u32)) {
        match self {
            Counts::Sparse(counts) => counts.iter().for_each(|&(b, c)| f(b, c)),
            Counts::Dense { row, .. } => {
                for (b, &c) in row.iter().enumerate() {
                    if c > 0 {
                        f(b as ItemId, c);
                    }
                }
            }
        }
    }

    /// Asks the CPU to start loading the counts of `partners` (see [`prefetch`]).
    pub fn prefetch(&self, partners: impl Iterator<Item = ItemId>) {
        match self {
            Counts::Sparse(counts) => prefetch_slice(counts),
            Counts::Dense { row, .. } => {
                for b in partners {
                    if let Some(count) = row.get(b as usize) {
                        prefetch(count);
                    }
                }
            }
        }
    }

    /// Adds the changes `(partner, diff)` of one time to the counts and reports each changed partner's
    /// `(partner, old, new)` to `moves` once; then changes form if the density calls for it.
    ///
    /// `changes` may come in any order and name a partner more than once; their sum per partner must not
    /// take its count below zero (it cannot: a pair loses a user only if it had that user). The sparse form
    /// sorts and sums them and reports moves by ascending partner. The dense form applies them as they come,
    /// summing each partner's changes at the index `marks` (scratch, all zero between calls) gives it in
    /// `moves`, so the moves come in no particular order: sorting every item's changes was a tenth of the
    /// graph's time.
    pub fn add(&mut self, changes: &mut [(ItemId, isize)], scratch: &mut AddScratch, merge_ratio: usize) {
        let AddScratch { moves, marks, nets, run, merged } = scratch;
        moves.clear();
        match self {
            Counts::Sparse(counts) => {
                changes.sort_unstable_by_key(|&(b, _)| b);
                run.clear();
                run.extend(crate::keyed::sum_runs(changes));
                add_sparse(counts, run, moves, merged, merge_ratio);
            }
            Counts::Dense { row, partners } => {
                if let Some(last) = changes.iter().map(|&(b, _)| b as usize).max() {
                    if last >= row.len() {
                        row.resize(last + 1, 0);
                    }
                    if last >= marks.len() {
                        marks.resize(last + 1, 0);
                    }
                }
                nets.clear();
                for &(b, diff) in changes.iter() {
                    let at = b as usize;
                    if marks[at] == 0 {
                        moves.push((b, row[at], 0));
                        nets.push(0);
                        marks[at] = moves.len() as u32;
                    }
                    nets[marks[at] as usize - 1] += diff;
                }
                for ((b, before, after), &net) in moves.iter_mut().zip(nets.iter()) {
                    marks[*b as usize] = 0;
                    *after = add_count(*before, net);
                    row[*b as usize] = *after;
                    *partners = *partners + usize::from(*after > 0) - usize::from(*before > 0);
                }
                moves.retain(|&(_, before, after)| before != after);
            }
        }
        self.reshape();
    }

    /// Dense once the partners fill a quarter of the id range they span (then the row is at most twice the
    /// size of the pairs), sparse again below a sixteenth (the gap keeps an item from switching back and
    /// forth). At half, as first chosen, items of middling popularity (partners among the popular items
    /// and a few far up the id range) stayed sparse and merged thousands of entries per epoch: a quarter
    /// was 1.17x the live-shaped graph's throughput, an eighth only 1.02x more.
    fn reshape(&mut self) {
        match self {
            Counts::Sparse(counts) if counts.len() >= DENSE_MIN_PARTNERS => {
                let span = counts.last().map_or(0, |&(b, _)| b as usize + 1);
                if counts.len() * 4 >= span {
                    let mut row = vec![0; span];
                    for &(b, c) in counts.iter() {
                        row[b as usize] = c;
                    }
                    *self = Counts::Dense { row, partners: counts.len() };
                }
            }
            Counts::Dense { row, partners } if *partners * 16 < row.len() || *partners < DENSE_MIN_PARTNERS / 2 => {
                let mut counts = Vec::with_capacity(*partners);
                self.for_each(|b, c| counts.push((b, c)));
                *self = Counts::Sparse(counts);
            }
            _ => {}
        }
    }
}

/// Starts loading the cache line of `value` without waiting for it.
///
/// The co-counts and rankings of all items are far larger than the caches and each item's are touched
/// about once per epoch, so without this nearly every access is a miss, and a binary search is a chain of
/// them. Prefetching the next item's lines while the current one is applied overlaps those misses with
/// work (a hint only: no effect on results, and none on other architectures).
#[inline]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address, and changes no state.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((value as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// [`prefetch`]es every cache line of `values`.
pub fn prefetch_slice<T>(values: &[T]) {
    const LINE: usize = 64;
    let bytes = std::mem::size_of_val(values);
    let base = values.as_ptr().cast::<u8>();
    for offset in (0..bytes).step_by(LINE) {
        // SAFETY: `offset` is within the slice's bytes.
        prefetch(unsafe { &*base.add(offset) });
    }
}

/// [`Counts::add`] on the sparse form.
///
/// Why a sorted vector and not a hash map: the counts of all pairs are far larger than the caches, so
/// every hash probe was a cache miss (most of this operator's time). A hot item gets thousands of changes
/// per epoch, which one sequential merge applies far faster; an item with few changes against many
/// partners is binary-searched instead. Where the two cost the same: a merge streams the vector (about
/// 2 ns per entry, read and written), a binary search costs `log2(n)` dependent loads. [`PartnerLists`]
/// prefetches each item's vector before it applies the item's changes, so those loads mostly hit the
/// cache and a merge wins only from about one change per [`MERGE_RATIO`] entries (measured: 512 when
/// vectors were cold; with the prefetch, 16 and 64 tie and both beat 512 by about 5%).
///
/// [`PartnerLists`]: crate::partners::PartnerLists
fn add_sparse(
    counts: &mut Vec<(ItemId, u32)>,
    run: &[(ItemId, isize)],
    moves: &mut Vec<(ItemId, u32, u32)>,
    scratch: &mut Vec<(ItemId, u32)>,
    merge_ratio: usize,
) {
    if run.len() * merge_ratio >= counts.len() {
        merge_counts(counts, run.iter().copied(), scratch, |b, before, after| moves.push((b, before, after)));
    } else {
        // Few changes against many partners: update existing counts in place, and apply the partners
        // that appear or disappear with one merge (inserting them one by one shifted the whole vector
        // each time).
        let mut structural = Vec::new();
        for &(b, diff) in run {
            match counts.binary_search_by_key(&b, |&(c, _)| c) {
                Ok(at) => {
                    let before = counts[at].1;
                    let after = add_count(before, diff);
                    if after > 0 {
                        counts[at].1 = after;
                    } else {
                        structural.push((b, diff));
                    }
                    moves.push((b, before, after));
                }
                Err(_) => {
                    structural.push((b, diff));
                    moves.push((b, 0, add_count(0, diff)));
                }
            }
        }
        if structural.len() <= 4 {
            // A few shifts of the vector (memmove) are cheaper than a pass over it.
            for (b, diff) in structural {
                match counts.binary_search_by_key(&b, |&(c, _)| c) {
                    Ok(at) => drop(counts.remove(at)),
                    Err(at) => counts.insert(at, (b, add_count(0, diff))),
                }
            }
        } else {
            merge_counts(counts, structural.into_iter(), scratch, |_, _, _| {});
        }
    }
}

/// Partners per change above which [`Counts::add`] binary-searches a sparse vector instead of merging
/// into it (see there).
pub const MERGE_RATIO: usize = 64;

fn add_count(old: u32, diff: isize) -> u32 {
    u32::try_from(old as isize + diff).expect("co-counts stay between 0 and 2^32")
}

/// Applies `changes` `(partner, diff)`, ascending by partner, to `counts` (sorted by partner) in one
/// sequential pass through `scratch`, reporting each `(partner, old, new)`; partners reaching 0 go. The
/// untouched stretches between changes are copied whole.
fn merge_counts(
    counts: &mut Vec<(ItemId, u32)>,
    changes: impl Iterator<Item = (ItemId, isize)>,
    scratch: &mut Vec<(ItemId, u32)>,
    mut report: impl FnMut(ItemId, u32, u32),
) {
    scratch.clear();
    scratch.reserve(counts.len() + changes.size_hint().0);
    let mut rest: &[(ItemId, u32)] = counts;
    for (b, diff) in changes {
        // A linear scan, not a galloping search: the vector is cold, and a sequential walk is prefetched
        // while jumps ahead miss the cache at each probe (measured: galloping was most of the merge).
        let skip = rest.iter().position(|&(c, _)| c >= b).unwrap_or(rest.len());
        scratch.extend_from_slice(&rest[..skip]);
        rest = &rest[skip..];
        let before = match rest.first() {
            Some(&(c, n)) if c == b => {
                rest = &rest[1..];
                n
            }
            _ => 0,
        };
        let after = add_count(before, diff);
        if after > 0 {
            scratch.push((b, after));
        }
        report(b, before, after);
    }
    scratch.extend_from_slice(rest);
    // Copied back rather than swapped: a swap would hand this item the buffer of whichever item merged
    // before, and over time every item would hold a vector as large as the largest.
    counts.clear();
    counts.extend_from_slice(scratch);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// Applies `run` (any order, any diffs that keep counts non-negative) to both and checks the moves.
    fn apply(counts: &mut Counts, model: &mut BTreeMap<ItemId, u32>, run: &[(ItemId, isize)], merge_ratio: usize) {
        let mut consolidated: BTreeMap<ItemId, isize> = BTreeMap::new();
        for &(b, diff) in run {
            let current = model.get(&b).copied().unwrap_or(0) as isize + consolidated.get(&b).copied().unwrap_or(0);
            *consolidated.entry(b).or_default() += diff.max(-current);
        }
        consolidated.retain(|_, d| *d != 0);
        let run: Vec<(ItemId, isize)> = consolidated.into_iter().collect();
        let mut expected_moves = Vec::new();
        // A user leaving a pair's windows and another joining in the same time: no move, whatever the order.
        let mut changes: Vec<(ItemId, isize)> = Vec::new();
        for (&b, _) in model.iter().step_by(3) {
            changes.extend([(b, -1), (b, 1)]);
        }
        for &(b, diff) in &run {
            let before = model.get(&b).copied().unwrap_or(0);
            let after = (before as isize + diff) as u32;
            expected_moves.push((b, before, after));
            if after == 0 {
                model.remove(&b);
            } else {
                model.insert(b, after);
            }
        }
        // Split into single steps and shuffled: a time's changes reach the counts in any order.
        changes.extend(run.iter().flat_map(|&(b, diff)| std::iter::repeat_n((b, diff.signum()), diff.unsigned_abs())));
        changes.sort_by_key(|&(b, _)| b.wrapping_mul(2_654_435_761));
        let mut scratch = AddScratch::default();
        counts.add(&mut changes, &mut scratch, merge_ratio);
        let mut moves = scratch.moves.clone();
        moves.sort_unstable();
        assert_eq!(moves, expected_moves);
        let mut listed = Vec::new();
        counts.for_each(|b, c| listed.push((b, c)));
        assert_eq!(listed, model.iter().map(|(&b, &c)| (b, c)).collect::<Vec<_>>());
        assert_eq!(counts.partners(), model.len());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

        /// Counts grow past the dense threshold, thin out below the sparse one, and empty, and in every form
        /// report exactly the moves and counts of a plain map.
        #[test]
        fn counts_match_a_map_in_both_forms(
            runs in proptest::collection::vec(proptest::collection::vec((0u32..600, -2isize..4), 0..120), 1..40),
            keep_every in 5u32..9,
            merge_ratio in prop_oneof![Just(1usize), Just(16), Just(MERGE_RATIO)],
        ) {
            let mut counts = Counts::default();
            let mut model = BTreeMap::new();
            let mut was_dense = false;
            for run in &runs {
                apply(&mut counts, &mut model, run, merge_ratio);
                was_dense |= matches!(counts, Counts::Dense { .. });
            }
            // Thin out to every `keep_every`-th partner (at most 120, below the sparse threshold), then
            // retract everything.
            let thin: Vec<(ItemId, isize)> =
                model.iter().filter(|(b, _)| *b % keep_every != 0).map(|(&b, &c)| (b, -(c as isize))).collect();
            apply(&mut counts, &mut model, &thin, merge_ratio);
            if was_dense {
                prop_assert!(matches!(counts, Counts::Sparse(_)), "thinned out to {} partners", model.len());
            }
            let all: Vec<(ItemId, isize)> = model.iter().map(|(&b, &c)| (b, -(c as isize))).collect();
            apply(&mut counts, &mut model, &all, merge_ratio);
            prop_assert_eq!(counts.partners(), 0);
        }
    }

    #[test]
    fn a_busy_item_becomes_dense() {
        let mut counts = Counts::default();
        let mut model = BTreeMap::new();
        let run: Vec<(ItemId, isize)> = (0..400).map(|b| (b, 2)).collect();
        apply(&mut counts, &mut model, &run, MERGE_RATIO);
        assert!(matches!(counts, Counts::Dense { .. }));
    }
}
