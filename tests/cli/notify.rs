//! Telling people (`settings.notify`) against a real Alertmanager
//! (Debian's 0.25) whose webhook receiver is a recording server of the
//! test: a breach during `advance --wait` and under `supervise` reaches it
//! with the labels of the contract, and resolves when the condition
//! clears; a rollback that cannot finish fires a critical alert until a
//! later `migrate rollback` completes it; a mismatch `reconcile --follow`
//! finds fires and resolves when repaired; an Alertmanager that is down changes neither the exit code
//! nor the restore. And a webhook: signed bodies of the events, in JSON
//! and in Slack's format, with no secret in them.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};
use testbed::alertmanager::Alertmanager;
use testbed::http::{Response, Server};

use crate::supervise::{migrate, run, wait, Canary, Supervisor};

/// A webhook receiver that records what it is sent.
fn receiver() -> Server {
    Server::start(|_| Response::ok("")).unwrap()
}

/// Add a provider line to the plan in `dir`.
fn add_provider(dir: &Path, line: &str) {
    let path = dir.join("plan.yaml");
    let plan = std::fs::read_to_string(&path).unwrap();
    let plan = plan.replacen("providers:\n", &format!("providers:\n  {line}\n"), 1);
    std::fs::write(path, plan).unwrap();
}

