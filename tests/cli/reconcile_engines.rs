//! `migrate reconcile` across engines: MariaDB → PostgreSQL, PostgreSQL →
//! SQLite, SQLite → SQLite; exactness, mapping, keys, bounds, report,
//! repair and exit codes.

use std::path::Path;
use std::process::Command as StdCommand;

use assert_cmd::Command;
use serde_json::Value as Json;
use testbed::mariadb::Mariadb;
use testbed::postgres::Postgres;

fn migrate(plan: &Path) -> Command {
    let mut c = Command::cargo_bin("migrate").unwrap();
    c.arg("-f").arg(plan).env_remove("MIGRATE_PLAN");
    c
}

/// Run `migrate -o json [args] reconcile ...`; the exit code and summary.
fn reconcile(plan: &Path, args: &[&str]) -> (i32, Json) {
    let out = migrate(plan)
        .args(["-o", "json"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary: Json = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("no JSON summary ({e}); stdout: {stdout}\nstderr: {stderr}"));
    (out.status.code().unwrap_or(-1), summary)
}

fn report_lines(path: &Path) -> Vec<Json> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn sqlite(file: &Path, sql: &str) -> String {
    let out = StdCommand::new("sqlite3")
        .arg(file)
        .arg(sql)
        .output()
        .expect("sqlite3 is installed");
    assert!(
        out.status.success(),
        "sqlite3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn n(j: &Json, key: &str) -> u64 {
    j[key].as_u64().unwrap_or_else(|| panic!("{key} in {j}"))
}

const MARIADB_SOURCE: &str = r"
CREATE TABLE payments (
  id BIGINT PRIMARY KEY,
  amount_cents BIGINT NOT NULL,
  currency CHAR(3) NOT NULL,
  status VARCHAR(32) NOT NULL,
  note TEXT NULL,
  a VARCHAR(10) NULL,
  b VARCHAR(10) NULL,
  fee DECIMAL(10,2) NULL,
  created_at DATETIME(6) NOT NULL,
  paid BOOLEAN NULL
) COLLATE utf8mb4_general_ci;
INSERT INTO payments VALUES
  (1, 100, 'EUR', 'paid', NULL, 'x', 'y', 1.00, '2024-05-01 10:00:00.000001', 1),
  (2, 200, 'EUR', 'settled', 'n', NULL, NULL, NULL, '2024-05-01 10:00:00', 0),
  (3, 300, 'EUR', 'ok', 'n', NULL, NULL, NULL, '2024-05-01 10:00:00', 0),
  (4, 400, 'EUR', 'paid', NULL, NULL, NULL, NULL, '2024-05-01 10:00:00', 0),
  (5, 500, 'EUR', 'paid', NULL, NULL, NULL, NULL, '2024-05-01 10:00:00', 0),
  (6, 600, 'EUR', 'paid', NULL, NULL, NULL, NULL, '2024-05-01 10:00:00', 0),
  (7, 700, 'EUR', 'paid', NULL, 'a|b', 'c', NULL, '2024-05-01 10:00:00', 0),
  (8, 800, 'EUR', 'paid', NULL, NULL, NULL, NULL, '2024-05-01 10:00:00.123456', 0),
  (9, 900, 'EUR', 'paid', NULL, NULL, NULL, NULL, '2024-05-01 10:00:00.123456', 0),
  (10, 1000, 'USD', 'paid', NULL, NULL, NULL, 1.50, '2024-05-01 10:00:00', 1),
  (11, 1100, 'USD', 'paid', NULL, NULL, NULL, NULL, '2024-05-01 10:00:00', 1),
  (12, 1200, 'USD', 'new', 'only in the source', NULL, NULL, NULL, '2024-05-01 10:00:00', NULL),
  (14, 1400, 'USD', 'paid', NULL, NULL, NULL, 2.50, '2024-05-01 10:00:00', 0);
INSERT INTO payments
  SELECT 100000 + seq, seq * 7, 'EUR', 'paid', IF(seq % 3 = 0, NULL, CONCAT('note ', seq)), NULL, NULL,
         seq / 100, TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq SECOND, seq % 2
  FROM seq_1_to_10000;
";

const POSTGRES_TARGET: &str = r"
CREATE TABLE payments (
  id bigint PRIMARY KEY,
  amount_minor bigint NOT NULL,
  currency char(3) NOT NULL,
  status varchar(32) NOT NULL,
  note text NULL,
  a text NULL,
  b text NULL,
  fee numeric NULL,
  created_at timestamptz(6) NOT NULL,
  paid boolean NULL
);
INSERT INTO payments VALUES
  (1, 100, 'EUR', 'paid', NULL, 'x', 'y', 1, '2024-05-01 10:00:00.000001+00', true),
  (2, 200, 'EUR', 'Settled', 'n', NULL, NULL, NULL, '2024-05-01 10:00:00+00', false),
  (3, 300, 'EUR', 'ok ', 'n', NULL, NULL, NULL, '2024-05-01 10:00:00+00', false),
  (4, 400, 'EUR', 'paid', 'NULL', NULL, NULL, NULL, '2024-05-01 10:00:00+00', false),
  (5, 500, 'EUR', 'paid', '', NULL, NULL, NULL, '2024-05-01 10:00:00+00', false),
  (6, 600, 'EUR', 'paid', '<null>', NULL, NULL, NULL, '2024-05-01 10:00:00+00', false),
  (7, 700, 'EUR', 'paid', NULL, 'a', 'b|c', NULL, '2024-05-01 10:00:00+00', false),
  (8, 800, 'EUR', 'paid', NULL, NULL, NULL, NULL, '2024-05-01 10:00:00.123457+00', false),
  (9, 900, 'EUR', 'paid', NULL, NULL, NULL, NULL, '2024-05-01 12:00:00.123456+02', false),
  (10, 1000, 'USD', 'paid', NULL, NULL, NULL, 1.5, '2024-05-01 10:00:00+00', true),
  (11, 1100, 'USD', 'paid', NULL, NULL, NULL, NULL, '2024-05-01 10:00:00+00', true),
  (14, 1400, 'USD', 'paid', NULL, NULL, NULL, 2.51, '2024-05-01 10:00:00+00', false),
  (1000, 1, 'USD', 'stray', NULL, NULL, NULL, NULL, '2024-05-01 10:00:00+00', false);
INSERT INTO payments
  SELECT 100000 + s, s * 7, 'EUR', 'paid', CASE WHEN s % 3 = 0 THEN NULL ELSE 'note ' || s END, NULL, NULL,
         round(s / 100.0, 2), timestamptz '2024-01-01 00:00:00+00' + s * interval '1 second', s % 2 = 1
  FROM generate_series(1, 10000) s;
";

fn mariadb_to_postgres_plan(dir: &Path, maria: &Mariadb, pg: &Postgres) -> std::path::PathBuf {
    let plan = format!(
        r#"version: 1
name: payments-v2
providers:
  old-db: {{ type: mysql, url: "{maria}" }}
  new-db: {{ type: postgres, url: "{pg}" }}
reconciliations:
  payments:
    source: {{ provider: old-db, table: payments }}
    target: {{ provider: new-db, table: public.payments }}
    key: [id]
    columns: {{ id: id, amount_cents: amount_minor, currency: currency, status: status, note: note,
               a: a, b: b, fee: fee, created_at: created_at, paid: paid }}
    settle: 100ms
    batch_size: 500
  payments-strict:
    source: {{ provider: old-db, table: payments }}
    target: {{ provider: new-db, table: payments }}
    key: id
    columns: {{ amount_cents: amount_minor, currency: currency, status: status, note: note,
               a: a, b: b, fee: fee, created_at: created_at, paid: paid }}
    delete_extra: true
    settle: 100ms
  payments-recent:
    source: {{ provider: old-db, table: payments }}
    target: {{ provider: new-db, table: payments }}
    key: [id]
    columns: {{ amount_cents: amount_minor, currency: currency, status: status, note: note,
               a: a, b: b, fee: fee, created_at: created_at, paid: paid }}
    where: "id >= 10"
    delete_extra: true
    settle: 0s
phases:
  - name: backfill
    steps:
      - reconcile: payments
        repair: true
"#,
        maria = maria.url("legacy"),
        pg = pg.url("payments"),
    );
    let path = dir.join("plan.yaml");
    std::fs::write(&path, plan).unwrap();
    path
}

fn pg_digest(pg: &Postgres) -> String {
    pg.psql(
        "payments",
        "SELECT count(*) || ':' || md5(string_agg(p::text, ',' ORDER BY id)) FROM payments p",
    )
    .unwrap()
}

#[test]
fn mariadb_to_postgres_exactness_report_repair_and_exit_codes() {
    let maria = Mariadb::start().unwrap();
    let pg = Postgres::start().unwrap();
    maria.create_database("legacy").unwrap();
    maria.sql("legacy", MARIADB_SOURCE).unwrap();
    pg.create_database("payments").unwrap();
    pg.psql("payments", POSTGRES_TARGET).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plan = mariadb_to_postgres_plan(dir.path(), &maria, &pg);
    let report = dir.path().join("diff.ndjson");

    // Compare: exit 7, and exactly the rows that differ by meaning.
    let (code, s) = reconcile(
        &plan,
        &[
            "reconcile",
            "payments",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 7, "{s}");
    assert_eq!(n(&s, "source_rows"), 10_013);
    assert_eq!(n(&s, "target_rows"), 10_013);
    assert_eq!(n(&s, "missing"), 1, "{s}");
    assert_eq!(n(&s, "extra"), 1, "{s}");
    assert_eq!(n(&s, "different"), 8, "{s}");
    assert_eq!(n(&s, "rows_compared"), 10_014);
    assert_eq!(n(&s, "matched"), 10_004);
    let parity = s["parity"].as_f64().unwrap();
    assert!((parity - 10_004.0 / 10_014.0).abs() < 1e-12, "{parity}");

    let mut lines = report_lines(&report);
    lines.sort_by_key(|l| l["key"]["id"].as_u64());
    let by_id = |id: u64| {
        lines
            .iter()
            .find(|l| l["key"]["id"] == id)
            .unwrap_or_else(|| panic!("no line for {id} in {lines:?}"))
            .clone()
    };
    assert_eq!(lines.len(), 10);
    // case and trailing spaces count under a case-insensitive collation
    assert_eq!(
        by_id(2),
        serde_json::json!({"kind": "different", "key": {"id": 2}, "columns": ["status"]})
    );
    assert_eq!(by_id(3)["columns"], serde_json::json!(["status"]));
    // NULL is not 'NULL', '' or '<null>'
    for id in [4, 5, 6] {
        assert_eq!(by_id(id)["columns"], serde_json::json!(["note"]), "{id}");
    }
    // no separator collisions
    assert_eq!(by_id(7)["columns"], serde_json::json!(["a", "b"]));
    // one microsecond counts
    assert_eq!(by_id(8)["columns"], serde_json::json!(["created_at"]));
    assert_eq!(by_id(14)["columns"], serde_json::json!(["fee"]));
    assert_eq!(
        by_id(12),
        serde_json::json!({"kind": "missing", "key": {"id": 12}})
    );
    assert_eq!(
        by_id(1000),
        serde_json::json!({"kind": "extra", "key": {"id": 1000}})
    );
    // equal by meaning: same instant in another offset (9), 1.50 = 1.5 (10),
    // 1 = true (11), NULL = NULL (1)
    for id in [1, 9, 10, 11] {
        assert!(lines.iter().all(|l| l["key"]["id"] != id), "{id} reported");
    }

    // The human summary is a table on stdout.
    let out = migrate(&plan)
        .args(["reconcile", "payments"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("different") && table.contains("0.999"),
        "{table}"
    );

    // A dry run of the repair says what it would write and writes nothing.
    let before = pg_digest(&pg);
    let (code, s) = reconcile(
        &plan,
        &["--dry-run", "reconcile", "payments-strict", "--repair"],
    );
    assert_eq!(code, 7, "{s}");
    assert_eq!(s["repair"]["dry_run"], true);
    assert_eq!(n(&s["repair"], "inserted"), 1);
    assert_eq!(n(&s["repair"], "updated"), 8);
    assert_eq!(n(&s["repair"], "deleted"), 1);
    assert_eq!(pg_digest(&pg), before, "a dry run wrote to the target");

    // A bounded repair (where id >= 10) touches only rows inside the bounds.
    let (code, s) = reconcile(&plan, &["reconcile", "payments-recent", "--repair"]);
    assert_eq!(code, 0, "{s}");
    assert_eq!(n(&s["repair"], "inserted"), 1, "{s}");
    assert_eq!(n(&s["repair"], "updated"), 1, "{s}");
    assert_eq!(n(&s["repair"], "deleted"), 1, "{s}");
    let (code, s) = reconcile(&plan, &["reconcile", "payments"]);
    assert_eq!(code, 7);
    assert_eq!(
        n(&s, "different"),
        7,
        "rows below the bound are untouched: {s}"
    );
    assert_eq!(n(&s, "missing") + n(&s, "extra"), 0, "{s}");

    // Full repair, then a second pass finds parity 1.
    let (code, s) = reconcile(&plan, &["reconcile", "payments-strict", "--repair"]);
    assert_eq!(code, 0, "{s}");
    assert_eq!(n(&s["repair"], "updated"), 7, "{s}");
    assert_eq!(s["repair"]["parity_after"], 1.0);
    let (code, s) = reconcile(&plan, &["reconcile", "payments"]);
    assert_eq!(code, 0, "{s}");
    assert_eq!(s["parity"], 1.0);
    assert_eq!(n(&s, "rows_compared"), 10_013);
    assert_eq!(
        pg.psql("payments", "SELECT status || '|' || coalesce(note, '<NULL>') || '|' || to_char(created_at AT TIME ZONE 'UTC', 'HH24:MI:SS.US') FROM payments WHERE id IN (2, 4, 8) ORDER BY id").unwrap().trim(),
        "settled|n|10:00:00.000000\npaid|<NULL>|10:00:00.000000\npaid|<NULL>|10:00:00.123456"
    );

    // Repair is idempotent: again, it writes nothing and changes nothing.
    let before = pg_digest(&pg);
    let (code, s) = reconcile(&plan, &["reconcile", "payments-strict", "--repair"]);
    assert_eq!(code, 0, "{s}");
    for k in ["inserted", "updated", "deleted"] {
        assert_eq!(n(&s["repair"], k), 0, "{k}: {s}");
    }
    assert_eq!(pg_digest(&pg), before);

    // An unknown reconciliation is a usage error.
    migrate(&plan).args(["reconcile", "nope"]).assert().code(2);
}

#[test]
fn postgres_to_sqlite_composite_and_uuid_keys_with_delete_extra() {
    let pg = Postgres::start().unwrap();
    pg.create_database("shop").unwrap();
    pg.psql(
        "shop",
        r"
CREATE TABLE orders (
  region text, seq int, ref uuid NOT NULL, amount numeric(10,2), at timestamptz, flag boolean,
  PRIMARY KEY (region, seq));
INSERT INTO orders VALUES
  ('eu', 1, '6f1c6a1e-1d2b-4c3a-9e8f-0123456789ab', 1.50, '2024-05-01 10:00:00.123456+00', true),
  ('eu', 2, '00000000-0000-0000-0000-000000000002', 2.00, '2024-05-01 10:00:00+00', false),
  ('eu', 10, '00000000-0000-0000-0000-000000000010', NULL, NULL, NULL),
  ('us', 1, '00000000-0000-0000-0000-000000000011', 3.25, '2024-05-02 00:00:00+00', true),
  ('US', 1, '00000000-0000-0000-0000-000000000012', 3.25, '2024-05-02 00:00:00+00', true);
CREATE TABLE events (id uuid PRIMARY KEY, kind text NOT NULL);
INSERT INTO events SELECT md5(s::text)::uuid, 'k' || s FROM generate_series(1, 3000) s;
",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("new.db");
    sqlite(
        &db,
        r"
CREATE TABLE orders (region TEXT, seq INTEGER, ref UUID NOT NULL, amount DECIMAL(10,2), at TIMESTAMP, flag BOOLEAN,
  PRIMARY KEY (region, seq));
INSERT INTO orders VALUES
  ('eu', 1, '6F1C6A1E-1D2B-4C3A-9E8F-0123456789AB', 1.5, '2024-05-01T10:00:00.123456Z', 1),
  ('eu', 2, '00000000-0000-0000-0000-000000000002', 2, '2024-05-01 10:00:00', 1),
  ('eu', 3, '00000000-0000-0000-0000-000000000003', 2, '2024-05-01 10:00:00', 0),
  ('us', 1, '00000000-0000-0000-0000-000000000011', '3.25', '2024-05-02 00:00:00.000000', 1);
CREATE TABLE events (id TEXT PRIMARY KEY, kind TEXT NOT NULL);
",
    );
    // events: the target has every other row, one changed, one stray
    let rows = pg
        .psql("shop", "SELECT id || ',' || kind FROM events ORDER BY id")
        .unwrap();
    let mut inserts = String::from("BEGIN;");
    for (i, line) in rows.lines().enumerate() {
        let (id, kind) = line.split_once(',').unwrap();
        if i % 2 == 0 {
            let kind = if i == 100 { "changed" } else { kind };
            inserts.push_str(&format!("INSERT INTO events VALUES ('{id}', '{kind}');"));
        }
    }
    inserts.push_str(
        "INSERT INTO events VALUES ('ffffffff-0000-0000-0000-000000000000', 'stray'); COMMIT;",
    );
    sqlite(&db, &inserts);

    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            r#"version: 1
name: shop
providers:
  pg: {{ type: postgres, url: "{pg}" }}
  lite: {{ type: sqlite, path: "{lite}" }}
reconciliations:
  orders:
    source: {{ provider: pg, table: orders }}
    target: {{ provider: lite, table: orders }}
    key: [region, seq]
    delete_extra: true
    settle: 50ms
  events:
    source: {{ provider: pg, table: public.events }}
    target: {{ provider: lite, table: events }}
    key: [id]
    delete_extra: true
    batch_size: 200
    settle: 0s
phases:
  - name: check
    steps:
      - approve: go?
"#,
            pg = pg.url("shop"),
            lite = db.display()
        ),
    )
    .unwrap();

    let report = dir.path().join("orders.ndjson");
    let (code, s) = reconcile(
        &plan,
        &["reconcile", "orders", "--report", report.to_str().unwrap()],
    );
    assert_eq!(code, 7, "{s}");
    let lines = report_lines(&report);
    let find = |region: &str, seq: u64| {
        lines
            .iter()
            .find(|l| l["key"]["region"] == region && l["key"]["seq"] == seq)
            .cloned()
    };
    // equal by meaning: UUID case, 1.50 = 1.5, the same instant written
    // differently, true = 1
    assert_eq!(find("eu", 1), None, "{lines:?}");
    assert_eq!(
        find("eu", 2).unwrap()["columns"],
        serde_json::json!(["flag"])
    );
    assert_eq!(find("eu", 3).unwrap()["kind"], "extra");
    assert_eq!(find("eu", 10).unwrap()["kind"], "missing");
    assert_eq!(
        find("US", 1).unwrap()["kind"],
        "missing",
        "keys are case-exact"
    );
    assert_eq!(find("us", 1), None);
    assert_eq!(lines.len(), 4, "{lines:?}");

    let (code, s) = reconcile(&plan, &["reconcile", "orders", "--repair"]);
    assert_eq!(code, 0, "{s}");
    assert_eq!(n(&s["repair"], "deleted"), 1);
    let (code, s) = reconcile(&plan, &["reconcile", "orders"]);
    assert_eq!((code, s["parity"].as_f64()), (0, Some(1.0)), "{s}");
    assert_eq!(
        sqlite(&db, "SELECT region, seq, ref, at FROM orders WHERE seq = 10 OR region = 'US' ORDER BY region"),
        "US|1|00000000-0000-0000-0000-000000000012|2024-05-02 00:00:00\neu|10|00000000-0000-0000-0000-000000000010|"
    );

    // UUID keys, many batches.
    let (code, s) = reconcile(&plan, &["reconcile", "events"]);
    assert_eq!(code, 7);
    assert_eq!(
        (n(&s, "missing"), n(&s, "different"), n(&s, "extra")),
        (1500, 1, 1),
        "{s}"
    );
    let (code, s) = reconcile(&plan, &["reconcile", "events", "--repair"]);
    assert_eq!(code, 0, "{s}");
    let (code, s) = reconcile(&plan, &["reconcile", "events"]);
    assert_eq!((code, n(&s, "matched")), (0, 3000), "{s}");
}

#[test]
fn sqlite_to_sqlite_text_keys_bounds_and_kept_extras() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("old.db"), dir.path().join("new.db"));
    let schema = "CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT, n INTEGER);";
    sqlite(
        &old,
        &format!(
            "{schema} INSERT INTO t VALUES ('abc', 'lower', 1), ('ABC', 'upper', 2), ('abc ', 'space', 3), \
             ('b', NULL, 4), ('c', 'x', 5), ('é', 'accent', 6);"
        ),
    );
    sqlite(
        &new,
        &format!(
            "{schema} INSERT INTO t VALUES ('abc', 'lower', 1), ('ABC', 'upper', 2), \
             ('b', 'NULL', 4), ('c', 'x', 50), ('d', 'stray', 7), ('é', 'accent', 6);"
        ),
    );
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            r#"version: 1
name: lite
providers:
  old: {{ type: sqlite, path: "{}" }}
  new: {{ type: sqlite, path: "{}" }}
reconciliations:
  t:
    source: {{ provider: old, table: t }}
    target: {{ provider: new, table: t }}
    key: k
    settle: 0s
  t-bounded:
    source: {{ provider: old, table: t }}
    target: {{ provider: new, table: t }}
    key: k
    columns: [v]
    where: "n < 5"
    settle: 0s
phases:
  - name: check
    steps:
      - approve: go?
"#,
            old.display(),
            new.display()
        ),
    )
    .unwrap();
    let report = dir.path().join("r.ndjson");
    let (code, s) = reconcile(
        &plan,
        &["reconcile", "t", "--report", report.to_str().unwrap()],
    );
    assert_eq!(code, 7);
    let mut lines: Vec<String> = report_lines(&report)
        .iter()
        .map(|l| l.to_string())
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            r#"{"kind":"different","key":{"k":"b"},"columns":["v"]}"#,
            r#"{"kind":"different","key":{"k":"c"},"columns":["n"]}"#,
            r#"{"kind":"extra","key":{"k":"d"}}"#,
            r#"{"kind":"missing","key":{"k":"abc "}}"#,
        ],
        "{s}"
    );
    // Within n < 5 and comparing v only, 'c' (n = 5) is out of bounds.
    let (code, s) = reconcile(&plan, &["reconcile", "t-bounded", "--repair"]);
    assert_eq!(code, 0, "{s}");
    assert_eq!((n(&s, "different"), n(&s, "missing")), (1, 1), "{s}");
    // Without delete_extra the stray row stays, so parity stays below 1.
    let (code, s) = reconcile(&plan, &["reconcile", "t", "--repair"]);
    assert_eq!(code, 7, "{s}");
    assert_eq!(n(&s["repair"], "kept"), 1);
    // 'abc ' was inserted by the bounded repair with v only; c differs in n
    assert_eq!(n(&s["repair"], "updated"), 2, "{s}");
    assert_eq!(sqlite(&new, "SELECT count(*) FROM t WHERE k = 'd'"), "1");
    assert_eq!(sqlite(&new, "SELECT v FROM t WHERE k = 'b'"), "");
    assert_eq!(
        sqlite(&new, "SELECT typeof(v) FROM t WHERE k = 'b'"),
        "null"
    );
}

