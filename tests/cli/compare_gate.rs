//! `compare` gates through `migrate advance --wait`: a real Prometheus
//! scrapes a test app that serves both arms' counters, and a real HAProxy
//! splits the traffic. A candidate with the baseline's error rate serves
//! its soak; one with three times the errors trips the breaker, and the
//! traffic returns to legacy.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;
use testbed::haproxy::Haproxy;
use testbed::http::{Response, Server};
use testbed::prometheus::Prometheus;

use crate::supervise::{journal, run};

/// Per scrape, each arm serves this many requests, of which so many fail.
struct Traffic {
    candidate: (u64, u64),
    baseline: (u64, u64),
}

/// The test app: each scrape of its `/metrics` is one more batch of
/// traffic, so the counters grow as Prometheus reads them.
fn app(traffic: Traffic) -> Server {
    let scrapes = Arc::new(AtomicU64::new(0));
    Server::start(move |_| {
        let n = scrapes.fetch_add(1, Ordering::SeqCst) + 1;
        let (ct, ce) = traffic.candidate;
        let (bt, be) = traffic.baseline;
        Response::ok(format!(
            "# TYPE app_requests_total counter
app_requests_total{{arm=\"v2\"}} {}
app_requests_total{{arm=\"legacy\"}} {}
# TYPE app_errors_total counter
app_errors_total{{arm=\"v2\"}} {}
app_errors_total{{arm=\"legacy\"}} {}
",
            n * ct,
            n * bt,
            n * ce,
            n * be
        ))
    })
    .unwrap()
}

struct Rig {
    dir: tempfile::TempDir,
    haproxy: Haproxy,
    _prometheus: Prometheus,
    _servers: Vec<Server>,
}

fn rig(traffic: Traffic, soak: &str) -> Rig {
    let metrics = app(traffic);
    let prometheus = Prometheus::start(&[metrics.address()]).unwrap();
    prometheus.wait_for("app_errors_total").unwrap();
    let legacy = Server::start(|_| Response::ok("legacy")).unwrap();
    let candidate = Server::start(|_| Response::ok("candidate")).unwrap();
    let haproxy = crate::rig::payments_haproxy_to(legacy.port, candidate.port);
    let dir = tempfile::Builder::new()
        .prefix("migrate-compare-")
        .tempdir()
        .unwrap();
    let plan = format!(
        "version: 1
name: payments-compare
settings: {{ interval: 1s, timeout: 2s, retries: 0, rollback_timeout: 10s }}
providers:
  lb: {{ type: haproxy, socket: '{}', backend: payments, legacy: old, candidate: new }}
  prom: {{ type: prometheus, url: '{}' }}
gates:
  errors:
    compare:
      provider: prom
      candidate: {{ events: 'sum(app_errors_total{{arm=\"v2\"}})', total: 'sum(app_requests_total{{arm=\"v2\"}})' }}
      baseline:  {{ events: 'sum(app_errors_total{{arm=\"legacy\"}})', total: 'sum(app_requests_total{{arm=\"legacy\"}})' }}
      max_ratio: 1.5
      alpha: 0.01
    no_data: pass
phases:
  - name: canary
    steps:
      - traffic: {{ provider: lb, percent: 25 }}
      - soak: {soak}
        gates: [errors]
      - traffic: {{ provider: lb, percent: 100 }}
",
        haproxy.socket().display(),
        prometheus.url(),
    );
    std::fs::write(dir.path().join("plan.yaml"), plan).unwrap();
    Rig {
        dir,
        haproxy,
        _prometheus: prometheus,
        _servers: vec![metrics, legacy, candidate],
    }
}

/// The events of `-o json` output.
fn events(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

/// The evidence of the journal's compare readings.
fn evidence(dir: &Path) -> Vec<Value> {
    journal(dir, &[])
        .into_iter()
        .filter(|r| r["event"] == "gate")
        .filter_map(|r| r.get("evidence").cloned())
        .collect()
}

#[test]
fn a_healthy_candidate_serves_its_soak_and_a_worse_one_is_rolled_back() {
    // Both arms fail 0.5 % of their requests; the candidate gets a quarter.
    let healthy = rig(
        Traffic {
            candidate: (1000, 5),
            baseline: (3000, 15),
        },
        "6s",
    );
    let (code, text) = run(healthy.dir.path(), &[], &["advance", "--wait"]);
    assert_eq!(code, 0, "{text}");
    // Every request to the candidate now.
    assert_eq!(healthy.haproxy.weight("old").unwrap(), 0, "{text}");
    assert!(healthy.haproxy.weight("new").unwrap() > 0, "{text}");
    let seen = evidence(healthy.dir.path());
    assert!(seen.iter().all(|e| e["verdict"] != "breach"), "{seen:#?}");
    // It judged on evidence: the data could have rejected, and did not.
    let last = seen.last().unwrap_or_else(|| panic!("no evidence: {text}"));
    assert_eq!(last["verdict"], "within", "{seen:#?}");
    assert!(
        last["candidate"]["events"].as_f64().unwrap() > 0.0,
        "{last}"
    );
    let ratio = last["ratio"].as_f64().unwrap();
    assert!((ratio - 1.0).abs() < 1e-9, "{last}");
    assert!(
        last["ratio_low"].as_f64().unwrap() < 1.0 && last["ratio_high"].as_f64().unwrap() > 1.0,
        "{last}"
    );
    assert!(
        last["e_value"].as_f64().unwrap() < last["threshold"].as_f64().unwrap(),
        "{last}"
    );

    // The history tells each look's evidence.
    let (code, history) = run(healthy.dir.path(), &[], &["history", "--gates"]);
    assert_eq!(code, 0, "{history}");
    assert!(
        history.contains("within tolerance: candidate ") && history.contains("e-value "),
        "{history}"
    );

    // The candidate fails 1.5 % of its requests: three times the baseline.
    let worse = rig(
        Traffic {
            candidate: (1000, 15),
            baseline: (3000, 15),
        },
        "1h",
    );
    let (code, text) = run(worse.dir.path(), &[], &["-o", "json", "advance", "--wait"]);
    assert_eq!(code, 3, "rolled back by the breaker: {text}");
    assert_eq!(worse.haproxy.weight("new").unwrap(), 0, "{text}");
    assert!(worse.haproxy.weight("old").unwrap() > 0, "{text}");
    let evs = events(&text);
    let breach = evs
        .iter()
        .find(|e| e["type"] == "breach")
        .unwrap_or_else(|| panic!("no breach event: {text}"));
    let e = &breach["evidence"];
    assert_eq!(e["verdict"], "breach", "{breach}");
    // The always-valid interval excludes equal rates (being two-sided, its
    // low end may sit just below max_ratio at the moment of the breach).
    assert!(e["ratio_low"].as_f64().unwrap() > 1.0, "{breach}");
    assert!(e["ratio_high"].as_f64().unwrap() > 3.0, "{breach}");
    assert!(
        (e["ratio"].as_f64().unwrap() - 3.0).abs() < 1e-9,
        "{breach}"
    );
    assert!(
        e["e_value"].as_f64().unwrap() >= e["threshold"].as_f64().unwrap(),
        "{breach}"
    );
    assert!(
        breach["reason"]
            .as_str()
            .unwrap()
            .contains("worse than tolerated"),
        "{breach}"
    );
    // The status says what the gate saw.
    let (code, status) = run(worse.dir.path(), &[], &["status"]);
    assert_eq!(code, 0, "{status}");
    assert!(
        status.contains("Gate errors compares: worse than tolerated"),
        "{status}"
    );
}
