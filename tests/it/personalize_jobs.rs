//! The Personalize API's jobs and lifecycles through the official AWS SDK for Rust, against a `streamrec
//! serve` child: the catalog and the live data survive a graceful stop and a SIGKILL; imports, batch
//! inference and exports go through `s3://` (a fake S3 endpoint in this process that checks every SigV4
//! signature), `http://` and `file://` locations; HPO and AutoML tune and report; training stops on
//! request; UpdateCampaign deploys another version; data deletion forgets a user; lists page; and the
//! error paths (bad tokens, names in use, bad filter expressions, unknown operations, PutItems checks)
//! answer with the exceptions the SDKs expect.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::personalize::{
    campaign, create_dataset, create_filter, create_group, create_version, histories, import, now_unix, plain_solution,
    poll, s3_config, solution, tracker, version, Clients, INTERACTIONS_SCHEMA, ROLE, USER_PERSONALIZATION,
};
use crate::common::Server;
use aws_sdk_personalize::types::{
    AutoMlConfig, BatchInferenceJobInput, BatchInferenceJobOutput, DataSource, DatasetExportJobOutput, HpoConfig,
    HpoObjective, HpoResourceConfig, IngestionMode, SolutionConfig,
};
use serde_json::{json, Value};
use streamrec::personalize::sigv4;

const KEY_ID: &str = "AKIDSTREAMRECJOBS";
const SECRET: &str = "streamrec-jobs-secret";
/// The fake S3 endpoint's only key.
const S3_KEY_ID: &str = "AKIDFAKES3";
const S3_SECRET: &str = "fake-s3-secret";

const ITEMS_SCHEMA: &str = r#"{"type": "record", "name": "Items",
  "namespace": "com.amazonaws.personalize.schema", "version": "1.0", "fields": [
    {"name": "ITEM_ID", "type": "string"},
    {"name": "GENRES", "type": ["null", "string"], "categorical": true},
    {"name": "PRICE", "type": ["null", "float"]}]}"#;

const USERS_SCHEMA: &str = r#"{"type": "record", "name": "Users",
  "namespace": "com.amazonaws.personalize.schema", "version": "1.0", "fields": [
    {"name": "USER_ID", "type": "string"}, {"name": "AGE", "type": ["null", "int"]}]}"#;

// ---------------------------------------------------------------------------------------------------------
// Server.

/// Starts `streamrec serve` on `data_dir` with signature checks and extra environment variables (the S3
/// endpoint and its credentials), as `common::Server::start_with` does otherwise.
/// A fresh scratch directory, a server on its `data` folder with no extra environment, and clients signing
/// for it. The directory and server live as long as the caller keeps them.
fn fresh_server() -> (tempfile::TempDir, Server, Clients) {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"), &[]);
    let c = Clients::new(&server.base, KEY_ID, SECRET);
    (dir, server, c)
}

fn start(data_dir: &Path, env: &[(&str, String)]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_streamrec"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--access-key", &format!("{KEY_ID}:{SECRET}"), "--data-dir"])
        .arg(data_dir)
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env_remove("AWS_SESSION_TOKEN")
        // The server's log, when a failure needs it: PERSONALIZE_JOBS_SERVER_LOG=1 cargo test ...
        .stderr(if std::env::var_os("PERSONALIZE_JOBS_SERVER_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        });
    for (k, v) in env {
        command.env(k, v);
    }
    Server::spawn(command)
}

// ---------------------------------------------------------------------------------------------------------
// Resources.

/// A small, skewed interactions CSV (low item numbers are popular): `users` users with `per_user` events
/// each over `items` items, every fourth a purchase, with increasing timestamps.
fn interactions_csv(users: usize, items: usize, per_user: usize) -> String {
    let mut out = String::from("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n");
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |n: usize| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize % n
    };
    for u in 0..users {
        for k in 0..per_user {
            let item = next(items).min(next(items));
            let kind = if k % 4 == 3 { "purchase" } else { "view" };
            writeln!(out, "user{u},item{item},{},{kind}", 1_600_000_000 + (u * per_user + k) * 60).unwrap();
        }
    }
    out
}

struct Group {
    arn: String,
    schema: String,
    dataset: String,
    import: String,
}

/// A dataset group named `name` whose Interactions dataset holds `csv` (written into `dir`).
async fn group_with_interactions(c: &Clients, dir: &Path, name: &str, csv: &str) -> Group {
    let arn = create_group(c, name).await;
    let (schema, dataset) =
        create_dataset(c, &arn, &format!("{name}-interactions"), INTERACTIONS_SCHEMA, "Interactions").await;
    let file = dir.join(format!("{name}-interactions.csv"));
    std::fs::write(&file, csv).unwrap();
    let job = import(c, &dataset, &format!("{name}-history"), &format!("file://{}", file.display())).await;
    assert_eq!(job["importReport"]["rowsAccepted"], csv.lines().count() - 1, "{job}");
    Group { arn, schema, dataset, import: job["datasetImportJobArn"].as_str().unwrap().to_string() }
}

/// A group named `name` with a small imported history (returned) and one live event: PutEvents of a click
/// on `fresh-item` by `user0`.
async fn group_with_a_live_event(c: &Clients, dir: &Path, name: &str) -> (Group, String) {
    let csv = interactions_csv(10, 8, 3);
    let g = group_with_interactions(c, dir, name, &csv).await;
    let (_, tracking_id) = tracker(c, &g.arn).await;
    c.put_event(&tracking_id, "user0", "fresh-item", "click").await;
    (g, csv)
}

