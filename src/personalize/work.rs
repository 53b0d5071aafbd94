//! The background work of each resource kind: opening a dataset group's engine, importing and exporting
//! datasets, training solution versions (metrics, HPO, AutoML), preparing campaigns, batch inference and
//! data deletion. Each reads only the resource's stored document, so it can be re-run after a restart.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::control::{dataset_type, recipe_of};
use super::location::Location;
use super::resource::{Kind, Resource};
use super::service::{Outcome, Personalize};
use super::serving::{Ask, Served};
use crate::engine::{Engine, Submission};
use crate::import::csv::CsvOptions;
use crate::model::schema::{DatasetType, Schema};
use crate::recipes::als_service::AlsService;
use crate::recipes::{self, HyperValues};

/// Does a resource's work; `Err` is its `failureReason`.
pub fn perform(service: &Arc<Personalize>, resource: &Resource) -> Result<Outcome, String> {
    match resource.kind {
        Kind::DatasetGroup => {
            service
                .open_group(&resource.arn, resource.text("name").unwrap_or_default())
                .map_err(|e| format!("cannot open the dataset group's engine: {e:#}"))?;
            Ok(Outcome::default())
        }
        Kind::DatasetImportJob => import(service, resource),
        Kind::DatasetExportJob => export(service, resource),
        Kind::SolutionVersion => train(service, resource),
        Kind::Campaign => prepare_campaign(service, resource),
        Kind::BatchInferenceJob => batch_inference(service, resource),
        Kind::DataDeletionJob => delete_users(service, resource),
        Kind::Schema | Kind::Dataset | Kind::Solution | Kind::EventTracker | Kind::Filter => Ok(Outcome::default()),
    }
}

/// A dataset's group engine, type and schema.
fn dataset_parts(service: &Personalize, dataset_arn: &str) -> Result<(Arc<Engine>, DatasetType, Schema), String> {
    let dataset = service.store.expect(dataset_arn, Kind::Dataset).map_err(|e| e.message)?;
    let ty = dataset_type(dataset.text("datasetType").unwrap_or_default()).map_err(|e| e.message)?;
    let schema_arn = dataset.text("schemaArn").unwrap_or_default();
    let schema = service.store.expect(schema_arn, Kind::Schema).map_err(|e| e.message)?;
    let schema = Schema::parse(schema.text("schema").unwrap_or_default()).map_err(|e| format!("schema: {e}"))?;
    let engine = service.engine(dataset.text("datasetGroupArn").unwrap_or_default()).map_err(|e| e.message)?;
    Ok((engine, ty, schema))
}

fn import(service: &Personalize, job: &Resource) -> Result<Outcome, String> {
    let (engine, ty, schema) = dataset_parts(service, job.text("datasetArn").unwrap_or_default())?;
    let location = job.doc["dataSource"]["dataLocation"].as_str().unwrap_or_default();
    let input = Location::parse(location)?.fetch()?;
    let replace = job.text("importMode").unwrap_or("FULL") == "FULL";
    let report = crate::import::import_into(&engine, input.path(), &schema, ty, replace, &CsvOptions::default())
        .map_err(|e| format!("{e:#}"))?;
    tracing::info!(job = %job.arn, "{report}");
    if report.accepted == 0 && report.rejected > 0 {
        return Err(format!("every row was rejected: {report}"));
    }
    let mut outcome = Outcome::default();
    outcome.private.insert(
        "importReport".into(),
        json!({
            "rowsAccepted": report.accepted,
            "rowsRejected": report.rejected,
            "errors": report.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        }),
    );
    // Not a field of Personalize's model, but what a data team needs to see; SDKs ignore unknown fields.
    outcome.doc.insert("importReport".into(), outcome.private["importReport"].clone());
    Ok(outcome)
}