/// A column of every kind the PostgreSQL reader knows, with a value that
/// is not NULL.
const EVERY_KIND: &[(&str, &str, &str)] = &[
    ("b", "boolean", "true"),
    ("i2", "smallint", "2"),
    ("i4", "integer", "4"),
    ("i8", "bigint", "8"),
    ("num", "numeric(10,2)", "2.50"),
    ("f4", "real", "1.5"),
    ("f8", "double precision", "2.25"),
    ("t", "text", "'text'"),
    ("vc", "varchar(20)", "'varchar'"),
    ("ch", "char(3)", "'EUR'"),
    ("by", "bytea", "'\\x00ff'::bytea"),
    ("d", "date", "'2024-05-01'"),
    ("tm", "time", "'10:00:00.5'"),
    ("ts", "timestamp", "'2024-05-01 10:00:00.000001'"),
    ("tz", "timestamptz", "'2024-05-01 10:00:00+02'"),
    ("u", "uuid", "'6f1c6a1e-1d2b-4c3a-9e8f-0123456789ab'"),
    ("j", "jsonb", "'{\"a\": [1, 2]}'"),
    ("iv", "interval", "'1 day 2 hours'"),
];

/// Repair writes one row per statement (`batch_size: 1`), so the same
/// INSERT is prepared once and run again for every row. Each row has NULL
/// in another column (and values in all the others): NULL must be bound
/// with its column's own type, or the cached statement takes the type of
/// the first NULL for good and the next row's value is misread (a binary
/// numeric read as text: "invalid byte sequence for encoding UTF8: 0x00").
#[test]
fn postgres_repair_of_rows_with_nulls_of_every_type_one_at_a_time() {
    let pg = Postgres::start().unwrap();
    pg.create_database("shop").unwrap();
    let columns: Vec<String> = EVERY_KIND
        .iter()
        .map(|(name, ty, _)| format!("{name} {ty} NULL"))
        .collect();
    let mut sql = format!(
        "CREATE TABLE src (id int PRIMARY KEY, {cols});\nCREATE TABLE dst (id int PRIMARY KEY, {cols});\n",
        cols = columns.join(", ")
    );
    // Row 0: no NULL; row k: NULL in column k only; then all NULL, and
    // the pattern again in reverse so every column's NULL follows a value.
    let kinds = EVERY_KIND.len();
    let order: Vec<Option<usize>> = std::iter::once(None)
        .chain((0..kinds).map(Some))
        .chain((0..kinds).rev().map(Some))
        .collect();
    for (id, null) in order.iter().enumerate() {
        let values: Vec<&str> = EVERY_KIND
            .iter()
            .enumerate()
            .map(|(i, (_, _, v))| if Some(i) == *null { "NULL" } else { v })
            .collect();
        sql.push_str(&format!(
            "INSERT INTO src VALUES ({id}, {});\n",
            values.join(", ")
        ));
    }
    let all_null = vec!["NULL"; kinds].join(", ");
    sql.push_str(&format!("INSERT INTO src VALUES (1000, {all_null});\n"));
    pg.psql("shop", &sql).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            r#"version: 1
name: every-kind
providers:
  a: {{ type: postgres, url: "{url}" }}
  b: {{ type: postgres, url: "{url}" }}
reconciliations:
  copy:
    source: {{ provider: a, table: src }}
    target: {{ provider: b, table: dst }}
    key: id
    batch_size: 1
    settle: 0s
phases:
  - name: backfill
    steps:
      - reconcile: copy
        repair: true
"#,
            url = pg.url("shop")
        ),
    )
    .unwrap();
    let rows = order.len() as u64 + 1;
    let (code, s) = reconcile(&plan, &["reconcile", "copy", "--repair"]);
    assert_eq!(code, 0, "{s}");
    assert_eq!(n(&s, "missing"), rows, "{s}");
    assert_eq!(n(&s["repair"], "inserted"), rows, "{s}");
    assert_eq!(n(&s["repair"], "failed"), 0, "{s}");
    // Exactly the same rows, NULLs where they were.
    let (code, s) = reconcile(&plan, &["reconcile", "copy"]);
    assert_eq!(code, 0, "{s}");
    assert_eq!(s["parity"], 1.0, "{s}");
    assert_eq!(
        pg.psql(
            "shop",
            "SELECT count(*) FROM (SELECT * FROM src EXCEPT SELECT * FROM dst) d"
        )
        .unwrap()
        .trim(),
        "0"
    );
    assert_eq!(
        pg.psql(
            "shop",
            "SELECT count(*) FROM dst WHERE num IS NULL AND b IS NOT NULL"
        )
        .unwrap()
        .trim(),
        "2"
    );
}

