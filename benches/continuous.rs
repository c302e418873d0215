//! The cost of one pass of a continuous reconciliation (`reconcile NAME
//! --follow`): MariaDB → PostgreSQL on loopback, a 1M-row table with an
//! indexed `updated_at` watermark on both sides.
//!
//!   cargo bench --bench continuous
//!
//! Settings (environment):
//!   CONTINUOUS_BENCH_ROWS=1000000      rows of the table
//!   CONTINUOUS_BENCH_CHANGED=100       rows written (dual-written: both sides) before each pass
//!   CONTINUOUS_BENCH_SLICES=10000,100000  sweep_rows values measured
//!   CONTINUOUS_BENCH_PASSES=9          timed passes per setting (median, min, max shown)
//!
//! Each pass is the watermark pass (rows written since the previous pass,
//! read on both sides above the highest watermark seen less the 1m
//! overlap) plus one slice of the rolling sweep, timed in process around
//! `Continuous::tick`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use migrate::reconcile::continuous::Continuous;
use testbed::mariadb::Mariadb;
use testbed::postgres::Postgres;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rows = env_u64("CONTINUOUS_BENCH_ROWS", 1_000_000);
    let changed = env_u64("CONTINUOUS_BENCH_CHANGED", 100);
    let passes = env_u64("CONTINUOUS_BENCH_PASSES", 9).max(1) as usize;
    let slices: Vec<u64> = std::env::var("CONTINUOUS_BENCH_SLICES")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().replace('_', "").parse().ok())
        .collect();
    eprintln!("setting up {rows} rows on MariaDB and PostgreSQL...");
    let maria = Mariadb::start().expect("start mariadb");
    let pg = Postgres::start().expect("start postgres");
    maria.create_database("legacy").expect("create database");
    maria
        .sql(
            "legacy",
            &format!(
                "CREATE TABLE accounts (id BIGINT PRIMARY KEY, owner VARCHAR(40) NOT NULL, balance BIGINT NOT NULL, \
                 updated_at DATETIME(6) NOT NULL, KEY (updated_at));
                 INSERT INTO accounts SELECT seq, CONCAT('owner ', seq), seq * 3, \
                 TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq SECOND FROM seq_1_to_{rows};"
            ),
        )
        .expect("fill the source");
    pg.create_database("accounts").expect("create database");
    pg.psql(
        "accounts",
        &format!(
            "CREATE TABLE accounts (id bigint PRIMARY KEY, owner text NOT NULL, balance bigint NOT NULL, \
             updated_at timestamp(6) NOT NULL);
             INSERT INTO accounts SELECT s, 'owner ' || s, s * 3, \
             timestamp '2024-01-01 00:00:00' + s * interval '1 second' FROM generate_series(1, {rows}) s;
             CREATE INDEX ON accounts (updated_at); ANALYZE accounts;"
        ),
    )
    .expect("fill the target");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut round = 0u64;
    println!(
        "| sweep_rows | rows written per pass | pass (median) | min | max | a full sweep takes (every: 30s) |"
    );
    println!("|---|---|---|---|---|---|");
    for slice in slices {
        let text = format!(
            r#"version: 1
name: bench
providers:
  old: {{ type: mysql, url: "{}" }}
  new: {{ type: postgres, url: "{}" }}
reconciliations:
  accounts:
    source: {{ provider: old, table: accounts }}
    target: {{ provider: new, table: accounts }}
    key: [id]
    continuous: {{ watermark: updated_at, every: 30s, sweep_rows: {slice} }}
phases:
  - name: p
    steps:
      - approve: go?
"#,
            maria.url("legacy"),
            pg.url("accounts")
        );
        let plan = migrate::plan::validate(&text, &HashMap::new(), migrate::providers::catalog())
            .expect("a valid plan")
            .plan;
        let times = runtime.block_on(async {
            let mut c = Continuous::new(&plan, "accounts").await.expect("connect");
            c.tick().await.expect("a first pass");
            let mut times = Vec::new();
            for _ in 0..passes {
                round += 1;
                write(&maria, &pg, rows, changed, round);
                let t = Instant::now();
                let r = c.tick().await.expect("a pass");
                times.push(t.elapsed());
                assert_eq!(r.differing, 0, "{}", r.summary);
                let read = r.summary["pass"]["watermark_rows"].as_u64().unwrap_or(0);
                assert!(read >= 2 * changed, "the pass read {read} changed rows");
            }
            times
        });
        let mut sorted = times.clone();
        sorted.sort();
        let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
        let sweep = Duration::from_secs(30 * rows.div_ceil(slice));
        println!(
            "| {slice} | {changed} | {} | {} | {} | {} |",
            ms(sorted[sorted.len() / 2]),
            ms(sorted[0]),
            ms(sorted[sorted.len() - 1]),
            humantime::format_duration(sweep)
        );
    }
}

/// Dual-write `n` rows spread over the table: the same new values and
/// watermark on both sides.
fn write(maria: &Mariadb, pg: &Postgres, rows: u64, n: u64, round: u64) {
    let ids: Vec<String> = (0..n)
        .map(|j| ((round * n + j) * 9973 % rows + 1).to_string())
        .collect();
    let ids = ids.join(",");
    // Two minutes apart: more than the 1m overlap, so that each pass
    // reads this round's rows only.
    let minutes = round * 2;
    let at = format!(
        "2030-01-{:02} {:02}:{:02}:00",
        1 + minutes / 1440,
        minutes / 60 % 24,
        minutes % 60
    );
    maria
        .sql(
            "legacy",
            &format!("UPDATE accounts SET balance = balance + 1, updated_at = '{at}' WHERE id IN ({ids})"),
        )
        .expect("write the source");
    pg.psql(
        "accounts",
        &format!(
            "UPDATE accounts SET balance = balance + 1, updated_at = '{at}' WHERE id IN ({ids})"
        ),
    )
    .expect("write the target");
}