fn export(service: &Personalize, job: &Resource) -> Result<Outcome, String> {
    let (engine, ty, schema) = dataset_parts(service, job.text("datasetArn").unwrap_or_default())?;
    // Personalize's ingestionMode: BULK is what import jobs brought, PUT what the live API did (the default).
    let mode = job.text("ingestionMode").unwrap_or("PUT");
    let wanted = |bulk: bool| match mode {
        "BULK" => bulk,
        "PUT" => !bulk,
        _ => true,
    };
    let names: Vec<String> = schema.fields.iter().map(|f| f.name.clone()).collect();
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(&names).map_err(|e| e.to_string())?;
    let mut rows = 0usize;
    // One row per record: the reserved fields as given, the others from the record's metadata.
    let mut write = |reserved: &[(&str, String)], fields: &[(String, crate::model::record::Value)]| {
        rows += 1;
        let row = names.iter().map(|name| match reserved.iter().find(|(n, _)| n == name) {
            Some((_, value)) => value.clone(),
            None => field_text(fields, name),
        });
        out.write_record(row).map_err(|e| e.to_string())
    };
    let optional = |v: Option<String>| v.unwrap_or_default();
    match ty {
        DatasetType::Interactions => {
            let all = engine.interactions_by_source().map_err(|e| format!("{e:#}"))?;
            for i in all.into_iter().filter(|(_, bulk)| wanted(*bulk)).map(|(i, _)| i) {
                let reserved = [
                    ("USER_ID", i.user_id.clone()),
                    ("ITEM_ID", i.item_id.clone()),
                    ("TIMESTAMP", i.timestamp.to_string()),
                    ("EVENT_TYPE", optional(i.event_type.clone())),
                    ("EVENT_VALUE", optional(i.event_value.map(|v| v.to_string()))),
                    ("IMPRESSION", i.impression.join("|")),
                    ("RECOMMENDATION_ID", optional(i.recommendation_id.clone())),
                ];
                write(&reserved, &i.metadata)?;
            }
        }
        DatasetType::Items => {
            let catalog = engine.catalog();
            let mut items: Vec<_> =
                catalog.items.iter().filter(|(id, _)| wanted(catalog.is_bulk(ty, **id))).map(|(_, r)| r).collect();
            items.sort_by(|a, b| a.item_id.cmp(&b.item_id));
            for item in items {
                let created = optional(item.creation_timestamp.map(|t| t.to_string()));
                write(&[("ITEM_ID", item.item_id.clone()), ("CREATION_TIMESTAMP", created)], &item.fields)?;
            }
        }
        DatasetType::Users => {
            let catalog = engine.catalog();
            let mut users: Vec<_> =
                catalog.users.iter().filter(|(id, _)| wanted(catalog.is_bulk(ty, **id))).map(|(_, r)| r).collect();
            users.sort_by(|a, b| a.user_id.cmp(&b.user_id));
            for user in users {
                write(&[("USER_ID", user.user_id.clone())], &user.fields)?;
            }
        }
    }
    let bytes = out.into_inner().map_err(|e| e.to_string())?;
    let name = format!("{}_{}.csv", job.text("jobName").unwrap_or("export"), ty.as_str().to_ascii_lowercase());
    let destination = job.doc["jobOutput"]["s3DataDestination"]["path"].as_str().unwrap_or_default();
    let written = Location::parse(destination)?.write(&name, &bytes)?;
    let mut outcome = Outcome::default();
    outcome.private.insert("output".into(), json!({ "location": written, "rows": rows }));
    Ok(outcome)
}

fn field_text(fields: &[(String, crate::model::record::Value)], name: &str) -> String {
    fields.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.to_text()).unwrap_or_default()
}

/// Trials per recipe when a solution asks for HPO without saying how many.
const DEFAULT_HPO_TRIALS: usize = 8;
/// Most trials per recipe (Personalize allows at most 40 training jobs).
const MAX_HPO_TRIALS: usize = 40;

