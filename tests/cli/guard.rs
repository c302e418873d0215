//! The breaker never switches itself off: a soak on a real HAProxy, gated
//! by a metrics page the test controls, stays guarded through the ordinary
//! things operators do — a pause, an edited plan file, a gate loosened
//! mid-soak, drift — by `advance`, `advance --wait` and `supervise` alike.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::supervise::{count, journal, migrate, run, wait, Canary, Supervisor};

/// A canary at 25 %, soaking for an hour.
fn soaking() -> Canary {
    let canary = Canary::with_soak("", "1h");
    let (code, text) = run(canary.path(), &[], &["advance"]);
    assert_eq!(code, 4, "{text}");
    canary
}

/// `status -o json`'s soak object.
fn soak(dir: &Path) -> Value {
    let (code, text) = run(dir, &[], &["-o", "json", "status"]);
    assert_eq!(code, 0, "{text}");
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "status")
        .map(|v| v["soak"].clone())
        .unwrap_or_else(|| panic!("no status object in {text}"))
}

/// From the breach to the rollback's end, by the journal's clock (printed
/// for RELIABILITY.md).
fn breach_to_restored(dir: &Path, what: &str) -> Duration {
    let records = journal(dir, &[]);
    let at = |event: &str| -> migrate::state::Timestamp {
        let r = records
            .iter()
            .rev()
            .find(|r| r["event"] == event)
            .unwrap_or_else(|| panic!("no {event} in {records:#?}"));
        serde_json::from_value(r["at"].clone()).unwrap()
    };
    let took = at("rollback_finished").since(at("breach"));
    eprintln!(
        "figure: {what}: breach -> every target restored {} ms",
        took.as_millis()
    );
    took
}

/// Let the gate's 500 ms interval pass, so that the next look reads it.
fn due() {
    std::thread::sleep(Duration::from_millis(700));
}

/// Rewrite the plan file: `from` must be in it.
fn edit(dir: &Path, from: &str, to: &str) {
    let path = dir.join("plan.yaml");
    let plan = std::fs::read_to_string(&path).unwrap();
    assert!(plan.contains(from), "{from} in\n{plan}");
    std::fs::write(&path, plan.replace(from, to)).unwrap();
}

#[test]
fn a_paused_soak_holds_its_clock_and_advance_still_trips_the_breaker() {
    let canary = soaking();
    let dir = canary.path();
    let (code, text) = run(dir, &[], &["pause", "--reason", "a look at the dashboards"]);
    assert_eq!(code, 0, "{text}");
    // Paused time does not count toward the soak: what was served stays
    // what it was when the pause began, however long the pause lasts.
    let held = soak(dir);
    assert_eq!(held["clock_held"], true, "{held}");
    std::thread::sleep(Duration::from_millis(1500));
    let later = soak(dir);
    assert_eq!(
        later["elapsed_ms"], held["elapsed_ms"],
        "{held} then {later}"
    );
    assert!(later["paused_ms"].as_u64().unwrap() >= 1500, "{later}");
    // advance on a paused migration reads the soak's gates (and says it
    // is paused: exit 4) ...
    let gates_before = count(&journal(dir, &[]), "gate");
    due();
    let (code, text) = run(dir, &[], &["advance"]);
    assert_eq!(code, 4, "{text}");
    assert!(text.contains("Paused by"), "{text}");
    assert!(count(&journal(dir, &[]), "gate") > gates_before);
    assert_eq!(canary.weight_share(), 25.0);
    // ... and trips the breaker on a breach, paused or not.
    canary.metric.set(0.5);
    due();
    let (code, text) = run(dir, &[], &["advance"]);
    assert_eq!(code, 3, "{text}");
    assert_eq!(canary.haproxy.weight("new").unwrap(), 0);
    assert_eq!(canary.observed_share(40), 0.0);
    let records = journal(dir, &[]);
    assert_eq!(count(&records, "breach"), 1, "{records:#?}");
    assert_eq!(count(&records, "rollback_finished"), 1, "{records:#?}");
    breach_to_restored(dir, "advance while paused");
}

