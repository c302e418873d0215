//! Time to rollback, fan-out and overhead, measured with the release binary
//! against real components on loopback.
//!
//! 1. Time to rollback: a real HAProxy and a real NGINX each send 50% of
//!    live traffic (a load generator, ~200 requests/s) to a candidate that
//!    starts failing at T0. Measured: T0 → the breach recorded by migrate →
//!    every target restored and verified, and the requests that failed for
//!    users in between. Once with a `scrape` gate read every 250 ms, once
//!    with a Prometheus gate (1 s scrape, 1 s interval).
//! 2. Fan-out: `rollback` of 1 and of 10 traffic targets (http providers on
//!    loopback), as migrate measures it.
//! 3. Overhead: `status` wall time; peak memory (VmHWM) of an
//!    `advance --wait` over 10,000 gate evaluations. (`plan --offline` is
//!    timed with hyperfine: BENCHMARKS.md, "Plan validation".)
//! 4. Notifications: time to rollback (`scrape` gate) with `settings.notify`
//!    naming no one, a real Alertmanager, an Alertmanager that is down
//!    (nothing listens) and one that never answers: breach → restored, and
//!    restored → the process's exit (what is queued gets at most 3 s).
//!
//! `cargo bench --bench rollback` (all), or `-- ttr`, `-- fanout`,
//! `-- overhead`, `-- notify`; `ROLLBACK_BENCH_RUNS=N` sets the runs per
//! mode.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use testbed::haproxy::{Haproxy, Server as HaServer};
use testbed::http::{Response, Server};
use testbed::nginx::Nginx;

const MIGRATE: &str = env!("CARGO_BIN_EXE_migrate");

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

fn parse_at(v: &serde_json::Value) -> Option<f64> {
    let s = v["at"].as_str()?;
    humantime::parse_rfc3339(s)
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs_f64() * 1000.0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

fn p95(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() as f64 * 0.95).ceil() as usize)
        .saturating_sub(1)
        .min(v.len() - 1)]
}

