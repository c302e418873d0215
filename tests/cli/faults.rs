//! Provider faults through the binary, each with the behaviour
//! RELIABILITY.md documents: a metrics endpoint down, slow past its
//! timeout, answering garbage, NaN or nothing (no data: the gate's
//! `no_data` policy decides); a flag service answering 500 or never; a
//! real HAProxy whose admin socket disappears mid-run; a rollback during
//! which one target keeps failing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use testbed::http::{Response, Server};

use crate::rig::{exec_provider, Rig};

/// What a metrics endpoint does wrong.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    Healthy,
    Down,
    Slow,
    Garbage,
    NaN,
    Empty,
}

/// A metrics endpoint with a fault the test sets: a scrape page and a
/// Prometheus query API on the same server.
struct Metrics {
    fault: Arc<Mutex<Fault>>,
    server: Server,
    /// A port nothing listens on.
    closed: u16,
}

impl Metrics {
    fn start() -> Metrics {
        let fault = Arc::new(Mutex::new(Fault::Healthy));
        let server = {
            let fault = fault.clone();
            Server::start(move |req| {
                let f = *fault.lock().unwrap();
                let prom = req.path().starts_with("/api/v1/");
                let vector = |v: &str| {
                    Response::json(format!(
                        r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{}},"value":[1700000000,"{v}"]}}]}}}}"#
                    ))
                };
                match (f, prom) {
                    (Fault::Slow, _) => Response::ok("error_ratio 0\n").delayed(Duration::from_secs(5)),
                    (Fault::Garbage, false) => Response::ok("<html><body>Gateway says hello</body></html>"),
                    (Fault::Garbage, true) => Response::ok("<html>not json</html>"),
                    (Fault::NaN, false) => Response::ok("error_ratio NaN\n"),
                    (Fault::NaN, true) => vector("NaN"),
                    (Fault::Empty, false) => Response::ok("# no series here\nother_metric 1\n"),
                    (Fault::Empty, true) => Response::json(
                        r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
                    ),
                    (_, false) => Response::ok("error_ratio 0\n"),
                    (_, true) => vector("0"),
                }
            })
            .unwrap()
        };
        Metrics {
            fault,
            server,
            closed: testbed::free_port().unwrap(),
        }
    }

    fn set(&self, f: Fault) {
        *self.fault.lock().unwrap() = f;
    }

    /// The provider's url for this fault.
    fn base(&self) -> String {
        if *self.fault.lock().unwrap() == Fault::Down {
            format!("http://127.0.0.1:{}", self.closed)
        } else {
            self.server.url("")
        }
    }
}

fn gate_plan(rig: &Rig, m: &Metrics, policy: &str, on_breach: &str) {
    let base = m.base();
    rig.plan(&format!(
        r#"version: 1
name: faults
settings: {{ interval: 1s, timeout: 500ms, retries: 1, rollback_timeout: 5s, on_breach: {on_breach} }}
providers:
{lb}  page: {{ type: scrape, url: '{base}/metrics' }}
  prom: {{ type: prometheus, url: '{base}' }}
gates:
  page-errors: {{ provider: page, query: error_ratio, max: 0.05, no_data: {policy} }}
  prom-errors: {{ provider: prom, query: 'max(error_ratio)', max: 0.05, no_data: {policy} }}
phases:
  - name: canary
    steps:
      - traffic: {{ provider: lb, percent: 10 }}
      - soak: 200ms
        gates: [page-errors, prom-errors]
      - traffic: {{ provider: lb, percent: 50 }}
"#,
        lb = exec_provider("lb"),
    ));
}

