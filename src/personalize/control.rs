//! The control plane (`POST /` with `X-Amz-Target: AmazonPersonalize.<Operation>`, awsJson1_1): each
//! operation checks its input as botocore's model defines it, then creates, describes, lists, updates or
//! deletes resources in the catalog. Creates answer at once; their work runs in the background
//! ([`super::service::Personalize::start`]).

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::error::AwsError;
use super::resource::{kind_of, now_seconds, status, Fields, Kind, Resource};
use super::service::{set_status, Personalize, MAX_DATASET_GROUPS};
use crate::model::schema::{DatasetType, Schema};
use crate::recipes::{self, RecipeDef};

/// Runs one control-plane operation.
pub fn dispatch(service: &Arc<Personalize>, operation: &str, input: &Map<String, Value>) -> Result<Value, AwsError> {
    let f = Fields(input);
    match operation {
        "CreateDatasetGroup" => create_dataset_group(service, &f),
        "DescribeDatasetGroup" => describe(service, &f, "datasetGroupArn", Kind::DatasetGroup, "datasetGroup"),
        "ListDatasetGroups" => list(service, &f, Kind::DatasetGroup, None, "datasetGroups", GROUP_SUMMARY),
        "DeleteDatasetGroup" => delete_dataset_group(service, &f),

        "CreateSchema" => create_schema(service, &f),
        "DescribeSchema" => describe(service, &f, "schemaArn", Kind::Schema, "schema"),
        "ListSchemas" => list(service, &f, Kind::Schema, None, "schemas", SCHEMA_SUMMARY),
        "DeleteSchema" => delete_schema(service, &f),

        "CreateDataset" => create_dataset(service, &f),
        "DescribeDataset" => describe(service, &f, "datasetArn", Kind::Dataset, "dataset"),
        "ListDatasets" => list(service, &f, Kind::Dataset, Some("datasetGroupArn"), "datasets", DATASET_SUMMARY),
        "DeleteDataset" => delete_dataset(service, &f),

        "CreateDatasetImportJob" => create_import_job(service, &f),
        "DescribeDatasetImportJob" => {
            describe(service, &f, "datasetImportJobArn", Kind::DatasetImportJob, "datasetImportJob")
        }
        "ListDatasetImportJobs" => {
            list(service, &f, Kind::DatasetImportJob, Some("datasetArn"), "datasetImportJobs", IMPORT_SUMMARY)
        }

        "CreateDatasetExportJob" => create_export_job(service, &f),
        "DescribeDatasetExportJob" => {
            describe(service, &f, "datasetExportJobArn", Kind::DatasetExportJob, "datasetExportJob")
        }
        "ListDatasetExportJobs" => {
            list(service, &f, Kind::DatasetExportJob, Some("datasetArn"), "datasetExportJobs", EXPORT_SUMMARY)
        }

        "CreateSolution" => create_solution(service, &f),
        "DescribeSolution" => describe_solution(service, &f),
        "ListSolutions" => list(service, &f, Kind::Solution, Some("datasetGroupArn"), "solutions", SOLUTION_SUMMARY),
        "DeleteSolution" => delete_solution(service, &f),

        "CreateSolutionVersion" => create_solution_version(service, &f),
        "DescribeSolutionVersion" => {
            describe(service, &f, "solutionVersionArn", Kind::SolutionVersion, "solutionVersion")
        }
        "ListSolutionVersions" => {
            list(service, &f, Kind::SolutionVersion, Some("solutionArn"), "solutionVersions", VERSION_SUMMARY)
        }
        "GetSolutionMetrics" => solution_metrics(service, &f),
        "StopSolutionVersionCreation" => stop_solution_version(service, &f),

        "CreateCampaign" => create_campaign(service, &f),
        "DescribeCampaign" => describe(service, &f, "campaignArn", Kind::Campaign, "campaign"),
        "ListCampaigns" => list(service, &f, Kind::Campaign, Some("solutionArn"), "campaigns", CAMPAIGN_SUMMARY),
        "UpdateCampaign" => update_campaign(service, &f),
        "DeleteCampaign" => delete_leaf(service, &f, "campaignArn", Kind::Campaign, &[]),

        "CreateEventTracker" => create_event_tracker(service, &f),
        "DescribeEventTracker" => describe(service, &f, "eventTrackerArn", Kind::EventTracker, "eventTracker"),
        "ListEventTrackers" => {
            list(service, &f, Kind::EventTracker, Some("datasetGroupArn"), "eventTrackers", TRACKER_SUMMARY)
        }
        "DeleteEventTracker" => delete_event_tracker(service, &f),

        "CreateFilter" => create_filter(service, &f),
        "DescribeFilter" => describe(service, &f, "filterArn", Kind::Filter, "filter"),
        "ListFilters" => list(service, &f, Kind::Filter, Some("datasetGroupArn"), "Filters", FILTER_SUMMARY),
        "DeleteFilter" => delete_leaf(service, &f, "filterArn", Kind::Filter, &[]),

        "CreateBatchInferenceJob" => create_batch_job(service, &f),
        "DescribeBatchInferenceJob" => {
            describe(service, &f, "batchInferenceJobArn", Kind::BatchInferenceJob, "batchInferenceJob")
        }
        "ListBatchInferenceJobs" => {
            list(service, &f, Kind::BatchInferenceJob, Some("solutionVersionArn"), "batchInferenceJobs", BATCH_SUMMARY)
        }

        "CreateDataDeletionJob" => create_deletion_job(service, &f),
        "DescribeDataDeletionJob" => {
            describe(service, &f, "dataDeletionJobArn", Kind::DataDeletionJob, "dataDeletionJob")
        }
        "ListDataDeletionJobs" => {
            list(service, &f, Kind::DataDeletionJob, Some("datasetGroupArn"), "dataDeletionJobs", DELETION_SUMMARY)
        }

        "ListRecipes" => list_recipes(&f),
        "DescribeRecipe" => describe_recipe(&f),
        other => Err(AwsError {
            code: "UnknownOperationException",
            message: format!("streamrec does not implement AmazonPersonalize.{other} (see README: Personalize API)"),
            status: axum::http::StatusCode::BAD_REQUEST,
        }),
    }
}