fn train(service: &Arc<Personalize>, version: &Resource) -> Result<Outcome, String> {
    let started = Instant::now();
    let stop = service.stop_flag(&version.arn);
    let group = version.text("datasetGroupArn").unwrap_or_default();
    let engine = service.engine(group).map_err(|e| e.message)?;
    let rows = engine.interactions().map_err(|e| format!("{e:#}"))?;
    let rows: Vec<_> = match version.text("eventType") {
        Some(t) => rows.into_iter().filter(|r| r.event_type.as_deref() == Some(t)).collect(),
        None => rows,
    };
    if rows.is_empty() {
        return Err("the Interactions dataset has no interactions to train on; import some first".into());
    }
    let data = crate::evaluate::dataset::Dataset::from_interactions(rows);
    let recipe = recipe_of(version.text("recipeArn").unwrap_or_default()).map_err(|e| e.message)?;
    let config = version.doc.get("solutionConfig").and_then(Value::as_object);
    let given: BTreeMap<String, String> = config
        .and_then(|c| c.get("algorithmHyperParameters"))
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default();
    let hpo = version.doc.get("performHPO") == Some(&json!(true));
    let auto_ml = version.doc.get("performAutoML") == Some(&json!(true));
    let (recipe, params) = if hpo || auto_ml {
        let candidates: Vec<&'static str> = if auto_ml {
            let listed = config.and_then(|c| c.get("autoMLConfig")).and_then(|a| a.get("recipeList"));
            match listed.and_then(Value::as_array) {
                Some(list) => list.iter().filter_map(|a| recipes::find(a.as_str()?)).map(|r| r.name).collect(),
                None => vec!["user-personalization", "als", "next-item", "popularity-count"],
            }
        } else {
            vec![recipe.name]
        };
        let hpo_config = config.and_then(|c| c.get("hpoConfig"));
        let trials = hpo_config
            .and_then(|h| h["hpoResourceConfig"]["maxNumberOfTrainingJobs"].as_str())
            .and_then(|t| t.parse().ok())
            .unwrap_or(if hpo { DEFAULT_HPO_TRIALS } else { 1 })
            .clamp(1, MAX_HPO_TRIALS);
        let objective = hpo_config
            .and_then(|h| h["hpoObjective"]["metricName"].as_str())
            .or_else(|| config.and_then(|c| c.get("autoMLConfig")?.get("metricName")?.as_str()))
            .unwrap_or("normalized_discounted_cumulative_gain_at_10");
        let tuned = crate::evaluate::tune::optimise(&candidates, &given, &data, trials, objective, &stop)
            .map_err(|e| format!("hyperparameter optimisation: {e:#}"))?;
        (recipes::find(tuned.recipe).unwrap_or(recipe), tuned.params)
    } else {
        (recipe, given)
    };
    if stop.load(Ordering::SeqCst) {
        return Err("stopped".into());
    }
    let values = recipes::resolve(recipe, &params).map_err(|e| format!("algorithmHyperParameters.{e}"))?;
    let metrics =
        crate::evaluate::solution_metrics(recipe.name, &values, &data).map_err(|e| format!("evaluation: {e:#}"))?;
    let mut metric_map = Map::new();
    if let Value::Object(all) = serde_json::to_value(&metrics).map_err(|e| e.to_string())? {
        for (k, v) in all {
            if k != "evaluated_users" {
                metric_map.insert(k, v);
            }
        }
    }
    let tuned: Map<String, Value> = values.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    if recipe.name == "als" {
        service.set_model(&version.arn, train_als(&values, &engine));
    }
    let mut outcome = Outcome::default();
    outcome.doc.insert("recipeArn".into(), json!(recipe.arn()));
    outcome.doc.insert("tunedHPOParams".into(), json!({ "algorithmHyperParameters": tuned }));
    outcome.doc.insert("trainingHours".into(), json!(started.elapsed().as_secs_f64() / 3600.0));
    outcome.private.insert("metrics".into(), Value::Object(metric_map));
    Ok(outcome)
}

fn train_als(values: &HyperValues, engine: &Engine) -> Arc<AlsService> {
    let service = Arc::new(AlsService::new(crate::recipes::als::AlsParams::from_recipe(values)));
    service.retrain(engine);
    service
}

