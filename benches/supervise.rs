//! `migrate supervise` failover, measured with the release binary against
//! real components on loopback: a real PostgreSQL holds the state, a real
//! HAProxy sends 25% of traffic to a candidate in a 48 h soak whose gate
//! reads `error_ratio` (a `scrape` of a page this bench serves, every
//! 500 ms). Two supervisors run (`--poll 100ms`, lease `MIGRATE_LEASE_MS`,
//! 3000 ms unless set). Per run, the active one is
//!
//! - `kill9`: killed -9 (the standby, on the same host, sees its process is
//!   gone and takes the lease at once);
//! - `stop`: stopped (SIGSTOP: alive but silent, as a partitioned or hung
//!   machine — the lease must run out first);
//! - `term`: sent SIGTERM (it releases the lease on its way out);
//!
//! then the metric goes bad. Measured: the signal → the standby's
//! `/healthz` says `ok active` (failover), and the metric going bad → the
//! HAProxy weight of the candidate read back as 0 (breach → restored).
//!
//! `cargo bench --bench supervise` (all modes), or `-- kill9`, `-- stop`,
//! `-- term`; `SUPERVISE_BENCH_RUNS=N` sets the runs per mode (default 10).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use testbed::haproxy::{Haproxy, Server as HaServer};
use testbed::http::{Response, Server};
use testbed::postgres::Postgres;

const MIGRATE: &str = env!("CARGO_BIN_EXE_migrate");

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn p95(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((v.len() as f64 * 0.95).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

fn migrate(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = Command::new(MIGRATE);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .current_dir(dir)
        .arg("-f")
        .arg(dir.join("plan.yaml"))
        .args(args)
        .stdin(Stdio::null());
    cmd
}

struct Sup {
    child: Child,
    port: u16,
}

impl Sup {
    fn start(dir: &Path, who: &str, env: &[(&str, &str)]) -> Sup {
        let port = testbed::free_port().unwrap();
        let listen = format!("127.0.0.1:{port}");
        let actor = format!("{who}@bench");
        let mut env = env.to_vec();
        env.push(("MIGRATE_ACTOR", &actor));
        let child = migrate(
            dir,
            &env,
            &["-q", "supervise", "--listen", &listen, "--poll", "100ms"],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        Sup { child, port }
    }

    fn is(&self, role: &str) -> bool {
        testbed::http::get(self.port, "/healthz")
            .is_ok_and(|(_, body)| body.trim() == format!("ok {role}"))
    }

    fn wait(&self, role: &str) {
        testbed::wait_until(
            &format!("supervisor {role}"),
            Duration::from_secs(60),
            || self.is(role),
        )
        .unwrap();
    }

    fn signal(&self, sig: &str) {
        Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
    }
}

impl Drop for Sup {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One run: (failover ms, breach → restored ms).
fn run(pg: &Postgres, n: usize, mode: &str, lease_ms: &str) -> (f64, f64) {
    let db = format!("bench_{mode}_{n}");
    pg.create_database(&db).unwrap();
    let url = pg.url(&db);
    let legacy = Server::start(|_| Response::ok("legacy")).unwrap();
    let candidate = Server::start(|_| Response::ok("candidate")).unwrap();
    let haproxy = Haproxy::start(
        "payments",
        &[
            HaServer {
                name: "old",
                port: legacy.port,
                weight: 100,
            },
            HaServer {
                name: "new",
                port: candidate.port,
                weight: 0,
            },
        ],
    )
    .unwrap();
    let value = Arc::new(Mutex::new(0.0_f64));
    let metrics = {
        let value = value.clone();
        Server::start(move |_| {
            Response::ok(format!(
                "# TYPE error_ratio gauge\nerror_ratio {}\n",
                *value.lock().unwrap()
            ))
        })
        .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plan.yaml"),
        format!(
            "version: 1
name: bench
settings: {{ interval: 500ms, timeout: 2s, retries: 0 }}
providers:
  lb: {{ type: haproxy, socket: '{}', backend: payments, legacy: old, candidate: new }}
  app: {{ type: scrape, url: '{}' }}
gates:
  errors: {{ provider: app, query: error_ratio, max: 0.05 }}
phases:
  - name: canary
    steps:
      - traffic: {{ provider: lb, percent: 25 }}
      - soak: 48h
        gates: [errors]
",
            haproxy.socket().display(),
            metrics.url("/metrics")
        ),
    )
    .unwrap();
    let env = [
        ("MIGRATE_STATE_URL", url.as_str()),
        ("MIGRATE_LEASE_MS", lease_ms),
    ];
    let out = migrate(dir.path(), &env, &["advance"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "advance to the soak");
    let a = Sup::start(dir.path(), "a", &env);
    a.wait("active");
    let b = Sup::start(dir.path(), "b", &env);
    b.wait("standby");
    // Mid-soak: a few evaluations in.
    std::thread::sleep(Duration::from_millis(1200));
    let t0 = Instant::now();
    match mode {
        "kill9" => a.signal("KILL"),
        "stop" => a.signal("STOP"),
        _ => a.signal("TERM"),
    }
    while !b.is("active") {
        assert!(t0.elapsed() < Duration::from_secs(60), "no failover");
        std::thread::sleep(Duration::from_millis(5));
    }
    let failover = t0.elapsed().as_secs_f64() * 1000.0;
    let t1 = Instant::now();
    *value.lock().unwrap() = 0.5;
    while haproxy.weight("new").unwrap() != 0 {
        assert!(t1.elapsed() < Duration::from_secs(60), "no restore");
        std::thread::sleep(Duration::from_millis(5));
    }
    let restored = t1.elapsed().as_secs_f64() * 1000.0;
    if mode == "stop" {
        a.signal("CONT");
    }
    (failover, restored)
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let runs: usize = std::env::var("SUPERVISE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let lease = std::env::var("MIGRATE_LEASE_MS").unwrap_or_else(|_| "3000".to_string());
    let pg = Postgres::start().unwrap();
    println!("lease {lease} ms, poll 100 ms, gate interval 500 ms, {runs} runs per mode");
    println!("| active supervisor | failover, median / p95 | breach → restored, median / p95 |");
    println!("|---|---:|---:|");
    for (mode, what) in [
        ("kill9", "killed -9"),
        ("stop", "stopped (SIGSTOP)"),
        ("term", "SIGTERM"),
    ] {
        if !filter.is_empty() && !filter.iter().any(|f| f == mode) {
            continue;
        }
        let (mut fail, mut rest): (Vec<f64>, Vec<f64>) =
            (0..runs).map(|n| run(&pg, n, mode, &lease)).unzip();
        println!(
            "| {what} | {:.0} ms / {:.0} ms | {:.0} ms / {:.0} ms |",
            median(&mut fail),
            p95(&mut fail),
            median(&mut rest),
            p95(&mut rest)
        );
    }
    let _ = pg.stop();
}
