//! The command line as a data team uses it: import with a report, recommend from a data directory across
//! restarts, follow a JSON Lines feed, and replay up to a moment.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn streamrec(args: &[&str], data_dir: &Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_streamrec"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("run streamrec");
    assert!(out.status.success(), "streamrec {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn recommended(out: &Output) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    v["itemList"].as_array().unwrap().iter().map(|i| i["itemId"].as_str().unwrap().to_string()).collect()
}

#[test]
fn import_reports_bad_rows_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let out = streamrec(&["import", &fixture("interactions.csv")], dir.path());
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("164 rows read, 160 accepted, 4 rejected"), "{report}");
    for expected in [
        "interactions.csv:5: ITEM_ID: required value is empty",
        "interactions.csv:12: TIMESTAMP: expected an integer",
        "interactions.csv:20: row has 2 fields, expected 4",
        "interactions.csv:33: TIMESTAMP: \"1700000000000\" looks like milliseconds",
    ] {
        assert!(report.contains(expected), "missing {expected:?} in\n{report}");
    }

    // user0 saw b, e, f, d (a, c are the rest of its taste): recommendations exclude what it saw, start
    // with its taste, and are identical after a restart (each command below is a fresh process).
    let first = streamrec(&["recommend", "--user", "user0", "-n", "5", "--json"], dir.path());
    let items = recommended(&first);
    assert_eq!(items.len(), 5);
    assert_eq!(&items[..2], ["c", "a"]);
    for seen in ["b", "e", "f", "d"] {
        assert!(!items.contains(&seen.to_string()), "{items:?} contains seen item {seen}");
    }
    let again = streamrec(&["recommend", "--user", "user0", "-n", "5", "--json"], dir.path());
    assert_eq!(first.stdout, again.stdout);

    // A FULL import replaces the dataset: user0 is gone, so only popular items remain for it.
    let replacement = dir.path().join("other.csv");
    std::fs::write(&replacement, "USER_ID,ITEM_ID,TIMESTAMP\nzed,b,5\nzed,c,6\n").unwrap();
    streamrec(&["import", "--mode", "full", replacement.to_str().unwrap()], dir.path());
    let after = streamrec(&["recommend", "--user", "user0", "-n", "5", "--json"], dir.path());
    let v: serde_json::Value = serde_json::from_slice(&after.stdout).unwrap();
    let list = v["itemList"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{v}");
    assert!(list.iter().all(|i| i["reason"]["kind"] == "popular"));
}

#[test]
fn column_mapping_loads_movielens_layout() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("u.data");
    // user item rating time, tab-separated, no header: the MovieLens u.data layout.
    std::fs::write(
        &file,
        "1\t10\t5\t881250949\n1\t11\t3\t881250950\n2\t10\t4\t881250951\n2\t11\t1\t881250952\n3\t10\t2\t881250953\n",
    )
    .unwrap();
    let out = streamrec(&["import", "--format", "movielens-udata", file.to_str().unwrap()], dir.path());
    assert!(String::from_utf8_lossy(&out.stdout).contains("5 accepted, 0 rejected"));
    let items = recommended(&streamrec(&["recommend", "--user", "3", "--json", "-n", "1"], dir.path()));
    assert_eq!(items, vec!["11"]);
    let similar = recommended(&streamrec(&["similar", "--item", "10", "--json", "-n", "1"], dir.path()));
    assert_eq!(similar, vec!["11"]);
}

