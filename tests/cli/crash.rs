//! Crash injection: `migrate advance` (and `rollback`) killed at random
//! moments, and at every journal boundary through the debug-build seam
//! (`MIGRATE_TEST_CRASH_AFTER_RECORD` / `_AFTER_CHECKPOINT`, see
//! src/state/crash.rs; in a state directory and in PostgreSQL), then
//! resumed. After each, the providers' values,
//! the state and the journal must agree: every step applied once and in
//! order (a consecutive repeat is the idempotent re-set of the step that
//! was in flight), the final values right, the journal whole, and
//! `state.json` exactly the fold of the journal.
//!
//! The plan drives real exec providers (shell commands writing files), a
//! real flagd file, two hooks, a real SQLite reconciliation with repair,
//! and gates on a metrics page, with short soaks.
//!
//! `CRASH_KILLS` (default 60) sets how many random kills
//! `random_kills_never_skip_or_repeat_a_step` makes; `CRASH_SEED` replays
//! a run. RELIABILITY.md records the long runs.

use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::rig::{collapsed, exec_provider, sqlite, Rig};

const PHASES: &str = r#"
gates:
  errors: { provider: app, query: error_ratio, max: 0.05 }
reconciliations:
  rows:
    source: { provider: old, table: t }
    target: { provider: new, table: t }
    key: id
    settle: 0s
phases:
  - name: dual-write
    steps:
      - flag: { provider: flags, key: dual-write, enabled: true }
        keep_on_rollback: true
      - run: [sh, -c, 'echo pre >> {DIR}/hook.log']
  - name: backfill
    steps:
      - reconcile: rows
        repair: true
  - name: shadow
    steps:
      - mirror: { provider: edge, percent: 100 }
      - soak: 100ms
        gates: [errors]
  - name: canary
    steps:
      - traffic: { provider: lb, percent: 5 }
      - flag: { provider: flags, key: rollout, percent: 50 }
      - traffic: { provider: lb, percent: 25 }
      - soak: 100ms
        gates: [errors]
      - traffic: { provider: lb, percent: 50 }
      - traffic: { provider: lb, percent: 100 }
  - name: cleanup
    steps:
      - run: [sh, -c, 'echo post >> {DIR}/hook.log']
      - mirror: { provider: edge, percent: 0 }
"#;

fn plan_text() -> String {
    format!(
        "version: 1\nname: crash\nsettings: {{ interval: 1s, timeout: 5s, retries: 1, rollback_timeout: 5s }}\nproviders:\n{}{}  flags: {{ type: flagd, file: '{{DIR}}/flags.json' }}\n  app: {{ type: scrape, url: '{{METRICS}}' }}\n  old: {{ type: sqlite, path: '{{DIR}}/old.db' }}\n  new: {{ type: sqlite, path: '{{DIR}}/new.db' }}\n{PHASES}",
        exec_provider("lb"),
        exec_provider("edge"),
    )
}

/// A rig with the plan written and the two databases filled: the source
/// has 300 rows, the target 100 of them (20 changed since).
fn rig() -> Rig {
    let rig = Rig::new("crash");
    rig.plan(&plan_text());
    let schema = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);";
    let rows: Vec<String> = (1..=300).map(|i| format!("({i}, 'row {i}')")).collect();
    sqlite(
        &rig.path("old.db"),
        &format!("{schema} INSERT INTO t VALUES {};", rows.join(",")),
    );
    sqlite(
        &rig.path("new.db"),
        &format!(
            "{schema} INSERT INTO t VALUES {}; UPDATE t SET v = 'stale' WHERE id % 5 = 0;",
            rows[..100].join(",")
        ),
    );
    rig
}

/// What a completed run must have left, however many crashes it took.
fn assert_completed(rig: &Rig, context: &str) {
    assert_values(rig, context);
    assert_eq!(
        rig.state().status,
        migrate::state::Status::Completed,
        "{context}"
    );
    rig.assert_consistent(context);
}

