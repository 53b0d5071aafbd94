//! Each user's recent window, kept outside differential dataflow.
//!
//! The window is the user's newest `max_items` distinct items (by their latest interaction) whose latest
//! interaction is at most `max_age_secs` older than the user's newest event. It is a function of the *set* of
//! the user's events only, so the order and batching in which events arrive never change it: the top-N
//! threshold and the age cut-off only rise as events are added, so an item once evicted could never re-enter
//! with an older event.
//!
//! Keeping it here rather than in a `reduce` bounds the dataflow's per-user state and avoids re-reading a
//! power user's whole history each batch: [`RecentWindows::insert`] emits the window's `+1/-1` changes,
//! which feed the `recent` input collection of [`crate::graph::build`].

use crate::sharded::ShardedMap;
use crate::types::{Interaction, RecentEntry, UserId, WindowParams};

/// A change to the `recent` collection.
pub type RecentChange = ((UserId, RecentEntry), isize);

/// A change to a collection of windows kept per key `K` (a user, or a user and an event type).
pub type WindowChange<K> = ((K, RecentEntry), isize);

/// The recent windows of every user, updated one event at a time.
#[derive(Debug, Default, Clone)]
pub struct RecentWindows<K = UserId> {
    params: Option<WindowParams>,
    /// Keyed by dense engine ids, never by request strings, so the fast non-keyed hash is safe here.
    users: ShardedMap<K, UserWindow>,
}

#[derive(Debug, Default, Clone)]
struct UserWindow {
    /// Sorted ascending by `(timestamp, item, event_type)`; at most `max_items` long.
    entries: Vec<RecentEntry>,
    newest: i64,
}

impl<K: Copy + Ord + std::hash::Hash> RecentWindows<K> {
    /// Empty windows with these parameters.
    pub fn new(params: WindowParams) -> Self {
        RecentWindows { params: Some(params), users: ShardedMap::default() }
    }

    /// The current window of one user, oldest first.
    pub fn window(&self, user: K) -> &[RecentEntry] {
        self.users.get(&user).map(|w| w.entries.as_slice()).unwrap_or(&[])
    }

    /// Number of users with a window.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// Adds one event to the window of `key` and appends the window's changes to `out`.
    pub fn insert_at(&mut self, key: K, event: &Interaction, out: &mut Vec<WindowChange<K>>) {
        let params = self.params.as_ref().expect("RecentWindows built with new()");
        let (max_items, max_age) = (params.max_items.max(1), params.max_age_secs);
        let window = self.users.entry(key).or_default();
        if window.entries.is_empty() {
            window.newest = event.timestamp;
        }
        let candidate = RecentEntry { timestamp: event.timestamp, item: event.item, event_type: event.event_type };
        let start = out.len();
        if let Some(pos) = window.entries.iter().position(|e| e.item == event.item) {
            let old = window.entries[pos];
            if (candidate.timestamp, candidate.event_type) <= (old.timestamp, old.event_type) {
                return; // an older or equal interaction with an item already in the window changes nothing
            }
            window.entries.remove(pos);
            out.push(((key, old), -1));
        }
        let at = window.entries.partition_point(|e| e < &candidate);
        window.entries.insert(at, candidate);
        out.push(((key, candidate), 1));
        window.newest = window.newest.max(event.timestamp);

        let cutoff = window.newest.saturating_sub(max_age);
        let expired = window.entries.partition_point(|e| e.timestamp < cutoff);
        let overflow = window.entries.len().saturating_sub(max_items);
        for old in window.entries.drain(..expired.max(overflow)) {
            out.push(((key, old), -1));
        }
        consolidate_tail(out, start);
    }

    /// Forgets a user (data deletion) and appends the retraction of their whole window to `out`.
    pub fn delete_user(&mut self, user: K, out: &mut Vec<WindowChange<K>>) {
        if let Some(window) = self.users.remove(&user) {
            out.extend(window.entries.into_iter().map(|e| ((user, e), -1)));
        }
    }

    /// Forgets every user, retracting every window.
    pub fn clear(&mut self, out: &mut Vec<WindowChange<K>>) {
        for (user, window) in self.users.drain() {
            out.extend(window.entries.into_iter().map(|e| ((user, e), -1)));
        }
    }
}

impl RecentWindows<UserId> {
    /// Adds one event to its user's window and appends the window's changes to `out`.
    pub fn insert(&mut self, event: &Interaction, out: &mut Vec<RecentChange>) {
        self.insert_at(event.user, event, out)
    }
}

/// Cancels a `+1` and `-1` of the same entry emitted by one insert (an item that entered and was evicted at once).
fn consolidate_tail<K: Copy + Ord>(out: &mut Vec<WindowChange<K>>, start: usize) {
    let tail = &mut out[start..];
    tail.sort_unstable();
    let mut write = start;
    let mut read = start;
    while read < out.len() {
        let mut diff = out[read].1;
        let key = out[read].0;
        read += 1;
        while read < out.len() && out[read].0 == key {
            diff += out[read].1;
            read += 1;
        }
        if diff != 0 {
            out[write] = (key, diff);
            write += 1;
        }
    }
    out.truncate(write);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(user: u32, item: u32, ts: i64) -> Interaction {
        Interaction { user, item, event_type: 0, timestamp: ts }
    }

    #[test]
    fn keeps_newest_distinct_items() {
        let mut w = RecentWindows::new(WindowParams { max_items: 2, max_age_secs: 1_000 });
        let mut out = Vec::new();
        for (item, ts) in [(1, 10), (2, 20), (1, 30), (3, 25)] {
            w.insert(&ev(7, item, ts), &mut out);
        }
        let items: Vec<_> = w.window(7).iter().map(|e| (e.item, e.timestamp)).collect();
        assert_eq!(items, vec![(3, 25), (1, 30)]);
        // The emitted changes add up to the window.
        let mut net: std::collections::HashMap<_, isize> = std::collections::HashMap::new();
        for (k, d) in out {
            *net.entry(k).or_default() += d;
        }
        net.retain(|_, d| *d != 0);
        assert_eq!(net.len(), 2);
    }

    #[test]
    fn old_event_past_a_full_window_emits_nothing() {
        let mut w = RecentWindows::new(WindowParams { max_items: 1, max_age_secs: 1_000 });
        let mut out = Vec::new();
        w.insert(&ev(1, 1, 100), &mut out);
        out.clear();
        w.insert(&ev(1, 2, 50), &mut out);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn age_cutoff_follows_newest_event() {
        let mut w = RecentWindows::new(WindowParams { max_items: 10, max_age_secs: 100 });
        let mut out = Vec::new();
        w.insert(&ev(1, 1, 0), &mut out);
        w.insert(&ev(1, 2, 150), &mut out);
        assert_eq!(w.window(1).len(), 1);
        w.delete_user(1, &mut out);
        assert!(w.window(1).is_empty());
    }
}
