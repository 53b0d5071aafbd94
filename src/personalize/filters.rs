//! Business rules on every answer: a filter (with its `filterValues`), a promotion, and `metadataColumns`.
//!
//! Filtering happens before truncation: the recipe is asked for a deep candidate list, the filter is
//! evaluated per candidate (cheap lookups on a [`BoundFilter`]), and when fewer than `numResults`
//! survive, popular items that pass the filter back-fill the answer (their `reason` says so). The
//! filter's data comes from the dataset group's live engine, so an interaction filter sees an event
//! acknowledged a millisecond earlier.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::error::AwsError;
use super::resource::{Fields, Kind};
use super::service::Personalize;
use super::serving::{predicted_item, Ask, Served};
use crate::engine::catalog::Catalog;
use crate::filter::{BoundFilter, FilterExpr};
use crate::filtering::{apply, field, Subject};
use crate::recommend::Recommended;

/// Most results with `metadataColumns` (Personalize's limit).
pub const MAX_RESULTS_WITH_METADATA: usize = 50;

/// A promotion of one request.
#[derive(Clone, Debug)]
pub struct Promotion {
    /// Its name, returned as `promotionName` on promoted items.
    pub name: String,
    /// Share of the answer to fill with promoted items (1–100).
    pub percent: usize,
    /// Its filter (which items are promoted).
    pub filter_arn: String,
    /// Values for that filter's parameters.
    pub filter_values: HashMap<String, String>,
}

/// The business-rule fields of a runtime request.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// Values for the filter's parameters.
    pub filter_values: HashMap<String, String>,
    /// At most one promotion.
    pub promotion: Option<Promotion>,
    /// Item fields to return with each item.
    pub metadata_columns: Vec<String>,
}

impl Request {
    /// Reads `filterValues`, `promotions` and `metadataColumns` with the model's limits.
    pub fn parse(f: &Fields) -> Result<Request, AwsError> {
        let filter_values = f.string_map("filterValues", 25)?.into_iter().collect();
        let promotion = match f.0.get("promotions") {
            None | Some(Value::Null) => None,
            Some(Value::Array(list)) if list.is_empty() => None,
            Some(Value::Array(list)) if list.len() == 1 => {
                let p = list[0].as_object().ok_or_else(|| AwsError::invalid("promotions[0]: expected an object"))?;
                let pf = Fields(p);
                let name = pf.name("name").map_err(|e| AwsError::invalid(format!("promotions[0].{}", e.message)))?;
                let percent = pf
                    .integer("percentPromotedItems", 1, 100)
                    .map_err(|e| AwsError::invalid(format!("promotions[0].{}", e.message)))?
                    .ok_or_else(|| AwsError::invalid("promotions[0].percentPromotedItems: required"))?;
                let filter_arn = pf
                    .arn("filterArn", Kind::Filter)
                    .map_err(|e| AwsError::invalid(format!("promotions[0].{}", e.message)))?;
                let filter_values = pf
                    .string_map("filterValues", 25)
                    .map_err(|e| AwsError::invalid(format!("promotions[0].{}", e.message)))?
                    .into_iter()
                    .collect();
                Some(Promotion {
                    name: name.into(),
                    percent: percent as usize,
                    filter_arn: filter_arn.into(),
                    filter_values,
                })
            }
            Some(Value::Array(list)) => {
                return Err(AwsError::invalid(format!("promotions: {} promotions; at most 1", list.len())))
            }
            Some(other) => return Err(AwsError::invalid(format!("promotions: expected a list, got {other}"))),
        };
        let metadata_columns = match f.0.get("metadataColumns") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(m)) => {
                let mut columns = Vec::new();
                for (dataset, list) in m {
                    if dataset != "ITEMS" {
                        return Err(AwsError::invalid(format!(
                            "metadataColumns: {dataset:?}: only ITEMS columns exist"
                        )));
                    }
                    let list = list
                        .as_array()
                        .ok_or_else(|| AwsError::invalid("metadataColumns.ITEMS: expected a list of column names"))?;
                    if list.len() > 99 {
                        return Err(AwsError::invalid("metadataColumns.ITEMS: at most 99 columns"));
                    }
                    for c in list {
                        let c =
                            c.as_str().ok_or_else(|| AwsError::invalid("metadataColumns.ITEMS: not a column name"))?;
                        columns.push(c.to_string());
                    }
                }
                columns
            }
            Some(other) => return Err(AwsError::invalid(format!("metadataColumns: expected a map, got {other}"))),
        };
        Ok(Request { filter_values, promotion, metadata_columns })
    }
}

/// A request's filter, parsed from its resource.
pub struct Prepared {
    filter: Option<Arc<FilterExpr>>,
}

/// Loads a filter of the served dataset group.
fn load_filter(service: &Personalize, field: &str, arn: &str, served: &Served) -> Result<Arc<FilterExpr>, AwsError> {
    let (group, filter) = service.filter(field, arn)?;
    if group != served.group_arn {
        return Err(AwsError::invalid(format!(
            "{field}: filter {arn} belongs to another dataset group than the campaign"
        )));
    }
    Ok(filter)
}

impl Prepared {
    /// The filter named by `filter_arn` (none: every item passes).
    pub fn load(service: &Personalize, filter_arn: Option<&str>, served: &Served) -> Result<Prepared, AwsError> {
        let filter = filter_arn.map(|arn| load_filter(service, "filterArn", arn, served)).transpose()?;
        Ok(Prepared { filter })
    }

