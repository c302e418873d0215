//! `migrate supervise` against real components: a canary soaking on a real
//! HAProxy, gated by a metrics page the test controls, with the state in a
//! real PostgreSQL and two supervisors — the active one killed -9 (or
//! stopped) mid-soak, the metric turned bad, and the standby tripping the
//! breaker, the proxy back on legacy, once. And with local state: one
//! supervisor trips on a breach, guards a paused soak, hands over
//! on SIGTERM; its /metrics and /healthz say what is going on.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use testbed::haproxy::Haproxy;
use testbed::http::{Response, Server};
use testbed::Guard;

use crate::support::shared_postgres as server;

/// A fresh database on the shared server; its URL, with a password that
/// must never be shown (the server trusts local connections).
fn database(name: &str) -> String {
    let pg = server();
    pg.create_database(name).unwrap();
    pg.url(name)
        .replace("postgres@", &format!("postgres:{PASSWORD}@"))
}

const PASSWORD: &str = "sup-Pw-83-never-shown";

/// A value the test sets, served as `error_ratio` on a metrics page.
pub(crate) struct Metric {
    value: Arc<Mutex<f64>>,
    pub(crate) server: Server,
}

impl Metric {
    fn start() -> Metric {
        let value = Arc::new(Mutex::new(0.0));
        let server = {
            let value = value.clone();
            Server::start(move |_| {
                Response::ok(format!(
                    "# TYPE error_ratio gauge\nerror_ratio {}\n",
                    *value.lock().unwrap()
                ))
            })
            .unwrap()
        };
        Metric { value, server }
    }

    pub(crate) fn set(&self, v: f64) {
        *self.value.lock().unwrap() = v;
    }
}

/// `migrate` with a clean environment plus `env`, in `dir`.
pub(crate) fn migrate(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_migrate"));
    cmd.env_clear();
    for name in ["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL"] {
        if let Some(v) = std::env::var_os(name) {
            cmd.env(name, v);
        }
    }
    cmd.env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .current_dir(dir)
        .arg("-f")
        .arg(dir.join("plan.yaml"))
        .args(args)
        .stdin(Stdio::null());
    cmd
}

pub(crate) fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let out = migrate(dir, env, args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains(PASSWORD), "{text}");
    (out.status.code().unwrap_or(-1), text)
}

/// A supervisor process, its output in files, TERM-then-KILLed when
/// dropped.
pub(crate) struct Supervisor {
    guard: Guard,
    pub(crate) port: u16,
    out: PathBuf,
    err: PathBuf,
}

