//! The haproxy provider against a real HAProxy 2.6 and real backends.

use std::collections::HashMap;
use std::sync::Arc;

use migrate::providers::{same_percent, Channel, Failure, Registry, Router};
use testbed::backend::Backend;
use testbed::haproxy::{Haproxy, Server};
use testbed::http::{self, get, Response};

fn router(provider: &str) -> Arc<dyn Router> {
    let text = format!(
        "version: 1
name: haproxy-test
settings: {{ timeout: 2s, retries: 1 }}
providers:
  lb: {provider}
phases:
  - name: canary
    steps:
      - traffic: {{ provider: lb, percent: 10 }}
"
    );
    let env: HashMap<String, String> = HashMap::new();
    let plan = match migrate::plan::validate(&text, &env, migrate::providers::catalog()) {
        Ok(v) => v.plan,
        Err(d) => panic!("invalid test plan: {d:?}\n{text}"),
    };
    Registry::new(&plan)
        .router("lb")
        .expect("an haproxy router")
}

/// Two legacy servers (weight 1 each, as the operator configured them)
/// and one candidate at weight 0: all traffic on legacy.
struct Setup {
    old1: Backend,
    old2: Backend,
    new1: Backend,
    haproxy: Haproxy,
}

fn setup() -> Setup {
    let old1 = Backend::start("old1").unwrap();
    let old2 = Backend::start("old2").unwrap();
    let new1 = Backend::start("new1").unwrap();
    let haproxy = Haproxy::start(
        "payments",
        &[
            Server {
                name: "old1",
                port: old1.port,
                weight: 1,
            },
            Server {
                name: "old2",
                port: old2.port,
                weight: 1,
            },
            Server {
                name: "new1",
                port: new1.port,
                weight: 0,
            },
        ],
    )
    .unwrap();
    Setup {
        old1,
        old2,
        new1,
        haproxy,
    }
}

impl Setup {
    fn provider(&self, extra: &str) -> String {
        format!(
            "{{ type: haproxy, socket: '{}', backend: payments, legacy: [old1, old2], candidate: new1{extra} }}",
            self.haproxy.socket().display()
        )
    }

    /// Send `n` requests through HAProxy; (legacy, candidate) served.
    fn send(&self, n: usize) -> (usize, usize) {
        for b in [&self.old1, &self.old2, &self.new1] {
            b.reset();
        }
        for _ in 0..n {
            let (status, body) = get(self.haproxy.port, "/pay").unwrap();
            assert_eq!(status, 200, "{body}");
        }
        (self.old1.count() + self.old2.count(), self.new1.count())
    }
}

#[tokio::test]
async fn haproxy_baseline_set_read_back_real_split_and_restore() {
    let s = setup();
    let lb = router(&s.provider(""));

    // The baseline is HAProxy's real state at start-up.
    assert_eq!(lb.get(Channel::Traffic).await.unwrap(), 0.0);
    assert_eq!(s.send(20), (20, 0));

    lb.set(Channel::Traffic, 10.0).await.unwrap();
    assert!(same_percent(lb.get(Channel::Traffic).await.unwrap(), 10.0));
    // 10% over 2 legacy + 1 candidate: 9, 9 and 2 out of 20, scaled to
    // HAProxy's largest weights.
    assert_eq!(s.haproxy.weight("old1").unwrap(), 252);
    assert_eq!(s.haproxy.weight("old2").unwrap(), 252);
    assert_eq!(s.haproxy.weight("new1").unwrap(), 56);
    let (legacy, candidate) = s.send(200);
    assert_eq!(legacy + candidate, 200);
    // Round robin over weights 252:252:56 gives 20 of 200, give or take
    // the position the scheduler was at when the weights changed.
    assert!(
        (18..=22).contains(&candidate),
        "10% of 200 requests went to the candidate: {candidate}"
    );

    // Idempotent: the same set again changes nothing.
    lb.set(Channel::Traffic, 10.0).await.unwrap();
    assert_eq!(s.haproxy.weight("new1").unwrap(), 56);

    lb.set(Channel::Traffic, 100.0).await.unwrap();
    assert_eq!(lb.get(Channel::Traffic).await.unwrap(), 100.0);
    assert_eq!(s.send(30), (0, 30));

    // Restore the baseline.
    lb.set(Channel::Traffic, 0.0).await.unwrap();
    assert_eq!(lb.get(Channel::Traffic).await.unwrap(), 0.0);
    assert_eq!(s.send(30), (30, 0));

    // HAProxy has no mirroring: refused, naming why.
    let e = lb.set(Channel::Mirror, 5.0).await.unwrap_err();
    assert_eq!(e.failure, Failure::Rejected);
    assert!(e.to_string().contains("no request mirroring"), "{e}");
}