/// The systems' values and logs after a completed run.
fn assert_values(rig: &Rig, context: &str) {
    assert_eq!(
        collapsed(&rig.log("lb.log")),
        ["5", "25", "50", "100"],
        "{context}: traffic steps once each, in order: {:?}",
        rig.log("lb.log")
    );
    assert_eq!(
        collapsed(&rig.log("edge.log")),
        ["100", "0"],
        "{context}: mirror steps: {:?}",
        rig.log("edge.log")
    );
    assert_eq!(
        collapsed(&rig.log("hook.log")),
        ["pre", "post"],
        "{context}: hooks: {:?}",
        rig.log("hook.log")
    );
    assert_eq!(rig.pct("lb"), 100.0, "{context}");
    assert_eq!(rig.pct("edge"), 0.0, "{context}");
    assert_eq!(rig.flag("dual-write")["defaultVariant"], "on", "{context}");
    assert_eq!(
        rig.flag("rollout")["targeting"],
        json!({"fractional": [["on", 50], ["off", 50]]}),
        "{context}"
    );
    assert_eq!(rig.flag("unrelated")["defaultVariant"], "on", "{context}");
    assert_eq!(
        sqlite(
            &rig.path("new.db"),
            "SELECT count(*), sum(v = 'stale') FROM t"
        ),
        "300|0",
        "{context}: the backfill copied every row"
    );
}

/// Run `advance --wait` to the end (no crash).
fn finish(rig: &Rig, context: &str) {
    let (code, out, err) = rig.run(&["advance", "--wait"]);
    assert_eq!(code, 0, "{context}: resuming: {out}{err}");
}

/// A small deterministic generator (xorshift64*), so a failing run can be
/// replayed with its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// Spawn `migrate` in a process group of its own, so that a kill takes
/// the provider commands and hooks it runs with it (as a container's OOM
/// kill or a cancelled CI job does).
fn spawn(mut cmd: Command) -> Child {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    cmd.spawn().unwrap()
}

fn kill_group(child: &Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .status();
}

#[test]
fn random_kills_never_skip_or_repeat_a_step() {
    let target = env_u64("CRASH_KILLS").unwrap_or(60);
    let seed = env_u64("CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1
    });
    eprintln!("random kills: CRASH_KILLS={target} CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    // How long a whole run takes here, to spread the kills over it.
    let started = Instant::now();
    let clean = rig();
    finish(&clean, "a run without kills");
    assert_completed(&clean, "a run without kills");
    let span = (started.elapsed().as_millis() as u64).clamp(200, 5000);

    let mut kills = 0u64;
    let mut rounds = 0u64;
    let mut exits = 0u64;
    // Steps caught in flight by a kill and set again on resuming.
    let mut resets = 0u64;
    while kills < target {
        rounds += 1;
        let rig = rig();
        let mut done = false;
        for attempt in 0..300 {
            let mut child = spawn(rig.command(&["advance", "--wait"]));
            let delay = rng.below(span);
            std::thread::sleep(Duration::from_millis(delay));
            let killed = child.try_wait().unwrap().is_none();
            if killed {
                kill_group(&child);
            }
            let out = child.wait_with_output().unwrap();
            let (code, stdout, stderr) = crate::rig::output(out);
            if killed && code == -1 {
                kills += 1;
            } else {
                exits += 1;
                assert_eq!(
                    code, 0,
                    "seed {seed}, round {rounds}, attempt {attempt}: {stdout}{stderr}"
                );
                done = true;
                break;
            }
        }
        if !done {
            finish(&rig, &format!("seed {seed}, round {rounds}"));
        }
        for log in ["lb.log", "edge.log", "hook.log"] {
            let l = rig.log(log);
            resets += (l.len() - collapsed(&l).len()) as u64;
        }
        assert_completed(&rig, &format!("seed {seed}, round {rounds}"));
    }
    eprintln!(
        "random kills: {kills} kills over {rounds} runs of the plan ({exits} runs finished by themselves), {resets} in-flight steps set again; every run consistent"
    );
}

