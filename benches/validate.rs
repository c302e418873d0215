//! How long validation takes on a large plan: 2,000 written steps (2,900
//! once canaries are expanded) across 100 phases, with every provider
//! capability, gates and reconciliations. The target is under 50 ms.
//!
//!     cargo bench --bench validate
//!     cargo bench --bench validate -- --write-plan /tmp/plan-2000.yaml
//!
//! The second form writes the plan and exits, for timing the binary:
//!
//!     hyperfine -N --warmup 5 \
//!         'target/release/migrate -f /tmp/plan-2000.yaml validate' \
//!         'target/release/migrate -f /tmp/plan-2000.yaml plan --offline'

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

const PHASES: usize = 100;
const ITERATIONS: usize = 200;

/// A plan with `PHASES` phases of 20 written steps each: 19 single steps
/// and a canary of 5 percents (10 steps once expanded).
fn large_plan() -> String {
    let mut p = String::with_capacity(256 * 1024);
    p.push_str(
        r#"version: 1
name: bench-2000
description: A large plan for timing validation
settings:
  interval: 15s
  timeout: 5s
  retries: 3
  on_breach: rollback
providers:
  lb: { type: haproxy, socket: /run/haproxy/admin.sock, backend: app, legacy: [old-1, old-2], candidate: new-1 }
  edge:
    type: nginx
    file: /etc/nginx/conf.d/app-split.conf
    reload: [nginx, -s, reload]
    upstream: app
    legacy: [10.0.0.1:8080, 10.0.0.2:8080]
    candidate: [10.0.1.1:8080]
  flags: { type: unleash, url: http://unleash:4242, token: "${BENCH_TOKEN}", environment: production }
  prom: { type: prometheus, url: http://prometheus:9090 }
  app: { type: scrape, url: http://10.0.1.1:9100/metrics }
  old-db: { type: mysql, url: "${BENCH_OLD_DB}" }
  new-db: { type: postgres, url: "${BENCH_NEW_DB}" }
gates:
  error-rate:
    provider: prom
    query: sum(rate(http_requests_total{job="app",code=~"5.."}[1m])) / sum(rate(http_requests_total{job="app"}[1m]))
    max: 0.01
  latency-p99:
    provider: prom
    query: histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="app"}[5m])))
    max: 0.35
    failure_limit: 2
    no_data: pause
  app-errors:
    provider: app
    query: rate(http_requests_total{code="500"}) / rate(http_requests_total)
    max: 0.02
  parity:
    reconcile: orders
    min: 1.0
reconciliations:
  orders:
    source: { provider: old-db, table: orders }
    target: { provider: new-db, table: orders }
    key: [id]
    columns: { total_cents: total_minor, currency: currency, status: status }
    where: "updated_at < now() - interval '1 minute'"
  lines:
    source: { provider: old-db, table: order_lines }
    target: { provider: new-db, table: order_lines }
    key: [order_id, line_no]
phases:
"#,
    );
    for i in 0..PHASES {
        let pc = i % 100;
        let _ = write!(
            p,
            r#"  - name: phase-{i}
    steps:
      - flag: {{ provider: flags, key: app.feature-{i}, enabled: true }}
        keep_on_rollback: true
      - soak: 10m
        gates: [error-rate]
      - mirror: {{ provider: edge, percent: {pc} }}
      - soak: 30m
        gates: [error-rate, latency-p99, app-errors]
      - reconcile: orders
        repair: true
      - reconcile: lines
        min_parity: 0.999
      - check: [parity, error-rate]
        timeout: 5m
      - traffic: {{ provider: lb, percent: "{pc}%" }}
      - soak: 1h
        gates: [error-rate, latency-p99]
      - flag: {{ provider: flags, key: app.rollout-{i}, percent: {pc} }}
      - soak: 15m
        gates: app-errors
      - run: [./scripts/smoke-test.sh, --phase, "{i}"]
        timeout: 2m
        env: {{ TARGET: new }}
      - webhook: {{ url: "https://hooks.example.com/{i}", body: '{{"text": "phase {i}"}}' }}
      - approve: Continue past phase {i}?
      - mirror: {{ provider: edge, percent: 0 }}
      - id: pin-{i}
        traffic: {{ provider: edge, percent: {pc} }}
      - soak: 5m
        gates: [error-rate]
      - check: error-rate
      - check: [latency-p99]
        timeout: 1m
      - canary:
          provider: lb
          percents: [1, 5, 25, 50, 100]
          soak: 48h
          gates: [error-rate, latency-p99, parity]
"#
        );
    }
    p
}

fn env() -> HashMap<String, String> {
    [
        ("BENCH_TOKEN", "bench-token"),
        ("BENCH_OLD_DB", "mysql://bench@127.0.0.1/old"),
        ("BENCH_NEW_DB", "postgres://bench@127.0.0.1/new"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let text = large_plan();
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--write-plan") {
        let Some(path) = args.get(i + 1) else {
            eprintln!("--write-plan needs a file name");
            std::process::exit(2);
        };
        if let Err(e) = std::fs::write(path, &text) {
            eprintln!("writing {path}: {e}");
            std::process::exit(1);
        }
        eprintln!(
            "wrote {path}; set BENCH_TOKEN, BENCH_OLD_DB=mysql://… and BENCH_NEW_DB=postgres://… to validate it"
        );
        return;
    }

    let env = env();
    let plan = match migrate::plan::validate(&text, &env, migrate::providers::catalog()) {
        Ok(v) => v.plan,
        Err(diags) => {
            for d in &diags {
                eprintln!("{}", d.render("bench-2000.yaml", &text, false));
            }
            eprintln!("the benchmark plan is invalid");
            std::process::exit(1);
        }
    };
    let written: usize = text.lines().filter(|l| l.starts_with("      - ")).count();
    let expanded = plan.steps().count();

    println!(
        "plan: {written} written steps ({expanded} expanded) in {} phases, {} lines, {} KiB",
        plan.phases.len(),
        text.lines().count(),
        text.len() / 1024
    );
    report(
        "validate",
        time(|| {
            migrate::plan::validate(black_box(&text), &env, migrate::providers::catalog()).is_ok()
        }),
    );
    // The share of it that is YAML parsing (text to spanned nodes).
    report(
        "  of which yaml::parse",
        time(|| migrate::plan::yaml::parse(black_box(&text)).is_ok()),
    );
}

/// 10 warm-up runs, then `ITERATIONS` timed ones, sorted.
fn time(mut f: impl FnMut() -> bool) -> Vec<Duration> {
    for _ in 0..10 {
        black_box(f());
    }
    let mut times: Vec<Duration> = (0..ITERATIONS)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn report(what: &str, times: Vec<Duration>) {
    println!(
        "{what}: {ITERATIONS} runs: min {}  median {}  p95 {}  max {}",
        ms(times[0]),
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.95)),
        ms(times[times.len() - 1])
    );
}