const COMMON: &[&str] = &["status", "creationDateTime", "lastUpdatedDateTime", "failureReason"];
const GROUP_SUMMARY: &[&str] = &["name", "datasetGroupArn", "domain"];
const SCHEMA_SUMMARY: &[&str] = &["name", "schemaArn", "domain"];
const DATASET_SUMMARY: &[&str] = &["name", "datasetArn", "datasetType"];
const IMPORT_SUMMARY: &[&str] = &["datasetImportJobArn", "jobName", "importMode"];
const EXPORT_SUMMARY: &[&str] = &["datasetExportJobArn", "jobName"];
const SOLUTION_SUMMARY: &[&str] = &["name", "solutionArn", "recipeArn"];
const VERSION_SUMMARY: &[&str] = &["solutionVersionArn", "trainingMode", "trainingType"];
const CAMPAIGN_SUMMARY: &[&str] = &["name", "campaignArn"];
const TRACKER_SUMMARY: &[&str] = &["name", "eventTrackerArn"];
const FILTER_SUMMARY: &[&str] = &["name", "filterArn", "datasetGroupArn"];
const BATCH_SUMMARY: &[&str] = &["batchInferenceJobArn", "jobName", "solutionVersionArn", "batchInferenceJobMode"];
const DELETION_SUMMARY: &[&str] = &["dataDeletionJobArn", "datasetGroupArn", "jobName"];

fn describe(
    service: &Personalize,
    f: &Fields,
    arn_field: &str,
    kind: Kind,
    out_field: &str,
) -> Result<Value, AwsError> {
    let arn = f.arn(arn_field, kind)?;
    let resource = service.store.expect(arn, kind)?;
    Ok(json!({ out_field: resource.doc }))
}

/// One page of the summaries of a kind of resource (see [`page`]).
fn list(
    service: &Personalize,
    f: &Fields,
    kind: Kind,
    parent_field: Option<&str>,
    out_field: &str,
    summary: &[&str],
) -> Result<Value, AwsError> {
    let parent = match parent_field {
        Some(field) => f.optional(field)?,
        None => None,
    };
    let all: Vec<Value> = service
        .store
        .list(kind, parent)?
        .iter()
        .map(|r| {
            let fields = summary.iter().chain(COMMON);
            Value::Object(fields.filter_map(|k| r.doc.get(*k).map(|v| (k.to_string(), v.clone()))).collect())
        })
        .collect();
    page(f, out_field, all)
}

/// One page of `all`: `maxResults` (1–100, default 100) entries from `nextToken` (an offset we issued),
/// with the next token when more remain.
fn page(f: &Fields, out_field: &str, all: Vec<Value>) -> Result<Value, AwsError> {
    let max = f.integer("maxResults", 1, 100)?.unwrap_or(100) as usize;
    let start = match f.optional("nextToken")? {
        Some(token) => {
            token.parse::<usize>().ok().filter(|&start| start <= all.len()).ok_or_else(|| AwsError::bad_token(token))?
        }
        None => 0,
    };
    let more = start + max < all.len();
    let mut out = json!({ out_field: all.into_iter().skip(start).take(max).collect::<Vec<_>>() });
    if more {
        out["nextToken"] = json!((start + max).to_string());
    }
    Ok(out)
}

/// Fails unless the resource is `ACTIVE`.
fn require_active(resource: &Resource) -> Result<(), AwsError> {
    if resource.status() != status::ACTIVE {
        return Err(AwsError::in_use(format!(
            "{} {} is {}, not ACTIVE",
            resource.kind.label(),
            resource.arn,
            resource.status()
        )));
    }
    Ok(())
}

/// Fails if any resource of these kinds belongs to `parent`.
fn require_no_children(service: &Personalize, parent: &str, kinds: &[Kind]) -> Result<(), AwsError> {
    for &kind in kinds {
        if let Some(child) = service.store.list(kind, Some(parent))?.first() {
            return Err(AwsError::in_use(format!(
                "{parent} still has {} {}; delete it first",
                kind.label(),
                child.arn
            )));
        }
    }
    Ok(())
}

fn check_tags(f: &Fields) -> Result<(), AwsError> {
    match f.0.get("tags") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(tags)) if tags.len() <= 200 => Ok(()),
        Some(Value::Array(tags)) => Err(AwsError {
            code: "TooManyTagsException",
            message: format!("tags: {} tags; at most 200", tags.len()),
            status: axum::http::StatusCode::BAD_REQUEST,
        }),
        Some(other) => Err(AwsError::invalid(format!("tags: expected a list, got {other}"))),
    }
}

fn copy_optional(doc: &mut Map<String, Value>, f: &Fields, fields: &[&str]) {
    for field in fields {
        if let Some(v) = f.0.get(*field).filter(|v| !v.is_null()) {
            doc.insert(field.to_string(), v.clone());
        }
    }
}

fn create_dataset_group(service: &Arc<Personalize>, f: &Fields) -> Result<Value, AwsError> {
    let name = f.name("name")?;
    check_tags(f)?;
    if let Some(domain) = f.optional("domain")? {
        if domain != "ECOMMERCE" && domain != "VIDEO_ON_DEMAND" {
            return Err(AwsError::invalid(format!("domain: {domain:?} is not ECOMMERCE or VIDEO_ON_DEMAND")));
        }
    }
    if service.store.list(Kind::DatasetGroup, None)?.len() >= MAX_DATASET_GROUPS {
        return Err(AwsError::limit(format!("at most {MAX_DATASET_GROUPS} dataset groups per server")));
    }
    let arn = service.arns.arn(Kind::DatasetGroup, name);
    let mut doc = Personalize::new_doc(Kind::DatasetGroup, "name", name, "datasetGroupArn", &arn);
    copy_optional(&mut doc, f, &["domain", "roleArn", "kmsKeyArn"]);
    service.create(Resource::new(Kind::DatasetGroup, &arn, None, doc))?;
    let mut out = json!({ "datasetGroupArn": arn });
    if let Some(domain) = f.optional("domain")? {
        out["domain"] = json!(domain);
    }
    Ok(out)
}

