//! The PostgreSQL state backend against a real PostgreSQL: the store
//! itself (commits, replay, schema creation, the lease, fencing, takeover),
//! and the `migrate` binary racing, stalling, rolling back and riding out a
//! database restart on it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use migrate::state::postgres::PgStore;
use migrate::state::{Entry, Holder, State, StepInfo, Store, StoreError, Timestamp};
use testbed::postgres::Postgres;

use crate::support::shared_postgres as server;

/// A fresh database on the shared server; its URL.
fn database(name: &str) -> String {
    let pg = server();
    pg.create_database(name).unwrap();
    pg.url(name)
}

fn now() -> Timestamp {
    Timestamp::new(SystemTime::now())
}

fn holder(actor: &str) -> Holder {
    Holder {
        actor: actor.into(),
        host: migrate::state::hostname(),
        pid: std::process::id(),
        command: format!("test {actor}"),
        since: now(),
    }
}

fn store(url: &str, lease_ms: u64) -> PgStore {
    PgStore::with_lease(url, url, "m", Duration::from_millis(lease_ms)).unwrap()
}

fn started() -> Entry {
    Entry::Started {
        steps: (1..=3)
            .map(|i| StepInfo {
                id: format!("p.{i}"),
                phase: "p".into(),
                kind: "approve".into(),
                action: "wait".into(),
                digest: format!("d{i}"),
                keep_on_rollback: false,
                irreversible: false,
            })
            .collect(),
    }
}

fn done(step: &str) -> Entry {
    Entry::StepDone {
        step: step.into(),
        note: None,
    }
}

