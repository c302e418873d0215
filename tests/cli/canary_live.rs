//! A canary through a real HAProxy under live load, gated by a real
//! Prometheus: the observed split at each step matches the plan; a fault in
//! the candidate makes the gate breach and the breaker return every request
//! to legacy (the requests that failed for users in between are counted and
//! reported); a weight changed by hand is drift, shown and refused.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use testbed::haproxy::Haproxy;
use testbed::http::{Response, Server};

use crate::support;

struct Live {
    dir: tempfile::TempDir,
    _legacy: Server,
    legacy_hits: Arc<AtomicU64>,
    _candidate: Server,
    candidate_hits: Arc<AtomicU64>,
    failing: Arc<AtomicBool>,
    _metrics: Server,
    haproxy: Haproxy,
    _prometheus: testbed::prometheus::Prometheus,
}

fn counting(name: &'static str, hits: Arc<AtomicU64>) -> Server {
    Server::start(move |_| {
        hits.fetch_add(1, Ordering::SeqCst);
        Response::ok(name)
    })
    .unwrap()
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

impl Live {
    fn start() -> Live {
        let legacy_hits = Arc::new(AtomicU64::new(0));
        let candidate_hits = Arc::new(AtomicU64::new(0));
        let candidate_errors = Arc::new(AtomicU64::new(0));
        let failing = Arc::new(AtomicBool::new(false));
        let legacy = counting("legacy", legacy_hits.clone());
        let candidate = {
            let (hits, errors, f) = (
                candidate_hits.clone(),
                candidate_errors.clone(),
                failing.clone(),
            );
            Server::start(move |_| {
                hits.fetch_add(1, Ordering::SeqCst);
                if f.load(Ordering::SeqCst) {
                    errors.fetch_add(1, Ordering::SeqCst);
                    Response::new(500, "candidate broke")
                } else {
                    Response::ok("candidate")
                }
            })
            .unwrap()
        };
        let metrics = {
            let (hits, errors) = (candidate_hits.clone(), candidate_errors.clone());
            Server::start(move |_| {
                Response::ok(format!(
                    "# TYPE candidate_requests_total counter\ncandidate_requests_total {}\n# TYPE candidate_errors_total counter\ncandidate_errors_total {}\n",
                    hits.load(Ordering::SeqCst),
                    errors.load(Ordering::SeqCst)
                ))
            })
            .unwrap()
        };
        let haproxy = crate::rig::payments_haproxy_to(legacy.port, candidate.port);
        let prometheus = testbed::prometheus::Prometheus::start(&[metrics.address()]).unwrap();
        prometheus.wait_for("candidate_requests_total").unwrap();
        let live = Live {
            dir: tempfile::Builder::new()
                .prefix("migrate-canary-")
                .tempdir()
                .unwrap(),
            _legacy: legacy,
            legacy_hits,
            _candidate: candidate,
            candidate_hits,
            failing,
            _metrics: metrics,
            haproxy,
            _prometheus: prometheus,
        };
        let plan = format!(
            "version: 1
name: live-canary
settings: {{ interval: 1s, timeout: 3s, retries: 1, rollback_timeout: 10s }}
providers:
  lb: {{ type: haproxy, socket: '{}', backend: payments, legacy: old, candidate: new }}
  prom: {{ type: prometheus, url: '{}' }}
gates:
  errors:
    provider: prom
    query: sum(rate(candidate_errors_total[3s])) / sum(rate(candidate_requests_total[3s]))
    max: 0.05
    no_data: pass
phases:
  - name: canary
    steps:
      - canary: {{ provider: lb, percents: [10, 25, 50], soak: 1s, gates: [errors] }}
      - soak: 5m
        gates: [errors]
",
            live.haproxy.socket().display(),
            live._prometheus.url()
        );
        std::fs::write(live.dir.path().join("plan.yaml"), plan).unwrap();
        live
    }

    fn migrate(&self) -> assert_cmd::Command {
        let mut cmd = support::migrate();
        cmd.arg("-f").arg(self.dir.path().join("plan.yaml"));
        cmd
    }

    /// Send `n` requests through HAProxy; the share the candidate served.
    fn observed_share(&self, n: u64) -> f64 {
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

#[test]
fn a_canary_under_live_load_splits_as_planned_and_the_breaker_returns_traffic() {
    let live = Live::start();
    // Each traffic step, then the share the proxy really sends.
    for (step, percent) in [("canary.1", 10.0), ("canary.3", 25.0), ("canary.5", 50.0)] {
        live.migrate()
            .args(["advance", "--to", step])
            .assert()
            .code(0);
        // From the first requests after the step (no warm-up).
        let share = live.observed_share(200);
        assert!(
            (share - percent).abs() <= 4.0,
            "{step}: the plan says {percent}%, the proxy sent {share}%"
        );
        // Its soak.
        live.migrate()
            .args(["advance", "--wait", "--steps", "1"])
            .assert()
            .code(0);
    }

    // The last soak runs under load; the candidate starts failing.
    let stop = Arc::new(AtomicBool::new(false));
    let failures: Arc<Mutex<Vec<u128>>> = Arc::default();
    let port = live.haproxy.port;
    let load = {
        let (stop, failures) = (stop.clone(), failures.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if !matches!(testbed::http::get(port, "/pay"), Ok((200, _))) {
                    failures.lock().unwrap().push(now_ms());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let soaker = std::process::Command::new(env!("CARGO_BIN_EXE_migrate"))
        .arg("-f")
        .arg(live.dir.path().join("plan.yaml"))
        .args(["-o", "json", "advance", "--wait"])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let state = live.dir.path().join(".migrate/live-canary/state.json");
    let start = Instant::now();
    while !std::fs::read_to_string(&state)
        .unwrap_or_default()
        .contains("\"step\": \"canary.7\"")
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the last soak starts"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(3));
    let t0 = now_ms();
    live.failing.store(true, Ordering::SeqCst);
    let out = soaker.wait_with_output().unwrap();
    let restored_at = now_ms();
    stop.store(true, Ordering::SeqCst);
    load.join().unwrap();
    assert_eq!(out.status.code(), Some(3), "the breaker rolled back");
    let stream = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stream.contains("\"type\":\"breach\"") && stream.contains("\"gate\":\"errors\""),
        "{stream}"
    );
    let failed = failures
        .lock()
        .unwrap()
        .iter()
        .filter(|&&t| t >= t0 && t <= restored_at)
        .count();
    eprintln!(
        "live canary: {failed} requests failed for users between the fault and the restore ({} ms)",
        restored_at - t0
    );
    assert!(
        failed > 0,
        "the fault was visible to users before the breaker acted"
    );
    assert!(
        failed < 400,
        "the breaker acted within seconds: {failed} failed requests"
    );
    // Every request is back on legacy.
    assert_eq!(live.observed_share(100), 0.0);

    // Drift: someone sets a weight by hand.
    live.migrate().arg("retry").assert().code(0);
    live.migrate()
        .args(["advance", "--to", "canary.1"])
        .assert()
        .code(0);
    live.haproxy
        .command("set server payments/new weight 100")
        .unwrap();
    let status = live.migrate().arg("status").assert().code(0);
    let text = String::from_utf8_lossy(&status.get_output().stdout).into_owned();
    assert!(text.contains("DRIFT"), "{text}");
    let refused = live.migrate().arg("advance").assert().code(1);
    let err = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(
        err.contains("traffic via lb") && err.contains("expected 10%"),
        "{err}"
    );
}
