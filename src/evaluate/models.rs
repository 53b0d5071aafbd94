//! Models under evaluation: a plain popularity baseline (to check the protocols against the published
//! baseline figures), and any streamrec recipe served by a scratch engine fed event by event.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::dataset::Dataset;
use super::protocols::Model;
use super::RecipeName;
use crate::engine::{Engine, EngineConfig, Submission};
use crate::recommend::{self, UserQuery};

/// Distinct users per item, updated online; ties to the lower item id (the baselines' POP).
#[derive(Default)]
pub struct PopularityBaseline {
    users: HashMap<u32, HashSet<u32>>,
}

impl Model for PopularityBaseline {
    fn feed(&mut self, data: &Dataset, events: &[usize]) -> anyhow::Result<()> {
        for &i in events {
            let e = data.events[i];
            self.users.entry(e.item).or_default().insert(e.user);
        }
        Ok(())
    }

    fn recommend(&mut self, _: &Dataset, _: u32, n: usize, exclude: &HashSet<u32>) -> anyhow::Result<Vec<u32>> {
        let mut ranked: Vec<(usize, u32)> =
            self.users.iter().filter(|(i, _)| !exclude.contains(i)).map(|(i, u)| (u.len(), *i)).collect();
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        Ok(ranked.into_iter().take(n).map(|(_, i)| i).collect())
    }
}

/// A recipe served by a scratch engine (no fsync), fed through the same sequencer and dataflows as a
/// server, so its figures are the engine's own.
pub struct EngineModel {
    engine: Engine,
    recipe: RecipeName,
    query: UserQuery,
    session: recommend::SessionQuery,
    trend_interval: i64,
    item_ids: HashMap<String, u32>,
    scratch: std::path::PathBuf,
}

impl EngineModel {
    /// Starts a scratch engine with `config` (its data directory is deleted afterwards).
    pub fn new(
        mut config: EngineConfig,
        recipe: RecipeName,
        query: UserQuery,
        trend_interval: i64,
        data: &Dataset,
    ) -> anyhow::Result<Self> {
        let _ = std::fs::remove_dir_all(&config.data_dir);
        config.fsync = false;
        let scratch = config.data_dir.clone();
        let engine = Engine::open(config)?;
        let item_ids = data.items.iter().enumerate().map(|(i, n)| (n.clone(), i as u32)).collect();
        let session = recommend::SessionQuery::new(query.n);
        Ok(EngineModel { engine, recipe, query, session, trend_interval, item_ids, scratch })
    }
}

impl EngineModel {
    /// Uses these next-item tunables.
    pub fn with_session_query(mut self, session: recommend::SessionQuery) -> Self {
        self.session = session;
        self
    }
}

impl Drop for EngineModel {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

impl Model for EngineModel {
    fn feed(&mut self, data: &Dataset, events: &[usize]) -> anyhow::Result<()> {
        for chunk in events.chunks(500_000) {
            let records = chunk.iter().map(|&i| Submission::Interaction(data.interaction(i))).collect();
            self.engine.submit_blocking(records)?;
        }
        self.engine.wait_for_acknowledged_blocking(Duration::from_secs(3600))
    }

