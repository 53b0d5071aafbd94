//! The evaluation protocols of `shared/baselines/PROTOCOLS.md`, over any [`Model`].

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::dataset::Dataset;
use super::metrics::{NextMetrics, OfflineAccumulator, OfflineMetrics};

/// A recommender under evaluation: fed events by index into the data set, asked for top-n lists.
pub trait Model {
    /// Feeds these events (indexes into the data set, in order); later answers must reflect them.
    fn feed(&mut self, data: &Dataset, events: &[usize]) -> anyhow::Result<()>;
    /// The top `n` items for `user`, best first, none of them in `exclude`.
    fn recommend(&mut self, data: &Dataset, user: u32, n: usize, exclude: &HashSet<u32>) -> anyhow::Result<Vec<u32>>;
}

/// The index of the first test event: floor(0.9 × N).
pub fn cut(data: &Dataset) -> usize {
    data.events.len() * 9 / 10
}

/// Each user's items.
type Histories = HashMap<u32, HashSet<u32>>;

/// Feeds the training part to the model; returns the cut, each user's training items, and the items seen.
fn train(data: &Dataset, model: &mut dyn Model) -> anyhow::Result<(usize, Histories, HashSet<u32>)> {
    let cut = cut(data);
    model.feed(data, &(0..cut).collect::<Vec<_>>())?;
    let mut history: HashMap<u32, HashSet<u32>> = HashMap::new();
    let mut items = HashSet::new();
    for e in &data.events[..cut] {
        history.entry(e.user).or_default().insert(e.item);
        items.insert(e.item);
    }
    Ok((cut, history, items))
}

/// HOLDOUT: global temporal split; top 25 per test user from training data only.
pub fn holdout(data: &Dataset, model: &mut dyn Model) -> anyhow::Result<OfflineMetrics> {
    let (cut, history, train_items) = train(data, model)?;
    let mut truth: HashMap<u32, HashSet<u32>> = HashMap::new();
    for e in &data.events[cut..] {
        if let Some(h) = history.get(&e.user) {
            if !h.contains(&e.item) && train_items.contains(&e.item) {
                truth.entry(e.user).or_default().insert(e.item);
            }
        }
    }
    let mut users: Vec<u32> = truth.keys().copied().collect();
    users.sort_unstable();
    let mut acc = OfflineAccumulator::default();
    for user in users {
        let ranked = model.recommend(data, user, 25, &history[&user])?;
        acc.add(&ranked, &truth[&user]);
    }
    Ok(acc.finish(train_items.len()))
}

/// NEXT: prequential replay of the test period, a top 10 before each eligible event, then the event.
pub fn next(data: &Dataset, model: &mut dyn Model) -> anyhow::Result<NextMetrics> {
    let (cut, mut history, mut known_items) = train(data, model)?;
    let mut m = NextMetrics::default();
    let (mut hits, mut rr) = (0.0, 0.0);
    let (mut recommend_secs, mut feed_secs) = (0.0, 0.0);
    let empty = HashSet::new();
    for index in cut..data.events.len() {
        let e = data.events[index];
        let user_history = history.get(&e.user);
        if user_history.is_none() {
            m.skipped_new_user += 1;
        } else if !known_items.contains(&e.item) {
            m.skipped_new_item += 1;
        } else if user_history.is_some_and(|h| h.contains(&e.item)) {
            m.skipped_repeat += 1;
        } else {
            let started = Instant::now();
            let ranked = model.recommend(data, e.user, 10, user_history.unwrap_or(&empty))?;
            recommend_secs += started.elapsed().as_secs_f64();
            if let Some(rank) = ranked.iter().take(10).position(|i| *i == e.item) {
                hits += 1.0;
                rr += 1.0 / (rank + 1) as f64;
            }
            m.evaluated_events += 1;
        }
        let started = Instant::now();
        model.feed(data, &[index])?;
        feed_secs += started.elapsed().as_secs_f64();
        history.entry(e.user).or_default().insert(e.item);
        known_items.insert(e.item);
    }
    let n = m.evaluated_events.max(1) as f64;
    m.hit_rate_at_10 = hits / n;
    m.mean_reciprocal_rank_at_10 = rr / n;
    m.seconds_per_recommendation = recommend_secs / n;
    m.seconds_per_event = feed_secs / (data.events.len() - cut).max(1) as f64;
    Ok(m)
}

