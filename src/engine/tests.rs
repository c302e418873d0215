//! The state machine, driven with a manual clock and in-memory providers:
//! soaks of hours pass instantly, and every outcome can be forced.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::advance::{AdvanceOptions, Limit, Outcome};
use super::rollback::RollbackRequest;
use super::*;
use crate::plan::{validate, Plan};
use crate::providers::{Channel, FlagChange, FlagState, Flags, Metrics, ProviderError, Router};
use crate::state::local::LocalStore;
use crate::state::{Status, Target, Value};

#[derive(Default)]
struct FakeRouter {
    values: Mutex<HashMap<Channel, f64>>,
    broken: AtomicBool,
    /// Reading fails, with this message.
    unreadable: Mutex<Option<String>>,
    sets: AtomicU32,
}

fn broken(what: &str) -> ProviderError {
    ProviderError {
        provider: "fake".into(),
        kind: "exec",
        doing: what.into(),
        message: "connection refused".into(),
        failure: crate::providers::Failure::Transient,
    }
}

#[async_trait]
impl Router for FakeRouter {
    async fn set(&self, channel: Channel, percent: f64) -> Result<(), ProviderError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(broken("setting"));
        }
        self.sets.fetch_add(1, Ordering::SeqCst);
        self.values.lock().unwrap().insert(channel, percent);
        Ok(())
    }
    async fn get(&self, channel: Channel) -> Result<f64, ProviderError> {
        if let Some(message) = self.unreadable.lock().unwrap().clone() {
            return Err(ProviderError {
                message,
                ..broken("reading")
            });
        }
        Ok(*self.values.lock().unwrap().get(&channel).unwrap_or(&0.0))
    }
}

#[derive(Default)]
struct FakeFlags {
    flags: Mutex<HashMap<String, FlagState>>,
}

#[async_trait]
impl Flags for FakeFlags {
    async fn get(&self, key: &str) -> Result<FlagState, ProviderError> {
        Ok(self
            .flags
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .unwrap_or(FlagState {
                enabled: false,
                percent: None,
            }))
    }
    async fn set(&self, key: &str, change: &FlagChange) -> Result<(), ProviderError> {
        let mut flags = self.flags.lock().unwrap();
        let cur = flags.entry(key.to_string()).or_insert(FlagState {
            enabled: false,
            percent: None,
        });
        if let Some(e) = change.enabled {
            cur.enabled = e;
        }
        if let Some(p) = change.percent {
            cur.percent = p;
        }
        Ok(())
    }
}

struct FakeMetrics {
    value: Mutex<Option<f64>>,
}

#[async_trait]
impl Metrics for FakeMetrics {
    async fn query(&self, _q: &str) -> Result<Option<f64>, ProviderError> {
        Ok(*self.value.lock().unwrap())
    }
}

struct NoReconciler;

#[async_trait]
impl Reconciler for NoReconciler {
    async fn reconcile(
        &self,
        _: &Plan,
        name: &str,
        _: bool,
        _: &dyn Reporter,
    ) -> anyhow::Result<ReconcileResult> {
        Ok(ReconcileResult::complete(
            if name == "good" { 1.0 } else { 0.5 },
            serde_json::json!({}),
        ))
    }
}

const PLAN: &str = r#"
version: 1
name: t
settings: { interval: 30s, rollback_timeout: 5s }
providers:
  lb: { type: exec, set: [true], get: [true] }
  edge: { type: exec, set: [true], get: [true] }
  flags: { type: exec, set: [true], get: [true] }
  m: { type: exec, get: [true] }
gates:
  errors: { provider: m, query: errors, max: 0.01 }
  lenient: { provider: m, query: errors, max: 0.01, failure_limit: 1 }
phases:
  - name: dual-write
    steps:
      - flag: { provider: flags, key: dual, enabled: true }
        keep_on_rollback: true
  - name: shadow
    steps:
      - mirror: { provider: edge, percent: 100 }
  - name: canary
    steps:
      - canary: { provider: lb, percents: [10, 50, 100], soak: 1h, gates: [errors] }
"#;

struct World {
    plan: Plan,
    dir: tempfile::TempDir,
    lb: Arc<FakeRouter>,
    edge: Arc<FakeRouter>,
    flags: Arc<FakeFlags>,
    metric: Arc<FakeMetrics>,
    clock: ManualClock,
    registry: crate::providers::Registry,
    events: events::Recorder,
}

impl World {
    fn new(text: &str) -> Self {
        let plan = validate(text, &HashMap::new(), crate::providers::catalog())
            .expect("valid plan")
            .plan;
        let registry = crate::providers::Registry::new(&plan);
        let w = World {
            registry,
            dir: tempfile::tempdir().unwrap(),
            lb: Arc::default(),
            edge: Arc::default(),
            flags: Arc::default(),
            metric: Arc::new(FakeMetrics {
                value: Mutex::new(Some(0.0)),
            }),
            clock: ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
            events: events::Recorder::default(),
            plan,
        };
        w.registry.set_router("lb", w.lb.clone());
        w.registry.set_router("edge", w.edge.clone());
        w.registry.set_flags("flags", w.flags.clone());
        w.registry.set_metrics("m", w.metric.clone());
        w
    }

    fn store(&self) -> LocalStore {
        LocalStore::new(self.dir.path(), &self.plan.name)
    }

    fn engine<'a>(&'a self, store: &'a LocalStore) -> Engine<'a> {
        Engine {
            plan: &self.plan,
            store,
            providers: &self.registry,
            clock: &self.clock,
            events: &self.events,
            reconciler: &NoReconciler,
            actor: "ana@test".into(),
            command: "test".into(),
            lock_wait: Duration::from_millis(100),
            takeover: false,
            interrupt: Interrupt::default(),
        }
    }

    async fn advance(&self, limit: Limit) -> Outcome {
        let store = self.store();
        self.engine(&store)
            .advance(&AdvanceOptions {
                limit,
                wait: false,
                approve: vec![],
                yes: false,
                force: false,
                adopt_gates: false,
                prompter: None,
                accept_baseline: false,
            })
            .await
            .expect("advance")
    }

    async fn state(&self) -> crate::state::State {
        self.store().load().await.unwrap().unwrap()
    }

    fn traffic(&self) -> f64 {
        *self
            .lb
            .values
            .lock()
            .unwrap()
            .get(&Channel::Traffic)
            .unwrap_or(&0.0)
    }

