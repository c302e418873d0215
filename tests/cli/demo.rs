//! `migrate demo`, run as a newcomer runs it (through the binary, without a
//! terminal, `-o json`), and checked against its story: the breaker trips
//! at the 25% canary step and puts every customer back on the monolith,
//! `retry` after the fix completes the migration, parity is 100%, the
//! backfill copied the history — and users saw errors only where the
//! breaker allowed them. With `--keep`, the printed commands explore the
//! finished system; Ctrl-C (at the end or in the middle) removes it all.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::root;

/// Far above the demo's own time (under a minute, debug builds included):
/// only a hang fails on it.
const DEADLINE: Duration = Duration::from_secs(600);

/// `migrate` with a clean environment and `args`, stdout piped.
fn spawn(args: &[&str]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_migrate"));
    cmd.env_clear();
    for name in ["PATH", "HOME", "TMPDIR", "LANG"] {
        if let Some(v) = std::env::var_os(name) {
            cmd.env(name, v);
        }
    }
    cmd.env("NO_COLOR", "1")
        .env("MIGRATE_ACTOR", "ci@demo-test")
        .current_dir(root())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("start migrate demo")
}

/// The child's JSON lines, as they come.
fn lines(child: &mut Child) -> mpsc::Receiver<Value> {
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            if tx.send(v).is_err() {
                break;
            }
        }
    });
    rx
}

/// Events until (and including) the first of type `until`.
fn until(rx: &mpsc::Receiver<Value>, until: &str, seen: &mut Vec<Value>) -> Value {
    loop {
        let v = rx
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|e| panic!("no `{until}` event ({e}); so far: {seen:#?}"));
        seen.push(v.clone());
        if v["type"] == until {
            return v;
        }
    }
}

fn interrupt(child: &Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "sending SIGINT");
}