#[tokio::test]
async fn haproxy_state_file_keeps_weights_across_a_reload() {
    let s = setup();
    let with_state = router(&s.provider(&format!(
        ", state_file: '{}'",
        s.haproxy.state_file().display()
    )));
    with_state.set(Channel::Traffic, 25.0).await.unwrap();
    let saved = std::fs::read_to_string(s.haproxy.state_file()).unwrap();
    assert!(saved.starts_with('1'), "{saved}");
    assert!(saved.contains(" new1 "), "{saved}");
    s.haproxy.reload().unwrap();
    assert!(same_percent(
        with_state.get(Channel::Traffic).await.unwrap(),
        25.0
    ));

    // Without a state file, a reload goes back to the configured weights:
    // what the state file is for.
    let without = router(&s.provider(""));
    without.set(Channel::Traffic, 50.0).await.unwrap();
    s.haproxy.reload().unwrap();
    assert!(same_percent(
        without.get(Channel::Traffic).await.unwrap(),
        25.0
    ));
}

#[tokio::test]
async fn haproxy_error_replies_name_the_target() {
    let s = setup();

    // A server the backend does not have.
    let lb = router(&format!(
        "{{ type: haproxy, socket: '{}', backend: payments, legacy: [old1, old2], candidate: nope }}",
        s.haproxy.socket().display()
    ));
    let e = lb.set(Channel::Traffic, 10.0).await.unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("haproxy provider 'lb'"), "{msg}");
    assert!(
        msg.contains("no server 'nope'") && msg.contains("new1"),
        "{msg}"
    );
    assert_eq!(e.failure, Failure::Rejected);
    // Nothing was changed on the way.
    assert_eq!(s.haproxy.weight("old1").unwrap(), 1);

    // A backend HAProxy does not have: its own error text is quoted.
    let lb = router(&format!(
        "{{ type: haproxy, socket: '{}', backend: nosuch, legacy: a, candidate: b }}",
        s.haproxy.socket().display()
    ));
    let e = lb.get(Channel::Traffic).await.unwrap_err();
    assert!(e.to_string().contains("Can't find backend"), "{e}");
    assert_eq!(e.failure, Failure::Rejected);

    // A candidate an operator put in maintenance is not silently used,
    // but going back to legacy still works.
    let lb = router(&s.provider(""));
    assert_eq!(
        s.haproxy
            .command("set server payments/new1 state maint")
            .unwrap()
            .trim(),
        ""
    );
    let e = lb.set(Channel::Traffic, 10.0).await.unwrap_err();
    assert!(
        e.to_string().contains("payments/new1 is in maintenance"),
        "{e}"
    );
    lb.set(Channel::Traffic, 0.0).await.unwrap();
    assert_eq!(s.haproxy.weight("new1").unwrap(), 0);
}

