//! The `als` recipe served live: item factors trained in the background from the engine's current
//! user–item interactions (on a schedule, or on demand), and each user's vector solved at query time from
//! their current history against those item factors, so every acknowledged event counts at once.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::als::{AlsModel, AlsParams, Interactions};
use crate::engine::Engine;
use crate::recommend::{Reason, Recommended};

/// The trained item factors, swapped atomically when a retraining finishes.
#[derive(Default)]
pub struct AlsService {
    params: AlsParams,
    model: RwLock<Option<Arc<AlsModel>>>,
    trained_at_epoch: std::sync::atomic::AtomicU64,
}

impl AlsService {
    /// A service with these parameters and no model yet.
    pub fn new(params: AlsParams) -> Self {
        AlsService { params, ..Default::default() }
    }

    /// Trains from the engine's current interactions (warm-starting from the previous model) and swaps the
    /// new model in. Returns the seconds it took.
    pub fn retrain(&self, engine: &Engine) -> f64 {
        let started = Instant::now();
        let epoch = engine.published();
        let (users, items) = {
            let catalog = engine.catalog();
            (catalog.ids.users.len(), catalog.ids.items.len())
        };
        let mut data = Interactions::new(users, items);
        engine.index().for_each_history(|user, history| {
            for item in history {
                data.add(user, item, 1.0);
            }
        });
        data.finalize();
        let previous = self.model.read().unwrap().clone();
        let model = match previous {
            Some(m) => m.retrain(&data),
            None => AlsModel::train(&data, &self.params),
        };
        *self.model.write().unwrap() = Some(Arc::new(model));
        self.trained_at_epoch.store(epoch, std::sync::atomic::Ordering::Release);
        started.elapsed().as_secs_f64()
    }

    /// Whether a model has been trained.
    pub fn is_trained(&self) -> bool {
        self.model.read().unwrap().is_some()
    }

    /// The top `n` items for a user (external id) by their vector, solved now from their current history;
    /// `None` when there is no model yet or the engine knows nothing of the user.
    pub fn recommend(&self, engine: &Engine, user: &str, n: usize) -> Option<Vec<Recommended>> {
        let model = self.model.read().unwrap().clone()?;
        let catalog = engine.catalog();
        let user = catalog.user(user)?;
        let seen: HashSet<u32> = engine.index().affinities(user).into_keys().collect();
        if seen.is_empty() {
            return None;
        }
        let history: Vec<(u32, f32)> = seen.iter().map(|&i| (i, 1.0)).collect();
        let vector = model.fold_in(&history);
        Some(
            model
                .top_n(&vector, n, &|item| seen.contains(&item) || catalog.hidden.contains(&item))
                .into_iter()
                .map(|(item, score)| Recommended {
                    item_id: catalog.item_name(item).to_string(),
                    score: score as f64,
                    reason: Reason::Factors,
                })
                .collect(),
        )
    }

    /// Retrains every `every` while events arrive, until `stop` is set (the server's background task).
    /// The first training waits one period too, so it never competes with the start-up replay.
    pub fn run_schedule(
        self: Arc<Self>,
        engine: Arc<crate::api::AppState>,
        every: Duration,
        stop: Arc<std::sync::atomic::AtomicBool>,
    ) {
        let mut trained_for = u64::MAX;
        loop {
            let until = Instant::now() + every;
            while Instant::now() < until {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            let epoch = engine.engine.published();
            if epoch != trained_for {
                let secs = self.retrain(&engine.engine);
                tracing::info!(seconds = secs, "retrained the als item factors");
                trained_for = epoch;
            }
        }
    }
}
