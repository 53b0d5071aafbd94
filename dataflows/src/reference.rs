//! The reference model: every output of the graph recomputed from scratch with maps and loops.
//!
//! It shares nothing with the incremental path but the pure scoring functions in [`crate::score`] (so that
//! floats agree to the bit); in particular it recomputes each user's window from the full event set rather
//! than using [`crate::recent::RecentWindows`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::feed::Op;
use crate::score;
use crate::snapshot::Snapshot;
use crate::types::*;

/// The newest `max_items` of a user's entries (sorted oldest first) within `max_age_secs` of `newest`.
fn newest_within(entries: &[RecentEntry], newest: Seconds, window: &WindowParams) -> Vec<RecentEntry> {
    let recent: Vec<RecentEntry> =
        entries.iter().filter(|e| e.timestamp >= newest.saturating_sub(window.max_age_secs)).copied().collect();
    let skip = recent.len().saturating_sub(window.max_items.max(1));
    recent[skip..].to_vec()
}

/// A plain list of live interactions and the parameters to compute from them.
#[derive(Clone, Debug)]
pub struct Reference {
    params: Params,
    live: Vec<Interaction>,
    contexts: Vec<ContextEvent>,
}

impl Reference {
    /// An empty model.
    pub fn new(params: Params) -> Self {
        Reference { params, live: Vec::new(), contexts: Vec::new() }
    }

    /// Applies one operation.
    pub fn apply(&mut self, op: &Op) {
        match *op {
            Op::Insert(e) => self.live.push(e),
            Op::Context(c) => self.contexts.push(c),
            Op::DeleteUser(user) => {
                self.live.retain(|e| e.user != user);
                self.contexts.retain(|c| c.user != user);
            }
            Op::Clear => {
                self.live.clear();
                self.contexts.clear();
            }
        }
    }

    /// Every output, computed from scratch.
    pub fn snapshot(&self) -> Snapshot {
        let p = &self.params;
        let mut snap = Snapshot::default();
        for c in &self.contexts {
            *snap.context_counts.entry((c.item, c.context)).or_default() += 1;
        }

        let mut users_of: BTreeMap<(ItemId, EventTypeId), BTreeSet<UserId>> = BTreeMap::new();
        for e in &self.live {
            for key in [(e.item, e.event_type), (e.item, ANY_EVENT_TYPE)] {
                *snap.item_events.entry(key).or_default() += 1;
                users_of.entry(key).or_default().insert(e.user);
            }
            *snap.trend.entry((e.item, score::trend_bucket(e.timestamp, p.trend_bucket_secs))).or_default() += 1;
        }
        snap.item_users = users_of.into_iter().map(|(k, users)| (k, users.len() as isize)).collect();

        let mut per_user_item: BTreeMap<(UserId, ItemId), BTreeMap<(Seconds, EventTypeId), isize>> = BTreeMap::new();
        for e in &self.live {
            *per_user_item.entry((e.user, e.item)).or_default().entry((e.timestamp, e.event_type)).or_default() += 1;
        }
        for (key, events) in &per_user_item {
            if let Some(a) = score::affinity(events.iter().map(|(v, n)| (v, *n)), &p.affinity) {
                snap.affinity.insert(*key, a);
            }
        }

        // Windows from scratch: newest distinct items by latest (timestamp, event type), within the age limit.
        let mut latest: HashMap<UserId, BTreeMap<ItemId, (Seconds, EventTypeId)>> = HashMap::new();
        for e in &self.live {
            let slot = latest.entry(e.user).or_default().entry(e.item).or_insert((e.timestamp, e.event_type));
            *slot = (*slot).max((e.timestamp, e.event_type));
        }
        // Transitions from scratch: each user's events in sequence order, every pair at most d apart.
        let mut sequences: BTreeMap<UserId, Vec<Interaction>> = BTreeMap::new();
        for e in &self.live {
            sequences.entry(e.user).or_default().push(*e);
        }
        for seq in sequences.values_mut() {
            seq.sort_by_key(|e| (e.timestamp, e.item, e.event_type));
            for j in 0..seq.len() {
                for i in j.saturating_sub(p.transition_distance)..j {
                    if seq[i].item != seq[j].item {
                        *snap.transitions.entry((seq[i].item, seq[j].item, (j - i) as u8)).or_default() += 1;
                    }
                }
            }
        }

        // Per-type windows from scratch: the same rule over each type's events alone.
        let mut latest_typed: BTreeMap<(UserId, EventTypeId), BTreeMap<ItemId, Seconds>> = BTreeMap::new();
        for e in &self.live {
            let slot = latest_typed.entry((e.user, e.event_type)).or_default().entry(e.item).or_insert(e.timestamp);
            *slot = (*slot).max(e.timestamp);
        }
        for ((user, event_type), items) in latest_typed {
            let newest = items.values().copied().max().unwrap_or(0);
            let mut entries: Vec<RecentEntry> =
                items.into_iter().map(|(item, timestamp)| RecentEntry { timestamp, item, event_type }).collect();
            entries.sort();
            snap.typed_recent
                .insert((user, event_type), newest_within(&entries, newest, &p.window).into_iter().collect());
        }

        // Extreme users, by the percentile of event counts.
        let mut activity: BTreeMap<UserId, isize> = BTreeMap::new();
        for e in &self.live {
            *activity.entry(e.user).or_default() += 1;
        }
        let mut histogram: BTreeMap<isize, isize> = BTreeMap::new();
        for n in activity.values() {
            *histogram.entry(*n).or_default() += 1;
        }
        let threshold = if p.user_trim_percentile < 100.0 {
            score::activity_threshold(histogram.iter().map(|(n, c)| (*n, *c)), p.user_trim_percentile)
        } else {
            None
        };
        let extreme = |user: UserId| threshold.is_some_and(|t| activity[&user] > t);

        let mut cowindows: Vec<Vec<RecentEntry>> = Vec::new();
        for (user, items) in latest {
            let newest = items.values().map(|(ts, _)| *ts).max().unwrap_or(0);
            let mut entries: Vec<RecentEntry> = items
                .into_iter()
                .map(|(item, (timestamp, event_type))| RecentEntry { timestamp, item, event_type })
                .collect();
            entries.sort();
            snap.recent.insert(user, newest_within(&entries, newest, &p.window).into_iter().collect());
            if !extreme(user) {
                cowindows.push(newest_within(&entries, newest, &p.cooccurrence_window));
            }
        }

        let mut window_counts: HashMap<ItemId, isize> = HashMap::new();
        let mut co: BTreeMap<(ItemId, ItemId), isize> = BTreeMap::new();
        for window in &cowindows {
            for a in window {
                *window_counts.entry(a.item).or_default() += 1;
                for b in window {
                    if a.item != b.item {
                        *co.entry((a.item, b.item)).or_default() += 1;
                    }
                }
            }
        }
        co.retain(|_, c| *c >= p.min_cocount);
        for (&(a, b), &c) in &co {
            snap.neighbours.entry(a).or_default().push(Neighbour { item: b, cocount: c as u32 });
        }
        snap.sort_neighbours();
        for list in snap.neighbours.values_mut() {
            list.truncate(p.neighbours);
        }
        snap.window_counts = window_counts.into_iter().collect();
        snap.cooccurrence = co;
        snap
    }
}
