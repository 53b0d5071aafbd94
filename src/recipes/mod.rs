//! The recipes: named recommendation algorithms with documented hyperparameters, defaults and ranges,
//! under Personalize's names where one matches.
//!
//! Hyperparameters travel as strings (as in Personalize's `algorithmHyperParameters`) and are checked
//! against their recipe's definitions by [`resolve`], which names the parameter and the allowed range in
//! every error. Two kinds: *graph* parameters shape the dataflows (a new value needs its own engine),
//! *query* parameters only change how answers are scored.

pub mod als;
pub mod als_service;

use std::collections::BTreeMap;

/// The values a hyperparameter may take.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Range {
    /// An integer in `min..=max`.
    Integer(i64, i64),
    /// A number in `min..=max`.
    Continuous(f64, f64),
    /// One of these words.
    Categorical(&'static [&'static str]),
    /// Free text, checked by the recipe (e.g. event type weights `purchase=3,click=1`).
    Text,
}

/// Where a hyperparameter acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Shapes the dataflows: changing it needs a separately built engine.
    Graph,
    /// Only changes scoring at query time.
    Query,
}

/// One documented hyperparameter.
#[derive(Clone, Copy, Debug)]
pub struct HyperParameter {
    /// Name, as given in `algorithmHyperParameters` or `--param name=value`.
    pub name: &'static str,
    /// What it does.
    pub doc: &'static str,
    /// Default value.
    pub default: &'static str,
    /// Allowed values (and the tuner's search space).
    pub range: Range,
    /// Graph or query parameter.
    pub scope: Scope,
    /// The part of `range` that hyperparameter optimisation searches (`None`: not tuned).
    pub tune: Option<Range>,
}

/// What a recipe answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecipeKind {
    /// Items for a user.
    UserPersonalization,
    /// A given list of items reordered for a user.
    PersonalizedRanking,
    /// Items related to an item.
    RelatedItems,
    /// Items for everyone.
    PopularItems,
    /// The next item of a session.
    NextItem,
}

/// A recipe's definition.
#[derive(Clone, Copy, Debug)]
pub struct RecipeDef {
    /// streamrec's name (`user-personalization`).
    pub name: &'static str,
    /// The name in its ARN: Personalize's (`aws-user-personalization`) where one matches, else `streamrec-…`.
    pub arn_name: &'static str,
    /// What it answers.
    pub kind: RecipeKind,
    /// One paragraph for `ListRecipes` and `--help`.
    pub description: &'static str,
    /// Its hyperparameters.
    pub hyperparameters: &'static [HyperParameter],
}

impl RecipeDef {
    /// `arn:aws:personalize:::recipe/<arn_name>`.
    pub fn arn(&self) -> String {
        format!("arn:aws:personalize:::recipe/{}", self.arn_name)
    }

    /// The definition of one hyperparameter.
    pub fn hyperparameter(&self, name: &str) -> Option<&'static HyperParameter> {
        self.hyperparameters.iter().find(|h| h.name == name)
    }
}

