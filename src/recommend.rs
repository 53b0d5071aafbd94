//! Queries over the serving index: what a user should see next, a list reordered for a user, similar,
//! popular and trending items. Each recipe of [`crate::recipes`] answers through one of these.
//!
//! User recommendations score every neighbour `c` of the items `j` in the user's recent window by
//! `Σ_j weight_j · similarity(j, c) / popularity(c)^discount`, where
//! `weight_j = history_decay^rank_j · 2^(−age_j / half_life) · event_type_weight_j` (rank 0 is the newest item,
//! age is measured from the user's newest event), drop what the user has already interacted with, give an
//! `exploration_weight` share of the answer to new items, and back-fill from popular items. Every item carries
//! the reason it was chosen.

use std::collections::{HashMap, HashSet};

use rustc_hash::{FxHashMap, FxHashSet};

use dataflows::{ItemId, RecentEntry, ANY_EVENT_TYPE};
use serde::Serialize;

use crate::engine::Engine;
use crate::recipes::{parse_weights, HyperValues};

/// Why an item was recommended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase", tag = "kind")]
pub enum Reason {
    /// Similar to an item in the user's recent history (or to the item asked about).
    BecauseOf {
        /// External id of that item.
        item_id: String,
    },
    /// A new item shown to explore it.
    Exploration,
    /// Back-filled from popular items.
    Popular,
    /// Trending: its interaction count grew.
    Trending,
    /// In the list to rank, but the engine knows nothing to score it by.
    Unscored,
    /// Scored by the als recipe's latent factors.
    Factors,
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

/// Tunables of user recommendations (the query-scope hyperparameters of user-personalization).
#[derive(Clone, Debug)]
pub struct UserQuery {
    /// How many items.
    pub n: usize,
    /// Weight multiplier per step back in the user's history (newest item has weight 1).
    pub history_decay: f64,
    /// Whether items the user interacted with are excluded.
    pub exclude_seen: bool,
    /// Weight of history items by event type name (others weigh 1).
    pub event_type_weights: Vec<(String, f64)>,
    /// Exponent of the popularity discount of candidates (0: none).
    pub popularity_discount: f64,
    /// Share of the answer given to new items.
    pub exploration_weight: f64,
    /// Items created within this many seconds of the newest event are new.
    pub exploration_age_secs: i64,
    /// Most similar neighbours used per history item (after normalising the candidates).
    pub neighbours: usize,
    /// Related items more popular than this percentile of items are left out (100: none).
    pub item_trim_percentile: f64,
}

impl UserQuery {
    /// The default query for `n` items.
    pub fn new(n: usize) -> Self {
        UserQuery {
            n,
            history_decay: 0.9,
            exclude_seen: true,
            event_type_weights: Vec::new(),
            popularity_discount: 0.0,
            exploration_weight: 0.0,
            exploration_age_secs: 30 * 86_400,
            neighbours: 200,
            item_trim_percentile: 100.0,
        }
    }