/// A MariaDB text holding a NUL character has no PostgreSQL text form. The
/// repair writes every other row, reports that one (key, column, why) in
/// the summary and the report file, and exits 7: the tables still differ.
#[test]
fn a_row_postgres_cannot_hold_is_reported_and_the_others_repaired() {
    let maria = Mariadb::start().unwrap();
    let pg = Postgres::start().unwrap();
    maria.create_database("legacy").unwrap();
    maria
        .sql(
            "legacy",
            r"CREATE TABLE notes (id INT PRIMARY KEY, body TEXT NULL, fee DECIMAL(10,2) NULL);
INSERT INTO notes VALUES (1, 'plain', 1.00), (2, CONCAT('a', CHAR(0), 'b'), NULL), (3, NULL, 2.50),
  (4, 'also plain', NULL), (5, 'a body longer than ten', 1.25);
INSERT INTO notes SELECT 100 + seq, CONCAT('note ', seq), seq / 100 FROM seq_1_to_2000;",
        )
        .unwrap();
    pg.create_database("payments").unwrap();
    pg.psql(
        "payments",
        "CREATE TABLE notes (id int PRIMARY KEY, body text NULL, fee numeric NULL);
         CREATE TABLE short (id int PRIMARY KEY, body text NULL CHECK (length(body) <= 10), fee numeric NULL);",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            r#"version: 1
name: notes
providers:
  old-db: {{ type: mysql, url: "{maria}" }}
  new-db: {{ type: postgres, url: "{pg}" }}
reconciliations:
  notes:
    source: {{ provider: old-db, table: notes }}
    target: {{ provider: new-db, table: notes }}
    key: id
    settle: 0s
  short:
    source: {{ provider: old-db, table: notes }}
    target: {{ provider: new-db, table: short }}
    key: id
    settle: 0s
phases:
  - name: backfill
    steps:
      - reconcile: notes
        repair: true
"#,
            maria = maria.url("legacy"),
            pg = pg.url("payments"),
        ),
    )
    .unwrap();
    let report = dir.path().join("report.ndjson");

    // A dry run already knows the row cannot be written.
    let (code, s) = reconcile(&plan, &["--dry-run", "reconcile", "notes", "--repair"]);
    assert_eq!(code, 7, "{s}");
    assert_eq!(n(&s["repair"], "inserted"), 2004, "{s}");
    assert_eq!(n(&s["repair"], "failed"), 1, "{s}");

    let (code, s) = reconcile(
        &plan,
        &[
            "reconcile",
            "notes",
            "--repair",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 7, "{s}");
    assert_eq!(n(&s["repair"], "inserted"), 2004, "{s}");
    assert_eq!(n(&s["repair"], "failed"), 1, "{s}");
    let unrepaired = &s["repair"]["unrepaired"];
    assert_eq!(unrepaired.as_array().map(Vec::len), Some(1), "{s}");
    assert_eq!(unrepaired[0]["key"], serde_json::json!({"id": 2}), "{s}");
    assert_eq!(unrepaired[0]["columns"], serde_json::json!(["body"]), "{s}");
    let reason = unrepaired[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("NUL"), "{reason}");
    let parity = s["repair"]["parity_after"].as_f64().unwrap();
    assert!((parity - 2004.0 / 2005.0).abs() < 1e-12, "{parity}");
    let lines = report_lines(&report);
    assert!(
        lines.contains(&serde_json::json!({"kind": "missing", "key": {"id": 2}})),
        "{lines:?}"
    );
    let line = lines
        .iter()
        .find(|l| l["kind"] == "unrepaired")
        .unwrap_or_else(|| panic!("no unrepaired line in {lines:?}"));
    assert_eq!(line["key"], serde_json::json!({"id": 2}));
    assert_eq!(line["columns"], serde_json::json!(["body"]));
    assert_eq!(
        pg.psql("payments", "SELECT count(*) FROM notes")
            .unwrap()
            .trim(),
        "2004"
    );

    // The human summary names the row, the column and why.
    let out = migrate(&plan)
        .args(["reconcile", "notes", "--repair"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("not repaired") && table.contains("id=2 body: ") && table.contains("NUL"),
        "{table}"
    );

    // A row the database itself refuses (a check constraint) is found among its batch by halving it, and set aside
    // the same way, without a column (the database names none); the rest
    // is written.
    let (code, s) = reconcile(&plan, &["reconcile", "short", "--repair"]);
    assert_eq!(code, 7, "{s}");
    assert_eq!(n(&s["repair"], "inserted"), 2003, "{s}");
    assert_eq!(n(&s["repair"], "failed"), 2, "{s}");
    let mut unrepaired: Vec<(Json, Json)> = s["repair"]["unrepaired"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["key"]["id"].clone(), u["columns"].clone()))
        .collect();
    unrepaired.sort_by_key(|(id, _)| id.as_u64());
    assert_eq!(
        unrepaired,
        [
            (serde_json::json!(2), serde_json::json!(["body"])),
            (serde_json::json!(5), serde_json::json!([]))
        ],
        "{s}"
    );
    let too_long = s["repair"]["unrepaired"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["key"]["id"] == 5)
        .and_then(|u| u["reason"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(too_long.contains("check constraint"), "{too_long}");

    // As a step of the plan: the step fails, naming the row and why.
    let out = migrate(&plan)
        .args(["--state-dir", dir.path().to_str().unwrap(), "advance", "-y"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("1 row could not be repaired (first: id=2 body: ")
            && stderr.contains("NUL"),
        "{stderr}"
    );
    assert_eq!(
        pg.psql("payments", "SELECT count(*) FROM short WHERE id IN (2, 5)")
            .unwrap()
            .trim(),
        "0"
    );
}