fn delete_dataset_group(service: &Arc<Personalize>, f: &Fields) -> Result<Value, AwsError> {
    let arn = f.arn("datasetGroupArn", Kind::DatasetGroup)?;
    let group = service.store.expect(arn, Kind::DatasetGroup)?;
    require_no_children(service, arn, &[Kind::Dataset, Kind::Solution, Kind::EventTracker, Kind::Filter])?;
    if super::service::is_unfinished(group.status()) {
        return Err(AwsError::in_use(format!("dataset group {arn} is {}", group.status())));
    }
    // Personalize has no DeleteDataDeletionJob: finished deletion jobs go with their group.
    let deletions = service.store.list(Kind::DataDeletionJob, Some(arn))?;
    if let Some(running) = deletions.iter().find(|j| super::service::is_unfinished(j.status())) {
        return Err(AwsError::in_use(format!("data deletion job {} is still {}", running.arn, running.status())));
    }
    // The data goes first (moved aside atomically), so a crash can never leave a deleted group's data for a
    // new group of the same name to pick up.
    service
        .drop_group(arn, group.text("name").unwrap_or_default())
        .map_err(|e| AwsError::internal(format!("{e:#}")))?;
    for job in deletions {
        service.store.delete(&job.arn)?;
    }
    service.store.delete(arn)?;
    Ok(json!({}))
}

fn create_schema(service: &Arc<Personalize>, f: &Fields) -> Result<Value, AwsError> {
    let name = f.name("name")?;
    let text = f.required("schema")?;
    if text.len() > 20_000 {
        return Err(AwsError::invalid(format!("schema: {} characters; at most 20000", text.len())));
    }
    let parsed = Schema::parse(text).map_err(|e| AwsError::invalid(format!("schema: {e}")))?;
    // A schema must suit at least one dataset type; which one is checked again at CreateDataset.
    let fits = [DatasetType::Interactions, DatasetType::Items, DatasetType::Users]
        .iter()
        .map(|&ty| parsed.validate_for(ty))
        .collect::<Vec<_>>();
    if fits.iter().all(|r| r.is_err()) {
        let reasons: Vec<String> = fits.into_iter().filter_map(|r| r.err()).map(|e| e.to_string()).collect();
        return Err(AwsError::invalid(format!(
            "schema: fits no dataset type (Interactions: {}; Items: {}; Users: {})",
            reasons[0], reasons[1], reasons[2]
        )));
    }
    let arn = service.arns.arn(Kind::Schema, name);
    let mut doc = Personalize::new_doc(Kind::Schema, "name", name, "schemaArn", &arn);
    doc.insert("schema".into(), json!(text));
    copy_optional(&mut doc, f, &["domain"]);
    service.create(Resource::new(Kind::Schema, &arn, None, doc))?;
    Ok(json!({ "schemaArn": arn }))
}

fn delete_schema(service: &Arc<Personalize>, f: &Fields) -> Result<Value, AwsError> {
    let arn = f.arn("schemaArn", Kind::Schema)?;
    service.store.expect(arn, Kind::Schema)?;
    for dataset in service.store.list(Kind::Dataset, None)? {
        if dataset.text("schemaArn") == Some(arn) {
            return Err(AwsError::in_use(format!("schema {arn} is used by dataset {}", dataset.arn)));
        }
    }
    service.store.delete(arn)?;
    Ok(json!({}))
}

/// Parses a dataset type as Personalize spells it (`Interactions`, `INTERACTIONS`, ...).
pub fn dataset_type(text: &str) -> Result<DatasetType, AwsError> {
    match text.to_ascii_uppercase().as_str() {
        "INTERACTIONS" => Ok(DatasetType::Interactions),
        "ITEMS" => Ok(DatasetType::Items),
        "USERS" => Ok(DatasetType::Users),
        _ => Err(AwsError::invalid(format!(
            "datasetType: {text:?} is not Interactions, Items or Users (streamrec has no Actions datasets yet)"
        ))),
    }
}

fn create_dataset(service: &Arc<Personalize>, f: &Fields) -> Result<Value, AwsError> {
    let name = f.name("name")?;
    let schema_arn = f.arn("schemaArn", Kind::Schema)?;
    let group_arn = f.arn("datasetGroupArn", Kind::DatasetGroup)?;
    let ty = dataset_type(f.required("datasetType")?)?;
    check_tags(f)?;
    let schema = service.store.expect(schema_arn, Kind::Schema)?;
    let group = service.store.expect(group_arn, Kind::DatasetGroup)?;
    require_active(&group)?;
    let parsed = Schema::parse(schema.text("schema").unwrap_or_default())
        .map_err(|e| AwsError::invalid(format!("schemaArn: {e}")))?;
    parsed.validate_for(ty).map_err(|e| AwsError::invalid(format!("schemaArn: not a valid {ty} schema: {e}")))?;
    let group_name = group.text("name").unwrap_or_default();
    let arn = service.arns.arn(Kind::Dataset, &format!("{group_name}/{}", ty.as_str().to_ascii_uppercase()));
    if service.store.get(&arn)?.is_some() {
        return Err(AwsError {
            message: format!("dataset group {group_arn} already has an {ty} dataset ({arn})"),
            ..AwsError::already_exists(&arn)
        });
    }
    let mut doc = Personalize::new_doc(Kind::Dataset, "name", name, "datasetArn", &arn);
    doc.insert("datasetGroupArn".into(), json!(group_arn));
    doc.insert("datasetType".into(), json!(ty.as_str().to_ascii_uppercase()));
    doc.insert("schemaArn".into(), json!(schema_arn));
    service.create(Resource::new(Kind::Dataset, &arn, Some(group_arn), doc))?;
    Ok(json!({ "datasetArn": arn }))
}

