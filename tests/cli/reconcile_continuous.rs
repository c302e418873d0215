//! Continuous reconciliation against real databases: the watermark pass
//! catches changed rows within a pass, the rolling sweep catches what the
//! watermark cannot (deletions, rows changed without moving it) within a
//! full sweep, a reading before the first full sweep says so, a restarted
//! database fails one pass only, and `reconcile --follow` records readings
//! that parity gates read — those of a soak of a running `advance --wait`
//! too — and `max_age` turns stale ones into no data.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use migrate::reconcile::continuous::{Continuous, Reading};
use serde_json::Value as Json;
use testbed::mariadb::Mariadb;
use testbed::postgres::Postgres;

const ROWS: u64 = 1000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn plan(text: &str) -> migrate::plan::Plan {
    migrate::plan::validate(text, &HashMap::new(), migrate::providers::catalog())
        .unwrap_or_else(|d| panic!("invalid plan: {d:?}"))
        .plan
}

/// A plan with one reconciliation `accounts` between `source` and
/// `target` (provider lines), with these continuous settings.
fn plan_text(source: &str, target: &str, continuous: &str, extra: &str) -> String {
    format!(
        r#"version: 1
name: accounts
providers:
  old: {source}
  new: {target}
reconciliations:
  accounts:
    source: {{ provider: old, table: accounts }}
    target: {{ provider: new, table: accounts }}
    key: [id]
    settle: 100ms
    continuous: {continuous}
{extra}phases:
  - name: check
    steps:
      - approve: go?
"#
    )
}

/// The MariaDB tests of this module take turns: a handful of servers
/// initialised at once on a loaded machine sometimes fail to start.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn mariadb_pg() -> (Mariadb, Postgres, std::sync::MutexGuard<'static, ()>) {
    let turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let maria = Mariadb::start().unwrap();
    let pg = Postgres::start().unwrap();
    maria.create_database("legacy").unwrap();
    maria
        .sql(
            "legacy",
            &format!(
                "CREATE TABLE accounts (id BIGINT PRIMARY KEY, owner VARCHAR(40) NOT NULL, balance BIGINT NOT NULL, \
                 updated_at DATETIME(6) NOT NULL, KEY (updated_at));
                 INSERT INTO accounts SELECT seq, CONCAT('owner ', seq), seq * 3, \
                 TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq SECOND FROM seq_1_to_{ROWS};"
            ),
        )
        .unwrap();
    pg.create_database("accounts").unwrap();
    pg.psql(
        "accounts",
        &format!(
            "CREATE TABLE accounts (id bigint PRIMARY KEY, owner text NOT NULL, balance bigint NOT NULL, \
             updated_at timestamptz(6) NOT NULL);
             CREATE INDEX ON accounts (updated_at);
             INSERT INTO accounts SELECT s, 'owner ' || s, s * 3, \
             timestamp '2024-01-01 00:00:00' + s * interval '1 second' FROM generate_series(1, {ROWS}) s;"
        ),
    )
    .unwrap();
    (maria, pg, turn)
}

fn maria_pg_plan(maria: &Mariadb, pg: &Postgres, continuous: &str, extra: &str) -> String {
    plan_text(
        &format!("{{ type: mysql, url: \"{}\" }}", maria.url("legacy")),
        &format!("{{ type: postgres, url: \"{}\" }}", pg.url("accounts")),
        continuous,
        extra,
    )
}

