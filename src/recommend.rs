//! Queries over the serving index: what a user should see next, similar items, popular and trending items.
//!
//! User recommendations score every neighbour of the items in the user's recent window by
//! `Σ_j weight_j · similarity(j, candidate)`, where `weight_j = history_decay^rank_j · 2^(−age_j / half_life)`
//! (rank 0 is the newest item, age is measured from the user's newest event), drop what the user has already
//! interacted with, and back-fill from popular items. Every item carries the reason it was chosen.

use std::collections::{HashMap, HashSet};

use dataflows::{ItemId, ANY_EVENT_TYPE};
use serde::Serialize;

use crate::engine::Engine;

/// Why an item was recommended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase", tag = "kind")]
pub enum Reason {
    /// Similar to an item in the user's recent history (or to the item asked about).
    BecauseOf {
        /// External id of that item.
        item_id: String,
    },
    /// Back-filled from popular items.
    Popular,
    /// Trending: its interaction count grew.
    Trending,
}

/// One recommended item.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recommended {
    /// External item id.
    pub item_id: String,
    /// Score (higher is better; comparable within one answer).
    pub score: f64,
    /// Why it is here.
    pub reason: Reason,
}

/// Tunables of user recommendations.
#[derive(Clone, Debug)]
pub struct UserQuery {
    /// How many items.
    pub n: usize,
    /// Weight multiplier per step back in the user's history (newest item has weight 1).
    pub history_decay: f64,
    /// Whether items the user interacted with are excluded.
    pub exclude_seen: bool,
}

impl UserQuery {
    /// The default query for `n` items.
    pub fn new(n: usize) -> Self {
        UserQuery { n, history_decay: 0.9, exclude_seen: true }
    }
}

/// Recommendations for a user (external id); popular items for an unknown user.
pub fn for_user(engine: &Engine, user: &str, query: &UserQuery) -> Vec<Recommended> {
    let catalog = engine.catalog();
    let index = engine.index();
    let Some(user) = catalog.user(user) else {
        return backfill_popular(engine, Vec::new(), query.n, |_| false);
    };
    let window = index.recent(user);
    let seen: HashSet<ItemId> =
        if query.exclude_seen { index.affinities(user).into_keys().collect() } else { HashSet::new() };
    let newest = window.last().map(|e| e.timestamp).unwrap_or(0);
    let half_life = engine.config().params.affinity.half_life_secs.max(1) as f64;
    // candidate → (score, best contributing history item, its contribution)
    let mut scores: HashMap<ItemId, (f64, ItemId, f64)> = HashMap::new();
    for (rank, entry) in window.iter().rev().enumerate() {
        let age = (newest - entry.timestamp).max(0) as f64;
        let weight = query.history_decay.powi(rank as i32) * (-age / half_life).exp2();
        index.for_each_neighbour(entry.item, |n| {
            if seen.contains(&n.item) {
                return;
            }
            let contribution = weight * n.similarity();
            let slot = scores.entry(n.item).or_insert((0.0, entry.item, 0.0));
            slot.0 += contribution;
            if contribution > slot.2 {
                slot.1 = entry.item;
                slot.2 = contribution;
            }
        });
    }
    let mut ranked: Vec<(ItemId, (f64, ItemId, f64))> = scores.into_iter().collect();
    ranked.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then(a.0.cmp(&b.0)));
    ranked.truncate(query.n);
    let chosen: Vec<Recommended> = ranked
        .into_iter()
        .map(|(item, (score, because, _))| Recommended {
            item_id: catalog.item_name(item).to_string(),
            score,
            reason: Reason::BecauseOf { item_id: catalog.item_name(because).to_string() },
        })
        .collect();
    drop(catalog);
    backfill_popular(engine, chosen, query.n, |item| seen.contains(&item))
}

/// Items most similar to an item (external id); popular items for an unknown or isolated item.
pub fn similar(engine: &Engine, item: &str, n: usize) -> Vec<Recommended> {
    let catalog = engine.catalog();
    let Some(id) = catalog.item(item) else {
        drop(catalog);
        return backfill_popular(engine, Vec::new(), n, |_| false);
    };
    let chosen: Vec<Recommended> = engine
        .index()
        .neighbours(id)
        .into_iter()
        .take(n)
        .map(|nb| Recommended {
            item_id: catalog.item_name(nb.item).to_string(),
            score: nb.similarity(),
            reason: Reason::BecauseOf { item_id: item.to_string() },
        })
        .collect();
    drop(catalog);
    backfill_popular(engine, chosen, n, |other| other == id)
}

/// The most popular items by distinct users, for one event type or all.
pub fn popular(engine: &Engine, n: usize, event_type: Option<&str>) -> Vec<Recommended> {
    let catalog = engine.catalog();
    let event_type = match event_type {
        None => ANY_EVENT_TYPE,
        Some(name) => match catalog.event_type(name) {
            Some(id) => id,
            None => return Vec::new(),
        },
    };
    engine
        .index()
        .popular(event_type, n, |_| false)
        .into_iter()
        .map(|(item, users)| Recommended {
            item_id: catalog.item_name(item).to_string(),
            score: users as f64,
            reason: Reason::Popular,
        })
        .collect()
}

/// Items whose interaction count grew most from the previous interval to the current one (intervals of
/// `interval_buckets` trend buckets, ending at the newest event time); popular items when nothing grew.
pub fn trending(engine: &Engine, n: usize, interval_buckets: i64) -> Vec<Recommended> {
    let width = engine.config().params.trend_bucket_secs;
    let k = interval_buckets.max(1);
    let current = dataflows::score::trend_bucket(engine.index().clock(), width);
    let buckets = engine.index().trend_buckets(current - 2 * k + 1, current);
    let mut growth: HashMap<ItemId, (i64, i64)> = HashMap::new();
    for (bucket, counts) in buckets {
        let recent = bucket > current - k;
        for (item, count) in counts {
            let slot = growth.entry(item).or_default();
            if recent {
                slot.0 += count;
            } else {
                slot.1 += count;
            }
        }
    }
    let mut ranked: Vec<(ItemId, i64, i64)> =
        growth.into_iter().filter(|(_, (now, before))| now > before).map(|(i, (now, before))| (i, now - before, now)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
    let catalog = engine.catalog();
    let chosen: Vec<Recommended> = ranked
        .into_iter()
        .take(n)
        .map(|(item, grew, _)| Recommended {
            item_id: catalog.item_name(item).to_string(),
            score: grew as f64,
            reason: Reason::Trending,
        })
        .collect();
    drop(catalog);
    backfill_popular(engine, chosen, n, |_| false)
}

/// Tops `chosen` up to `n` items with popular items that are not excluded and not already chosen.
fn backfill_popular(engine: &Engine, mut chosen: Vec<Recommended>, n: usize, excluded: impl Fn(ItemId) -> bool) -> Vec<Recommended> {
    if chosen.len() >= n {
        return chosen;
    }
    let catalog = engine.catalog();
    let taken: HashSet<ItemId> = chosen.iter().filter_map(|r| catalog.item(&r.item_id)).collect();
    let fill = engine.index().popular(ANY_EVENT_TYPE, n - chosen.len(), |item| excluded(item) || taken.contains(&item));
    // Back-filled items rank below every chosen one, so their score is 0 rather than a user count.
    chosen.extend(fill.into_iter().map(|(item, _)| Recommended {
        item_id: catalog.item_name(item).to_string(),
        score: 0.0,
        reason: Reason::Popular,
    }));
    chosen
}
