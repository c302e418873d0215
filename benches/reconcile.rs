//! Reconciliation benchmark, side by side with data-diff: MariaDB →
//! PostgreSQL on loopback, a payments table (bigint key; bigint, char,
//! varchar, nullable text and timestamp(6) columns).
//!
//!   cargo bench --bench reconcile        # every figure of BENCHMARKS.md
//!
//! Settings (environment):
//!   RECONCILE_BENCH_ROWS=1000000         rows of the main table
//!   RECONCILE_BENCH_DIFFS=30,3000        difference scenarios on it
//!   RECONCILE_BENCH_LARGE_ROWS=5000000   rows of the identical large table (0: skip)
//!   RECONCILE_BENCH_DATA_DIFF=1          run data-diff 0.11.2 beside migrate (0: skip)
//!   RECONCILE_BENCH_DATA_DIFF_THREADS=   data-diff's -j (default: its own default, 1)
//!   RECONCILE_BENCH_REPEAT=3             runs of each comparison (the median is shown)
//!   DATA_DIFF_VENV=                      its virtualenv (default ~/.cache/migrate-bench/…)
//!
//! Each run is a separate process under `/usr/bin/time` (wall time and peak
//! RSS): the release `migrate` binary, then data-diff on the same tables and
//! columns, taking turns, each comparison repeated (the median run is
//! shown: the machine is shared). migrate runs twice per turn on
//! differences: with `settle: 0s` (static tables, like data-diff, which
//! re-checks nothing; migrate still re-reads every difference from both
//! sides before reporting it) and with the default settle delay of 1 s
//! (what a live table needs). The differences are a mix of changed values (amount, status, a
//! timestamp one microsecond off), NULLs set and cleared, rows deleted from
//! and rows inserted into the target, spread over the whole key range; both
//! tools must find exactly them. Also measured: the floor of any checksum
//! strategy, one count + checksum pass over the whole table in each database
//! at once (with a cheap CRC and with data-diff's own MD5 checksum).

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use testbed::mariadb::Mariadb;
use testbed::postgres::Postgres;

/// The compared columns (the same names on both sides, so that data-diff,
/// which has no column mapping, compares exactly what migrate does).
const COLUMNS: [&str; 5] = ["amount_cents", "currency", "status", "note", "created_at"];