/// Exit code and stderr of a finished child.
fn finish(child: Child) -> (i32, String) {
    let out = child.wait_with_output().expect("wait for migrate demo");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<(usize, &'a Value)> {
    events
        .iter()
        .enumerate()
        .filter(|(_, e)| e["type"] == kind)
        .collect()
}

fn is_candidate_flag(target: &Value) -> bool {
    target["kind"] == "flag" && target["key"] == "candidate"
}

#[test]
fn the_demo_rolls_back_at_25_percent_retries_and_completes() {
    let mut child = spawn(&["-o", "json", "demo", "--keep"]);
    let rx = lines(&mut child);
    let mut events = Vec::new();
    let started = until(&rx, "demo_started", &mut events);
    let summary = until(&rx, "summary", &mut events);
    let keep = until(&rx, "demo_keep", &mut events);
    let dir = PathBuf::from(keep["dir"].as_str().expect("dir"));
    assert_eq!(started["dir"], keep["dir"]);

    // --keep: the system still runs; the printed commands explore it.
    let exports: Vec<(String, String)> = keep["exports"]
        .as_array()
        .expect("exports")
        .iter()
        .map(|e| {
            let line = e.as_str().expect("an export line");
            let (k, v) = line
                .strip_prefix("export ")
                .and_then(|kv| kv.split_once('='))
                .unwrap_or_else(|| panic!("{line}"));
            (k.to_string(), v.to_string())
        })
        .collect();
    let plan = dir.join("demo.yaml");
    assert!(keep["commands"][0]
        .as_str()
        .is_some_and(|c| c.ends_with(&format!("-f {} status", plan.display()))));
    let status = Command::new(env!("CARGO_BIN_EXE_migrate"))
        .envs(exports.iter().cloned())
        .env("NO_COLOR", "1")
        .args(["-o", "json", "-f"])
        .arg(&plan)
        .arg("status")
        .output()
        .expect("migrate status");
    assert_eq!(
        status.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let status: Value = String::from_utf8_lossy(&status.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "status")
        .expect("a status object");
    assert_eq!(status["status"], "completed", "{status:#}");
    assert!(
        status["targets"].as_array().is_some_and(|t| t.iter().any(
            |t| is_candidate_flag(&t["target"])
                && t["live"]["enabled"] == true
                // 100% is written as on for everyone: no split left.
                && (t["live"]["percent"].is_null() || t["live"]["percent"] == 100.0)
        )),
        "payments-v2 serves everyone, live: {status:#}"
    );

    // Ctrl-C ends --keep: exit 0 (the demo had finished), nothing left.
    interrupt(&child);
    let (code, stderr) = finish(child);
    while let Ok(v) = rx.recv_timeout(Duration::from_secs(5)) {
        events.push(v);
    }
    assert_eq!(code, 0, "{stderr}");
    assert!(!dir.exists(), "{} removed", dir.display());

    // Every line is an event of the stream.
    for e in &events {
        assert_eq!(e["schema"], "migrate.events/v1", "{e}");
    }

    // The breaker tripped in the soak of the 25% step, and only there.
    let (c25, change25) = events
        .iter()
        .enumerate()
        .find(|(_, e)| {
            e["type"] == "change" && is_candidate_flag(&e["target"]) && e["to"]["percent"] == 25.0
        })
        .expect("the candidate flag set to 25%");
    let soak25 = events
        .iter()
        .skip(c25)
        .find(|e| e["type"] == "soak_started")
        .expect("the 25% soak")["step"]
        .clone();
    let breaches = of_type(&events, "breach");
    assert_eq!(breaches.len(), 1, "one breach: {breaches:#?}");
    let (b, breach) = breaches[0];
    assert!(b > c25, "the breach follows the 25% change");
    assert_eq!(breach["step"], soak25, "{breach}");
    assert_eq!(breach["gate"], "candidate-errors", "{breach}");
    assert!(change25["step"].is_string());

    // The rollback: everything back to its baseline; the candidate off.
    let rollbacks = of_type(&events, "rollback_started");
    assert_eq!(rollbacks.len(), 1);
    assert!(rollbacks[0].0 > b);
    let finished = of_type(&events, "rollback_finished");
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0].1["remaining"], Value::Array(vec![]));
    let restored: Vec<&Value> = of_type(&events, "restored")
        .into_iter()
        .filter(|(i, e)| *i > b && is_candidate_flag(&e["target"]))
        .map(|(_, e)| e)
        .collect();
    assert_eq!(restored.len(), 1, "{restored:#?}");
    assert_eq!(restored[0]["to"]["enabled"], false);
    let back = &of_type(&events, "demo_back_on_legacy")[0].1;
    assert_eq!(back["candidate_percent"], 0.0, "{back}");
    assert!(back["legacy_per_second"].as_f64().unwrap_or(0.0) > 0.0);

    // The fix, retry, and a completed migration, payments-v2 at 100%.
    let fix = of_type(&events, "demo_fix_deployed")[0].0;
    let retried = of_type(&events, "retried");
    assert_eq!(retried.len(), 1);
    assert!(retried[0].0 > fix);
    assert_eq!(retried[0].1["phase"], "canary");
    let completed = of_type(&events, "completed");
    assert_eq!(completed.len(), 1);
    assert!(completed[0].0 > retried[0].0);
    assert!(
        events.iter().any(|e| e["type"] == "demo_traffic"
            && e["candidate_percent"] == 100.0
            && e["candidate_per_second"].as_f64().unwrap_or(0.0) > 0.0),
        "payments-v2 served everyone at the end"
    );

    // The summary.
    assert_eq!(summary["command"], "demo");
    assert_eq!(summary["outcome"], "completed");
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["rollback"], true);
    assert_eq!(summary["retry"], true);
    assert_eq!(summary["completed"], true);
    assert_eq!(summary["parity"], 1.0);
    assert_eq!(summary["breach"]["candidate_percent"], 25.0);
    assert!(
        summary["rows_reconciled"].as_u64().unwrap_or(0)
            >= summary["historic_rows"].as_u64().unwrap_or(u64::MAX),
        "the backfill copied at least the history: {summary:#}"
    );
    assert!(summary["requests"].as_u64().unwrap_or(0) > 1000);
    assert_eq!(summary["shadow_mismatches"], 0);

    // Errors users saw, bounded by what the breaker allowed: only while
    // payments-v2 served 25% before the fix (the breach needs some), never
    // more than the requests it served there, and none after the fix.
    let errors = summary["user_errors"].as_u64().expect("user_errors");
    assert!(errors >= 1, "{summary:#}");
    assert_eq!(summary["user_errors_after_fix"], 0, "{summary:#}");
    let at: BTreeSet<&str> = summary["user_errors_by_candidate_percent"]
        .as_object()
        .expect("by percent")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(at, BTreeSet::from(["25"]), "{summary:#}");
    let served_at_25 = summary["candidate_requests_before_fix_by_percent"]["25"]
        .as_u64()
        .expect("requests at 25%");
    assert!(errors <= served_at_25, "{errors} > {served_at_25}");
    assert!(summary["seconds"].as_f64().is_some());
}

#[test]
fn ctrl_c_stops_the_demo_and_removes_everything() {
    let mut child = spawn(&["-o", "json", "demo"]);
    let rx = lines(&mut child);
    let mut events = Vec::new();
    let started = until(&rx, "demo_started", &mut events);
    let dir = PathBuf::from(started["dir"].as_str().expect("dir"));
    assert!(dir.join("legacy.db").exists());
    // In the middle of the migration: a soak.
    until(&rx, "soak_started", &mut events);
    interrupt(&child);
    let (code, stderr) = finish(child);
    assert_eq!(code, 130, "{stderr}");
    while let Ok(v) = rx.recv_timeout(Duration::from_secs(5)) {
        events.push(v);
    }
    assert!(
        events.iter().any(|e| e["type"] == "demo_interrupted"),
        "{events:#?}"
    );
    assert!(!dir.exists(), "{} removed", dir.display());
    assert!(
        !events.iter().any(|e| e["type"] == "completed"),
        "stopped before the end"
    );
}

#[test]
fn the_shipped_plan_validates_with_the_demos_variables() {
    let out = crate::support::migrate()
        .args(["-f", "plans/demo.yaml", "validate"])
        .env("DEMO_DIR", "/tmp/migrate-demo-x")
        .env("DEMO_METRICS", "http://127.0.0.1:9/metrics")
        .output()
        .expect("run migrate");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty(), "no warnings");
    // Without them, both are named.
    let out = crate::support::migrate()
        .args(["-f", "plans/demo.yaml", "validate"])
        .env_remove("DEMO_DIR")
        .env_remove("DEMO_METRICS")
        .output()
        .expect("run migrate");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DEMO_DIR") && err.contains("DEMO_METRICS"),
        "{err}"
    );
}