/// Every alert Alertmanager sent the receiver, with the notification's
/// status folded in (`"status": "firing" | "resolved"`).
fn notified(hook: &Server) -> Vec<Value> {
    hook.requests()
        .iter()
        .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
        .flat_map(|n| n["alerts"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn find(hook: &Server, name: &str, status: &str) -> Option<Value> {
    notified(hook)
        .into_iter()
        .find(|a| a["labels"]["alertname"] == name && a["status"] == status)
}

/// Wait for alert `name` to reach the receiver in `status`.
fn wait_alert(hook: &Server, name: &str, status: &str) -> Value {
    wait(&format!("{name} {status} through Alertmanager"), || {
        find(hook, name, status).is_some()
    });
    find(hook, name, status).unwrap()
}

/// `migrate advance --wait` in the background; the metric turned bad once
/// the soak runs; its exit code and output.
fn advance_wait_through_a_breach(canary: &Canary, env: &[(&str, &str)]) -> (i32, String) {
    let dir = canary.path();
    let child = migrate(dir, env, &["advance", "--wait"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait("the canary at 25%", || canary.weight_share() == 25.0);
    canary.metric.set(0.5);
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn check_breaker_alert(a: &Value) {
    let labels = &a["labels"];
    assert_eq!(labels["migration"], "payments-canary", "{a:#}");
    assert_eq!(labels["severity"], "warning", "{a:#}");
    assert_eq!(labels["gate"], "errors", "{a:#}");
    assert!(
        labels["step"].as_str().is_some_and(|s| !s.is_empty()),
        "{a:#}"
    );
    let ann = &a["annotations"];
    assert!(
        ann["summary"]
            .as_str()
            .is_some_and(|s| s.contains("breaker tripped")),
        "{a:#}"
    );
    assert!(
        ann["description"]
            .as_str()
            .is_some_and(|s| s.contains("gate errors breached: 0.5")),
        "{a:#}"
    );
    assert!(
        ann["next"]
            .as_str()
            .is_some_and(|s| s.contains("migrate retry")),
        "{a:#}"
    );
    // The breaching gate's reading, as the state keeps it.
    let evidence: Value = serde_json::from_str(ann["evidence"].as_str().unwrap_or("null")).unwrap();
    assert_eq!(evidence["value"], 0.5, "{a:#}");
    assert_eq!(evidence["ok"], false, "{a:#}");
}

#[test]
fn a_breach_during_advance_wait_fires_through_alertmanager_and_retry_resolves_it() {
    let hook = receiver();
    let am = Alertmanager::start(&hook.url("/hook")).unwrap();
    let canary = Canary::start(", notify: [am]");
    let dir = canary.path();
    add_provider(
        dir,
        &format!("am: {{ type: alertmanager, url: '{}' }}", am.url()),
    );

    let (code, text) = advance_wait_through_a_breach(&canary, &[]);
    assert_eq!(code, 3, "rolled back by the breaker: {text}");
    assert_eq!(canary.haproxy.weight("new").unwrap(), 0, "restored");
    let firing = wait_alert(&hook, "MigrateBreakerTripped", "firing");
    check_breaker_alert(&firing);
    // The rollback completed: nothing says it is incomplete.
    assert!(find(&hook, "MigrateRollbackIncomplete", "firing").is_none());

    // The cause fixed, `retry` takes the migration out of the breaker's
    // hold: the alert resolves.
    canary.metric.set(0.0);
    let (code, text) = run(dir, &[], &["retry"]);
    assert_eq!(code, 0, "{text}");
    let resolved = wait_alert(&hook, "MigrateBreakerTripped", "resolved");
    assert_eq!(resolved["labels"], firing["labels"], "the same alert");
}

#[test]
fn a_breach_under_supervise_fires_and_resolves_through_alertmanager() {
    let hook = receiver();
    let am = Alertmanager::start(&hook.url("/hook")).unwrap();
    let canary = Canary::start(", notify: [am]");
    let dir = canary.path();
    add_provider(
        dir,
        &format!("am: {{ type: alertmanager, url: '{}' }}", am.url()),
    );
    let (code, text) = run(dir, &[], &["advance"]);
    assert_eq!(code, 4, "waiting in the soak: {text}");

    let sup = Supervisor::start(dir, "sup", &[], &[]);
    sup.wait_health("ok active");
    canary.metric.set(0.5);
    wait("HAProxy back on legacy", || {
        canary.haproxy.weight("new").unwrap() == 0
    });
    let firing = wait_alert(&hook, "MigrateBreakerTripped", "firing");
    check_breaker_alert(&firing);
    // Alertmanager holds it as active (the supervisor keeps it so).
    assert!(am.alerts().unwrap().contains("MigrateBreakerTripped"));

    canary.metric.set(0.0);
    let (code, text) = run(dir, &[], &["retry"]);
    assert_eq!(code, 0, "{text}");
    let resolved = wait_alert(&hook, "MigrateBreakerTripped", "resolved");
    assert_eq!(resolved["labels"], firing["labels"]);
    let (code, log) = sup.terminate();
    assert_eq!(code, 0, "{log}");
}

#[test]
fn an_alertmanager_that_is_down_changes_neither_the_exit_code_nor_the_restore() {
    // Nothing listens there.
    let port = testbed::free_port().unwrap();
    let canary = Canary::start(", notify: [am]");
    let dir = canary.path();
    add_provider(
        dir,
        &format!("am: {{ type: alertmanager, url: 'http://127.0.0.1:{port}' }}"),
    );
    let (code, text) = advance_wait_through_a_breach(&canary, &[]);
    assert_eq!(code, 3, "rolled back, as without notifications: {text}");
    assert_eq!(canary.haproxy.weight("new").unwrap(), 0, "restored");
    assert_eq!(canary.observed_share(50), 0.0, "every request on legacy");
    // Said, and the migration went on.
    assert!(
        text.contains("notify: alertmanager provider 'am'"),
        "{text}"
    );
    assert!(text.contains("cannot connect"), "{text}");
    assert!(text.contains("Rolled back"), "{text}");
}

/// HMAC-SHA256 (RFC 2104), written here from the definition.
fn hmac(key: &[u8], message: &[u8]) -> String {
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let mut inner = Sha256::new();
    inner.update(k.iter().map(|b| b ^ 0x36).collect::<Vec<u8>>());
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(k.iter().map(|b| b ^ 0x5c).collect::<Vec<u8>>());
    outer.update(inner.finalize());
    outer
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const SECRET: &str = "hmac-k3y-never-in-a-body";
const TOKEN: &str = "tok-77aa-never-in-a-body";

#[test]
fn webhooks_get_signed_events_without_secrets() {
    let hook = receiver();
    let slack = receiver();
    let canary = Canary::start(", notify: [chat, slack]");
    let dir = canary.path();
    add_provider(
        dir,
        r#"chat: { type: webhook, url: "${HOOK_URL}", secret: "${HOOK_SECRET}" }"#,
    );
    add_provider(
        dir,
        r#"slack: { type: webhook, url: "${SLACK_URL}", format: slack }"#,
    );
    let hook_url = hook.url(&format!("/hook?token={TOKEN}"));
    let slack_url = slack.url(&format!("/services/{TOKEN}"));
    let env = [
        ("HOOK_URL", hook_url.as_str()),
        ("HOOK_SECRET", SECRET),
        ("SLACK_URL", slack_url.as_str()),
    ];
    let (code, text) = advance_wait_through_a_breach(&canary, &env);
    assert_eq!(code, 3, "{text}");
    assert!(!text.contains(SECRET) && !text.contains(TOKEN), "{text}");

    let events = |server: &Server| -> Vec<String> {
        server
            .requests()
            .iter()
            .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
            .filter_map(|b| b["event"].as_str().map(str::to_string))
            .collect()
    };
    wait("the rollback's end posted", || {
        events(&hook).iter().any(|e| e == "rollback_finished")
    });
    let seen = events(&hook);
    for want in [
        "step_done",
        "breach",
        "rollback_started",
        "rollback_finished",
    ] {
        assert!(seen.iter().any(|e| e == want), "{want} in {seen:?}");
    }
    for r in hook.requests() {
        assert_eq!(r.method, "POST");
        assert!(r.target.ends_with(TOKEN), "{}", r.target);
        let ts = r.header("X-Migrate-Timestamp").unwrap();
        let sig = r.header("X-Migrate-Signature").unwrap();
        let want = format!(
            "sha256={}",
            hmac(SECRET.as_bytes(), format!("{ts}.{}", r.body).as_bytes())
        );
        assert_eq!(sig, want, "the signature of {}", r.body);
        let wrong = format!(
            "sha256={}",
            hmac(b"another key", format!("{ts}.{}", r.body).as_bytes())
        );
        assert_ne!(sig, wrong);
        assert!(
            !r.body.contains(SECRET) && !r.body.contains(TOKEN),
            "{}",
            r.body
        );
        for (_, v) in &r.headers {
            assert!(!v.contains(SECRET), "{v}");
        }
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["schema"], "migrate.notify/v1", "{body:#}");
        assert_eq!(body["migration"], "payments-canary", "{body:#}");
        assert!(body["id"].as_str().is_some_and(|s| !s.is_empty()));
        if body["event"] == "breach" {
            assert_eq!(body["severity"], "critical", "{body:#}");
            assert_eq!(body["fields"]["gate"], "errors", "{body:#}");
            assert_eq!(body["fields"]["evidence"]["value"], 0.5, "{body:#}");
            assert_eq!(body["next"], "migrate status", "{body:#}");
        }
    }
    // Slack's format: one text, no signature without a secret.
    wait("slack posts", || slack.requests().len() >= 4);
    for r in slack.requests() {
        let body: Value = serde_json::from_str(&r.body).unwrap();
        let obj = body.as_object().unwrap();
        assert_eq!(obj.keys().collect::<Vec<_>>(), ["text"], "{body}");
        assert!(r.header("X-Migrate-Signature").is_none());
        assert!(
            !r.body.contains(TOKEN) && !r.body.contains(SECRET),
            "{}",
            r.body
        );
    }
    assert!(
        slack
            .requests()
            .iter()
            .any(|r| r.body.contains("*payments-canary*: the breaker tripped")),
        "{:?}",
        slack.requests()
    );
}

#[test]
fn dry_run_says_what_would_be_sent() {
    let hook = receiver();
    let canary = Canary::start(", notify: [am, chat]");
    let dir = canary.path();
    add_provider(dir, "am: { type: alertmanager, url: 'http://127.0.0.1:9' }");
    add_provider(
        dir,
        r#"chat: { type: webhook, url: "${HOOK_URL}", format: slack, secret: "${HOOK_SECRET}" }"#,
    );
    let hook_url = hook.url(&format!("/hook?token={TOKEN}"));
    let env = [("HOOK_URL", hook_url.as_str()), ("HOOK_SECRET", SECRET)];
    let (code, text) = run(dir, &env, &["advance", "--dry-run"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("Notifications (not sent on a dry run)"),
        "{text}"
    );
    assert!(
        text.contains("am: POST http://127.0.0.1:9/api/v2/alerts: nothing fires now"),
        "{text}"
    );
    assert!(
        text.contains("chat: POST ${HOOK_URL} on each event"),
        "{text}"
    );
    assert!(text.contains("signed"), "{text}");
    assert!(!text.contains(SECRET) && !text.contains(TOKEN), "{text}");
    assert!(hook.requests().is_empty(), "nothing is sent");
}

fn sqlite(file: &Path, sql: &str) {
    let out = std::process::Command::new("sqlite3")
        .arg(file)
        .arg(sql)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_mismatch_follow_finds_fires_and_resolves_when_repaired() {
    let hook = receiver();
    let am = Alertmanager::start(&hook.url("/hook")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("old.db"), dir.path().join("new.db"));
    for f in [&a, &b] {
        sqlite(
            f,
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL); \
             INSERT INTO accounts VALUES (1, 'a'), (2, 'b'), (3, 'c');",
        );
    }
    let plan = format!(
        "version: 1
name: accounts
settings: {{ notify: [am] }}
providers:
  am: {{ type: alertmanager, url: '{}' }}
  old: {{ type: sqlite, path: {} }}
  new: {{ type: sqlite, path: {} }}
reconciliations:
  accounts:
    source: {{ provider: old, table: accounts }}
    target: {{ provider: new, table: accounts }}
    key: [id]
    continuous: {{ every: 200ms }}
phases:
  - name: check
    steps:
      - approve: go?
",
        am.url(),
        a.display(),
        b.display()
    );
    std::fs::write(dir.path().join("plan.yaml"), plan).unwrap();
    let mut child = migrate(dir.path(), &[], &["reconcile", "accounts", "--follow"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Row 2 differs: the first complete pass finds it.
    sqlite(&b, "UPDATE accounts SET owner = 'x' WHERE id = 2;");
    let firing = wait_alert(&hook, "MigrateParityMismatch", "firing");
    assert_eq!(firing["labels"]["reconciliation"], "accounts", "{firing:#}");
    assert_eq!(firing["labels"]["migration"], "accounts", "{firing:#}");
    assert!(
        firing["annotations"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("1 different")),
        "{firing:#}"
    );
    // Repaired: parity 1 resolves it.
    sqlite(&b, "UPDATE accounts SET owner = 'b' WHERE id = 2;");
    let resolved = wait_alert(&hook, "MigrateParityMismatch", "resolved");
    assert_eq!(resolved["labels"], firing["labels"]);
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "follow did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // A one-off run finds a new difference: it fires again; the repair
    // resolves it.
    let count = |status: &str| {
        notified(&hook)
            .iter()
            .filter(|a| {
                a["labels"]["alertname"] == "MigrateParityMismatch" && a["status"] == status
            })
            .count()
    };
    let (fired, cleared) = (count("firing"), count("resolved"));
    sqlite(&b, "UPDATE accounts SET owner = 'y' WHERE id = 3;");
    let (code, text) = run(dir.path(), &[], &["reconcile", "accounts"]);
    assert_eq!(code, 7, "{text}");
    wait("the mismatch firing again", || count("firing") > fired);
    let (code, text) = run(dir.path(), &[], &["reconcile", "accounts", "--repair"]);
    assert_eq!(code, 0, "{text}");
    wait("the mismatch resolved again", || {
        count("resolved") > cleared
    });
}

/// A rollback that cannot restore its target (the `exec` router refuses
/// while a file exists) leaves `MigrateRollbackIncomplete` firing, critical;
/// a later `migrate rollback`, in a fresh process, completes it and
/// resolves it.
#[test]
fn an_incomplete_rollback_fires_until_a_rollback_completes() {
    let hook = receiver();
    let am = Alertmanager::start(&hook.url("/hook")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    std::fs::write(dir.path().join("split"), "0\n").unwrap();
    std::fs::write(dir.path().join("metric"), "0\n").unwrap();
    let plan = "version: 1
name: payments-exec
settings: { interval: 200ms, timeout: 2s, retries: 0, rollback_timeout: 1s, notify: [am] }
providers:
  am: { type: alertmanager, url: 'AM' }
  split: { type: exec, set: [sh, -c, 'test ! -e DIR/block && echo {{percent}} > DIR/split'], get: [cat, 'DIR/split'] }
  app: { type: exec, get: [cat, 'DIR/metric'] }
gates:
  errors: { provider: app, query: errors, max: 0.05 }
phases:
  - name: canary
    steps:
      - traffic: { provider: split, percent: 25 }
      - soak: 1h
        gates: [errors]
"
    .replace("AM", &am.url())
    .replace("DIR", &d);
    std::fs::write(dir.path().join("plan.yaml"), plan).unwrap();
    let split = || std::fs::read_to_string(dir.path().join("split")).unwrap_or_default();
    let child = migrate(dir.path(), &[], &["advance", "--wait"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait("the split at 25%", || split().trim() == "25");
    std::fs::write(dir.path().join("block"), "").unwrap();
    std::fs::write(dir.path().join("metric"), "0.5\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(6), "rollback incomplete: {text}");
    assert_eq!(split().trim(), "25", "the target could not be restored");

    let firing = wait_alert(&hook, "MigrateRollbackIncomplete", "firing");
    assert_eq!(firing["labels"]["severity"], "critical", "{firing:#}");
    assert_eq!(firing["labels"]["migration"], "payments-exec", "{firing:#}");
    assert!(
        firing["annotations"]["next"]
            .as_str()
            .is_some_and(|n| n.contains("migrate rollback")),
        "{firing:#}"
    );
    assert!(find(&hook, "MigrateRollbackIncomplete", "resolved").is_none());

    // Access restored; a rollback from another process completes it.
    std::fs::remove_file(dir.path().join("block")).unwrap();
    let (code, text) = run(dir.path(), &[], &["rollback"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(split().trim(), "0");
    let resolved = wait_alert(&hook, "MigrateRollbackIncomplete", "resolved");
    assert_eq!(resolved["labels"], firing["labels"]);
}