fn delete_dataset(service: &Arc<Personalize>, f: &Fields) -> Result<Value, AwsError> {
    let arn = f.arn("datasetArn", Kind::Dataset)?;
    let dataset = service.store.expect(arn, Kind::Dataset)?;
    for kind in [Kind::DatasetImportJob, Kind::DatasetExportJob] {
        for job in service.store.list(kind, Some(arn))? {
            if super::service::is_unfinished(job.status()) {
                return Err(AwsError::in_use(format!("{} {} is still {}", kind.label(), job.arn, job.status())));
            }
        }
    }
    let group = dataset.text("datasetGroupArn").unwrap_or_default();
    let ty = dataset_type(dataset.text("datasetType").unwrap_or_default())?;
    let engine = service.engine(group)?;
    engine
        .submit_blocking(vec![crate::engine::Submission::Clear(ty)])
        .map_err(|e| AwsError::internal(format!("{e:#}")))?;
    for job in service.store.list(Kind::DatasetImportJob, Some(arn))? {
        service.store.delete(&job.arn)?;
    }
    service.store.delete(arn)?;
    Ok(json!({}))
}

/// The location of a job's input or output (`(s3|http|https|file)://...`, at most 256 characters); a
/// `file://` path must lie under one of the configured `--file-root` directories, if any are.
fn location(service: &Personalize, field: &str, value: Option<&Value>) -> Result<String, AwsError> {
    let text = value.and_then(Value::as_str).ok_or_else(|| AwsError::invalid(format!("{field}: required")))?;
    if text.len() > 256 {
        return Err(AwsError::invalid(format!("{field}: {} characters; at most 256", text.len())));
    }
    let parsed = super::location::Location::parse(text).map_err(|e| AwsError::invalid(format!("{field}: {e}")))?;
    if let super::location::Location::File(path) = &parsed {
        let roots = &service.config.file_roots;
        let escapes = path.components().any(|c| c == std::path::Component::ParentDir);
        if !roots.is_empty() && (escapes || !roots.iter().any(|root| path.starts_with(root))) {
            let allowed: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
            return Err(AwsError::invalid(format!(
                "{field}: {text:?} is outside the directories this server may read and write (--file-root {})",
                allowed.join(", ")
            )));
        }
    }
    Ok(text.to_string())
}

fn create_import_job(service: &Arc<Personalize>, f: &Fields) -> Result<Value, AwsError> {
    let name = f.name("jobName")?;
    let dataset_arn = f.arn("datasetArn", Kind::Dataset)?;
    let source = f.object("dataSource")?.ok_or_else(|| AwsError::invalid("dataSource: required"))?;
    let data_location = location(service, "dataSource.dataLocation", source.get("dataLocation"))?;
    let mode = f.optional("importMode")?.unwrap_or("FULL");
    if mode != "FULL" && mode != "INCREMENTAL" {
        return Err(AwsError::invalid(format!("importMode: {mode:?} is not FULL or INCREMENTAL")));
    }
    check_tags(f)?;
    let dataset = service.store.expect(dataset_arn, Kind::Dataset)?;
    require_active(&dataset)?;
    for job in service.store.list(Kind::DatasetImportJob, Some(dataset_arn))? {
        if super::service::is_unfinished(job.status()) {
            return Err(AwsError::in_use(format!(
                "dataset {dataset_arn} already has import job {} {}",
                job.arn,
                job.status()
            )));
        }
    }
    let arn = service.arns.arn(Kind::DatasetImportJob, name);
    let mut doc = Personalize::new_doc(Kind::DatasetImportJob, "jobName", name, "datasetImportJobArn", &arn);
    doc.insert("datasetArn".into(), json!(dataset_arn));
    doc.insert("dataSource".into(), json!({ "dataLocation": data_location }));
    doc.insert("importMode".into(), json!(mode));
    copy_optional(&mut doc, f, &["roleArn", "publishAttributionMetricsToS3"]);
    service.create(Resource::new(Kind::DatasetImportJob, &arn, Some(dataset_arn), doc))?;
    Ok(json!({ "datasetImportJobArn": arn }))
}

fn create_export_job(service: &Arc<Personalize>, f: &Fields) -> Result<Value, AwsError> {
    let name = f.name("jobName")?;
    let dataset_arn = f.arn("datasetArn", Kind::Dataset)?;
    f.required("roleArn")?;
    let output = f.object("jobOutput")?.ok_or_else(|| AwsError::invalid("jobOutput: required"))?;
    let destination = output
        .get("s3DataDestination")
        .and_then(Value::as_object)
        .ok_or_else(|| AwsError::invalid("jobOutput.s3DataDestination: required"))?;
    let path = location(service, "jobOutput.s3DataDestination.path", destination.get("path"))?;
    let mode = f.optional("ingestionMode")?.unwrap_or("PUT");
    if !["BULK", "PUT", "ALL"].contains(&mode) {
        return Err(AwsError::invalid(format!("ingestionMode: {mode:?} is not BULK, PUT or ALL")));
    }
    check_tags(f)?;
    let dataset = service.store.expect(dataset_arn, Kind::Dataset)?;
    require_active(&dataset)?;
    let arn = service.arns.arn(Kind::DatasetExportJob, name);
    let mut doc = Personalize::new_doc(Kind::DatasetExportJob, "jobName", name, "datasetExportJobArn", &arn);
    doc.insert("datasetArn".into(), json!(dataset_arn));
    doc.insert("ingestionMode".into(), json!(mode));
    doc.insert("jobOutput".into(), json!({ "s3DataDestination": { "path": path } }));
    copy_optional(&mut doc, f, &["roleArn"]);
    service.create(Resource::new(Kind::DatasetExportJob, &arn, Some(dataset_arn), doc))?;
    Ok(json!({ "datasetExportJobArn": arn }))
}

/// The recipe a solution names (Personalize's ARN, or streamrec's name in an ARN).
pub fn recipe_of(arn: &str) -> Result<&'static RecipeDef, AwsError> {
    recipes::find(arn).ok_or_else(|| {
        let known: Vec<String> = recipes::RECIPES.iter().map(|r| r.arn()).collect();
        AwsError::invalid(format!(
            "recipeArn: {arn:?} is not a recipe streamrec has (ListRecipes: {})",
            known.join(", ")
        ))
    })
}

