//! Reconciliation benchmark: MariaDB → PostgreSQL on loopback, a payments
//! table of 1,000,000 rows (bigint key; bigint, char, varchar, nullable
//! text and timestamp(6) columns).
//!
//!   cargo bench --bench reconcile            # 1,000,000 rows
//!   RECONCILE_BENCH_ROWS=100000 cargo bench --bench reconcile
//!
//! Runs the release `migrate` binary under `/usr/bin/time` for wall time
//! and peak RSS: identical tables; a few hundred scattered differences;
//! their repair; a backfill into an empty table. Also measures the floor of
//! the checksum-bisection strategy: one count + checksum pass over the
//! whole table in each database, run concurrently (what that strategy has
//! to do at least, when the tables are identical).

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use testbed::mariadb::Mariadb;
use testbed::postgres::Postgres;

fn rows() -> u64 {
    std::env::var("RECONCILE_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// The same rows for both databases, as tab-separated text (`\N` = NULL).
fn generate(path: &Path, rows: u64) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let statuses = ["authorized", "captured", "settled", "refunded"];
    let mut line = String::new();
    for id in 1..=rows {
        line.clear();
        let note = if id % 5 == 0 {
            "\\N".to_string()
        } else {
            format!("note for payment {id}")
        };
        let _ = writeln!(
            line,
            "{id}\t{}\t{}\t{}\t{note}\t2024-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
            (id * 7919) % 1_000_000,
            ["EUR", "USD", "GBP"][(id % 3) as usize],
            statuses[(id % 4) as usize],
            id % 12 + 1,
            id % 28 + 1,
            id % 24,
            id % 60,
            (id / 60) % 60,
            id % 1_000_000
        );
        out.write_all(line.as_bytes()).unwrap();
    }
    out.flush().unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

struct Measure {
    seconds: f64,
    peak_kib: u64,
    code: i32,
    summary: serde_json::Value,
}

fn run_migrate(plan: &Path, dir: &Path, args: &[&str]) -> Measure {
    let time_out = dir.join("time.txt");
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%e %M")
        .arg("-o")
        .arg(&time_out)
        .arg(env!("CARGO_BIN_EXE_migrate"))
        .arg("-f")
        .arg(plan)
        .args(["-o", "json"])
        .args(args)
        .output()
        .expect("/usr/bin/time (package time) is installed");
    let t = std::fs::read_to_string(&time_out).unwrap();
    let last = t.lines().last().unwrap_or_default();
    let mut parts = last.split_whitespace();
    let seconds = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let peak_kib = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let summary = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "no summary: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    Measure {
        seconds,
        peak_kib,
        code: out.status.code().unwrap_or(-1),
        summary,
    }
}

fn report(label: &str, m: &Measure) {
    let s = &m.summary;
    let mut line = format!(
        "{label:<38} {:>7.2} s  peak RSS {:>6.1} MiB  exit {}  compared {} missing {} extra {} different {} parity {}",
        m.seconds,
        m.peak_kib as f64 / 1024.0,
        m.code,
        s["rows_compared"],
        s["missing"],
        s["extra"],
        s["different"],
        s["parity"]
    );
    if let Some(r) = s["repair"].as_object() {
        let _ = write!(
            line,
            "  repaired: inserted {} updated {} deleted {}",
            r["inserted"], r["updated"], r["deleted"]
        );
    }
    println!("{line}");
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rows = rows();
    let maria = Mariadb::start().unwrap();
    let pg = Postgres::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();

    let t = Instant::now();
    let data: PathBuf = maria.dir().join("payments.tsv");
    generate(&data, rows);
    maria.create_database("legacy").unwrap();
    maria
        .sql(
            "legacy",
            &format!(
                "CREATE TABLE payments (id BIGINT PRIMARY KEY, amount_cents BIGINT NOT NULL, currency CHAR(3) NOT NULL,
                   status VARCHAR(16) NOT NULL, note TEXT NULL, created_at DATETIME(6) NOT NULL)
                   COLLATE utf8mb4_general_ci;
                 LOAD DATA INFILE '{}' INTO TABLE payments;",
                data.display()
            ),
        )
        .unwrap();
    pg.create_database("payments").unwrap();
    let create_pg = "CREATE TABLE payments (id bigint PRIMARY KEY, amount_minor bigint NOT NULL, currency char(3) NOT NULL,
                     status varchar(16) NOT NULL, note text NULL, created_at timestamp(6) NOT NULL)";
    pg.psql("payments", create_pg).unwrap();
    let load_pg = format!("\\copy payments FROM '{}'", data.display());
    pg.psql("payments", &load_pg).unwrap();
    pg.psql("payments", "VACUUM ANALYZE payments").unwrap();
    println!(
        "loaded {rows} rows into MariaDB and PostgreSQL in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            r#"version: 1
name: bench
providers:
  old-db: {{ type: mysql, url: "{}" }}
  new-db: {{ type: postgres, url: "{}" }}
reconciliations:
  payments:
    source: {{ provider: old-db, table: payments }}
    target: {{ provider: new-db, table: payments }}
    key: [id]
    columns: {{ amount_cents: amount_minor, currency: currency, status: status, note: note, created_at: created_at }}
    batch_size: 1000
    settle: 1s
    delete_extra: true
phases:
  - name: backfill
    steps:
      - reconcile: payments
        repair: true
"#,
            maria.url("legacy"),
            pg.url("payments")
        ),
    )
    .unwrap();

    // The floor of checksum bisection: one count + checksum pass per side.
    let t = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            maria
                .sql(
                    "legacy",
                    "SELECT COUNT(*), SUM(CRC32(CONCAT_WS('\\0', id, amount_cents, currency, status, \
                     IFNULL(note, '\\1'), DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s.%f')))) FROM payments",
                )
                .unwrap()
        });
        s.spawn(|| {
            pg.psql(
                "payments",
                "SELECT count(*), sum(hashtext(concat_ws(E'\\\\0', id, amount_minor, currency, status, \
                 coalesce(note, E'\\\\1'), to_char(created_at, 'YYYY-MM-DD HH24:MI:SS.US')))::bigint) FROM payments",
            )
            .unwrap()
        });
    });
    println!(
        "{:<38} {:>7.2} s  (in-database count + checksum of the whole table, both sides at once)",
        "checksum floor (one pass, no diff)",
        t.elapsed().as_secs_f64()
    );

    let m = run_migrate(&plan, dir.path(), &["reconcile", "payments"]);
    report("identical tables", &m);
    assert_eq!(m.code, 0);

    // A few hundred scattered differences: 200 changed, 50 deleted, 50 extra.
    let step = (rows / 200).max(1);
    pg.psql(
        "payments",
        &format!(
            "UPDATE payments SET status = 'chargeback' WHERE id % {step} = 7;
             DELETE FROM payments WHERE id % {} = 11;
             INSERT INTO payments SELECT {rows} + s, 1, 'EUR', 'stray', NULL, now() FROM generate_series(1, 50) s;",
            step * 4
        ),
    )
    .unwrap();
    let m = run_migrate(&plan, dir.path(), &["reconcile", "payments"]);
    report("~300 scattered differences", &m);
    assert_eq!(m.code, 7);
    let m = run_migrate(&plan, dir.path(), &["reconcile", "payments", "--repair"]);
    report("repair of those differences", &m);
    let m = run_migrate(&plan, dir.path(), &["reconcile", "payments"]);
    report("second pass after repair", &m);
    assert_eq!(m.code, 0);

    pg.psql("payments", "TRUNCATE payments").unwrap();
    let m = run_migrate(&plan, dir.path(), &["reconcile", "payments", "--repair"]);
    report("backfill into an empty table", &m);
    let m = run_migrate(&plan, dir.path(), &["reconcile", "payments"]);
    report("second pass after backfill", &m);
    assert_eq!(m.code, 0);
}
