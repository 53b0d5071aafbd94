//! An interactions data set prepared for offline evaluation: dense ids, sorted by (timestamp, row order).

use std::collections::HashMap;

use crate::model::record::Interaction;

/// One interaction in dense ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// Dense user id.
    pub user: u32,
    /// Dense item id.
    pub item: u32,
    /// Event time.
    pub timestamp: i64,
    /// Position in the original file (ties in time keep file order).
    pub row: u32,
}

/// Events and the names behind the dense ids.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    /// Sorted by (timestamp, row).
    pub events: Vec<Event>,
    /// External user ids by dense id.
    pub users: Vec<String>,
    /// External item ids by dense id.
    pub items: Vec<String>,
    /// Event type names by dense user-event index (kept for feeding models that weigh types).
    pub event_types: Vec<Option<String>>,
}

/// Orders external ids numerically when both are integers, else as strings, so that "ties go to the lower
/// item id" means what it means in the baselines (MovieLens ids are numbers).
fn id_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

fn dense(names: impl Iterator<Item = String>) -> (Vec<String>, HashMap<String, u32>) {
    let mut sorted: Vec<String> = names.collect();
    sorted.sort_by(|a, b| id_order(a, b));
    sorted.dedup();
    let index = sorted.iter().enumerate().map(|(i, n)| (n.clone(), i as u32)).collect();
    (sorted, index)
}

impl Dataset {
    /// Builds a data set from interactions in file order.
    pub fn from_interactions(rows: Vec<Interaction>) -> Dataset {
        let (users, user_ids) = dense(rows.iter().map(|r| r.user_id.clone()));
        let (items, item_ids) = dense(rows.iter().map(|r| r.item_id.clone()));
        let mut events: Vec<(Event, Option<String>)> = rows
            .into_iter()
            .enumerate()
            .map(|(row, r)| {
                (
                    Event {
                        user: user_ids[&r.user_id],
                        item: item_ids[&r.item_id],
                        timestamp: r.timestamp,
                        row: row as u32,
                    },
                    r.event_type,
                )
            })
            .collect();
        events.sort_by_key(|(e, _)| (e.timestamp, e.row));
        let (events, event_types) = events.into_iter().unzip();
        Dataset { events, users, items, event_types }
    }

    /// The interaction behind an event, with external ids, for feeding an engine.
    pub fn interaction(&self, index: usize) -> Interaction {
        let e = self.events[index];
        Interaction {
            user_id: self.users[e.user as usize].clone(),
            item_id: self.items[e.item as usize].clone(),
            timestamp: e.timestamp,
            event_type: self.event_types[index].clone(),
            event_value: None,
            impression: Vec::new(),
            recommendation_id: None,
            metadata: Vec::new(),
        }
    }
}