    fn mirror(&self) -> f64 {
        *self
            .edge
            .values
            .lock()
            .unwrap()
            .get(&Channel::Mirror)
            .unwrap_or(&0.0)
    }

    fn dual(&self) -> bool {
        self.flags
            .flags
            .lock()
            .unwrap()
            .get("dual")
            .is_some_and(|f| f.enabled)
    }
}

#[tokio::test]
async fn a_plan_runs_to_the_end_one_soak_at_a_time() {
    let w = World::new(PLAN);
    let o = w.advance(Limit::All).await;
    assert!(
        matches!(o, Outcome::Waiting { ref step, .. } if step == "canary.2"),
        "{o:?}"
    );
    assert!(w.dual());
    assert_eq!(w.mirror(), 100.0);
    assert_eq!(w.traffic(), 10.0);
    // Polling inside the soak changes nothing.
    w.clock.advance(Duration::from_secs(600));
    assert!(matches!(
        w.advance(Limit::All).await,
        Outcome::Waiting { .. }
    ));
    assert_eq!(w.traffic(), 10.0);
    for expected in [50.0, 100.0] {
        w.clock.advance(Duration::from_secs(3600));
        let o = w.advance(Limit::All).await;
        assert_eq!(w.traffic(), expected, "{o:?}");
    }
    w.clock.advance(Duration::from_secs(3600));
    assert_eq!(w.advance(Limit::All).await, Outcome::Completed);
    let st = w.state().await;
    assert_eq!(st.status, Status::Completed);
    // The state is exactly the fold of its journal.
    let journal = w.store().journal().await.unwrap();
    assert_eq!(crate::state::State::replay("t", &journal), st);
    // Baselines were captured before the first change.
    assert_eq!(st.targets["traffic via lb"].baseline, Value::Percent(0.0));
}

#[tokio::test]
async fn a_breach_rolls_everything_back_except_what_is_kept() {
    let w = World::new(PLAN);
    w.advance(Limit::All).await;
    w.clock.advance(Duration::from_secs(3600));
    w.advance(Limit::All).await; // 50%
    assert_eq!(w.traffic(), 50.0);
    *w.metric.value.lock().unwrap() = Some(0.2);
    w.clock.advance(Duration::from_secs(30));
    let o = w.advance(Limit::All).await;
    assert!(
        matches!(o, Outcome::RolledBack { breach: true, .. }),
        "{o:?}"
    );
    assert_eq!(w.traffic(), 0.0, "traffic back to the baseline");
    assert_eq!(w.mirror(), 0.0, "mirroring back to the baseline");
    assert!(w.dual(), "dual writes stay on: keep_on_rollback");
    let st = w.state().await;
    assert_eq!(st.status, Status::RolledBack);
    // A later advance reports the rollback again instead of moving on.
    assert!(matches!(
        w.advance(Limit::All).await,
        Outcome::RolledBack { .. }
    ));

    // retry: the phases before canary are put back, canary starts over.
    *w.metric.value.lock().unwrap() = Some(0.0);
    let store = w.store();
    let report = w.engine(&store).retry(false).await.unwrap();
    assert_eq!(report.phase, "canary");
    assert_eq!(w.mirror(), 100.0);
    assert_eq!(w.traffic(), 0.0);
    let st = w.state().await;
    assert_eq!(st.current().map(|s| s.id.as_str()), Some("canary.1"));
    w.advance(Limit::All).await;
    assert_eq!(w.traffic(), 10.0);
}

#[tokio::test]
async fn failure_limit_tolerates_breaches_before_tripping() {
    let w = World::new(&PLAN.replace("gates: [errors] }", "gates: [lenient] }"));
    w.advance(Limit::All).await;
    *w.metric.value.lock().unwrap() = Some(0.5);
    w.clock.advance(Duration::from_secs(30));
    let o = w.advance(Limit::All).await;
    assert!(
        matches!(o, Outcome::Waiting { .. }),
        "first breach tolerated: {o:?}"
    );
    w.clock.advance(Duration::from_secs(30));
    let o = w.advance(Limit::All).await;
    assert!(
        matches!(o, Outcome::RolledBack { .. }),
        "second breach trips: {o:?}"
    );
}

#[tokio::test]
async fn no_data_follows_the_gate_policy() {
    for (policy, expect) in [("fail", "rolled"), ("pass", "waiting"), ("pause", "paused")] {
        let text = PLAN.replace(
            "errors: { provider: m, query: errors, max: 0.01 }",
            &format!("errors: {{ provider: m, query: errors, max: 0.01, no_data: {policy} }}"),
        );
        let w = World::new(&text);
        *w.metric.value.lock().unwrap() = None;
        let o = w.advance(Limit::All).await;
        let got = match o {
            Outcome::RolledBack { .. } => "rolled",
            Outcome::Waiting { .. } => "waiting",
            Outcome::Paused { breach: true, .. } => "paused",
            other => panic!("{policy}: {other:?}"),
        };
        assert_eq!(got, expect, "no_data: {policy}");
    }
}

#[tokio::test]
async fn drift_stops_advance_unless_forced() {
    let w = World::new(PLAN);
    w.advance(Limit::Steps(3)).await;
    assert_eq!(w.traffic(), 10.0);
    // Someone sets the weight by hand.
    w.lb.values.lock().unwrap().insert(Channel::Traffic, 30.0);
    w.clock.advance(Duration::from_secs(3600));
    let store = w.store();
    let e = w.engine(&store);
    let err = e
        .advance(&AdvanceOptions {
            limit: Limit::All,
            wait: false,
            approve: vec![],
            yes: false,
            force: false,
            adopt_gates: false,
            prompter: None,
            accept_baseline: false,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::Drift(ref m) if m.contains("traffic via lb")),
        "{err}"
    );
    let forced = e
        .advance(&AdvanceOptions {
            limit: Limit::Steps(1),
            wait: false,
            approve: vec![],
            yes: false,
            force: true,
            adopt_gates: false,
            prompter: None,
            accept_baseline: false,
        })
        .await
        .unwrap();
    assert!(
        matches!(forced, Outcome::Waiting { ref step, .. } if step == "canary.2"),
        "{forced:?}"
    );
}

