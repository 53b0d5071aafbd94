//! Business rules through the official AWS SDK for Rust: CreateFilter (and its positioned errors),
//! GetRecommendations with filterArn and filterValues (filtering before truncation, popular back-fill),
//! promotions, metadataColumns, hidden items, and the same filter in a batch inference job.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::common::personalize::{create_filter, deploy, s3_config, Clients, DatasetSpec, INTERACTIONS_SCHEMA, ROLE};
use crate::common::Server;
use aws_sdk_personalize::types::{BatchInferenceJobInput, BatchInferenceJobOutput};
use aws_sdk_personalizeruntime::types::Promotion;

const KEY: &str = "AKIDRULES";
const SECRET: &str = "rules-secret";
const CATEGORIES: [&str; 5] = ["books", "music", "garden", "toys", "promo"];

const ITEMS_SCHEMA: &str = r#"{"type": "record", "name": "Items", "namespace": "com.amazonaws.personalize.schema",
  "fields": [{"name": "ITEM_ID", "type": "string"}, {"name": "CATEGORY", "type": "string", "categorical": true},
             {"name": "PRICE", "type": "float"}], "version": "1.0"}"#;

/// Item `i`'s category: `promo` for every tenth item, else one of the four others.
fn category(i: usize) -> &'static str {
    if i % 10 == 9 {
        "promo"
    } else {
        CATEGORIES[i % 4]
    }
}

/// A small shop: 80 items (5 categories), 60 users with 12 views each from a deterministic generator, and a
/// purchase for every third user.
fn write_shop(dir: &Path) -> (PathBuf, PathBuf) {
    let items = dir.join("items.csv");
    let mut text = String::from("ITEM_ID,CATEGORY,PRICE\n");
    for i in 0..80 {
        text.push_str(&format!("i{i},{},{}.5\n", category(i), i % 20));
    }
    std::fs::write(&items, text).unwrap();
    let interactions = dir.join("interactions.csv");
    let mut text = String::from("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n");
    let mut state: u64 = 7;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    for u in 0..60 {
        // Users stick to two categories, so co-occurrence has structure.
        let base = u % 4;
        for k in 0..12 {
            let i = (next() % 20) * 4 + if k % 3 == 0 { (base + 1) % 4 } else { base };
            let event = if k == 11 && u % 3 == 0 { "purchase" } else { "view" };
            text.push_str(&format!("u{u},i{},{},{event}\n", i % 80, 1_000 + u * 100 + k));
        }
    }
    std::fs::write(&interactions, text).unwrap();
    (items, interactions)
}

/// Creates everything up to a campaign; returns (group, items dataset, solution version, campaign).
async fn shop(c: &Clients, dir: &Path) -> (String, String, String, String) {
    let (items_csv, interactions_csv) = write_shop(dir);
    let datasets = [
        DatasetSpec { name: "interactions", schema: INTERACTIONS_SCHEMA, ty: "Interactions", file: &interactions_csv },
        DatasetSpec { name: "items", schema: ITEMS_SCHEMA, ty: "Items", file: &items_csv },
    ];
    let d = deploy(c, "shop", &datasets, "personal", "live").await;
    (d.group, d.datasets[1].clone(), d.version, d.campaign)
}

