//! Property tests of filters on live engine answers: under random catalogues (categories, prices, hidden
//! items), random histories with event types, random filters and parameter values, no answer ever holds an
//! item the filter excludes (checked against a plain-loop reading of each expression), and filtering
//! happens before truncation: whenever `n` eligible items exist, `n` come back.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use proptest::prelude::*;
use streamrec::engine::{Engine, EngineConfig, Submission};
use streamrec::filtering::{self, Subject};
use streamrec::model::record::{Interaction, ItemRecord, Value};
use streamrec::recommend::{self, UserQuery};

const CATEGORIES: [&str; 4] = ["a", "b", "c", "d"];

#[derive(Clone, Debug)]
struct Shop {
    /// Per item: category index and price (None: no PRICE field).
    items: Vec<(usize, Option<u8>)>,
    /// (user, item, event type: purchase?) in time order.
    events: Vec<(usize, usize, bool)>,
    hidden: Vec<usize>,
}

fn shop() -> impl Strategy<Value = Shop> {
    (6usize..30).prop_flat_map(|items| {
        (
            prop::collection::vec((0..CATEGORIES.len(), prop::option::of(0u8..10)), items),
            prop::collection::vec((0usize..8, 0..items, prop::bool::weighted(0.2)), 10..120),
            prop::collection::vec(0..items, 0..3),
        )
            .prop_map(|(items, events, hidden)| Shop { items, events, hidden })
    })
}

/// A filter template and its parameter values.
#[derive(Clone, Debug)]
enum Rule {
    IncludeCategories(Vec<usize>),
    ExcludeCategories(Vec<usize>),
    ExcludeCategoriesWithoutValue,
    ExcludePricier(u8),
    IncludeCheapNotCategory(u8, usize),
    ExcludePurchased,
    IncludeCategoriesExcludeSeen(Vec<usize>),
}

fn rule() -> impl Strategy<Value = Rule> {
    let cats = || prop::collection::vec(0..CATEGORIES.len(), 1..3);
    prop_oneof![
        cats().prop_map(Rule::IncludeCategories),
        cats().prop_map(Rule::ExcludeCategories),
        Just(Rule::ExcludeCategoriesWithoutValue),
        (0u8..10).prop_map(Rule::ExcludePricier),
        (0u8..10, 0..CATEGORIES.len()).prop_map(|(p, c)| Rule::IncludeCheapNotCategory(p, c)),
        Just(Rule::ExcludePurchased),
        cats().prop_map(Rule::IncludeCategoriesExcludeSeen),
    ]
}

fn quoted(cats: &[usize]) -> String {
    cats.iter().map(|&c| format!("\"{}\"", CATEGORIES[c])).collect::<Vec<_>>().join(",")
}

impl Rule {
    fn expression(&self) -> (String, HashMap<String, String>) {
        let values = |cats: &[usize]| HashMap::from([("C".to_string(), quoted(cats))]);
        match self {
            Rule::IncludeCategories(c) => ("INCLUDE ItemID WHERE Items.CATEGORY IN ($C)".into(), values(c)),
            Rule::ExcludeCategories(c) => ("EXCLUDE ItemID WHERE Items.CATEGORY IN ($C)".into(), values(c)),
            Rule::ExcludeCategoriesWithoutValue => {
                ("EXCLUDE ItemID WHERE Items.CATEGORY IN ($C)".into(), HashMap::new())
            }
            Rule::ExcludePricier(p) => (format!("EXCLUDE ItemID WHERE Items.PRICE > {p}"), HashMap::new()),
            Rule::IncludeCheapNotCategory(p, c) => (
                format!("INCLUDE ItemID WHERE Items.PRICE <= {p} AND Items.CATEGORY NOT IN (\"{}\")", CATEGORIES[*c]),
                HashMap::new(),
            ),
            Rule::ExcludePurchased => {
                ("EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (\"purchase\")".into(), HashMap::new())
            }
            Rule::IncludeCategoriesExcludeSeen(c) => (
                "INCLUDE ItemID WHERE Items.CATEGORY IN ($C) | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (\"*\")"
                    .into(),
                values(c),
            ),
        }
    }

    /// The plain reading of the rule for one item and one (optional) user.
    fn allows(&self, shop: &Shop, item: usize, user: Option<usize>) -> bool {
        let (category, price) = shop.items[item];
        let did = |purchase_only: bool| {
            user.is_some_and(|u| shop.events.iter().any(|&(eu, ei, p)| eu == u && ei == item && (p || !purchase_only)))
        };
        match self {
            Rule::IncludeCategories(c) => c.contains(&category),
            Rule::ExcludeCategories(c) => !c.contains(&category),
            Rule::ExcludeCategoriesWithoutValue => true,
            // A missing PRICE compares false, so it is never "pricier".
            Rule::ExcludePricier(p) => price.is_none_or(|x| x <= *p),
            Rule::IncludeCheapNotCategory(p, c) => price.is_some_and(|x| x <= *p) && category != *c,
            Rule::ExcludePurchased => !did(true),
            Rule::IncludeCategoriesExcludeSeen(c) => c.contains(&category) && !did(false),
        }
    }
}