/// The given hyperparameters of a solution config, checked against the recipe.
fn hyperparameters(
    recipe: &RecipeDef,
    config: Option<&Map<String, Value>>,
) -> Result<std::collections::BTreeMap<String, String>, AwsError> {
    let Some(given) = config.and_then(|c| c.get("algorithmHyperParameters")) else {
        return Ok(Default::default());
    };
    let map = given
        .as_object()
        .ok_or_else(|| AwsError::invalid("solutionConfig.algorithmHyperParameters: expected a map"))?;
    if map.len() > 100 {
        return Err(AwsError::invalid("solutionConfig.algorithmHyperParameters: at most 100 entries"));
    }
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in map {
        let v = v.as_str().ok_or_else(|| {
            AwsError::invalid(format!("solutionConfig.algorithmHyperParameters.{k}: expected a string"))
        })?;
        out.insert(k.clone(), v.to_string());
    }
    let resolved = recipes::resolve(recipe, &out)
        .map_err(|e| AwsError::invalid(format!("solutionConfig.algorithmHyperParameters.{e}")))?;
    // A dataset group serves every solution from one live dataflow built with streamrec's defaults, so graph
    // hyperparameters (which shape that dataflow) cannot differ per solution yet.
    let defaults = crate::engine::default_params();
    if resolved.graph_params(&defaults) != defaults {
        let graph: Vec<&str> = recipe
            .hyperparameters
            .iter()
            .filter(|h| h.scope == recipes::Scope::Graph && out.contains_key(h.name))
            .map(|h| h.name)
            .collect();
        return Err(AwsError::invalid(format!(
            "solutionConfig.algorithmHyperParameters: {} shape(s) the dataset group's live dataflow, which every \
             solution of the group shares; streamrec does not build a dataflow per solution yet, so only query \
             hyperparameters may differ from the defaults (see `streamrec recipes`)",
            graph.join(", ")
        )));
    }
    Ok(out)
}

fn create_solution(service: &Arc<Personalize>, f: &Fields) -> Result<Value, AwsError> {
    let name = f.name("name")?;
    let group_arn = f.arn("datasetGroupArn", Kind::DatasetGroup)?;
    let auto_ml = f.flag("performAutoML")?;
    f.flag("performHPO")?;
    check_tags(f)?;
    let config = f.object("solutionConfig")?;
    let recipe = match (f.optional("recipeArn")?, auto_ml) {
        (Some(arn), _) => recipe_of(arn)?,
        (None, true) => recipe_of("aws-user-personalization")?,
        (None, false) => return Err(AwsError::invalid("recipeArn: required unless performAutoML is true")),
    };
    hyperparameters(recipe, config)?;
    if let Some(list) = config.and_then(|c| c.get("autoMLConfig")).and_then(|a| a.get("recipeList")) {
        for arn in list.as_array().into_iter().flatten() {
            recipe_of(arn.as_str().unwrap_or_default())?;
        }
    }
    let group = service.store.expect(group_arn, Kind::DatasetGroup)?;
    require_active(&group)?;
    let arn = service.arns.arn(Kind::Solution, name);
    let mut doc = Personalize::new_doc(Kind::Solution, "name", name, "solutionArn", &arn);
    doc.insert("recipeArn".into(), json!(recipe.arn()));
    doc.insert("datasetGroupArn".into(), json!(group_arn));
    doc.insert("performHPO".into(), json!(f.flag("performHPO")?));
    doc.insert("performAutoML".into(), json!(auto_ml));
    doc.insert("performAutoTraining".into(), json!(false));
    copy_optional(&mut doc, f, &["eventType", "solutionConfig"]);
    service.create(Resource::new(Kind::Solution, &arn, Some(group_arn), doc))?;
    Ok(json!({ "solutionArn": arn }))
}

fn describe_solution(service: &Arc<Personalize>, f: &Fields) -> Result<Value, AwsError> {
    let arn = f.arn("solutionArn", Kind::Solution)?;
    let mut solution = service.store.expect(arn, Kind::Solution)?;
    if let Some(latest) = service.store.list(Kind::SolutionVersion, Some(arn))?.first() {
        let fields = ["solutionVersionArn", "status", "trainingMode", "trainingType", "creationDateTime"];
        let mut summary: Map<String, Value> =
            fields.iter().filter_map(|k| latest.doc.get(*k).map(|v| (k.to_string(), v.clone()))).collect();
        for k in ["lastUpdatedDateTime", "failureReason"] {
            if let Some(v) = latest.doc.get(k) {
                summary.insert(k.into(), v.clone());
            }
        }
        solution.doc.insert("latestSolutionVersion".into(), Value::Object(summary));
        let auto_ml = solution.doc.get("performAutoML") == Some(&json!(true));
        if let Some(best) = latest.doc.get("recipeArn").filter(|_| auto_ml && latest.status() == status::ACTIVE) {
            solution.doc.insert("autoMLResult".into(), json!({ "bestRecipeArn": best }));
        }
    }
    Ok(json!({ "solution": solution.doc }))
}

fn delete_solution(service: &Arc<Personalize>, f: &Fields) -> Result<Value, AwsError> {
    let arn = f.arn("solutionArn", Kind::Solution)?;
    service.store.expect(arn, Kind::Solution)?;
    require_no_children(service, arn, &[Kind::Campaign])?;
    let versions = service.store.list(Kind::SolutionVersion, Some(arn))?;
    for version in &versions {
        if super::service::is_unfinished(version.status()) {
            return Err(AwsError::in_use(format!("solution version {} is {}", version.arn, version.status())));
        }
        for job in service.store.list(Kind::BatchInferenceJob, Some(&version.arn))? {
            if super::service::is_unfinished(job.status()) {
                return Err(AwsError::in_use(format!("batch inference job {} is still {}", job.arn, job.status())));
            }
        }
    }
    for version in versions {
        for job in service.store.list(Kind::BatchInferenceJob, Some(&version.arn))? {
            service.store.delete(&job.arn)?;
        }
        service.drop_model(&version.arn);
        service.store.delete(&version.arn)?;
    }
    service.store.delete(arn)?;
    Ok(json!({}))
}

