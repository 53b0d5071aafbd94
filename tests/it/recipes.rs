//! Each recipe's documented behaviour, on small hand-made data through a real engine.

use std::collections::BTreeMap;

use streamrec::engine::{Engine, EngineConfig, Submission};
use streamrec::model::record::{Interaction, ItemRecord};
use streamrec::recipes::{find, resolve};
use streamrec::recommend::{self, Reason, UserQuery};

fn engine(dir: &std::path::Path) -> Engine {
    let mut config = EngineConfig::new(dir);
    config.fsync = false;
    Engine::open(config).unwrap()
}

fn event(user: &str, item: &str, timestamp: i64, event_type: &str) -> Submission {
    Submission::Interaction(Interaction {
        user_id: user.into(),
        item_id: item.into(),
        timestamp,
        event_type: Some(event_type.into()),
        event_value: None,
        impression: Vec::new(),
        recommendation_id: None,
        metadata: Vec::new(),
    })
}

fn ids(items: &[recommend::Recommended]) -> Vec<&str> {
    items.iter().map(|r| r.item_id.as_str()).collect()
}

/// Two tastes: a b c d co-occur among even users, x y z among odd users; `pop` is seen by everyone.
fn two_tastes(engine: &Engine) {
    let mut events = Vec::new();
    for u in 0..20 {
        let taste: &[&str] = if u % 2 == 0 { &["a", "b", "c", "d"] } else { &["x", "y", "z"] };
        for (k, item) in taste.iter().enumerate() {
            events.push(event(&format!("u{u}"), item, 1_000 + u * 10 + k as i64, "view"));
        }
        events.push(event(&format!("u{u}"), "pop", 1_000 + u * 10 + 9, "view"));
    }
    engine.submit_blocking(events).unwrap();
    engine.wait_for_acknowledged_blocking(std::time::Duration::from_secs(60)).unwrap();
}

fn settle(engine: &Engine, records: Vec<Submission>) {
    engine.submit_blocking(records).unwrap();
    engine.wait_for_acknowledged_blocking(std::time::Duration::from_secs(60)).unwrap();
}

#[test]
fn event_type_weights_decide_which_history_item_leads() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    two_tastes(&e);
    // The user viewed "a" last but bought "x" before it.
    settle(&e, vec![event("me", "x", 5_000, "purchase"), event("me", "a", 5_001, "view")]);
    let plain = recommend::for_user(&e, "me", &UserQuery::new(1));
    assert!(matches!(&plain[0].reason, Reason::BecauseOf { item_id } if item_id == "a"), "{plain:?}");
    let values = resolve(
        find("user-personalization").unwrap(),
        &BTreeMap::from([("event_type_weights".into(), "purchase=5".into())]),
    )
    .unwrap();
    let weighted = recommend::for_user(&e, "me", &UserQuery::from_recipe(&values, 1).unwrap());
    assert!(matches!(&weighted[0].reason, Reason::BecauseOf { item_id } if item_id == "x"), "{weighted:?}");
}

#[test]
fn exploration_gives_new_items_their_share() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    two_tastes(&e);
    // Two new items in the catalogue, created at the newest event time; one old item.
    settle(
        &e,
        ["fresh1", "fresh2", "old"]
            .iter()
            .map(|id| {
                Submission::Item(ItemRecord {
                    item_id: id.to_string(),
                    creation_timestamp: Some(if *id == "old" { 0 } else { 1_190 }),
                    fields: Vec::new(),
                })
            })
            .collect(),
    );
    settle(&e, vec![event("me", "a", 5_000, "view")]);
    let mut q = UserQuery::new(4);
    q.exploration_weight = 0.5;
    q.exploration_age_secs = 86_400;
    let answer = recommend::for_user(&e, "me", &q);
    let explored: Vec<&str> =
        answer.iter().filter(|r| r.reason == Reason::Exploration).map(|r| r.item_id.as_str()).collect();
    assert_eq!(explored.len(), 2, "{answer:?}");
    assert!(explored.contains(&"fresh1") && explored.contains(&"fresh2"));
    assert!(matches!(answer[0].reason, Reason::BecauseOf { .. }), "the first slot stays personalised: {answer:?}");
    q.exploration_weight = 0.0;
    assert!(recommend::for_user(&e, "me", &q).iter().all(|r| r.reason != Reason::Exploration));
}

#[test]
fn personalized_ranking_puts_unknown_items_last() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    two_tastes(&e);
    settle(&e, vec![event("me", "x", 5_000, "view")]);
    let list: Vec<String> = ["nope", "b", "y", "also-unknown", "z"].iter().map(|s| s.to_string()).collect();
    let ranked = recommend::rank_for_user(&e, "me", &list, &UserQuery::new(5));
    let order = ids(&ranked);
    assert_eq!(&order[3..], ["nope", "also-unknown"], "{ranked:?}");
    assert!(order[..2].contains(&"y") && order[..2].contains(&"z"), "x's neighbours lead: {ranked:?}");
    assert_eq!(order[2], "b");
    assert_eq!(ranked[4].reason, Reason::Unscored);
}