    fn recommend(&mut self, data: &Dataset, user: u32, n: usize, exclude: &HashSet<u32>) -> anyhow::Result<Vec<u32>> {
        let name = &data.users[user as usize];
        let answer = match self.recipe {
            RecipeName::UserPersonalization => {
                let query = UserQuery { n: n + exclude.len().min(n), ..self.query.clone() };
                recommend::for_user(&self.engine, name, &query)
            }
            RecipeName::PopularityCount => recommend::popular(&self.engine, n + exclude.len(), None),
            RecipeName::Sims => {
                let newest =
                    self.engine.catalog().user(name).and_then(|u| self.engine.index().recent(u).last().copied());
                match newest {
                    Some(entry) => {
                        let item = self.engine.catalog().item_name(entry.item).to_string();
                        recommend::similar(
                            &self.engine,
                            &item,
                            n + exclude.len(),
                            self.query.popularity_discount,
                            self.query.item_trim_percentile,
                        )
                    }
                    None => recommend::popular(&self.engine, n + exclude.len(), None),
                }
            }
            RecipeName::TrendingNow => recommend::trending(&self.engine, n + exclude.len(), self.trend_interval),
            RecipeName::NextItem => {
                let user = self.engine.catalog().user(name);
                let (session, seen) = match user {
                    Some(u) => {
                        let index = self.engine.index();
                        let catalog = self.engine.catalog();
                        let session: Vec<String> =
                            index.recent(u).iter().map(|e| catalog.item_name(e.item).to_string()).collect();
                        (session, index.affinities(u).into_keys().collect())
                    }
                    None => (Vec::new(), HashSet::new()),
                };
                let query = recommend::SessionQuery { n: n + exclude.len().min(n), ..self.session.clone() };
                recommend::next_items(&self.engine, &session, &seen, &query)
            }
            RecipeName::Als | RecipeName::BaselinePop => {
                anyhow::bail!("{:?} is not served by the engine", self.recipe)
            }
            RecipeName::PersonalizedRanking => {
                let mut ranked = recommend::rank_for_user(&self.engine, name, &data.items, &self.query);
                ranked.truncate(n + exclude.len());
                ranked
            }
        };
        Ok(answer
            .into_iter()
            .filter_map(|r| self.item_ids.get(&r.item_id).copied())
            .filter(|i| !exclude.contains(i))
            .take(n)
            .collect())
    }
}

/// The `als` recipe under evaluation: item factors trained on the first feed, each later event folds its
/// user in at once (an exact least-squares solve against the fixed item factors), and the item factors are
/// refreshed with warm sweeps every `retrain_every` events — what the serving side does in the background.
pub struct AlsEvaluator {
    params: crate::recipes::als::AlsParams,
    retrain_every: usize,
    data: crate::recipes::als::Interactions,
    model: Option<crate::recipes::als::AlsModel>,
    history: HashMap<u32, Vec<(u32, f32)>>,
    popularity: PopularityBaseline,
    since_retrain: usize,
}

impl AlsEvaluator {
    /// A model with these parameters.
    pub fn new(params: crate::recipes::als::AlsParams, retrain_every: usize, data: &Dataset) -> Self {
        AlsEvaluator {
            params,
            retrain_every,
            data: crate::recipes::als::Interactions::new(data.users.len(), data.items.len()),
            model: None,
            history: HashMap::new(),
            popularity: PopularityBaseline::default(),
            since_retrain: 0,
        }
    }
}

impl Model for AlsEvaluator {
    fn feed(&mut self, data: &Dataset, events: &[usize]) -> anyhow::Result<()> {
        self.popularity.feed(data, events)?;
        let mut touched = HashSet::new();
        for &i in events {
            let e = data.events[i];
            self.data.add(e.user, e.item, 1.0);
            let items = self.history.entry(e.user).or_default();
            match items.iter_mut().find(|(item, _)| *item == e.item) {
                Some(slot) => slot.1 += 1.0,
                None => items.push((e.item, 1.0)),
            }
            touched.insert(e.user);
        }
        self.since_retrain += events.len();
        match &mut self.model {
            None => {
                self.data.finalize();
                self.model = Some(crate::recipes::als::AlsModel::train(&self.data, &self.params));
                self.since_retrain = 0;
            }
            Some(model) if self.retrain_every > 0 && self.since_retrain >= self.retrain_every => {
                self.data.finalize();
                model.iterate(&self.data, 1);
                self.since_retrain = 0;
            }
            Some(model) => {
                for user in touched {
                    let vector = model.fold_in(&self.history[&user]);
                    model.set_user(user, vector);
                }
            }
        }
        Ok(())
    }

    fn recommend(&mut self, data: &Dataset, user: u32, n: usize, exclude: &HashSet<u32>) -> anyhow::Result<Vec<u32>> {
        match self.model.as_ref().and_then(|m| m.user_vector(user).map(|v| (m, v.to_vec()))) {
            Some((model, vector)) if self.history.contains_key(&user) => {
                Ok(model.top_n(&vector, n, &|item| exclude.contains(&item)).into_iter().map(|(i, _)| i).collect())
            }
            _ => self.popularity.recommend(data, user, n, exclude),
        }
    }
}
