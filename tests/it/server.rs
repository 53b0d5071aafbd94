//! The HTTP server as a user meets it: a child `streamrec serve` process.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::Server;
use serde_json::{json, Value};

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn post_events(c: &reqwest::Client, base: &str, events: Value) -> reqwest::Response {
    c.post(format!("{base}/v1/events")).json(&json!({ "events": events })).send().await.expect("POST /v1/events")
}

async fn get(c: &reqwest::Client, url: String) -> Value {
    let resp = c.get(&url).send().await.expect("GET");
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    resp.json().await.expect("JSON")
}

fn items(answer: &Value) -> Vec<String> {
    answer["itemList"].as_array().unwrap().iter().map(|i| i["itemId"].as_str().unwrap().to_string()).collect()
}

/// Every event acknowledged before a SIGKILL is there after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let base = server.base.clone();
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..4 {
        let (base, acked) = (base.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            let c = client();
            for batch in 0.. {
                let events: Vec<(String, String)> =
                    (0..20).map(|i| (format!("w{w}-b{batch}-{i}"), format!("item-{}", (batch + i) % 37))).collect();
                let body: Vec<Value> = events
                    .iter()
                    .map(|(u, i)| json!({ "userId": u, "itemId": i, "timestamp": 1_700_000_000 + batch }))
                    .collect();
                match c.post(format!("{base}/v1/events")).json(&json!({ "events": body })).send().await {
                    Ok(r) if r.status().is_success() => acked.lock().unwrap().extend(events),
                    _ => return, // the server died mid-request: not acknowledged
                }
            }
        }));
    }
    // Let acknowledged events pile up, then pull the plug mid-stream.
    let start = Instant::now();
    while acked.lock().unwrap().len() < 3_000 && start.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::task::spawn_blocking(move || server.kill()).await.unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 1_000, "only {} events acknowledged", acked.len());

    let restarted = Server::start(dir.path());
    let c = client();
    let stats = get(&c, format!("{}/v1/stats", restarted.base)).await;
    assert!(stats["users"].as_u64().unwrap() >= acked.len() as u64, "{stats}");
    for (user, item) in &acked {
        let history = get(&c, format!("{}/v1/users/{user}/history", restarted.base)).await;
        let seen: Vec<&str> =
            history["items"].as_array().unwrap().iter().map(|i| i["itemId"].as_str().unwrap()).collect();
        assert_eq!(seen, vec![item.as_str()], "user {user} lost its acknowledged event");
    }
    restarted.stop();
}