#[test]
fn metrics_faults_are_no_data_and_follow_the_gate_policy() {
    let m = Metrics::start();
    // What each gate's row says of why it has no data (the page's, then
    // Prometheus's); `{policy}` is the gate's policy.
    let faults: [(Fault, &[&str]); 5] = [
        (Fault::Down, &["cannot connect"]),
        (Fault::Slow, &["no answer within 500ms"]),
        (
            Fault::Garbage,
            &[
                "is not a Prometheus text page: line 1: expected a metric name",
                "the answer is not Prometheus's query API JSON",
            ],
        ),
        (Fault::NaN, &["NaN, taken as no data (no_data: {policy})"]),
        // Nothing wrong but an absent series: "no data", and no more.
        (Fault::Empty, &["┆ no data (no_data: {policy})"]),
    ];
    let mut cases = 0;
    for (fault, says) in faults {
        for policy in ["fail", "pass", "pause"] {
            let rig = Rig::new("faults");
            m.set(fault);
            gate_plan(&rig, &m, policy, "rollback");
            let context = format!("{fault:?}, no_data: {policy}");
            // check: evaluates now, changes nothing.
            let (code, out, err) = rig.run(&["check"]);
            let shown = format!("{out}{err}");
            let want = if policy == "pass" { 0 } else { 7 };
            assert_eq!(code, want, "{context}: check: {shown}");
            assert!(
                shown.contains("no data") && shown.contains(&format!("no_data: {policy}")),
                "{context}: check says no data and the policy: {shown}"
            );
            for words in says {
                let words = words.replace("{policy}", policy);
                assert!(
                    shown.contains(&words),
                    "{context}: says why ({words}): {shown}"
                );
            }
            assert!(!rig.state_dir().exists(), "{context}: check wrote state");
            // Through the engine: the soak's gates see the same.
            let (code, out, err) = rig.run(&["advance", "--wait"]);
            let shown = format!("{out}{err}");
            match policy {
                "fail" => {
                    assert_eq!(code, 3, "{context}: advance: {shown}");
                    assert_eq!(rig.pct("lb"), 0.0, "{context}: rolled back");
                    assert_eq!(
                        rig.state().status,
                        migrate::state::Status::RolledBack,
                        "{context}"
                    );
                }
                "pass" => {
                    assert_eq!(code, 0, "{context}: advance: {shown}");
                    assert_eq!(rig.pct("lb"), 50.0, "{context}: carried on");
                }
                _ => {
                    assert_eq!(code, 7, "{context}: advance: {shown}");
                    // Why it holds, said once.
                    assert!(
                        shown.contains("has no data") && !shown.contains("no data (no data"),
                        "{context}: {shown}"
                    );
                    if fault == Fault::Empty {
                        assert!(
                            shown.contains(
                                "gate page-errors has no data; held by its no_data: pause policy"
                            ),
                            "{context}: {shown}"
                        );
                    }
                    assert_eq!(rig.pct("lb"), 10.0, "{context}: held where it was");
                    assert_eq!(
                        rig.state().status,
                        migrate::state::Status::Paused,
                        "{context}"
                    );
                    // The endpoint recovers; resume and carry on.
                    m.set(Fault::Healthy);
                    gate_plan(&rig, &m, policy, "rollback");
                    let (code, out, err) = rig.run(&["resume"]);
                    assert_eq!(code, 0, "{context}: {out}{err}");
                    let (code, out, err) = rig.run(&["advance", "--wait"]);
                    assert_eq!(code, 0, "{context}: after resume: {out}{err}");
                    assert_eq!(rig.pct("lb"), 50.0, "{context}");
                }
            }
            rig.assert_consistent(&context);
            cases += 1;
        }
    }
    eprintln!("metrics faults: {cases} fault × policy cases, each through check and advance");
}

/// NaN is no data to the gate's policy, and every place that shows the
/// reading says NaN: `check`, the gate events and the breach (human and
/// JSON), `status`, `history`.
#[test]
fn a_nan_reading_is_shown_as_nan() {
    let m = Metrics::start();
    m.set(Fault::NaN);
    let rig = Rig::new("faults");
    gate_plan(&rig, &m, "fail", "pause");
    let (code, out, err) = rig.run(&["check"]);
    assert_eq!(code, 7, "{out}{err}");
    // The table row (or line) that starts with `what`.
    let row = |text: &str, what: &str| {
        text.lines()
            .find(|l| l.trim_start_matches('│').trim_start().starts_with(what))
            .unwrap_or_default()
            .to_string()
    };
    for gate in ["page-errors", "prom-errors"] {
        assert!(row(&out, gate).contains("NaN"), "check, {gate}: {out}");
    }
    let (code, out, _) = rig.run(&["-o", "json", "check"]);
    assert_eq!(code, 7);
    let gates: Vec<serde_json::Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "gate")
        .collect();
    assert_eq!(gates.len(), 2, "{out}");
    for g in &gates {
        assert_eq!(g["nan"], true, "{g}");
        assert!(g["value"].is_null(), "{g}");
        assert!(g["note"].as_str().is_some_and(|n| n.contains("NaN")), "{g}");
    }

    // Through the engine: the soak's reading and the breach say NaN.
    let (code, out, err) = rig.run(&["advance", "--wait"]);
    assert_eq!(code, 7, "paused by the breach: {out}{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("✗ gate page-errors") && l.contains("NaN")),
        "the gate line: {err}"
    );
    assert!(
        err.lines()
            .any(|l| l.contains("BREACH") && l.contains("NaN")),
        "the breach: {err}"
    );
    let (code, out, err) = rig.run(&["status"]);
    assert_eq!(code, 0, "{out}{err}");
    for gate in ["page-errors", "prom-errors"] {
        let line = row(&out, gate);
        assert!(
            line.contains("NaN") && !line.contains("no data"),
            "status, {gate}: {out}"
        );
    }
    let (_, out, _) = rig.run(&["-o", "json", "status"]);
    let status: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(status["gates"]["page-errors"]["nan"], true, "{status}");
    let (_, out, _) = rig.run(&["history", "--gates"]);
    assert!(out.contains("page-errors = NaN FAIL"), "history: {out}");
    let breach = rig
        .records()
        .into_iter()
        .find_map(|r| match r.entry {
            migrate::state::Entry::Breach { reason, .. } => Some(reason),
            _ => None,
        })
        .expect("a breach on record");
    assert!(breach.contains("NaN"), "{breach}");
    rig.assert_consistent("NaN");

    // The JSON stream of a run.
    let rig = Rig::new("faults");
    gate_plan(&rig, &m, "fail", "pause");
    let (code, out, err) = rig.run(&["-o", "json", "advance", "--wait"]);
    assert_eq!(code, 7, "{out}{err}");
    let events: Vec<serde_json::Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "gate" && e["nan"] == true),
        "{out}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "breach"
                && e["reason"].as_str().is_some_and(|r| r.contains("NaN"))),
        "{out}"
    );
}