const WINDOW: HyperParameter = HyperParameter {
    name: "window",
    doc: "Distinct items per user kept in the recent history that recommendations start from.",
    default: "100",
    range: Range::Integer(1, 1000),
    scope: Scope::Graph,
    tune: Some(Range::Integer(10, 200)),
};
const COOCCURRENCE_WINDOW: HyperParameter = HyperParameter {
    name: "cooccurrence_window",
    doc: "Distinct items per user in the window that co-occurrence is counted in (the graph's cost per event grows with it).",
    default: "40",
    range: Range::Integer(2, 1000),
    scope: Scope::Graph,
    tune: Some(Range::Integer(10, 100)),
};
const CANDIDATES: HyperParameter = HyperParameter {
    name: "candidates",
    doc: "Neighbour candidates kept per item by the dataflow: its most co-occurring partners.",
    default: "200",
    range: Range::Integer(10, 2000),
    scope: Scope::Graph,
    tune: Some(Range::Integer(50, 400)),
};
const NEIGHBOURS: HyperParameter = HyperParameter {
    name: "neighbours",
    doc: "Most similar neighbours (after normalising the candidates) used per history item.",
    default: "200",
    range: Range::Integer(1, 2000),
    scope: Scope::Query,
    tune: Some(Range::Integer(20, 400)),
};
const SIMILARITY: HyperParameter = HyperParameter {
    name: "similarity",
    doc: "How co-occurrence is normalised: cosine, jaccard or lift.",
    default: "cosine",
    range: Range::Categorical(&["cosine", "jaccard", "lift"]),
    scope: Scope::Graph,
    tune: Some(Range::Categorical(&["cosine", "jaccard", "lift"])),
};
const USER_TRIM: HyperParameter = HyperParameter {
    name: "user_trim_percentile",
    doc: "Users with more events than this percentile of all users are left out of co-occurrence (100: none).",
    default: "100",
    range: Range::Continuous(50.0, 100.0),
    scope: Scope::Graph,
    tune: None,
};
const MIN_COINTERACTION: HyperParameter = HyperParameter {
    name: "min_cointeraction_count",
    doc: "Pairs co-occurring in fewer users' windows are ignored.",
    default: "1",
    range: Range::Integer(1, 100),
    scope: Scope::Graph,
    tune: None,
};
const HISTORY_DECAY: HyperParameter = HyperParameter {
    name: "history_decay",
    doc: "Weight multiplier per step back in the user's history (the newest item weighs 1).",
    default: "0.9",
    range: Range::Continuous(0.5, 1.0),
    scope: Scope::Query,
    tune: Some(Range::Continuous(0.7, 1.0)),
};
const HALF_LIFE_DAYS: HyperParameter = HyperParameter {
    name: "recency_half_life_days",
    doc: "Days for a history item's weight to halve, measured from the user's newest event.",
    default: "30",
    range: Range::Continuous(0.01, 3650.0),
    scope: Scope::Graph,
    tune: Some(Range::Continuous(0.1, 365.0)),
};
const EVENT_TYPE_WEIGHTS: HyperParameter = HyperParameter {
    name: "event_type_weights",
    doc: "Weight of each event type in a user's history, e.g. `purchase=3,cart=2` (others weigh 1).",
    default: "",
    range: Range::Text,
    scope: Scope::Query,
    tune: None,
};
const POPULARITY_DISCOUNT: HyperParameter = HyperParameter {
    name: "popularity_discount_factor",
    doc: "Divides each candidate's score by its popularity to this power: 0 keeps popular items, 1 favours niche ones.",
    default: "0",
    range: Range::Continuous(0.0, 1.0),
    scope: Scope::Query,
    tune: Some(Range::Continuous(0.0, 0.2)),
};