#[tokio::test]
async fn a_run_stopped_between_setting_and_verifying_resumes_without_drift() {
    let w = World::new(PLAN);
    w.advance(Limit::Steps(2)).await;
    // A run records its intent for canary.1, sets the weight, and stops
    // before it can record the change (killed, or its state went away).
    let store = w.store();
    let e = w.engine(&store);
    let mut s = e.session(true).await.unwrap();
    let target = Target::Traffic {
        provider: "lb".into(),
    };
    e.commit(
        &mut s,
        vec![
            Entry::Baseline {
                target: target.clone(),
                value: Value::Percent(0.0),
                note: None,
            },
            Entry::StepStarted {
                step: "canary.1".into(),
            },
            Entry::Intended {
                step: "canary.1".into(),
                target: target.clone(),
                before: Some(Value::Percent(0.0)),
                after: Value::Percent(10.0),
            },
        ],
    )
    .await
    .unwrap();
    drop(s);
    w.lb.values.lock().unwrap().insert(Channel::Traffic, 10.0);
    let sets = w.lb.sets.load(Ordering::SeqCst);
    // The next run is not stopped by the value the last one was setting:
    // it sets it again (absolutely) and carries on.
    let o = w.advance(Limit::All).await;
    assert!(
        matches!(o, Outcome::Waiting { ref step, .. } if step == "canary.2"),
        "{o:?}"
    );
    assert_eq!(w.traffic(), 10.0);
    assert_eq!(w.lb.sets.load(Ordering::SeqCst), sets + 1);
    let st = w.state().await;
    assert_eq!(st.targets[&target.id()].expected, Value::Percent(10.0));
    assert!(st.inflight.is_none());
}

#[tokio::test]
async fn completed_steps_must_not_change_but_future_ones_may() {
    let w = World::new(PLAN);
    w.advance(Limit::Steps(2)).await;
    // A future step changes: taken in.
    let w2 = World {
        plan: validate(
            &PLAN.replace("[10, 50, 100]", "[20, 50, 100]"),
            &HashMap::new(),
            crate::providers::catalog(),
        )
        .unwrap()
        .plan,
        ..World::new(PLAN)
    };
    let store = LocalStore::new(w.dir.path(), "t");
    let e = Engine {
        plan: &w2.plan,
        ..w.engine(&store)
    };
    let s = e.session(true).await.unwrap();
    assert!(s.state.steps[2].action.contains("20%"));
    drop(s);
    // A done step changes: refused, with the difference.
    let w3 = validate(
        &PLAN.replace("percent: 100 }", "percent: 50 }"),
        &HashMap::new(),
        crate::providers::catalog(),
    )
    .unwrap()
    .plan;
    let e = Engine {
        plan: &w3,
        ..w.engine(&store)
    };
    let err = e.session(true).await.err().expect("refused");
    let msg = err.to_string();
    assert!(
        msg.contains("shadow.1") && msg.contains("100%") && msg.contains("50%"),
        "{msg}"
    );
}

#[tokio::test]
async fn irreversible_steps_need_force_to_roll_back_past() {
    let text = PLAN.replace(
        "      - mirror: { provider: edge, percent: 100 }",
        "      - mirror: { provider: edge, percent: 100 }\n        irreversible: true",
    );
    let w = World::new(&text);
    w.advance(Limit::Steps(3)).await;
    let store = w.store();
    let e = w.engine(&store);
    let req = |force| RollbackRequest {
        to: None,
        reason: "test".into(),
        breach: false,
        force,
    };
    let err = e.rollback(&req(false)).await.unwrap_err();
    assert!(err.to_string().contains("irreversible"), "{err}");
    assert_eq!(w.traffic(), 10.0, "nothing changed");
    let report = e.rollback(&req(true)).await.unwrap();
    assert!(report.remaining.is_empty());
    assert_eq!(w.mirror(), 0.0);
    assert_eq!(w.traffic(), 0.0);
}

#[tokio::test]
async fn rollback_to_a_step_restores_the_values_after_it() {
    let w = World::new(PLAN);
    w.advance(Limit::All).await;
    w.clock.advance(Duration::from_secs(3600));
    w.advance(Limit::All).await; // 50%
    let store = w.store();
    w.engine(&store)
        .rollback(&RollbackRequest {
            to: Some("canary.2".into()),
            reason: "back to 10%".into(),
            breach: false,
            force: false,
        })
        .await
        .unwrap();
    assert_eq!(w.traffic(), 10.0);
    assert_eq!(w.mirror(), 100.0);
    let st = w.state().await;
    assert_eq!(st.status, Status::Active);
    assert_eq!(st.current().map(|s| s.id.as_str()), Some("canary.3"));
}

#[tokio::test]
async fn a_target_that_cannot_be_restored_is_named_and_the_rest_restored() {
    let w = World::new(PLAN);
    w.advance(Limit::Steps(3)).await;
    w.lb.broken.store(true, Ordering::SeqCst);
    let store = w.store();
    let report = w
        .engine(&store)
        .rollback(&RollbackRequest {
            to: None,
            reason: "test".into(),
            breach: false,
            force: false,
        })
        .await
        .unwrap();
    assert_eq!(report.remaining.len(), 1);
    assert_eq!(
        report.remaining[0].0,
        Target::Traffic {
            provider: "lb".into()
        }
    );
    assert_eq!(w.mirror(), 0.0, "the other targets are restored");
    let st = w.state().await;
    assert_eq!(st.status, Status::RollbackIncomplete);
    assert!(matches!(
        w.advance(Limit::All).await,
        Outcome::RollbackIncomplete { .. }
    ));
    // Fixed: rolling back again finishes the job.
    w.lb.broken.store(false, Ordering::SeqCst);
    let report = w
        .engine(&store)
        .rollback(&RollbackRequest {
            to: None,
            reason: "again".into(),
            breach: false,
            force: false,
        })
        .await
        .unwrap();
    assert!(report.remaining.is_empty());
    assert_eq!(w.traffic(), 0.0);
    assert_eq!(w.state().await.status, Status::RolledBack);
}

#[tokio::test]
async fn approvals_wait_for_a_person() {
    let text = PLAN.replace(
        "  - name: canary\n    steps:\n",
        "  - name: canary\n    steps:\n      - approve: Go?\n",
    );
    let w = World::new(&text);
    let o = w.advance(Limit::All).await;
    assert!(
        matches!(o, Outcome::Waiting { ref reason, .. } if reason.contains("--approve canary.1")),
        "{o:?}"
    );
    let store = w.store();
    let o = w
        .engine(&store)
        .advance(&AdvanceOptions {
            limit: Limit::All,
            wait: false,
            approve: vec!["canary.1".into()],
            yes: false,
            force: false,
            adopt_gates: false,
            prompter: None,
            accept_baseline: false,
        })
        .await
        .unwrap();
    assert!(
        matches!(o, Outcome::Waiting { ref step, .. } if step == "canary.3"),
        "{o:?}"
    );
    assert_eq!(w.traffic(), 10.0);
}

