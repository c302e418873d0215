//! The `flagd` adapter editing a real flag-definition file: only the flag
//! it drives changes; the file's other content, mode and location stay.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use migrate::providers::{Failure, FlagChange, FlagState, Registry};
use serde_json::{json, Value};

fn registry(file: &Path) -> Registry {
    let text = format!(
        "version: 1\nname: flagd-test\nsettings: {{ timeout: 5s, retries: 0 }}\nproviders:\n  flags: {{ type: flagd, file: \"{}\" }}\nphases:\n  - name: p\n    steps:\n      - approve: go\n",
        file.display()
    );
    match migrate::plan::validate(&text, &HashMap::<String, String>::new()) {
        Ok(v) => Registry::new(&v.plan),
        Err(d) => panic!("invalid test plan: {d:#?}"),
    }
}

const FILE: &str = r##"{
  "$schema": "https://flagd.dev/schema/v0/flags.json",
  "flags": {
    "banner-color": {
      "state": "ENABLED",
      "variants": { "red": "#f00", "blue": "#00f" },
      "defaultVariant": "red",
      "targeting": { "if": [{ "$ref": "staff" }, "blue"] }
    },
    "orders.dual-write": {
      "state": "ENABLED",
      "variants": { "on": true, "off": false },
      "defaultVariant": "off"
    }
  },
  "$evaluators": { "staff": { "ends_with": [{ "var": "email" }, "@example.com"] } }
}
"##;

fn load(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn on_at(p: f64) -> FlagChange {
    FlagChange {
        enabled: Some(true),
        percent: Some(Some(p)),
    }
}

#[tokio::test]
async fn edits_one_flag_and_keeps_the_rest_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flags.json");
    std::fs::write(&path, FILE).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let f = registry(&path).flags("flags").unwrap();

    assert_eq!(
        f.get("orders.dual-write").await.unwrap(),
        FlagState {
            enabled: false,
            percent: None
        }
    );
    f.set("orders.dual-write", &on_at(10.0)).await.unwrap();
    assert_eq!(
        f.get("orders.dual-write").await.unwrap(),
        FlagState {
            enabled: true,
            percent: Some(10.0)
        }
    );
    let doc = load(&path);
    let before: Value = serde_json::from_str(FILE).unwrap();
    assert_eq!(
        doc["flags"]["orders.dual-write"]["targeting"],
        json!({"fractional": [["on", 10], ["off", 90]]})
    );
    assert_eq!(
        doc["flags"]["banner-color"],
        before["flags"]["banner-color"]
    );
    assert_eq!(doc["$evaluators"], before["$evaluators"]);
    assert_eq!(doc["$schema"], before["$schema"]);
    let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["$schema", "flags", "$evaluators"]);
    // Mode kept, no temporary file left behind.
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    // A flag that is not in the file yet is created.
    f.set("search.v2", &on_at(2.5)).await.unwrap();
    assert_eq!(
        load(&path)["flags"]["search.v2"]["variants"],
        json!({"on": true, "off": false})
    );
    assert_eq!(f.get("search.v2").await.unwrap().percent, Some(2.5));

    // Rules migrate did not write are never overwritten.
    let e = f.set("banner-color", &on_at(5.0)).await.unwrap_err();
    assert_eq!(e.failure, Failure::Rejected);
    assert!(
        e.to_string()
            .contains("flagd provider 'flags': setting flag 'banner-color'"),
        "{e}"
    );
    assert_eq!(
        load(&path)["flags"]["banner-color"],
        before["flags"]["banner-color"]
    );
}

#[tokio::test]
async fn concurrent_changes_to_one_file_are_all_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flags.json");
    std::fs::write(&path, r#"{"flags": {}}"#).unwrap();
    let f = registry(&path).flags("flags").unwrap();
    let sets = (0..12).map(|i| {
        let f = f.clone();
        async move { f.set(&format!("flag-{i}"), &on_at(f64::from(i))).await }
    });
    for r in futures_util::future::join_all(sets).await {
        r.unwrap();
    }
    let doc = load(&path);
    for i in 0..12 {
        assert_eq!(
            doc["flags"][format!("flag-{i}")]["targeting"]["fractional"][0],
            json!(["on", i]),
            "flag-{i}"
        );
    }
}

#[tokio::test]
async fn a_symlinked_file_is_edited_where_it_lives() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.json");
    let link = dir.path().join("flags.json");
    std::fs::write(&real, FILE).unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let f = registry(&link).flags("flags").unwrap();
    f.set("orders.dual-write", &on_at(50.0)).await.unwrap();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        load(&real)["flags"]["orders.dual-write"]["defaultVariant"],
        "on"
    );
}

#[tokio::test]
async fn a_missing_or_broken_file_is_an_error_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let f = registry(&missing).flags("flags").unwrap();
    let e = f.get("x").await.unwrap_err();
    assert_eq!(e.failure, Failure::Rejected);
    assert!(
        e.message.contains("does not exist") && e.message.contains("nope.json"),
        "{e}"
    );
    f.set("x", &on_at(1.0)).await.unwrap_err();
    assert!(!missing.exists(), "a missing file is not created");

    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"flags\": {,}").unwrap();
    let f = registry(&broken).flags("flags").unwrap();
    let e = f.set("x", &on_at(1.0)).await.unwrap_err();
    assert_eq!(e.failure, Failure::Garbage);
    assert!(
        e.message.contains("not valid JSON") && e.message.contains("line 1"),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), "{\"flags\": {,}");
}