/// The als model of a solution version: the one trained with it or, after a restart, trained again from
/// the engine's current interactions: now when `wait` is set (batch jobs), else on a background thread
/// (one per version), returning `None` until it is ready, so a request never trains on a server thread.
pub fn als_model(
    service: &Personalize,
    version_arn: &str,
    values: &HyperValues,
    engine: &Arc<Engine>,
    wait: bool,
) -> Option<Arc<AlsService>> {
    if let Some(model) = service.model(version_arn) {
        return Some(model);
    }
    if wait {
        let model = train_als(values, engine);
        service.set_model(version_arn, model.clone());
        return Some(model);
    }
    if service.claim_training(version_arn) {
        let (service_models, arn, values, engine) =
            (service.models_handle(), version_arn.to_string(), values.clone(), engine.clone());
        std::thread::spawn(move || {
            let model = train_als(&values, &engine);
            service_models.lock().unwrap().insert(arn, model);
        });
    }
    None
}

fn prepare_campaign(service: &Personalize, campaign: &Resource) -> Result<Outcome, String> {
    let mut outcome = Outcome::default();
    // An update takes effect here: the pending solution version and config become the campaign's.
    if let (true, Some(Value::Object(update))) =
        (super::service::has_pending_update(campaign), campaign.doc.get("latestCampaignUpdate"))
    {
        for field in ["solutionVersionArn", "minProvisionedTPS", "campaignConfig"] {
            if let Some(v) = update.get(field) {
                outcome.doc.insert(field.into(), v.clone());
            }
        }
    }
    let version = outcome
        .doc
        .get("solutionVersionArn")
        .and_then(Value::as_str)
        .or(campaign.text("solutionVersionArn"))
        .unwrap_or_default();
    // Loads the model (als) and checks the version and the campaign's config can be served at all.
    let served = Served::of_version(service, version, true).map_err(|e| e.message)?;
    let config = outcome.doc.get("campaignConfig").or(campaign.doc.get("campaignConfig"));
    super::serving::with_campaign_config(served.recipe, &served.values, config).map_err(|e| e.message)?;
    Ok(outcome)
}

/// One batch input line's question, or why it cannot be asked.
fn batch_ask(line: &str, num_results: usize) -> Result<(Value, Ask, HashMap<String, String>), String> {
    let input: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let object = input.as_object().ok_or("expected an object such as {\"userId\": \"u1\"}")?;
    for key in object.keys() {
        if !["userId", "itemId", "itemList", "filterValues", "context"].contains(&key.as_str()) {
            return Err(format!("{key}: not a batch input field (userId, itemId, itemList, filterValues, context)"));
        }
    }
    let text = |field: &str| -> Result<Option<String>, String> {
        match object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 256 => Ok(Some(s.clone())),
            Some(other) => Err(format!("{field}: expected an id of 1 to 256 characters, got {other}")),
        }
    };
    let input_list = match object.get("itemList") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|i| i.as_str().map(str::to_string).ok_or_else(|| format!("itemList: {i} is not an item id")))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(other) => Err(format!("itemList: expected a list of item ids, got {other}"))?,
    };
    // The same limits as GetRecommendations' filterValues and context.
    let fields = super::resource::Fields(object);
    let filter_values = fields.string_map("filterValues", 25).map_err(|e| e.message)?.into_iter().collect();
    let context = fields.string_map("context", 150).map_err(|e| e.message)?;
    let ask = Ask { user_id: text("userId")?, item_id: text("itemId")?, input_list, num_results, context };
    if ask.user_id.is_none() && ask.item_id.is_none() {
        return Err("userId or itemId: one is required".into());
    }
    Ok((input, ask, filter_values))
}