#[tokio::test]
async fn a_waiting_advance_sees_another_runs_rollback() {
    let mut w = World::new(PLAN);
    // The waiting run's sleeps take real time too, so the other run gets a
    // turn while it waits.
    w.clock = ManualClock::with_real_pause(w.clock.now(), Duration::from_millis(1));
    w.advance(Limit::All).await;
    let store_a = w.store();
    let store_b = w.store();
    let a = w.engine(&store_a);
    let b = w.engine(&store_b);
    let opts = AdvanceOptions {
        limit: Limit::All,
        wait: true,
        approve: vec![],
        yes: false,
        force: false,
        adopt_gates: false,
        prompter: None,
        accept_baseline: false,
    };
    let waiting = a.advance(&opts);
    let other = async {
        // Roll back once the first run is waiting in its soak.
        while store_b
            .load()
            .await
            .ok()
            .flatten()
            .is_none_or(|st| st.soak.is_none())
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        b.rollback(&RollbackRequest {
            to: None,
            reason: "operator".into(),
            breach: false,
            force: false,
        })
        .await
        .unwrap()
    };
    let (o, _) = tokio::join!(waiting, other);
    let o = o.unwrap();
    assert!(
        matches!(o, Outcome::RolledBack { breach: false, ref reason, .. } if reason == "operator"),
        "{o:?}"
    );
    assert_eq!(w.traffic(), 0.0);
}

#[tokio::test]
async fn hooks_run_without_the_lock_and_record_their_result() {
    let text = PLAN.replace(
        "  - name: shadow\n",
        "  - name: hooks\n    steps:\n      - run: [true]\n      - run: [sh, -c, 'exit 3']\n  - name: shadow\n",
    );
    let w = World::new(&text);
    let store = w.store();
    let e = w.engine(&store);
    let opts = AdvanceOptions {
        limit: Limit::All,
        wait: false,
        approve: vec![],
        yes: false,
        force: false,
        adopt_gates: false,
        prompter: None,
        accept_baseline: false,
    };
    // The first hook passes, the second fails the step: exit 1, retryable.
    let err = e.advance(&opts).await.unwrap_err();
    assert!(
        matches!(err, EngineError::StepFailed { ref step, ref error } if step == "hooks.2" && error.contains("exited with 3")),
        "{err}"
    );
    let st = w.state().await;
    assert_eq!(st.status, Status::Failed);
    assert_eq!(st.current().map(|s| s.id.as_str()), Some("hooks.2"));
    assert!(st.claim.is_none(), "a failed step leaves no claim behind");
}

#[tokio::test]
async fn a_second_rollback_keeps_what_the_first_kept() {
    let w = World::new(PLAN);
    w.advance(Limit::All).await;
    assert!(w.dual());
    let store = w.store();
    let rollback = |reason: &str| RollbackRequest {
        to: None,
        reason: reason.into(),
        breach: false,
        force: false,
    };
    let report = w.engine(&store).rollback(&rollback("first")).await.unwrap();
    assert!(report.remaining.is_empty());
    assert!(w.dual(), "keep_on_rollback");
    assert_eq!(w.traffic(), 0.0);
    // Run again (to be sure, or by a script that missed the first exit):
    // dual writes must stay on.
    let report = w.engine(&store).rollback(&rollback("again")).await.unwrap();
    assert!(report.remaining.is_empty());
    assert!(w.dual(), "a second rollback turned dual writes off");
    // And after a partial rollback that kept them, a full one keeps them.
    let store = w.store();
    w.engine(&store).retry(false).await.unwrap();
    w.advance(Limit::All).await;
    assert_eq!(w.traffic(), 10.0);
    w.engine(&store)
        .rollback(&RollbackRequest {
            to: Some("dual-write.1".into()),
            reason: "partial".into(),
            breach: false,
            force: false,
        })
        .await
        .unwrap();
    w.engine(&store).rollback(&rollback("full")).await.unwrap();
    assert!(w.dual(), "a full rollback after a partial one");
    let st = w.state().await;
    let journal = w.store().journal().await.unwrap();
    assert_eq!(crate::state::State::replay("t", &journal), st);
}

#[tokio::test]
async fn a_watching_supervisor_evaluates_on_the_interval_and_never_advances() {
    use crate::engine::watch::Watch;
    let w = World::new(PLAN);
    let store = w.store();
    let engine = w.engine(&store);
    // Not started: nothing to do, nothing written.
    assert!(matches!(
        engine.watch(false).await.unwrap(),
        Watch::Idle { .. }
    ));
    assert!(store.load().await.unwrap().is_none());
    w.advance(Limit::All).await; // 10%, soaking canary.2
    let serial = w.state().await.serial;
    // The gate was just read: nothing is due, nothing written.
    let Watch::Soaking { step, next, .. } = engine.watch(false).await.unwrap() else {
        panic!("expected a soak");
    };
    assert_eq!(step, "canary.2");
    assert_eq!(next, engine.now().plus(Duration::from_secs(30)));
    assert_eq!(w.state().await.serial, serial);
    // Past the soak's end: the gate is still evaluated, the soak is not
    // completed, traffic stays.
    w.clock.advance(Duration::from_secs(3600 + 30));
    assert!(matches!(
        engine.watch(false).await.unwrap(),
        Watch::Soaking { .. }
    ));
    let st = w.state().await;
    assert_eq!(st.position, 3, "still at canary.2");
    assert_eq!(st.gates["errors"].at, engine.now());
    assert_eq!(w.traffic(), 10.0);
    // A breach then trips the breaker, as under advance --wait.
    *w.metric.value.lock().unwrap() = Some(0.2);
    w.clock.advance(Duration::from_secs(30));
    let o = engine.watch(false).await.unwrap();
    assert!(
        matches!(o, Watch::Acted(Outcome::RolledBack { breach: true, .. })),
        "{o:?}"
    );
    assert_eq!(w.traffic(), 0.0);
    assert!(matches!(
        engine.watch(false).await.unwrap(),
        Watch::Blocked(Outcome::RolledBack { .. })
    ));
}