/// Every recipe.
pub static RECIPES: &[RecipeDef] = &[
    RecipeDef {
        name: "user-personalization",
        arn_name: "aws-user-personalization",
        kind: RecipeKind::UserPersonalization,
        description: "The user's recent history, each item weighted by how recently the user showed interest in it \
                      and by its event type, times each history item's neighbours (co-occurrence in users' recent \
                      windows); items the user has seen are excluded; popular items back-fill. Updates with every event.",
        hyperparameters: &[
            WINDOW,
            COOCCURRENCE_WINDOW,
            CANDIDATES,
            NEIGHBOURS,
            SIMILARITY,
            MIN_COINTERACTION,
            USER_TRIM,
            HISTORY_DECAY,
            HALF_LIFE_DAYS,
            EVENT_TYPE_WEIGHTS,
            POPULARITY_DISCOUNT,
            HyperParameter {
                name: "exploration_weight",
                doc: "Share of the answer given to new (cold) items, placed among the personalised ones.",
                default: "0",
                range: Range::Continuous(0.0, 1.0),
                scope: Scope::Query,
                tune: None,
            },
            HyperParameter {
                name: "exploration_item_age_cut_off",
                doc: "Items created (or first seen) within this many days count as new for exploration.",
                default: "30",
                range: Range::Continuous(1.0, 365.0),
                scope: Scope::Query,
                tune: None,
            },
        ],
    },
    RecipeDef {
        name: "personalized-ranking",
        arn_name: "aws-personalized-ranking",
        kind: RecipeKind::PersonalizedRanking,
        description: "Reorders a given list of items for a user by the user-personalization score; items the engine \
                      does not know go last, in their given order.",
        hyperparameters: &[WINDOW, COOCCURRENCE_WINDOW, CANDIDATES, NEIGHBOURS, SIMILARITY, MIN_COINTERACTION, HISTORY_DECAY, HALF_LIFE_DAYS, EVENT_TYPE_WEIGHTS],
    },
    RecipeDef {
        name: "sims",
        arn_name: "aws-sims",
        kind: RecipeKind::RelatedItems,
        description: "Items that co-occur with the given item in users' recent windows, normalised, with an optional \
                      discount of popular items; popular items for unknown or sparse items.",
        hyperparameters: &[
            COOCCURRENCE_WINDOW,
            CANDIDATES,
            SIMILARITY,
            MIN_COINTERACTION,
            POPULARITY_DISCOUNT,
            USER_TRIM,
            HyperParameter {
                name: "item_trim_percentile",
                doc: "Related items more popular than this percentile of all items are left out (100: none). \
                      Extreme users are trimmed by user_trim_percentile.",
                default: "100",
                range: Range::Continuous(50.0, 100.0),
                scope: Scope::Query,
                tune: Some(Range::Continuous(90.0, 100.0)),
            },
        ],
    },
    RecipeDef {
        name: "popularity-count",
        arn_name: "aws-popularity-count",
        kind: RecipeKind::PopularItems,
        description: "Items by the number of distinct users who interacted with them, overall or for one event type.",
        hyperparameters: &[HyperParameter {
            name: "event_type",
            doc: "Count only this event type (empty: every type).",
            default: "",
            range: Range::Text,
            scope: Scope::Query,
            tune: None,
        }],
    },
    RecipeDef {
        name: "trending-now",
        arn_name: "aws-trending-now",
        kind: RecipeKind::PopularItems,
        description: "Items whose interaction count grew most from the previous interval to the current one; a new \
                      item can trend at once; popular items when nothing grew.",
        hyperparameters: &[HyperParameter {
            name: "interval",
            doc: "Length of the two compared intervals.",
            default: "1h",
            range: Range::Categorical(&["30m", "1h", "3h", "1d"]),
            scope: Scope::Query,
            tune: Some(Range::Categorical(&["30m", "1h", "3h", "1d"])),
        }],
    },
    RecipeDef {
        name: "next-item",
        arn_name: "streamrec-next-item",
        kind: RecipeKind::NextItem,
        description: "Session-based: predicts the next item from the session's newest items (a user's recent \
                      history, or an anonymous session's items), by the item-to-next-item transitions of every user's \
                      sequence, weighted by distance in the sequence and by position in the session \
                      (session kNN / STAN, Ludewig & Jannach 2018; Garg et al. 2019).",
        hyperparameters: &[
            HyperParameter {
                name: "transition_distance",
                doc: "Transitions are counted between events at most this many steps apart in a user's sequence.",
                default: "3",
                range: Range::Integer(1, 20),
                scope: Scope::Graph,
                tune: Some(Range::Integer(1, 6)),
            },
            HyperParameter {
                name: "session_length",
                doc: "The newest this many session items vote.",
                default: "5",
                range: Range::Integer(1, 100),
                scope: Scope::Query,
                tune: Some(Range::Integer(1, 30)),
            },
            HyperParameter {
                name: "position_decay",
                doc: "Weight multiplier per step back in the session (the newest item weighs 1).",
                default: "0.6",
                range: Range::Continuous(0.0, 1.0),
                scope: Scope::Query,
                tune: Some(Range::Continuous(0.2, 1.0)),
            },
            HyperParameter {
                name: "distance_decay",
                doc: "Weight multiplier per step of distance in a transition (the immediately next item weighs 1).",
                default: "0.5",
                range: Range::Continuous(0.0, 1.0),
                scope: Scope::Query,
                tune: Some(Range::Continuous(0.1, 1.0)),
            },
        ],
    },
    RecipeDef {
        name: "als",
        arn_name: "streamrec-als",
        kind: RecipeKind::UserPersonalization,
        description: "Matrix factorisation for implicit feedback (Hu, Koren & Volinsky 2008) solved with conjugate \
                      gradient; a user's vector is re-solved against the item factors with each of their events, \
                      and the item factors are refreshed with warm sweeps in the background.",
        hyperparameters: &[
            HyperParameter {
                name: "factors",
                doc: "Latent factors.",
                default: "64",
                range: Range::Integer(4, 512),
                scope: Scope::Graph,
                tune: Some(Range::Integer(16, 128)),
            },
            HyperParameter {
                name: "regularization",
                doc: "L2 regularisation of both factor matrices.",
                default: "0.1",
                range: Range::Continuous(0.0001, 100.0),
                scope: Scope::Graph,
                tune: Some(Range::Continuous(0.01, 50.0)),
            },
            HyperParameter {
                name: "alpha",
                doc: "Confidence per interaction: c = 1 + alpha · count.",
                default: "10",
                range: Range::Continuous(0.1, 200.0),
                scope: Scope::Graph,
                tune: Some(Range::Continuous(1.0, 100.0)),
            },
            HyperParameter {
                name: "iterations",
                doc: "Alternating sweeps of the initial training.",
                default: "15",
                range: Range::Integer(1, 100),
                scope: Scope::Graph,
                tune: Some(Range::Integer(5, 25)),
            },
            HyperParameter {
                name: "retrain_every",
                doc: "Events between warm sweeps of the item factors (0: never; users are always folded in at once).",
                default: "1000",
                range: Range::Integer(0, 10_000_000),
                scope: Scope::Graph,
                tune: None,
            },
        ],
    },
];

