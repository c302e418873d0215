//! The `flagd` adapter editing a real flag-definition file: only the flag
//! it drives changes; the file's other content, mode and location stay.
//! What each step serves is measured with the official evaluator,
//! `@openfeature/flagd-core` (the testbed installs it with npm), on the
//! file migrate wrote.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use migrate::providers::{Failure, FlagChange, FlagState, Registry};
use serde_json::{json, Value};
use testbed::flagd_core::{evaluate, Evaluation};

use crate::rig::Rig;

fn registry(file: &Path) -> Registry {
    let text = format!(
        "version: 1\nname: flagd-test\nsettings: {{ timeout: 5s, retries: 0 }}\nproviders:\n  flags: {{ type: flagd, file: \"{}\" }}\nphases:\n  - name: p\n    steps:\n      - approve: go\n",
        file.display()
    );
    match migrate::plan::validate(
        &text,
        &HashMap::<String, String>::new(),
        migrate::providers::catalog(),
    ) {
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
        load(&real)["flags"]["orders.dual-write"]["targeting"],
        json!({"fractional": [["on", 50], ["off", 50]]})
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

/// Targeting keys per evaluation. At 5% the share's standard error over
/// 20,000 keys is 0.15 points, at 50% 0.35: the tolerances below are
/// several of them, and still fail on a split that is off by a point.
const KEYS: usize = 20_000;

const RAMP: &str = "version: 1
name: flagd-ramp
settings: { interval: 1s, timeout: 5s, retries: 0 }
providers:
  flags: { type: flagd, file: '{DIR}/flags.json' }
phases:
  - name: ramp
    steps:
      - flag: { provider: flags, key: dual-write, percent: 5 }
      - flag: { provider: flags, key: dual-write, enabled: true }
      - flag: { provider: flags, key: dual-write, percent: 25 }
      - flag: { provider: flags, key: dual-write, percent: 50 }
      - flag: { provider: flags, key: dual-write, percent: 100 }
      - approve: Finish?
";

fn served(rig: &Rig) -> Evaluation {
    evaluate(&rig.path("flags.json"), "dual-write", KEYS, "customer-")
        .unwrap_or_else(|e| panic!("{e:#}\n{}", rig.read("flags.json")))
}

fn step(rig: &Rig) -> String {
    let (code, out, err) = rig.run(&["advance", "--steps", "1"]);
    assert_eq!(code, 0, "{out}{err}");
    format!("{out}{err}")
}

fn near(e: &Evaluation, want: f64, tolerance: f64) {
    let got = e.percent();
    assert!(
        (got - want).abs() <= tolerance,
        "{got:.2}% of {} keys got true, want {want}% ± {tolerance}",
        e.keys
    );
}

fn subset(small: &Evaluation, big: &Evaluation) -> bool {
    let big: std::collections::HashSet<_> = big.on.iter().collect();
    small.on.iter().all(|k| big.contains(k))
}

#[test]
fn the_official_evaluator_serves_each_step_and_the_baseline_after_rollback() {
    let rig = Rig::new("flagd-ramp");
    rig.plan(RAMP);
    let baseline = rig.flag("dual-write");
    let before = served(&rig);
    assert_eq!(before.on.len(), 0, "off at the start");

    // A percent on an off flag is stored, serves nobody, and says so.
    let out = step(&rig);
    assert!(
        out.contains("reads back off (serves nobody; 5% when turned on)"),
        "{out}"
    );
    let off = served(&rig);
    assert_eq!(off.on.len(), 0, "an off flag serves nobody");
    assert!(!off.no_key);
    assert_eq!(rig.flag("dual-write")["metadata"]["migrate.rollout"], 5);
    // Someone else changing the kept rollout is drift, shown by status.
    let text = rig.read("flags.json");
    std::fs::write(
        rig.path("flags.json"),
        text.replace("\"migrate.rollout\": 5", "\"migrate.rollout\": 50"),
    )
    .unwrap();
    let (_, status, _) = rig.run(&["status"]);
    assert!(status.contains("DRIFT"), "{status}");
    std::fs::write(rig.path("flags.json"), &text).unwrap();
    let (_, status, _) = rig.run(&["status"]);
    assert!(!status.contains("DRIFT"), "{status}");

    // Turned on, it serves the stored 5% — not everyone.
    let out = step(&rig);
    assert!(out.contains("reads back on at 5%"), "{out}");
    let five = served(&rig);
    near(&five, 5.0, 1.0);
    assert!(
        !five.no_key,
        "an evaluation without a targeting key gets the default, off ({})",
        five.no_key_reason
    );
    assert_eq!(five.no_key_reason, "DEFAULT");

    step(&rig);
    let quarter = served(&rig);
    near(&quarter, 25.0, 1.5);
    assert!(!quarter.no_key);
    step(&rig);
    let half = served(&rig);
    near(&half, 50.0, 1.5);
    assert!(!half.no_key);
    // Sticky: a key that got the candidate keeps it as the share grows.
    assert!(subset(&five, &quarter) && subset(&quarter, &half));

    step(&rig);
    let all = served(&rig);
    assert_eq!(all.on.len(), KEYS, "100%: every key");
    assert!(all.no_key, "100%: on without a key too");

    // Rolling back restores the baseline: the flag as it was, off.
    let (code, out, err) = rig.run(&["rollback"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(rig.flag("dual-write"), baseline);
    let after = served(&rig);
    assert_eq!(after.on.len(), 0);
    assert!(!after.no_key);
    assert_eq!(rig.flag("unrelated")["defaultVariant"], "on");
}

#[tokio::test]
async fn a_flag_turned_off_mid_rollout_keeps_its_share_and_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flags.json");
    std::fs::write(&path, FILE).unwrap();
    let f = registry(&path).flags("flags").unwrap();
    let at = || evaluate(&path, "orders.dual-write", KEYS, "user-").unwrap();
    f.set("orders.dual-write", &on_at(10.0)).await.unwrap();
    let ten = at();
    near(&ten, 10.0, 1.0);
    f.set(
        "orders.dual-write",
        &FlagChange {
            enabled: Some(false),
            percent: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        f.get("orders.dual-write").await.unwrap(),
        FlagState {
            enabled: false,
            percent: Some(10.0)
        }
    );
    let off = at();
    assert!(off.on.is_empty() && !off.no_key);
    f.set(
        "orders.dual-write",
        &FlagChange {
            enabled: Some(true),
            percent: None,
        },
    )
    .await
    .unwrap();
    let again = at();
    assert_eq!(again.on, ten.on, "the same keys as before it was off");
}

/// A file written by earlier versions of migrate (`defaultVariant: on`
/// with the split) reads back as the split; rewriting it fixes what a
/// request without a targeting key gets.
#[tokio::test]
async fn a_file_of_the_earlier_format_reads_back_and_is_fixed_on_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flags.json");
    std::fs::write(
        &path,
        r#"{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false},
            "defaultVariant": "on", "targeting": {"fractional": [["on", 5], ["off", 95]]}}}}"#,
    )
    .unwrap();
    let old = evaluate(&path, "f", KEYS, "user-").unwrap();
    near(&old, 5.0, 1.0);
    assert!(old.no_key, "the earlier format served true without a key");
    let f = registry(&path).flags("flags").unwrap();
    assert_eq!(
        f.get("f").await.unwrap(),
        FlagState {
            enabled: true,
            percent: Some(5.0)
        }
    );
    f.set("f", &on_at(5.0)).await.unwrap();
    let new = evaluate(&path, "f", KEYS, "user-").unwrap();
    assert_eq!(new.on, old.on, "the same keys keep the candidate");
    assert!(!new.no_key);
}