    /// The query a recipe's resolved hyperparameters describe.
    pub fn from_recipe(values: &HyperValues, n: usize) -> Result<Self, String> {
        let mut q = UserQuery::new(n);
        if values.has("history_decay") {
            q.history_decay = values.number("history_decay");
        }
        if values.has("event_type_weights") {
            q.event_type_weights = parse_weights(values.text("event_type_weights"))?;
        }
        q.popularity_discount = values.number("popularity_discount_factor");
        q.exploration_weight = values.number("exploration_weight");
        if values.has("item_trim_percentile") {
            q.item_trim_percentile = values.number("item_trim_percentile");
        }
        if values.has("neighbours") {
            q.neighbours = values.number("neighbours") as usize;
        }
        if values.has("exploration_item_age_cut_off") {
            q.exploration_age_secs = (values.number("exploration_item_age_cut_off") * 86_400.0) as i64;
        }
        Ok(q)
    }
}

/// Per-candidate accumulated score and its strongest contributor.
struct Candidate {
    score: f64,
    because: ItemId,
    best: f64,
}

/// Scores candidates for a user from the recent window; returns (scores, seen items).
fn score_candidates(
    engine: &Engine,
    user: dataflows::UserId,
    query: &UserQuery,
) -> (FxHashMap<ItemId, Candidate>, FxHashSet<ItemId>) {
    let index = engine.index();
    let catalog = engine.catalog();
    let window: Vec<RecentEntry> = index.recent(user);
    let hidden = catalog.hidden.clone();
    let seen: FxHashSet<ItemId> =
        if query.exclude_seen { index.affinities(user).into_keys().collect() } else { FxHashSet::default() };
    let type_weights: HashMap<u16, f64> =
        query.event_type_weights.iter().filter_map(|(name, w)| catalog.event_type(name).map(|t| (t, *w))).collect();
    drop(catalog);
    let newest = window.last().map(|e| e.timestamp).unwrap_or(0);
    let half_life = engine.config().params.affinity.half_life_secs.max(1) as f64;
    // Fx, not SipHash: the keys are engine ids, and a query probes these maps thousands of times.
    let mut scores: FxHashMap<ItemId, Candidate> = FxHashMap::default();
    for (rank, entry) in window.iter().rev().enumerate() {
        let age = (newest - entry.timestamp).max(0) as f64;
        let weight = query.history_decay.powi(rank as i32)
            * (-age / half_life).exp2()
            * type_weights.get(&entry.event_type).copied().unwrap_or(1.0);
        // Items this far back contribute less than a thousandth of the newest one: not worth their lookups.
        if weight <= 1e-3 {
            continue;
        }
        for (neighbour, similarity) in normalised_neighbours(engine, entry.item, query.neighbours) {
            if seen.contains(&neighbour) || hidden.contains(&neighbour) {
                continue;
            }
            let contribution = weight * similarity;
            let slot = scores.entry(neighbour).or_insert(Candidate { score: 0.0, because: entry.item, best: 0.0 });
            slot.score += contribution;
            if contribution > slot.best {
                slot.because = entry.item;
                slot.best = contribution;
            }
        }
    }
    if query.popularity_discount > 0.0 {
        for (item, c) in scores.iter_mut() {
            let users = index.item_users(*item, ANY_EVENT_TYPE).max(1) as f64;
            c.score /= users.powf(query.popularity_discount);
        }
    }
    (scores, seen)
}

/// An item's `k` most similar neighbours: its co-occurrence candidates, normalised with the current window
/// counts by the engine's similarity measure; best first (ties to the lower id) when `k` cuts the list,
/// in candidate order otherwise.
pub fn normalised_neighbours(engine: &Engine, item: ItemId, k: usize) -> Vec<(ItemId, f64)> {
    let index = engine.index();
    let candidates = index.neighbours(item);
    let counts = index.window_counts(std::iter::once(item).chain(candidates.iter().map(|n| n.item)));
    let kind = engine.config().params.similarity;
    let mut scored: Vec<(ItemId, f64)> = candidates
        .iter()
        .zip(&counts[1..])
        .map(|(n, &nb)| {
            (n.item, dataflows::score::similarity(kind, n.cocount as isize, counts[0] as isize, nb as isize))
        })
        .collect();
    if k < scored.len() {
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(k);
    }
    scored
}

/// The `n` best-scoring candidates, best first (ties to the lower id), each because of its strongest
/// contributor.
fn best_candidates(engine: &Engine, scores: FxHashMap<ItemId, Candidate>, n: usize) -> Vec<Recommended> {
    let mut ranked: Vec<(ItemId, Candidate)> = scores.into_iter().collect();
    ranked.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));
    ranked.truncate(n);
    let catalog = engine.catalog();
    ranked
        .into_iter()
        .map(|(item, c)| Recommended {
            item_id: catalog.item_name(item).to_string(),
            score: c.score,
            reason: Reason::BecauseOf { item_id: catalog.item_name(c.because).to_string() },
        })
        .collect()
}