fn s(r: &Reading, key: &str) -> u64 {
    r.summary[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {}", r.summary))
}

#[test]
fn rows_written_with_a_moved_watermark_are_caught_within_one_pass() {
    let (maria, pg, _turn) = mariadb_pg();
    // Ten slices: the sweep alone would take ten passes to reach row 950.
    let plan = plan(&maria_pg_plan(
        &maria,
        &pg,
        "{ watermark: updated_at, every: 1s, sweep_rows: 100 }",
        "",
    ));
    let rt = runtime();
    rt.block_on(async {
        let mut c = Continuous::new(&plan, "accounts").await.unwrap();
        assert_eq!(c.every(), Duration::from_secs(1));
        let r = c.tick().await.unwrap();
        assert_eq!((r.differing, r.complete), (0, false), "{}", r.summary);
        // The source changes row 950 and gains row 2000; the copy misses both.
        maria
            .sql(
                "legacy",
                "UPDATE accounts SET balance = 1, updated_at = NOW(6) WHERE id = 950; \
                 INSERT INTO accounts VALUES (2000, 'new', 5, NOW(6));",
            )
            .unwrap();
        let r = c.tick().await.unwrap();
        assert_eq!(r.differing, 2, "{}", r.summary);
        assert_eq!((s(&r, "different"), s(&r, "missing")), (1, 1));
        assert!(
            r.summary["pass"]["watermark_rows"].as_u64().unwrap() >= 2,
            "{}",
            r.summary
        );
        // The copy catches up (moving its watermark too): gone next pass.
        pg.psql(
            "accounts",
            "UPDATE accounts SET balance = 1, updated_at = now() WHERE id = 950; \
             INSERT INTO accounts VALUES (2000, 'new', 5, now());",
        )
        .unwrap();
        // (The source's row and the copy's differ in updated_at now: make
        // them the same instant, as a dual write would.)
        let at = maria
            .sql(
                "legacy",
                "SELECT DATE_FORMAT(updated_at, '%Y-%m-%d %H:%i:%s.%f') FROM accounts WHERE id = 950",
            )
            .unwrap();
        let at2 = maria
            .sql(
                "legacy",
                "SELECT DATE_FORMAT(updated_at, '%Y-%m-%d %H:%i:%s.%f') FROM accounts WHERE id = 2000",
            )
            .unwrap();
        pg.psql(
            "accounts",
            &format!(
                "UPDATE accounts SET updated_at = '{}+00' WHERE id = 950; \
                 UPDATE accounts SET updated_at = '{}+00' WHERE id = 2000;",
                at.trim(),
                at2.trim()
            ),
        )
        .unwrap();
        let r = c.tick().await.unwrap();
        assert_eq!(r.differing, 0, "{}", r.summary);
        assert!((r.parity - 1.0).abs() < f64::EPSILON);
    });
}

#[test]
fn the_sweep_catches_deletions_and_rows_changed_without_their_watermark() {
    let (maria, pg, _turn) = mariadb_pg();
    let plan = plan(&maria_pg_plan(
        &maria,
        &pg,
        "{ watermark: updated_at, every: 1s, sweep_rows: 100 }",
        "",
    ));
    // Behind the watermark's back: a changed balance, a deleted copy.
    pg.psql(
        "accounts",
        "UPDATE accounts SET balance = 0 WHERE id = 777; DELETE FROM accounts WHERE id = 555;",
    )
    .unwrap();
    let rt = runtime();
    rt.block_on(async {
        let mut c = Continuous::new(&plan, "accounts").await.unwrap();
        let mut seen = Vec::new();
        // A full sweep is ten slices of 100 source rows and the rest.
        for _ in 0..11 {
            let r = c.tick().await.unwrap();
            seen.push((r.differing, r.complete));
            if r.complete {
                break;
            }
        }
        // Not caught by the watermark: only when the sweep got there
        // (slices 6 and 8), and the reading says incomplete until the end.
        assert_eq!(seen[0], (0, false), "{seen:?}");
        assert_eq!(seen[4], (0, false), "{seen:?}");
        assert_eq!(seen[5], (1, false), "{seen:?}");
        assert_eq!(seen[7], (2, false), "{seen:?}");
        let last = *seen.last().unwrap();
        assert_eq!(last, (2, true), "{seen:?}");
        let r = c.tick().await.unwrap();
        assert_eq!((r.rows, r.differing), (ROWS, 2), "{}", r.summary);
        assert_eq!((s(&r, "missing"), s(&r, "different")), (1, 1));
        assert!((r.parity - (1.0 - 2.0 / ROWS as f64)).abs() < 1e-12);
        // A repair behind the watermark's back is seen by the next sweep.
        pg.psql(
            "accounts",
            "UPDATE accounts SET balance = 777 * 3 WHERE id = 777; \
             INSERT INTO accounts VALUES (555, 'owner 555', 1665, timestamp '2024-01-01 00:00:00' + 555 * interval '1 second');",
        )
        .unwrap();
        let mut r = r;
        for _ in 0..11 {
            r = c.tick().await.unwrap();
        }
        assert_eq!(r.differing, 0, "{}", r.summary);
        // A row deleted from the source: extra in the target, found by the
        // sweep too.
        maria
            .sql("legacy", "DELETE FROM accounts WHERE id = 10")
            .unwrap();
        for _ in 0..11 {
            r = c.tick().await.unwrap();
        }
        assert_eq!((r.differing, s(&r, "extra")), (1, 1), "{}", r.summary);
    });
}

#[test]
fn sqlite_with_an_integer_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("old.db"), dir.path().join("new.db"));
    for f in [&a, &b] {
        sqlite(
            f,
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, version INTEGER NOT NULL); \
             CREATE INDEX v ON accounts (version); \
             WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 1000) \
             INSERT INTO accounts SELECT n, 'owner ' || n, n FROM s;",
        );
    }
    let plan = plan(&plan_text(
        &format!("{{ type: sqlite, path: {} }}", a.display()),
        &format!("{{ type: sqlite, path: {} }}", b.display()),
        "{ watermark: version, overlap: 5, every: 1s, sweep_rows: 400 }",
        "",
    ));
    runtime().block_on(async {
        let mut c = Continuous::new(&plan, "accounts").await.unwrap();
        let r = c.tick().await.unwrap();
        assert_eq!((r.differing, r.complete), (0, false));
        // Moved watermark: caught in one pass (row 300 is in the slice
        // already swept; the next one is 401..800).
        sqlite(
            &a,
            "UPDATE accounts SET owner = 'x', version = 1001 WHERE id = 300;",
        );
        // Watermark not moved, row deleted: for the sweep's last slice.
        sqlite(
            &b,
            "UPDATE accounts SET owner = 'y' WHERE id = 850; DELETE FROM accounts WHERE id = 950;",
        );
        let r = c.tick().await.unwrap();
        assert_eq!((r.differing, r.complete), (1, false), "{}", r.summary);
        assert_eq!(s(&r, "different"), 1);
        let r = c.tick().await.unwrap();
        assert!(r.complete, "{}", r.summary);
        assert_eq!((r.rows, r.differing), (1000, 3), "{}", r.summary);
        assert_eq!((s(&r, "different"), s(&r, "missing")), (2, 1));
    });
}