#[tokio::test]
async fn an_advancing_supervisor_completes_soaks_and_respects_a_pause() {
    use crate::engine::watch::Watch;
    let w = World::new(PLAN);
    let store = w.store();
    let engine = w.engine(&store);
    // It never starts a migration by itself.
    assert!(matches!(
        engine.watch(true).await.unwrap(),
        Watch::Idle { .. }
    ));
    w.advance(Limit::All).await;
    engine.pause("hands off").await.unwrap();
    w.clock.advance(Duration::from_secs(3600));
    // Paused: progress is held, but the soak's gates are still read.
    let before = w.state().await.gates["errors"].at;
    assert!(matches!(
        engine.watch(true).await.unwrap(),
        Watch::Soaking { paused: true, .. }
    ));
    assert!(w.state().await.gates["errors"].at > before);
    assert_eq!(w.traffic(), 10.0);
    engine.resume().await.unwrap();
    // The hour paused did not count: the soak still has its hour to go.
    assert!(matches!(
        engine.watch(true).await.unwrap(),
        Watch::Soaking { ref step, .. } if step == "canary.2"
    ));
    assert_eq!(w.traffic(), 10.0);
    w.clock.advance(Duration::from_secs(3600));
    // The soak is over: completed, and the next step runs, up to the next soak.
    let o = engine.watch(true).await.unwrap();
    assert!(
        matches!(o, Watch::Soaking { ref step, .. } if step == "canary.4"),
        "{o:?}"
    );
    assert_eq!(w.traffic(), 50.0);
}

#[tokio::test]
async fn a_reconciliation_reading_is_recorded_only_for_a_running_migration() {
    let w = World::new(PLAN);
    let store = w.store();
    let engine = w.engine(&store);
    let reading = crate::engine::ReconcileResult::complete(0.75, serde_json::json!({"rows": 4}));
    assert!(!engine.record_reconciliation("r", &reading).await.unwrap());
    assert!(store.load().await.unwrap().is_none(), "not started by it");
    w.advance(Limit::All).await;
    assert!(engine.record_reconciliation("r", &reading).await.unwrap());
    assert_eq!(w.state().await.parity["r"].parity, 0.75);
}

const PARITY_PLAN: &str = r#"
version: 1
name: t
providers:
  old: { type: sqlite, path: /nonexistent/old.db }
  new: { type: sqlite, path: /nonexistent/new.db }
reconciliations:
  good:
    source: { provider: old, table: t }
    target: { provider: new, table: t }
    key: [id]
gates:
  fresh: { reconcile: good, min: 1.0, max_age: 10m }
  lenient: { reconcile: good, min: 1.0, max_age: 10m, no_data: pass }
  ageless: { reconcile: good, min: 1.0 }
phases:
  - name: check
    steps:
      - check: [fresh]
"#;

fn parity_state(w: &World, age: Duration, summary: serde_json::Value) -> crate::state::State {
    let mut st = crate::state::State::empty("t");
    st.parity.insert(
        "good".into(),
        crate::state::ParityRecord {
            at: crate::state::Timestamp::new(w.clock.now() - age),
            parity: 1.0,
            // As a record written before these were kept: from the summary.
            complete: None,
            swept: None,
            summary,
        },
    );
    st
}

#[tokio::test]
async fn a_parity_older_than_max_age_is_no_data_with_its_age() {
    let w = World::new(PARITY_PLAN);
    let store = w.store();
    let engine = w.engine(&store);
    let gate = |n: &str| w.plan.gate(n).unwrap().clone();
    // Fresh enough: read as recorded.
    let st = parity_state(&w, Duration::from_secs(9 * 60), serde_json::json!({}));
    let r = engine.evaluate(&gate("fresh"), &st).await;
    assert_eq!((r.value, r.ok), (Some(1.0), true), "{:?}", r.note);
    // Too old: no data, failed by no_data: fail, the note says how old.
    let st = parity_state(&w, Duration::from_secs(15 * 60), serde_json::json!({}));
    let r = engine.evaluate(&gate("fresh"), &st).await;
    assert_eq!((r.value, r.ok), (None, false));
    let note = r.note.unwrap_or_default();
    assert!(
        note.contains("15m old") && note.contains("max_age 10m"),
        "{note}"
    );
    assert!(note.ends_with("(no_data: fail)"), "{note}");
    // The gate's no_data policy decides.
    let r = engine.evaluate(&gate("lenient"), &st).await;
    assert_eq!((r.value, r.ok), (None, true));
    // Without max_age, age does not matter (and nothing is re-run).
    let r = engine.evaluate(&gate("ageless"), &st).await;
    assert_eq!((r.value, r.ok), (Some(1.0), true));
    assert!(r.reconciled.is_none());
}

#[tokio::test]
async fn a_continuous_reading_before_its_first_full_sweep_is_no_data() {
    let w = World::new(PARITY_PLAN);
    let store = w.store();
    let engine = w.engine(&store);
    let gate = w.plan.gate("ageless").unwrap().clone();
    let st = parity_state(
        &w,
        Duration::from_secs(1),
        serde_json::json!({"complete": false, "swept": 1200}),
    );
    let r = engine.evaluate(&gate, &st).await;
    assert_eq!((r.value, r.ok), (None, false));
    let note = r.note.unwrap_or_default();
    assert!(
        note.contains("not completed its first sweep (1200 rows compared so far)"),
        "{note}"
    );
    let st = parity_state(
        &w,
        Duration::from_secs(1),
        serde_json::json!({"complete": true}),
    );
    assert_eq!(engine.evaluate(&gate, &st).await.value, Some(1.0));
}

/// The journal's record names from `from` on.
async fn kinds(w: &World, from: usize) -> Vec<&'static str> {
    let journal = w.store().journal().await.unwrap();
    journal[from..].iter().map(|r| r.entry.name()).collect()
}

async fn journal_len(w: &World) -> usize {
    w.store().journal().await.unwrap().len()
}

/// Records, at each `change` event, the last record of the journal then.
struct JournalProbe {
    path: std::path::PathBuf,
    at_change: Mutex<Vec<String>>,
}