/// Every recipe and hyperparameter as text, for `streamrec recipes`.
pub fn describe() -> String {
    let mut out = String::new();
    for r in RECIPES {
        out.push_str(&format!("{} ({})\n  {}\n", r.name, r.arn(), r.description));
        for h in r.hyperparameters {
            let range = match h.range {
                Range::Integer(a, b) => format!("integer {a}..={b}"),
                Range::Continuous(a, b) => format!("number {a}..={b}"),
                Range::Categorical(o) => o.join(" | "),
                Range::Text => "text".to_string(),
            };
            let scope = if h.scope == Scope::Graph { "graph" } else { "query" };
            let tuned = if h.tune.is_some() { ", tuned" } else { "" };
            out.push_str(&format!(
                "  {:<30} default {:<8} {range} ({scope}{tuned})\n      {}\n",
                h.name,
                format!("{:?}", h.default),
                h.doc
            ));
        }
        out.push('\n');
    }
    out
}

/// Looks a recipe up by streamrec name, ARN name or full ARN.
pub fn find(name: &str) -> Option<&'static RecipeDef> {
    let name = name.strip_prefix("arn:aws:personalize:::recipe/").unwrap_or(name);
    RECIPES.iter().find(|r| r.name == name || r.arn_name == name)
}

/// A recipe's resolved hyperparameters: every defined one, given or defaulted, checked.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HyperValues(BTreeMap<String, String>);

/// Checks `given` against `recipe`'s definitions and fills in defaults. Errors name the parameter and why.
pub fn resolve(recipe: &RecipeDef, given: &BTreeMap<String, String>) -> Result<HyperValues, String> {
    for name in given.keys() {
        if recipe.hyperparameter(name).is_none() {
            let known: Vec<&str> = recipe.hyperparameters.iter().map(|h| h.name).collect();
            return Err(format!("{name}: not a hyperparameter of {} (known: {})", recipe.name, known.join(", ")));
        }
    }
    let mut values = BTreeMap::new();
    for h in recipe.hyperparameters {
        let value = given.get(h.name).map(String::as_str).unwrap_or(h.default).trim();
        check(h, value)?;
        values.insert(h.name.to_string(), value.to_string());
    }
    Ok(HyperValues(values))
}

fn check(h: &HyperParameter, value: &str) -> Result<(), String> {
    match h.range {
        Range::Integer(min, max) => match value.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(()),
            Ok(v) => Err(format!("{}: {v} is outside {min}..={max}", h.name)),
            Err(_) => Err(format!("{}: {value:?} is not an integer", h.name)),
        },
        Range::Continuous(min, max) => match value.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= min && v <= max => Ok(()),
            Ok(v) => Err(format!("{}: {v} is outside {min}..={max}", h.name)),
            Err(_) => Err(format!("{}: {value:?} is not a number", h.name)),
        },
        Range::Categorical(options) if options.contains(&value) => Ok(()),
        Range::Categorical(options) => Err(format!("{}: {value:?} is not one of {}", h.name, options.join(", "))),
        Range::Text => Ok(()),
    }
}