fn open(shop: &Shop) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(dir.path().join("data"));
    config.workers = 1;
    config.fsync = false;
    let engine = Engine::open(config).unwrap();
    let mut records: Vec<Submission> = shop
        .items
        .iter()
        .enumerate()
        .map(|(i, (c, p))| {
            let mut fields = vec![("CATEGORY".to_string(), Value::Categories(vec![CATEGORIES[*c].to_string()]))];
            if let Some(p) = p {
                fields.push(("PRICE".to_string(), Value::Float(*p as f64)));
            }
            fields.push(("HIDDEN".to_string(), Value::Bool(shop.hidden.contains(&i))));
            Submission::Item(ItemRecord { item_id: format!("i{i}"), creation_timestamp: None, fields })
        })
        .collect();
    for (t, &(u, i, purchase)) in shop.events.iter().enumerate() {
        records.push(Submission::Interaction(Interaction {
            user_id: format!("u{u}"),
            item_id: format!("i{i}"),
            timestamp: 1_000 + t as i64,
            event_type: Some(if purchase { "purchase" } else { "view" }.to_string()),
            event_value: None,
            impression: Vec::new(),
            recommendation_id: None,
            metadata: Vec::new(),
        }));
    }
    engine.submit_blocking(records).unwrap();
    engine.wait_for_acknowledged_blocking(Duration::from_secs(60)).unwrap();
    (dir, engine)
}

fn index_of(id: &str) -> usize {
    id.trim_start_matches('i').parse().unwrap()
}

/// Checks one answer: only allowed, visible, distinct items, at most `n`, and exactly `n` when that many
/// eligible items exist.
fn check(what: &str, answer: &[recommend::Recommended], eligible: &HashSet<usize>, n: usize) {
    let ids: Vec<usize> = answer.iter().map(|r| index_of(&r.item_id)).collect();
    let distinct: HashSet<usize> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), ids.len(), "{what}: duplicates in {ids:?}");
    assert!(ids.len() <= n, "{what}: {} items for n = {n}", ids.len());
    for i in &ids {
        assert!(eligible.contains(i), "{what}: i{i} is not eligible (eligible: {eligible:?})");
    }
    assert_eq!(ids.len(), n.min(eligible.len()), "{what}: {ids:?} of eligible {eligible:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn filtered_answers_hold_only_eligible_items_and_as_many_as_exist(
        shop in shop(),
        rule in rule(),
        n in 1usize..20,
    ) {
        let (_dir, engine) = open(&shop);
        let (expression, values) = rule.expression();
        let bound = filtering::bind_inline(Some(&expression), &values).unwrap();
        let interacted: HashSet<usize> = shop.events.iter().map(|e| e.1).collect();
        let visible = |i: &usize| interacted.contains(i) && !shop.hidden.contains(i);
        for user in 0..3usize {
            let name = format!("u{user}");
            let seen: HashSet<usize> = shop.events.iter().filter(|e| e.0 == user).map(|e| e.1).collect();
            let eligible: HashSet<usize> = (0..shop.items.len())
                .filter(|i| visible(i) && !seen.contains(i) && rule.allows(&shop, *i, Some(user)))
                .collect();
            let subject = Subject { user: Some(&name), ..Default::default() };
            let answer = filtering::answer(&engine, &subject, bound.as_ref(), n, |depth| {
                recommend::for_user(&engine, &name, &UserQuery::new(depth))
            });
            check(&format!("{expression} for {name}"), &answer, &eligible, n);
        }
        let everyone: HashSet<usize> =
            (0..shop.items.len()).filter(|i| visible(i) && rule.allows(&shop, *i, None)).collect();
        let popular = filtering::answer(&engine, &Subject::default(), bound.as_ref(), n, |depth| {
            recommend::popular(&engine, depth, None)
        });
        check(&format!("{expression}: popular"), &popular, &everyone, n);
        let trending = filtering::answer(&engine, &Subject::default(), bound.as_ref(), n, |depth| {
            recommend::trending(&engine, depth, 3_600)
        });
        check(&format!("{expression}: trending"), &trending, &everyone, n);
        let item = shop.events[0].1;
        let current = format!("i{item}");
        let related: HashSet<usize> = everyone.iter().copied().filter(|&i| i != item).collect();
        let subject = Subject { item: Some(&current), ..Default::default() };
        let similar = filtering::answer(&engine, &subject, bound.as_ref(), n, |depth| {
            recommend::similar(&engine, &current, depth, 0.0, 100.0)
        });
        check(&format!("{expression}: similar to {current}"), &similar, &related, n);
    }
}