fn runs() -> usize {
    std::env::var("ROLLBACK_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

/// The candidate: answers 200 until told to fail, then 500; counts both.
struct Candidate {
    server: Server,
    failing: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
}

fn candidate() -> Candidate {
    let failing = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let (f, r, e) = (failing.clone(), requests.clone(), errors.clone());
    let server = Server::start(move |_| {
        r.fetch_add(1, Ordering::SeqCst);
        if f.load(Ordering::SeqCst) {
            e.fetch_add(1, Ordering::SeqCst);
            Response::new(500, "candidate broke")
        } else {
            Response::ok("candidate")
        }
    })
    .expect("candidate");
    Candidate {
        server,
        failing,
        requests,
        errors,
    }
}

fn metrics(c: &Candidate) -> Server {
    let (r, e) = (c.requests.clone(), c.errors.clone());
    Server::start(move |_| {
        Response::ok(format!(
            "# TYPE candidate_requests_total counter\ncandidate_requests_total {}\n# TYPE candidate_errors_total counter\ncandidate_errors_total {}\n",
            r.load(Ordering::SeqCst),
            e.load(Ordering::SeqCst)
        ))
    })
    .expect("metrics")
}

/// Requests through both proxies; failures with their time (ms).
struct Load {
    stop: Arc<AtomicBool>,
    failures: Arc<Mutex<Vec<f64>>>,
    sent: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

fn load(ports: &[u16]) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(AtomicU64::new(0));
    let threads = ports
        .iter()
        .map(|&port| {
            let (stop, failures, sent) = (stop.clone(), failures.clone(), sent.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let ok = matches!(testbed::http::get(port, "/pay"), Ok((200, _)));
                    sent.fetch_add(1, Ordering::SeqCst);
                    if !ok {
                        if let Ok(mut f) = failures.lock() {
                            f.push(now_ms());
                        }
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        })
        .collect();
    Load {
        stop,
        failures,
        sent,
        threads,
    }
}

impl Load {
    fn finish(self) -> (Vec<f64>, u64) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
        let f = self.failures.lock().map(|f| f.clone()).unwrap_or_default();
        (f, self.sent.load(Ordering::SeqCst))
    }
}

fn yaml_list(argv: &[String]) -> String {
    let items: Vec<String> = argv.iter().map(|a| format!("'{a}'")).collect();
    format!("[{}]", items.join(", "))
}

struct Sample {
    to_breach: f64,
    breach_to_restored: f64,
    to_restored: f64,
    failed: usize,
    /// From every target restored to the process's exit.
    restored_to_exit: f64,
}

/// One time-to-rollback run; `prometheus`: gate through a real Prometheus;
/// `notify`: the provider (YAML flow map) `settings.notify` names.
fn ttr_once(prometheus: bool, notify: Option<&str>) -> Sample {
    let legacy = Server::start(|_| Response::ok("legacy")).expect("legacy");
    let cand = candidate();
    let page = metrics(&cand);
    let legacy_port = legacy.port;
    let cand_port = cand.server.port;
    let ha = Haproxy::start(
        "payments",
        &[
            HaServer {
                name: "old",
                port: legacy_port,
                weight: 100,
            },
            HaServer {
                name: "new",
                port: cand_port,
                weight: 0,
            },
        ],
    )
    .expect("haproxy");
    let mut nginx = Nginx::prepare().expect("nginx");
    nginx
        .write(
            "upstream.conf",
            &format!(
                "upstream payments {{\n    server {};\n}}\n",
                legacy.address()
            ),
        )
        .expect("upstream");
    nginx
        .start(
            "include upstream.conf;
    server {
        listen 127.0.0.1:{port};
        location / { proxy_pass http://payments; }
    }",
        )
        .expect("nginx");
    let prom = prometheus.then(|| {
        let p = testbed::prometheus::Prometheus::start(&[page.address()]).expect("prometheus");
        p.wait_for("candidate_requests_total").expect("scraped");
        p
    });
    let dir = tempfile::tempdir().expect("tmp");
    let (app, gate) = match &prom {
        None => (
            format!("{{ type: scrape, url: '{}' }}", page.url("/metrics")),
            "{ provider: app, query: rate(candidate_errors_total) / rate(candidate_requests_total), max: 0.05, interval: 250ms, no_data: pass }".to_string(),
        ),
        Some(p) => (
            format!("{{ type: prometheus, url: '{}' }}", p.url()),
            "{ provider: app, query: 'sum(rate(candidate_errors_total[3s])) / sum(rate(candidate_requests_total[3s]))', max: 0.05, interval: 1s, no_data: pass }".to_string(),
        ),
    };
    let (notify_setting, notify_provider) = match notify {
        Some(p) => (", notify: [am]".to_string(), format!("  am: {p}\n")),
        None => (String::new(), String::new()),
    };
    let plan = format!(
        "version: 1
name: ttr
settings: {{ interval: 250ms, timeout: 2s, retries: 1, rollback_timeout: 10s{notify_setting} }}
providers:
{notify_provider}  lb: {{ type: haproxy, socket: '{sock}', backend: payments, legacy: old, candidate: new }}
  edge:
    type: nginx
    file: '{upstream}'
    upstream: payments
    legacy: ['{legacy}']
    candidate: ['{cand}']
    reload: {reload}
  app: {app}
gates:
  errors: {gate}
phases:
  - name: canary
    steps:
      - traffic: {{ provider: lb, percent: 50 }}
      - traffic: {{ provider: edge, percent: 50 }}
      - soak: 5m
        gates: [errors]
",
        sock = ha.socket().display(),
        upstream = nginx.path("upstream.conf").display(),
        legacy = legacy.address(),
        cand = cand.server.address(),
        reload = yaml_list(&nginx.argv(&["-s", "reload"])),
    );
    let plan_path = dir.path().join("plan.yaml");
    std::fs::write(&plan_path, plan).expect("plan");
    let traffic = load(&[ha.port, nginx.port]);
    let mut child = Command::new(MIGRATE)
        .args(["-o", "json", "-f"])
        .arg(&plan_path)
        .args(["advance", "--wait"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("migrate");
    let stdout = child.stdout.take().expect("stdout");
    let events: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let reader = {
        let events = events.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if let Ok(mut e) = events.lock() {
                        e.push(v);
                    }
                }
            }
        })
    };
    // Wait for the soak, let it settle, then break the candidate.
    let start = Instant::now();
    while !events
        .lock()
        .map(|e| e.iter().any(|v| v["type"] == "soak_started"))
        .unwrap_or(false)
    {
        assert!(start.elapsed() < Duration::from_secs(60), "no soak");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(if prometheus { 4000 } else { 1500 }));
    let t0 = now_ms();
    cand.failing.store(true, Ordering::SeqCst);
    let status = child.wait().expect("migrate exits");
    let exited = now_ms();
    let _ = reader.join();
    let (failures, _sent) = traffic.finish();
    assert_eq!(status.code(), Some(3), "the breaker rolled back");
    let events = events.lock().map(|e| e.clone()).unwrap_or_default();
    let at = |ty: &str| events.iter().find(|v| v["type"] == ty).and_then(parse_at);
    let breach = at("breach").expect("a breach event");
    let restored = at("rollback_finished").expect("rollback finished");
    let failed = failures
        .iter()
        .filter(|&&t| t >= t0 && t <= restored + 50.0)
        .count();
    Sample {
        to_breach: breach - t0,
        breach_to_restored: restored - breach,
        to_restored: restored - t0,
        failed,
        restored_to_exit: exited - restored,
    }
}

fn ttr() {
    for (name, prometheus) in [
        ("scrape gate, 250 ms interval", false),
        ("Prometheus gate, 1 s scrape and interval", true),
    ] {
        let mut to_breach = Vec::new();
        let mut restore = Vec::new();
        let mut total = Vec::new();
        let mut failed = Vec::new();
        for i in 0..runs() {
            let s = ttr_once(prometheus, None);
            eprintln!(
                "  {name} run {}: T0→breach {:.0} ms, breach→restored {:.0} ms, T0→restored {:.0} ms, {} failed requests",
                i + 1,
                s.to_breach,
                s.breach_to_restored,
                s.to_restored,
                s.failed
            );
            to_breach.push(s.to_breach);
            restore.push(s.breach_to_restored);
            total.push(s.to_restored);
            failed.push(s.failed as f64);
        }
        println!(
            "ttr | {name} | runs {} | T0→breach median {:.0} ms p95 {:.0} ms | breach→restored median {:.0} ms p95 {:.0} ms | T0→restored median {:.0} ms p95 {:.0} ms | failed requests median {:.0} max {:.0}",
            runs(),
            median(&mut to_breach.clone()),
            p95(&mut to_breach),
            median(&mut restore.clone()),
            p95(&mut restore),
            median(&mut total.clone()),
            p95(&mut total),
            median(&mut failed.clone()),
            failed.iter().copied().fold(0.0, f64::max),
        );
    }
}

/// Breach → restored, and restored → exit, with notifications to no one,
/// to a real Alertmanager, to one that is down and to one that never
/// answers.
fn notify() {
    let hook = Server::start(|_| Response::ok("")).expect("receiver");
    let am = testbed::alertmanager::Alertmanager::start(&hook.url("/hook")).expect("alertmanager");
    let silent = Server::start(|_| Response::never()).expect("silent server");
    let down = testbed::free_port().expect("port");
    let modes = [
        ("no notify", None),
        (
            "Alertmanager up",
            Some(format!("{{ type: alertmanager, url: '{}' }}", am.url())),
        ),
        (
            "Alertmanager down (connection refused)",
            Some(format!(
                "{{ type: alertmanager, url: 'http://127.0.0.1:{down}' }}"
            )),
        ),
        (
            "Alertmanager never answers",
            Some(format!(
                "{{ type: alertmanager, url: '{}' }}",
                silent.url("")
            )),
        ),
    ];
    for (name, provider) in modes {
        let mut restore = Vec::new();
        let mut exit = Vec::new();
        for i in 0..runs() {
            let s = ttr_once(false, provider.as_deref());
            eprintln!(
                "  {name} run {}: breach→restored {:.0} ms, restored→exit {:.0} ms",
                i + 1,
                s.breach_to_restored,
                s.restored_to_exit
            );
            restore.push(s.breach_to_restored);
            exit.push(s.restored_to_exit);
        }
        println!(
            "notify | {name} | runs {} | breach→restored median {:.0} ms p95 {:.0} ms | restored→exit median {:.0} ms p95 {:.0} ms",
            runs(),
            median(&mut restore.clone()),
            p95(&mut restore),
            median(&mut exit.clone()),
            p95(&mut exit),
        );
    }
}

/// A tiny control plane: `PUT /t/N` with a number sets target N, `GET`
/// reads it.
fn control_plane() -> Server {
    let values: Arc<Mutex<std::collections::HashMap<String, String>>> = Arc::default();
    Server::start(move |req| {
        let mut v = match values.lock() {
            Ok(v) => v,
            Err(_) => return Response::new(500, "poisoned"),
        };
        if req.method == "PUT" {
            v.insert(req.path().to_string(), req.body.trim().to_string());
            Response::ok("")
        } else {
            Response::ok(v.get(req.path()).cloned().unwrap_or_else(|| "0".into()))
        }
    })
    .expect("control plane")
}

fn fanout_plan(n: usize, url: &str) -> String {
    let mut providers = String::new();
    let mut steps = String::new();
    for i in 0..n {
        providers.push_str(&format!(
            "  t{i}: {{ type: http, set: {{ method: PUT, url: '{url}/t/{i}', body: '{{{{percent}}}}' }}, get: {{ url: '{url}/t/{i}' }} }}\n"
        ));
        steps.push_str(&format!(
            "      - traffic: {{ provider: t{i}, percent: 50 }}\n"
        ));
    }
    format!(
        "version: 1\nname: fanout\nsettings: {{ timeout: 2s }}\nproviders:\n{providers}phases:\n  - name: canary\n    steps:\n{steps}"
    )
}

fn run_json(args: &[&str], plan: &Path) -> serde_json::Value {
    let out = Command::new(MIGRATE)
        .args(["-o", "json", "-f"])
        .arg(plan)
        .args(args)
        .output()
        .expect("migrate");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "summary")
        .unwrap_or(serde_json::Value::Null)
}

fn fanout() {
    let cp = control_plane();
    for n in [1usize, 10] {
        let mut secs = Vec::new();
        for _ in 0..runs().max(5) {
            let dir = tempfile::tempdir().expect("tmp");
            let plan = dir.path().join("plan.yaml");
            std::fs::write(&plan, fanout_plan(n, &cp.url(""))).expect("plan");
            // The figure is a rollback of n changed targets: the advance
            // must have changed them all, and the rollback restored them.
            let a = run_json(&["advance"], &plan);
            assert!(
                a["outcome"] == "completed" && a["exit_code"] == 0,
                "advance of {n} targets: {a}"
            );
            let s = run_json(&["rollback"], &plan);
            assert!(
                s["exit_code"] == 0
                    && s["restored"].as_array().map(Vec::len) == Some(n)
                    && s["remaining"].as_array().is_some_and(Vec::is_empty),
                "rollback of {n} targets: {s}"
            );
            secs.push(s["seconds"].as_f64().unwrap_or(f64::NAN) * 1000.0);
        }
        println!(
            "fanout | {n} traffic targets | runs {} | rollback (restore + verify every target, journaled) median {:.1} ms p95 {:.1} ms",
            secs.len(),
            median(&mut secs.clone()),
            p95(&mut secs)
        );
    }
}

fn wall(args: &[&str], plan: &Path, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            let _ = Command::new(MIGRATE)
                .arg("-f")
                .arg(plan)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}

/// A process's peak resident set size so far (`VmHWM`, the high-water
/// mark; `VmRSS` would be the current one).
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn overhead() {
    // status on a migration with two changed targets, read live.
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path().display();
    let plan: PathBuf = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            "version: 1
name: overhead
providers:
  lb: {{ type: exec, set: [sh, -c, 'echo {{{{percent}}}} > {d}/lb'], get: [cat, '{d}/lb'] }}
  m: {{ type: exec, get: [echo, '0'] }}
gates:
  g: {{ provider: m, query: x, max: 1, interval: 1ms }}
phases:
  - name: c
    steps:
      - traffic: {{ provider: lb, percent: 10 }}
      - soak: 1h
        gates: [g]
"
        ),
    )
    .expect("plan");
    run_json(&["advance"], &plan);
    let mut status = wall(&["status"], &plan, 50);
    println!(
        "overhead | status (one target read live through exec) | runs 50 | median {:.1} ms p95 {:.1} ms",
        median(&mut status.clone()),
        p95(&mut status)
    );
    // Memory over 10,000 gate evaluations.
    let mem_dir = tempfile::tempdir().expect("tmp");
    let page = Server::start(|_| Response::ok("g 0\n")).expect("page");
    let mem_plan = mem_dir.path().join("plan.yaml");
    std::fs::write(
        &mem_plan,
        format!(
            "version: 1
name: memory
settings: {{ interval: 1ms }}
providers:
  m: {{ type: scrape, url: '{}' }}
gates:
  g: {{ provider: m, query: g, max: 1 }}
phases:
  - name: c
    steps:
      - soak: 1h
        gates: [g]
",
            page.url("/metrics")
        ),
    )
    .expect("plan");
    let mut child = Command::new(MIGRATE)
        .arg("-f")
        .arg(&mem_plan)
        .args(["-q", "advance", "--wait"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("migrate");
    let pid = child.id();
    let journal = mem_dir.path().join(".migrate/memory/journal.ndjson");
    let count = || {
        std::fs::read_to_string(&journal)
            .map(|t| t.matches("\"event\":\"gate\"").count())
            .unwrap_or(0)
    };
    let mut samples = Vec::new();
    let start = Instant::now();
    let mut next = 1000usize;
    while next <= 10_000 && start.elapsed() < Duration::from_secs(900) {
        let n = count();
        if n >= next {
            if let Some(kib) = vm_hwm_kib(pid) {
                samples.push((n, kib));
            }
            next += 1000;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    let line: Vec<String> = samples
        .iter()
        .map(|(n, kib)| format!("{n}: {:.1} MiB", *kib as f64 / 1024.0))
        .collect();
    println!(
        "overhead | advance --wait peak RSS (VmHWM) by gate evaluations | {} | {:.0} s",
        line.join(", "),
        start.elapsed().as_secs_f64()
    );
}

fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |name: &str| which.is_empty() || which.iter().any(|w| w == name);
    if want("fanout") {
        fanout();
    }
    if want("overhead") {
        overhead();
    }
    if want("ttr") {
        ttr();
    }
    if want("notify") {
        notify();
    }
}
