//! Helpers for the tests that drive the Personalize-compatible API of a `streamrec serve` child through the
//! official AWS SDK for Rust (`tests/it/personalize_*.rs`): the SDK clients, hand-signed control-plane calls,
//! status polling, and the create-and-wait chain from dataset group to campaign.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Debug;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_personalize::operation::create_solution::builders::CreateSolutionFluentBuilder;
use aws_sdk_personalize::types::{DataSource, S3DataConfig};
use serde_json::{json, Value};
use streamrec::personalize::sigv4;

/// The IAM role ARN the tests pass where Personalize wants one (streamrec does not check it).
pub const ROLE: &str = "arn:aws:iam::000000000000:role/streamrec";

/// The `aws-user-personalization` recipe's ARN.
pub const USER_PERSONALIZATION: &str = "arn:aws:personalize:::recipe/aws-user-personalization";

/// An Interactions schema with the four usual fields: USER_ID, ITEM_ID, TIMESTAMP (long), EVENT_TYPE.
pub const INTERACTIONS_SCHEMA: &str = r#"{
  "type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema",
  "fields": [
    {"name": "USER_ID", "type": "string"},
    {"name": "ITEM_ID", "type": "string"},
    {"name": "TIMESTAMP", "type": "long"},
    {"name": "EVENT_TYPE", "type": "string"}
  ],
  "version": "1.0"
}"#;

/// How often the polling helpers look again.
const POLL_EVERY: Duration = Duration::from_millis(25);
/// How long the polling helpers wait before failing the test.
const POLL_LIMIT: Duration = Duration::from_secs(120);

/// The three SDK clients (control plane, events, runtime) pointed at one server, and the key they sign with.
pub struct Clients {
    /// The server's `http://127.0.0.1:PORT`.
    pub base: String,
    /// The access key id the clients sign with.
    pub key_id: String,
    /// The secret access key the clients sign with.
    pub secret: String,
    /// `aws-sdk-personalize`: the control plane.
    pub control: aws_sdk_personalize::Client,
    /// `aws-sdk-personalizeevents`: PutEvents, PutItems, PutUsers.
    pub events: aws_sdk_personalizeevents::Client,
    /// `aws-sdk-personalizeruntime`: GetRecommendations, GetPersonalizedRanking.
    pub runtime: aws_sdk_personalizeruntime::Client,
}

impl Clients {
    /// Clients for the server at `base` (its `endpoint_url`), in `us-east-1`, signing with `key_id` and
    /// `secret`, over the SDK's plain-HTTP client.
    pub fn new(base: &str, key_id: &str, secret: &str) -> Clients {
        let credentials = aws_sdk_personalize::config::Credentials::new(key_id, secret, None, None, "test");
        let http = || aws_smithy_http_client::Builder::new().build_http();
        let control = aws_sdk_personalize::Config::builder()
            .endpoint_url(base)
            .region(aws_sdk_personalize::config::Region::new("us-east-1"))
            .credentials_provider(credentials.clone())
            .http_client(http())
            .build();
        let events = aws_sdk_personalizeevents::Config::builder()
            .endpoint_url(base)
            .region(aws_sdk_personalizeevents::config::Region::new("us-east-1"))
            .credentials_provider(credentials.clone())
            .http_client(http())
            .build();
        let runtime = aws_sdk_personalizeruntime::Config::builder()
            .endpoint_url(base)
            .region(aws_sdk_personalizeruntime::config::Region::new("us-east-1"))
            .credentials_provider(credentials)
            .http_client(http())
            .build();
        Clients {
            base: base.to_string(),
            key_id: key_id.to_string(),
            secret: secret.to_string(),
            control: aws_sdk_personalize::Client::from_conf(control),
            events: aws_sdk_personalizeevents::Client::from_conf(events),
            runtime: aws_sdk_personalizeruntime::Client::from_conf(runtime),
        }
    }

