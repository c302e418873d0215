//! Reconciliation under live conditions: a connection killed in the middle
//! of a run, and rows dual-written while the run compares them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;
use testbed::mariadb::Mariadb;
use testbed::postgres::Postgres;

const ROWS: u64 = 200_000;

fn setup(rows: u64) -> (Mariadb, Postgres) {
    let maria = Mariadb::start().unwrap();
    let pg = Postgres::start().unwrap();
    maria.create_database("legacy").unwrap();
    maria
        .sql(
            "legacy",
            &format!(
                "CREATE TABLE accounts (id BIGINT PRIMARY KEY, owner VARCHAR(40) NOT NULL, balance BIGINT NOT NULL, \
                 updated_at DATETIME(6) NOT NULL);
                 INSERT INTO accounts SELECT seq, CONCAT('owner ', seq), seq * 3, \
                 TIMESTAMP'2024-01-01 00:00:00.000001' + INTERVAL seq SECOND FROM seq_1_to_{rows};"
            ),
        )
        .unwrap();
    pg.create_database("accounts").unwrap();
    pg.psql(
        "accounts",
        &format!(
            "CREATE TABLE accounts (id bigint PRIMARY KEY, owner text NOT NULL, balance bigint NOT NULL, \
             updated_at timestamp(6) NOT NULL);
             INSERT INTO accounts SELECT s, 'owner ' || s, s * 3, \
             timestamp '2024-01-01 00:00:00.000001' + s * interval '1 second' FROM generate_series(1, {rows}) s;"
        ),
    )
    .unwrap();
    (maria, pg)
}

fn plan(dir: &Path, maria: &Mariadb, pg: &Postgres, settle: &str) -> PathBuf {
    let path = dir.join("plan.yaml");
    std::fs::write(
        &path,
        format!(
            r#"version: 1
name: accounts
providers:
  old: {{ type: mysql, url: "{}" }}
  new: {{ type: postgres, url: "{}" }}
reconciliations:
  accounts:
    source: {{ provider: old, table: accounts }}
    target: {{ provider: new, table: accounts }}
    key: [id]
    settle: {settle}
phases:
  - name: check
    steps:
      - approve: go?
"#,
            maria.url("legacy"),
            pg.url("accounts")
        ),
    )
    .unwrap();
    path
}

fn migrate() -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("migrate"));
    c.env_remove("MIGRATE_PLAN");
    c
}

fn summary(out: &std::process::Output) -> Json {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "no JSON summary ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn a_connection_killed_mid_run_resumes_after_the_last_row() {
    let (maria, pg) = setup(ROWS);
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(dir.path(), &maria, &pg, "100ms");
    let child = migrate()
        .arg("-f")
        .arg(&plan)
        .args(["-o", "json", "reconcile", "accounts"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Find the scan's connection from a second session and kill it.
    let mut killed = false;
    for _ in 0..3000 {
        let ids = maria
            .sql(
                "",
                "SELECT ID FROM information_schema.PROCESSLIST \
                 WHERE INFO LIKE 'SELECT%accounts%ORDER BY%' AND ID <> CONNECTION_ID()",
            )
            .unwrap();
        if let Some(id) = ids.split_whitespace().next() {
            maria.sql("", &format!("KILL {id}")).unwrap();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    assert!(killed, "the scan was never seen running");
    let s = summary(&out);
    assert_eq!(out.status.code(), Some(0), "{s}");
    assert!(s["retries"].as_u64().unwrap() >= 1, "no resumed read: {s}");
    assert_eq!(s["matched"].as_u64(), Some(ROWS), "{s}");
    assert_eq!(
        s["source_rows"].as_u64(),
        Some(ROWS),
        "rows read twice or skipped: {s}"
    );
}

/// Feeds SQL to a long-running client over its standard input.
struct Client(std::process::Child);

impl Client {
    fn mariadb(maria: &Mariadb) -> Self {
        Self(
            Command::new("mariadb")
                .args(["--no-defaults", "-h", "127.0.0.1", "-u", "root", "-P"])
                .arg(maria.port.to_string())
                .arg("legacy")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }

    fn psql(pg: &Postgres) -> Self {
        Self(
            Command::new("psql")
                .args([
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-p",
                ])
                .arg(pg.port.to_string())
                .arg("accounts")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }

    fn send(&mut self, sql: &str) {
        let stdin = self.0.stdin.as_mut().unwrap();
        stdin.write_all(sql.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    fn finish(mut self) {
        drop(self.0.stdin.take());
        let status = self.0.wait().unwrap();
        assert!(status.success());
    }
}

#[test]
fn rows_dual_written_during_the_run_raise_no_false_alarm() {
    let (maria, pg) = setup(50_000);
    let dir = tempfile::tempdir().unwrap();
    // The settle delay must exceed the dual write's worst lag; here that is
    // how far the target's client falls behind the source's, which on a
    // busy machine (a load of 10 on 2 cores) went past 500 ms.
    let plan = plan(dir.path(), &maria, &pg, "2s");
    let stop = Arc::new(AtomicBool::new(false));
    let mut source = Client::mariadb(&maria);
    let mut target = Client::psql(&pg);
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut i: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let ids: Vec<String> = (0..20u64)
                    .map(|j| ((i * 7919 + j * 104_729) % 50_000 + 1).to_string())
                    .collect();
                let ids = ids.join(",");
                let ts = format!("2025-01-01 00:00:00.{:06}", i % 1_000_000);
                let update = format!(
                    "UPDATE accounts SET balance = {i}, owner = 'writer {i}', updated_at = '{ts}' WHERE id IN ({ids});"
                );
                let insert = format!(
                    "INSERT INTO accounts VALUES ({}, 'new {i}', {i}, '{ts}');",
                    100_000 + i
                );
                // The application's dual write: legacy first, then the copy.
                source.send(&update);
                source.send(&insert);
                target.send(&update);
                target.send(&insert);
                std::thread::sleep(Duration::from_millis(3));
            }
            source.finish();
            target.finish();
        })
    };
    // At least three runs, and more (up to twelve) until one has caught a
    // row mid-write: a fast run on a busy machine may see none.
    let mut settled = 0;
    for run in 0..12 {
        if run >= 3 && settled > 0 {
            break;
        }
        let out = migrate()
            .arg("-f")
            .arg(&plan)
            .args(["-o", "json", "reconcile", "accounts"])
            .output()
            .unwrap();
        let s = summary(&out);
        assert_eq!(out.status.code(), Some(0), "false alarm: {s}");
        assert_eq!(s["parity"], 1.0, "{s}");
        settled += s["settled"].as_u64().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(
        settled > 0,
        "no row was ever caught mid-write: the test proves nothing"
    );
    let out = migrate()
        .arg("-f")
        .arg(&plan)
        .args(["-o", "json", "reconcile", "accounts"])
        .output()
        .unwrap();
    let s = summary(&out);
    assert_eq!(
        (out.status.code(), s["settled"].as_u64()),
        (Some(0), Some(0)),
        "{s}"
    );
}