/// A flag's state at the flag service: enabled, rollout percent.
type FlagCell = Arc<Mutex<(bool, Option<f64>)>>;

/// A flag service behind the `http` provider, with a fault the test sets.
fn flag_service(mode: Arc<Mutex<&'static str>>) -> (Server, FlagCell) {
    let flag = Arc::new(Mutex::new((false, None)));
    let server = {
        let flag = flag.clone();
        Server::start(move |req| {
            match *mode.lock().unwrap() {
                "500" => return Response::new(500, "flag store unavailable"),
                "hang" => return Response::never(),
                _ => {}
            }
            let mut f = flag.lock().unwrap();
            if req.method == "PUT" {
                let v: serde_json::Value = serde_json::from_str(&req.body).unwrap_or_default();
                if let Some(e) = v["enabled"].as_bool() {
                    f.0 = e;
                }
                f.1 = v["percent"].as_f64();
                return Response::json("{}");
            }
            let p = f.1.map_or("null".to_string(), |p| p.to_string());
            Response::json(format!("{{\"enabled\": {}, \"percent\": {p}}}", f.0))
        })
        .unwrap()
    };
    (server, flag)
}

#[test]
fn a_flag_service_answering_500_or_never_fails_the_step_and_the_rollback_names_it() {
    let mode = Arc::new(Mutex::new("ok"));
    let (server, flag) = flag_service(mode.clone());
    let rig = Rig::new("flagsvc");
    rig.plan(&format!(
        r#"version: 1
name: flagsvc
settings: {{ timeout: 500ms, retries: 1, rollback_timeout: 2s }}
providers:
{lb}  flags:
    type: http
    set: {{ method: PUT, url: '{url}/flags/{{{{key}}}}', body: '{{"enabled": {{{{enabled}}}}, "percent": {{{{percent}}}}}}' }}
    get: {{ url: '{url}/flags/{{{{key}}}}' }}
phases:
  - name: p
    steps:
      - traffic: {{ provider: lb, percent: 10 }}
      - flag: {{ provider: flags, key: new-checkout, enabled: true, percent: 25 }}
      - traffic: {{ provider: lb, percent: 20 }}
"#,
        lb = exec_provider("lb"),
        url = server.url(""),
    ));
    for (fault, words) in [("500", "answered 500"), ("hang", "no answer within")] {
        *mode.lock().unwrap() = fault;
        let (code, out, err) = rig.run(&["advance"]);
        assert_eq!(code, 1, "{fault}: {out}{err}");
        assert!(
            err.contains("provider 'flags'") && err.contains(words),
            "{fault}: names the provider and what happened: {err}"
        );
        assert_eq!(rig.state().status, migrate::state::Status::Failed);
        assert_eq!(rig.pct("lb"), 10.0, "{fault}: nothing further changed");
        assert_eq!(*flag.lock().unwrap(), (false, None));
    }
    *mode.lock().unwrap() = "ok";
    let (code, out, err) = rig.run(&["advance"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(*flag.lock().unwrap(), (true, Some(25.0)));
    // The flag service fails during a rollback: traffic is restored, the
    // flag is named, exit 6; once it is back, rollback completes.
    for (fault, words) in [("500", "answered 500"), ("hang", "no answer within")] {
        *mode.lock().unwrap() = fault;
        let (code, out, err) = rig.run(&["rollback"]);
        let shown = format!("{out}{err}");
        assert_eq!(code, 6, "{fault}: {shown}");
        assert!(
            shown.contains("flag new-checkout via flags") && shown.contains(words),
            "{fault}: names the target and the error: {shown}"
        );
        assert_eq!(rig.pct("lb"), 0.0, "{fault}: traffic restored meanwhile");
        assert_eq!(
            rig.state().status,
            migrate::state::Status::RollbackIncomplete
        );
        let (code, _, _) = rig.run(&["advance"]);
        assert_eq!(code, 6, "advance refuses while the rollback is incomplete");
    }
    *mode.lock().unwrap() = "ok";
    let (code, out, err) = rig.run(&["rollback"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!flag.lock().unwrap().0, "the flag is off again");
    rig.assert_consistent("flag service");
}

#[test]
fn a_haproxy_socket_that_disappears_fails_advance_and_is_named_by_rollback() {
    let (_old, _new, haproxy) = crate::rig::payments_haproxy();
    let socket = haproxy.socket().display().to_string();
    let rig = Rig::new("lbgone");
    rig.plan(&format!(
        r#"version: 1
name: lbgone
settings: {{ timeout: 1s, retries: 1, rollback_timeout: 2s }}
providers:
  lb: {{ type: haproxy, socket: '{socket}', backend: payments, legacy: old, candidate: new }}
{edge}  flags: {{ type: flagd, file: '{{DIR}}/flags.json' }}
phases:
  - name: p
    steps:
      - flag: {{ provider: flags, key: rollout, percent: 30 }}
      - mirror: {{ provider: edge, percent: 100 }}
      - traffic: {{ provider: lb, percent: 10 }}
      - traffic: {{ provider: lb, percent: 50 }}
"#,
        edge = exec_provider("edge"),
    ));
    let (code, out, err) = rig.run(&["advance", "--steps", "3"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        haproxy.weight("new").unwrap() > 0,
        "the candidate takes traffic"
    );
    // HAProxy goes away, its admin socket with it.
    drop(haproxy);
    let (code, out, err) = rig.run(&["advance"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("haproxy provider 'lb'") && err.contains(&socket),
        "names the provider and the socket: {err}"
    );
    let (code, out, err) = rig.run(&["rollback"]);
    let shown = format!("{out}{err}");
    assert_eq!(code, 6, "{shown}");
    assert!(
        shown.contains("traffic via lb") && shown.contains(&socket),
        "names the target still wrong and its socket: {shown}"
    );
    assert_eq!(rig.pct("edge"), 0.0, "mirroring restored meanwhile");
    assert!(
        rig.flag("rollout").get("targeting").is_none(),
        "the flag restored meanwhile: {}",
        rig.flag("rollout")
    );
    rig.assert_consistent("haproxy gone");
}

#[test]
fn a_rollback_with_a_target_that_keeps_failing_names_it_then_completes_once_fixed() {
    let rig = Rig::new("stuck");
    let edge = exec_provider("edge").replace(
        "set: [sh, -c, '",
        "set: [sh, -c, 'test -e {DIR}/edge.broken && { echo edge controller unreachable >&2; exit 1; }; ",
    );
    rig.plan(&format!(
        r#"version: 1
name: stuck
settings: {{ timeout: 2s, retries: 1, rollback_timeout: 1s }}
providers:
{lb}{edge}  flags: {{ type: flagd, file: '{{DIR}}/flags.json' }}
phases:
  - name: p
    steps:
      - flag: {{ provider: flags, key: rollout, percent: 30 }}
      - mirror: {{ provider: edge, percent: 100 }}
      - traffic: {{ provider: lb, percent: 10 }}
"#,
        lb = exec_provider("lb"),
    ));
    let (code, out, err) = rig.run(&["advance"]);
    assert_eq!(code, 0, "{out}{err}");
    std::fs::write(rig.path("edge.broken"), "").unwrap();
    let (code, out, err) = rig.run(&["rollback"]);
    let shown = format!("{out}{err}");
    assert_eq!(code, 6, "{shown}");
    assert!(
        shown.contains("mirror via edge") && shown.contains("edge controller unreachable"),
        "{shown}"
    );
    assert_eq!(rig.pct("lb"), 0.0, "the others are restored");
    assert!(rig.flag("rollout").get("targeting").is_none());
    assert_eq!(rig.pct("edge"), 100.0, "still wrong, and said so");
    let tries = rig.log("edge.log").len();
    let failed = rig
        .records()
        .iter()
        .filter(|r| r.entry.name() == "restore_failed")
        .count();
    assert_eq!(failed, 1, "the failure is journaled");
    let (code, out, _) = rig.run(&["status"]);
    assert_eq!(code, 0);
    assert!(out.contains("ROLLBACK INCOMPLETE"), "{out}");
    assert!(out.contains("mirror via edge"), "{out}");
    // Fixed: rollback again finishes.
    std::fs::remove_file(rig.path("edge.broken")).unwrap();
    let (code, out, err) = rig.run(&["rollback"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(rig.pct("edge"), 0.0);
    assert_eq!(
        rig.log("edge.log").len(),
        tries + 1,
        "one more set, the restore"
    );
    assert_eq!(rig.state().status, migrate::state::Status::RolledBack);
    rig.assert_consistent("stuck target");
}

#[test]
fn a_database_connection_dropped_or_down_mid_reconcile_step() {
    const ROWS: u64 = 100_000;
    let pg = testbed::postgres::Postgres::start().unwrap();
    for db in ["old", "new"] {
        pg.create_database(db).unwrap();
        let rows = if db == "old" { ROWS } else { ROWS / 2 };
        pg.psql(
            db,
            &format!(
                "CREATE TABLE t (id bigint PRIMARY KEY, v text NOT NULL);
                 INSERT INTO t SELECT s, 'row ' || s FROM generate_series(1, {rows}) s;"
            ),
        )
        .unwrap();
    }
    let plan = |rig: &Rig| {
        rig.plan(&format!(
            r#"version: 1
name: {name}
settings: {{ timeout: 5s, retries: 2 }}
providers:
{lb}  old: {{ type: postgres, url: '{old}' }}
  new: {{ type: postgres, url: '{new}' }}
reconciliations:
  t:
    source: {{ provider: old, table: t }}
    target: {{ provider: new, table: t }}
    key: id
    settle: 0s
phases:
  - name: backfill
    steps:
      - reconcile: t
        repair: true
  - name: canary
    steps:
      - traffic: {{ provider: lb, percent: 10 }}
"#,
            name = rig.name,
            lb = exec_provider("lb"),
            old = pg.url("old"),
            new = pg.url("new"),
        ))
    };
    let rig = Rig::new("dbdrop");
    plan(&rig);
    // 1. The connection reading the source is killed mid-run.
    let child = rig.command(&["advance"]).spawn().unwrap();
    let mut killed = false;
    for _ in 0..3000 {
        let pids = pg
            .psql(
                "postgres",
                "SELECT pid FROM pg_stat_activity WHERE datname = 'old' \
                 AND query ILIKE 'SELECT%' AND pid <> pg_backend_pid() AND state = 'active'",
            )
            .unwrap_or_default();
        if let Some(pid) = pids.split_whitespace().next() {
            pg.psql("postgres", &format!("SELECT pg_terminate_backend({pid})"))
                .unwrap();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let (code, out, err) = crate::rig::output(child.wait_with_output().unwrap());
    assert!(killed, "the scan was never seen running: {out}{err}");
    assert_eq!(
        code, 0,
        "the reconciliation resumed after the drop: {out}{err}"
    );
    assert_eq!(
        pg.psql("new", "SELECT count(*) FROM t").unwrap().trim(),
        ROWS.to_string(),
        "every missing row copied"
    );
    assert_eq!(rig.pct("lb"), 10.0);
    rig.assert_consistent("connection dropped");

    // 2. The database is down when the step runs: it fails, naming the
    // provider; once it is back, advance runs the step again.
    let rig = Rig::new("dbdown");
    plan(&rig);
    pg.psql("new", "DELETE FROM t WHERE id % 10 = 0").unwrap();
    pg.stop().unwrap();
    let (code, out, err) = rig.run(&["advance"]);
    assert_eq!(code, 1, "{out}{err}");
    eprintln!("database down: {}", err.lines().last().unwrap_or_default());
    assert!(
        err.contains("postgres provider 'old'") || err.contains("postgres provider 'new'"),
        "names the provider: {err}"
    );
    assert_eq!(rig.state().status, migrate::state::Status::Failed);
    assert_eq!(rig.pct("lb"), 0.0, "nothing after the failed step ran");
    pg.start_again().unwrap();
    let (code, out, err) = rig.run(&["advance"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        pg.psql("new", "SELECT count(*) FROM t").unwrap().trim(),
        ROWS.to_string()
    );
    assert_eq!(rig.pct("lb"), 10.0);
    rig.assert_consistent("database down");
}
