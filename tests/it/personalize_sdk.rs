//! The Personalize-compatible API driven by the official AWS SDK for Rust, pointed at a `streamrec serve`
//! child with `endpoint_url`: the whole workflow from dataset group to batch inference, and the error
//! paths a client meets (unknown ARN, bad schema, malformed CSV, bad signature, too many events).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::common::personalize::{
    call, create_dataset, create_group, histories, poll, s3_config, wait_until_active, Clients, INTERACTIONS_SCHEMA,
    ROLE,
};
use crate::common::Server;
use aws_sdk_personalize::error::ProvideErrorMetadata;
use aws_sdk_personalize::types::{BatchInferenceJobInput, BatchInferenceJobOutput, DataSource};

const KEY_ID: &str = "AKIDSTREAMRECTEST";
const SECRET: &str = "streamrec-test-secret";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/interactions.csv")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_personalize_workflow_runs_end_to_end_through_the_aws_sdk() {
    let dir = tempfile::tempdir().unwrap();
    let key = format!("{KEY_ID}:{SECRET}");
    let server = Server::start_with(&dir.path().join("data"), &["--access-key", &key]);
    let c = Clients::new(&server.base, KEY_ID, SECRET);

    // Dataset group → schema → interactions dataset.
    let group = c.control.create_dataset_group().name("shop").send().await.unwrap();
    let group = group.dataset_group_arn().unwrap().to_string();
    let statuses = wait_until_active("dataset group", || async {
        let g = c.control.describe_dataset_group().dataset_group_arn(&group).send().await.unwrap();
        let g = g.dataset_group().unwrap();
        (g.status().unwrap_or_default().to_string(), g.failure_reason().map(str::to_string))
    })
    .await;
    assert!(statuses.ends_with("ACTIVE"), "{statuses}");
    let schema = c.control.create_schema().name("interactions").schema(INTERACTIONS_SCHEMA).send().await.unwrap();
    let schema = schema.schema_arn().unwrap().to_string();
    let dataset = c
        .control
        .create_dataset()
        .name("shop-interactions")
        .schema_arn(&schema)
        .dataset_group_arn(&group)
        .dataset_type("Interactions")
        .send()
        .await
        .unwrap();
    let dataset = dataset.dataset_arn().unwrap().to_string();
    wait_until_active("dataset", || async {
        let d = c.control.describe_dataset().dataset_arn(&dataset).send().await.unwrap();
        (d.dataset().unwrap().status().unwrap_or_default().to_string(), None)
    })
    .await;

    // Import job from the CSV fixture (one of its rows has no ITEM_ID: rejected, the rest kept).
    let import = c
        .control
        .create_dataset_import_job()
        .job_name("history")
        .dataset_arn(&dataset)
        .data_source(DataSource::builder().data_location(format!("file://{}", fixture().display())).build())
        .send()
        .await
        .unwrap();
    let import = import.dataset_import_job_arn().unwrap().to_string();
    wait_until_active("import job", || async {
        let j = c.control.describe_dataset_import_job().dataset_import_job_arn(&import).send().await.unwrap();
        let j = j.dataset_import_job().unwrap();
        (j.status().unwrap_or_default().to_string(), j.failure_reason().map(str::to_string))
    })
    .await;

    // Solution and solution version; its metrics come from the PERSONALIZE split.
    let solution = c
        .control
        .create_solution()
        .name("personal")
        .dataset_group_arn(&group)
        .recipe_arn("arn:aws:personalize:::recipe/aws-user-personalization")
        .send()
        .await
        .unwrap();
    let solution = solution.solution_arn().unwrap().to_string();
    wait_until_active("solution", || async {
        let s = c.control.describe_solution().solution_arn(&solution).send().await.unwrap();
        (s.solution().unwrap().status().unwrap_or_default().to_string(), None)
    })
    .await;
    let version = c.control.create_solution_version().solution_arn(&solution).send().await.unwrap();
    let version = version.solution_version_arn().unwrap().to_string();
    let statuses = wait_until_active("solution version", || async {
        let v = c.control.describe_solution_version().solution_version_arn(&version).send().await.unwrap();
        let v = v.solution_version().unwrap();
        (v.status().unwrap_or_default().to_string(), v.failure_reason().map(str::to_string))
    })
    .await;
    assert!(statuses.starts_with("CREATE"), "statuses seen: {statuses}");
    let metrics = c.control.get_solution_metrics().solution_version_arn(&version).send().await.unwrap();
    let metrics = metrics.metrics().unwrap();
    for name in
        ["normalized_discounted_cumulative_gain_at_10", "precision_at_5", "mean_reciprocal_rank_at_25", "coverage"]
    {
        let value = metrics.get(name).copied().unwrap_or(f64::NAN);
        assert!((0.0..=1.0).contains(&value), "{name} = {value}");
    }

    // Campaign → recommendations that exclude what the user has seen.
    let campaign = c.control.create_campaign().name("live").solution_version_arn(&version).send().await.unwrap();
    let campaign = campaign.campaign_arn().unwrap().to_string();
    wait_until_active("campaign", || async {
        let d = c.control.describe_campaign().campaign_arn(&campaign).send().await.unwrap();
        let d = d.campaign().unwrap();
        (d.status().unwrap_or_default().to_string(), d.failure_reason().map(str::to_string))
    })
    .await;
    let histories = histories(&std::fs::read_to_string(fixture()).unwrap());
    let user = "user0";
    let seen = &histories[user];
    let before = c.recommend_scored(&campaign, user, 25).await;
    assert!(!before.is_empty());
    assert!(before.iter().all(|(item, _)| !seen.contains(item)), "a seen item was recommended: {before:?}");

    // Event tracker → PutEvents for an item the user had not seen → the very next answer reflects it.
    let tracker = c.control.create_event_tracker().name("web").dataset_group_arn(&group).send().await.unwrap();
    let tracking_id = tracker.tracking_id().unwrap().to_string();
    let new_item = before[0].0.clone();
    // Its co-occurring partners (in other users' histories) that user0 has not seen either.
    let partners: HashSet<String> = histories
        .values()
        .filter(|h| h.contains(&new_item))
        .flat_map(|h| h.iter().cloned())
        .filter(|i| i != &new_item && !seen.contains(i))
        .collect();
    assert!(!partners.is_empty(), "the fixture should give {new_item} co-occurring items");
    let now = aws_sdk_personalizeevents::primitives::DateTime::from_secs(2_000);
    let event = aws_sdk_personalizeevents::types::Event::builder()
        .event_type("view")
        .item_id(&new_item)
        .sent_at(now)
        .build()
        .unwrap();
    c.events
        .put_events()
        .tracking_id(&tracking_id)
        .user_id(user)
        .session_id("session-1")
        .event_list(event)
        .send()
        .await
        .unwrap();
    let after = c.recommend_scored(&campaign, user, 25).await;
    assert!(after.iter().all(|(item, _)| item != &new_item), "{new_item} was just seen but is still recommended");
    let score = |list: &[(String, f64)], item: &str| list.iter().find(|(i, _)| i == item).map_or(0.0, |(_, s)| *s);
    let risen = partners.iter().filter(|p| score(&after, p) > score(&before, p)).count();
    assert!(risen > 0, "none of {new_item}'s partners {partners:?} rose: before {before:?}, after {after:?}");

    // Personalized ranking: the given items, best first, each once.
    let input: Vec<String> = after.iter().take(5).map(|(i, _)| i.clone()).rev().chain([new_item.clone()]).collect();
    let ranked = c
        .runtime
        .get_personalized_ranking()
        .campaign_arn(&campaign)
        .user_id(user)
        .set_input_list(Some(input.clone()))
        .send()
        .await
        .unwrap();
    let ranked: Vec<(String, f64)> = ranked
        .personalized_ranking()
        .iter()
        .map(|i| (i.item_id().unwrap_or_default().to_string(), i.score().unwrap_or(0.0)))
        .collect();
    assert_eq!(ranked.iter().map(|(i, _)| i.clone()).collect::<HashSet<_>>(), input.iter().cloned().collect());
    assert!(ranked.windows(2).all(|w| w[0].1 >= w[1].1), "not ordered by score: {ranked:?}");

    // Batch inference: its lines match what the runtime answers; a bad line gets an error line.
    let input_file = dir.path().join("batch-input.json");
    std::fs::write(&input_file, "{\"userId\": \"user0\"}\n{\"userId\": \"user1\"}\nnot json\n{\"itemId\": \"a\"}\n")
        .unwrap();
    let output_dir = dir.path().join("batch-output");
    let job = c
        .control
        .create_batch_inference_job()
        .job_name("nightly")
        .solution_version_arn(&version)
        .num_results(25)
        .role_arn(ROLE)
        .job_input(
            BatchInferenceJobInput::builder()
                .s3_data_source(s3_config(format!("file://{}", input_file.display())))
                .build(),
        )
        .job_output(
            BatchInferenceJobOutput::builder()
                .s3_data_destination(s3_config(format!("file://{}/", output_dir.display())))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let job = job.batch_inference_job_arn().unwrap().to_string();
    wait_until_active("batch inference job", || async {
        let j = c.control.describe_batch_inference_job().batch_inference_job_arn(&job).send().await.unwrap();
        let j = j.batch_inference_job().unwrap();
        (j.status().unwrap_or_default().to_string(), j.failure_reason().map(str::to_string))
    })
    .await;
    let output = std::fs::read_to_string(output_dir.join("batch-input.json.out")).unwrap();
    let lines: Vec<serde_json::Value> = output.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4, "{output}");
    for (line, user) in lines.iter().zip(["user0", "user1"]) {
        assert_eq!(line["input"]["userId"], user);
        let batch: Vec<String> = line["output"]["recommendedItems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let runtime: Vec<String> = c.recommend_scored(&campaign, user, 25).await.into_iter().map(|(i, _)| i).collect();
        assert_eq!(batch, runtime, "batch and runtime disagree for {user}");
        assert_eq!(line["output"]["scores"].as_array().unwrap().len(), batch.len());
    }
    assert!(lines[2]["error"].as_str().unwrap().contains("not JSON"), "{}", lines[2]);
    assert!(lines[3]["error"].as_str().unwrap().contains("userId"), "{}", lines[3]);

    // Lists see what was created.
    let groups = c.control.list_dataset_groups().send().await.unwrap();
    assert_eq!(groups.dataset_groups().len(), 1);
    let recipes = c.control.list_recipes().send().await.unwrap();
    let names: Vec<&str> = recipes.recipes().iter().filter_map(|r| r.name()).collect();
    for expected in
        ["aws-user-personalization", "aws-popularity-count", "aws-trending-now", "aws-sims", "aws-personalized-ranking"]
    {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_come_back_as_the_sdk_expects_them() {
    let dir = tempfile::tempdir().unwrap();
    let key = format!("{KEY_ID}:{SECRET}");
    let server = Server::start_with(&dir.path().join("data"), &["--access-key", &key]);
    let c = Clients::new(&server.base, KEY_ID, SECRET);

    // Unknown ARN.
    let err = c
        .control
        .describe_campaign()
        .campaign_arn("arn:aws:personalize:us-east-1:000000000000:campaign/nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    let err = c
        .runtime
        .get_recommendations()
        .campaign_arn("arn:aws:personalize:us-east-1:000000000000:campaign/nope")
        .user_id("u")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    // Bad schema: an unknown field type is refused at CreateSchema, naming the field.
    let bad = INTERACTIONS_SCHEMA
        .replace(r#"{"name": "EVENT_TYPE", "type": "string"}"#, r#"{"name": "EVENT_TYPE", "type": "strng"}"#);
    let err = c.control.create_schema().name("broken").schema(bad).send().await.unwrap_err().into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");
    assert!(err.meta().message().unwrap_or_default().contains("EVENT_TYPE"), "{err:?}");
    let err = c.control.create_schema().name("not-json").schema("{").send().await.unwrap_err().into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");

    // A name that breaks the model's pattern.
    let err = c.control.create_dataset_group().name("bad name!").send().await.unwrap_err().into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");

    // Malformed CSV: a file whose header lacks a required field fails the import job with the reason.
    let group = create_group(&c, "errors").await;
    let (_, dataset) = create_dataset(&c, &group, "i", INTERACTIONS_SCHEMA, "Interactions").await;
    let no_time = INTERACTIONS_SCHEMA.replace(r#"{"name": "TIMESTAMP", "type": "long"},"#, "");
    let no_time = c.control.create_schema().name("no-time").schema(no_time).send().await.unwrap();
    let err = c
        .control
        .create_dataset()
        .name("no-time")
        .schema_arn(no_time.schema_arn().unwrap())
        .dataset_group_arn(&group)
        .dataset_type("Interactions")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");
    assert!(err.meta().message().unwrap_or_default().contains("TIMESTAMP"), "{err:?}");
    let csv = dir.path().join("malformed.csv");
    std::fs::write(&csv, "ITEM_ID,TIMESTAMP\na,1\n").unwrap();
    let job = c
        .control
        .create_dataset_import_job()
        .job_name("malformed")
        .dataset_arn(&dataset)
        .data_source(DataSource::builder().data_location(format!("file://{}", csv.display())).build())
        .send()
        .await
        .unwrap()
        .dataset_import_job_arn()
        .unwrap()
        .to_string();
    let (statuses, reason) = poll("import job", &["CREATE FAILED", "ACTIVE"], || async {
        let j = c.control.describe_dataset_import_job().dataset_import_job_arn(&job).send().await.unwrap();
        let j = j.dataset_import_job().unwrap();
        (j.status().unwrap_or_default().to_string(), j.failure_reason().unwrap_or_default().to_string())
    })
    .await;
    assert_eq!(statuses.last().map(String::as_str), Some("CREATE FAILED"), "a file without USER_ID was imported");
    assert!(reason.contains("USER_ID") && reason.contains("malformed.csv"), "{reason}");

    // Too many events in one call.
    let tracker = c.control.create_event_tracker().name("t").dataset_group_arn(&group).send().await.unwrap();
    let events: Vec<_> = (0..11)
        .map(|i| {
            aws_sdk_personalizeevents::types::Event::builder()
                .event_type("view")
                .item_id(format!("item{i}"))
                .sent_at(aws_sdk_personalizeevents::primitives::DateTime::from_secs(1_000 + i))
                .build()
                .unwrap()
        })
        .collect();
    let err = c
        .events
        .put_events()
        .tracking_id(tracker.tracking_id().unwrap())
        .user_id("u")
        .session_id("s")
        .set_event_list(Some(events))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");
    assert!(err.meta().message().unwrap_or_default().contains("eventList"), "{err:?}");
    // A field over the model's length limit is named.
    let long = aws_sdk_personalizeevents::types::Event::builder()
        .event_type("view")
        .item_id("item1")
        .recommendation_id("r".repeat(41))
        .sent_at(aws_sdk_personalizeevents::primitives::DateTime::from_secs(1_000))
        .build()
        .unwrap();
    let err = c
        .events
        .put_events()
        .tracking_id(tracker.tracking_id().unwrap())
        .user_id("u")
        .session_id("s")
        .event_list(long)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.meta().message().unwrap_or_default().contains("eventList[0].recommendationId"), "{err:?}");

    // Bad signature: the wrong secret is refused before anything runs.
    let forged = Clients::new(&server.base, KEY_ID, "not-the-secret");
    let err = forged.control.list_dataset_groups().send().await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidSignatureException"), "{err:?}");
    let err = forged
        .runtime
        .get_recommendations()
        .campaign_arn("arn:aws:personalize:us-east-1:000000000000:campaign/x")
        .user_id("u")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidSignatureException"), "{err:?}");
    // Unsigned requests too.
    let unsigned = call(&server.base, "ListDatasetGroups", "{}", None).await;
    assert_eq!(unsigned.0, 403, "{}", unsigned.1);
    assert!(unsigned.1.contains("MissingAuthenticationToken"), "{}", unsigned.1);
}