/// The records a whole run writes, found by running it once.
fn records_of_a_run() -> u64 {
    let rig = rig();
    finish(&rig, "a run without crashes");
    assert_completed(&rig, "a run without crashes");
    rig.records().len() as u64
}

/// Crash at journal record `n` through the seam (`var`), resume, check.
/// Returns whether the crash happened (a run may write fewer records).
fn crash_at(var: &str, n: u64, args: &[&str]) -> bool {
    let rig = rig();
    let (code, out, err) =
        crate::rig::output(rig.command(args).env(var, n.to_string()).output().unwrap());
    let crashed = code == -1 && err.contains("test crash");
    assert!(
        crashed || code == 0,
        "{var}={n}: expected a crash or the end, got exit {code}: {out}{err}"
    );
    finish(&rig, &format!("{var}={n}"));
    assert_completed(&rig, &format!("{var}={n}"));
    crashed
}

/// Run `job(n)` for n in 1..=total on a few threads (the runs mostly wait
/// on soaks and processes).
fn each(total: u64, job: impl Fn(u64) -> bool + Sync) -> u64 {
    let next = AtomicU64::new(1);
    let crashed = AtomicU64::new(0);
    let failure: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n > total || failure.lock().unwrap().is_some() {
                    break;
                }
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(n))) {
                    Ok(true) => {
                        crashed.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(false) => {}
                    Err(e) => {
                        let msg = e
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        *failure.lock().unwrap() = Some(format!("at record {n}: {msg}"));
                    }
                }
            });
        }
    });
    if let Some(f) = failure.into_inner().unwrap() {
        panic!("{f}");
    }
    crashed.into_inner()
}

#[test]
fn a_crash_at_every_journal_boundary_resumes_consistently() {
    let total = records_of_a_run();
    for var in [
        "MIGRATE_TEST_CRASH_AFTER_RECORD",
        "MIGRATE_TEST_CRASH_AFTER_CHECKPOINT",
    ] {
        let crashed = each(total, |n| crash_at(var, n, &["advance", "--wait"]));
        eprintln!(
            "{var}: {crashed} crashes at the {total} records of a run, each resumed consistently"
        );
        assert_eq!(
            crashed, total,
            "{var}: every crash point is reached: only {crashed} of {total} were"
        );
    }
}

/// The PostgreSQL store, crashed at each journal boundary through the
/// same seam (src/state/crash.rs): after a record is written in the
/// commit's transaction, before it commits (nothing of the commit lands);
/// after the commit. Each case has a database of its own; after the
/// resumed run, the systems' values are right and the checkpoint row is
/// exactly the fold of the journal's rows.
#[test]
fn a_crash_at_every_journal_boundary_of_the_postgresql_store_resumes_consistently() {
    let pg = crate::support::shared_postgres();
    let case = |tag: &str, n: u64| {
        let db = format!("crash_{tag}_{n}");
        pg.create_database(&db).unwrap();
        pg.url(&db)
    };
    let records = |url: &str| -> (Vec<migrate::state::Record>, migrate::state::State) {
        let db = url.rsplit('/').next().unwrap_or_default();
        let rows = pg
            .psql(
                db,
                "SELECT record::text FROM migrate_journal WHERE migration = 'crash' ORDER BY seq",
            )
            .unwrap();
        let records = rows
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let state = pg
            .psql(
                db,
                "SELECT state::text FROM migrate_state WHERE migration = 'crash'",
            )
            .unwrap();
        (records, serde_json::from_str(state.trim()).unwrap())
    };
    let check = |rig: &Rig, url: &str, context: &str| {
        assert_values(rig, context);
        let (recs, state) = records(url);
        assert_eq!(state.status, migrate::state::Status::Completed, "{context}");
        crate::rig::assert_consistent("crash", &recs, &state, context);
        recs.len() as u64
    };
    // The records of a whole run.
    let total = {
        let rig = rig();
        let url = case("probe", 0);
        let (code, out, err) = rig.run(&["--state-url", &url, "advance", "--wait"]);
        assert_eq!(code, 0, "{out}{err}");
        check(&rig, &url, "a run without crashes")
    };
    for (tag, var) in [
        ("record", "MIGRATE_TEST_CRASH_AFTER_RECORD"),
        ("commit", "MIGRATE_TEST_CRASH_AFTER_CHECKPOINT"),
    ] {
        let crashed = each(total, |n| {
            let rig = rig();
            let url = case(tag, n);
            let context = format!("PostgreSQL, {var}={n}");
            let args = ["--state-url", url.as_str(), "advance", "--wait"];
            let (code, out, err) =
                crate::rig::output(rig.command(&args).env(var, n.to_string()).output().unwrap());
            assert!(
                code == -1 && err.contains("test crash"),
                "{context}: expected a crash, got exit {code}: {out}{err}"
            );
            let (code, out, err) = rig.run(&args);
            assert_eq!(code, 0, "{context}: resuming: {out}{err}");
            check(&rig, &url, &context);
            true
        });
        eprintln!(
            "PostgreSQL, {var}: {crashed} crashes at the {total} records of a run, each resumed consistently"
        );
        assert_eq!(crashed, total, "{var}");
    }
}