    /// A control-plane call signed by hand: for operations the SDK cannot send and fields it drops. Returns
    /// the HTTP status and the answer (a JSON string holding the text when the answer is not JSON).
    pub async fn raw(&self, operation: &str, input: Value) -> (u16, Value) {
        let (status, text) = call(&self.base, operation, &input.to_string(), Some((&self.key_id, &self.secret))).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// `Describe<Kind>`'s document (the answer's single object), read with [`Clients::raw`].
    pub async fn describe(&self, operation: &str, arn_field: &str, arn: &str) -> Value {
        let (status, answer) = self.raw(operation, json!({ arn_field: arn })).await;
        assert_eq!(status, 200, "{operation} {arn}: {answer}");
        answer.as_object().and_then(|o| o.values().next()).cloned().unwrap_or_else(|| panic!("{answer}"))
    }

    /// Polls `Describe<Kind>` until the status is one of `done`; returns the statuses seen and the last
    /// document. Fails the test on an unexpected failed status or after two minutes.
    pub async fn wait(&self, operation: &str, arn_field: &str, arn: &str, done: &[&str]) -> (Vec<String>, Value) {
        poll(arn, done, || async {
            let doc = self.describe(operation, arn_field, arn).await;
            (doc["status"].as_str().unwrap_or_default().to_string(), doc)
        })
        .await
    }

    /// [`Clients::wait`] for ACTIVE; returns the ACTIVE document.
    pub async fn wait_active(&self, operation: &str, arn_field: &str, arn: &str) -> Value {
        self.wait(operation, arn_field, arn, &["ACTIVE"]).await.1
    }

    /// GetRecommendations for `user` from `campaign`, 20 items, as item ids.
    pub async fn recommend(&self, campaign: &str, user: &str) -> Vec<String> {
        let answer = self.get_recommendations(campaign, user, 20).await;
        answer.item_list().iter().map(|i| i.item_id().unwrap_or_default().to_string()).collect()
    }

    /// GetRecommendations for `user` from `campaign`, `num_results` items, as (item id, score); checks that
    /// the answer carries a recommendationId.
    pub async fn recommend_scored(&self, campaign: &str, user: &str, num_results: i32) -> Vec<(String, f64)> {
        let answer = self.get_recommendations(campaign, user, num_results).await;
        assert!(answer.recommendation_id().is_some_and(|r| !r.is_empty()));
        answer
            .item_list()
            .iter()
            .map(|i| (i.item_id().unwrap_or_default().to_string(), i.score().unwrap_or(0.0)))
            .collect()
    }

    async fn get_recommendations(
        &self,
        campaign: &str,
        user: &str,
        num_results: i32,
    ) -> aws_sdk_personalizeruntime::operation::get_recommendations::GetRecommendationsOutput {
        let answer = self
            .runtime
            .get_recommendations()
            .campaign_arn(campaign)
            .user_id(user)
            .num_results(num_results)
            .send()
            .await;
        answer.unwrap_or_else(|e| panic!("GetRecommendations {user}: {:?}", e.into_service_error()))
    }

    /// PutEvents: one event of `event_type` on `item` by `user` (session `session-1`), sent now.
    pub async fn put_event(&self, tracking_id: &str, user: &str, item: &str, event_type: &str) {
        let event = aws_sdk_personalizeevents::types::Event::builder()
            .event_type(event_type)
            .item_id(item)
            .sent_at(aws_sdk_personalizeevents::primitives::DateTime::from_secs(now_unix()))
            .build()
            .unwrap();
        self.events
            .put_events()
            .tracking_id(tracking_id)
            .user_id(user)
            .session_id("session-1")
            .event_list(event)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutEvents: {:?}", e.into_service_error()));
    }
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A control-plane call without the SDK: `AmazonPersonalize.<operation>` with the JSON `body`, signed with
/// `key` (access key id, secret) when given and unsigned otherwise. Returns the HTTP status and the text.
pub async fn call(base: &str, operation: &str, body: &str, key: Option<(&str, &str)>) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/"))
        .header("x-amz-target", format!("AmazonPersonalize.{operation}"))
        .header("content-type", "application/x-amz-json-1.1")
        .body(body.to_string());
    if let Some((access_key, secret_key)) = key {
        let signed = sigv4::sign_request(&sigv4::Signing {
            method: "POST",
            host: base.trim_start_matches("http://"),
            path: "/",
            query: "",
            body: body.as_bytes(),
            access_key,
            secret_key,
            session_token: None,
            region: "us-east-1",
            service: "personalize",
            now_unix: now_unix(),
            s3: false,
        });
        for (k, v) in signed {
            request = request.header(k, v);
        }
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Polls `status` (a Describe call answering the status and something to show when it fails) until the
/// status is one of `done`; returns the statuses seen, each once, and the last answer. Fails the test, naming
/// `what`, on a status containing FAILED that is not in `done`, or after two minutes.
pub async fn poll<T, F, Fut>(what: &str, done: &[&str], mut status: F) -> (Vec<String>, T)
where
    T: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = (String, T)>,
{
    let started = Instant::now();
    let mut seen: Vec<String> = Vec::new();
    loop {
        let (s, detail) = status().await;
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if done.contains(&s.as_str()) {
            return (seen, detail);
        }
        assert!(!s.contains("FAILED"), "{what} failed: {detail:?}");
        assert!(started.elapsed() < POLL_LIMIT, "{what} stuck in {seen:?}");
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// [`poll`] until ACTIVE, with a typed SDK Describe call answering (status, failure reason); returns the
/// statuses seen joined by ` → `.
pub async fn wait_until_active<F, Fut>(what: &str, status: F) -> String
where
    F: FnMut() -> Fut,
    Fut: Future<Output = (String, Option<String>)>,
{
    poll(what, &["ACTIVE"], status).await.0.join(" → ")
}

/// An `S3DataConfig` for `path` (an `s3://`, `http://` or `file://` location).
pub fn s3_config(path: String) -> S3DataConfig {
    S3DataConfig::builder().path(path).build().unwrap()
}

/// Each user's items in an interactions CSV (USER_ID and ITEM_ID first; rows missing either are skipped).
pub fn histories(csv: &str) -> HashMap<String, BTreeSet<String>> {
    let mut out: HashMap<String, BTreeSet<String>> = HashMap::new();
    for line in csv.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        if cols.len() >= 2 && !cols[0].is_empty() && !cols[1].is_empty() {
            out.entry(cols[0].to_string()).or_default().insert(cols[1].to_string());
        }
    }
    out
}

/// A dataset group named `name`, ACTIVE; returns its ARN.
pub async fn create_group(c: &Clients, name: &str) -> String {
    let group = c.control.create_dataset_group().name(name).send().await.unwrap();
    let group = group.dataset_group_arn().unwrap().to_string();
    c.wait_active("DescribeDatasetGroup", "datasetGroupArn", &group).await;
    group
}

/// A dataset of `ty` in `group` with a new schema, both named `schema_name`, ACTIVE; returns the schema's
/// and the dataset's ARNs.
pub async fn create_dataset(c: &Clients, group: &str, schema_name: &str, schema: &str, ty: &str) -> (String, String) {
    let schema = c.control.create_schema().name(schema_name).schema(schema).send().await.unwrap();
    let schema = schema.schema_arn().unwrap().to_string();
    let dataset = c
        .control
        .create_dataset()
        .name(schema_name)
        .schema_arn(&schema)
        .dataset_group_arn(group)
        .dataset_type(ty)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateDataset {ty}: {:?}", e.into_service_error()));
    let dataset = dataset.dataset_arn().unwrap().to_string();
    c.wait_active("DescribeDataset", "datasetArn", &dataset).await;
    (schema, dataset)
}

/// Runs an import job named `job` from `location` into `dataset` to ACTIVE and returns its document (with
/// streamrec's `importReport`).
pub async fn import(c: &Clients, dataset: &str, job: &str, location: &str) -> Value {
    let created = c
        .control
        .create_dataset_import_job()
        .job_name(job)
        .dataset_arn(dataset)
        .role_arn(ROLE)
        .data_source(DataSource::builder().data_location(location).build())
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateDatasetImportJob {location}: {:?}", e.into_service_error()));
    let arn = created.dataset_import_job_arn().unwrap();
    c.wait_active("DescribeDatasetImportJob", "datasetImportJobArn", arn).await
}

/// Sends a CreateSolution and waits for the solution; returns its ARN.
pub async fn solution(c: &Clients, create: CreateSolutionFluentBuilder) -> String {
    let created = create.send().await.unwrap_or_else(|e| panic!("CreateSolution: {:?}", e.into_service_error()));
    let arn = created.solution_arn().unwrap().to_string();
    c.wait_active("DescribeSolution", "solutionArn", &arn).await;
    arn
}

/// An `aws-user-personalization` solution named `name` in `group`, with default settings; returns its ARN.
pub async fn plain_solution(c: &Clients, group: &str, name: &str) -> String {
    solution(c, c.control.create_solution().name(name).dataset_group_arn(group).recipe_arn(USER_PERSONALIZATION)).await
}

/// Starts a new solution version of `solution` without waiting for it; returns its ARN.
pub async fn create_version(c: &Clients, solution: &str) -> String {
    let version = c.control.create_solution_version().solution_arn(solution).send().await.unwrap();
    version.solution_version_arn().unwrap().to_string()
}

/// A new solution version of `solution`, trained (ACTIVE); returns its ARN.
pub async fn version(c: &Clients, solution: &str) -> String {
    let version = create_version(c, solution).await;
    c.wait_active("DescribeSolutionVersion", "solutionVersionArn", &version).await;
    version
}

/// A campaign named `name` deploying `version`, ACTIVE; returns its ARN.
pub async fn campaign(c: &Clients, name: &str, version: &str) -> String {
    let campaign = c.control.create_campaign().name(name).solution_version_arn(version).send().await.unwrap();
    let campaign = campaign.campaign_arn().unwrap().to_string();
    c.wait_active("DescribeCampaign", "campaignArn", &campaign).await;
    campaign
}

/// An event tracker named `web` in `group`, ACTIVE; returns its ARN and tracking id.
pub async fn tracker(c: &Clients, group: &str) -> (String, String) {
    let tracker = c.control.create_event_tracker().name("web").dataset_group_arn(group).send().await.unwrap();
    let arn = tracker.event_tracker_arn().unwrap().to_string();
    c.wait_active("DescribeEventTracker", "eventTrackerArn", &arn).await;
    (arn, tracker.tracking_id().unwrap().to_string())
}

/// A filter named `name` in `group` with `expression`, ACTIVE; returns its ARN.
pub async fn create_filter(c: &Clients, group: &str, name: &str, expression: &str) -> String {
    let filter = c
        .control
        .create_filter()
        .name(name)
        .dataset_group_arn(group)
        .filter_expression(expression)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateFilter {expression}: {:?}", e.into_service_error()));
    let arn = filter.filter_arn().unwrap().to_string();
    c.wait_active("DescribeFilter", "filterArn", &arn).await;
    arn
}

/// One dataset for [`deploy`]: its name (also its schema's), the schema, the dataset type and the CSV file
/// its import job (named `<name>-import`) reads.
pub struct DatasetSpec<'a> {
    /// The dataset's and its schema's name.
    pub name: &'a str,
    /// The Avro schema, as JSON.
    pub schema: &'a str,
    /// `Interactions`, `Items` or `Users`.
    pub ty: &'a str,
    /// The CSV file to import.
    pub file: &'a Path,
}

/// What [`deploy`] created, by ARN.
pub struct Deployment {
    /// The dataset group.
    pub group: String,
    /// The datasets, in the order given.
    pub datasets: Vec<String>,
    /// The trained version of its `aws-user-personalization` solution.
    pub version: String,
    /// The campaign deploying the version.
    pub campaign: String,
}

/// Everything up to a live campaign: the dataset group `group`, then each of `datasets` (schema, dataset,
/// import job), then an `aws-user-personalization` solution named `solution`, a trained version and a
/// campaign named `campaign`, each waited for until ACTIVE.
pub async fn deploy(
    c: &Clients,
    group: &str,
    datasets: &[DatasetSpec<'_>],
    solution: &str,
    campaign: &str,
) -> Deployment {
    let group = create_group(c, group).await;
    let mut arns = Vec::new();
    for d in datasets {
        let (_, dataset) = create_dataset(c, &group, d.name, d.schema, d.ty).await;
        import(c, &dataset, &format!("{}-import", d.name), &format!("file://{}", d.file.display())).await;
        arns.push(dataset);
    }
    let solution = plain_solution(c, &group, solution).await;
    let version = version(c, &solution).await;
    let campaign = self::campaign(c, campaign, &version).await;
    Deployment { group, datasets: arns, version, campaign }
}
