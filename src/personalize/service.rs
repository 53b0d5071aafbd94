//! The Personalize service's state: the resource catalog, one engine per dataset group, event trackers,
//! and the lifecycle that takes every resource from `CREATE PENDING` through `CREATE IN_PROGRESS` to
//! `ACTIVE` (or `CREATE FAILED` with a reason) while its work runs on a background thread.
//!
//! A resource's work is derived from its stored document alone ([`super::work::perform`]), so after a
//! restart every resource still pending or in progress simply starts again.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;
use serde_json::{json, Map, Value};

use super::error::AwsError;
use super::resource::{now_seconds, status, ArnSpace, Kind, Resource};
use super::store::ResourceStore;
use crate::engine::{Engine, EngineConfig};
use crate::recipes::als_service::AlsService;

/// How the Personalize APIs are served.
#[derive(Clone, Debug)]
pub struct PersonalizeConfig {
    /// Region in ARNs (and the region signatures are checked for).
    pub region: String,
    /// Account id in ARNs.
    pub account: String,
    /// Access key id → secret access key, for SigV4 verification.
    pub access_keys: HashMap<String, String>,
    /// Whether requests must carry a valid SigV4 signature (off only for local development).
    pub verify_signatures: bool,
    /// Timely workers of each dataset group's engine.
    pub engine_workers: usize,
    /// Directories `file://` locations must be under (empty: anywhere the server's user can reach).
    pub file_roots: Vec<PathBuf>,
}

impl Default for PersonalizeConfig {
    fn default() -> Self {
        PersonalizeConfig {
            region: "us-east-1".into(),
            account: "000000000000".into(),
            access_keys: HashMap::new(),
            verify_signatures: true,
            engine_workers: 2,
            file_roots: Vec::new(),
        }
    }
}

/// Most dataset groups one server runs (each has its own engine threads).
pub const MAX_DATASET_GROUPS: usize = 50;

/// The service.
pub struct Personalize {
    /// Configuration.
    pub config: PersonalizeConfig,
    /// ARN builder.
    pub arns: ArnSpace,
    /// The resource catalog.
    pub store: ResourceStore,
    root: PathBuf,
    groups: RwLock<HashMap<String, Arc<Engine>>>,
    trackers: RwLock<HashMap<String, String>>,
    models: Arc<Mutex<HashMap<String, Arc<AlsService>>>>,
    /// Versions whose model is being trained in the background.
    training: Mutex<std::collections::HashSet<String>>,
    /// Parsed filters by ARN, with their dataset group: parsed once, not on every request that names them.
    filters: Mutex<HashMap<String, (String, Arc<crate::filter::FilterExpr>)>>,
    stops: Mutex<HashMap<String, Arc<AtomicBool>>>,
}

impl Personalize {
    /// Opens the catalog under `data_dir/personalize`, opens the engine of every active dataset group, and
    /// restarts the work of resources a previous run left unfinished.
    pub fn open(data_dir: &std::path::Path, config: PersonalizeConfig) -> anyhow::Result<Arc<Personalize>> {
        let root = data_dir.join("personalize");
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        let store = ResourceStore::open(&root.join("catalog.redb"))?;
        let arns = ArnSpace { region: config.region.clone(), account: config.account.clone() };
        let service = Arc::new(Personalize {
            config,
            arns,
            store,
            root,
            groups: RwLock::new(HashMap::new()),
            trackers: RwLock::new(HashMap::new()),
            models: Arc::new(Mutex::new(HashMap::new())),
            training: Mutex::new(std::collections::HashSet::new()),
            filters: Mutex::new(HashMap::new()),
            stops: Mutex::new(HashMap::new()),
        });
        let mut unfinished = Vec::new();
        let all = service.store.all().map_err(|e| anyhow::anyhow!("{e}"))?;
        let owned: std::collections::HashSet<String> = all
            .iter()
            .filter(|r| r.kind == Kind::DatasetGroup)
            .filter_map(|r| r.text("name").map(str::to_string))
            .collect();
        service.sweep_orphans(&owned);
        for resource in all {
            match (resource.kind, resource.status()) {
                (Kind::DatasetGroup, status::ACTIVE) => {
                    let name = resource.text("name").unwrap_or_default().to_string();
                    service.open_group(&resource.arn, &name)?;
                }
                (Kind::EventTracker, _) => {
                    if let (Some(id), Some(group)) = (resource.text("trackingId"), resource.text("datasetGroupArn")) {
                        service.trackers.write().unwrap().insert(id.to_string(), group.to_string());
                    }
                }
                _ => {}
            }
            if is_unfinished(resource.status()) || has_pending_update(&resource) {
                unfinished.push(resource);
            }
        }
        // Groups first: the other resources' work needs their engines.
        unfinished.sort_by_key(|r| r.kind != Kind::DatasetGroup);
        for resource in unfinished {
            service.resume(resource);
        }
        Ok(service)
    }