impl Reporter for JournalProbe {
    fn event(&self, event: &Event) {
        if let Event::Change { .. } = event {
            let text = std::fs::read_to_string(&self.path).unwrap_or_default();
            let last = text
                .lines()
                .last()
                .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .and_then(|v| v["event"].as_str().map(str::to_string))
                .unwrap_or_default();
            self.at_change.lock().unwrap().push(last);
        }
    }
}

/// Run to the canary's 50% soak and trip the breaker there.
async fn breach_at_50(w: &World) {
    w.advance(Limit::All).await;
    w.clock.advance(Duration::from_secs(3600));
    w.advance(Limit::All).await;
    *w.metric.value.lock().unwrap() = Some(0.2);
    w.clock.advance(Duration::from_secs(30));
    let o = w.advance(Limit::All).await;
    assert!(matches!(o, Outcome::RolledBack { .. }), "{o:?}");
    *w.metric.value.lock().unwrap() = Some(0.0);
}

#[tokio::test]
async fn a_step_journals_intent_set_applied_verified_done() {
    let w = World::new(PLAN);
    w.advance(Limit::Steps(1)).await;
    let from = journal_len(&w).await;
    w.advance(Limit::Steps(1)).await; // shadow.1: mirror 100%
    assert_eq!(
        kinds(&w, from).await,
        [
            "baseline",
            "step_started",
            "intended",
            "applied",
            "verified",
            "step_done"
        ]
    );
    assert_eq!(w.edge.sets.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_step_whose_target_is_already_right_is_verified_without_a_write() {
    let w = World::new(PLAN);
    w.flags.flags.lock().unwrap().insert(
        "dual".into(),
        FlagState {
            enabled: true,
            percent: None,
        },
    );
    let from = journal_len(&w).await;
    w.advance(Limit::Steps(1)).await;
    let got = kinds(&w, from).await;
    let tail = &got[got.len() - 4..];
    assert_eq!(
        tail,
        ["baseline", "step_started", "verified", "step_done"],
        "{got:?}"
    );
    assert!(
        !got.contains(&"intended") && !got.contains(&"applied"),
        "{got:?}"
    );
    let st = w.state().await;
    let dual = Target::Flag {
        provider: "flags".into(),
        key: "dual".into(),
    };
    assert_eq!(
        st.targets[&dual.id()].changed_by.as_deref(),
        Some("dual-write.1")
    );
    assert_eq!(st.position, 1);
}

#[tokio::test]
async fn a_step_journals_its_intent_before_it_says_the_change() {
    let w = World::new(PLAN);
    let store = w.store();
    let probe = JournalProbe {
        path: store.journal_path(),
        at_change: Mutex::default(),
    };
    let e = Engine {
        events: &probe,
        ..w.engine(&store)
    };
    e.advance(&AdvanceOptions {
        limit: Limit::Steps(2),
        wait: false,
        approve: vec![],
        yes: false,
        force: false,
        adopt_gates: false,
        prompter: None,
        accept_baseline: false,
    })
    .await
    .unwrap();
    assert_eq!(*probe.at_change.lock().unwrap(), ["intended", "intended"]);
}

#[tokio::test]
async fn retry_journals_each_reapplied_target_and_skips_those_already_right() {
    let w = World::new(PLAN);
    breach_at_50(&w).await;
    assert_eq!(w.mirror(), 0.0);
    assert!(w.dual(), "kept: already right for the retry");
    let from = journal_len(&w).await;
    let store = w.store();
    let probe = JournalProbe {
        path: store.journal_path(),
        at_change: Mutex::default(),
    };
    let e = Engine {
        events: &probe,
        ..w.engine(&store)
    };
    let report = e.retry(false).await.unwrap();
    // The flag, still on, is left alone (verified as it is); the mirror
    // is put back (intent first, and only then said); traffic belongs to
    // the failed phase.
    assert_eq!(
        kinds(&w, from).await,
        ["verified", "intended", "applied", "verified", "retried"]
    );
    assert_eq!(*probe.at_change.lock().unwrap(), ["intended"]);
    assert_eq!(report.reapplied.len(), 1, "{:?}", report.reapplied);
    assert_eq!(w.mirror(), 100.0);
}

#[tokio::test]
async fn a_retry_that_cannot_read_a_target_journals_the_failure_redacted() {
    crate::redact::register("s3cr3t-converge-token");
    let w = World::new(PLAN);
    breach_at_50(&w).await;
    *w.edge.unreadable.lock().unwrap() =
        Some("GET http://admin:s3cr3t-converge-token@edge/ refused".into());
    let from = journal_len(&w).await;
    let store = w.store();
    let err = w.engine(&store).retry(false).await.unwrap_err();
    assert!(!err.to_string().contains("s3cr3t"), "{err}");
    let journal = w.store().journal().await.unwrap();
    let records: Vec<_> = journal[from..].iter().map(|r| &r.entry).collect();
    let [Entry::Verified { .. }, Entry::StepFailed { step, error }] = records.as_slice() else {
        panic!("{records:?}");
    };
    assert_eq!(step, "shadow.1");
    assert!(
        error.contains("refused") && !error.contains("s3cr3t"),
        "{error}"
    );
    assert_eq!(
        w.state().await.status,
        Status::RolledBack,
        "retry can run again"
    );
}

#[tokio::test]
async fn a_rollback_journals_its_values_first_then_each_target_as_it_lands() {
    let w = World::new(PLAN);
    w.advance(Limit::Steps(3)).await; // dual on, mirror 100%, traffic 10%
                                      // The mirror was put back by hand already: nothing to set there.
    w.edge.values.lock().unwrap().insert(Channel::Mirror, 0.0);
    let sets = w.edge.sets.load(Ordering::SeqCst);
    let from = journal_len(&w).await;
    let store = w.store();
    let report = w
        .engine(&store)
        .rollback(&RollbackRequest {
            to: None,
            reason: "test".into(),
            breach: false,
            force: false,
        })
        .await
        .unwrap();
    assert!(report.remaining.is_empty(), "{:?}", report.remaining);
    let journal = w.store().journal().await.unwrap();
    let names: Vec<_> = journal[from..].iter().map(|r| r.entry.name()).collect();
    // No intended/applied/verified: rollback_started lists every value.
    assert_eq!(
        names,
        [
            "rollback_started",
            "restored",
            "restored",
            "restored",
            "rollback_finished"
        ]
    );
    assert_eq!(
        w.edge.sets.load(Ordering::SeqCst),
        sets,
        "already right: not set"
    );
    assert_eq!(w.traffic(), 0.0);
    assert!(w.dual());
}

/// A proxy with a configuration of its own and runtime overrides over it
/// (as Envoy's route and runtime): without an override it reads the
/// configured share as such.
#[derive(Default)]
struct OverridingRouter {
    configured: Mutex<f64>,
    overrides: Mutex<HashMap<Channel, f64>>,
    unsets: AtomicU32,
}

#[async_trait]
impl Router for OverridingRouter {
    async fn set(&self, channel: Channel, percent: f64) -> Result<(), ProviderError> {
        self.overrides.lock().unwrap().insert(channel, percent);
        Ok(())
    }
    async fn get(&self, channel: Channel) -> Result<f64, ProviderError> {
        Ok(self.read(channel).await?.percent().unwrap_or_default())
    }
    async fn read(&self, channel: Channel) -> Result<Value, ProviderError> {
        Ok(match self.overrides.lock().unwrap().get(&channel) {
            Some(p) => Value::Percent(*p),
            None => Value::Configured {
                configured: *self.configured.lock().unwrap(),
            },
        })
    }
    async fn unset(&self, channel: Channel, _percent: f64) -> Result<(), ProviderError> {
        self.unsets.fetch_add(1, Ordering::SeqCst);
        self.overrides.lock().unwrap().remove(&channel);
        Ok(())
    }
}

#[tokio::test]
async fn a_configured_baseline_is_restored_by_removing_the_override() {
    let w = World::new(
        r#"
version: 1
name: t
providers:
  lb: { type: exec, set: [true], get: [true] }
phases:
  - name: canary
    steps:
      - traffic: { provider: lb, percent: 10 }
      - traffic: { provider: lb, percent: 0 }
      - approve: Finish?
"#,
    );
    let lb = Arc::new(OverridingRouter::default());
    w.registry.set_router("lb", lb.clone());
    w.advance(Limit::All).await;
    let st = w.state().await;
    let target = "traffic via lb";
    assert_eq!(
        st.targets[target].baseline,
        Value::Configured { configured: 0.0 }
    );
    // The last step pinned 0% as an override: the same share as the
    // baseline, but not the same thing.
    assert_eq!(lb.overrides.lock().unwrap()[&Channel::Traffic], 0.0);

    // Back to after the first step: an override, written.
    let store = w.store();
    let e = w.engine(&store);
    e.rollback(&RollbackRequest {
        to: Some("canary.1".into()),
        reason: "test".into(),
        breach: false,
        force: false,
    })
    .await
    .unwrap();
    assert_eq!(lb.overrides.lock().unwrap()[&Channel::Traffic], 10.0);
    assert_eq!(lb.unsets.load(Ordering::SeqCst), 0);

    // Back to the baseline: the override removed.
    let report = e
        .rollback(&RollbackRequest {
            to: None,
            reason: "test".into(),
            breach: false,
            force: false,
        })
        .await
        .unwrap();
    assert!(report.remaining.is_empty(), "{report:?}");
    assert!(lb.overrides.lock().unwrap().is_empty());
    assert_eq!(lb.unsets.load(Ordering::SeqCst), 1);

    // The configuration is the proxy's to change: not drift, and nothing
    // for another rollback to do.
    *lb.configured.lock().unwrap() = 30.0;
    let st = w.state().await;
    assert_eq!(e.drift_words(&st).await, None);
    e.rollback(&RollbackRequest {
        to: None,
        reason: "again".into(),
        breach: false,
        force: false,
    })
    .await
    .unwrap();
    assert_eq!(lb.unsets.load(Ordering::SeqCst), 1);
    assert!(lb.overrides.lock().unwrap().is_empty());
    // An override set by hand is drift.
    lb.overrides.lock().unwrap().insert(Channel::Traffic, 30.0);
    assert!(e.drift_words(&st).await.is_some());
}

#[tokio::test]
async fn a_step_sets_its_share_even_where_the_configuration_gives_it() {
    let w = World::new(
        r#"
version: 1
name: t
providers:
  lb: { type: exec, set: [true], get: [true] }
phases:
  - name: canary
    steps:
      - traffic: { provider: lb, percent: 0 }
      - approve: Finish?
"#,
    );
    let lb = Arc::new(OverridingRouter::default());
    w.registry.set_router("lb", lb.clone());
    w.advance(Limit::All).await;
    // Pinned: the plan's 0% holds whatever the configuration says next.
    assert_eq!(lb.overrides.lock().unwrap()[&Channel::Traffic], 0.0);
    let st = w.state().await;
    assert_eq!(st.targets["traffic via lb"].expected, Value::Percent(0.0));
}

/// The event a journaled change is told as, in the JSON form reporters
/// see (the clock is frozen, so an `ends_at` computed at commit matches).
fn told(e: &Event) -> serde_json::Value {
    serde_json::to_value(e).unwrap_or_default()
}

#[tokio::test]
async fn every_journaled_change_is_told_once_as_its_event_in_journal_order() {
    let w = World::new(PLAN);
    // A run with every kind of change: steps, a soak, a breach and its
    // rollback, a retry, a pause and a resume, and the end.
    breach_at_50(&w).await;
    let store = w.store();
    w.engine(&store).retry(false).await.unwrap();
    w.engine(&store).pause("by hand").await.unwrap();
    w.engine(&store).resume().await.unwrap();
    for _ in 0..20 {
        if matches!(w.advance(Limit::All).await, Outcome::Completed) {
            break;
        }
        w.clock.advance(Duration::from_secs(3600));
    }
    let journal = w.store().journal().await.unwrap();
    assert!(
        journal.iter().any(|r| r.entry.name() == "completed"),
        "the run reached the end"
    );
    let steps = w.plan.steps().count();
    let from_journal: Vec<serde_json::Value> = journal
        .iter()
        .filter_map(|r| Event::of(&r.entry, &r.actor, r.at, steps))
        .map(|e| told(&e))
        .collect();
    // What was said of journaled changes: every event `Event::of` makes,
    // with an `ends_at` taken from the journal's own record of the soak.
    let twins = [
        "baseline",
        "change",
        "verified",
        "step_done",
        "step_failed",
        "soak_started",
        "breach",
        "approved",
        "paused",
        "resumed",
        "rollback_started",
        "restored",
        "restore_failed",
        "rollback_finished",
        "retried",
        "completed",
    ];
    let said: Vec<serde_json::Value> = w
        .events
        .take()
        .iter()
        .map(told)
        .filter(|v| {
            twins.contains(&v["type"].as_str().unwrap_or_default())
                && v["dry_run"].as_bool() != Some(true)
                && !(v["type"] == "restore_failed" && v["retrying"] == true)
        })
        .collect();
    let kinds = |v: &[serde_json::Value]| -> Vec<String> {
        v.iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(kinds(&said), kinds(&from_journal));
    // Field for field, but for what only the moment of telling knows.
    for (a, b) in said.iter().zip(&from_journal) {
        let strip = |v: &serde_json::Value| {
            let mut v = v.clone();
            if let Some(o) = v.as_object_mut() {
                o.remove("ends_at");
            }
            v
        };
        assert_eq!(strip(a), strip(b));
    }
}

/// Counters by query, for `compare` gates.
#[derive(Default)]
struct Counters {
    values: Mutex<HashMap<String, f64>>,
}

#[async_trait]
impl Metrics for Counters {
    async fn query(&self, q: &str) -> Result<Option<f64>, ProviderError> {
        Ok(self.values.lock().unwrap().get(q).copied())
    }
}

impl Counters {
    fn set(&self, ce: f64, ct: f64, be: f64, bt: f64) {
        let mut v = self.values.lock().unwrap();
        for (k, x) in [("ce", ce), ("ct", ct), ("be", be), ("bt", bt)] {
            v.insert(k.to_string(), x);
        }
    }
}

const COMPARE_PLAN: &str = r#"
version: 1
name: t
settings: { interval: 30s, rollback_timeout: 5s }
providers:
  lb: { type: exec, set: [true], get: [true] }
  m: { type: exec, get: [true] }
gates:
  cmp:
    compare:
      provider: m
      candidate: { events: ce, total: ct }
      baseline: { events: be, total: bt }
      max_ratio: 1.5
    no_data: pass
phases:
  - name: canary
    steps:
      - traffic: { provider: lb, percent: 10 }
      - soak: 1h
        gates: [cmp]
"#;

#[tokio::test]
async fn a_comparison_keeps_its_evidence_in_the_state_and_trips_on_evidence() {
    use crate::domain::compare::Verdict;
    let w = World::new(COMPARE_PLAN);
    let counters = Arc::new(Counters::default());
    w.registry.set_metrics("m", counters.clone());
    counters.set(100.0, 10_000.0, 1000.0, 100_000.0);
    w.advance(Limit::All).await;
    // The first look takes the counters the comparison counts from.
    let st = w.state().await;
    let track = &st.soak.as_ref().unwrap().compare["cmp"];
    assert_eq!(track.start.candidate_total, 10_000.0);
    assert!(st.gates["cmp"].ok);
    // Equal rates, look after look: within tolerance, each look added once.
    for i in 1..=5 {
        let f = f64::from(i);
        counters.set(
            100.0 + 50.0 * f,
            10_000.0 + 10_000.0 * f,
            1000.0 + 500.0 * f,
            100_000.0 + 100_000.0 * f,
        );
        w.clock.advance(Duration::from_secs(30));
        // Each look by a fresh engine and store, as another run or a
        // supervisor on another replica would: the evidence is the state's.
        w.advance(Limit::All).await;
    }
    let st = w.state().await;
    let e = st.gates["cmp"].evidence.clone().unwrap();
    assert_eq!(e.verdict, Verdict::Within, "{e}");
    assert_eq!(e.looks, 5);
    assert_eq!(e.candidate.events, 250.0);
    assert_eq!(e.baseline.total, 500_000.0);
    // The state is the fold of the journal, evidence included.
    let journal = w.store().journal().await.unwrap();
    let replayed = crate::state::State::replay(&st.migration, &journal);
    assert_eq!(
        replayed.soak.as_ref().unwrap().compare,
        st.soak.as_ref().unwrap().compare
    );
    // A candidate process restarts: its counters begin again, not a
    // negative rate.
    counters.set(20.0, 4000.0, 4000.0, 640_000.0);
    w.clock.advance(Duration::from_secs(30));
    w.advance(Limit::All).await;
    let e = w.state().await.gates["cmp"].evidence.clone().unwrap();
    assert_eq!(e.resets, 2);
    assert_eq!(e.candidate.events, 270.0);
    assert_ne!(e.verdict, Verdict::Breach);
    // Three times the baseline's errors: a breach, on evidence, and back.
    let mut ce = 20.0;
    let mut be = 4000.0;
    let mut o = Outcome::Completed;
    for i in 1..=40 {
        ce += 150.0;
        be += 500.0;
        counters.set(
            ce,
            4000.0 + 10_000.0 * f64::from(i),
            be,
            640_000.0 + 100_000.0 * f64::from(i),
        );
        w.clock.advance(Duration::from_secs(30));
        o = w.advance(Limit::All).await;
        if !matches!(o, Outcome::Waiting { .. }) {
            break;
        }
    }
    assert!(
        matches!(o, Outcome::RolledBack { breach: true, ref reason, .. } if reason.contains("worse than tolerated")),
        "{o:?}"
    );
    assert_eq!(w.traffic(), 0.0);
    let e = w.state().await.gates["cmp"].evidence.clone().unwrap();
    assert_eq!(e.verdict, Verdict::Breach);
    assert!(e.ratio_low > 1.0 && e.e_value >= e.threshold, "{e}");
}

#[tokio::test]
async fn a_soak_that_ends_without_evidence_says_so() {
    let w = World::new(COMPARE_PLAN);
    let counters = Arc::new(Counters::default());
    w.registry.set_metrics("m", counters.clone());
    // Traffic, but not a single error in either arm: nothing to judge by.
    counters.set(0.0, 0.0, 0.0, 0.0);
    w.advance(Limit::All).await;
    counters.set(0.0, 500.0, 0.0, 5000.0);
    w.clock.advance(Duration::from_secs(3600));
    let o = w.advance(Limit::All).await;
    assert_eq!(o, Outcome::Completed);
    let journal = w.store().journal().await.unwrap();
    let done = journal
        .iter()
        .rev()
        .find_map(|r| match &r.entry {
            crate::state::Entry::StepDone { note, .. } => note.clone(),
            _ => None,
        })
        .unwrap();
    assert!(
        done.contains("without enough evidence to judge cmp"),
        "{done}"
    );
}