struct Config {
    rows: u64,
    diffs: Vec<u64>,
    large: u64,
    data_diff: bool,
    dd_threads: Option<String>,
    repeat: usize,
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

impl Config {
    fn from_env() -> Self {
        let diffs = std::env::var("RECONCILE_BENCH_DIFFS").unwrap_or_else(|_| "30,3000".into());
        Self {
            rows: env_u64("RECONCILE_BENCH_ROWS", 1_000_000),
            diffs: diffs
                .split(',')
                .filter_map(|d| d.trim().replace('_', "").parse().ok())
                .filter(|&d| d > 0)
                .collect(),
            large: env_u64("RECONCILE_BENCH_LARGE_ROWS", 5_000_000),
            data_diff: std::env::var("RECONCILE_BENCH_DATA_DIFF").map_or(true, |v| v != "0"),
            dd_threads: std::env::var("RECONCILE_BENCH_DATA_DIFF_THREADS")
                .ok()
                .filter(|v| !v.is_empty()),
            repeat: env_u64("RECONCILE_BENCH_REPEAT", 3).max(1) as usize,
        }
    }
}

/// The source's ids are odd (row `i` has id `2i - 1`), so that rows
/// inserted into the target only (even ids) fall anywhere in the range.
fn id_of(i: u64) -> u64 {
    2 * i - 1
}

/// The same rows for both databases, as tab-separated text (`\N` = NULL).
fn generate(path: &Path, rows: u64) {
    let mut out = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(path).expect("creating the data file"),
    );
    let statuses = ["authorized", "captured", "settled", "refunded"];
    let currencies = ["EUR", "USD", "GBP"];
    let mut line = String::with_capacity(128);
    for i in 1..=rows {
        line.clear();
        let _ = write!(
            line,
            "{}\t{}\t{}\t{}\t",
            id_of(i),
            (i * 7919) % 1_000_000,
            currencies[(i % 3) as usize],
            statuses[(i % 4) as usize],
        );
        if i % 5 == 0 {
            line.push_str("\\N");
        } else {
            let _ = write!(line, "note for payment {i}");
        }
        let _ = writeln!(
            line,
            "\t2024-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
            i % 12 + 1,
            i % 28 + 1,
            i % 24,
            i % 60,
            (i / 60) % 60,
            i % 1_000_000
        );
        out.write_all(line.as_bytes())
            .expect("writing the data file");
    }
    out.flush().expect("writing the data file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// Create `table` in both databases and load `rows` generated rows into
/// both (`LOAD DATA INFILE`, `\copy`). Returns the seconds it took.
fn load(maria: &Mariadb, pg: &Postgres, table: &str, rows: u64) -> f64 {
    let t = Instant::now();
    let data: PathBuf = maria.dir().join(format!("{table}.tsv"));
    generate(&data, rows);
    std::thread::scope(|s| {
        s.spawn(|| {
            maria
                .sql(
                    "legacy",
                    &format!(
                        "CREATE TABLE {table} (id BIGINT PRIMARY KEY, amount_cents BIGINT NOT NULL, \
                         currency CHAR(3) NOT NULL, status VARCHAR(16) NOT NULL, note TEXT NULL, \
                         created_at DATETIME(6) NOT NULL) COLLATE utf8mb4_general_ci;
                         LOAD DATA INFILE '{}' INTO TABLE {table};",
                        data.display()
                    ),
                )
                .unwrap()
        });
        s.spawn(|| {
            pg.psql(
                "payments",
                &format!(
                    "CREATE TABLE {table} (id bigint PRIMARY KEY, amount_cents bigint NOT NULL, \
                     currency char(3) NOT NULL, status varchar(16) NOT NULL, note text NULL, \
                     created_at timestamp(6) NOT NULL)"
                ),
            )
            .unwrap();
            pg.psql(
                "payments",
                &format!("\\copy {table} FROM '{}'", data.display()),
            )
            .unwrap();
            pg.psql("payments", &format!("VACUUM ANALYZE {table}"))
                .unwrap();
        });
    });
    let _ = std::fs::remove_file(&data);
    let secs = t.elapsed().as_secs_f64();
    quiesce(maria, pg);
    secs
}

/// Let both servers write out what the load left dirty, so that no
/// background flushing competes with the runs measured.
fn quiesce(maria: &Mariadb, pg: &Postgres) {
    maria
        .sql("", "SET GLOBAL innodb_max_dirty_pages_pct = 0")
        .unwrap();
    let t = Instant::now();
    while t.elapsed().as_secs() < 120 {
        let dirty = maria
            .sql(
                "",
                "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'",
            )
            .unwrap();
        if dirty.split_whitespace().nth(1) == Some("0") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    pg.psql("payments", "CHECKPOINT").unwrap();
}

/// Differences of each kind, as the tools should count them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    missing: u64,
    extra: u64,
    different: u64,
}

impl Counts {
    fn total(&self) -> u64 {
        self.missing + self.extra + self.different
    }
}

/// Make `n` differences in the target, spread evenly over the key range:
/// of every ten, four changed values (amount, status, or the timestamp one
/// microsecond later), two NULLs set or cleared, two rows deleted, two rows
/// inserted between existing ones.
fn make_differences(pg: &Postgres, rows: u64, n: u64) -> Counts {
    let mut changed: [Vec<u64>; 3] = Default::default();
    let (mut nulls, mut deleted, mut inserted) = (Vec::new(), Vec::new(), Vec::new());
    let mut want = Counts::default();
    for k in 0..n {
        let i = k * rows / n + rows / (2 * n) + 1;
        let id = id_of(i.min(rows));
        match k % 10 {
            0..=3 => {
                changed[(k / 10 % 3) as usize].push(id);
                want.different += 1;
            }
            4 | 5 => {
                nulls.push(id);
                want.different += 1;
            }
            6 | 7 => {
                deleted.push(id);
                want.missing += 1;
            }
            _ => {
                inserted.push(id + 1);
                want.extra += 1;
            }
        }
    }
    let list = |ids: &[u64]| {
        if ids.is_empty() {
            "NULL".to_string()
        } else {
            ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
        }
    };
    let inserts = if inserted.is_empty() {
        String::new()
    } else {
        let values: Vec<String> = inserted
            .iter()
            .map(|id| format!("({id}, 1, 'EUR', 'stray', NULL, '2024-06-01 00:00:00')"))
            .collect();
        format!("INSERT INTO payments VALUES {};", values.join(","))
    };
    pg.psql(
        "payments",
        &format!(
            "UPDATE payments SET amount_cents = amount_cents + 1 WHERE id IN ({});
             UPDATE payments SET status = 'chargeback' WHERE id IN ({});
             UPDATE payments SET created_at = created_at + interval '1 microsecond' WHERE id IN ({});
             UPDATE payments SET note = CASE WHEN note IS NULL THEN 'set later' END WHERE id IN ({});
             DELETE FROM payments WHERE id IN ({});
             {inserts}",
            list(&changed[0]),
            list(&changed[1]),
            list(&changed[2]),
            list(&nulls),
            list(&deleted),
        ),
    )
    .unwrap();
    want
}

/// A run's wall time and peak RSS, from `/usr/bin/time`.
fn timed(cmd: &mut Command, dir: &Path) -> (f64, u64, std::process::Output) {
    let time_out = dir.join("time.txt");
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(ToOwned::to_owned).collect();
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-f")
        .arg("%e %M")
        .arg("-o")
        .arg(&time_out)
        .arg(program)
        .args(args);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let out = timed
        .output()
        .expect("/usr/bin/time (package time) is installed");
    let t = std::fs::read_to_string(&time_out).unwrap_or_default();
    let last = t.lines().last().unwrap_or_default();
    let mut parts = last.split_whitespace();
    let seconds = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let peak_kib = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    (seconds, peak_kib, out)
}

struct Measure {
    seconds: f64,
    peak_kib: u64,
    code: i32,
    found: Counts,
    summary: serde_json::Value,
}

fn run_migrate(plan: &Path, dir: &Path, args: &[&str]) -> Measure {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_migrate"));
    cmd.arg("-f").arg(plan).args(["-o", "json"]).args(args);
    let (seconds, peak_kib, out) = timed(&mut cmd, dir);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "no summary: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let n = |k: &str| summary[k].as_u64().unwrap_or(0);
    Measure {
        seconds,
        peak_kib,
        code: out.status.code().unwrap_or(-1),
        found: Counts {
            missing: n("missing"),
            extra: n("extra"),
            different: n("different"),
        },
        summary,
    }
}

/// data-diff on the same two tables and columns; its differences counted
/// by key from its JSON lines (`-` only: missing from the target, `+`
/// only: extra, both: different).
struct DataDiff {
    exe: PathBuf,
    source: String,
    target: String,
    threads: Option<String>,
}

impl DataDiff {
    fn run(&self, table: &str, dir: &Path) -> Measure {
        let mut cmd = Command::new(&self.exe);
        cmd.arg(&self.source)
            .arg(table)
            .arg(&self.target)
            .arg(table)
            .args(["-k", "id"]);
        for c in COLUMNS {
            cmd.args(["-c", c]);
        }
        if let Some(j) = &self.threads {
            cmd.args(["-j", j]);
        }
        cmd.args(["--json", "--no-tracking"])
            // Its output goes through rich: no wrapping of long lines.
            .env("COLUMNS", "100000")
            .env("TERM", "dumb");
        let (seconds, peak_kib, out) = timed(&mut cmd, dir);
        let code = out.status.code().unwrap_or(-1);
        assert_eq!(
            code,
            0,
            "data-diff failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut keys: std::collections::BTreeMap<String, (bool, bool)> = Default::default();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line.trim()) else {
                continue;
            };
            let (Some(sign), Some(key)) = (v[0].as_str(), v[1][0].as_str()) else {
                continue;
            };
            let e = keys.entry(key.to_string()).or_default();
            match sign {
                "-" => e.0 = true,
                "+" => e.1 = true,
                _ => {}
            }
        }
        let mut found = Counts::default();
        for (a, b) in keys.values() {
            match (a, b) {
                (true, true) => found.different += 1,
                (true, false) => found.missing += 1,
                (false, true) => found.extra += 1,
                _ => {}
            }
        }
        Measure {
            seconds,
            peak_kib,
            code,
            found,
            summary: serde_json::Value::Null,
        }
    }
}

/// One line of the final table.
struct Line {
    scenario: String,
    /// The run compared with data-diff (`settle: 0s` when there are
    /// differences; no difference, no re-check: the settle delay is moot).
    migrate: Measure,
    /// With the default settle delay, when there are differences.
    migrate_default: Option<Measure>,
    data_diff: Option<Measure>,
    expected: Counts,
}

/// The run with the median wall time.
fn median(mut runs: Vec<Measure>) -> Measure {
    runs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    let mid = runs.len() / 2;
    runs.swap_remove(mid)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn found(m: &Measure) -> String {
    let c = m.found;
    format!(
        "{} ({} missing, {} extra, {} different)",
        c.total(),
        c.missing,
        c.extra,
        c.different
    )
}

fn print_line(label: &str, m: &Measure) {
    let s = &m.summary;
    let mut line = format!(
        "{label:<40} {:>7.2} s  peak RSS {:>6.1} MiB  exit {}  found {}",
        m.seconds,
        mib(m.peak_kib),
        m.code,
        found(m),
    );
    if !s.is_null() {
        let _ = write!(
            line,
            "  compared {} parity {}",
            s["rows_compared"], s["parity"]
        );
    }
    if let Some(r) = s["repair"].as_object() {
        let _ = write!(
            line,
            "  repaired: inserted {} updated {} deleted {}",
            r["inserted"], r["updated"], r["deleted"]
        );
    }
    println!("{line}");
}

/// The floor of any checksum strategy: one `COUNT(*)` + checksum pass over
/// the whole table in each database at once. Returns the seconds.
fn checksum_floor(maria: &Mariadb, pg: &Postgres, maria_sql: &str, pg_sql: &str) -> f64 {
    let t = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| maria.sql("legacy", maria_sql).unwrap());
        s.spawn(|| pg.psql("payments", pg_sql).unwrap());
    });
    t.elapsed().as_secs_f64()
}