impl HyperValues {
    /// The value of a parameter (every defined parameter has one after [`resolve`]).
    pub fn text(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or("")
    }

    /// A numeric parameter; 0 if absent.
    pub fn number(&self, name: &str) -> f64 {
        self.text(name).parse().unwrap_or(0.0)
    }

    /// Whether the recipe has this parameter.
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// All values.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The graph parameters these values ask for, starting from `base`.
    pub fn graph_params(&self, base: &dataflows::Params) -> dataflows::Params {
        let mut p = base.clone();
        if self.has("window") {
            p.window.max_items = self.number("window") as usize;
        }
        if self.has("user_trim_percentile") {
            p.user_trim_percentile = self.number("user_trim_percentile");
        }
        if self.has("transition_distance") {
            p.transition_distance = self.number("transition_distance") as usize;
        }
        if self.has("cooccurrence_window") {
            p.cooccurrence_window.max_items = self.number("cooccurrence_window") as usize;
        }
        if self.has("candidates") {
            p.neighbours = self.number("candidates") as usize;
        }
        if self.has("similarity") {
            p.similarity = self.text("similarity").parse().unwrap_or_default();
        }
        if self.has("min_cointeraction_count") {
            p.min_cocount = self.number("min_cointeraction_count") as isize;
        }
        if self.has("recency_half_life_days") {
            p.affinity.half_life_secs = ((self.number("recency_half_life_days") * 86_400.0) as i64).max(1);
        }
        p
    }

    /// The graph-scoped values only, as a key telling which engines can be shared.
    pub fn graph_key(&self, recipe: &RecipeDef) -> String {
        recipe
            .hyperparameters
            .iter()
            .filter(|h| h.scope == Scope::Graph)
            .map(|h| format!("{}={}", h.name, self.text(h.name)))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Parses `event_type_weights` (`purchase=3,cart=2`).
pub fn parse_weights(text: &str) -> Result<Vec<(String, f64)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, weight) =
                pair.split_once('=').ok_or_else(|| format!("event_type_weights: {pair:?} is not TYPE=WEIGHT"))?;
            let weight: f64 =
                weight.trim().parse().map_err(|_| format!("event_type_weights: {weight:?} is not a number"))?;
            if !(weight.is_finite() && weight >= 0.0) {
                return Err(format!("event_type_weights: weight of {name} must be a non-negative number"));
            }
            Ok((name.trim().to_string(), weight))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_fill_in_and_values_are_checked() {
        let r = find("aws-user-personalization").unwrap();
        assert_eq!(r.name, "user-personalization");
        assert_eq!(find("arn:aws:personalize:::recipe/aws-sims").unwrap().name, "sims");
        let v = resolve(r, &given(&[("window", "20")])).unwrap();
        assert_eq!(v.number("window"), 20.0);
        assert_eq!(v.text("similarity"), "cosine");
        let p = v.graph_params(&dataflows::Params::default());
        assert_eq!(p.window.max_items, 20);
        assert_eq!(resolve(r, &given(&[("window", "0")])).unwrap_err(), "window: 0 is outside 1..=1000");
        assert!(resolve(r, &given(&[("windw", "20")])).unwrap_err().starts_with("windw: not a hyperparameter"));
        assert!(resolve(r, &given(&[("similarity", "euclid")])).unwrap_err().contains("not one of cosine"));
        assert!(resolve(r, &given(&[("history_decay", "x")])).unwrap_err().contains("not a number"));
    }

    #[test]
    fn every_default_is_valid_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for r in RECIPES {
            assert!(names.insert(r.name) && names.insert(r.arn_name));
            resolve(r, &BTreeMap::new()).unwrap_or_else(|e| panic!("{}: {e}", r.name));
        }
    }

    #[test]
    fn weights_parse() {
        assert_eq!(parse_weights("purchase=3, cart=2").unwrap(), vec![("purchase".into(), 3.0), ("cart".into(), 2.0)]);
        assert!(parse_weights("purchase").is_err());
        assert!(parse_weights("a=-1").is_err());
        assert!(parse_weights("").unwrap().is_empty());
    }
}
