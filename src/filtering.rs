//! Filters applied to an engine's answers, for every path that answers (Personalize runtime and batch jobs,
//! the native API, the CLI).
//!
//! Filtering happens before truncation: the recipe is asked for a deep candidate list, the bound filter
//! is evaluated per candidate (cheap lookups), and when fewer than `n` survive, popular items that pass the
//! filter back-fill the answer (their `reason` is [`Reason::Popular`]), until `n` items are found or the
//! catalogue is exhausted. The filter's data comes from the live engine, so an interaction filter sees an
//! event acknowledged a millisecond earlier.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use crate::engine::catalog::Catalog;
use crate::engine::Engine;
use crate::filter::{BoundFilter, EventTypeSet, FilterContext, FilterExpr};
use crate::model::record::{ItemRecord, UserRecord, Value};
use crate::recommend::{Reason, Recommended};

/// Who and what an answer is about.
#[derive(Clone, Copy, Debug, Default)]
pub struct Subject<'a> {
    /// The requesting user (interaction filters, `CurrentUser`, seen items in back-fill).
    pub user: Option<&'a str>,
    /// The item of a related-items request (`CurrentItem`).
    pub item: Option<&'a str>,
    /// A ranking of given items: filter them, never truncate or back-fill.
    pub ranking: bool,
}

/// A field by name: exact, else ignoring case and underscores (`genres` finds `GENRES`; PutItems spells
/// schema fields in camelCase).
pub fn field<'a>(fields: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .or_else(|| fields.iter().find(|(n, _)| crate::model::schema::same_field(n, name)))
        .map(|(_, v)| v)
}

/// What a filter reads, for one request, from the engine's catalog and index.
pub struct EngineContext<'a> {
    catalog: &'a Catalog,
    current_item: Option<&'a ItemRecord>,
    current_user: Option<&'a UserRecord>,
    /// Items the user interacted with, per event-type set the filter asks about.
    interacted: Vec<(EventTypeSet, HashSet<u32>)>,
}

impl<'a> EngineContext<'a> {
    /// Gathers, once per request, the user's interactions for every event-type set the filter uses.
    pub fn new(engine: &Engine, catalog: &'a Catalog, subject: &Subject, bound: &BoundFilter) -> EngineContext<'a> {
        let user = subject.user.and_then(|u| catalog.user(u));
        let index = engine.index();
        let mut interacted: Vec<(EventTypeSet, HashSet<u32>)> = Vec::new();
        for set in bound.event_type_sets() {
            if interacted.iter().any(|(s, _)| s == set) {
                continue;
            }
            let items: HashSet<u32> = match user {
                None => HashSet::new(),
                // Every item the user ever interacted with, for `*`.
                Some(u) if set.is_all() => index.affinities(u).into_keys().collect(),
                // The user's newest interactions of each matching type (the window Personalize also uses).
                Some(u) => (0..catalog.ids.event_types.len() as u32)
                    .filter(|&t| catalog.ids.event_types.name(t).is_some_and(|name| set.contains(name)))
                    .flat_map(|t| index.recent_of_type(u, t as u16))
                    .map(|e| e.item)
                    .collect(),
            };
            interacted.push((set.clone(), items));
        }
        EngineContext {
            catalog,
            current_item: subject.item.and_then(|i| catalog.item(i)).and_then(|i| catalog.items.get(&i)),
            current_user: user.and_then(|u| catalog.users.get(&u)),
            interacted,
        }
    }
}

impl FilterContext for EngineContext<'_> {
    fn candidate_field(&self, candidate: &str, name: &str) -> Option<Cow<'_, Value>> {
        let record = self.catalog.items.get(&self.catalog.item(candidate)?)?;
        if name == "CREATION_TIMESTAMP" {
            return record.creation_timestamp.map(|t| Cow::Owned(Value::Int(t)));
        }
        field(&record.fields, name).map(Cow::Borrowed)
    }

    fn current_item_field(&self, name: &str) -> Option<Cow<'_, Value>> {
        field(&self.current_item?.fields, name).map(Cow::Borrowed)
    }

    fn current_user_field(&self, name: &str) -> Option<Cow<'_, Value>> {
        field(&self.current_user?.fields, name).map(Cow::Borrowed)
    }

    fn interacted(&self, candidate: &str, event_types: &EventTypeSet) -> bool {
        let Some(item) = self.catalog.item(candidate) else { return false };
        self.interacted.iter().find(|(s, _)| s == event_types).is_some_and(|(_, items)| items.contains(&item))
    }
}