/// Exports a dataset to a new directory under `dir` and returns the CSV's header and rows.
async fn export(
    c: &Clients,
    dir: &Path,
    dataset: &str,
    job: &str,
    mode: IngestionMode,
) -> (Vec<String>, Vec<Vec<String>>) {
    let out = dir.join(job);
    let created = c
        .control
        .create_dataset_export_job()
        .job_name(job)
        .dataset_arn(dataset)
        .ingestion_mode(mode)
        .role_arn(ROLE)
        .job_output(
            DatasetExportJobOutput::builder()
                .s3_data_destination(s3_config(format!("file://{}/", out.display())))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateDatasetExportJob: {:?}", e.into_service_error()));
    let arn = created.dataset_export_job_arn().unwrap();
    c.wait_active("DescribeDatasetExportJob", "datasetExportJobArn", arn).await;
    let files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    assert_eq!(files.len(), 1, "one CSV expected in {}: {files:?}", out.display());
    let mut reader = csv::Reader::from_path(&files[0]).unwrap();
    let header = reader.headers().unwrap().iter().map(str::to_string).collect();
    let rows = reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
    (header, rows)
}

// ---------------------------------------------------------------------------------------------------------
// 1. Restarts.

/// Every resource's Describe document, in the order given.
async fn describe_all(c: &Clients, resources: &[(&str, &str, String)]) -> Vec<Value> {
    let mut out = Vec::new();
    for (operation, field, arn) in resources {
        out.push(c.describe(operation, field, arn).await);
    }
    out
}

async fn catalog_and_data_survive_a_restart(kill: bool) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data, &[]);
    let c = Clients::new(&server.base, KEY_ID, SECRET);
    let csv = interactions_csv(40, 30, 8);
    let g = group_with_interactions(&c, dir.path(), "shop", &csv).await;
    let solution = plain_solution(&c, &g.arn, "personal").await;
    let version = version(&c, &solution).await;
    let campaign = campaign(&c, "live", &version).await;
    let (tracker, tracking_id) = tracker(&c, &g.arn).await;
    let resources = [
        ("DescribeDatasetGroup", "datasetGroupArn", g.arn.clone()),
        ("DescribeSchema", "schemaArn", g.schema.clone()),
        ("DescribeDataset", "datasetArn", g.dataset.clone()),
        ("DescribeDatasetImportJob", "datasetImportJobArn", g.import.clone()),
        ("DescribeSolution", "solutionArn", solution.clone()),
        ("DescribeSolutionVersion", "solutionVersionArn", version.clone()),
        ("DescribeCampaign", "campaignArn", campaign.clone()),
        ("DescribeEventTracker", "eventTrackerArn", tracker.clone()),
    ];
    let before = describe_all(&c, &resources).await;
    let user = "user3";
    let seen = &histories(&csv)[user];
    let answer_before = c.recommend(&campaign, user).await;
    assert!(!answer_before.is_empty());
    // Work still running at the stop: a version in training (many HPO trials) must start again and finish.
    let tuned = hpo_solution(&c, &g.arn, "tuned", "25", true).await;
    let running = create_version(&c, &tuned).await;
    let (statuses, _) =
        c.wait("DescribeSolutionVersion", "solutionVersionArn", &running, &["CREATE IN_PROGRESS", "ACTIVE"]).await;
    assert_eq!(statuses.last().map(String::as_str), Some("CREATE IN_PROGRESS"), "trained too fast: {statuses:?}");
    if kill {
        server.kill();
    } else {
        server.stop();
    }

    let server = start(&data, &[]);
    let c = Clients::new(&server.base, KEY_ID, SECRET);
    let after = describe_all(&c, &resources).await;
    for ((operation, _, arn), (b, a)) in resources.iter().zip(before.iter().zip(&after)) {
        assert_eq!(a["status"], b["status"], "{operation} {arn}: status changed by the restart");
        assert_eq!(a, b, "{operation} {arn}: the document changed across the restart");
    }
    let answer_after = c.recommend(&campaign, user).await;
    assert!(answer_after.iter().all(|i| !seen.contains(i)), "{user}'s history was lost: {answer_after:?}");
    let doc = c.wait_active("DescribeSolutionVersion", "solutionVersionArn", &running).await;
    assert!(doc["tunedHPOParams"]["algorithmHyperParameters"].is_object(), "{doc}");
    assert_eq!(answer_after, answer_before, "the campaign answers differently after the restart");

    // The old trackingId still routes events; the next answer reflects the event.
    let item = answer_after[0].clone();
    c.put_event(&tracking_id, user, &item, "purchase").await;
    let answer = c.recommend(&campaign, user).await;
    assert!(!answer.contains(&item), "{item} was just bought but is still recommended: {answer:?}");
    assert!(!answer.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_and_live_data_survive_a_graceful_stop() {
    catalog_and_data_survive_a_restart(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_and_live_data_survive_sigkill() {
    catalog_and_data_survive_a_restart(true).await;
}

// ---------------------------------------------------------------------------------------------------------
// 2. S3 and HTTP locations.

/// A fake S3-compatible endpoint: objects under `/bucket/` need a SigV4 signature (service `s3`, S3's
/// rules) made with [`S3_SECRET`]; other paths are public web files. Every request is logged.
#[derive(Default)]
struct FakeS3 {
    objects: Mutex<HashMap<String, Vec<u8>>>,
    log: Mutex<Vec<String>>,
}

async fn fake_s3(
    axum::extract::State(s3): axum::extract::State<Arc<FakeS3>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::http::{Method, StatusCode};
    use axum::response::IntoResponse;
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap();
    let path = percent_encoding::percent_decode_str(parts.uri.path()).decode_utf8().unwrap().into_owned();
    if path.starts_with("/bucket/") {
        let secret_for = |key: &str| (key == S3_KEY_ID).then(|| S3_SECRET.to_string());
        let options = sigv4::VerifyOptions { service: "s3", s3: true, ..Default::default() };
        let request = sigv4::RequestParts::from_http(&parts);
        if let Err(e) = sigv4::verify_with(&request, &body, &secret_for, now_unix(), &options) {
            s3.log.lock().unwrap().push(format!("403 {} {path}", parts.method));
            return (StatusCode::FORBIDDEN, format!("<Error><Code>{}</Code><Message>{e}</Message></Error>", e.code()))
                .into_response();
        }
    }
    s3.log.lock().unwrap().push(format!("{} {path}", parts.method));
    let mut objects = s3.objects.lock().unwrap();
    match parts.method {
        Method::GET => match objects.get(&path) {
            Some(bytes) => (StatusCode::OK, bytes.clone()).into_response(),
            None => (StatusCode::NOT_FOUND, "<Error><Code>NoSuchKey</Code></Error>").into_response(),
        },
        Method::PUT => {
            objects.insert(path, body.to_vec());
            StatusCode::OK.into_response()
        }
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

/// Starts the fake S3 endpoint on an ephemeral port; returns its state and `http://127.0.0.1:PORT`.
async fn start_fake_s3() -> (Arc<FakeS3>, String) {
    let s3 = Arc::new(FakeS3::default());
    let app = axum::Router::new().fallback(fake_s3).with_state(s3.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (s3, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_and_batch_jobs_use_signed_s3_and_plain_http() {
    let (s3, s3_base) = start_fake_s3().await;
    let csv = interactions_csv(30, 20, 6);
    let small = interactions_csv(10, 20, 3);
    {
        let mut objects = s3.objects.lock().unwrap();
        objects.insert("/bucket/in/interactions.csv".into(), csv.clone().into_bytes());
        objects.insert(
            "/bucket/in/batch users (1).json".into(),
            b"{\"userId\": \"user1\"}\n{\"userId\": \"user2\"}\n{\"userId\": \"nobody\"}\n".to_vec(),
        );
        objects.insert("/interactions.csv".into(), small.clone().into_bytes());
    }
    // The fake endpoint refuses what is not signed with its key.
    let unsigned = reqwest::get(format!("{s3_base}/bucket/in/interactions.csv")).await.unwrap();
    assert_eq!(unsigned.status().as_u16(), 403);
    let host = s3_base.trim_start_matches("http://");
    let forged = sigv4::sign_request(&sigv4::Signing {
        method: "GET",
        host,
        path: "/bucket/in/interactions.csv",
        query: "",
        body: b"",
        access_key: S3_KEY_ID,
        secret_key: "wrong",
        session_token: None,
        region: "us-east-1",
        service: "s3",
        now_unix: now_unix(),
        s3: true,
    });
    let mut request = reqwest::Client::new().get(format!("{s3_base}/bucket/in/interactions.csv"));
    for (k, v) in forged {
        request = request.header(k, v);
    }
    assert_eq!(request.send().await.unwrap().status().as_u16(), 403);
    s3.log.lock().unwrap().clear();

    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("AWS_ENDPOINT_URL", s3_base.clone()),
        ("AWS_ACCESS_KEY_ID", S3_KEY_ID.to_string()),
        ("AWS_SECRET_ACCESS_KEY", S3_SECRET.to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
    ];
    let server = start(&dir.path().join("data"), &env);
    let c = Clients::new(&server.base, KEY_ID, SECRET);
    let group = create_group(&c, "s3").await;
    let (_, dataset) = create_dataset(&c, &group, "s3-interactions", INTERACTIONS_SCHEMA, "Interactions").await;
    let job = import(&c, &dataset, "from-s3", "s3://bucket/in/interactions.csv").await;
    assert_eq!(job["importReport"]["rowsAccepted"], csv.lines().count() - 1, "{job}");

    // Batch inference from and to the bucket.
    let solution = plain_solution(&c, &group, "s3-personal").await;
    let version = version(&c, &solution).await;
    let batch = c
        .control
        .create_batch_inference_job()
        .job_name("nightly")
        .solution_version_arn(&version)
        .num_results(5)
        .role_arn(ROLE)
        .job_input(
            BatchInferenceJobInput::builder()
                .s3_data_source(s3_config("s3://bucket/in/batch users (1).json".into()))
                .build(),
        )
        .job_output(
            BatchInferenceJobOutput::builder().s3_data_destination(s3_config("s3://bucket/out/".into())).build(),
        )
        .send()
        .await
        .unwrap();
    c.wait_active("DescribeBatchInferenceJob", "batchInferenceJobArn", batch.batch_inference_job_arn().unwrap()).await;
    let output = s3.objects.lock().unwrap().get("/bucket/out/batch users (1).json.out").cloned();
    let output = String::from_utf8(output.expect("no PUT of out/batch users (1).json.out")).unwrap();
    let lines: Vec<Value> = output.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{output}");
    for (line, user) in lines.iter().zip(["user1", "user2", "nobody"]) {
        assert_eq!(line["input"]["userId"], user, "{line}");
        let items = line["output"]["recommendedItems"].as_array().unwrap_or_else(|| panic!("{line}"));
        assert_eq!(items.len(), 5, "{line}");
    }
    let log = s3.log.lock().unwrap().clone();
    for expected in [
        "GET /bucket/in/interactions.csv",
        "GET /bucket/in/batch users (1).json",
        "PUT /bucket/out/batch users (1).json.out",
    ] {
        assert!(log.iter().any(|l| l == expected), "{expected} missing from {log:?}");
    }
    assert!(log.iter().all(|l| !l.starts_with("403")), "streamrec sent a request S3 refused: {log:?}");

    // A plain http:// URL (FULL import: replaces the dataset's interactions).
    let job = import(&c, &dataset, "from-http", &format!("{s3_base}/interactions.csv")).await;
    assert_eq!(job["importReport"]["rowsAccepted"], small.lines().count() - 1, "{job}");
    assert!(s3.log.lock().unwrap().iter().any(|l| l == "GET /interactions.csv"));

    // An export to the bucket: the live interactions, i.e. the http import's rows.
    let export = c
        .control
        .create_dataset_export_job()
        .job_name("to-s3")
        .dataset_arn(&dataset)
        .ingestion_mode(IngestionMode::All)
        .role_arn(ROLE)
        .job_output(
            DatasetExportJobOutput::builder().s3_data_destination(s3_config("s3://bucket/exports/".into())).build(),
        )
        .send()
        .await
        .unwrap();
    c.wait_active("DescribeDatasetExportJob", "datasetExportJobArn", export.dataset_export_job_arn().unwrap()).await;
    let exported: Vec<String> = s3
        .objects
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("/bucket/exports/"))
        .map(|(_, v)| String::from_utf8(v.clone()).unwrap())
        .collect();
    assert_eq!(exported.len(), 1, "{exported:?}");
    let mut lines: Vec<&str> = exported[0].lines().collect();
    let mut expected: Vec<&str> = small.lines().collect();
    assert_eq!(lines.remove(0), expected.remove(0));
    lines.sort();
    expected.sort();
    assert_eq!(lines, expected);

    // A missing object fails the job, naming the location and S3's answer.
    let missing = c
        .control
        .create_dataset_import_job()
        .job_name("missing")
        .dataset_arn(&dataset)
        .role_arn(ROLE)
        .data_source(DataSource::builder().data_location("s3://bucket/in/missing.csv").build())
        .send()
        .await
        .unwrap();
    let arn = missing.dataset_import_job_arn().unwrap();
    let (_, doc) = c.wait("DescribeDatasetImportJob", "datasetImportJobArn", arn, &["CREATE FAILED", "ACTIVE"]).await;
    let reason = doc["failureReason"].as_str().unwrap_or_default();
    assert!(reason.contains("s3://bucket/in/missing.csv") && reason.contains("404"), "{doc}");
}

// ---------------------------------------------------------------------------------------------------------
// 3. HPO and AutoML.

/// A user-personalization solution with `performHPO` and `maxNumberOfTrainingJobs = trials`, with or without
/// an `hpoObjective` (Personalize's model makes it optional).
async fn hpo_solution(c: &Clients, group: &str, name: &str, trials: &str, objective: bool) -> String {
    let mut hpo = HpoConfig::builder().hpo_resource_config(
        HpoResourceConfig::builder().max_number_of_training_jobs(trials).max_parallel_training_jobs("1").build(),
    );
    if objective {
        hpo = hpo.hpo_objective(
            HpoObjective::builder()
                .r#type("Maximize")
                .metric_name("normalized_discounted_cumulative_gain_at_10")
                .build(),
        );
    }
    let create = c
        .control
        .create_solution()
        .name(name)
        .dataset_group_arn(group)
        .recipe_arn(USER_PERSONALIZATION)
        .perform_hpo(true)
        .solution_config(SolutionConfig::builder().hpo_config(hpo.build()).build());
    solution(c, create).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hpo_and_automl_tune_and_report_their_choices() {
    let (dir, _server, c) = fresh_server();
    let g = group_with_interactions(&c, dir.path(), "tuned", &interactions_csv(60, 30, 8)).await;

    let solution_arn = hpo_solution(&c, &g.arn, "hpo", "3", true).await;
    let version_arn = version(&c, &solution_arn).await;
    let described = c.control.describe_solution_version().solution_version_arn(&version_arn).send().await.unwrap();
    let described = described.solution_version().unwrap();
    assert!(described.perform_hpo());
    let tuned = described.tuned_hpo_params().and_then(|t| t.algorithm_hyper_parameters()).expect("tunedHPOParams");
    let recipe = streamrec::recipes::find(USER_PERSONALIZATION).unwrap();
    for h in recipe.hyperparameters.iter().filter(|h| h.scope == streamrec::recipes::Scope::Query) {
        assert!(tuned.contains_key(h.name), "tunedHPOParams lacks {}: {tuned:?}", h.name);
    }
    let metrics = c.control.get_solution_metrics().solution_version_arn(&version_arn).send().await.unwrap();
    let metrics = metrics.metrics().expect("metrics");
    for name in
        ["coverage", "mean_reciprocal_rank_at_25", "normalized_discounted_cumulative_gain_at_10", "precision_at_5"]
    {
        let value = metrics.get(name).copied().unwrap_or(f64::NAN);
        assert!((0.0..=1.0).contains(&value), "{name} = {value} in {metrics:?}");
    }

    // AutoML between two recipes.
    let candidates = [USER_PERSONALIZATION, "arn:aws:personalize:::recipe/streamrec-next-item"];
    let auto_ml = AutoMlConfig::builder()
        .metric_name("normalized_discounted_cumulative_gain_at_10")
        .recipe_list(candidates[0])
        .recipe_list(candidates[1])
        .build();
    let create = c
        .control
        .create_solution()
        .name("auto")
        .dataset_group_arn(&g.arn)
        .perform_auto_ml(true)
        .solution_config(SolutionConfig::builder().auto_ml_config(auto_ml).build());
    let solution_arn = solution(&c, create).await;
    let version_arn = version(&c, &solution_arn).await;
    let described = c.control.describe_solution_version().solution_version_arn(&version_arn).send().await.unwrap();
    let chosen = described.solution_version().unwrap().recipe_arn().unwrap_or_default().to_string();
    assert!(candidates.contains(&chosen.as_str()), "AutoML chose {chosen}, not one of {candidates:?}");
    let solution = c.control.describe_solution().solution_arn(&solution_arn).send().await.unwrap();
    let solution = solution.solution().unwrap();
    assert_eq!(solution.auto_ml_result().and_then(|r| r.best_recipe_arn()), Some(chosen.as_str()), "{solution:?}");
    assert_eq!(solution.latest_solution_version().and_then(|v| v.solution_version_arn()), Some(version_arn.as_str()));
}

/// `hpoObjective` is optional in Personalize's model; without it HPO tunes for streamrec's default objective.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hpo_without_an_objective_trains() {
    let (dir, _server, c) = fresh_server();
    let g = group_with_interactions(&c, dir.path(), "default-objective", &interactions_csv(20, 10, 5)).await;
    let solution = hpo_solution(&c, &g.arn, "hpo", "2", false).await;
    version(&c, &solution).await;
}

// ---------------------------------------------------------------------------------------------------------
// 4. StopSolutionVersionCreation.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_solution_version_stops_on_request() {
    let (dir, _server, c) = fresh_server();
    let g = group_with_interactions(&c, dir.path(), "big", &interactions_csv(2_000, 400, 10)).await;
    let solution = hpo_solution(&c, &g.arn, "slow", "40", true).await;
    let version = create_version(&c, &solution).await;
    let (seen, _) =
        c.wait("DescribeSolutionVersion", "solutionVersionArn", &version, &["CREATE IN_PROGRESS", "ACTIVE"]).await;
    assert_eq!(seen.last().map(String::as_str), Some("CREATE IN_PROGRESS"), "training ended too fast: {seen:?}");
    let stop_asked = Instant::now();
    c.control.stop_solution_version_creation().solution_version_arn(&version).send().await.unwrap();
    let (seen, doc) =
        c.wait("DescribeSolutionVersion", "solutionVersionArn", &version, &["CREATE STOPPED", "ACTIVE"]).await;
    // CREATE STOPPING lasts until the running trial ends, which may be before the first look.
    assert!(seen == ["CREATE STOPPING", "CREATE STOPPED"] || seen == ["CREATE STOPPED"], "{seen:?}: {doc}");
    assert!(doc.get("tunedHPOParams").is_none(), "a stopped version reports a result: {doc}");
    assert!(stop_asked.elapsed() < Duration::from_secs(10), "stopping took {:?}", stop_asked.elapsed());
    // It stays stopped, and a stopped version cannot be stopped again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(c.describe("DescribeSolutionVersion", "solutionVersionArn", &version).await["status"], "CREATE STOPPED");
    let err = c
        .control
        .stop_solution_version_creation()
        .solution_version_arn(&version)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_in_use_exception(), "{err:?}");
}

/// A stop is final: a version whose stop was requested but not yet recorded when the server died must not
/// train again after the restart (Personalize: "You cannot resume creating a solution version once it has
/// been stopped").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data, &[]);
    let c = Clients::new(&server.base, KEY_ID, SECRET);
    let g = group_with_interactions(&c, dir.path(), "big", &interactions_csv(2_000, 400, 10)).await;
    let solution = hpo_solution(&c, &g.arn, "slow", "40", true).await;
    let version = create_version(&c, &solution).await;
    c.wait("DescribeSolutionVersion", "solutionVersionArn", &version, &["CREATE IN_PROGRESS"]).await;
    // Into the first trial (each takes most of a second), so that the stop stays pending until the kill.
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.control.stop_solution_version_creation().solution_version_arn(&version).send().await.unwrap();
    server.kill();

    let server = start(&data, &[]);
    let c = Clients::new(&server.base, KEY_ID, SECRET);
    let started = Instant::now();
    let mut seen = Vec::new();
    while started.elapsed() < Duration::from_secs(3) {
        let status = c.describe("DescribeSolutionVersion", "solutionVersionArn", &version).await["status"].clone();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status == "CREATE STOPPED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(seen.last().and_then(Value::as_str), Some("CREATE STOPPED"), "after the restart: {seen:?}");
    assert!(seen.iter().all(|s| s == "CREATE STOPPING" || s == "CREATE STOPPED"), "after the restart: {seen:?}");
}

// ---------------------------------------------------------------------------------------------------------
// 5. UpdateCampaign.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_campaign_deploys_another_version() {
    let (dir, _server, c) = fresh_server();
    let g = group_with_interactions(&c, dir.path(), "upd", &interactions_csv(30, 20, 6)).await;
    let solution = plain_solution(&c, &g.arn, "personal").await;
    let first = version(&c, &solution).await;
    let campaign = campaign(&c, "live", &first).await;

    // Stopping an ACTIVE version is refused.
    let err = c
        .control
        .stop_solution_version_creation()
        .solution_version_arn(&first)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_in_use_exception(), "{err:?}");

    let second = version(&c, &solution).await;
    assert_ne!(first, second);
    let described = c.control.describe_solution().solution_arn(&solution).send().await.unwrap();
    let latest = described.solution().unwrap().latest_solution_version().and_then(|v| v.solution_version_arn());
    assert_eq!(latest, Some(second.as_str()), "latestSolutionVersion is not the newest version");

    c.control.update_campaign().campaign_arn(&campaign).solution_version_arn(&second).send().await.unwrap();
    // Recommendations keep coming while the update runs.
    assert!(!c.recommend(&campaign, "user1").await.is_empty());
    // The campaign stays ACTIVE, serving the first version, while the update runs: wait for the update.
    poll(&campaign, &["ACTIVE"], || async {
        let doc = c.describe("DescribeCampaign", "campaignArn", &campaign).await;
        (doc["latestCampaignUpdate"]["status"].as_str().unwrap_or_default().to_string(), doc)
    })
    .await;
    let described = c.control.describe_campaign().campaign_arn(&campaign).send().await.unwrap();
    let described = described.campaign().unwrap();
    assert_eq!(described.status(), Some("ACTIVE"));
    assert_eq!(described.solution_version_arn(), Some(second.as_str()), "{described:?}");
    let update = described.latest_campaign_update().expect("latestCampaignUpdate");
    assert_eq!(update.solution_version_arn(), Some(second.as_str()));
    assert_eq!(update.status(), Some("ACTIVE"));
    assert!(!c.recommend(&campaign, "user1").await.is_empty());
}

// ---------------------------------------------------------------------------------------------------------
// 6. Dataset export jobs.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_jobs_write_the_live_interactions_and_items() {
    let (dir, _server, c) = fresh_server();
    let (g, csv) = group_with_a_live_event(&c, dir.path(), "exp").await;

    let (header, rows) = export(&c, dir.path(), &g.dataset, "interactions-all", IngestionMode::All).await;
    assert_eq!(header, ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"]);
    let mut expected: Vec<Vec<String>> =
        csv.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect();
    let fresh: Vec<&Vec<String>> = rows.iter().filter(|r| r[1] == "fresh-item").collect();
    assert_eq!(fresh.len(), 1, "the PutEvents event is not exported exactly once: {fresh:?}");
    assert_eq!((fresh[0][0].as_str(), fresh[0][3].as_str()), ("user0", "click"));
    expected.push(fresh[0].clone());
    let mut rows = rows;
    rows.sort();
    expected.sort();
    assert_eq!(rows, expected, "the export is not the imported rows plus the event");

    // Items: PutItems, then export.
    let (_, items) = create_dataset(&c, &g.arn, "exp-items", ITEMS_SCHEMA, "Items").await;
    let item = |id: &str, properties: &str| {
        aws_sdk_personalizeevents::types::Item::builder().item_id(id).properties(properties).build().unwrap()
    };
    c.events
        .put_items()
        .dataset_arn(&items)
        .items(item("book", r#"{"genres": "a|b", "price": 3.5}"#))
        .items(item("film", r#"{"genres": "c", "price": 12}"#))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutItems: {:?}", e.into_service_error()));
    let (header, rows) = export(&c, dir.path(), &items, "items-all", IngestionMode::All).await;
    assert_eq!(header, ["ITEM_ID", "GENRES", "PRICE"]);
    let rows: HashMap<&str, (&str, f64)> =
        rows.iter().map(|r| (r[0].as_str(), (r[1].as_str(), r[2].parse::<f64>().unwrap_or(f64::NAN)))).collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows["book"], ("a|b", 3.5));
    assert_eq!(rows["film"], ("c", 12.0));
}

/// Personalize's `ingestionMode`: BULK exports only what import jobs brought, PUT only what PutEvents,
/// PutItems and PutUsers did (the default), ALL both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_ingestion_modes_separate_bulk_and_put_data() {
    let (dir, _server, c) = fresh_server();
    let (g, csv) = group_with_a_live_event(&c, dir.path(), "modes").await;
    let (_, bulk) = export(&c, dir.path(), &g.dataset, "bulk", IngestionMode::Bulk).await;
    assert_eq!(bulk.len(), csv.lines().count() - 1);
    assert!(bulk.iter().all(|r| r[1] != "fresh-item"), "BULK exported the PutEvents event");
    let (_, put) = export(&c, dir.path(), &g.dataset, "put", IngestionMode::Put).await;
    assert_eq!(put.len(), 1, "PUT should export only the PutEvents event: {put:?}");
}

/// Starts a data deletion job (named `job`) that forgets `user`; returns its ARN.
async fn forget(c: &Clients, dir: &Path, group: &str, job: &str, user: &str) -> String {
    let file = dir.join(format!("{job}.csv"));
    std::fs::write(&file, format!("USER_ID\n{user}\n")).unwrap();
    let created = c
        .control
        .create_data_deletion_job()
        .job_name(job)
        .dataset_group_arn(group)
        .role_arn(ROLE)
        .data_source(DataSource::builder().data_location(format!("file://{}", file.display())).build())
        .send()
        .await
        .unwrap();
    created.data_deletion_job_arn().unwrap().to_string()
}

// ---------------------------------------------------------------------------------------------------------
// 7. Data deletion jobs.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_deletion_job_forgets_the_user() {
    let (dir, _server, c) = fresh_server();
    let csv = interactions_csv(30, 20, 6);
    let g = group_with_interactions(&c, dir.path(), "del", &csv).await;
    let solution = plain_solution(&c, &g.arn, "personal").await;
    let version = version(&c, &solution).await;
    let campaign = campaign(&c, "live", &version).await;
    let gone = "user0";
    let seen = &histories(&csv)[gone];
    let before = c.recommend(&campaign, gone).await;
    assert!(before.iter().all(|i| !seen.contains(i)), "{before:?} has some of {seen:?}");

    let job = &forget(&c, dir.path(), &g.arn, "forget", gone).await;
    let (_, doc) = c.wait("DescribeDataDeletionJob", "dataDeletionJobArn", job, &["COMPLETED"]).await;
    let described = c.control.describe_data_deletion_job().data_deletion_job_arn(job).send().await.unwrap();
    assert_eq!(described.data_deletion_job().unwrap().num_deleted(), Some(1), "{doc}");

    // The user is now unknown: popular items, their old items no longer excluded.
    let after = c.recommend(&campaign, gone).await;
    let stranger = c.recommend(&campaign, "never-seen-user").await;
    assert_eq!(after, stranger, "the deleted user is not answered like an unknown user");
    assert!(after.iter().any(|i| seen.contains(i)), "{after:?} still excludes {seen:?}");
    let (_, rows) = export(&c, dir.path(), &g.dataset, "after-deletion", IngestionMode::All).await;
    assert!(rows.iter().all(|r| r[0] != gone), "the export still has {gone}'s rows");
    let kept = csv.lines().skip(1).filter(|l| !l.starts_with(&format!("{gone},"))).count();
    assert_eq!(rows.len(), kept, "the export lost other users' rows");
}

/// DataDeletionJob.status in Personalize's model: PENDING > IN_PROGRESS > COMPLETED -or- FAILED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_deletion_jobs_report_personalize_statuses() {
    let (dir, _server, c) = fresh_server();
    let group = create_group(&c, "statuses").await;
    let job = forget(&c, dir.path(), &group, "forget", "someone").await;
    let started = Instant::now();
    let mut seen = Vec::new();
    loop {
        let doc = c.describe("DescribeDataDeletionJob", "dataDeletionJobArn", &job).await;
        let status = doc["status"].as_str().unwrap_or_default().to_string();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status == "COMPLETED" || status == "ACTIVE" || status.contains("FAILED") || started.elapsed().as_secs() > 30
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let allowed = ["PENDING", "IN_PROGRESS", "COMPLETED"];
    assert!(seen.iter().all(|s| allowed.contains(&s.as_str())), "statuses {seen:?}, Personalize has {allowed:?}");
}

// ---------------------------------------------------------------------------------------------------------
// 8. Pagination and errors.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_page_and_errors_are_typed() {
    let (_dir, _server, c) = fresh_server();
    let group = create_group(&c, "errs").await;
    let expressions = [
        r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")"#,
        r#"INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("view", "click")"#,
        r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($types)"#,
    ];
    for (i, expression) in expressions.iter().enumerate() {
        create_filter(&c, &group, &format!("filter-{i}"), expression).await;
    }
    let first = c.control.list_filters().dataset_group_arn(&group).max_results(2).send().await.unwrap();
    assert_eq!(first.filters().len(), 2);
    let token = first.next_token().expect("a nextToken after a full page").to_string();
    let second =
        c.control.list_filters().dataset_group_arn(&group).max_results(2).next_token(&token).send().await.unwrap();
    assert_eq!(second.filters().len(), 1);
    assert_eq!(second.next_token(), None);
    let names: BTreeSet<&str> = first.filters().iter().chain(second.filters()).filter_map(|f| f.name()).collect();
    assert_eq!(names, BTreeSet::from(["filter-0", "filter-1", "filter-2"]));
    let err = c.control.list_filters().next_token("not-a-token").send().await.unwrap_err().into_service_error();
    assert!(err.is_invalid_next_token_exception(), "{err:?}");

    // A dataset group with a dataset cannot be deleted; its name cannot be taken twice.
    create_dataset(&c, &group, "errs-interactions", INTERACTIONS_SCHEMA, "Interactions").await;
    let err = c.control.delete_dataset_group().dataset_group_arn(&group).send().await.unwrap_err().into_service_error();
    assert!(err.is_resource_in_use_exception(), "{err:?}");
    let err = c.control.create_dataset_group().name("errs").send().await.unwrap_err().into_service_error();
    assert!(err.is_resource_already_exists_exception(), "{err:?}");

    // A bad filter expression: InvalidInputException with the position of the fault.
    let broken = r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE INN ("purchase")"#;
    let err = c
        .control
        .create_filter()
        .name("broken")
        .dataset_group_arn(&group)
        .filter_expression(broken)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");
    let message = err.meta().message().unwrap_or_default();
    let at = format!("at {}", broken.find("INN").unwrap());
    assert!(message.contains(&at), "{message:?} does not say {at:?}");

    // An operation that does not exist.
    let (status, answer) = c.raw("DescribeNothing", json!({})).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["__type"], "UnknownOperationException", "{answer}");
}

// ---------------------------------------------------------------------------------------------------------
// 9. PutItems and PutUsers.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_items_and_put_users_check_the_schema() {
    let (_dir, _server, c) = fresh_server();
    let group = create_group(&c, "cat").await;
    let (_, items) = create_dataset(&c, &group, "cat-items", ITEMS_SCHEMA, "Items").await;
    let (_, users) = create_dataset(&c, &group, "cat-users", USERS_SCHEMA, "Users").await;
    let item = |id: String, properties: &str| {
        aws_sdk_personalizeevents::types::Item::builder().item_id(id).properties(properties).build().unwrap()
    };
    c.events
        .put_items()
        .dataset_arn(&items)
        .items(item("book".into(), r#"{"genres": "a|b", "price": 3.5}"#))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutItems: {:?}", e.into_service_error()));

    let err = c
        .events
        .put_items()
        .dataset_arn(&items)
        .items(item("pen".into(), r#"{"genres": "a", "colour": "red"}"#))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");
    assert!(err.meta().message().unwrap_or_default().contains("colour"), "{err:?}");

    let eleven: Vec<_> = (0..11).map(|i| item(format!("i{i}"), r#"{"price": 1}"#)).collect();
    let err =
        c.events.put_items().dataset_arn(&items).set_items(Some(eleven)).send().await.unwrap_err().into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");

    let missing = items.replace("/ITEMS", "/NOPE").replace("cat/", "nope/");
    let err = c
        .events
        .put_items()
        .dataset_arn(missing)
        .items(item("book".into(), r#"{"price": 1}"#))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    let user = |id: &str, properties: &str| {
        aws_sdk_personalizeevents::types::User::builder().user_id(id).properties(properties).build().unwrap()
    };
    c.events
        .put_users()
        .dataset_arn(&users)
        .users(user("ann", r#"{"age": 41}"#))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutUsers: {:?}", e.into_service_error()));
    let err = c
        .events
        .put_users()
        .dataset_arn(&users)
        .users(user("bob", r#"{"shoeSize": 44}"#))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");
    assert!(err.meta().message().unwrap_or_default().contains("shoeSize"), "{err:?}");
    // An Items ARN given to PutUsers.
    let err =
        c.events.put_users().dataset_arn(&items).users(user("cy", "{}")).send().await.unwrap_err().into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");
}

// ---------------------------------------------------------------------------------------------------------
// 10. Fixes found in review.

/// A data deletion job removes the user's own record too; a finished deletion job does not keep its dataset
/// group alive; a campaign config a recipe would reject is refused at CreateCampaign.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_and_campaign_configs_follow_personalize() {
    let (dir, _server, c) = fresh_server();
    let csv = interactions_csv(12, 10, 4);
    let g = group_with_interactions(&c, dir.path(), "forget", &csv).await;
    let (_, users) = create_dataset(&c, &g.arn, "forget-users", USERS_SCHEMA, "Users").await;
    for user in ["user0", "user1"] {
        let record =
            aws_sdk_personalizeevents::types::User::builder().user_id(user).properties("{\"age\": 30}").build();
        c.events.put_users().dataset_arn(&users).users(record.unwrap()).send().await.unwrap();
    }

    // An exploration weight outside 0..=1 is refused when the campaign is created, not on every request.
    let solution = plain_solution(&c, &g.arn, "personal").await;
    let version = version(&c, &solution).await;
    let err = c
        .control
        .create_campaign()
        .name("too-bold")
        .solution_version_arn(&version)
        .campaign_config(
            aws_sdk_personalize::types::CampaignConfig::builder()
                .item_exploration_config("explorationWeight", "2")
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");
    assert!(err.meta().message().unwrap_or_default().contains("exploration_weight"), "{err:?}");

    let job = forget(&c, dir.path(), &g.arn, "forget-user0", "user0").await;
    c.wait("DescribeDataDeletionJob", "dataDeletionJobArn", &job, &["COMPLETED"]).await;
    let (_, rows) = export(&c, dir.path(), &users, "users-after", IngestionMode::All).await;
    let ids: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, ["user1"], "the deleted user's record is still exported");

    // Once everything else is gone, the group can be deleted although a finished deletion job belongs to it.
    c.control.delete_solution().solution_arn(&solution).send().await.unwrap();
    for dataset in [&g.dataset, &users] {
        c.control.delete_dataset().dataset_arn(dataset).send().await.unwrap();
    }
    c.control.delete_dataset_group().dataset_group_arn(&g.arn).send().await.unwrap();
    let jobs = c.control.list_data_deletion_jobs().send().await.unwrap();
    assert!(jobs.data_deletion_jobs().is_empty(), "{jobs:?}");
    // The name is free again, and the new group starts empty.
    let again = create_group(&c, "forget").await;
    let (_, dataset) = create_dataset(&c, &again, "again", INTERACTIONS_SCHEMA, "Interactions").await;
    let (_, rows) = export(&c, dir.path(), &dataset, "again-rows", IngestionMode::All).await;
    assert!(rows.is_empty(), "a new group of the same name inherited {} rows", rows.len());
}

/// With `--file-root`, `file://` locations outside it (or escaping it with `..`) are refused at creation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_locations_stay_under_the_configured_roots() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("shared");
    std::fs::create_dir_all(&root).unwrap();
    let key = format!("{KEY_ID}:{SECRET}");
    let server = crate::common::Server::start_with(
        &dir.path().join("data"),
        &["--access-key", &key, "--file-root", root.to_str().unwrap()],
    );
    let c = Clients::new(&server.base, KEY_ID, SECRET);
    let group = create_group(&c, "rooted").await;
    let (_, dataset) = create_dataset(&c, &group, "rooted", INTERACTIONS_SCHEMA, "Interactions").await;
    let inside = root.join("in.csv");
    std::fs::write(&inside, interactions_csv(4, 4, 2)).unwrap();
    import(&c, &dataset, "inside", &format!("file://{}", inside.display())).await;
    for outside in ["/etc/passwd".to_string(), format!("{}/../data/x.csv", root.display())] {
        let err = c
            .control
            .create_dataset_import_job()
            .job_name("outside")
            .dataset_arn(&dataset)
            .data_source(DataSource::builder().data_location(format!("file://{outside}")).build())
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_invalid_input_exception(), "{outside}: {err:?}");
        assert!(err.meta().message().unwrap_or_default().contains("--file-root"), "{err:?}");
    }
}

/// Serves `body` to every GET over HTTPS on 127.0.0.1, with a fresh self-signed certificate for `localhost`
/// whose PEM is written to `certificate`; returns the port.
async fn https_file_server(body: String, certificate: &Path) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(certificate, issued.cert.pem()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(issued.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![issued.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, body) = (acceptor.clone(), body.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && tls.read(&mut byte).await.is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                let reply =
                    format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

/// Import jobs read `https://` locations, verifying the server against the system roots plus
/// `AWS_CA_BUNDLE` (as the AWS CLI does); without the bundle the same self-signed server is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_read_https_locations_with_a_custom_ca_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let certificate = dir.path().join("ca.pem");
    let port = https_file_server(interactions_csv(6, 5, 3), &certificate).await;
    let url = format!("https://localhost:{port}/interactions.csv");

    let trusted = start(&dir.path().join("trusted"), &[("AWS_CA_BUNDLE", certificate.display().to_string())]);
    let c = Clients::new(&trusted.base, KEY_ID, SECRET);
    let group = create_group(&c, "tls").await;
    let (_, dataset) = create_dataset(&c, &group, "tls", INTERACTIONS_SCHEMA, "Interactions").await;
    let job = import(&c, &dataset, "over-tls", &url).await;
    assert_eq!(job["importReport"]["rowsAccepted"], 18, "{job}");

    let untrusted = start(&dir.path().join("untrusted"), &[("AWS_CA_BUNDLE", String::new())]);
    let c = Clients::new(&untrusted.base, KEY_ID, SECRET);
    let group = create_group(&c, "tls").await;
    let (_, dataset) = create_dataset(&c, &group, "tls", INTERACTIONS_SCHEMA, "Interactions").await;
    let arn = c
        .control
        .create_dataset_import_job()
        .job_name("untrusted")
        .dataset_arn(&dataset)
        .data_source(DataSource::builder().data_location(&url).build())
        .send()
        .await
        .unwrap()
        .dataset_import_job_arn()
        .unwrap()
        .to_string();
    let (_, doc) = c.wait("DescribeDatasetImportJob", "datasetImportJobArn", &arn, &["CREATE FAILED"]).await;
    assert!(doc["failureReason"].as_str().unwrap_or_default().contains(&url), "{doc}");
}