impl Supervisor {
    pub(crate) fn start(dir: &Path, who: &str, env: &[(&str, &str)], extra: &[&str]) -> Supervisor {
        let port = testbed::free_port().unwrap();
        let out = dir.join(format!("{who}.out"));
        let err = dir.join(format!("{who}.err"));
        let listen = format!("127.0.0.1:{port}");
        let actor = format!("{who}@test");
        let mut env: Vec<(&str, &str)> = env.to_vec();
        env.push(("MIGRATE_ACTOR", &actor));
        let mut args = vec![
            "-o",
            "json",
            "supervise",
            "--listen",
            &listen,
            "--poll",
            "100ms",
        ];
        args.extend_from_slice(extra);
        let mut cmd = migrate(dir, &env, &args);
        cmd.stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap());
        let guard = Guard::spawn(who, &mut cmd).unwrap();
        Supervisor {
            guard,
            port,
            out,
            err,
        }
    }

    pub(crate) fn healthz(&self) -> Option<(u16, String)> {
        testbed::http::get(self.port, "/healthz").ok()
    }

    fn metrics(&self) -> String {
        testbed::http::get(self.port, "/metrics")
            .map(|(_, page)| page)
            .unwrap_or_default()
    }

    /// Wait (bounded) until /healthz answers `want` (e.g. "ok active").
    pub(crate) fn wait_health(&self, want: &str) {
        testbed::wait_until(
            &format!("supervisor on {} to be {want}: {}", self.port, self.log()),
            Duration::from_secs(60),
            || self.healthz().is_some_and(|(_, body)| body.trim() == want),
        )
        .unwrap();
    }

    pub(crate) fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub(crate) fn log(&self) -> String {
        format!(
            "{}{}",
            std::fs::read_to_string(&self.out).unwrap_or_default(),
            std::fs::read_to_string(&self.err).unwrap_or_default()
        )
    }

    /// The value of a sample of /metrics (the whole line's name and labels).
    pub(crate) fn sample(&self, series: &str) -> Option<f64> {
        metric(&self.metrics(), series)
    }

    /// SIGTERM, then the exit code (bounded wait).
    pub(crate) fn terminate(self) -> (i32, String) {
        self.stop_with("TERM")
    }

    /// A signal, then the exit code (bounded wait).
    fn stop_with(mut self, sig: &str) -> (i32, String) {
        self.guard.signal(sig).unwrap();
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.guard.child.try_wait() {
                return (status.code().unwrap_or(-1), self.log());
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the supervisor did not stop on SIGTERM: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn metric(page: &str, series: &str) -> Option<f64> {
    page.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Records of `history -o json --gates`.
pub(crate) fn journal(dir: &Path, env: &[(&str, &str)]) -> Vec<Value> {
    let (code, text) = run(dir, env, &["-o", "json", "history", "--gates"]);
    assert_eq!(code, 0, "{text}");
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("seq").is_some())
        .collect()
}

pub(crate) fn count(journal: &[Value], event: &str) -> usize {
    journal.iter().filter(|r| r["event"] == event).count()
}

pub(crate) fn wait(what: &str, mut ready: impl FnMut() -> bool) {
    testbed::wait_until(what, Duration::from_secs(60), &mut ready).unwrap();
}

/// A canary on a real HAProxy: legacy and candidate count their requests;
/// the plan's gate reads `error_ratio` from the test's page.
pub(crate) struct Canary {
    dir: tempfile::TempDir,
    pub(crate) haproxy: Haproxy,
    pub(crate) metric: Metric,
    legacy_hits: Arc<AtomicU64>,
    candidate_hits: Arc<AtomicU64>,
    _legacy: Server,
    _candidate: Server,
}

fn counting(name: &'static str, hits: Arc<AtomicU64>) -> Server {
    Server::start(move |_| {
        hits.fetch_add(1, Ordering::SeqCst);
        Response::ok(name)
    })
    .unwrap()
}

impl Canary {
    pub(crate) fn start(state: &str) -> Canary {
        Self::with_soak(state, "48h")
    }

    pub(crate) fn with_soak(state: &str, soak: &str) -> Canary {
        let legacy_hits = Arc::new(AtomicU64::new(0));
        let candidate_hits = Arc::new(AtomicU64::new(0));
        let legacy = counting("legacy", legacy_hits.clone());
        let candidate = counting("candidate", candidate_hits.clone());
        let haproxy = crate::rig::payments_haproxy_to(legacy.port, candidate.port);
        let metric = Metric::start();
        let dir = tempfile::Builder::new()
            .prefix("migrate-supervise-")
            .tempdir()
            .unwrap();
        let plan = format!(
            "version: 1
name: payments-canary
settings: {{ interval: 500ms, timeout: 2s, retries: 0, rollback_timeout: 10s{state} }}
providers:
  lb: {{ type: haproxy, socket: '{}', backend: payments, legacy: old, candidate: new }}
  app: {{ type: scrape, url: '{}' }}
gates:
  errors: {{ provider: app, query: error_ratio, max: 0.05 }}
phases:
  - name: canary
    steps:
      - traffic: {{ provider: lb, percent: 25 }}
      - soak: {soak}
        gates: [errors]
      - traffic: {{ provider: lb, percent: 100 }}
",
            haproxy.socket().display(),
            metric.server.url("/metrics"),
        );
        std::fs::write(dir.path().join("plan.yaml"), plan).unwrap();
        Canary {
            dir,
            haproxy,
            metric,
            legacy_hits,
            candidate_hits,
            _legacy: legacy,
            _candidate: candidate,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The candidate's share of the weights HAProxy holds now, in percent.
    pub(crate) fn weight_share(&self) -> f64 {
        let old = f64::from(self.haproxy.weight("old").unwrap());
        let new = f64::from(self.haproxy.weight("new").unwrap());
        if old + new == 0.0 {
            return 0.0;
        }
        100.0 * new / (old + new)
    }

    /// Send `n` requests through HAProxy; the share the candidate served.
    pub(crate) fn observed_share(&self, n: u64) -> f64 {
        let (l0, c0) = (
            self.legacy_hits.load(Ordering::SeqCst),
            self.candidate_hits.load(Ordering::SeqCst),
        );
        for _ in 0..n {
            let (status, _) = testbed::http::get(self.haproxy.port, "/pay").unwrap();
            assert_eq!(status, 200);
        }
        let l = self.legacy_hits.load(Ordering::SeqCst) - l0;
        let c = self.candidate_hits.load(Ordering::SeqCst) - c0;
        assert_eq!(l + c, n, "every request reached a backend");
        100.0 * c as f64 / n as f64
    }
}

/// The required scenario: two supervisors on PostgreSQL state; the active
/// one is killed -9 mid-soak; the metric goes bad; the standby trips the
/// breaker and HAProxy sends everything to legacy again; the journal shows
/// one breach and one rollback, and every change once.
#[test]
fn the_standby_restores_traffic_after_the_active_supervisor_is_killed() {
    let url = database("sup_kill");
    let canary = Canary::start("");
    let dir = canary.path();
    let env = [
        ("MIGRATE_STATE_URL", url.as_str()),
        ("MIGRATE_LEASE_MS", "1500"),
    ];
    // An operator starts the canary: 25% and the soak.
    let (code, text) = run(dir, &env, &["advance"]);
    assert_eq!(code, 4, "waiting in the soak: {text}");
    assert_eq!(canary.weight_share(), 25.0);
    canary.observed_share(100);

    let a = Supervisor::start(dir, "sup-a", &env, &[]);
    a.wait_health("ok active");
    let b = Supervisor::start(dir, "sup-b", &env, &[]);
    b.wait_health("ok standby");
    // A evaluates the gate on its interval; B does not.
    wait("sup-a to evaluate the gate twice", || {
        a.sample(r#"migrate_gate_evaluations_total{migration="payments-canary",gate="errors"}"#)
            .is_some_and(|n| n >= 2.0)
    });
    assert_eq!(b.sample("migrate_supervisor_active"), Some(0.0));
    assert_eq!(
        b.sample(r#"migrate_migration_state{migration="payments-canary",state="soaking"}"#),
        Some(1.0),
        "the standby reads the state too"
    );

    // kill -9 the active one.
    let mut a = a;
    let killed = Instant::now();
    a.guard.child.kill().unwrap();
    a.guard.child.wait().unwrap();
    b.wait_health("ok active");
    let failover = killed.elapsed();

    // The metric goes bad: the standby (now active) trips the breaker.
    let bad = Instant::now();
    canary.metric.set(0.5);
    wait("HAProxy to send nothing to the candidate", || {
        canary.haproxy.weight("new").unwrap() == 0
    });
    let restored = bad.elapsed();
    eprintln!(
        "supervise (PostgreSQL, kill -9, same host): failover {} ms, breach -> restored {} ms",
        failover.as_millis(),
        restored.as_millis()
    );
    assert!(canary.haproxy.weight("old").unwrap() > 0);
    assert_eq!(canary.observed_share(100), 0.0, "every request on legacy");

    // The journal: one breach, one rollback, by B; each change once.
    wait("the rollback to be journaled", || {
        count(&journal(dir, &env), "rollback_finished") == 1
    });
    let records = journal(dir, &env);
    assert_eq!(count(&records, "breach"), 1, "{records:#?}");
    assert_eq!(count(&records, "rollback_started"), 1, "{records:#?}");
    assert_eq!(count(&records, "restored"), 1, "{records:#?}");
    assert_eq!(count(&records, "applied"), 1, "{records:#?}");
    assert_eq!(count(&records, "step_done"), 1, "{records:#?}");
    let breach = records.iter().find(|r| r["event"] == "breach").unwrap();
    assert_eq!(breach["actor"], "sup-b@test", "{breach}");
    // B's stream: the breach and the rollback, named by migration.
    let events = b.events();
    assert!(
        events.iter().any(|e| e["type"] == "breach"
            && e["migration"] == "payments-canary"
            && e["gate"] == "errors"),
        "{}",
        b.log()
    );
    assert!(events
        .iter()
        .any(|e| e["type"] == "supervisor" && e["event"] == "active"));
    assert_eq!(
        b.sample(r#"migrate_breaker_trips_total{migration="payments-canary"}"#),
        Some(1.0)
    );
    assert_eq!(
        b.sample(r#"migrate_migration_state{migration="payments-canary",state="rolled_back"}"#),
        Some(1.0)
    );
    let (code, log) = b.terminate();
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains(PASSWORD), "{log}");
}

/// A supervisor that stalls (SIGSTOP) past its lease loses it: the standby
/// takes over when the lease runs out and trips the breaker; the stalled
/// one, resumed, finds it lost and acts no more. SIGTERM hands the lease
/// over at once (the lease here is far longer than the wait).
#[test]
fn a_stalled_supervisor_is_replaced_and_sigterm_hands_over_at_once() {
    let url = database("sup_stop");
    let canary = Canary::start("");
    let dir = canary.path();
    let short = [
        ("MIGRATE_STATE_URL", url.as_str()),
        ("MIGRATE_LEASE_MS", "1500"),
    ];
    let (code, text) = run(dir, &short, &["advance"]);
    assert_eq!(code, 4, "{text}");

    let a = Supervisor::start(dir, "sup-a", &short, &[]);
    a.wait_health("ok active");
    let b = Supervisor::start(dir, "sup-b", &short, &[]);
    b.wait_health("ok standby");
    let stopped = Instant::now();
    a.guard.signal("STOP").unwrap();
    b.wait_health("ok active");
    let failover = stopped.elapsed();
    canary.metric.set(0.5);
    let bad = Instant::now();
    wait("HAProxy back on legacy", || {
        canary.haproxy.weight("new").unwrap() == 0
    });
    let restored = bad.elapsed();
    eprintln!(
        "supervise (PostgreSQL, SIGSTOP: lease 1500 ms runs out): failover {} ms, breach -> restored {} ms",
        failover.as_millis(),
        restored.as_millis()
    );
    // A wakes up: it knows its lease is gone and does nothing more.
    a.guard.signal("CONT").unwrap();
    wait("sup-a to notice its lease is lost", || {
        a.events()
            .iter()
            .any(|e| e["type"] == "supervisor" && e["event"] == "lease_lost")
    });
    a.wait_health("ok standby");
    std::thread::sleep(Duration::from_secs(1));
    let records = journal(dir, &short);
    assert_eq!(count(&records, "breach"), 1, "{records:#?}");
    assert_eq!(count(&records, "rollback_started"), 1, "{records:#?}");
    assert!(
        records
            .iter()
            .filter(|r| r["event"] == "gate")
            .skip_while(|r| r["actor"] != "sup-b@test")
            .all(|r| r["actor"] == "sup-b@test"),
        "after the takeover only sup-b evaluates: {records:#?}"
    );
    let (code, log) = a.terminate();
    assert_eq!(code, 0, "{log}");
    let (code, log) = b.terminate();
    assert_eq!(code, 0, "{log}");

    // SIGTERM hand-over, with a 10-minute lease: only a release lets the
    // standby in within the wait.
    let long = [
        ("MIGRATE_STATE_URL", url.as_str()),
        ("MIGRATE_LEASE_MS", "600000"),
    ];
    let c = Supervisor::start(dir, "sup-c", &long, &[]);
    c.wait_health("ok active");
    let d = Supervisor::start(dir, "sup-d", &long, &[]);
    d.wait_health("ok standby");
    let asked = Instant::now();
    let (code, log) = c.terminate();
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("lease is released"), "{log}");
    d.wait_health("ok active");
    eprintln!(
        "supervise (PostgreSQL, SIGTERM): standby active {} ms after the signal",
        asked.elapsed().as_millis()
    );
    let (code, log) = d.terminate();
    assert_eq!(code, 0, "{log}");
}

/// Local state: one supervisor per state directory (a second stands by);
/// an operator's pause holds progress but not the breaker: a bad metric
/// while paused trips it; /metrics and /healthz show it; SIGTERM hands over.
#[test]
fn a_local_supervisor_guards_a_paused_soak_and_trips_the_breaker() {
    let canary = Canary::start("");
    let dir = canary.path();
    let (code, text) = run(dir, &[], &["advance"]);
    assert_eq!(code, 4, "{text}");
    let a = Supervisor::start(dir, "sup-a", &[], &[]);
    a.wait_health("ok active");
    let b = Supervisor::start(dir, "sup-b", &[], &[]);
    b.wait_health("ok standby");
    let page = a.metrics();
    for family in [
        "migrate_supervisor_active 1",
        "migrate_supervisor_role{role=\"active\"} 1",
        "migrate_migration_position{migration=\"payments-canary\"} 1",
        "migrate_migration_steps{migration=\"payments-canary\"} 3",
        "migrate_migration_step{migration=\"payments-canary\",step=\"canary.2\"} 1",
        "migrate_breaker_trips_total{migration=\"payments-canary\"} 0",
    ] {
        assert!(page.contains(family), "{family} in\n{page}");
    }
    wait("the supervisor to evaluate the gate", || {
        a.sample(r#"migrate_gate_evaluations_total{migration="payments-canary",gate="errors"}"#)
            .is_some_and(|n| n >= 1.0)
    });
    assert_eq!(
        a.sample(r#"migrate_gate_ok{migration="payments-canary",gate="errors"}"#),
        Some(1.0)
    );
    assert!(a
        .sample(r#"migrate_gate_value{migration="payments-canary",gate="errors"}"#)
        .is_some());

    // An operator pauses: progress is held, but the supervisor keeps
    // guarding the soak — it evaluates the gate and trips on a breach.
    let (code, text) = run(dir, &[], &["pause", "--reason", "looking at a dashboard"]);
    assert_eq!(code, 0, "{text}");
    wait("the supervisor to see the pause", || {
        a.events()
            .iter()
            .any(|e| e["event"] == "watching" && e["paused"] == true)
    });
    assert_eq!(
        a.sample(r#"migrate_migration_state{migration="payments-canary",state="paused"}"#),
        Some(1.0)
    );
    let evaluated = a
        .sample(r#"migrate_gate_evaluations_total{migration="payments-canary",gate="errors"}"#)
        .unwrap();
    wait("an evaluation while paused", || {
        a.sample(r#"migrate_gate_evaluations_total{migration="payments-canary",gate="errors"}"#)
            .is_some_and(|n| n > evaluated)
    });
    assert_eq!(canary.weight_share(), 25.0, "{}", a.log());
    canary.metric.set(0.5);
    wait("HAProxy back on legacy", || {
        canary.haproxy.weight("new").unwrap() == 0
    });
    assert_eq!(canary.observed_share(50), 0.0);
    wait("the trip on /metrics", || {
        a.sample(r#"migrate_breaker_trips_total{migration="payments-canary"}"#) == Some(1.0)
    });
    assert_eq!(
        a.sample(r#"migrate_rollbacks_total{migration="payments-canary",result="complete"}"#),
        Some(1.0)
    );
    let (code, text) = run(dir, &[], &["status"]);
    assert!(text.contains("rolled back"), "{code} {text}");
    let records = journal(dir, &[]);
    assert_eq!(count(&records, "breach"), 1, "{records:#?}");
    assert_eq!(count(&records, "rollback_started"), 1, "{records:#?}");

    // A damaged state is an unhealthy supervisor.
    let state = dir.join(".migrate/payments-canary/journal.ndjson");
    let good = std::fs::read(&state).unwrap();
    let mut damaged = good.clone();
    damaged.extend_from_slice(b"{ not json\n");
    std::fs::write(&state, damaged).unwrap();
    wait("/healthz to fail on the damaged state", || {
        a.healthz().is_some_and(|(status, body)| {
            status == 503 && body.contains("reading the state of payments-canary")
        })
    });
    std::fs::write(&state, good).unwrap();
    a.wait_health("ok active");

    // SIGTERM: the standby takes over at once; Ctrl-C (SIGINT) is 130.
    let (code, log) = a.terminate();
    assert_eq!(code, 0, "{log}");
    b.wait_health("ok active");
    let (code, log) = b.stop_with("INT");
    assert_eq!(code, 130, "{log}");
}

/// Startup errors: an invalid plan is exit 2 (shown with its place),
/// plans with their state in different places too, and nothing to watch.
#[test]
fn startup_errors_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("plan.yaml"),
        "version: 1\nname: a\nphases: []\nsettngs: {}\n",
    )
    .unwrap();
    let (code, text) = run(d, &[], &["supervise", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("settngs"), "{text}");
    let ok = |name: &str, state: &str| {
        format!("version: 1\nname: {name}\nsettings: {{ state: {{ backend: local, dir: {state} }} }}\nphases:\n  - name: p\n    steps:\n      - approve: go?\n")
    };
    std::fs::create_dir(d.join("plans")).unwrap();
    std::fs::write(d.join("plans/one.yaml"), ok("one", "s1")).unwrap();
    std::fs::write(d.join("plans/two.yaml"), ok("two", "s2")).unwrap();
    let (code, text) = run(d, &[], &["supervise", "--listen", "127.0.0.1:0", "plans"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("one supervisor watches the plans of one state backend"),
        "{text}"
    );
    std::fs::create_dir(d.join("empty")).unwrap();
    let (code, text) = run(d, &[], &["supervise", "--listen", "127.0.0.1:0", "empty"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("no plans to supervise"), "{text}");
    // Off loopback without a token, nothing is served: it does not start.
    let (code, text) = run(
        d,
        &[],
        &["supervise", "--listen", "0.0.0.0:0", "plans/one.yaml"],
    );
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("not a loopback address") && text.contains("MIGRATE_SUPERVISE_TOKEN"),
        "{text}"
    );
}

/// The fence itself: while a store is fenced by a supervisor lease, a
/// write is refused once another process holds that lease, even though
/// the writer still holds the migration's own lock; and a lease found
/// taken is no longer held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_under_a_lost_supervisor_lease_is_refused() {
    use migrate::state::postgres::{supervisor_key, PgLock, PgStore};
    use migrate::state::{Entry, Holder, State, Store, StoreError, Timestamp};
    let url = database("sup_fence");
    let key = supervisor_key("default");
    let now = || Timestamp::new(std::time::SystemTime::now());
    let holder = |actor: &str| Holder {
        actor: actor.into(),
        host: "elsewhere".into(),
        pid: 1,
        command: "test".into(),
        since: now(),
    };
    let lease_a = PgStore::with_lease(&url, &url, &key, Duration::from_millis(300)).unwrap();
    let held = lease_a
        .lock(&holder("sup-a"), Duration::ZERO, false)
        .await
        .unwrap();
    let pg = held.as_any().downcast_ref::<PgLock>().unwrap();
    assert!(!pg.held_for().is_zero());
    let m = PgStore::new(&url, &url, "m").unwrap();
    m.fence_with(Some((key.clone(), pg.token())));
    let g = m
        .lock(&holder("sup-a"), Duration::ZERO, false)
        .await
        .unwrap();
    let mut st = State::empty("m");
    m.commit(g.as_ref(), &mut st, "sup-a", now(), vec![Entry::Resumed])
        .await
        .unwrap();
    // Another supervisor takes the lease (as after an expiry).
    let lease_b = PgStore::with_lease(&url, &url, &key, Duration::from_secs(30)).unwrap();
    assert!(lease_b.break_lock().await.unwrap().is_some());
    let _b = lease_b
        .lock(&holder("sup-b"), Duration::ZERO, false)
        .await
        .unwrap();
    let err = m
        .commit(g.as_ref(), &mut st, "sup-a", now(), vec![Entry::Resumed])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Fenced(_)), "{err}");
    assert!(
        err.to_string()
            .contains("this supervisor no longer holds its lease"),
        "{err}"
    );
    assert!(!err.to_string().contains(PASSWORD), "{err}");
    assert_eq!(m.journal().await.unwrap().len(), 1, "nothing was written");
    // A's renewal finds the lease taken: no longer held.
    testbed::wait_until("the lease to be seen lost", Duration::from_secs(10), || {
        pg.held_for().is_zero()
    })
    .unwrap();
}

/// Alongside an operator: an `advance --wait` finishing the same soak
/// (each gate read once per interval, whoever reads it), then a `rollback`
/// from another terminal, which the supervisor notices and leaves alone.
#[test]
fn an_operators_advance_wait_and_rollback_work_alongside() {
    let canary = Canary::with_soak("", "4s");
    let dir = canary.path();
    let (code, text) = run(dir, &[], &["advance"]);
    assert_eq!(code, 4, "{text}");
    let a = Supervisor::start(dir, "sup-a", &[], &[]);
    a.wait_health("ok active");
    let (code, text) = run(
        dir,
        &[("MIGRATE_ACTOR", "ana@laptop")],
        &["advance", "--wait", "--steps", "1"],
    );
    assert_eq!(code, 0, "the operator's advance completes the soak: {text}");
    let records = journal(dir, &[]);
    let at = |r: &Value| humantime::parse_rfc3339(r["at"].as_str().unwrap()).unwrap();
    let readings: Vec<&Value> = records
        .iter()
        .filter(|r| r["event"] == "gate" && r["step"] == "canary.2")
        .collect();
    assert!(readings.len() >= 4, "{readings:#?}");
    assert!(
        a.events()
            .iter()
            .any(|e| e["event"] == "watching" && e["step"] == "canary.2"),
        "{}",
        a.log()
    );
    // The last reading is the soak's final one (its time is up); before it,
    // readings are an interval apart whoever took them.
    for pair in readings[..readings.len() - 1].windows(2) {
        let gap = at(pair[1]).duration_since(at(pair[0])).unwrap();
        assert!(
            gap >= Duration::from_millis(490),
            "two readings {} ms apart: {pair:#?}",
            gap.as_millis()
        );
    }
    assert_eq!(canary.weight_share(), 25.0, "stopped before the next step");
    // A rollback from another terminal: the supervisor leaves it be.
    let (code, text) = run(
        dir,
        &[("MIGRATE_ACTOR", "ana@laptop")],
        &["rollback", "--reason", "not today"],
    );
    assert_eq!(code, 0, "{text}");
    wait("the supervisor to see the rollback", || {
        a.events()
            .iter()
            .any(|e| e["event"] == "blocked" && e["outcome"] == "rolled_back")
    });
    let records = journal(dir, &[]);
    assert_eq!(count(&records, "rollback_started"), 1, "{records:#?}");
    assert_eq!(count(&records, "breach"), 0, "{records:#?}");
    assert_eq!(canary.weight_share(), 0.0);
    let (code, log) = a.terminate();
    assert_eq!(code, 0, "{log}");
}

/// `--advance`: the supervisor completes the soak and runs the next step,
/// as `advance --wait --all` would, to the end.
#[test]
fn with_advance_the_supervisor_carries_the_migration_to_the_end() {
    let canary = Canary::with_soak("", "2s");
    let dir = canary.path();
    let (code, text) = run(dir, &[], &["advance"]);
    assert_eq!(code, 4, "{text}");
    let a = Supervisor::start(dir, "sup-a", &[], &["--advance"]);
    a.wait_health("ok active");
    wait("the migration to complete", || {
        a.sample(r#"migrate_migration_state{migration="payments-canary",state="completed"}"#)
            == Some(1.0)
    });
    assert_eq!(canary.weight_share(), 100.0);
    let records = journal(dir, &[]);
    let done: Vec<(&str, &str)> = records
        .iter()
        .filter(|r| r["event"] == "step_done")
        .map(|r| (r["step"].as_str().unwrap(), r["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        done.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        ["canary.1", "canary.2", "canary.3"]
    );
    assert!(
        done[1..].iter().all(|(_, a)| *a == "sup-a@test"),
        "{done:?}"
    );
    let (code, log) = a.terminate();
    assert_eq!(code, 0, "{log}");
}

fn sqlite3(file: &Path, sql: &str) {
    let out = Command::new("sqlite3").arg(file).arg(sql).output().unwrap();
    assert!(
        out.status.success(),
        "sqlite3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The parity gate of a long soak reads a continuous reconciliation that
/// the supervisor follows itself (no `reconcile --follow` running): a copy
/// that goes wrong without its watermark moving is found by the rolling
/// sweep, the reading recorded, the gate breaches and traffic goes back.
#[test]
fn a_supervisor_follows_the_continuous_reconciliation_its_parity_gate_reads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (old, new) = (d.join("old.db"), d.join("new.db"));
    for f in [&old, &new] {
        sqlite3(
            f,
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, version INTEGER NOT NULL); \
             WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 1000) \
             INSERT INTO accounts SELECT n, 'owner ' || n, n FROM s;",
        );
    }
    let split = d.join("split.pct");
    std::fs::write(&split, "0\n").unwrap();
    std::fs::write(
        d.join("plan.yaml"),
        format!(
            r#"version: 1
name: accounts
settings: {{ interval: 300ms }}
providers:
  old: {{ type: sqlite, path: '{old}' }}
  new: {{ type: sqlite, path: '{new}' }}
  split:
    type: exec
    set: [sh, -c, 'echo {{{{percent}}}} > {split}.tmp && mv {split}.tmp {split}']
    get: [cat, '{split}']
reconciliations:
  accounts:
    source: {{ provider: old, table: accounts }}
    target: {{ provider: new, table: accounts }}
    key: [id]
    settle: 100ms
    continuous: {{ watermark: version, overlap: 5, every: 200ms, sweep_rows: 500 }}
gates:
  parity: {{ reconcile: accounts, min: 1.0, max_age: 1m }}
phases:
  - name: canary
    steps:
      - traffic: {{ provider: split, percent: 10 }}
      - soak: 10m
        gates: [parity]
"#,
            old = old.display(),
            new = new.display(),
            split = split.display(),
        ),
    )
    .unwrap();
    let (code, text) = run(d, &[], &["advance"]);
    assert_eq!(code, 4, "{text}");
    let pct = || std::fs::read_to_string(&split).unwrap_or_default();
    assert_eq!(pct().trim(), "10");
    let sup = Supervisor::start(d, "sup", &[], &[]);
    sup.wait_health("ok active");
    // Its first readings: a full sweep, then recorded.
    let journal = d.join(".migrate/accounts/journal.ndjson");
    let recorded = || {
        std::fs::read_to_string(&journal)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("migrate.reconcile.continuous/v1"))
            .count()
    };
    wait("the supervisor to record a complete reading", || {
        recorded() >= 1
    });
    assert_eq!(pct().trim(), "10", "equal tables: {}", sup.log());
    // The copy goes wrong; its watermark does not move.
    sqlite3(
        &new,
        "UPDATE accounts SET owner = 'someone else' WHERE id = 700;",
    );
    wait("the breaker to put the traffic back", || {
        pct().trim() == "0"
    });
    let breach = sup
        .events()
        .into_iter()
        .find(|e| e["type"] == "breach")
        .unwrap_or_else(|| panic!("no breach event: {}", sup.log()));
    assert_eq!(breach["gate"], "parity", "{breach}");
    assert!(recorded() >= 2, "the reading that showed the difference");
    // The target is put back before the rollback's end is journaled.
    let mut text = String::new();
    wait("the rollback to be journaled finished", || {
        let (code, out) = run(d, &[], &["-o", "json", "status"]);
        text = out;
        code == 0 && text.contains("\"status\":\"rolled_back\"")
    });
    assert!(text.contains("rolled_back"), "{text}");
}