#[test]
fn resuming_a_paused_soak_serves_only_its_remaining_time() {
    let canary = Canary::with_soak("", "6s");
    let dir = canary.path();
    let (code, text) = run(dir, &[], &["advance"]);
    assert_eq!(code, 4, "{text}");
    let (code, text) = run(dir, &[], &["pause"]);
    assert_eq!(code, 0, "{text}");
    let served = soak(dir)["elapsed_ms"].as_u64().unwrap();
    // Longer than the whole soak: before, the soak was over on resume.
    std::thread::sleep(Duration::from_secs(7));
    let (code, text) = run(dir, &[], &["resume"]);
    assert_eq!(code, 0, "{text}");
    let st = soak(dir);
    assert_eq!(st["clock_held"], false, "{st}");
    let remaining = st["remaining_ms"].as_u64().unwrap();
    assert!(
        remaining > 0 && remaining <= 6000 - served,
        "served {served} ms before the pause, {remaining} ms left after it: {st}"
    );
    let (code, text) = run(dir, &[], &["advance"]);
    assert_eq!(code, 4, "the soak is not over: {text}");
    assert_eq!(canary.weight_share(), 25.0);
    // The rest of it, waited through: then traffic moves on.
    let (code, text) = run(dir, &[], &["advance", "--wait"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(canary.weight_share(), 100.0);
}

#[test]
fn a_waiting_advance_keeps_guarding_a_paused_soak() {
    let canary = soaking();
    let dir = canary.path();
    let (code, text) = run(dir, &[], &["pause"]);
    assert_eq!(code, 0, "{text}");
    let out = dir.join("wait.out");
    let mut child = migrate(dir, &[], &["-o", "json", "advance", "--wait"])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let events = || -> Vec<Value> {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    // It stays, paused, and keeps reading the gate.
    wait("advance --wait to read the gate while paused", || {
        events().iter().filter(|e| e["type"] == "gate").count() >= 2
    });
    assert!(
        events().iter().any(|e| e["type"] == "waiting"
            && e["reason"].as_str().is_some_and(|r| r.contains("paused"))),
        "{:#?}",
        events()
    );
    assert!(child.try_wait().unwrap().is_none(), "{:#?}", events());
    canary.metric.set(0.5);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(3), "{:#?}", events());
    assert_eq!(canary.haproxy.weight("new").unwrap(), 0);
    breach_to_restored(dir, "advance --wait while paused");
}

#[test]
fn an_edited_plan_or_a_loosened_gate_does_not_switch_the_breaker_off() {
    let canary = soaking();
    let dir = canary.path();
    // A gate loosened mid-soak is journaled and said, and the soak keeps
    // the gate it started with.
    edit(dir, "max: 0.05", "max: 0.9");
    canary.metric.set(0.5);
    due();
    let (code, text) = run(dir, &[], &["advance"]);
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("gate errors changed in the plan"), "{text}");
    assert_eq!(canary.haproxy.weight("new").unwrap(), 0);
    let records = journal(dir, &[]);
    assert_eq!(count(&records, "gate_changed"), 1, "{records:#?}");
    assert_eq!(count(&records, "breach"), 1, "{records:#?}");

    // Started again: a done step changed in the plan (incompatible) and
    // a bad metric: the gates are read, the breaker trips, and the plan
    // is reported as what it is.
    edit(dir, "max: 0.9", "max: 0.05");
    canary.metric.set(0.0);
    let (code, text) = run(dir, &[], &["retry"]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = run(dir, &[], &["advance"]);
    assert_eq!(code, 4, "{text}");
    edit(dir, "percent: 25", "percent: 30");
    let (code, text) = run(dir, &[], &["advance"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("the plan changed under a running migration"),
        "{text}"
    );
    canary.metric.set(0.5);
    due();
    let (code, text) = run(dir, &[], &["advance"]);
    assert_eq!(code, 3, "{text}");
    assert_eq!(canary.haproxy.weight("new").unwrap(), 0);
    assert_eq!(count(&journal(dir, &[]), "breach"), 2);
    breach_to_restored(dir, "advance under an incompatible plan");
}

#[test]
fn a_changed_gate_is_adopted_for_the_running_soak_only_when_asked() {
    let canary = soaking();
    let dir = canary.path();
    edit(dir, "max: 0.05", "max: 0.9");
    canary.metric.set(0.5);
    due();
    let (code, text) = run(dir, &[], &["advance", "--adopt-gates"]);
    assert_eq!(code, 4, "{text}");
    assert!(text.contains("adopted for soak"), "{text}");
    assert_eq!(canary.weight_share(), 25.0);
    let records = journal(dir, &[]);
    let changed: Vec<&Value> = records
        .iter()
        .filter(|r| r["event"] == "gate_changed")
        .collect();
    assert_eq!(changed.len(), 1, "{records:#?}");
    assert_eq!(changed[0]["adopted"]["max"], 0.9, "{records:#?}");
}

#[test]
fn drift_does_not_switch_the_breaker_off() {
    let canary = soaking();
    let dir = canary.path();
    // Someone sets the weights by hand.
    canary
        .haproxy
        .command("set weight payments/new 50")
        .unwrap();
    canary
        .haproxy
        .command("set weight payments/old 50")
        .unwrap();
    let gates_before = count(&journal(dir, &[]), "gate");
    due();
    let (code, text) = run(dir, &[], &["advance"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("live values differ"), "{text}");
    assert!(
        count(&journal(dir, &[]), "gate") > gates_before,
        "the gates were read first"
    );
    canary.metric.set(0.5);
    due();
    let (code, text) = run(dir, &[], &["advance"]);
    assert_eq!(code, 3, "{text}");
    assert_eq!(canary.haproxy.weight("new").unwrap(), 0);
    breach_to_restored(dir, "advance over drift");
}

#[test]
fn a_supervisor_keeps_guarding_under_an_incompatible_plan_and_says_so() {
    let canary = soaking();
    let dir = canary.path();
    let sup = Supervisor::start(dir, "sup", &[], &[]);
    sup.wait_health("ok active");
    edit(dir, "percent: 25", "percent: 30");
    wait("/healthz to say the plan is incompatible", || {
        sup.healthz().is_some_and(|(status, body)| {
            status == 503 && body.contains("the plan changed under a running migration")
        })
    });
    assert_eq!(
        sup.sample(r#"migrate_migration_problem{migration="payments-canary"}"#),
        Some(1.0)
    );
    canary.metric.set(0.5);
    wait("HAProxy back on legacy", || {
        canary.haproxy.weight("new").unwrap() == 0
    });
    assert_eq!(count(&journal(dir, &[]), "breach"), 1);
    breach_to_restored(dir, "supervise under an incompatible plan");
    let (code, log) = sup.terminate();
    assert_eq!(code, 0, "{log}");
}

#[test]
fn a_supervisor_reports_drift_at_once_and_still_trips() {
    let canary = soaking();
    let dir = canary.path();
    let sup = Supervisor::start(dir, "sup", &[], &[]);
    sup.wait_health("ok active");
    canary
        .haproxy
        .command("set weight payments/new 50")
        .unwrap();
    canary
        .haproxy
        .command("set weight payments/old 50")
        .unwrap();
    wait("/healthz to say there is drift", || {
        sup.healthz()
            .is_some_and(|(status, body)| status == 503 && body.contains("drift"))
    });
    canary.metric.set(0.5);
    wait("HAProxy back on legacy", || {
        canary.haproxy.weight("new").unwrap() == 0
    });
    let (code, log) = sup.terminate();
    assert_eq!(code, 0, "{log}");
}