/// Recommendations for a user (external id); popular items for an unknown user.
pub fn for_user(engine: &Engine, user: &str, query: &UserQuery) -> Vec<Recommended> {
    let Some(user) = engine.catalog().user(user) else {
        return backfill_popular(engine, Vec::new(), query.n, |_| false);
    };
    let (scores, seen) = score_candidates(engine, user, query);
    let explore = explore_count(query);
    let mut chosen = best_candidates(engine, scores, query.n - explore);
    if explore > 0 {
        chosen = with_exploration(engine, chosen, explore, query, &seen);
    }
    backfill_popular(engine, chosen, query.n, |item| seen.contains(&item))
}

fn explore_count(query: &UserQuery) -> usize {
    ((query.n as f64 * query.exploration_weight).round() as usize).min(query.n)
}

/// Places `count` new items (created within the age cut-off of the newest event, not seen by the user,
/// fewest interactions first) at evenly spaced positions among `chosen`.
fn with_exploration(
    engine: &Engine,
    chosen: Vec<Recommended>,
    count: usize,
    query: &UserQuery,
    seen: &FxHashSet<ItemId>,
) -> Vec<Recommended> {
    let catalog = engine.catalog();
    let index = engine.index();
    let cutoff = index.clock() - query.exploration_age_secs;
    let taken: HashSet<&str> = chosen.iter().map(|r| r.item_id.as_str()).collect();
    let mut fresh: Vec<(i64, i64, ItemId)> = catalog
        .items
        .iter()
        .filter(|(item, record)| {
            record.creation_timestamp.is_some_and(|t| t >= cutoff)
                && !seen.contains(item)
                && !catalog.hidden.contains(item)
                && !taken.contains(catalog.item_name(**item))
        })
        .map(|(item, record)| {
            (index.item_events(*item, ANY_EVENT_TYPE), -record.creation_timestamp.unwrap_or(0), *item)
        })
        .collect();
    fresh.sort_unstable();
    let explored: Vec<Recommended> = fresh
        .into_iter()
        .take(count)
        .map(|(_, _, item)| Recommended {
            item_id: catalog.item_name(item).to_string(),
            score: 0.0,
            reason: Reason::Exploration,
        })
        .collect();
    if explored.is_empty() {
        return chosen;
    }
    let total = chosen.len() + explored.len();
    let stride = total as f64 / explored.len() as f64;
    let mut out = Vec::with_capacity(total);
    let (mut personal, mut explore) = (chosen.into_iter(), explored.into_iter().peekable());
    for position in 0..total {
        // Exploration slots sit at the end of each stride, so the first answer is always personalised.
        let slot = ((out.iter().filter(|r: &&Recommended| r.reason == Reason::Exploration).count() + 1) as f64 * stride)
            .ceil() as usize;
        if explore.peek().is_some() && position + 1 >= slot {
            out.extend(explore.next());
        } else if let Some(p) = personal.next() {
            out.push(p);
        } else {
            out.extend(explore.next());
        }
    }
    out
}

/// Tunables of next-item prediction.
#[derive(Clone, Debug)]
pub struct SessionQuery {
    /// How many items.
    pub n: usize,
    /// The newest this many session items are used.
    pub session_length: usize,
    /// Weight multiplier per step back in the session (the newest item weighs 1).
    pub position_decay: f64,
    /// Weight multiplier per step of distance in a transition (the next item weighs 1).
    pub distance_decay: f64,
}

impl SessionQuery {
    /// The defaults for `n` items.
    pub fn new(n: usize) -> Self {
        SessionQuery { n, session_length: 5, position_decay: 0.6, distance_decay: 0.5 }
    }

    /// The query a recipe's resolved hyperparameters describe.
    pub fn from_recipe(values: &HyperValues, n: usize) -> Self {
        SessionQuery {
            n,
            session_length: values.number("session_length").max(1.0) as usize,
            position_decay: values.number("position_decay"),
            distance_decay: values.number("distance_decay"),
        }
    }
}