/// How many candidates to ask the recipe for, per wanted item, before falling back to popular items.
pub const DEPTH_FACTOR: usize = 8;

/// The answer of `recipe` (called with the number of candidates wanted) with `bound` applied before
/// truncation to `n`: a deep candidate list filtered, then popular items that pass the filter (not seen by
/// the user, not the current item) until `n` are found. A ranking keeps every allowed item it was given.
pub fn apply<E>(
    engine: &Engine,
    subject: &Subject,
    bound: &BoundFilter,
    n: usize,
    recipe: impl FnOnce(usize) -> Result<Vec<Recommended>, E>,
) -> Result<Vec<Recommended>, E> {
    let candidates = recipe((n * DEPTH_FACTOR).max(100))?;
    let catalog = engine.catalog();
    let ctx = EngineContext::new(engine, &catalog, subject, bound);
    let limit = if subject.ranking { usize::MAX } else { n };
    let mut out: Vec<Recommended> = Vec::with_capacity(n.min(1024));
    let mut taken: HashSet<String> = HashSet::new();
    for c in candidates {
        if out.len() >= limit {
            break;
        }
        if bound.allows(&ctx, &c.item_id) {
            taken.insert(c.item_id.clone());
            out.push(c);
        }
    }
    if out.len() >= n || subject.ranking {
        return Ok(out);
    }
    // Back-fill from popular items; the user's seen items stay out, as in the recipes' own back-fill.
    let seen: HashSet<u32> = match subject.user.and_then(|u| catalog.user(u)) {
        Some(u) => engine.index().affinities(u).into_keys().collect(),
        None => HashSet::new(),
    };
    let current = subject.item.and_then(|i| catalog.item(i));
    engine.index().walk_popular(dataflows::ANY_EVENT_TYPE, |item, _| {
        if seen.contains(&item) || current == Some(item) || catalog.hidden.contains(&item) {
            return true;
        }
        let name = catalog.item_name(item);
        if !taken.contains(name) && bound.allows(&ctx, name) {
            out.push(Recommended { item_id: name.to_string(), score: 0.0, reason: Reason::Popular });
        }
        out.len() < n
    });
    Ok(out)
}

/// Parses and binds a filter given inline (the native API's `filter` and `filterValues`, the CLI's
/// `--filter`): `None` when no expression is given or nothing is left to evaluate.
pub fn bind_inline(expression: Option<&str>, values: &HashMap<String, String>) -> Result<Option<BoundFilter>, String> {
    let Some(text) = expression.filter(|t| !t.trim().is_empty()) else { return Ok(None) };
    let parsed = FilterExpr::parse(text).map_err(|e| format!("filter: {e}"))?;
    let bound = parsed.bind(values).map_err(|e| format!("filterValues: {e}"))?;
    Ok(Some(bound).filter(|b| !b.is_noop()))
}

/// Answers with an optional filter: the recipe's own answer without one.
pub fn answer(
    engine: &Engine,
    subject: &Subject,
    bound: Option<&BoundFilter>,
    n: usize,
    recipe: impl FnOnce(usize) -> Vec<Recommended>,
) -> Vec<Recommended> {
    match bound {
        None => recipe(n),
        Some(bound) => match apply(engine, subject, bound, n, |depth| Ok::<_, std::convert::Infallible>(recipe(depth)))
        {
            Ok(items) => items,
            Err(never) => match never {},
        },
    }
}