#[test]
fn popularity_discount_favours_niche_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    // a–pop co-occur in 10 users (pop has 40 users): cosine 0.5. a–niche in 2 (niche has 2): cosine 0.447.
    let mut events = Vec::new();
    for u in 0..10 {
        events.push(event(&format!("u{u}"), "a", 10 * u, "view"));
        events.push(event(&format!("u{u}"), "pop", 10 * u + 1, "view"));
    }
    for u in 0..2 {
        events.push(event(&format!("u{u}"), "niche", 10 * u + 2, "view"));
    }
    for u in 10..40 {
        events.push(event(&format!("u{u}"), "pop", 1_000 + u, "view"));
    }
    settle(&e, events);
    assert_eq!(ids(&recommend::similar(&e, "a", 2, 0.0, 100.0)), vec!["pop", "niche"]);
    assert_eq!(ids(&recommend::similar(&e, "a", 2, 1.0, 100.0)), vec!["niche", "pop"]);
    // Trimming the top third of items by popularity (pop, with 40 users) leaves niche, then back-fill.
    let trimmed = recommend::similar(&e, "a", 2, 0.0, 66.0);
    assert_eq!(trimmed[0].item_id, "niche", "{trimmed:?}");
    assert!(trimmed[1..].iter().all(|r| r.reason == Reason::Popular));
    // Unknown items get popular items.
    assert!(recommend::similar(&e, "unknown", 3, 0.0, 100.0).iter().all(|r| r.reason == Reason::Popular));
}

#[test]
fn trending_finds_new_items_and_falls_back_to_popular() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    // Nothing yet: no trend, no popularity.
    assert!(recommend::trending(&e, 3, 3_600).is_empty());
    // Hour 0: "steady" 5 events. Hour 1: "steady" 5 events, "rising" 4 events (a new item).
    let mut events = Vec::new();
    for i in 0..5 {
        events.push(event(&format!("s{i}"), "steady", 100 + i, "view"));
        events.push(event(&format!("t{i}"), "steady", 3_700 + i, "view"));
    }
    for i in 0..4 {
        events.push(event(&format!("r{i}"), "rising", 3_800 + i, "view"));
    }
    settle(&e, events);
    let answer = recommend::trending(&e, 2, 3_600);
    assert_eq!(ids(&answer), vec!["rising", "steady"]);
    assert_eq!(answer[0].reason, Reason::Trending);
    assert_eq!(answer[1].reason, Reason::Popular, "steady did not grow: back-filled");
    let popular = recommend::popular(&e, 2, None);
    assert_eq!(ids(&popular), vec!["steady", "rising"]);
    assert_eq!(ids(&recommend::popular(&e, 2, Some("nosuchtype"))), Vec::<&str>::new());
}

#[test]
fn next_item_follows_sequences_and_weighs_distance() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    // Ten users go a → b → c; three go a → x. Timestamps decide the order, not arrival: post them reversed.
    let mut events = Vec::new();
    for u in 0..10 {
        for (k, item) in ["a", "b", "c"].iter().enumerate() {
            events.push(event(&format!("s{u}"), item, 100 * u + k as i64, "view"));
        }
    }
    for u in 10..13 {
        events.push(event(&format!("s{u}"), "a", 100 * u, "view"));
        events.push(event(&format!("s{u}"), "x", 100 * u + 1, "view"));
    }
    events.reverse();
    settle(&e, events);
    let q = recommend::SessionQuery::new(3);
    let none = std::collections::HashSet::new();
    // After "a": b (next, 10 times) beats c (two steps, 10 times, halved) beats x (next, 3 times).
    let after_a = recommend::next_items(&e, &["a".to_string()], &none, &q);
    assert_eq!(ids(&after_a), vec!["b", "c", "x"]);
    assert!(matches!(&after_a[0].reason, Reason::BecauseOf { item_id } if item_id == "a"));
    // After "a, b": c leads, and the session's own items are never proposed.
    let after_ab = recommend::next_items(&e, &["a".to_string(), "b".to_string()], &none, &q);
    assert_eq!(after_ab[0].item_id, "c");
    assert!(ids(&after_ab).iter().all(|i| *i != "a" && *i != "b"));
    // Unknown items in an anonymous session are ignored; an empty session gets popular items.
    let unknown = recommend::next_items(&e, &["nope".to_string()], &none, &q);
    assert!(unknown.iter().all(|r| r.reason == Reason::Popular));
}

#[test]
fn sims_trims_extreme_users() {
    // Ten ordinary users each see one pair (p_i, q_i); one crawler sees every item.
    let run = |trim: f64| {
        let dir = tempfile::tempdir().unwrap();
        let mut config = EngineConfig::new(dir.path());
        config.fsync = false;
        config.params.user_trim_percentile = trim;
        let e = Engine::open(config).unwrap();
        let mut events = Vec::new();
        for i in 0..10 {
            events.push(event(&format!("u{i}"), &format!("p{i}"), 10 * i, "view"));
            events.push(event(&format!("u{i}"), &format!("q{i}"), 10 * i + 1, "view"));
            events.push(event("crawler", &format!("p{i}"), 1_000 + 2 * i, "view"));
            events.push(event("crawler", &format!("q{i}"), 1_000 + 2 * i + 1, "view"));
        }
        settle(&e, events);
        let similar: Vec<(String, Reason)> =
            recommend::similar(&e, "p0", 5, 0.0, 100.0).into_iter().map(|r| (r.item_id, r.reason)).collect();
        e.shutdown();
        similar
    };
    // With everyone, the crawler ties p0 to every item it saw.
    let all = run(100.0);
    assert!(all.iter().filter(|(_, r)| matches!(r, Reason::BecauseOf { .. })).count() >= 5, "{all:?}");
    // Trimming users above the 90th percentile of activity (the crawler) leaves only p0's real partner.
    let trimmed = run(90.0);
    assert_eq!(trimmed[0].0, "q0", "{trimmed:?}");
    assert!(trimmed[1..].iter().all(|(_, r)| *r == Reason::Popular), "{trimmed:?}");
}