/// The items most likely to come next after a session's items (oldest first), in the spirit of session
/// kNN / STAN: each of the newest `session_length` items `s` (weighted `position_decay^steps_back`) votes
/// for the items that followed it in users' sequences, `P(b | s) ≈ Σ_d distance_decay^(d−1) · count(s, b, d)`
/// normalised over `s`'s transitions; items in the session (and `exclude`) are skipped; similar items,
/// then popular items, back-fill. Works for anonymous sessions: it needs only the item sequence.
pub fn next_items(
    engine: &Engine,
    session: &[String],
    exclude: &HashSet<ItemId>,
    query: &SessionQuery,
) -> Vec<Recommended> {
    let catalog = engine.catalog();
    let items: Vec<ItemId> = session.iter().filter_map(|name| catalog.item(name)).collect();
    let hidden = catalog.hidden.clone();
    drop(catalog);
    let index = engine.index();
    let in_session: FxHashSet<ItemId> = items.iter().copied().collect();
    let mut scores: FxHashMap<ItemId, Candidate> = FxHashMap::default();
    for (back, &s) in items.iter().rev().take(query.session_length.max(1)).enumerate() {
        let mut votes: Vec<(ItemId, f64)> = Vec::new();
        let mut total = 0.0;
        index.for_each_transition(s, |b, d, c| {
            let w = query.distance_decay.powi(d as i32 - 1) * c as f64;
            total += w;
            if !in_session.contains(&b) && !exclude.contains(&b) {
                votes.push((b, w));
            }
        });
        let weight = query.position_decay.powi(back as i32) / total.max(1.0);
        for (b, w) in votes.into_iter().filter(|(b, _)| !hidden.contains(b)) {
            let contribution = weight * w;
            let slot = scores.entry(b).or_insert(Candidate { score: 0.0, because: s, best: 0.0 });
            slot.score += contribution;
            if contribution > slot.best {
                slot.because = s;
                slot.best = contribution;
            }
        }
    }
    let mut chosen = best_candidates(engine, scores, query.n);
    let catalog = engine.catalog();
    // Back-fill with neighbours of the newest session item, below every transition-based item.
    if chosen.len() < query.n {
        if let Some(&last) = items.last() {
            let taken: HashSet<String> = chosen.iter().map(|r| r.item_id.clone()).collect();
            let mut similar = normalised_neighbours(engine, last, usize::MAX);
            similar.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let fill: Vec<Recommended> = similar
                .into_iter()
                .filter(|(b, _)| !in_session.contains(b) && !exclude.contains(b) && !hidden.contains(b))
                .map(|(b, _)| (b, catalog.item_name(b).to_string()))
                .filter(|(_, name)| !taken.contains(name))
                .take(query.n - chosen.len())
                .map(|(_, name)| Recommended {
                    item_id: name,
                    score: 0.0,
                    reason: Reason::BecauseOf { item_id: catalog.item_name(last).to_string() },
                })
                .collect();
            chosen.extend(fill);
        }
    }
    drop(catalog);
    backfill_popular(engine, chosen, query.n, |item| in_session.contains(&item) || exclude.contains(&item))
}

/// Reorders `items` (external ids) for a user by the user-personalization score: scored items first (best
/// first), then known but unscored items by popularity, then items the engine does not know, in given order.
pub fn rank_for_user(engine: &Engine, user: &str, items: &[String], query: &UserQuery) -> Vec<Recommended> {
    let catalog = engine.catalog();
    let hidden = catalog.hidden.clone();
    // Hidden or deleted items vanish from the ranking like from every other answer.
    let items: Vec<String> =
        items.iter().filter(|name| !catalog.item(name).is_some_and(|i| hidden.contains(&i))).cloned().collect();
    let items = &items[..];
    let ids: Vec<Option<ItemId>> = items.iter().map(|name| catalog.item(name)).collect();
    let user = catalog.user(user);
    drop(catalog);
    let mut unrestricted = query.clone();
    unrestricted.exclude_seen = false;
    let scores = user.map(|u| score_candidates(engine, u, &unrestricted).0).unwrap_or_default();
    let index = engine.index();
    let mut known: Vec<(f64, i64, usize)> = Vec::new();
    let mut unknown = Vec::new();
    for (position, id) in ids.iter().enumerate() {
        match id {
            Some(item) => known.push((
                scores.get(item).map(|c| c.score).unwrap_or(0.0),
                index.item_users(*item, ANY_EVENT_TYPE),
                position,
            )),
            None => unknown.push(position),
        }
    }
    known.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    let catalog = engine.catalog();
    let mut out: Vec<Recommended> = known
        .into_iter()
        .map(|(score, _, position)| {
            let item = ids[position].expect("known");
            let reason = match scores.get(&item) {
                Some(c) if score > 0.0 => Reason::BecauseOf { item_id: catalog.item_name(c.because).to_string() },
                _ => Reason::Popular,
            };
            Recommended { item_id: items[position].clone(), score, reason }
        })
        .collect();
    out.extend(unknown.into_iter().map(|p| Recommended {
        item_id: items[p].clone(),
        score: 0.0,
        reason: Reason::Unscored,
    }));
    out
}