#[test]
fn ingest_follows_json_lines_and_reports_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_streamrec"))
        .args(["ingest", "--batch", "2", "--data-dir"])
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, r#"{{"userId":"u1","itemId":"a","timestamp":10}}"#).unwrap();
    writeln!(stdin, r#"{{"userId":"u1","itemId":"b","timestamp":11}}"#).unwrap();
    writeln!(stdin, r#"{{"userId":"u2","itemId":""}}"#).unwrap();
    writeln!(stdin, "not json").unwrap();
    writeln!(stdin, r#"{{"userId":"u2","itemId":"a","timestamp":12}}"#).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("<stdin>:3: itemId: must not be empty"), "{stderr}");
    assert!(stderr.contains("<stdin>:4: "), "{stderr}");
    assert!(stderr.contains("ingested 3 events, rejected 2"), "{stderr}");
    let items = recommended(&streamrec(&["recommend", "--user", "u2", "--json", "-n", "1"], dir.path()));
    assert_eq!(items, vec!["b"]);
}

#[test]
fn replay_answers_as_of_a_moment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.csv");
    // Out of timestamp order on purpose: replay sorts. Before t=100 only a–b co-occur; later a–c dominate.
    std::fs::write(
        &file,
        "USER_ID,ITEM_ID,TIMESTAMP\nu3,a,200\nu3,c,201\nu1,a,10\nu1,b,11\nu4,a,210\nu4,c,211\nu5,a,50\n",
    )
    .unwrap();
    let replay = |until: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_streamrec"))
            .args(["replay", "--until", until, "--user", "u5", "--json", "-n", "1"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let json = &text[text.find('{').unwrap()..];
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        v["itemList"][0]["itemId"].as_str().unwrap().to_string()
    };
    assert_eq!(replay("100"), "b");
    assert_eq!(replay("1000"), "c");

    // The same from a data directory's log: import, then replay the log as of t=100.
    let data = dir.path().join("data");
    streamrec(&["import", file.to_str().unwrap()], &data);
    let out = Command::new(env!("CARGO_BIN_EXE_streamrec"))
        .args(["replay", "--until", "100", "--user", "u5", "--json", "-n", "1", "--from-data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let v: serde_json::Value = serde_json::from_str(&text[text.find('{').unwrap()..]).unwrap();
    assert_eq!(v["itemList"][0]["itemId"], "b");
}

/// `recommend`, `similar` and `popular` apply a filter (with parameter values) before truncating.
#[test]
fn filters_shape_command_line_answers() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("items.json");
    std::fs::write(
        &schema,
        r#"{"type": "record", "name": "Items", "namespace": "com.amazonaws.personalize.schema",
            "fields": [{"name": "ITEM_ID", "type": "string"}, {"name": "GENRE", "type": "string", "categorical": true}],
            "version": "1.0"}"#,
    )
    .unwrap();
    let items = dir.path().join("items.csv");
    std::fs::write(
        &items,
        "ITEM_ID,GENRE\na,drama\nb,comedy\nc,drama\nd,comedy\ne,drama\nf,comedy\ng,drama\nh,comedy\n",
    )
    .unwrap();
    streamrec(
        &["import", "--dataset", "items", "--schema", schema.to_str().unwrap(), items.to_str().unwrap()],
        dir.path(),
    );
    streamrec(&["import", &fixture("interactions.csv")], dir.path());
    let drama = |i: &String| ["a", "c", "e", "g"].contains(&i.as_str());
    let filter = "INCLUDE ItemID WHERE Items.GENRE IN ($G)";
    for command in [vec!["recommend", "--user", "user0"], vec!["similar", "--item", "b"], vec!["popular"]] {
        let mut args = command.clone();
        args.extend(["-n", "3", "--json", "--filter", filter, "--filter-value", "G=\"drama\""]);
        let answer = recommended(&streamrec(&args, dir.path()));
        assert!(!answer.is_empty(), "{command:?}: empty");
        assert!(answer.iter().all(drama), "{command:?} under {filter}: {answer:?}");
    }
    // A bad expression is refused with its position.
    let out = Command::new(env!("CARGO_BIN_EXE_streamrec"))
        .args(["popular", "--filter", "INCLUDE ItemID WHERE Items.GENRE LIKE (\"x\")", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at 33"), "{err}");
}

/// `recommend --context` conditions the answer on the interactions' context values.
#[test]
fn context_conditions_command_line_recommendations() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("interactions.json");
    std::fs::write(
        &schema,
        r#"{"type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema",
            "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
                       {"name": "TIMESTAMP", "type": "long"}, {"name": "DEVICE", "type": "string", "categorical": true}],
            "version": "1.0"}"#,
    )
    .unwrap();
    let mut csv = String::from("USER_ID,ITEM_ID,TIMESTAMP,DEVICE\n");
    for u in 0..20 {
        let (device, prefix) = if u % 2 == 0 { ("phone", "p") } else { ("desktop", "d") };
        csv.push_str(&format!("u{u},s,{},{device}\n", 1000 + u));
        for k in 0..3 {
            csv.push_str(&format!("u{u},{prefix}{},{},{device}\n", (u + k) % 6, 1001 + u * 10 + k));
        }
    }
    csv.push_str("q,s,5000,phone\n");
    let file = dir.path().join("interactions.csv");
    std::fs::write(&file, csv).unwrap();
    streamrec(&["import", "--schema", schema.to_str().unwrap(), file.to_str().unwrap()], dir.path());
    for (device, prefix) in [("phone", 'p'), ("desktop", 'd')] {
        let context = format!("DEVICE={device}");
        let answer = recommended(&streamrec(
            &["recommend", "--user", "q", "-n", "4", "--json", "--context", &context],
            dir.path(),
        ));
        assert!(answer.iter().all(|i| i.starts_with(prefix)), "{context}: {answer:?}");
    }
}

/// A FULL import that cannot be read, or whose every row is rejected, leaves the dataset as it was.
#[test]
fn a_failed_full_import_keeps_the_dataset() {
    let dir = tempfile::tempdir().unwrap();
    streamrec(&["import", &fixture("interactions.csv")], dir.path());
    let before = streamrec(&["recommend", "--user", "user0", "-n", "5", "--json"], dir.path()).stdout;
    let no_users = dir.path().join("no-users.csv");
    std::fs::write(&no_users, "ITEM_ID,TIMESTAMP\na,1\n").unwrap();
    let all_bad = dir.path().join("all-bad.csv");
    std::fs::write(&all_bad, "USER_ID,ITEM_ID,TIMESTAMP\nu,,1\nv,b,yesterday\n").unwrap();
    for file in [&no_users, &all_bad] {
        let _ = Command::new(env!("CARGO_BIN_EXE_streamrec"))
            .args(["import", "--mode", "full", file.to_str().unwrap(), "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        let after = streamrec(&["recommend", "--user", "user0", "-n", "5", "--json"], dir.path()).stdout;
        assert_eq!(after, before, "a failed FULL import of {} changed the dataset", file.display());
    }
}
