//! What a campaign (or a batch job) answers: its solution version's recipe and hyperparameters applied to
//! the dataset group's live engine. GetRecommendations, GetPersonalizedRanking and batch inference all
//! come through [`Served::answer`], so a batch output line is exactly what the runtime would have said.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde_json::{json, Value};

use super::error::AwsError;
use super::resource::{Kind, Resource};
use super::service::Personalize;
use crate::engine::Engine;
use crate::recipes::{self, HyperValues, RecipeDef};
use crate::recommend::{self, Reason, Recommended, SessionQuery, UserQuery};

/// Most items one answer may have (Personalize's `numResults` limit).
pub const MAX_RESULTS: usize = 500;

/// A solution version ready to answer.
pub struct Served {
    /// The solution version.
    pub version_arn: String,
    /// Its dataset group.
    pub group_arn: String,
    /// Its recipe.
    pub recipe: &'static RecipeDef,
    /// Its resolved hyperparameters (tuned ones when it ran HPO).
    pub values: HyperValues,
    /// The dataset group's engine.
    pub engine: Arc<Engine>,
    /// A trained model (als).
    pub model: Option<Arc<crate::recipes::als_service::AlsService>>,
}

/// One question.
#[derive(Clone, Debug, Default)]
pub struct Ask {
    /// The user (user recipes, ranking).
    pub user_id: Option<String>,
    /// The item (related items).
    pub item_id: Option<String>,
    /// Items to rank (ranking).
    pub input_list: Option<Vec<String>>,
    /// How many items.
    pub num_results: usize,
    /// The request's context (`DEVICE` → `phone`): answers are conditioned on it.
    pub context: Vec<(String, String)>,
}

impl Served {
    /// What a campaign serves: its current solution version, with the campaign's exploration settings.
    /// Never waits for a model to train: an als version whose model is not loaded yet answers like
    /// user-personalization while it loads in the background.
    pub fn of_campaign(service: &Personalize, campaign: &Resource) -> Result<Served, AwsError> {
        let version = campaign.text("solutionVersionArn").unwrap_or_default();
        let mut served = Served::of_version(service, version, false)?;
        served.values = with_campaign_config(served.recipe, &served.values, campaign.doc.get("campaignConfig"))?;
        Ok(served)
    }

    /// What a solution version serves; `wait_for_model` trains a missing als model now (batch jobs) instead
    /// of in the background.
    pub fn of_version(service: &Personalize, version_arn: &str, wait_for_model: bool) -> Result<Served, AwsError> {
        let version = service.store.expect(version_arn, Kind::SolutionVersion)?;
        let (recipe, values) = version_values(&version)?;
        let group_arn = version.text("datasetGroupArn").unwrap_or_default().to_string();
        let engine = service.engine(&group_arn)?;
        let model = match recipe.name {
            "als" => super::work::als_model(service, version_arn, &values, &engine, wait_for_model),
            _ => None,
        };
        Ok(Served { version_arn: version_arn.to_string(), group_arn, recipe, values, engine, model })
    }

    /// The epoch a question about `ask` must see: the item's newest acknowledged write for related items,
    /// the user's for the user recipes, or every write for answers about everyone.
    pub fn freshness(&self, ask: &Ask) -> dataflows::Epoch {
        use recipes::RecipeKind::*;
        let user = ask.user_id.as_deref().map(|u| self.engine.user_epoch(u)).unwrap_or(0);
        let item = ask.item_id.as_deref().map(|i| self.engine.item_epoch(i)).unwrap_or(0);
        match self.recipe.kind {
            RelatedItems => item.max(user),
            PopularItems => self.engine.acknowledged(),
            UserPersonalization | PersonalizedRanking | NextItem => user,
        }
    }

    /// Answers a question (after the caller waited for [`Served::freshness`]), conditioned on its context
    /// when it has one ([`recommend::in_context`] reorders a deeper candidate list).
    pub fn answer(&self, ask: &Ask) -> Result<Vec<Recommended>, AwsError> {
        if ask.context.is_empty() {
            return self.answer_recipe(ask);
        }
        if ask.input_list.is_some() {
            return Ok(recommend::in_context(&self.engine, self.answer_recipe(ask)?, &ask.context));
        }
        let mut failure = None;
        let items = recommend::with_context(&self.engine, &ask.context, ask.num_results, |depth| {
            self.answer_recipe(&Ask { num_results: depth, ..ask.clone() }).unwrap_or_else(|e| {
                failure = Some(e);
                Vec::new()
            })
        });
        match failure {
            Some(e) => Err(e),
            None => Ok(items),
        }
    }