#[test]
fn a_crash_at_every_journal_boundary_of_a_rollback_resumes_it() {
    // Halfway through the canary, then a rollback crashed at each of its
    // records, then `rollback` again: everything back at its baseline.
    let setup = || {
        let rig = rig();
        let (code, out, err) = rig.run(&["advance", "--wait", "--to", "canary.3"]);
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(rig.pct("lb"), 25.0);
        rig
    };
    let first = setup().records().len() as u64;
    let probe = setup();
    let (code, out, err) = probe.run(&["rollback"]);
    assert_eq!(code, 0, "{out}{err}");
    let total = probe.records().len() as u64;
    assert!(total > first + 3, "a rollback writes records");
    let check = |rig: &Rig, context: &str| {
        assert_eq!(rig.pct("lb"), 0.0, "{context}");
        assert_eq!(rig.pct("edge"), 0.0, "{context}");
        assert_eq!(
            rig.flag("dual-write")["defaultVariant"],
            "on",
            "{context}: keep_on_rollback"
        );
        assert!(
            rig.flag("rollout").get("targeting").is_none(),
            "{context}: the rollout flag is back as it was: {}",
            rig.flag("rollout")
        );
        assert_eq!(collapsed(&rig.log("lb.log")), ["5", "25", "0"], "{context}");
        assert_eq!(
            rig.state().status,
            migrate::state::Status::RolledBack,
            "{context}"
        );
        rig.assert_consistent(context);
    };
    check(&probe, "a rollback without crashes");
    for var in [
        "MIGRATE_TEST_CRASH_AFTER_RECORD",
        "MIGRATE_TEST_CRASH_AFTER_CHECKPOINT",
    ] {
        let crashed = each(total - first, |i| {
            let n = first + i;
            let rig = setup();
            let (code, out, err) = crate::rig::output(
                rig.command(&["rollback"])
                    .env(var, n.to_string())
                    .output()
                    .unwrap(),
            );
            assert!(
                code == -1 && err.contains("test crash"),
                "{var}={n}: {out}{err}"
            );
            let context = format!("rollback, {var}={n}");
            // advance refuses to go on over a rollback cut short.
            let (code, out, err) = rig.run(&["advance"]);
            assert!(
                code == 6 || code == 3,
                "{context}: advance: {code} {out}{err}"
            );
            let (code, out, err) = rig.run(&["rollback"]);
            assert_eq!(code, 0, "{context}: rollback again: {out}{err}");
            check(&rig, &context);
            true
        });
        eprintln!(
            "{var}: {crashed} crashes at the {} records of a rollback, each finished by a second rollback",
            total - first
        );
    }
}