fn sqlite(file: &Path, sql: &str) {
    let out = Command::new("sqlite3").arg(file).arg(sql).output().unwrap();
    assert!(
        out.status.success(),
        "sqlite3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_database_restart_fails_one_pass_and_the_next_goes_on() {
    let (maria, pg, _turn) = mariadb_pg();
    let plan = plan(&maria_pg_plan(
        &maria,
        &pg,
        "{ watermark: updated_at, every: 1s, sweep_rows: 400 }",
        "settings: { timeout: 2s }\n",
    ));
    runtime().block_on(async {
        let mut c = Continuous::new(&plan, "accounts").await.unwrap();
        c.tick().await.unwrap();
        pg.stop().unwrap();
        let err = c.tick().await.expect_err("the target is down");
        assert!(format!("{err:#}").contains("new"), "{err:#}");
        pg.start_again().unwrap();
        pg.psql(
            "accounts",
            "UPDATE accounts SET owner = 'z', updated_at = now() WHERE id = 3",
        )
        .unwrap();
        // The failed pass is done again: the sweep goes on where it was.
        let r = c.tick().await.unwrap();
        assert_eq!(r.differing, 1, "{}", r.summary);
        assert_eq!(r.summary["pass"]["slice_from"], serde_json::json!([400]));
        let r = c.tick().await.unwrap();
        assert!(r.complete, "{}", r.summary);
        assert_eq!((r.rows, r.differing), (ROWS, 1), "{}", r.summary);
    });
}

/// `migrate reconcile accounts --follow -o json`, its events read line by
/// line.
struct Follow {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<Json>,
}

impl Follow {
    fn start(plan: &Path) -> Self {
        let mut child = migrate()
            .arg("-f")
            .arg(plan)
            .args(["-o", "json", "reconcile", "accounts", "--follow"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(j) = serde_json::from_str::<Json>(&line) {
                    if tx.send(j).is_err() {
                        break;
                    }
                }
            }
        });
        Self { child, lines: rx }
    }

    /// The next event that satisfies `want`, within `within`.
    fn until(&self, within: Duration, want: impl Fn(&Json) -> bool) -> Json {
        let end = Instant::now() + within;
        let mut seen = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(j) if want(&j) => return j,
                Ok(j) => seen.push(j),
                Err(_) => break,
            }
        }
        panic!("no such event within {within:?}; saw {seen:#?}");
    }

    /// Ctrl-C; the exit code and the last event (the stop's).
    fn interrupt(mut self) -> (Option<i32>, Json) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        let last = self
            .lines
            .recv_timeout(Duration::from_secs(5))
            .into_iter()
            .chain(self.lines.try_iter())
            .last()
            .unwrap_or(Json::Null);
        (status.code(), last)
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn migrate() -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("migrate"));
    c.env_remove("MIGRATE_PLAN");
    c
}