    fn resume(self: &Arc<Self>, resource: Resource) {
        let incremental_import = resource.kind == Kind::DatasetImportJob
            && resource.text("importMode").unwrap_or("FULL") == "INCREMENTAL"
            && resource.status() == status::CREATE_IN_PROGRESS;
        if resource.status() == status::CREATE_STOPPING {
            // The stop was requested before the crash: honour it rather than train again.
            let _ = self.finish(&resource.arn, Err("stopped".into()));
        } else if incremental_import {
            // Re-running it would add its rows twice; what it imported before the restart is kept.
            let _ = self.finish(
                &resource.arn,
                Err("interrupted by a restart; the rows acknowledged before it are kept, run the import again for the rest".into()),
            );
        } else {
            tracing::info!(arn = %resource.arn, "resuming unfinished work after a restart");
            self.start(resource.arn);
        }
    }

    /// The directory of a dataset group's engine.
    pub fn group_dir(&self, name: &str) -> PathBuf {
        self.root.join("groups").join(name)
    }

    /// Opens a dataset group's engine (replaying its log) and registers it.
    pub fn open_group(&self, arn: &str, name: &str) -> anyhow::Result<Arc<Engine>> {
        if let Some(engine) = self.groups.read().unwrap().get(arn) {
            return Ok(engine.clone());
        }
        let mut config = EngineConfig::new(self.group_dir(name));
        config.workers = self.config.engine_workers;
        let engine = Arc::new(Engine::open(config)?);
        self.groups.write().unwrap().insert(arn.to_string(), engine.clone());
        Ok(engine)
    }

    /// Stops a dataset group's engine and deletes its data: the directory is first renamed to a tombstone
    /// (atomic), then removed; tombstones a crash left behind are swept at start-up.
    pub fn drop_group(&self, arn: &str, name: &str) -> anyhow::Result<()> {
        let engine = self.groups.write().unwrap().remove(arn);
        if let Some(engine) = engine {
            match Arc::try_unwrap(engine) {
                Ok(engine) => engine.shutdown(),
                Err(shared) => drop(shared), // a request still holds it; it stops when that one ends
            }
        }
        let dir = self.group_dir(name);
        if dir.exists() {
            let tombstone = self.root.join("groups").join(format!(".deleted-{name}-{:08x}", rand::random::<u32>()));
            std::fs::rename(&dir, &tombstone).with_context(|| format!("moving {} aside", dir.display()))?;
            std::fs::remove_dir_all(&tombstone).with_context(|| format!("removing {}", tombstone.display()))?;
        }
        Ok(())
    }