    /// A batch line's answer: the filter bound to the line's `filterValues`.
    pub fn answer(
        &self,
        served: &Served,
        ask: &Ask,
        filter_values: &HashMap<String, String>,
    ) -> Result<Vec<Recommended>, AwsError> {
        let bound = self.bind(filter_values)?;
        filtered(served, ask, bound.as_ref(), ask.num_results)
    }

    fn bind(&self, values: &HashMap<String, String>) -> Result<Option<BoundFilter>, AwsError> {
        match &self.filter {
            None => Ok(None),
            Some(f) => {
                let bound = f.bind(values).map_err(|e| AwsError::invalid(format!("filterValues: {e}")))?;
                Ok(Some(bound).filter(|b| !b.is_noop()))
            }
        }
    }

    /// A runtime request's answer as `PredictedItem`s: filtered, promoted, with metadata.
    pub fn answer_request(
        &self,
        service: &Personalize,
        served: &Served,
        ask: &Ask,
        request: &Request,
    ) -> Result<Vec<Value>, AwsError> {
        if !request.metadata_columns.is_empty() && ask.num_results > MAX_RESULTS_WITH_METADATA {
            return Err(AwsError::invalid(format!(
                "numResults: {} with metadataColumns; at most {MAX_RESULTS_WITH_METADATA}",
                ask.num_results
            )));
        }
        let bound = self.bind(&request.filter_values)?;
        let mut items: Vec<(Recommended, Option<&str>)> =
            filtered(served, ask, bound.as_ref(), ask.num_results)?.into_iter().map(|r| (r, None)).collect();
        if let (Some(promotion), None) = (&request.promotion, &ask.input_list) {
            promote(service, served, ask, promotion, &mut items)?;
        }
        let catalog = served.engine.catalog();
        Ok(items
            .into_iter()
            .map(|(item, promotion)| {
                let mut out = predicted_item(&item);
                if let Some(name) = promotion {
                    out["promotionName"] = json!(name);
                }
                if !request.metadata_columns.is_empty() {
                    out["metadata"] = Value::Object(metadata(&catalog, &item.item_id, &request.metadata_columns));
                }
                out
            })
            .collect())
    }
}

/// The requested item fields, as strings (the model's `Metadata` map).
fn metadata(catalog: &Catalog, item: &str, columns: &[String]) -> Map<String, Value> {
    let record = catalog.item(item).and_then(|id| catalog.items.get(&id));
    columns.iter().filter_map(|c| Some((c.clone(), json!(field(&record?.fields, c)?.to_text()?)))).collect()
}

/// The recipe's answer with the filter applied before truncation (see [`crate::filtering::apply`]).
fn filtered(served: &Served, ask: &Ask, bound: Option<&BoundFilter>, n: usize) -> Result<Vec<Recommended>, AwsError> {
    let Some(bound) = bound else { return served.answer(&Ask { num_results: n, ..ask.clone() }) };
    let subject =
        Subject { user: ask.user_id.as_deref(), item: ask.item_id.as_deref(), ranking: ask.input_list.is_some() };
    apply(&served.engine, &subject, bound, n, |depth| served.answer(&Ask { num_results: depth, ..ask.clone() }))
}

/// Places the promotion's items as Personalize does: `percentPromotedItems` of the answer (rounded up) are
/// items that pass the promotion's filter (only that filter: the request's filter applies to the other
/// items), taken in the recipe's order; they go to random positions of the answer but keep their order
/// among themselves, and replace the lowest-ranked other items. With too few eligible items the answer has
/// as many promoted items as there are.
fn promote<'p>(
    service: &Personalize,
    served: &Served,
    ask: &Ask,
    promotion: &'p Promotion,
    items: &mut Vec<(Recommended, Option<&'p str>)>,
) -> Result<(), AwsError> {
    let n = ask.num_results;
    let wanted = (n * promotion.percent).div_ceil(100).min(n);
    if wanted == 0 {
        return Ok(());
    }
    let filter = load_filter(service, "promotions[0].filterArn", &promotion.filter_arn, served)?;
    let bound = filter
        .bind(&promotion.filter_values)
        .map_err(|e| AwsError::invalid(format!("promotions[0].filterValues: {e}")))?;
    let promoted: Vec<Recommended> = filtered(served, ask, Some(&bound).filter(|b| !b.is_noop()), wanted)?;
    let promoted_ids: HashSet<&str> = promoted.iter().map(|p| p.item_id.as_str()).collect();
    let mut others: Vec<(Recommended, Option<&'p str>)> =
        items.drain(..).filter(|(i, _)| !promoted_ids.contains(i.item_id.as_str())).collect();
    others.truncate(n.saturating_sub(promoted.len()));
    let total = others.len() + promoted.len();
    let mut slots: Vec<usize> =
        rand::seq::index::sample(&mut rand::thread_rng(), total, promoted.len()).into_iter().collect();
    slots.sort_unstable();
    let mut promoted = promoted.into_iter().peekable();
    let mut others = others.into_iter();
    let mut slots = slots.into_iter().peekable();
    for position in 0..total {
        if slots.peek() == Some(&position) {
            slots.next();
            if let Some(p) = promoted.next() {
                items.push((p, Some(promotion.name.as_str())));
            }
        } else if let Some(o) = others.next() {
            items.push(o);
        }
    }
    Ok(())
}