fn write_plan(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("plan.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `migrate check GATE -o json`: the exit code and the gate's event.
fn check(plan: &Path, gate: &str) -> (Option<i32>, Json) {
    let out = migrate()
        .arg("-f")
        .arg(plan)
        .args(["-o", "json", "check", gate])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let event = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .find(|j| j["type"] == "gate")
        .unwrap_or_else(|| {
            panic!(
                "no gate event: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    (out.status.code(), event)
}

#[test]
fn follow_records_readings_that_parity_gates_read_until_they_are_too_old() {
    let (maria, pg, _turn) = mariadb_pg();
    let dir = tempfile::tempdir().unwrap();
    let gates = "gates:\n  parity: { reconcile: accounts, min: 1.0, max_age: 3s }\n";
    let plan = write_plan(
        dir.path(),
        &maria_pg_plan(
            &maria,
            &pg,
            "{ watermark: updated_at, every: 300ms, sweep_rows: 400 }",
            gates,
        ),
    );
    // The migration starts (and waits for its approval): there is a state
    // to record in.
    let out = migrate()
        .arg("-f")
        .arg(&plan)
        .arg("advance")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    pg.psql("accounts", "UPDATE accounts SET balance = 0 WHERE id = 999")
        .unwrap();
    let follow = Follow::start(&plan);
    // Incomplete passes first (never recorded), then the first complete
    // reading, recorded.
    let first = follow.until(Duration::from_secs(30), |j| j["type"] == "reconcile_pass");
    assert_eq!(first["complete"], false, "{first}");
    assert_eq!(first["recorded"], false, "{first}");
    let done = follow.until(Duration::from_secs(30), |j| {
        j["type"] == "reconcile_pass" && j["complete"] == true
    });
    assert_eq!(done["recorded"], true, "{done}");
    assert_eq!(done["differing"], 1, "{done}");
    // The gate reads the recorded parity (it does not run a reconciliation).
    let (code, gate) = check(&plan, "parity");
    assert_eq!(code, Some(7), "{gate}");
    assert_eq!(gate["value"], done["parity"], "{gate}");
    // The row is repaired: the next recorded reading says so.
    pg.psql(
        "accounts",
        "UPDATE accounts SET balance = 2997 WHERE id = 999",
    )
    .unwrap();
    let fixed = follow.until(Duration::from_secs(30), |j| {
        j["type"] == "reconcile_pass" && j["differing"] == 0 && j["recorded"] == true
    });
    assert_eq!(fixed["parity"], 1.0, "{fixed}");
    let (code, gate) = check(&plan, "parity");
    assert_eq!(code, Some(0), "{gate}");
    // Stopped, the record ages past max_age: no data, failed by no_data: fail.
    let (code, stopped) = follow.interrupt();
    assert_eq!(code, Some(130));
    assert_eq!(stopped["type"], "reconcile_follow_stopped", "{stopped}");
    let passes = stopped["passes"].as_u64().unwrap();
    // Checked until the record is older than max_age (3 s).
    let end = Instant::now() + Duration::from_secs(60);
    let (code, gate) = loop {
        let (code, gate) = check(&plan, "parity");
        if code != Some(0) || Instant::now() > end {
            break (code, gate);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(code, Some(7), "{gate}");
    assert_eq!(gate["value"], Json::Null, "{gate}");
    let note = gate["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("old") && note.contains("max_age 3s") && note.contains("no_data: fail"),
        "{note}"
    );
    // The journal holds the follow's readings, not one per pass.
    let history = migrate()
        .arg("-f")
        .arg(&plan)
        .args(["-o", "json", "history"])
        .output()
        .unwrap();
    let recorded = String::from_utf8_lossy(&history.stdout)
        .lines()
        .filter(|l| l.contains("reconciled"))
        .count();
    assert!(
        recorded >= 2 && (recorded as u64) < passes,
        "{recorded} readings recorded in {passes} passes"
    );
}

#[test]
fn follow_survives_a_database_restart() {
    let (maria, pg, _turn) = mariadb_pg();
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        &maria_pg_plan(
            &maria,
            &pg,
            "{ watermark: updated_at, every: 200ms, sweep_rows: 5000 }",
            "settings: { timeout: 1s }\n",
        ),
    );
    let follow = Follow::start(&plan);
    follow.until(Duration::from_secs(30), |j| {
        j["type"] == "reconcile_pass" && j["complete"] == true
    });
    pg.stop().unwrap();
    let failed = follow.until(Duration::from_secs(30), |j| {
        j["type"] == "reconcile_pass_failed"
    });
    assert!(failed["error"].as_str().is_some(), "{failed}");
    pg.start_again().unwrap();
    pg.psql(
        "accounts",
        "UPDATE accounts SET owner = 'q', updated_at = now() WHERE id = 12",
    )
    .unwrap();
    let after = follow.until(Duration::from_secs(30), |j| {
        j["type"] == "reconcile_pass" && j["differing"] == 1
    });
    assert_eq!(after["complete"], true, "{after}");
    assert_eq!(follow.interrupt().0, Some(130));
}

#[test]
fn a_waiting_advance_trips_on_a_difference_follow_finds() {
    let (maria, pg, _turn) = mariadb_pg();
    let dir = tempfile::tempdir().unwrap();
    let text = maria_pg_plan(
        &maria,
        &pg,
        "{ watermark: updated_at, every: 300ms, sweep_rows: 5000 }",
        "settings: { interval: 500ms }\ngates:\n  parity: { reconcile: accounts, min: 1.0, max_age: 1m }\n",
    )
    .replace(
        "      - approve: go?\n",
        "      - soak: 60s\n        gates: [parity]\n",
    );
    let plan = write_plan(dir.path(), &text);
    let mut advance = migrate()
        .arg("-f")
        .arg(&plan)
        .args(["advance", "--wait"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The soak's first reading runs a full reconciliation (equal tables)
    // and records it; from then on the gate reads what is on record.
    let state = dir.path().join(".migrate/accounts/journal.ndjson");
    let end = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&state).is_ok_and(|j| j.contains("reconciled")) {
        assert!(Instant::now() < end, "no reconciliation recorded");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A copy goes wrong behind everyone's back; only a new reading shows it.
    pg.psql("accounts", "UPDATE accounts SET balance = 0 WHERE id = 321")
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        advance.try_wait().unwrap().is_none(),
        "the soak ended without a new reading"
    );
    let follow = Follow::start(&plan);
    follow.until(Duration::from_secs(30), |j| {
        j["type"] == "reconcile_pass" && j["recorded"] == true
    });
    let end = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = advance.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < end, "the soak did not trip");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    if let Some(mut e) = advance.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut err).unwrap();
    }
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(err.contains("parity"), "{err}");
    drop(follow);
}

#[test]
fn follow_prints_a_line_per_pass_for_people() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("old.db"), dir.path().join("new.db"));
    for f in [&a, &b] {
        sqlite(
            f,
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL); \
             INSERT INTO accounts VALUES (1, 'a'), (2, 'b'), (3, 'c');",
        );
    }
    sqlite(&b, "UPDATE accounts SET owner = 'x' WHERE id = 2;");
    let plan = write_plan(
        dir.path(),
        &plan_text(
            &format!("{{ type: sqlite, path: {} }}", a.display()),
            &format!("{{ type: sqlite, path: {} }}", b.display()),
            "{ every: 200ms, sweep_rows: 2 }",
            "",
        ),
    );
    let mut child = migrate()
        .arg("-f")
        .arg(&plan)
        .args(["reconcile", "accounts", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Stopped once it has said three passes, however long they took.
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = {
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut all = String::new();
            for line in std::io::BufRead::lines(std::io::BufReader::new(out)) {
                let Ok(line) = line else { break };
                all.push_str(&line);
                all.push('\n');
                let _ = tx.send(());
            }
            all
        })
    };
    for _ in 0..3 {
        rx.recv_timeout(Duration::from_secs(60))
            .expect("a line per pass");
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let stdout = reader.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.len() >= 3, "{stdout}\n{stderr}");
    // Two slices: the first pass has not seen the whole table.
    assert!(
        lines[0].contains("first sweep not complete (2 rows so far)"),
        "{stdout}"
    );
    assert!(
        lines[1].contains("parity 0.666667  differing 1/3  sweep 1 done"),
        "{stdout}"
    );
    assert!(stderr.contains("a pass every 200ms"), "{stderr}");
    assert!(
        stderr.contains("the migration has not started: readings are not recorded"),
        "{stderr}"
    );
    assert!(stderr.contains("stopped after"), "{stderr}");
}