#[tokio::test]
async fn haproxy_missing_socket_and_silent_peer() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("admin.sock");
    let lb = router(&format!(
        "{{ type: haproxy, socket: '{}', backend: be, legacy: a, candidate: b }}",
        missing.display()
    ));
    let e = lb.get(Channel::Traffic).await.unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(&missing.display().to_string()), "{msg}");
    assert!(msg.contains("cannot connect"), "{msg}");
    assert_eq!(e.failure, Failure::Transient);

    // A runtime API that accepts the connection and never answers: the
    // plan's timeout (2s) ends the call.
    let silent = http::Server::start(|_| Response::never()).unwrap();
    let lb = router(&format!(
        "{{ type: haproxy, address: '127.0.0.1:{}', backend: be, legacy: a, candidate: b }}",
        silent.port
    ));
    let e = lb.set(Channel::Traffic, 10.0).await.unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("no answer within 2s"), "{msg}");
    assert_eq!(e.failure, Failure::Transient);
}

/// An operator's HAProxy — its legacy server configured `weight 100`, the
/// candidate `weight 0` — driven by `migrate advance` through `percents`,
/// with 100 sequential requests sent right after each step: what users get
/// must be what the plan says from those first requests on. Then a
/// rollback, and every request is back on legacy. Returns the candidate's
/// share after each step.
fn canary_through_haproxy(percents: &[u32]) -> Vec<(u32, usize)> {
    let legacy = Backend::start("legacy").unwrap();
    let candidate = Backend::start("candidate").unwrap();
    let haproxy = Haproxy::start(
        "payments",
        &[
            Server {
                name: "monolith",
                port: legacy.port,
                weight: 100,
            },
            Server {
                name: "payments-v2",
                port: candidate.port,
                weight: 0,
            },
        ],
    )
    .unwrap();
    let rig = crate::rig::Rig::new("haproxy-canary");
    let steps: String = percents
        .iter()
        .map(|p| format!("      - traffic: {{ provider: lb, percent: {p} }}\n"))
        .collect();
    rig.plan(&format!(
        "version: 1
name: haproxy-canary
providers:
  lb: {{ type: haproxy, socket: '{}', backend: payments, legacy: monolith, candidate: payments-v2 }}
phases:
  - name: canary
    steps:
{steps}",
        haproxy.socket().display()
    ));
    let send = |n: usize| {
        legacy.reset();
        candidate.reset();
        for _ in 0..n {
            let (status, body) = get(haproxy.port, "/pay").unwrap();
            assert_eq!(status, 200, "{body}");
        }
        assert_eq!(legacy.count() + candidate.count(), n);
        candidate.count()
    };
    assert_eq!(send(20), 0, "the operator's baseline: all on legacy");
    let mut seen = Vec::new();
    for &p in percents {
        let (code, out, err) = rig.run(&["advance", "--steps", "1"]);
        assert_eq!(code, 0, "advance to {p}%: {out}{err}");
        if p == 25 {
            // One legacy and one candidate server: 3 : 1, scaled to the
            // largest multiple within HAProxy's 256 (docs/providers.md).
            assert_eq!(
                (
                    haproxy.weight("monolith").unwrap(),
                    haproxy.weight("payments-v2").unwrap()
                ),
                (255, 85),
                "the live weights at 25%"
            );
        }
        let got = send(100);
        seen.push((p, got));
        assert!(
            got.abs_diff(p as usize) <= 5,
            "{got} of the 100 requests right after the step to {p}% reached the candidate (every step: {seen:?})"
        );
    }
    let (code, out, err) = rig.run(&["rollback", "-y"]);
    assert_eq!(code, 0, "rollback: {out}{err}");
    assert_eq!(haproxy.weight("payments-v2").unwrap(), 0);
    assert_eq!(send(100), 0, "after the rollback");
    seen
}

/// Step by step, then straight from the operator's weights to 25% (where
/// small weights such as `3:1` let HAProxy's round robin keep the
/// candidate, raised from 0, waiting behind the old round: 14 of 100).
#[test]
fn haproxy_serves_each_canary_step_from_the_first_requests_after_advance() {
    let gradual = canary_through_haproxy(&[1, 5, 10, 25, 50, 100]);
    let direct = canary_through_haproxy(&[25, 50, 100]);
    eprintln!("candidate share of the 100 requests after each step: {gradual:?}, {direct:?}");
}