fn batch_inference(service: &Personalize, job: &Resource) -> Result<Outcome, String> {
    let version = job.text("solutionVersionArn").unwrap_or_default();
    let mut served = Served::of_version(service, version, true).map_err(|e| e.message)?;
    // The job's own exploration settings apply as a campaign's would.
    served.values =
        super::serving::with_campaign_config(served.recipe, &served.values, job.doc.get("batchInferenceJobConfig"))
            .map_err(|e| e.message.replace("campaignConfig", "batchInferenceJobConfig"))?;
    served.engine.wait_for_acknowledged_blocking(Duration::from_secs(60)).map_err(|e| format!("{e:#}"))?;
    let filter = super::filters::Prepared::load(service, job.text("filterArn"), &served).map_err(|e| e.message)?;
    let num_results = job.doc.get("numResults").and_then(Value::as_u64).unwrap_or(25) as usize;
    let source = job.doc["jobInput"]["s3DataSource"]["path"].as_str().unwrap_or_default();
    let source = Location::parse(source)?;
    let input = source.fetch()?;
    let reader = std::io::BufReader::new(
        std::fs::File::open(input.path()).map_err(|e| format!("{}: {e}", input.path().display()))?,
    );
    let mut out = Vec::new();
    let (mut answered, mut failed) = (0usize, 0usize);
    for (number, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| format!("{source}: line {}: {e}", number + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let result = batch_ask(&line, num_results).and_then(|(input, ask, values)| {
            let items = filter.answer(&served, &ask, &values).map_err(|e| e.message)?;
            Ok((input, items))
        });
        let record = match result {
            Ok((input, items)) => {
                answered += 1;
                json!({
                    "input": input,
                    "output": {
                        "recommendedItems": items.iter().map(|i| i.item_id.clone()).collect::<Vec<_>>(),
                        "scores": items.iter().map(|i| i.score).collect::<Vec<_>>(),
                    },
                    "error": null,
                })
            }
            Err(reason) => {
                failed += 1;
                let input = serde_json::from_str::<Value>(&line).unwrap_or(Value::String(line.clone()));
                json!({ "input": input, "output": null, "error": format!("line {}: {reason}", number + 1) })
            }
        };
        serde_json::to_writer(&mut out, &record).map_err(|e| e.to_string())?;
        out.write_all(b"\n").map_err(|e| e.to_string())?;
    }
    let name = format!("{}.out", source.file_name());
    let destination = job.doc["jobOutput"]["s3DataDestination"]["path"].as_str().unwrap_or_default();
    let written = Location::parse(destination)?.write(&name, &out)?;
    tracing::info!(job = %job.arn, answered, failed, output = %written, "batch inference finished");
    let mut outcome = Outcome::default();
    outcome.private.insert("output".into(), json!({ "location": written, "answered": answered, "failed": failed }));
    Ok(outcome)
}

fn delete_users(service: &Personalize, job: &Resource) -> Result<Outcome, String> {
    let group = job.text("datasetGroupArn").unwrap_or_default();
    let engine = service.engine(group).map_err(|e| e.message)?;
    let location = job.doc["dataSource"]["dataLocation"].as_str().unwrap_or_default();
    let input = Location::parse(location)?.fetch()?;
    let mut reader =
        csv::ReaderBuilder::new().flexible(true).from_path(input.path()).map_err(|e| format!("{location}: {e}"))?;
    let headers = reader.headers().map_err(|e| format!("{location}: header row: {e}"))?.clone();
    let column = headers
        .iter()
        .position(|h| h.trim() == "USER_ID")
        .ok_or_else(|| format!("{location}: the header row has no USER_ID column"))?;
    let mut users = Vec::new();
    for (line, row) in reader.records().enumerate() {
        let row = row.map_err(|e| format!("{location}: line {}: {e}", line + 2))?;
        if let Some(user) = row.get(column).map(str::trim).filter(|u| !u.is_empty()) {
            users.push(user.to_string());
        }
    }
    users.sort();
    users.dedup();
    let known: Vec<String> = {
        let catalog = engine.catalog();
        users.into_iter().filter(|u| catalog.user(u).is_some()).collect()
    };
    let deleted = known.len();
    for chunk in known.chunks(10_000) {
        engine
            .submit_blocking(chunk.iter().cloned().map(Submission::DeleteUser).collect())
            .map_err(|e| format!("{e:#}"))?;
    }
    let mut outcome = Outcome::default();
    outcome.doc.insert("numDeleted".into(), json!(deleted));
    Ok(outcome)
}