    /// Removes group directories no dataset group owns: tombstones of interrupted deletions, and directories
    /// whose group record is gone.
    fn sweep_orphans(&self, groups: &std::collections::HashSet<String>) {
        let Ok(entries) = std::fs::read_dir(self.root.join("groups")) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !groups.contains(&name) {
                tracing::warn!(directory = %entry.path().display(), "removing data no dataset group owns");
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    /// The engine of an active dataset group.
    pub fn engine(&self, group_arn: &str) -> Result<Arc<Engine>, AwsError> {
        self.groups
            .read()
            .unwrap()
            .get(group_arn)
            .cloned()
            .ok_or_else(|| AwsError::in_use(format!("dataset group {group_arn} is not ACTIVE")))
    }

    /// The dataset group an event tracker's trackingId routes to.
    pub fn tracker_group(&self, tracking_id: &str) -> Option<String> {
        self.trackers.read().unwrap().get(tracking_id).cloned()
    }

    /// Registers or forgets a trackingId.
    pub fn set_tracker(&self, tracking_id: &str, group: Option<&str>) {
        let mut trackers = self.trackers.write().unwrap();
        match group {
            Some(g) => trackers.insert(tracking_id.to_string(), g.to_string()),
            None => trackers.remove(tracking_id),
        };
    }

    /// The trained als model of a solution version, if one is loaded.
    pub fn model(&self, solution_version: &str) -> Option<Arc<AlsService>> {
        self.models.lock().unwrap().get(solution_version).cloned()
    }

    /// A filter's parsed expression and its dataset group, from the cache or (once) from the catalog.
    pub fn filter(&self, field: &str, arn: &str) -> Result<(String, Arc<crate::filter::FilterExpr>), AwsError> {
        if let Some(cached) = self.filters.lock().unwrap().get(arn) {
            return Ok(cached.clone());
        }
        let filter = super::control::resolve(self, field, arn, Kind::Filter)?;
        let parsed = crate::filter::FilterExpr::parse(filter.text("filterExpression").unwrap_or_default())
            .map_err(|e| AwsError::internal(format!("stored filter {arn}: {e}")))?;
        let entry = (filter.text("datasetGroupArn").unwrap_or_default().to_string(), Arc::new(parsed));
        self.filters.lock().unwrap().insert(arn.to_string(), entry.clone());
        Ok(entry)
    }

    /// Forgets a deleted filter's parsed expression.
    pub fn forget_filter(&self, arn: &str) {
        self.filters.lock().unwrap().remove(arn);
    }

    /// Claims the background training of a version's model; false if it is already claimed.
    pub fn claim_training(&self, solution_version: &str) -> bool {
        self.training.lock().unwrap().insert(solution_version.to_string())
    }

    /// The shared map of trained models (for background training to fill in).
    pub fn models_handle(&self) -> Arc<Mutex<HashMap<String, Arc<AlsService>>>> {
        self.models.clone()
    }

    /// Forgets the trained models of deleted solution versions.
    pub fn drop_model(&self, solution_version: &str) {
        self.models.lock().unwrap().remove(solution_version);
        self.training.lock().unwrap().remove(solution_version);
    }

    /// Keeps the trained als model of a solution version.
    pub fn set_model(&self, solution_version: &str, model: Arc<AlsService>) {
        self.models.lock().unwrap().insert(solution_version.to_string(), model);
    }

    /// The stop flag of a resource's running work.
    pub fn stop_flag(&self, arn: &str) -> Arc<AtomicBool> {
        self.stops.lock().unwrap().entry(arn.to_string()).or_default().clone()
    }

    /// A new resource document with the common fields (`name`-like field, ARN field, times, status).
    pub fn new_doc(kind: Kind, name_field: &str, name: &str, arn_field: &str, arn: &str) -> Map<String, Value> {
        let now = now_seconds();
        let mut doc = Map::new();
        doc.insert(name_field.into(), json!(name));
        doc.insert(arn_field.into(), json!(arn));
        doc.insert("creationDateTime".into(), json!(now));
        doc.insert("lastUpdatedDateTime".into(), json!(now));
        if kind.has_status() {
            doc.insert("status".into(), json!(initial_status(kind)));
        }
        doc
    }

    /// Stores a new resource and, if it has work, starts it in the background.
    pub fn create(self: &Arc<Self>, resource: Resource) -> Result<(), AwsError> {
        let arn = resource.arn.clone();
        let has_work = resource.kind.has_status();
        self.store.create(&resource)?;
        if has_work {
            self.start(arn);
        }
        Ok(())
    }

    /// Runs a resource's work on a background thread and records the outcome.
    pub fn start(self: &Arc<Self>, arn: String) {
        let service = self.clone();
        let spawned = std::thread::Builder::new().name("personalize-work".into()).spawn(move || {
            let resource = match service.store.update(&arn, |r| {
                // A stop requested before the work began ends it before it begins.
                if r.status() != status::CREATE_STOPPING {
                    set_phase(r, Phase::Running);
                }
                Ok(())
            }) {
                Ok(Some(r)) => r,
                Ok(None) => return, // deleted before it started
                Err(e) => {
                    tracing::error!(%arn, "cannot start work: {e}");
                    return;
                }
            };
            let outcome = if resource.status() == status::CREATE_STOPPING {
                Err("stopped".into())
            } else {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| super::work::perform(&service, &resource)))
                    .unwrap_or_else(
                        |_| Err("streamrec failed while doing this work (a bug: see the server log)".into()),
                    )
            };
            if let Err(e) = service.finish(&arn, outcome) {
                tracing::error!(%arn, "cannot record the outcome: {e}");
            }
        });
        if let Err(e) = spawned {
            tracing::error!("cannot start a work thread: {e}");
        }
    }