fn item_index(id: &str) -> usize {
    id.trim_start_matches('i').parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_promotions_metadata_and_hidden_items_shape_every_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(&dir.path().join("data"), &["--access-key", &format!("{KEY}:{SECRET}")]);
    let c = Clients::new(&server.base, KEY, SECRET);
    let (group, items_dataset, version, campaign) = shop(&c, dir.path()).await;

    // A bad expression is refused at CreateFilter with its position.
    let err = c
        .control
        .create_filter()
        .name("bad")
        .dataset_group_arn(&group)
        .filter_expression("INCLUDE ItemID WHERE Items.CATEGORY XX (\"books\")")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");
    assert!(format!("{err:?}").contains("at 36"), "{err:?}");

    // INCLUDE with a parameter: every item in the asked categories, and 25 of them (filtering happens before
    // truncation; tests/it/filtering.rs checks the back-fill when the recipe's own candidates run short).
    let by_category = create_filter(&c, &group, "by-category", "INCLUDE ItemID WHERE Items.CATEGORY IN ($CATS)").await;
    let answer = c
        .runtime
        .get_recommendations()
        .campaign_arn(&campaign)
        .user_id("u1")
        .num_results(25)
        .filter_arn(&by_category)
        .filter_values("CATS", "\"books\",\"garden\"")
        .send()
        .await
        .unwrap();
    let items = answer.item_list();
    assert_eq!(items.len(), 25, "books and garden have 32 items, fewer seen by u1: 25 must come back");
    for item in items {
        let i = item_index(item.item_id().unwrap());
        assert!(["books", "garden"].contains(&category(i)), "i{i} is {}", category(i));
    }
    assert!(items.iter().all(|i| !i.reason().is_empty()), "every item says why it is there");
    // INCLUDE without its parameter is an error; EXCLUDE without it is ignored.
    let err = c
        .runtime
        .get_recommendations()
        .campaign_arn(&campaign)
        .user_id("u1")
        .filter_arn(&by_category)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");

    // Interaction filter: the purchase sent a moment ago is excluded at once (u2 viewed i3 before, so the
    // recipe's own seen-exclusion is not what removes it from popular answers).
    let no_purchased =
        create_filter(&c, &group, "not-purchased", "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (\"purchase\")")
            .await;
    let tracker = c.control.create_event_tracker().name("web").dataset_group_arn(&group).send().await.unwrap();
    let popular_first = {
        let answer = c
            .runtime
            .get_recommendations()
            .campaign_arn(&campaign)
            .user_id("new-user")
            .num_results(5)
            .filter_arn(&no_purchased)
            .send()
            .await
            .unwrap();
        answer.item_list()[0].item_id().unwrap().to_string()
    };
    let event = aws_sdk_personalizeevents::types::Event::builder()
        .event_type("purchase")
        .item_id(&popular_first)
        .sent_at(aws_sdk_personalizeevents::primitives::DateTime::from_secs(50_000))
        .build()
        .unwrap();
    c.events
        .put_events()
        .tracking_id(tracker.tracking_id().unwrap())
        .user_id("new-user")
        .session_id("s")
        .event_list(event)
        .send()
        .await
        .unwrap();
    let answer = c
        .runtime
        .get_recommendations()
        .campaign_arn(&campaign)
        .user_id("new-user")
        .num_results(25)
        .filter_arn(&no_purchased)
        .send()
        .await
        .unwrap();
    assert!(answer.item_list().iter().all(|i| i.item_id() != Some(popular_first.as_str())));

    // Promotion: 20% of 10 items from the promo category, carrying promotionName, in their own order; the
    // rest obey the request's filter (books only) and not the promotion's.
    let promo = create_filter(&c, &group, "promo", "INCLUDE ItemID WHERE Items.CATEGORY IN (\"promo\")").await;
    let answer = c
        .runtime
        .get_recommendations()
        .campaign_arn(&campaign)
        .user_id("u1")
        .num_results(10)
        .filter_arn(&by_category)
        .filter_values("CATS", "\"books\"")
        .promotions(Promotion::builder().name("spring").percent_promoted_items(20).filter_arn(&promo).build())
        .send()
        .await
        .unwrap();
    let items = answer.item_list();
    assert_eq!(items.len(), 10);
    let promoted: Vec<_> = items.iter().filter(|i| i.promotion_name() == Some("spring")).collect();
    assert_eq!(promoted.len(), 2, "{items:?}");
    for item in items {
        let expected = if item.promotion_name().is_some() { "promo" } else { "books" };
        assert_eq!(category(item_index(item.item_id().unwrap())), expected, "{item:?}");
    }

    // A promotion whose filter has nothing to apply (an EXCLUDE without its value) still promotes only its
    // share of the answer.
    let open_promo = create_filter(&c, &group, "open-promo", "EXCLUDE ItemID WHERE Items.CATEGORY IN ($C)").await;
    let answer = c
        .runtime
        .get_recommendations()
        .campaign_arn(&campaign)
        .user_id("u1")
        .num_results(10)
        .promotions(Promotion::builder().name("any").percent_promoted_items(10).filter_arn(&open_promo).build())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.item_list().iter().filter(|i| i.promotion_name() == Some("any")).count(), 1);

    // metadataColumns: the asked item fields come back with each item; more than 50 results is refused.
    let answer = c
        .runtime
        .get_recommendations()
        .campaign_arn(&campaign)
        .user_id("u1")
        .num_results(5)
        .metadata_columns("ITEMS", vec!["CATEGORY".to_string(), "PRICE".to_string()])
        .send()
        .await
        .unwrap();
    for item in answer.item_list() {
        let i = item_index(item.item_id().unwrap());
        let metadata = item.metadata().unwrap();
        assert_eq!(metadata.get("CATEGORY").map(String::as_str), Some(category(i)));
        assert_eq!(metadata.get("PRICE").map(String::as_str), Some(format!("{}.5", i % 20).as_str()));
    }
    let err = c
        .runtime
        .get_recommendations()
        .campaign_arn(&campaign)
        .user_id("u1")
        .num_results(60)
        .metadata_columns("ITEMS", vec!["CATEGORY".to_string()])
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");

    // Hidden items vanish from every answer at once (PutItems with `hidden: true`), and come back.
    let before = c.runtime.get_recommendations().campaign_arn(&campaign).user_id("u5").send().await.unwrap();
    let top = before.item_list()[0].item_id().unwrap().to_string();
    let put = |hidden: bool| {
        let item = aws_sdk_personalizeevents::types::Item::builder()
            .item_id(&top)
            .properties(format!(
                "{{\"category\": \"{}\", \"price\": 1.5, \"hidden\": {hidden}}}",
                category(item_index(&top))
            ))
            .build()
            .unwrap();
        c.events.put_items().dataset_arn(&items_dataset).items(item).send()
    };
    put(true).await.unwrap();
    let after =
        c.runtime.get_recommendations().campaign_arn(&campaign).user_id("u5").num_results(80).send().await.unwrap();
    assert!(after.item_list().iter().all(|i| i.item_id() != Some(top.as_str())), "hidden {top} still recommended");
    put(false).await.unwrap();
    let shown = c.runtime.get_recommendations().campaign_arn(&campaign).user_id("u5").send().await.unwrap();
    assert_eq!(shown.item_list()[0].item_id(), Some(top.as_str()));

    // The same filter in a batch inference job, with per-line filterValues.
    let input = dir.path().join("users.json");
    std::fs::write(
        &input,
        "{\"userId\": \"u1\", \"filterValues\": {\"CATS\": \"\\\"toys\\\"\"}}\n{\"userId\": \"u2\", \"filterValues\": {\"CATS\": \"\\\"music\\\",\\\"promo\\\"\"}}\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let job = c
        .control
        .create_batch_inference_job()
        .job_name("filtered")
        .solution_version_arn(&version)
        .filter_arn(&by_category)
        .num_results(10)
        .role_arn(ROLE)
        .job_input(
            BatchInferenceJobInput::builder().s3_data_source(s3_config(format!("file://{}", input.display()))).build(),
        )
        .job_output(
            BatchInferenceJobOutput::builder()
                .s3_data_destination(s3_config(format!("file://{}/", out.display())))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .batch_inference_job_arn()
        .unwrap()
        .to_string();
    c.wait_active("DescribeBatchInferenceJob", "batchInferenceJobArn", &job).await;
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(out.join("users.json.out"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let allowed: HashMap<&str, HashSet<&str>> =
        [("u1", HashSet::from(["toys"])), ("u2", HashSet::from(["music", "promo"]))].into_iter().collect();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        let user = line["input"]["userId"].as_str().unwrap();
        let items = line["output"]["recommendedItems"].as_array().unwrap();
        assert_eq!(items.len(), 10, "{line}");
        for item in items {
            let i = item_index(item.as_str().unwrap());
            assert!(allowed[user].contains(category(i)), "{user} got i{i} ({})", category(i));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_context_conditions_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(&dir.path().join("data"), &["--access-key", &format!("{KEY}:{SECRET}")]);
    let c = Clients::new(&server.base, KEY, SECRET);
    // Phone users browse p0..p9, desktop users d0..d9; everyone also touches the shared item s0.
    let mut csv = String::from("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,DEVICE\n");
    for u in 0..40 {
        let (device, prefix) = if u % 2 == 0 { ("phone", "p") } else { ("desktop", "d") };
        csv.push_str(&format!("u{u},s0,{},view,{device}\n", 1_000 + u * 10));
        for k in 0..4 {
            csv.push_str(&format!("u{u},{prefix}{},{},view,{device}\n", (u + k * 3) % 10, 1_001 + u * 10 + k));
        }
    }
    csv.push_str("q,s0,5000,view,phone\n");
    let file = dir.path().join("interactions.csv");
    std::fs::write(&file, csv).unwrap();
    let schema = r#"{"type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema",
      "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
                 {"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_TYPE", "type": "string"},
                 {"name": "DEVICE", "type": "string", "categorical": true}], "version": "1.0"}"#;
    let datasets = [DatasetSpec { name: "ctx", schema, ty: "Interactions", file: &file }];
    let campaign = deploy(&c, "ctx", &datasets, "ctx", "ctx").await.campaign;
    let top = |device: Option<&'static str>| {
        let request = c.runtime.get_recommendations().campaign_arn(&campaign).user_id("q").num_results(5);
        let request = match device {
            Some(d) => request.context("DEVICE", d),
            None => request,
        };
        async move {
            request
                .send()
                .await
                .unwrap()
                .item_list()
                .iter()
                .map(|i| i.item_id().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let phone = top(Some("phone")).await;
    let desktop = top(Some("desktop")).await;
    assert!(phone.iter().all(|i| i.starts_with('p')), "phone context: {phone:?}");
    assert!(desktop.iter().all(|i| i.starts_with('d')), "desktop context: {desktop:?}");
    // A context value never seen changes nothing.
    assert_eq!(top(Some("watch")).await, top(None).await);
}