fn create_solution_version(service: &Arc<Personalize>, f: &Fields) -> Result<Value, AwsError> {
    let solution_arn = f.arn("solutionArn", Kind::Solution)?;
    if let Some(name) = f.optional("name")? {
        super::resource::check_name("name", name)?;
    }
    let mode = f.optional("trainingMode")?.unwrap_or("FULL");
    if mode != "FULL" && mode != "UPDATE" {
        return Err(AwsError::invalid(format!("trainingMode: {mode:?} is not FULL or UPDATE")));
    }
    check_tags(f)?;
    let solution = service.store.expect(solution_arn, Kind::Solution)?;
    require_active(&solution)?;
    let group_arn = solution.text("datasetGroupArn").unwrap_or_default().to_string();
    let interactions = service.store.list(Kind::Dataset, Some(&group_arn))?;
    if !interactions.iter().any(|d| d.text("datasetType") == Some("INTERACTIONS")) {
        return Err(AwsError::invalid(format!(
            "solutionArn: dataset group {group_arn} has no Interactions dataset to train on"
        )));
    }
    let id = format!("{:08x}", rand::random::<u32>());
    let solution_name = solution.text("name").unwrap_or_default();
    let arn = service.arns.arn(Kind::SolutionVersion, &format!("{solution_name}/{id}"));
    let mut doc = Personalize::new_doc(Kind::SolutionVersion, "solutionArn", solution_arn, "solutionVersionArn", &arn);
    if let Some(name) = f.optional("name")? {
        doc.insert("name".into(), json!(name));
    }
    for field in ["performHPO", "performAutoML", "recipeArn", "eventType", "datasetGroupArn", "solutionConfig"] {
        if let Some(v) = solution.doc.get(field) {
            doc.insert(field.into(), v.clone());
        }
    }
    doc.insert("trainingMode".into(), json!(mode));
    doc.insert("trainingType".into(), json!("MANUAL"));
    service.create(Resource::new(Kind::SolutionVersion, &arn, Some(solution_arn), doc))?;
    Ok(json!({ "solutionVersionArn": arn }))
}

fn solution_metrics(service: &Arc<Personalize>, f: &Fields) -> Result<Value, AwsError> {
    let arn = f.arn("solutionVersionArn", Kind::SolutionVersion)?;
    let version = service.store.expect(arn, Kind::SolutionVersion)?;
    require_active(&version)?;
    let metrics = version.private.get("metrics").cloned().unwrap_or_else(|| json!({}));
    Ok(json!({ "solutionVersionArn": arn, "metrics": metrics }))
}

fn stop_solution_version(service: &Arc<Personalize>, f: &Fields) -> Result<Value, AwsError> {
    let arn = f.arn("solutionVersionArn", Kind::SolutionVersion)?;
    service.store.expect(arn, Kind::SolutionVersion)?;
    // Checked and changed in one transaction, so a version that finishes meanwhile is never marked stopping.
    service.store.update(arn, |r| {
        if r.status() != status::CREATE_PENDING && r.status() != status::CREATE_IN_PROGRESS {
            return Err(AwsError::in_use(format!(
                "solution version {arn} is {}; only a version being created can be stopped",
                r.status()
            )));
        }
        set_status(r, status::CREATE_STOPPING);
        Ok(())
    })?;
    service.stop_flag(arn).store(true, std::sync::atomic::Ordering::SeqCst);
    Ok(json!({}))
}

/// Checks a campaign config's fields; returns it for storing.
fn campaign_config(f: &Fields) -> Result<Option<Value>, AwsError> {
    let Some(config) = f.object("campaignConfig")? else { return Ok(None) };
    if let Some(exploration) = config.get("itemExplorationConfig") {
        let map = exploration
            .as_object()
            .ok_or_else(|| AwsError::invalid("campaignConfig.itemExplorationConfig: expected a map"))?;
        for (k, v) in map {
            if k != "explorationWeight" && k != "explorationItemAgeCutOff" {
                return Err(AwsError::invalid(format!(
                    "campaignConfig.itemExplorationConfig.{k}: only explorationWeight and explorationItemAgeCutOff exist"
                )));
            }
            v.as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .ok_or_else(|| AwsError::invalid(format!("campaignConfig.itemExplorationConfig.{k}: not a number")))?;
        }
    }
    Ok(Some(Value::Object(config.clone())))
}

/// Refuses a campaign config whose exploration settings the version's recipe would reject at request time.
fn check_campaign_config(version: &Resource, config: Option<&Value>) -> Result<(), AwsError> {
    let (recipe, values) = super::serving::version_values(version)?;
    super::serving::with_campaign_config(recipe, &values, config).map(drop)
}

fn create_campaign(service: &Arc<Personalize>, f: &Fields) -> Result<Value, AwsError> {
    let name = f.name("name")?;
    let version_arn = f.arn("solutionVersionArn", Kind::SolutionVersion)?;
    let tps = f.integer("minProvisionedTPS", 1, i64::MAX)?.unwrap_or(1);
    let config = campaign_config(f)?;
    check_tags(f)?;
    let version = service.store.expect(version_arn, Kind::SolutionVersion)?;
    require_active(&version)?;
    check_campaign_config(&version, config.as_ref())?;
    let arn = service.arns.arn(Kind::Campaign, name);
    let mut doc = Personalize::new_doc(Kind::Campaign, "name", name, "campaignArn", &arn);
    doc.insert("solutionVersionArn".into(), json!(version_arn));
    doc.insert("minProvisionedTPS".into(), json!(tps));
    if let Some(config) = config {
        doc.insert("campaignConfig".into(), config);
    }
    service.create(Resource::new(Kind::Campaign, &arn, version.parent.as_deref(), doc))?;
    Ok(json!({ "campaignArn": arn }))
}