    /// Records the outcome of a resource's work: its fields merged and done (`ACTIVE`, `COMPLETED` for a
    /// data deletion job), `CREATE STOPPED` after a stop request, or failed with the reason. A campaign
    /// update reports in `latestCampaignUpdate`, and the campaign keeps serving its previous version if the
    /// update fails.
    pub fn finish(&self, arn: &str, outcome: Result<Outcome, String>) -> Result<(), AwsError> {
        self.stops.lock().unwrap().remove(arn);
        self.store.update(arn, |r| {
            if r.status() == status::CREATE_STOPPING {
                set_phase(r, Phase::Stopped);
                return Ok(());
            }
            match outcome {
                Ok(outcome) => {
                    r.doc.extend(outcome.doc);
                    r.private.extend(outcome.private);
                    r.doc.remove("failureReason");
                    set_phase(r, Phase::Done);
                }
                Err(reason) => {
                    tracing::warn!(arn = %r.arn, %reason, "work failed");
                    set_phase(r, Phase::Failed(reason));
                }
            }
            Ok(())
        })?;
        Ok(())
    }
}

/// What a resource's finished work adds to it.
#[derive(Default)]
pub struct Outcome {
    /// Fields for its document (what Describe shows).
    pub doc: Map<String, Value>,
    /// Private state (metrics, reports).
    pub private: Map<String, Value>,
}

/// Sets a resource's status and its `lastUpdatedDateTime`.
pub fn set_status(r: &mut Resource, new: &str) {
    r.doc.insert("status".into(), json!(new));
    r.doc.insert("lastUpdatedDateTime".into(), json!(now_seconds()));
}

/// Where a resource's work stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// Accepted.
    Pending,
    /// Running.
    Running,
    /// Finished.
    Done,
    /// Failed, with the reason.
    Failed(String),
    /// Stopped on request.
    Stopped,
}

/// The status names a kind of resource uses: data deletion jobs report `PENDING`, `IN_PROGRESS`,
/// `COMPLETED`, `FAILED`; everything else `CREATE PENDING`, `CREATE IN_PROGRESS`, `ACTIVE`, `CREATE FAILED`.
fn status_name(kind: Kind, phase: &Phase) -> &'static str {
    match (kind, phase) {
        (Kind::DataDeletionJob, Phase::Pending) => "PENDING",
        (Kind::DataDeletionJob, Phase::Running) => "IN_PROGRESS",
        (Kind::DataDeletionJob, Phase::Done) => "COMPLETED",
        (Kind::DataDeletionJob, Phase::Failed(_)) => "FAILED",
        (_, Phase::Pending) => status::CREATE_PENDING,
        (_, Phase::Running) => status::CREATE_IN_PROGRESS,
        (_, Phase::Done) => status::ACTIVE,
        (_, Phase::Failed(_)) => status::CREATE_FAILED,
        (_, Phase::Stopped) => status::CREATE_STOPPED,
    }
}

/// The status a new resource of `kind` starts in.
pub fn initial_status(kind: Kind) -> &'static str {
    status_name(kind, &Phase::Pending)
}

/// Whether a campaign has an update that is not finished (its work reports there, not in `status`).
pub fn has_pending_update(r: &Resource) -> bool {
    r.kind == Kind::Campaign
        && r.doc
            .get("latestCampaignUpdate")
            .and_then(|u| u.get("status"))
            .and_then(Value::as_str)
            .is_some_and(is_unfinished)
}

/// Moves a resource's work to `phase`: in `latestCampaignUpdate` for a campaign update (the campaign stays
/// ACTIVE on its previous version until the update is done), in `status` otherwise.
pub fn set_phase(r: &mut Resource, phase: Phase) {
    let name = status_name(r.kind, &phase);
    if has_pending_update(r) {
        if let Some(Value::Object(update)) = r.doc.get_mut("latestCampaignUpdate") {
            update.insert("status".into(), json!(name));
            update.insert("lastUpdatedDateTime".into(), json!(now_seconds()));
            if let Phase::Failed(reason) = &phase {
                update.insert("failureReason".into(), json!(reason));
            }
        }
        // A serving campaign stays ACTIVE through its update; a failed one being re-created follows the update.
        if phase == Phase::Done || r.status() != status::ACTIVE {
            match &phase {
                Phase::Failed(reason) => {
                    r.doc.insert("failureReason".into(), json!(reason));
                }
                Phase::Done => {
                    r.doc.remove("failureReason");
                }
                _ => {}
            }
            set_status(r, name);
        }
        return;
    }
    if let Phase::Failed(reason) = &phase {
        r.doc.insert("failureReason".into(), json!(reason));
    }
    set_status(r, name);
}

/// Whether a status means work is still to be done.
pub fn is_unfinished(s: &str) -> bool {
    matches!(
        s,
        status::CREATE_PENDING | status::CREATE_IN_PROGRESS | status::CREATE_STOPPING | "PENDING" | "IN_PROGRESS"
    )
}