/// PERSONALIZE: 90% of users (seeded shuffle) train with all their events; each test user's oldest 90%
/// of events are input, the newest 10% (at least one) truth.
pub fn personalize(data: &Dataset, model: &mut dyn Model, seed: u64) -> anyhow::Result<OfflineMetrics> {
    let mut users: Vec<u32> = (0..data.users.len() as u32).collect();
    users.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    let test_users: HashSet<u32> = users[..users.len() / 10].iter().copied().collect();
    let mut per_user: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, e) in data.events.iter().enumerate() {
        if test_users.contains(&e.user) {
            per_user.entry(e.user).or_default().push(i);
        }
    }
    let mut fed = Vec::new();
    let mut truth_events = HashSet::new();
    for events in per_user.values() {
        let n_truth = (events.len() / 10).max(1);
        truth_events.extend(events[events.len() - n_truth..].iter().copied());
    }
    let mut history: HashMap<u32, HashSet<u32>> = HashMap::new();
    let mut train_items = HashSet::new();
    for (i, e) in data.events.iter().enumerate() {
        if !truth_events.contains(&i) {
            fed.push(i);
            train_items.insert(e.item);
            if test_users.contains(&e.user) {
                history.entry(e.user).or_default().insert(e.item);
            }
        }
    }
    model.feed(data, &fed)?;
    let mut truth: HashMap<u32, HashSet<u32>> = HashMap::new();
    for &i in &truth_events {
        let e = data.events[i];
        let seen = history.get(&e.user).is_some_and(|h| h.contains(&e.item));
        if !seen && train_items.contains(&e.item) {
            truth.entry(e.user).or_default().insert(e.item);
        }
    }
    let mut evaluated: Vec<u32> = truth.keys().copied().collect();
    evaluated.sort_unstable();
    let mut acc = OfflineAccumulator::default();
    let empty = HashSet::new();
    for user in evaluated {
        let ranked = model.recommend(data, user, 25, history.get(&user).unwrap_or(&empty))?;
        acc.add(&ranked, &truth[&user]);
    }
    Ok(acc.finish(train_items.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::models::PopularityBaseline;
    use crate::model::record::Interaction;

    /// Training popularity p 12, q 9, s 9, r 6 users; then a new user, a new item, a repeat, and one
    /// evaluable event (u10 → r, ranked third after q and s).
    fn data() -> Dataset {
        let mut rows = Vec::new();
        let mut push = |user: String, item: &str| {
            let timestamp = rows.len() as i64;
            rows.push(Interaction {
                user_id: user,
                item_id: item.to_string(),
                timestamp,
                event_type: None,
                event_value: None,
                impression: Vec::new(),
                recommendation_id: None,
                metadata: Vec::new(),
            })
        };
        for (item, users) in [("p", 12), ("q", 9), ("r", 6), ("s", 9)] {
            for u in 0..users {
                push(format!("u{u}"), item);
            }
        }
        push("u100".into(), "p");
        push("u0".into(), "t");
        push("u0".into(), "p");
        push("u10".into(), "r");
        Dataset::from_interactions(rows)
    }

    #[test]
    fn next_skips_and_scores_as_specified() {
        let data = data();
        assert_eq!(cut(&data), 36);
        let m = next(&data, &mut PopularityBaseline::default()).unwrap();
        assert_eq!((m.skipped_new_user, m.skipped_new_item, m.skipped_repeat, m.evaluated_events), (1, 1, 1, 1));
        assert_eq!(m.hit_rate_at_10, 1.0);
        assert!((m.mean_reciprocal_rank_at_10 - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn holdout_truth_excludes_history_and_unseen_items() {
        let data = data();
        let m = holdout(&data, &mut PopularityBaseline::default()).unwrap();
        // u0's test items are a repeat (p) and an item absent from training (t): dropped. Only u10 remains.
        assert_eq!(m.evaluated_users, 1);
        assert!((m.mean_reciprocal_rank_at_25 - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.precision_at_5, 0.2);
        assert_eq!(m.recall_at_10, 1.0);
        assert_eq!(m.coverage, 0.75); // q, s, r recommended of p, q, r, s
    }

    #[test]
    fn personalize_splits_users_and_keeps_the_newest_tenth_as_truth() {
        let data = data();
        let m = personalize(&data, &mut PopularityBaseline::default(), 42).unwrap();
        assert!(m.evaluated_users <= data.users.len() / 10);
        let again = personalize(&data, &mut PopularityBaseline::default(), 42).unwrap();
        assert_eq!(m, again, "a fixed seed gives the same split");
    }
}