fn update_campaign(service: &Arc<Personalize>, f: &Fields) -> Result<Value, AwsError> {
    let arn = f.arn("campaignArn", Kind::Campaign)?;
    let version_arn = f.optional_arn("solutionVersionArn", Kind::SolutionVersion)?;
    let tps = f.integer("minProvisionedTPS", 1, i64::MAX)?;
    let config = campaign_config(f)?;
    let campaign = service.store.expect(arn, Kind::Campaign)?;
    let version_arn = version_arn.unwrap_or(campaign.text("solutionVersionArn").unwrap_or_default()).to_string();
    let version = service.store.expect(&version_arn, Kind::SolutionVersion)?;
    require_active(&version)?;
    if version.parent != campaign.parent {
        return Err(AwsError::invalid(format!(
            "solutionVersionArn: {version_arn} belongs to another solution than the campaign's"
        )));
    }
    check_campaign_config(&version, config.as_ref().or(campaign.doc.get("campaignConfig")))?;
    // Checked and changed in one transaction: two concurrent updates cannot both start.
    service.store.update(arn, |r| {
        if r.status() != status::ACTIVE && r.status() != status::CREATE_FAILED {
            return Err(AwsError::in_use(format!("campaign {arn} is {}; it must be ACTIVE or CREATE FAILED", r.status())));
        }
        if super::service::has_pending_update(r) {
            return Err(AwsError::in_use(format!("campaign {arn} is already being updated")));
        }
        let mut update = json!({
            "solutionVersionArn": version_arn,
            "minProvisionedTPS": tps.map(Value::from).or_else(|| r.doc.get("minProvisionedTPS").cloned()).unwrap_or(json!(1)),
            "status": status::CREATE_PENDING,
            "creationDateTime": now_seconds(),
            "lastUpdatedDateTime": now_seconds(),
        });
        if let Some(config) = config.clone().or_else(|| r.doc.get("campaignConfig").cloned()) {
            update["campaignConfig"] = config;
        }
        r.doc.insert("latestCampaignUpdate".into(), update);
        // A failed campaign has nothing to keep serving: it goes through creation again.
        if r.status() == status::CREATE_FAILED {
            set_status(r, status::CREATE_PENDING);
        }
        Ok(())
    })?;
    service.start(arn.to_string());
    Ok(json!({ "campaignArn": arn }))
}

fn create_event_tracker(service: &Arc<Personalize>, f: &Fields) -> Result<Value, AwsError> {
    let name = f.name("name")?;
    let group_arn = f.arn("datasetGroupArn", Kind::DatasetGroup)?;
    check_tags(f)?;
    let group = service.store.expect(group_arn, Kind::DatasetGroup)?;
    require_active(&group)?;
    if let Some(existing) = service.store.list(Kind::EventTracker, Some(group_arn))?.first() {
        return Err(AwsError::limit(format!(
            "dataset group {group_arn} already has event tracker {} (one per dataset group, as in Personalize)",
            existing.arn
        )));
    }
    let tracking_id = format!("{:032x}", rand::random::<u128>());
    let tracking_id = format!(
        "{}-{}-{}-{}-{}",
        &tracking_id[..8],
        &tracking_id[8..12],
        &tracking_id[12..16],
        &tracking_id[16..20],
        &tracking_id[20..]
    );
    let arn = service.arns.arn(Kind::EventTracker, &tracking_id[..8]);
    let mut doc = Personalize::new_doc(Kind::EventTracker, "name", name, "eventTrackerArn", &arn);
    doc.insert("trackingId".into(), json!(tracking_id));
    doc.insert("accountId".into(), json!(service.config.account));
    doc.insert("datasetGroupArn".into(), json!(group_arn));
    service.create(Resource::new(Kind::EventTracker, &arn, Some(group_arn), doc))?;
    service.set_tracker(&tracking_id, Some(group_arn));
    Ok(json!({ "eventTrackerArn": arn, "trackingId": tracking_id }))
}

fn delete_event_tracker(service: &Arc<Personalize>, f: &Fields) -> Result<Value, AwsError> {
    let arn = f.arn("eventTrackerArn", Kind::EventTracker)?;
    let tracker = service.store.expect(arn, Kind::EventTracker)?;
    if let Some(id) = tracker.text("trackingId") {
        service.set_tracker(id, None);
    }
    service.store.delete(arn)?;
    Ok(json!({}))
}

/// Deletes a resource nothing else depends on (beyond the listed kinds, which must be gone).
fn delete_leaf(
    service: &Arc<Personalize>,
    f: &Fields,
    arn_field: &str,
    kind: Kind,
    children: &[Kind],
) -> Result<Value, AwsError> {
    let arn = f.arn(arn_field, kind)?;
    let resource = service.store.expect(arn, kind)?;
    require_no_children(service, arn, children)?;
    if kind == Kind::Filter {
        for job in service.store.list(Kind::BatchInferenceJob, None)? {
            if job.text("filterArn") == Some(arn) && super::service::is_unfinished(job.status()) {
                return Err(AwsError::in_use(format!("batch inference job {} uses filter {arn}", job.arn)));
            }
        }
    }
    if super::service::is_unfinished(resource.status()) {
        return Err(AwsError::in_use(format!("{} {arn} is {}", kind.label(), resource.status())));
    }
    service.store.delete(arn)?;
    if kind == Kind::Filter {
        service.forget_filter(arn);
    }
    Ok(json!({}))
}

fn create_filter(service: &Arc<Personalize>, f: &Fields) -> Result<Value, AwsError> {
    let name = f.name("name")?;
    let group_arn = f.arn("datasetGroupArn", Kind::DatasetGroup)?;
    let expression = f.required("filterExpression")?;
    if expression.is_empty() || expression.len() > 2500 {
        return Err(AwsError::invalid(format!("filterExpression: {} characters; 1 to 2500", expression.len())));
    }
    check_tags(f)?;
    crate::filter::FilterExpr::parse(expression).map_err(|e| AwsError::invalid(format!("filterExpression: {e}")))?;
    let group = service.store.expect(group_arn, Kind::DatasetGroup)?;
    require_active(&group)?;
    let arn = service.arns.arn(Kind::Filter, name);
    let mut doc = Personalize::new_doc(Kind::Filter, "name", name, "filterArn", &arn);
    doc.insert("datasetGroupArn".into(), json!(group_arn));
    doc.insert("filterExpression".into(), json!(expression));
    service.create(Resource::new(Kind::Filter, &arn, Some(group_arn), doc))?;
    Ok(json!({ "filterArn": arn }))
}