fn write_plan(path: &Path, maria: &Mariadb, pg: &Postgres) {
    std::fs::write(
        path,
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
    delete_extra: true
  payments-static:
    source: {{ provider: old-db, table: payments }}
    target: {{ provider: new-db, table: payments }}
    key: [id]
    settle: 0s
  large:
    source: {{ provider: old-db, table: payments_large }}
    target: {{ provider: new-db, table: payments_large }}
    key: [id]
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
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let cfg = Config::from_env();
    let rows = cfg.rows;
    let data_diff = cfg.data_diff.then(|| {
        let t = Instant::now();
        let exe = testbed::data_diff::install().unwrap();
        println!(
            "data-diff {} ready in {:.1} s ({})",
            testbed::data_diff::VERSION,
            t.elapsed().as_secs_f64(),
            exe.display()
        );
        exe
    });
    let maria = Mariadb::start().unwrap();
    let pg = Postgres::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    maria.create_database("legacy").unwrap();
    pg.create_database("payments").unwrap();
    let dd = data_diff.map(|exe| DataDiff {
        exe,
        source: maria.url("legacy"),
        // data-diff insists on a password in a PostgreSQL URL; the
        // server trusts loopback connections, so any will do.
        target: pg.url("payments").replacen(
            "postgres://postgres@",
            "postgresql://postgres:bench@",
            1,
        ),
        threads: cfg.dd_threads.clone(),
    });

    let secs = load(&maria, &pg, "payments", rows);
    println!("loaded {rows} rows into MariaDB and PostgreSQL in {secs:.1} s");

    let plan = dir.path().join("plan.yaml");
    write_plan(&plan, &maria, &pg);

    let crc = checksum_floor(
        &maria,
        &pg,
        "SELECT COUNT(*), SUM(CRC32(CONCAT_WS('\\0', id, amount_cents, currency, status, \
         IFNULL(note, '\\1'), DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s.%f')))) FROM payments",
        "SELECT count(*), sum(hashtext(concat_ws(E'\\\\0', id, amount_cents, currency, status, \
         coalesce(note, E'\\\\1'), to_char(created_at, 'YYYY-MM-DD HH24:MI:SS.US')))::bigint) FROM payments",
    );
    println!(
        "{:<40} {crc:>7.2} s  (CRC32 / hashtext, both sides at once)",
        "checksum floor, cheap hash"
    );
    // data-diff's own checksum of a segment (as its debug log shows it),
    // over the whole table.
    let my = |c: &str| {
        format!("coalesce(cast(coalesce(cast({c} as char), '<null>') as char), '<null>')")
    };
    let pgc = |c: &str| format!("coalesce(coalesce({c}::varchar, '<null>')::varchar, '<null>')");
    let pg_ts = "CASE WHEN created_at IS NULL THEN NULL ELSE RPAD(LEFT(left(to_char(least('294276-12-31 23:59:59.0000'::timestamp, \
         greatest('4713-01-01 00:00:00.00 BC'::timestamp(6), least('294276-12-31 23:59:59.0000'::timestamp(6), created_at::timestamp(6))))\
         + interval '0.0000005', 'YYYY-mm-dd HH24:MI:SS.US'),length(to_char(least('294276-12-31 23:59:59.0000'::timestamp, \
         greatest('4713-01-01 00:00:00.00 BC'::timestamp(6), least('294276-12-31 23:59:59.0000'::timestamp(6), created_at::timestamp(6))))\
         + interval '0.0000005', 'YYYY-mm-dd HH24:MI:SS.US')) - (6-6)), 26), 26, '0') END";
    let my_cols: Vec<String> = ["id", "amount_cents", "currency", "status", "note"]
        .iter()
        .map(|c| my(c))
        .chain([my("cast( cast(created_at as datetime(6)) as datetime(6))")])
        .collect();
    let pg_cols: Vec<String> = ["id", "amount_cents", "currency", "status", "note"]
        .iter()
        .map(|c| pgc(c))
        .chain([pgc(&format!("({pg_ts})"))])
        .collect();
    let md5 = checksum_floor(
        &maria,
        &pg,
        &format!(
            "SELECT count(*), sum(conv(substring(md5(concat({})), 21), 16, 10) - 140737488355327) FROM payments",
            my_cols.join(", '|', ")
        ),
        &format!(
            "SELECT count(*), sum(('x' || substring(md5({}), 21))::bit(48)::bigint - 140737488355327) FROM payments",
            pg_cols.join(" || '|' || ")
        ),
    );
    println!(
        "{:<40} {md5:>7.2} s  (data-diff's MD5 checksum, both sides at once)",
        "checksum floor, data-diff's hash"
    );

    let mut lines: Vec<Line> = Vec::new();
    let repeat = cfg.repeat;
    // Each turn: migrate (both settle delays when there are differences),
    // then data-diff; migrate must be exact every time.
    let mut compare = |scenario: String, reconciliation: &str, table: &str, expected: Counts| {
        let mut runs = (Vec::new(), Vec::new(), Vec::new());
        for turn in 1..=repeat {
            let migrate = |name: &str, label: &str| {
                let m = run_migrate(&plan, dir.path(), &["reconcile", name]);
                print_line(&format!("migrate{label}: {scenario} ({turn})"), &m);
                assert_eq!(m.found, expected, "migrate's differences");
                assert_eq!(m.code, if expected.total() == 0 { 0 } else { 7 });
                m
            };
            if expected.total() == 0 {
                runs.0.push(migrate(reconciliation, ""));
            } else {
                runs.0
                    .push(migrate(&format!("{reconciliation}-static"), " settle 0s"));
                runs.1.push(migrate(reconciliation, " settle 1s"));
            }
            if let Some(dd) = &dd {
                let d = dd.run(table, dir.path());
                print_line(&format!("data-diff: {scenario} ({turn})"), &d);
                runs.2.push(d);
            }
        }
        lines.push(Line {
            scenario,
            migrate: median(runs.0),
            migrate_default: (!runs.1.is_empty()).then(|| median(runs.1)),
            data_diff: (!runs.2.is_empty()).then(|| median(runs.2)),
            expected,
        });
    };

    compare(
        format!("{rows} rows, identical"),
        "payments",
        "payments",
        Counts::default(),
    );
    let mut repairs = Vec::new();
    for &n in &cfg.diffs {
        let want = make_differences(&pg, rows, n);
        compare(
            format!("{rows} rows, {n} differences"),
            "payments",
            "payments",
            want,
        );
        let m = run_migrate(&plan, dir.path(), &["reconcile", "payments", "--repair"]);
        print_line(&format!("migrate: repair of those {n}"), &m);
        assert_eq!(m.code, 0);
        let again = run_migrate(&plan, dir.path(), &["reconcile", "payments"]);
        print_line("migrate: second pass after repair", &again);
        assert_eq!(again.code, 0);
        repairs.push((format!("repair of the {n} differences"), m));
    }

    pg.psql("payments", "TRUNCATE payments").unwrap();
    let m = run_migrate(&plan, dir.path(), &["reconcile", "payments", "--repair"]);
    print_line("migrate: backfill into an empty table", &m);
    assert_eq!(m.code, 0);
    let again = run_migrate(&plan, dir.path(), &["reconcile", "payments"]);
    print_line("migrate: second pass after backfill", &again);
    assert_eq!(again.code, 0);
    repairs.push((format!("backfill of {rows} rows into an empty table"), m));

    if cfg.large > 0 {
        // Room for the large table: drop the main one first.
        maria.sql("legacy", "DROP TABLE payments").unwrap();
        pg.psql("payments", "DROP TABLE payments").unwrap();
        let large = cfg.large;
        let secs = load(&maria, &pg, "payments_large", large);
        println!("loaded {large} rows into MariaDB and PostgreSQL in {secs:.1} s");
        compare(
            format!("{large} rows, identical"),
            "large",
            "payments_large",
            Counts::default(),
        );
    }

    println!();
    println!(
        "medians of {repeat} runs; data-diff {}{}",
        testbed::data_diff::VERSION,
        cfg.dd_threads
            .as_deref()
            .map(|j| format!(" -j {j}"))
            .unwrap_or_default()
    );
    println!("| scenario | migrate | peak RSS | migrate, default settle (1 s) | data-diff | peak RSS | speed-up | found by migrate | found by data-diff |");
    println!("|---|---:|---:|---:|---:|---:|---:|---|---|");
    for l in &lines {
        let (dd_time, dd_rss, speedup, dd_found) = match &l.data_diff {
            Some(d) => (
                format!("{:.2} s", d.seconds),
                format!("{:.0} MiB", mib(d.peak_kib)),
                format!("{:.1}×", d.seconds / l.migrate.seconds.max(0.01)),
                format!(
                    "{}{}",
                    found(d),
                    if d.found == l.expected {
                        ""
                    } else {
                        " (WRONG)"
                    }
                ),
            ),
            None => ("–".into(), "–".into(), "–".into(), "–".into()),
        };
        let default = l
            .migrate_default
            .as_ref()
            .map_or("–".into(), |m| match &l.data_diff {
                Some(d) => format!(
                    "{:.2} s ({:.1}×)",
                    m.seconds,
                    d.seconds / m.seconds.max(0.01)
                ),
                None => format!("{:.2} s", m.seconds),
            });
        println!(
            "| {} | {:.2} s | {:.0} MiB | {default} | {dd_time} | {dd_rss} | {speedup} | {} | {dd_found} |",
            l.scenario,
            l.migrate.seconds,
            mib(l.migrate.peak_kib),
            found(&l.migrate),
        );
    }
    for (what, m) in &repairs {
        println!(
            "| {what} (migrate --repair) | {:.2} s | {:.0} MiB | | | | | | |",
            m.seconds,
            mib(m.peak_kib)
        );
    }
    println!();
    println!("checksum floor (one count + checksum pass of the whole table, both sides at once):");
    println!("  CRC32 / hashtext: {crc:.2} s; data-diff's MD5 checksum: {md5:.2} s");
}