/// A recommendation asked right after an acknowledged event reflects it, with no sleep in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_your_writes_and_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (c, base) = (client(), server.base.clone());
    // Two tastes: a..e co-occur, and x..z co-occur.
    let mut history = Vec::new();
    for u in 0..30 {
        let group: &[&str] = if u % 2 == 0 { &["a", "b", "c", "d", "e"] } else { &["x", "y", "z"] };
        for (k, item) in group.iter().enumerate() {
            history.push(json!({ "userId": format!("u{u}"), "itemId": item, "timestamp": 1_000 + u * 10 + k as i64, "eventType": "view" }));
        }
    }
    assert!(post_events(&c, &base, Value::Array(history)).await.status().is_success());

    // A new user views "a": at once they get a's neighbours, not "a" itself, because of "a".
    assert!(post_events(&c, &base, json!([{ "userId": "newbie", "itemId": "a", "timestamp": 5_000 }]))
        .await
        .status()
        .is_success());
    let answer = get(&c, format!("{base}/v1/recommendations?userId=newbie&numResults=4")).await;
    assert_eq!(items(&answer), vec!["b", "c", "d", "e"], "{answer}");
    assert_eq!(answer["itemList"][0]["reason"]["itemId"], "a");

    // Then "x": the x-taste items now appear, and "x" is excluded.
    assert!(post_events(&c, &base, json!([{ "userId": "newbie", "itemId": "x", "timestamp": 5_001 }]))
        .await
        .status()
        .is_success());
    let answer = get(&c, format!("{base}/v1/recommendations?userId=newbie&numResults=10")).await;
    let got = items(&answer);
    assert!(
        got.contains(&"y".to_string()) && !got.contains(&"x".to_string()) && !got.contains(&"a".to_string()),
        "{answer}"
    );

    // Unknown users get popular items.
    let answer = get(&c, format!("{base}/v1/recommendations?userId=nobody&numResults=3")).await;
    // "a" and "x" have 16 users each (ties go to the earlier item), "b" 15.
    assert_eq!(items(&answer), vec!["a", "x", "b"]);
    assert_eq!(answer["itemList"][0]["reason"]["kind"], "popular");

    // Similar items and popular.
    let answer = get(&c, format!("{base}/v1/similar-items?itemId=y&numResults=2")).await;
    // Cosine: z shares all 15 of its users with y; x has 16 users (newbie too).
    assert_eq!(items(&answer), vec!["z", "x"]);

    // Bad records are rejected with their index and field; good ones in the same request are kept.
    let resp = post_events(
        &c,
        &base,
        json!([
            { "userId": "", "itemId": "a" },
            { "userId": "ok", "itemId": "b", "timestamp": 6_000 },
            { "userId": "u", "itemId": "a", "timestamp": 1_700_000_000_000i64 },
            { "userId": "u", "itemId": "a", "bogus": 1 },
        ]),
    )
    .await;
    assert!(resp.status().is_success());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["accepted"], 1);
    let fields: Vec<&str> = body["rejected"].as_array().unwrap().iter().map(|r| r["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["userId", "timestamp", "bogus"]);
    let indexes: Vec<u64> = body["rejected"].as_array().unwrap().iter().map(|r| r["index"].as_u64().unwrap()).collect();
    assert_eq!(indexes, vec![0, 2, 3]);

    // All-bad requests are a 400; out-of-range numResults too.
    assert_eq!(post_events(&c, &base, json!([{ "itemId": "a" }])).await.status(), 400);
    let resp = c.get(format!("{base}/v1/recommendations?userId=newbie&numResults=0")).send().await.unwrap();
    assert_eq!(resp.status(), 400);

    // History per event type: the newest items of each type, newest first.
    assert!(post_events(
        &c,
        &base,
        json!([
            { "userId": "typed", "itemId": "a", "eventType": "view", "timestamp": 10 },
            { "userId": "typed", "itemId": "b", "eventType": "purchase", "timestamp": 11 },
            { "userId": "typed", "itemId": "c", "eventType": "view", "timestamp": 12 },
        ])
    )
    .await
    .status()
    .is_success());
    let recent = |v: &Value| -> Vec<String> {
        v["recent"].as_array().unwrap().iter().map(|e| e["itemId"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(recent(&get(&c, format!("{base}/v1/users/typed/history?eventType=purchase")).await), vec!["b"]);
    assert_eq!(recent(&get(&c, format!("{base}/v1/users/typed/history?eventType=view")).await), vec!["c", "a"]);
    assert_eq!(recent(&get(&c, format!("{base}/v1/users/typed/history")).await), vec!["c", "b", "a"]);

    // The als recipe: trained on demand (it also retrains in the background), users solved at query time.
    let resp = c.post(format!("{base}/v1/recipes/als/retrain")).send().await.unwrap();
    assert!(resp.status().is_success());
    let answer = get(&c, format!("{base}/v1/recommendations?userId=u1&recipe=als&numResults=3")).await;
    let got = items(&answer);
    assert_eq!(got.len(), 3, "{answer}");
    assert!(got.iter().all(|i| !["x", "y", "z"].contains(&i.as_str())), "u1's own items are excluded: {answer}");
    assert!(answer["itemList"].as_array().unwrap().iter().all(|i| i["reason"]["kind"] == "factors"));
    let first = got[0].clone();
    assert!(post_events(&c, &base, json!([{ "userId": "u1", "itemId": first, "timestamp": 6_500 }]))
        .await
        .status()
        .is_success());
    let answer = get(&c, format!("{base}/v1/recommendations?userId=u1&recipe=als&numResults=3")).await;
    assert!(!items(&answer).contains(&first), "the new event counts at once: {answer}");
    let resp = c.get(format!("{base}/v1/recommendations?userId=u1&recipe=sims")).send().await.unwrap();
    assert_eq!(resp.status(), 400);

    // An anonymous session (sessionId, no userId): its next items come from everyone's sequences.
    let resp = post_events(
        &c,
        &base,
        json!([
            { "sessionId": "anon-1", "itemId": "x", "timestamp": 7_000 },
        ]),
    )
    .await;
    assert!(resp.status().is_success());
    let answer = get(&c, format!("{base}/v1/next-items?sessionId=anon-1&numResults=2")).await;
    assert_eq!(items(&answer), vec!["y", "z"], "{answer}");
    let answer = get(&c, format!("{base}/v1/next-items?sessionItems=a,b&numResults=1")).await;
    assert_eq!(items(&answer), vec!["c"], "{answer}");

    // Deleting a user's data forgets them at once: they become an unknown-like user with no history.
    let resp = c.delete(format!("{base}/v1/users/newbie")).send().await.unwrap();
    assert!(resp.status().is_success());
    let history = get(&c, format!("{base}/v1/users/newbie/history")).await;
    assert!(history["items"].as_array().unwrap().is_empty(), "{history}");
    let answer = get(&c, format!("{base}/v1/recommendations?userId=newbie&numResults=3")).await;
    assert!(answer["itemList"].as_array().unwrap().iter().all(|i| i["reason"]["kind"] == "popular"));
    server.stop();
}

/// The native API applies filters (with values) and contexts, and a deleted item vanishes at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_answers_follow_filters_context_and_deletions() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let c = client();
    let base = &server.base;
    // Items in two genres; phone users like p-items, desktop users d-items; everyone touched s.
    let catalogue: Vec<Value> = (0..6)
        .flat_map(|i| {
            [
                json!({"itemId": format!("p{i}"), "properties": {"GENRE": "drama"}}),
                json!({"itemId": format!("d{i}"), "properties": {"GENRE": "comedy"}}),
            ]
        })
        .collect();
    let resp = c.post(format!("{base}/v1/items")).json(&json!({ "items": catalogue })).send().await.unwrap();
    assert!(resp.status().is_success());
    let mut events = Vec::new();
    for u in 0..20 {
        let (device, prefix) = if u % 2 == 0 { ("phone", "p") } else { ("desktop", "d") };
        events.push(
            json!({"userId": format!("u{u}"), "itemId": "s", "timestamp": 1000 + u, "properties": {"DEVICE": device}}),
        );
        for k in 0..3 {
            events.push(json!({"userId": format!("u{u}"), "itemId": format!("{prefix}{}", (u + k) % 6),
                               "timestamp": 1001 + u * 10 + k, "eventType": "view", "properties": {"DEVICE": device}}));
        }
    }
    events.push(json!({"userId": "q", "itemId": "s", "timestamp": 5000}));
    assert!(post_events(&c, base, json!(events)).await.status().is_success());

    let url = |query: &str| format!("{base}/v1/recommendations?userId=q&numResults=4&{query}");
    let enc =
        |s: &str| s.replace(' ', "%20").replace('"', "%22").replace('$', "%24").replace('{', "%7B").replace('}', "%7D");
    let comedy = items(
        &get(
            &c,
            url(&format!(
                "filter={}&filterValues={}",
                enc("INCLUDE ItemID WHERE Items.GENRE IN ($G)"),
                enc(r#"{"G": "\"comedy\""}"#)
            )),
        )
        .await,
    );
    assert_eq!(comedy.len(), 4);
    assert!(comedy.iter().all(|i| i.starts_with('d')), "{comedy:?}");
    let phone = items(&get(&c, url(&format!("context={}", enc(r#"{"DEVICE": "phone"}"#)))).await);
    assert!(phone.iter().all(|i| i.starts_with('p')), "phone context: {phone:?}");
    let desktop = items(&get(&c, url(&format!("context={}", enc(r#"{"DEVICE": "desktop"}"#)))).await);
    assert!(desktop.iter().all(|i| i.starts_with('d')), "desktop context: {desktop:?}");

    // Deleting the top item removes it from every answer at once.
    let top = phone[0].clone();
    let resp = c.delete(format!("{base}/v1/items/{top}")).send().await.unwrap();
    assert!(resp.status().is_success());
    for answer in [
        get(&c, url(&format!("context={}", enc(r#"{"DEVICE": "phone"}"#)))).await,
        get(&c, format!("{base}/v1/popular?numResults=20")).await,
        get(&c, format!("{base}/v1/similar-items?itemId=s&numResults=20")).await,
    ] {
        assert!(!items(&answer).contains(&top), "deleted {top} in {answer}");
    }
    let resp = c.delete(format!("{base}/v1/items/nope")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
}