fn create_batch_job(service: &Arc<Personalize>, f: &Fields) -> Result<Value, AwsError> {
    let name = f.name("jobName")?;
    let version_arn = f.arn("solutionVersionArn", Kind::SolutionVersion)?;
    let filter_arn = f.optional_arn("filterArn", Kind::Filter)?;
    f.required("roleArn")?;
    let num_results = f.integer("numResults", 1, 500)?.unwrap_or(25);
    let input = f.object("jobInput")?.ok_or_else(|| AwsError::invalid("jobInput: required"))?;
    let source = input
        .get("s3DataSource")
        .and_then(Value::as_object)
        .ok_or_else(|| AwsError::invalid("jobInput.s3DataSource: required"))?;
    let input_path = location(service, "jobInput.s3DataSource.path", source.get("path"))?;
    let output = f.object("jobOutput")?.ok_or_else(|| AwsError::invalid("jobOutput: required"))?;
    let destination = output
        .get("s3DataDestination")
        .and_then(Value::as_object)
        .ok_or_else(|| AwsError::invalid("jobOutput.s3DataDestination: required"))?;
    let output_path = location(service, "jobOutput.s3DataDestination.path", destination.get("path"))?;
    if let Some(mode) = f.optional("batchInferenceJobMode")? {
        if mode != "BATCH_INFERENCE" {
            return Err(AwsError::invalid(format!(
                "batchInferenceJobMode: {mode:?}: streamrec runs BATCH_INFERENCE only (no theme generation)"
            )));
        }
    }
    check_tags(f)?;
    let version = service.store.expect(version_arn, Kind::SolutionVersion)?;
    require_active(&version)?;
    check_campaign_config(&version, f.0.get("batchInferenceJobConfig"))
        .map_err(|e| AwsError::invalid(e.message.replace("campaignConfig", "batchInferenceJobConfig")))?;
    if let Some(filter) = filter_arn {
        let filter = service.store.expect(filter, Kind::Filter)?;
        if filter.text("datasetGroupArn") != version.text("datasetGroupArn") {
            return Err(AwsError::invalid(format!("filterArn: {} belongs to another dataset group", filter.arn)));
        }
    }
    let arn = service.arns.arn(Kind::BatchInferenceJob, name);
    let mut doc = Personalize::new_doc(Kind::BatchInferenceJob, "jobName", name, "batchInferenceJobArn", &arn);
    doc.insert("solutionVersionArn".into(), json!(version_arn));
    doc.insert("numResults".into(), json!(num_results));
    doc.insert("jobInput".into(), json!({ "s3DataSource": { "path": input_path } }));
    doc.insert("jobOutput".into(), json!({ "s3DataDestination": { "path": output_path } }));
    doc.insert("batchInferenceJobMode".into(), json!("BATCH_INFERENCE"));
    copy_optional(&mut doc, f, &["filterArn", "roleArn", "batchInferenceJobConfig"]);
    service.create(Resource::new(Kind::BatchInferenceJob, &arn, Some(version_arn), doc))?;
    Ok(json!({ "batchInferenceJobArn": arn }))
}

fn create_deletion_job(service: &Arc<Personalize>, f: &Fields) -> Result<Value, AwsError> {
    let name = f.name("jobName")?;
    let group_arn = f.arn("datasetGroupArn", Kind::DatasetGroup)?;
    f.required("roleArn")?;
    let source = f.object("dataSource")?.ok_or_else(|| AwsError::invalid("dataSource: required"))?;
    let data_location = location(service, "dataSource.dataLocation", source.get("dataLocation"))?;
    check_tags(f)?;
    let group = service.store.expect(group_arn, Kind::DatasetGroup)?;
    require_active(&group)?;
    let arn = service.arns.arn(Kind::DataDeletionJob, name);
    let mut doc = Personalize::new_doc(Kind::DataDeletionJob, "jobName", name, "dataDeletionJobArn", &arn);
    doc.insert("datasetGroupArn".into(), json!(group_arn));
    doc.insert("dataSource".into(), json!({ "dataLocation": data_location }));
    copy_optional(&mut doc, f, &["roleArn"]);
    service.create(Resource::new(Kind::DataDeletionJob, &arn, Some(group_arn), doc))?;
    Ok(json!({ "dataDeletionJobArn": arn }))
}

fn recipe_type(recipe: &RecipeDef) -> &'static str {
    use crate::recipes::RecipeKind::*;
    match recipe.kind {
        UserPersonalization | NextItem => "USER_PERSONALIZATION",
        PersonalizedRanking => "PERSONALIZED_RANKING",
        RelatedItems => "RELATED_ITEMS",
        PopularItems => "POPULAR_ITEMS",
    }
}

fn recipe_doc(recipe: &RecipeDef, full: bool) -> Value {
    let mut doc = json!({
        "name": recipe.arn_name,
        "recipeArn": recipe.arn(),
        "status": status::ACTIVE,
        "creationDateTime": 0.0,
        "lastUpdatedDateTime": 0.0,
    });
    if full {
        doc["description"] = json!(recipe.description);
        doc["recipeType"] = json!(recipe_type(recipe));
        doc["algorithmArn"] = json!(format!("arn:aws:personalize:::algorithm/{}", recipe.arn_name));
    }
    doc
}

fn list_recipes(f: &Fields) -> Result<Value, AwsError> {
    if let Some(provider) = f.optional("recipeProvider")? {
        if provider != "SERVICE" {
            return Err(AwsError::invalid(format!("recipeProvider: {provider:?} is not SERVICE")));
        }
    }
    page(f, "recipes", recipes::RECIPES.iter().map(|r| recipe_doc(r, false)).collect())
}

fn describe_recipe(f: &Fields) -> Result<Value, AwsError> {
    let arn = f.required("recipeArn")?;
    let recipe = recipes::find(arn).ok_or_else(|| AwsError::not_found(format!("recipe {arn}")))?;
    Ok(json!({ "recipe": recipe_doc(recipe, true) }))
}

/// Checks that an ARN names an existing resource of its kind (for the runtime's campaign and filter ARNs).
pub fn resolve(service: &Personalize, field: &str, arn: &str, kind: Kind) -> Result<Resource, AwsError> {
    if kind_of(arn) != Some(kind) {
        return Err(AwsError::invalid(format!("{field}: {arn:?} is not the ARN of a {}", kind.label())));
    }
    service.store.expect(arn, kind)
}