/// The popularity above which items count as extreme: the count at the `percentile`-th percentile of item
/// popularity (`None` at 100: nothing is trimmed).
fn trim_threshold(engine: &Engine, percentile: f64) -> Option<i64> {
    if percentile >= 100.0 {
        return None;
    }
    let ranked = engine.index().ranked_items(ANY_EVENT_TYPE);
    let rank = ((1.0 - percentile / 100.0) * ranked as f64).floor() as usize;
    engine.index().popularity_at_rank(ANY_EVENT_TYPE, rank)
}

/// Items most similar to an item (external id), popularity-discounted by `discount`, leaving out items more
/// popular than the `trim_percentile`-th percentile (ubiquitous items say little about similarity); popular
/// items for an unknown or isolated item.
pub fn similar(engine: &Engine, item: &str, n: usize, discount: f64, trim_percentile: f64) -> Vec<Recommended> {
    let threshold = trim_threshold(engine, trim_percentile);
    let catalog = engine.catalog();
    let Some(id) = catalog.item(item) else {
        drop(catalog);
        return backfill_popular(engine, Vec::new(), n, |_| false);
    };
    let index = engine.index();
    let hidden = catalog.hidden.clone();
    let mut scored: Vec<(f64, ItemId)> = normalised_neighbours(engine, id, usize::MAX)
        .into_iter()
        .filter(|(other, _)| !hidden.contains(other))
        .filter_map(|(other, similarity)| {
            let users = index.item_users(other, ANY_EVENT_TYPE);
            if threshold.is_some_and(|t| users > t) {
                return None;
            }
            Some((similarity / (users.max(1) as f64).powf(discount), other))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let chosen: Vec<Recommended> = scored
        .into_iter()
        .take(n)
        .map(|(score, other)| Recommended {
            item_id: catalog.item_name(other).to_string(),
            score,
            reason: Reason::BecauseOf { item_id: item.to_string() },
        })
        .collect();
    drop(catalog);
    backfill_popular(engine, chosen, n, |other| other == id)
}

/// The most popular items by distinct users, for one event type or all.
pub fn popular(engine: &Engine, n: usize, event_type: Option<&str>) -> Vec<Recommended> {
    let catalog = engine.catalog();
    let event_type = match event_type.filter(|t| !t.is_empty()) {
        None => ANY_EVENT_TYPE,
        Some(name) => match catalog.event_type(name) {
            Some(id) => id,
            None => return Vec::new(),
        },
    };
    engine
        .index()
        .popular(event_type, n, |item| catalog.hidden.contains(&item))
        .into_iter()
        .map(|(item, users)| Recommended {
            item_id: catalog.item_name(item).to_string(),
            score: users as f64,
            reason: Reason::Popular,
        })
        .collect()
}

/// Parses a trending interval (`30m`, `1h`, `3h`, `1d`) into seconds.
pub fn interval_secs(text: &str) -> Option<i64> {
    match text {
        "30m" => Some(1_800),
        "1h" => Some(3_600),
        "3h" => Some(3 * 3_600),
        "1d" => Some(86_400),
        _ => None,
    }
}

/// Items whose interaction count grew most from the previous interval to the current one (intervals of
/// `interval_secs`, rounded to whole trend buckets, ending at the newest event time); a new item grows from
/// zero, so it can trend at once; popular items back-fill when nothing grew.
pub fn trending(engine: &Engine, n: usize, interval_secs: i64) -> Vec<Recommended> {
    let width = engine.config().params.trend_bucket_secs.max(1);
    let k = (interval_secs / width).max(1);
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
    let hidden = engine.hidden_items();
    let mut ranked: Vec<(ItemId, i64, i64)> = growth
        .into_iter()
        .filter(|(item, (now, before))| now > before && !hidden.contains(item))
        .map(|(i, (now, before))| (i, now - before, now))
        .collect();
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
fn backfill_popular(
    engine: &Engine,
    mut chosen: Vec<Recommended>,
    n: usize,
    excluded: impl Fn(ItemId) -> bool,
) -> Vec<Recommended> {
    if chosen.len() >= n {
        return chosen;
    }
    let catalog = engine.catalog();
    let taken: HashSet<ItemId> = chosen.iter().filter_map(|r| catalog.item(&r.item_id)).collect();
    let fill = engine.index().popular(ANY_EVENT_TYPE, n - chosen.len(), |item| {
        excluded(item) || taken.contains(&item) || catalog.hidden.contains(&item)
    });
    // Back-filled items rank below every chosen one, so their score is 0 rather than a user count.
    chosen.extend(fill.into_iter().map(|(item, _)| Recommended {
        item_id: catalog.item_name(item).to_string(),
        score: 0.0,
        reason: Reason::Popular,
    }));
    chosen
}

/// Prior strength of [`in_context`]: an item needs about this many interactions before its own context mix
/// outweighs the catalogue's.
pub const CONTEXT_PRIOR: f64 = 10.0;

/// Conditions an answer on a request's context (`DEVICE` → `phone`, ...): each item's score is multiplied,
/// for every context value the engine has seen, by the item's smoothed lift in that context,
/// `((n_ic + α·p_c) / (n_i + α)) / p_c`, where `n_ic` counts the item's live interactions in the context,
/// `n_i` all of them, `p_c` is the share of all interactions in the context and `α` is [`CONTEXT_PRIOR`].
/// An item interacted with twice as often in the context as the catalogue is lifted about twice; an item
/// with little evidence stays near 1. The list is re-sorted by the new scores (stable, so back-filled items
/// keep their order at the end). Context values the engine never saw change nothing.
pub fn in_context(engine: &Engine, mut items: Vec<Recommended>, context: &[(String, String)]) -> Vec<Recommended> {
    let catalog = engine.catalog();
    let index = engine.index();
    let known: Vec<(u32, f64)> = context
        .iter()
        .filter_map(|(field, value)| {
            let id = catalog.ids.contexts.get(&format!("{}={value}", field.to_ascii_uppercase()))?;
            let share = index.context_share(id);
            (share > 0.0).then_some((id, share))
        })
        .collect();
    if known.is_empty() {
        return items;
    }
    for r in items.iter_mut() {
        let Some(item) = catalog.item(&r.item_id) else { continue };
        let all = index.item_events(item, ANY_EVENT_TYPE) as f64;
        for &(context, share) in &known {
            let here = index.context_count(item, context) as f64;
            let lift = ((here + CONTEXT_PRIOR * share) / (all + CONTEXT_PRIOR)) / share;
            // A lift above 1 must raise a negative score too (als scores can be below zero deep in a list).
            r.score = if r.score >= 0.0 { r.score * lift } else { r.score / lift };
        }
    }
    items.sort_by(|a, b| b.score.total_cmp(&a.score));
    items
}

/// A recipe's answer of `n` items conditioned on `context` ([`in_context`] over a deeper candidate list);
/// the recipe's own answer when there is no context.
pub fn with_context(
    engine: &Engine,
    context: &[(String, String)],
    n: usize,
    recipe: impl FnOnce(usize) -> Vec<Recommended>,
) -> Vec<Recommended> {
    if context.is_empty() {
        return recipe(n);
    }
    let mut items = in_context(engine, recipe((n * 4).max(100)), context);
    items.truncate(n);
    items
}