    /// The recipe's own answer.
    fn answer_recipe(&self, ask: &Ask) -> Result<Vec<Recommended>, AwsError> {
        use recipes::RecipeKind::*;
        let engine = &self.engine;
        let n = ask.num_results;
        let values = &self.values;
        let user = || {
            ask.user_id
                .as_deref()
                .ok_or_else(|| AwsError::invalid(format!("userId: required for a {} campaign", self.recipe.arn_name)))
        };
        if let Some(items) = &ask.input_list {
            if self.recipe.kind != PersonalizedRanking && self.recipe.kind != UserPersonalization {
                return Err(AwsError::invalid(format!(
                    "campaignArn: a {} campaign does not rank lists; use a personalized-ranking or user-personalization one",
                    self.recipe.arn_name
                )));
            }
            let query = UserQuery::from_recipe(values, items.len()).map_err(AwsError::invalid)?;
            return Ok(recommend::rank_for_user(engine, user()?, items, &query));
        }
        Ok(match (self.recipe.kind, self.recipe.name) {
            (PersonalizedRanking, _) => return Err(AwsError::invalid(
                "campaignArn: a personalized-ranking campaign answers GetPersonalizedRanking, not GetRecommendations",
            )),
            (UserPersonalization, "als") => {
                let user = user()?;
                let trained = self.model.as_ref().and_then(|m| m.recommend(engine, user, n));
                trained.unwrap_or_else(|| recommend::for_user(engine, user, &UserQuery::new(n)))
            }
            (UserPersonalization, _) => {
                let query = UserQuery::from_recipe(values, n).map_err(AwsError::invalid)?;
                recommend::for_user(engine, user()?, &query)
            }
            (NextItem, _) => {
                let user = user()?;
                let catalog = engine.catalog();
                let (session, seen): (Vec<String>, HashSet<u32>) = match catalog.user(user) {
                    Some(u) => (
                        engine.index().recent(u).iter().map(|e| catalog.item_name(e.item).to_string()).collect(),
                        engine.index().affinities(u).into_keys().collect(),
                    ),
                    None => (Vec::new(), HashSet::new()),
                };
                drop(catalog);
                recommend::next_items(engine, &session, &seen, &SessionQuery::from_recipe(values, n))
            }
            (RelatedItems, _) => {
                let item = ask.item_id.as_deref().ok_or_else(|| {
                    AwsError::invalid(format!("itemId: required for a {} campaign", self.recipe.arn_name))
                })?;
                recommend::similar(
                    engine,
                    item,
                    n,
                    values.number("popularity_discount_factor"),
                    values.number("item_trim_percentile"),
                )
            }
            (PopularItems, "trending-now") => {
                recommend::trending(engine, n, recommend::interval_secs(values.text("interval")).unwrap_or(3_600))
            }
            (PopularItems, _) => {
                let event_type = Some(values.text("event_type")).filter(|t| !t.is_empty());
                recommend::popular(engine, n, event_type)
            }
        })
    }
}

/// A solution version's recipe and resolved hyperparameters (tuned ones when it ran HPO).
pub fn version_values(version: &Resource) -> Result<(&'static RecipeDef, HyperValues), AwsError> {
    let recipe = super::control::recipe_of(version.text("recipeArn").unwrap_or_default())?;
    let tuned = version
        .doc
        .get("tunedHPOParams")
        .and_then(|t| t.get("algorithmHyperParameters"))
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default();
    let values = recipes::resolve(recipe, &tuned).map_err(AwsError::internal)?;
    Ok((recipe, values))
}

/// A version's values with a campaign config's `itemExplorationConfig` applied, checked against the
/// recipe's ranges (so CreateCampaign and UpdateCampaign refuse what requests would fail on).
pub fn with_campaign_config(
    recipe: &'static RecipeDef,
    values: &HyperValues,
    config: Option<&Value>,
) -> Result<HyperValues, AwsError> {
    let Some(exploration) = config.and_then(|c| c.get("itemExplorationConfig")) else { return Ok(values.clone()) };
    let mut given: BTreeMap<String, String> = values.iter().map(|(k, v)| (k.into(), v.into())).collect();
    for (from, to) in
        [("explorationWeight", "exploration_weight"), ("explorationItemAgeCutOff", "exploration_item_age_cut_off")]
    {
        if let (Some(v), true) = (exploration.get(from).and_then(Value::as_str), values.has(to)) {
            given.insert(to.into(), v.into());
        }
    }
    recipes::resolve(recipe, &given)
        .map_err(|e| AwsError::invalid(format!("campaignConfig.itemExplorationConfig: {e}")))
}

/// Personalize's `reason` strings for an item.
pub fn reason_text(reason: &Reason) -> String {
    match reason {
        Reason::BecauseOf { item_id } => format!("similar to item {item_id}"),
        Reason::Exploration => "exploration item".into(),
        Reason::Popular => "popular item".into(),
        Reason::Trending => "trending item".into(),
        Reason::Unscored => "no interactions to score by".into(),
        Reason::Factors => "latent factors".into(),
    }
}

/// A `PredictedItem` of the runtime API.
pub fn predicted_item(item: &Recommended) -> Value {
    json!({ "itemId": item.item_id, "score": item.score, "reason": [reason_text(&item.reason)] })
}

/// A fresh `recommendationId`.
pub fn recommendation_id() -> String {
    format!("RID-{:032x}", rand::random::<u128>())
}