async fn state_of(s: &PgStore) -> State {
    s.load().await.unwrap().unwrap_or_else(|| State::empty("m"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_are_journaled_checkpointed_and_replayed() {
    let url = database("commits");
    let s = store(&url, 30_000);
    assert!(s.load().await.unwrap().is_none());
    assert!(s.journal().await.unwrap().is_empty());
    let g = s
        .lock(&holder("ana@box"), Duration::ZERO, false)
        .await
        .unwrap();
    let mut st = State::empty("m");
    s.commit(g.as_ref(), &mut st, "ana@box", now(), vec![started()])
        .await
        .unwrap();
    s.commit(
        g.as_ref(),
        &mut st,
        "ci@runner-7",
        now(),
        vec![done("p.1"), done("p.2")],
    )
    .await
    .unwrap();
    assert_eq!((st.serial, st.journal_seq, st.position), (3, 3, 2));
    // Another process sees the same state.
    let other = store(&url, 30_000);
    assert_eq!(other.load().await.unwrap().unwrap(), st);
    let records = other.journal().await.unwrap();
    assert_eq!(
        records
            .iter()
            .map(|r| (r.seq, r.actor.as_str(), r.entry.name()))
            .collect::<Vec<_>>(),
        vec![
            (1, "ana@box", "started"),
            (2, "ci@runner-7", "step_done"),
            (3, "ci@runner-7", "step_done")
        ]
    );
    assert_eq!(State::replay("m", &records), st);
    // The tables hold what an operator would query.
    let rows = server()
        .psql(
            "commits",
            "SELECT seq, actor, event FROM migrate_journal WHERE migration = 'm' ORDER BY seq",
        )
        .unwrap();
    assert_eq!(
        rows.trim(),
        "1|ana@box|started\n2|ci@runner-7|step_done\n3|ci@runner-7|step_done"
    );
    // A damaged checkpoint is reported, and rebuilt from the journal.
    server()
        .psql(
            "commits",
            "UPDATE migrate_state SET state = '{\"schema\": 1}' WHERE migration = 'm'",
        )
        .unwrap();
    let err = s.load().await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("migrate state rebuild"), "{err}");
    let rebuilt = s
        .rebuild(g.as_ref(), "ana@box", now(), "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rebuilt.state, st);
    assert!(rebuilt.record.is_none(), "the journal is whole: unchanged");
    assert_eq!(s.load().await.unwrap().unwrap(), st);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_is_created_once_by_concurrent_first_runs() {
    let url = database("schema");
    let stores: Vec<PgStore> = (0..8).map(|_| store(&url, 30_000)).collect();
    let loads = futures_util::future::join_all(stores.iter().map(|s| s.load())).await;
    for l in loads {
        assert!(l.unwrap().is_none());
    }
    // And again, from new processes: nothing more to do.
    store(&url, 30_000).load().await.unwrap();
    let versions = server()
        .psql(
            "schema",
            "SELECT version FROM migrate_schema ORDER BY version",
        )
        .unwrap();
    assert_eq!(versions.trim(), "1");
    let tables = server()
        .psql(
            "schema",
            "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE tablename LIKE 'migrate_%'",
        )
        .unwrap();
    assert_eq!(
        tables.trim(),
        "migrate_journal,migrate_lock,migrate_schema,migrate_state"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let url = database("newer");
    store(&url, 30_000).load().await.unwrap();
    server()
        .psql("newer", "INSERT INTO migrate_schema (version) VALUES (99)")
        .unwrap();
    let err = store(&url, 30_000).load().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("schema version 99, newer than this migrate knows"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lock_makes_others_wait_then_names_its_holder() {
    let url = database("held");
    let a = store(&url, 30_000);
    let b = store(&url, 30_000);
    let g = a
        .lock(&holder("ana@box"), Duration::ZERO, false)
        .await
        .unwrap();
    match b
        .lock(&holder("bo@box"), Duration::from_millis(300), false)
        .await
    {
        Err(StoreError::Locked(h)) => assert_eq!(h.actor, "ana@box"),
        other => panic!("expected Locked, got {:?}", other.map(|_| ())),
    }
    let (h, alive) = b.holder().await.unwrap().unwrap();
    assert_eq!((h.actor.as_str(), alive), ("ana@box", true));
    // Dropping the guard releases the lock at once, cleanly.
    drop(g);
    assert!(b.holder().await.unwrap().is_none());
    let g = b
        .lock(&holder("bo@box"), Duration::ZERO, false)
        .await
        .unwrap();
    assert!(g.stale_previous().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_is_renewed_while_the_lock_is_held() {
    let url = database("renewed");
    let a = store(&url, 2000);
    let b = store(&url, 2000);
    let _g = a
        .lock(&holder("ana@box"), Duration::ZERO, false)
        .await
        .unwrap();
    // The lease's end moves on, renewal after renewal (watched in the
    // table, not guessed from a clock): past the end of the first lease,
    // the holder still holds it.
    let expires = || -> f64 {
        let at = server()
            .psql(
                "renewed",
                "SELECT extract(epoch FROM expires_at) FROM migrate_lock WHERE migration = 'm'",
            )
            .unwrap();
        at.trim().parse().unwrap_or_else(|e| panic!("{e}: {at}"))
    };
    let mut seen = vec![expires()];
    while seen.len() < 4 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = expires();
        let last = seen[seen.len() - 1];
        if now != last {
            assert!(
                now > last,
                "the lease's end moves forward: {seen:?} then {now}"
            );
            seen.push(now);
        }
    }
    assert!(matches!(
        b.lock(&holder("bo@box"), Duration::from_millis(100), false)
            .await
            .map(|_| ()),
        Err(StoreError::Locked(_))
    ));
    assert!(b.holder().await.unwrap().unwrap().1);
}

/// Hold the lock from a runtime of its own, on a thread that then stalls
/// (its runtime runs nothing, lease renewal included) until told to go on
/// and commit. Returns what the commit returned.
fn stalled_writer(
    url: String,
    lease_ms: u64,
    locked: mpsc::Sender<()>,
    go: mpsc::Receiver<()>,
) -> std::thread::JoinHandle<Result<(), StoreError>> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let a = store(&url, lease_ms);
            let g = a
                .lock(&holder("stalled@box"), Duration::ZERO, false)
                .await
                .unwrap();
            let mut st = state_of(&a).await;
            locked.send(()).unwrap();
            // The stall: nothing on this runtime runs while it waits.
            go.recv().unwrap();
            a.commit(g.as_ref(), &mut st, "stalled@box", now(), vec![done("p.1")])
                .await
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_stalled_past_its_lease_is_fenced() {
    let url = database("stalled");
    let setup = store(&url, 300);
    {
        let g = setup
            .lock(&holder("ana@box"), Duration::ZERO, false)
            .await
            .unwrap();
        let mut st = State::empty("m");
        setup
            .commit(g.as_ref(), &mut st, "ana@box", now(), vec![started()])
            .await
            .unwrap();
    }
    let (locked_tx, locked_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    let writer = stalled_writer(url.clone(), 300, locked_tx, go_rx);
    locked_rx.recv().unwrap();
    // Another runner waits for the lease to run out, takes the lock (the
    // stalled holder shows as stale) and moves on.
    let b = store(&url, 300);
    let g = b
        .lock(&holder("bo@box"), Duration::from_secs(20), false)
        .await
        .unwrap();
    assert_eq!(
        g.stale_previous().map(|h| h.actor.as_str()),
        Some("stalled@box")
    );
    let mut st = state_of(&b).await;
    b.commit(g.as_ref(), &mut st, "bo@box", now(), vec![done("p.1")])
        .await
        .unwrap();
    drop(g);
    // The stalled writer wakes up: refused, and nothing of it was written.
    go_tx.send(()).unwrap();
    let err = writer.join().unwrap().unwrap_err();
    assert!(matches!(err, StoreError::Fenced(_)), "{err}");
    assert!(
        err.to_string().contains("no longer holds the lock"),
        "{err}"
    );
    let records = b.journal().await.unwrap();
    assert_eq!(
        records
            .iter()
            .map(|r| (r.actor.as_str(), r.entry.name()))
            .collect::<Vec<_>>(),
        vec![("ana@box", "started"), ("bo@box", "step_done")]
    );
    assert_eq!(state_of(&b).await.position, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lock_shows_as_stale_and_unlock_breaks_it() {
    let url = database("expired");
    let (locked_tx, locked_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    let writer = stalled_writer(url.clone(), 300, locked_tx, go_rx);
    locked_rx.recv().unwrap();
    let b = store(&url, 300);
    let (h, _) = b.holder().await.unwrap().unwrap();
    assert_eq!(h.actor, "stalled@box");
    let waited = std::time::Instant::now();
    while b.holder().await.unwrap().is_some_and(|(_, alive)| alive) {
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "the lease never ran out"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // `unlock` removes it; the holder's writes are refused from then on.
    let broken = b.break_lock().await.unwrap();
    assert_eq!(broken.map(|h| h.actor), Some("stalled@box".to_string()));
    assert!(b.holder().await.unwrap().is_none());
    go_tx.send(()).unwrap();
    let err = writer.join().unwrap().unwrap_err();
    assert!(matches!(err, StoreError::Fenced(_)), "{err}");
    assert!(b.journal().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_takes_a_live_lock_and_journals_whom_from() {
    let url = database("takeover");
    let a = store(&url, 30_000);
    let b = store(&url, 30_000);
    let ga = a
        .lock(&holder("ana@box"), Duration::ZERO, false)
        .await
        .unwrap();
    let mut sa = State::empty("m");
    a.commit(ga.as_ref(), &mut sa, "ana@box", now(), vec![started()])
        .await
        .unwrap();
    // No grace asked for: taken at once, from a live holder.
    let gb = b
        .lock(&holder("rollback@box"), Duration::ZERO, true)
        .await
        .unwrap();
    let records = b.journal().await.unwrap();
    let last = records.last().unwrap();
    assert_eq!(last.actor, "rollback@box");
    match &last.entry {
        Entry::LockBroken { holder } => assert!(holder.contains("ana@box"), "{holder}"),
        other => panic!("expected lock_broken, got {other:?}"),
    }
    let mut sb = state_of(&b).await;
    assert_eq!(sb.journal_seq, 2);
    b.commit(
        gb.as_ref(),
        &mut sb,
        "rollback@box",
        now(),
        vec![done("p.1")],
    )
    .await
    .unwrap();
    // The displaced holder's next write is refused.
    let err = a
        .commit(ga.as_ref(), &mut sa, "ana@box", now(), vec![done("p.1")])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Fenced(_)), "{err}");
    assert!(err.to_string().contains("rollback@box"), "{err}");
    assert_eq!(b.journal().await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_first_lets_a_live_holder_finish() {
    let url = database("grace");
    let a = store(&url, 30_000);
    let b = store(&url, 30_000);
    let ga = a
        .lock(&holder("ana@box"), Duration::ZERO, false)
        .await
        .unwrap();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(ga);
    });
    let _gb = b
        .lock(&holder("rollback@box"), Duration::from_secs(10), true)
        .await
        .unwrap();
    release.await.unwrap();
    // Released in time: nothing was broken.
    assert!(b.journal().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_missed_records_is_fenced_even_with_the_lock() {
    let url = database("missed");
    let a = store(&url, 30_000);
    let g = a
        .lock(&holder("ana@box"), Duration::ZERO, false)
        .await
        .unwrap();
    let mut st = State::empty("m");
    a.commit(g.as_ref(), &mut st, "ana@box", now(), vec![started()])
        .await
        .unwrap();
    let mut stale = st.clone();
    a.commit(g.as_ref(), &mut st, "ana@box", now(), vec![done("p.1")])
        .await
        .unwrap();
    let err = a
        .commit(g.as_ref(), &mut stale, "ana@box", now(), vec![done("p.1")])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Fenced(_)), "{err}");
    assert!(
        err.to_string().contains("it read 1 records, 2 are there"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_whose_process_died_here_is_stale_at_once() {
    let url = database("died");
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let dead = Holder {
        pid: child.id(),
        ..holder("gone@box")
    };
    let a = store(&url, 30_000);
    let g = a.lock(&dead, Duration::ZERO, false).await.unwrap();
    // The process dies without releasing (its guard is never dropped).
    std::mem::forget(g);
    child.kill().unwrap();
    child.wait().unwrap();
    let (h, alive) = a.holder().await.unwrap().unwrap();
    assert_eq!((h.actor.as_str(), alive), ("gone@box", false));
    let b = store(&url, 30_000);
    let g = b
        .lock(&holder("bo@box"), Duration::ZERO, false)
        .await
        .unwrap();
    assert_eq!(
        g.stale_previous().map(|h| h.actor.as_str()),
        Some("gone@box")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_racing_writers_append_each_record_once_in_order() {
    let url = database("race");
    let rounds = 12usize;
    let writers = 8usize;
    let tasks = (0..writers).map(|w| {
        let url = url.clone();
        tokio::spawn(async move {
            // A store (and pool) of its own: as a separate process would.
            let s = store(&url, 2_000);
            let me = format!("w{w}@box");
            for _ in 0..rounds {
                let g = s
                    .lock(&holder(&me), Duration::from_secs(60), false)
                    .await
                    .unwrap();
                let mut st = state_of(&s).await;
                // The next number is the number of records there.
                let n = st.journal_seq;
                s.commit(
                    g.as_ref(),
                    &mut st,
                    &me,
                    now(),
                    vec![Entry::Approved {
                        step: format!("n{n}"),
                    }],
                )
                .await
                .unwrap();
            }
        })
    });
    for t in futures_util::future::join_all(tasks).await {
        t.unwrap();
    }
    let records = store(&url, 2_000).journal().await.unwrap();
    assert_eq!(records.len(), rounds * writers);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1);
        match &r.entry {
            Entry::Approved { step } => assert_eq!(step, &format!("n{i}")),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_database_never_its_password() {
    let url = database("secret");
    let with_password = url.replace("postgres@", "postgres:pw-Zq81x@");
    let s =
        PgStore::with_lease(&with_password, &with_password, "m", Duration::from_secs(30)).unwrap();
    assert_eq!(
        s.location(),
        with_password.replace("pw-Zq81x", "***"),
        "the location masks the password"
    );
    // A database that does not exist: the server refuses at once.
    let missing = with_password.replace("/secret", "/no_such_db");
    let s = PgStore::with_lease(&missing, &missing, "m", Duration::from_secs(30)).unwrap();
    let err = s.load().await.unwrap_err().to_string();
    assert!(
        err.contains("PostgreSQL state at postgres://postgres:***@127.0.0.1:"),
        "{err}"
    );
    assert!(err.contains("no_such_db"), "{err}");
    assert!(!err.contains("pw-Zq81x"), "{err}");
    // Without a password there is nothing to hide: the database is named.
    let plain = url.replace("/secret", "/no_such_db_either");
    let s = PgStore::with_lease(&plain, &plain, "m", Duration::from_secs(30)).unwrap();
    let err = s.load().await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("PostgreSQL state at {plain}: ")),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Through the binary: runners are `migrate` processes sharing one state in
// PostgreSQL; their steps set an `exec` provider whose `set` appends the
// percent to a log file (`applied`), so every application is counted.

const PASSWORD: &str = "pw-Kx93-never-shown";

/// A plan with two `exec` routers keeping their split in files of `dir`:
/// `split` (log `applied`) and `gated` (log `gated.applied`), whose `get`
/// blocks, once, while a file `block` exists, until a file `go` appears:
/// a runner can be caught holding the lock before it has changed anything.
fn write_plan(dir: &Path, name: &str, settings: &str, steps: &str) -> PathBuf {
    let text = format!(
        r#"version: 1
name: {name}
settings: {{ timeout: 60s, retries: 0, interval: 1s{settings} }}
providers:
  split:
    type: exec
    set: [sh, -c, 'echo "$1" >> "$DIR/applied"; printf %s "$1" > "$DIR/current"', sh, "{{{{percent}}}}"]
    get: [sh, -c, 'cat "$DIR/current"']
    env: {{ DIR: "{dir}" }}
  gated:
    type: exec
    set: [sh, -c, 'echo "$1" >> "$DIR/gated.applied"; printf %s "$1" > "$DIR/gated.current"', sh, "{{{{percent}}}}"]
    get: [sh, -c, 'if [ -e "$DIR/block" ] && mkdir "$DIR/blocked" 2>/dev/null; then while [ ! -e "$DIR/go" ]; do sleep 0.05; done; fi; cat "$DIR/gated.current"']
    env: {{ DIR: "{dir}" }}
phases:
  - name: canary
    steps:
{steps}"#,
        dir = dir.display()
    );
    std::fs::write(dir.join("current"), "0").unwrap();
    std::fs::write(dir.join("gated.current"), "0").unwrap();
    let path = dir.join("plan.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn traffic_steps(provider: &str, percents: impl IntoIterator<Item = u32>) -> String {
    percents
        .into_iter()
        .map(|p| format!("      - traffic: {{ provider: {provider}, percent: {p} }}\n"))
        .collect()
}

/// The percents `split` was set to, in order, each application once.
fn applied(dir: &Path) -> Vec<u32> {
    log(dir, "applied")
}

fn log(dir: &Path, name: &str) -> Vec<u32> {
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

/// `migrate -f PLAN` with a clean environment plus `env`.
fn runner(plan: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_migrate"));
    cmd.env_clear();
    for name in ["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL"] {
        if let Some(v) = std::env::var_os(name) {
            cmd.env(name, v);
        }
    }
    cmd.env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .current_dir(plan.parent().unwrap())
        .arg("-f")
        .arg(plan)
        .stdin(Stdio::null());
    cmd
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn text(&self) -> String {
        format!("exit {}\n{}{}", self.code, self.stdout, self.stderr)
    }
}

fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The URL of a fresh database on the shared server, with a password
/// (the server trusts local connections, so it is never asked for: it
/// only has to stay out of every output).
fn database_with_password(name: &str) -> String {
    database(name).replace("postgres@", &format!("postgres:{PASSWORD}@"))
}

/// The journal, as `history -o json` prints it.
fn history(plan: &Path, env: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let r = run(runner(plan, env).args(["-o", "json", "history", "--gates"]));
    assert_eq!(r.code, 0, "{}", r.text());
    r.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Steps done, with who did them, from the journal.
fn steps_done(journal: &[serde_json::Value]) -> Vec<(String, String)> {
    journal
        .iter()
        .filter(|r| r["event"] == "step_done")
        .map(|r| {
            (
                r["step"].as_str().unwrap().to_string(),
                r["actor"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn eight_runners_racing_advance_apply_every_step_once_in_order() {
    let url = database_with_password("race_cli");
    let dir = tempfile::tempdir().unwrap();
    let steps = 24u32;
    let plan = write_plan(dir.path(), "race", "", &traffic_steps("split", 1..=steps));
    let runners: Vec<_> = (0..8)
        .map(|i| {
            let plan = plan.clone();
            let url = url.clone();
            std::thread::spawn(move || {
                let actor = format!("runner-{i}@ci");
                let env = [
                    ("MIGRATE_STATE_URL", url.as_str()),
                    ("MIGRATE_ACTOR", actor.as_str()),
                ];
                // Bounded: 24 steps need far fewer rounds than this.
                for _ in 0..200 {
                    let r =
                        run(runner(&plan, &env).args(["-o", "json", "advance", "--steps", "1"]));
                    assert!(!r.text().contains(PASSWORD), "{}", r.text());
                    match r.code {
                        0 if r.stdout.contains(r#""outcome":"completed""#) => return,
                        0 => {}
                        // Waited its 10 s for the lock: try again.
                        5 => {}
                        _ => panic!("runner {i}: {}", r.text()),
                    }
                }
                panic!("runner {i} never saw the migration complete");
            })
        })
        .collect();
    for r in runners {
        r.join().unwrap();
    }
    assert_eq!(applied(dir.path()), (1..=steps).collect::<Vec<_>>());
    let env = [("MIGRATE_STATE_URL", url.as_str())];
    let journal = history(&plan, &env);
    let done = steps_done(&journal);
    assert_eq!(
        done.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>(),
        (1..=steps)
            .map(|i| format!("canary.{i}"))
            .collect::<Vec<_>>(),
        "each step done once, in order"
    );
    assert!(done.iter().all(|(_, a)| a.starts_with("runner-")));
    assert_eq!(
        journal.iter().filter(|r| r["event"] == "started").count(),
        1
    );
    // The human history shows who made each change.
    let table = run(runner(&plan, &env).arg("history"));
    assert!(table.stdout.contains("Actor"), "{}", table.text());
    assert!(table.stdout.contains(&done[0].1), "{}", table.text());
    // Nothing was kept locally; the state is shown as where it came from.
    assert!(!dir.path().join(".migrate").exists());
    let st = run(runner(&plan, &env).arg("status"));
    assert!(
        st.stdout.contains("(state ${MIGRATE_STATE_URL}, serial "),
        "{}",
        st.text()
    );
}

/// Wait (bounded) for a condition checked with psql.
fn wait_for_sql(db: &str, sql: &str, want: &str) {
    testbed::wait_until(&format!("{sql} = {want}"), Duration::from_secs(60), || {
        server().psql(db, sql).is_ok_and(|out| out.trim() == want)
    })
    .unwrap();
}

#[test]
fn a_runner_stopped_past_its_lease_is_refused_when_it_resumes() {
    let url = database_with_password("stopped_cli");
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        "stop",
        "",
        &traffic_steps("gated", [10, 20, 30]),
    );
    let lease = ("MIGRATE_LEASE_MS", "1000");
    let env_a = [
        ("MIGRATE_STATE_URL", url.as_str()),
        ("MIGRATE_ACTOR", "runner-a@ci"),
        lease,
    ];
    // A starts, takes the lock, and is caught reading step 1's target.
    std::fs::write(dir.path().join("block"), "").unwrap();
    let mut cmd = runner(&plan, &env_a);
    cmd.args(["advance", "--steps", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut a = testbed::Guard::spawn("runner a", &mut cmd).unwrap();
    testbed::wait_until("runner a to hold the lock", Duration::from_secs(60), || {
        dir.path().join("blocked").exists()
    })
    .unwrap();
    a.signal("STOP").unwrap();
    // Its lease runs out (nothing renews it while it is stopped) ...
    wait_for_sql(
        "stopped_cli",
        "SELECT expires_at < clock_timestamp() FROM migrate_lock WHERE migration = 'stop'",
        "t",
    );
    // ... and B takes over the migration and completes it.
    let b = run(runner(
        &plan,
        &[
            ("MIGRATE_STATE_URL", url.as_str()),
            ("MIGRATE_ACTOR", "runner-b@ci"),
            lease,
        ],
    )
    .arg("advance"));
    assert_eq!(b.code, 0, "{}", b.text());
    assert!(
        b.stderr.contains("an earlier run by runner-a@ci"),
        "{}",
        b.text()
    );
    assert_eq!(log(dir.path(), "gated.applied"), [10, 20, 30]);
    // A wakes up: its write is refused, it changes nothing, exit 1.
    std::fs::write(dir.path().join("go"), "").unwrap();
    a.signal("CONT").unwrap();
    let out = std::mem::replace(&mut a.child, Command::new("true").spawn().unwrap())
        .wait_with_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no longer holds the lock"), "{stderr}");
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    assert_eq!(
        log(dir.path(), "gated.applied"),
        [10, 20, 30],
        "nothing applied twice"
    );
    let journal = history(&plan, &env_a);
    let by_a: Vec<_> = journal
        .iter()
        .filter(|r| r["actor"] == "runner-a@ci")
        .map(|r| r["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(by_a, ["started"], "A wrote nothing after its stall");
    assert_eq!(
        steps_done(&journal),
        [
            ("canary.1".to_string(), "runner-b@ci".to_string()),
            ("canary.2".to_string(), "runner-b@ci".to_string()),
            ("canary.3".to_string(), "runner-b@ci".to_string())
        ]
    );
}

#[test]
fn rollback_takes_over_from_a_stuck_runner_and_unlock_shows_the_holder() {
    let url = database_with_password("takeover_cli");
    let dir = tempfile::tempdir().unwrap();
    let steps = traffic_steps("split", [10]) + &traffic_steps("gated", [20]);
    let plan = write_plan(dir.path(), "stuck", "", &steps);
    // A lease far longer than the test: only the takeover can free it.
    let lease = ("MIGRATE_LEASE_MS", "600000");
    let env = [("MIGRATE_STATE_URL", url.as_str()), lease];
    let first = run(runner(&plan, &env).args(["advance", "--steps", "1"]));
    assert_eq!(first.code, 0, "{}", first.text());
    std::fs::write(dir.path().join("block"), "").unwrap();
    let mut cmd = runner(
        &plan,
        &[
            ("MIGRATE_STATE_URL", url.as_str()),
            ("MIGRATE_ACTOR", "stuck@runner-3"),
            lease,
        ],
    );
    cmd.args(["advance", "--steps", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut a = testbed::Guard::spawn("stuck runner", &mut cmd).unwrap();
    testbed::wait_until(
        "the runner to hold the lock",
        Duration::from_secs(60),
        || dir.path().join("blocked").exists(),
    )
    .unwrap();
    a.signal("STOP").unwrap();
    // unlock names the live holder and leaves it (exit 5).
    let u = run(runner(&plan, &env).arg("unlock"));
    assert_eq!(u.code, 5, "{}", u.text());
    assert!(u.stdout.contains("stuck@runner-3"), "{}", u.text());
    assert!(u.stdout.contains("It is alive"), "{}", u.text());
    // A rollback does not wait for the lease.
    let rb = run(runner(
        &plan,
        &[
            ("MIGRATE_STATE_URL", url.as_str()),
            ("MIGRATE_ACTOR", "oncall@laptop"),
            lease,
        ],
    )
    .arg("rollback"));
    assert_eq!(rb.code, 0, "{}", rb.text());
    assert_eq!(applied(dir.path()), [10, 0]);
    let journal = history(&plan, &env);
    let broken = journal
        .iter()
        .find(|r| r["event"] == "lock_broken")
        .expect("the takeover is journaled");
    assert_eq!(broken["actor"], "oncall@laptop");
    assert!(
        broken["holder"]
            .as_str()
            .unwrap()
            .contains("stuck@runner-3"),
        "{broken}"
    );
    std::fs::write(dir.path().join("go"), "").unwrap();
    a.signal("CONT").unwrap();
    let out = std::mem::replace(&mut a.child, Command::new("true").spawn().unwrap())
        .wait_with_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no longer holds the lock"), "{stderr}");
    assert_eq!(applied(dir.path()), [10, 0]);
    assert_eq!(
        log(dir.path(), "gated.applied"),
        Vec::<u32>::new(),
        "the stuck runner set nothing"
    );
    let st = run(runner(&plan, &env).arg("status"));
    assert!(st.stdout.contains("rolled back"), "{}", st.text());
}

#[test]
fn a_rollback_stops_a_runner_soaking_elsewhere() {
    let url = database_with_password("soak_cli");
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        "soak",
        "",
        "      - traffic: { provider: split, percent: 10 }\n      - soak: 1h\n      - traffic: { provider: split, percent: 50 }\n",
    );
    let mut cmd = runner(
        &plan,
        &[
            ("MIGRATE_STATE_URL", url.as_str()),
            ("MIGRATE_ACTOR", "ci@runner-1"),
        ],
    );
    cmd.args(["advance", "--wait"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut soaker = testbed::Guard::spawn("soaker", &mut cmd).unwrap();
    wait_for_sql(
        "soak_cli",
        "SELECT state ? 'soak' FROM migrate_state WHERE migration = 'soak'",
        "t",
    );
    let rb = run(runner(
        &plan,
        &[
            ("MIGRATE_STATE_URL", url.as_str()),
            ("MIGRATE_ACTOR", "oncall@laptop"),
        ],
    )
    .args(["rollback", "--reason", "latency on the new service"]));
    assert_eq!(rb.code, 0, "{}", rb.text());
    let out = std::mem::replace(&mut soaker.child, Command::new("true").spawn().unwrap())
        .wait_with_output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("oncall@laptop rolled the migration back"),
        "{stdout}"
    );
    assert!(stdout.contains("latency on the new service"), "{stdout}");
    assert_eq!(applied(dir.path()), [10, 0]);
}

#[test]
fn the_database_restarting_mid_run_is_a_clear_error_then_the_run_resumes() {
    let pg = Postgres::start().unwrap();
    pg.create_database("restart").unwrap();
    let url = pg
        .url("restart")
        .replace("postgres@", &format!("postgres:{PASSWORD}@"));
    let dir = tempfile::tempdir().unwrap();
    let steps = 10u32;
    let plan = write_plan(
        dir.path(),
        "restart",
        "",
        &traffic_steps("split", 1..=steps),
    );

    // A runner advancing step by step while the database goes away and
    // comes back: every run either succeeds or fails clearly; the next one
    // carries on.
    let failures = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let worker = {
        let plan = plan.clone();
        let url = url.clone();
        let failures = failures.clone();
        std::thread::spawn(move || {
            for _ in 0..200 {
                let r = run(runner(&plan, &[]).args([
                    "--state-url",
                    &url,
                    "-o",
                    "json",
                    "advance",
                    "--steps",
                    "1",
                ]));
                assert!(!r.text().contains(PASSWORD), "{}", r.text());
                match r.code {
                    0 if r.stdout.contains(r#""outcome":"completed""#) => return,
                    0 => {}
                    1 => failures.lock().unwrap().push(r.stderr),
                    _ => panic!("{}", r.text()),
                }
            }
            panic!("the migration never completed");
        })
    };
    testbed::wait_until("a few steps", Duration::from_secs(60), || {
        applied(dir.path()).len() >= 3
    })
    .unwrap();
    // Down until a run has failed for it (a run waits up to 10 s for a
    // connection), then back.
    pg.stop().unwrap();
    testbed::wait_until(
        "a run failing for the database",
        Duration::from_secs(120),
        || !failures.lock().unwrap().is_empty(),
    )
    .unwrap();
    pg.start_again().unwrap();
    worker.join().unwrap();
    let failures = failures.lock().unwrap().clone();
    assert!(!failures.is_empty());
    for f in &failures {
        assert!(
            f.contains("PostgreSQL state at postgres://postgres:***@127.0.0.1:"),
            "{f}"
        );
        assert!(
            f.contains("Run the command again when the database is back"),
            "{f}"
        );
    }
    // An application may be repeated (a set whose record was lost with
    // the connection is made again, absolutely), never skipped or reordered.
    let mut seen = applied(dir.path());
    seen.dedup();
    assert_eq!(seen, (1..=steps).collect::<Vec<_>>());

    // Down while a runner soaks: it stops with a clear error naming the
    // database (as the plan shows its URL), and the next run resumes.
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        "restart-soak",
        ", state: { backend: postgres, url: \"${STATE_URL}\" }",
        "      - traffic: { provider: split, percent: 10 }\n      - soak: 2s\n      - traffic: { provider: split, percent: 20 }\n",
    );
    let env = [("STATE_URL", url.as_str())];
    let mut cmd = runner(&plan, &env);
    cmd.args(["advance", "--wait"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let soaker = testbed::Guard::spawn("soaker", &mut cmd).unwrap();
    testbed::wait_until("the soak", Duration::from_secs(60), || {
        applied(dir.path()) == [10]
    })
    .unwrap();
    pg.stop().unwrap();
    let mut soaker = soaker;
    let out = std::mem::replace(&mut soaker.child, Command::new("true").spawn().unwrap())
        .wait_with_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("PostgreSQL state at ${STATE_URL}: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("Run the command again when the database is back"),
        "{stderr}"
    );
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    pg.start_again().unwrap();
    let r = run(runner(&plan, &env).args(["advance", "--wait"]));
    assert_eq!(r.code, 0, "{}", r.text());
    // Stopped between setting 10 and recording it, the next run sets 10
    // again rather than taking it for drift.
    let mut seen = applied(dir.path());
    seen.dedup();
    assert_eq!(seen, [10, 20]);
}

#[test]
fn state_push_and_pull_move_a_migration_between_backends() {
    let url = database_with_password("push_cli");
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "moving", "", &traffic_steps("split", [10, 20]));
    let local: [(&str, &str); 0] = [];
    let remote = [("MIGRATE_STATE_URL", url.as_str())];
    // Started locally.
    let r = run(runner(&plan, &local).args(["advance", "--steps", "1"]));
    assert_eq!(r.code, 0, "{}", r.text());
    let local_journal = history(&plan, &local);
    // Pushed.
    let r = run(runner(&plan, &local).args(["state", "push", "--state-url", &url]));
    assert_eq!(r.code, 0, "{}", r.text());
    assert!(r.stdout.contains("Copied migration moving"), "{}", r.text());
    assert!(!r.text().contains(PASSWORD), "{}", r.text());
    assert_eq!(history(&plan, &remote), local_journal);
    // Not twice, unless forced.
    let r = run(runner(&plan, &local).args(["state", "push", "--state-url", &url]));
    assert_eq!(r.code, 2, "{}", r.text());
    assert!(r.stderr.contains("already has state"), "{}", r.text());
    assert!(r.stderr.contains("--force"), "{}", r.text());
    let r = run(runner(&plan, &local).args(["state", "push", "--force", "--state-url", &url]));
    assert_eq!(r.code, 0, "{}", r.text());
    // Carried on in PostgreSQL, where it is complete.
    let r = run(runner(&plan, &remote).arg("advance"));
    assert_eq!(r.code, 0, "{}", r.text());
    assert_eq!(applied(dir.path()), [10, 20]);
    let remote_journal = history(&plan, &remote);
    assert!(remote_journal.len() > local_journal.len());
    // Pulled back: refused over the local copy, then forced; the local copy
    // it replaced is kept beside it.
    let r = run(runner(&plan, &remote).args(["state", "pull"]));
    assert_eq!(r.code, 2, "{}", r.text());
    let r = run(runner(&plan, &remote).args(["state", "pull", "--force"]));
    assert_eq!(r.code, 0, "{}", r.text());
    assert_eq!(history(&plan, &local), remote_journal);
    let st = run(runner(&plan, &local).arg("status"));
    assert!(st.stdout.contains("completed"), "{}", st.text());
    let kept = std::fs::read_dir(dir.path().join(".migrate/moving"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("journal.ndjson.replaced-")
        })
        .count();
    assert_eq!(kept, 1);
    // Push needs somewhere to push to; --state-dir and --state-url conflict.
    let r = run(runner(&plan, &local).args(["state", "push"]));
    assert_eq!(r.code, 2, "{}", r.text());
    assert!(r.stderr.contains("--state-url"), "{}", r.text());
    let r = run(runner(&plan, &remote).args(["--state-dir", "elsewhere", "status"]));
    assert_eq!(r.code, 2, "{}", r.text());
}

#[test]
fn unlock_force_breaks_a_live_lease_and_its_holder_is_refused() {
    let url = database_with_password("unlock_cli");
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "m", "", &traffic_steps("split", [10]));
    let env = [
        ("MIGRATE_STATE_URL", url.as_str()),
        ("MIGRATE_ACTOR", "oncall@laptop"),
    ];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let s = PgStore::with_lease(&url, &url, "m", Duration::from_secs(600)).unwrap();
    let g = rt
        .block_on(s.lock(&holder("wedged@runner-5"), Duration::ZERO, false))
        .unwrap();
    let mut st = rt.block_on(state_of(&s));
    let u = run(runner(&plan, &env).arg("unlock"));
    assert_eq!(u.code, 5, "{}", u.text());
    assert!(u.stdout.contains("wedged@runner-5"), "{}", u.text());
    let u = run(runner(&plan, &env).args(["unlock", "--force"]));
    assert_eq!(u.code, 0, "{}", u.text());
    assert!(
        u.stdout.contains("Broke the lock held by wedged@runner-5"),
        "{}",
        u.text()
    );
    let err = rt
        .block_on(s.commit(
            g.as_ref(),
            &mut st,
            "wedged@runner-5",
            now(),
            vec![started()],
        ))
        .unwrap_err();
    assert!(matches!(err, StoreError::Fenced(_)), "{err}");
    let journal = history(&plan, &env);
    let broken: Vec<_> = journal
        .iter()
        .filter(|r| r["event"] == "lock_broken")
        .collect();
    assert_eq!(broken.len(), 1, "{journal:?}");
    assert_eq!(broken[0]["actor"], "oncall@laptop");
    assert!(broken[0]["holder"]
        .as_str()
        .unwrap()
        .contains("wedged@runner-5"));
    drop(g);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_let_go_of_while_the_database_was_away_is_not_held_against_its_process() {
    let pg = Postgres::start().unwrap();
    pg.create_database("away").unwrap();
    let url = pg.url("away");
    let a = store(&url, 600_000);
    let g = a
        .lock(&holder("ana@box"), Duration::ZERO, false)
        .await
        .unwrap();
    pg.stop().unwrap();
    // The release cannot reach the database: the lease stays.
    drop(g);
    pg.start_again().unwrap();
    let b = store(&url, 600_000);
    assert!(b.holder().await.unwrap().is_some_and(|(_, alive)| alive));
    // Another process waits for the lease ...
    assert!(matches!(
        b.lock(&holder("bo@box"), Duration::ZERO, false)
            .await
            .map(|_| ()),
        Err(StoreError::Locked(_))
    ));
    // ... but the process that let go of it takes it again at once.
    let g = a
        .lock(&holder("ana@box"), Duration::ZERO, false)
        .await
        .unwrap();
    assert!(g.stale_previous().is_none());
}

#[test]
fn a_row_that_does_not_decode_a_lost_journal_and_a_damaged_checkpoint_are_recovered() {
    let url = database("damage_cli");
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "pgd", "", &traffic_steps("split", [10, 20, 30]));
    let env = [("MIGRATE_STATE_URL", url.as_str())];
    let sql = |q: &str| server().psql("damage_cli", q).unwrap().trim().to_string();
    let r = run(runner(&plan, &env).args(["advance", "--steps", "2"]));
    assert_eq!(r.code, 0, "{}", r.text());
    let before = history(&plan, &env);

    // A row that is JSON but no record (a secret in it).
    sql(
        r#"UPDATE migrate_journal SET record = '{"v":1,"seq":3,"token":"hunter2"}' WHERE migration = 'pgd' AND seq = 3"#,
    );
    // The state reads only the records after its checkpoint; the whole
    // journal is read by history (and by the rebuild).
    let r = run(runner(&plan, &env).arg("status"));
    assert_eq!(r.code, 0, "{}", r.text());
    let r = run(runner(&plan, &env).arg("history"));
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(
        r.stderr.contains("journal record 3") && r.stderr.contains("migrate state rebuild"),
        "{}",
        r.text()
    );
    assert!(!r.text().contains("hunter2"), "{}", r.text());
    let r = run(runner(&plan, &env).args(["state", "rebuild"]));
    assert_eq!(r.code, 0, "{}", r.text());
    assert!(!r.text().contains("hunter2"), "{}", r.text());
    assert!(r.stdout.contains("Skipped record 3"), "{}", r.text());
    assert!(r.stdout.contains("Missing record 3"), "{}", r.text());
    // Kept aside under another name, not deleted.
    assert_eq!(
        sql("SELECT count(*) FROM migrate_journal WHERE migration LIKE 'pgd#damaged-%'"),
        "1"
    );
    let after = history(&plan, &env);
    let mut want = before.clone();
    want.remove(2);
    assert_eq!(&after[..want.len()], &want[..]);
    assert_eq!(after.len(), want.len() + 1);
    assert_eq!(after[want.len()]["event"], "recovered");
    let r = run(runner(&plan, &env).arg("status"));
    assert_eq!(r.code, 0, "{}", r.text());

    // The journal lost: started again from the checkpoint.
    sql("DELETE FROM migrate_journal WHERE migration = 'pgd'");
    let r = run(runner(&plan, &env).arg("status"));
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(r.stderr.contains("new journal"), "{}", r.text());
    let r = run(runner(&plan, &env).args(["state", "rebuild"]));
    assert_eq!(r.code, 0, "{}", r.text());
    assert!(r.stdout.contains("The journal was lost"), "{}", r.text());
    let r = run(runner(&plan, &env).args(["advance", "--steps", "1"]));
    assert_eq!(r.code, 0, "{}", r.text());
    assert_eq!(applied(dir.path()), [10, 20, 30]);

    // A damaged checkpoint: rollback rebuilds it by itself.
    sql(r#"UPDATE migrate_state SET state = '{"schema": 1}' WHERE migration = 'pgd'"#);
    let r = run(runner(&plan, &env).arg("rollback"));
    assert_eq!(r.code, 0, "{}", r.text());
    assert!(r.stderr.contains("rebuilt the state"), "{}", r.text());
    assert_eq!(applied(dir.path()), [10, 20, 30, 0]);
    let r = run(runner(&plan, &env).arg("status"));
    assert_eq!(r.code, 0, "{}", r.text());
    assert!(r.stdout.contains("rolled back"), "{}", r.text());

    // Nothing readable at all: said so.
    sql("DELETE FROM migrate_journal WHERE migration = 'pgd'");
    sql(r#"UPDATE migrate_state SET state = '{"schema": 1}' WHERE migration = 'pgd'"#);
    let r = run(runner(&plan, &env).arg("rollback"));
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(r.stderr.contains("nothing recoverable"), "{}", r.text());
}

#[test]
fn a_second_migration_in_the_same_database_may_not_drive_a_target_another_drives() {
    let url = database("two_drivers");
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("MIGRATE_STATE_URL", url.as_str()),
        ("MIGRATE_ACTOR", "ops@ci"),
    ];
    let steps = format!("{}      - approve: go on?\n", traffic_steps("split", [10]));
    let first = write_plan(dir.path(), "first", "", &steps);
    let r = run(runner(&first, &env).arg("advance"));
    assert_eq!(r.code, 4, "waits for the approval: {}", r.text());
    // Another migration of the same database, the same provider; its live
    // share put back to 0 by hand, so only the other migration's claim
    // stands in the way.
    let second = write_plan(dir.path(), "second", "", &steps);
    let r = run(runner(&second, &env).arg("advance"));
    assert_eq!(r.code, 2, "refused: {}", r.text());
    assert!(
        r.stderr.contains("traffic via split") && r.stderr.contains("migration 'first'"),
        "names the target and the migration that drives it: {}",
        r.text()
    );
    assert_eq!(applied(dir.path()), [10], "nothing set by the second");
    let journal = history(&second, &env);
    assert!(
        !journal.iter().any(|r| r["event"] == "baseline"),
        "no baseline recorded: {journal:?}"
    );
}
