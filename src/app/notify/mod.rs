//! Telling people (`settings.notify`), outside the engine's path: the
//! engine emits its events to a reporter as always; [`Notify`] is given a
//! copy of each ([`Notify::event`]: no waiting, no I/O) and the states a
//! command or the supervisor reads ([`Notify::observe`]), and hands what
//! is to be sent to one background task per notifier, each behind a
//! bounded queue. So the breaker restores traffic first and notifications
//! go after; a notifier that is down is logged and retried, and never
//! changes an exit code; at the end of a command what is still queued gets
//! a short, bounded time to go ([`Notify::finish`]).
//!
//! Alertmanager gets conditions ([`conditions`]), firing while they hold —
//! `endsAt` ahead by [`Options::hold`], posted again every
//! [`Options::refresh`] by a supervisor — and resolved (`endsAt` now) when
//! they clear. Webhooks get events: step done, breach, rollback started
//! and finished, approval needed, mismatch, completed.

pub mod conditions;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::domain::notify::{Alert, Notice};
use crate::engine::{Event, Reporter};
use crate::plan::Plan;
use crate::providers::{Message, Notifier, Outgoing, Registry};
use crate::state::{State, Timestamp};

/// How many requests wait for a notifier before new ones are dropped (and
/// said to be).
const QUEUE: usize = 256;

/// How long a command gives what is still queued to go, at exit.
pub const FLUSH: Duration = Duration::from_secs(3);

/// Where a notifier's troubles are said (already redacted).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// How far ahead a firing alert's `endsAt` is: Alertmanager resolves it
    /// by itself then unless it is posted again.
    pub hold: Duration,
    /// How often a firing alert is posted again (by a supervisor).
    pub refresh: Duration,
    /// How long a drift seen holds `MigrateDrift` without being seen again.
    pub drift_hold: Duration,
}

impl Options {
    /// A command: alerts it leaves firing hold for an hour unless a
    /// supervisor keeps them.
    pub const COMMAND: Options = Options {
        hold: Duration::from_secs(3600),
        refresh: Duration::from_secs(60),
        drift_hold: Duration::from_secs(300),
    };

    /// A supervisor: it posts firing alerts again every minute, each held
    /// for five.
    pub fn supervisor(poll: Duration) -> Options {
        Options {
            hold: Duration::from_secs(300),
            refresh: Duration::from_secs(60),
            drift_hold: (poll * 10).max(Duration::from_secs(60)),
        }
    }
}

/// One notifier, fed through its queue by its own task.
struct Sink {
    name: String,
    notifier: Arc<dyn Notifier>,
    tx: mpsc::Sender<Outgoing>,
    task: JoinHandle<()>,
}

/// The notifications of one migration.
pub struct Notify {
    migration: String,
    /// Emptied by [`Self::finish`].
    sinks: Mutex<Vec<Sink>>,
    options: Options,
    log: Log,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Alerts posted as firing, by key, and when last posted.
    firing: BTreeMap<String, (Alert, Instant)>,
    /// The last reading of each gate, as its event said it.
    gates: BTreeMap<String, serde_json::Value>,
    /// The last drift seen, and when.
    drift: Option<(String, Instant)>,
    /// A queue was full (said once).
    dropped: bool,
    /// Alerts resolved once at the start (whatever an earlier run left).
    cleared: std::collections::BTreeSet<String>,
}

impl Notify {
    /// The notifiers of `plan`'s `settings.notify`, each with its task
    /// started (`None` when the plan names none). A notifier that cannot
    /// be built is said and left out.
    pub fn start(plan: &Plan, registry: &Registry, options: Options, log: Log) -> Option<Self> {
        if plan.settings.notify.is_empty() {
            return None;
        }
        if tokio::runtime::Handle::try_current().is_err() {
            log("notify: not started: no async runtime (nothing will be sent)");
            return None;
        }
        let mut sinks = Vec::new();
        for name in &plan.settings.notify {
            match registry.notifier(name) {
                Ok(notifier) => {
                    let (tx, rx) = mpsc::channel(QUEUE);
                    let task =
                        tokio::spawn(deliver(name.clone(), notifier.clone(), rx, log.clone()));
                    sinks.push(Sink {
                        name: name.clone(),
                        notifier,
                        tx,
                        task,
                    });
                }
                Err(e) => log(&format!(
                    "notify: {}: not used: {e:#}",
                    crate::redact::clean(name)
                )),
            }
        }
        Some(Self {
            migration: plan.name.clone(),
            sinks: Mutex::new(sinks),
            options,
            log,
            inner: Mutex::new(Inner::default()),
        })
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hand `message` to every notifier that takes it (never waits).
    fn post(&self, message: &Message<'_>) {
        let sinks = self
            .sinks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for s in sinks.iter() {
            let Some(out) = s.notifier.render(message) else {
                continue;
            };
            if s.tx.try_send(out).is_err() {
                let first = !std::mem::replace(&mut self.inner().dropped, true);
                if first {
                    (self.log)(&format!(
                        "notify: {}: too many notifications waiting; some are dropped",
                        s.name
                    ));
                }
            }
        }
    }

    /// An engine event: a notice for the webhooks, and what the alerts need
    /// to know (gate readings, drift).
    pub fn event(&self, event: &Event) {
        match event {
            Event::Gate { gate, .. } => {
                if let Ok(v) = serde_json::to_value(event) {
                    self.inner().gates.insert(gate.clone(), v);
                }
            }
            Event::Drift {
                target,
                expected,
                live,
                ..
            } => {
                let live = live
                    .as_ref()
                    .map_or_else(|| "unreadable".to_string(), ToString::to_string);
                self.drift_seen(&format!("{target} is at {live}, not {expected}"));
            }
            _ => {}
        }
        if let Some(n) = self.notice(event) {
            self.post(&Message::Notice(&n, SystemTime::now()));
        }
    }

    /// A look at the live values found drift (`what`, in words):
    /// `MigrateDrift` holds while it is seen again within
    /// [`Options::drift_hold`].
    pub fn drift_seen(&self, what: &str) {
        self.inner().drift = Some((what.to_string(), Instant::now()));
    }

    /// The webhook notice of an event, if it is one worth telling.
    fn notice(&self, event: &Event) -> Option<Notice> {
        let notice =
            |event: &str, severity: &str, summary: String, next: Option<String>, fields| Notice {
                event: event.to_string(),
                migration: self.migration.clone(),
                severity: severity.to_string(),
                summary,
                next,
                fields,
            };
        Some(match event {
            Event::StepDone { step, note } => notice(
                "step_done",
                "info",
                match note {
                    Some(n) => format!("step {step} done: {n}"),
                    None => format!("step {step} done"),
                },
                None,
                json!({"step": step}),
            ),
            Event::Breach {
                step,
                gate,
                value,
                reason,
                ..
            } => {
                let evidence = self.inner().gates.get(gate).cloned();
                notice(
                    "breach",
                    "critical",
                    format!("the breaker tripped: {reason}"),
                    Some("migrate status".into()),
                    json!({"step": step, "gate": gate, "value": value, "evidence": evidence}),
                )
            }
            Event::RollbackStarted {
                reason,
                to,
                targets,
                legacy,
            } => notice(
                "rollback_started",
                "warning",
                format!("rolling back {} target(s): {reason}", targets),
                None,
                json!({"reason": reason, "to": to, "targets": targets, "legacy": legacy}),
            ),
            Event::RollbackFinished { remaining, seconds } if remaining.is_empty() => notice(
                "rollback_finished",
                "warning",
                format!("rolled back: every target restored and verified ({seconds:.2} s)"),
                Some("fix the cause, then `migrate retry`".into()),
                json!({"remaining": remaining, "seconds": seconds}),
            ),
            Event::RollbackFinished { remaining, seconds } => notice(
                "rollback_finished",
                "critical",
                format!(
                    "ROLLBACK INCOMPLETE — still wrong: {}",
                    remaining.join(", ")
                ),
                Some("fix access to these targets, then `migrate rollback`".into()),
                json!({"remaining": remaining, "seconds": seconds}),
            ),
            Event::ApprovalNeeded { step, message } => notice(
                "approval_needed",
                "info",
                format!("step {step} waits for an approval: {message}"),
                Some(format!("migrate advance --approve {step}")),
                json!({"step": step, "message": message}),
            ),
            Event::ReconcileFinished {
                name,
                parity,
                summary,
            } if *parity < 1.0 => self.mismatch(name, *parity, summary),
            Event::Completed { steps } => notice(
                "completed",
                "info",
                format!("the migration is complete ({steps} steps)"),
                None,
                json!({"steps": steps}),
            ),
            _ => return None,
        })
    }

    fn mismatch(&self, name: &str, parity: f64, summary: &serde_json::Value) -> Notice {
        let pick = |k: &str| summary.get(k).cloned().unwrap_or(serde_json::Value::Null);
        Notice {
            event: "mismatch".into(),
            migration: self.migration.clone(),
            severity: "warning".into(),
            summary: format!("reconciliation {name} found differences: parity {parity}"),
            next: Some(format!("migrate reconcile {name} --report diff.jsonl")),
            fields: json!({
                "reconciliation": name,
                "parity": parity,
                "missing": pick("missing"),
                "extra": pick("extra"),
                "different": pick("different"),
            }),
        }
    }

    /// What `state` says holds now: post what began or changed, post again
    /// what fires and is due for a refresh, resolve what no longer holds.
    /// `None`: the migration has not started (nothing holds).
    pub fn observe(&self, plan: &Plan, state: Option<&State>) {
        let now = Timestamp::new(SystemTime::now());
        let mut holding: Vec<conditions::Condition> = state
            .map(|s| conditions::of(plan, s, now))
            .unwrap_or_default();
        if let Some(c) = self.drift(state) {
            holding.push(c);
        }
        self.hold(holding, |_| true);
    }

    /// `MigrateDrift` while a drift was seen recently in an active
    /// migration.
    fn drift(&self, state: Option<&State>) -> Option<conditions::Condition> {
        let active = state.is_some_and(|s| {
            matches!(
                s.status,
                crate::state::Status::Active | crate::state::Status::Paused
            )
        });
        let mut inner = self.inner();
        let (target, seen) = inner.drift.clone()?;
        if !active || seen.elapsed() > self.options.drift_hold {
            inner.drift = None;
            return None;
        }
        Some(conditions::Condition {
            name: "MigrateDrift",
            severity: "warning",
            labels: Vec::new(),
            summary: format!(
                "{}: live values differ from what the migration set",
                self.migration
            ),
            description: target,
            next:
                "`migrate status` shows the live values; `migrate advance --force` puts them back"
                    .into(),
            extra: Vec::new(),
            since: SystemTime::now() - seen.elapsed(),
        })
    }

    /// A reconciliation's reading (`reconcile --follow`, or a one-off run):
    /// `MigrateParityMismatch` fires below parity 1 and resolves at 1; a
    /// webhook hears of the first mismatch, and of parity restored.
    pub fn parity(&self, name: &str, parity: f64, summary: &serde_json::Value) {
        let n = |k: &str| summary.get(k).and_then(serde_json::Value::as_u64);
        let cond = conditions::Condition {
            name: "MigrateParityMismatch",
            severity: "warning",
            labels: vec![("reconciliation", name.to_string())],
            summary: format!(
                "{}: reconciliation {name} found differences: parity {parity}",
                self.migration
            ),
            description: format!(
                "{} missing, {} extra, {} different",
                n("missing").unwrap_or(0),
                n("extra").unwrap_or(0),
                n("different").unwrap_or(0)
            ),
            next: format!("`migrate reconcile {name} --report diff.jsonl`, then `--repair`"),
            extra: Vec::new(),
            since: SystemTime::now(),
        };
        let now = SystemTime::now();
        let key = cond.alert(&self.migration, now).key();
        let was = self.inner().firing.contains_key(&key);
        if parity < 1.0 {
            if !was {
                let n = self.mismatch(name, parity, summary);
                self.post(&Message::Notice(&n, now));
            }
            self.hold(vec![cond], |a| a.key() == key);
        } else if was {
            let n = Notice {
                event: "parity_restored".into(),
                migration: self.migration.clone(),
                severity: "info".into(),
                summary: format!("reconciliation {name} is back at parity 1"),
                next: None,
                fields: json!({"reconciliation": name, "parity": parity}),
            };
            self.post(&Message::Notice(&n, now));
            self.hold(Vec::new(), |a| a.key() == key);
        } else if self.inner().cleared.insert(key) {
            // The first reading at parity 1 resolves what an earlier run
            // may have left firing.
            self.post(&Message::Alerts(&[cond.alert(&self.migration, now)]));
        }
    }

    /// Post `holding` as firing (new, changed, or due for a refresh) and
    /// resolve what fired, is in `scope`, and no longer holds.
    fn hold(&self, holding: Vec<conditions::Condition>, scope: impl Fn(&Alert) -> bool) {
        let now = SystemTime::now();
        let until = now + self.options.hold;
        let mut send = Vec::new();
        {
            let mut inner = self.inner();
            let mut keep = BTreeMap::new();
            for c in &holding {
                let alert = c.alert(&self.migration, until);
                let key = alert.key();
                let due = match inner.firing.get(&key) {
                    Some((prev, at)) => {
                        prev.annotations != alert.annotations
                            || at.elapsed() >= self.options.refresh
                    }
                    None => true,
                };
                if due {
                    send.push(alert.clone());
                    keep.insert(key, (alert, Instant::now()));
                } else if let Some(prev) = inner.firing.get(&key) {
                    keep.insert(key, prev.clone());
                }
            }
            let gone: Vec<String> = inner
                .firing
                .iter()
                .filter(|(k, (a, _))| scope(a) && !keep.contains_key(*k))
                .map(|(k, _)| k.clone())
                .collect();
            for k in gone {
                if let Some((mut a, _)) = inner.firing.remove(&k) {
                    a.ends_at = now;
                    send.push(a);
                }
            }
            for (k, v) in keep {
                inner.firing.insert(k, v);
            }
        }
        if !send.is_empty() {
            self.post(&Message::Alerts(&send));
        }
    }

    /// The alerts posted as firing now (for `--dry-run` and tests).
    pub fn firing(&self) -> Vec<Alert> {
        self.inner()
            .firing
            .values()
            .map(|(a, _)| a.clone())
            .collect()
    }

    /// Give what is queued until `deadline` to go, then stop; what could
    /// not be sent by then is said.
    pub async fn finish(&self, deadline: Duration) {
        let sinks = std::mem::take(
            &mut *self
                .sinks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let log = &self.log;
        let mut tasks = Vec::new();
        for s in sinks {
            drop(s.tx);
            tasks.push((s.name, s.task));
        }
        let end = tokio::time::Instant::now() + deadline;
        for (name, mut task) in tasks {
            if tokio::time::timeout_at(end, &mut task).await.is_err() {
                task.abort();
                log(&format!(
                    "notify: {name}: gave up on what was still to be sent at exit (after {})",
                    humantime::format_duration(deadline)
                ));
            }
        }
    }
}

/// The task of one notifier: send what comes, in order; a failure is said
/// (once per outage) and the request tried again with backoff, a few
/// times, before it is dropped.
async fn deliver(
    name: String,
    notifier: Arc<dyn Notifier>,
    mut rx: mpsc::Receiver<Outgoing>,
    log: Log,
) {
    let mut down = false;
    while let Some(out) = rx.recv().await {
        let mut attempt = 0u32;
        loop {
            match notifier.send(&out).await {
                Ok(()) => {
                    if down {
                        log(&format!("notify: {name}: reachable again"));
                        down = false;
                    }
                    break;
                }
                Err(e) => {
                    if !down {
                        log(&format!(
                            "notify: {e} (the migration goes on; trying again)"
                        ));
                        down = true;
                    }
                    attempt += 1;
                    if attempt >= 4 || !e.is_transient() {
                        log(&format!(
                            "notify: {name}: dropped a notification after {attempt} attempt(s)"
                        ));
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500) * 2u32.pow(attempt - 1)).await;
                }
            }
        }
    }
}

/// What the notifiers of `plan` would be sent now (`--dry-run`): for each,
/// where, and the body for the conditions `state` is in; webhooks are told
/// events as they happen.
pub fn preview(plan: &Plan, registry: &Registry, state: Option<&State>) -> Vec<String> {
    let now = Timestamp::new(SystemTime::now());
    let holding = state
        .map(|s| conditions::of(plan, s, now))
        .unwrap_or_default();
    let alerts: Vec<Alert> = holding
        .iter()
        .map(|c| c.alert(&plan.name, now.0 + Options::COMMAND.hold))
        .collect();
    let mut out = Vec::new();
    for name in &plan.settings.notify {
        let Ok(n) = registry.notifier(name) else {
            continue;
        };
        let sample = Notice {
            event: "breach".into(),
            migration: plan.name.clone(),
            severity: "critical".into(),
            summary: "the breaker tripped: gate … breached".into(),
            next: Some("migrate status".into()),
            fields: json!({}),
        };
        if let Some(o) = n.render(&Message::Alerts(&alerts)) {
            if alerts.is_empty() {
                out.push(format!("{name}: {}: nothing fires now", o.shown));
            } else {
                out.push(format!("{name}: {} {}", o.shown, o.body));
            }
        } else if let Some(o) = n.render(&Message::Notice(&sample, now.0)) {
            let signed = o
                .headers
                .iter()
                .any(|(k, _)| k == crate::providers::webhook::SIGNATURE_HEADER);
            out.push(format!(
                "{name}: {} on each event (step done, breach, rollback started/finished, approval needed, mismatch, completed){}; e.g. {}",
                o.shown,
                if signed { ", signed" } else { "" },
                o.body
            ));
        }
    }
    out
}

/// A reporter that passes every event on, then gives it to the notifiers.
pub struct Notifying<R> {
    pub inner: R,
    pub notify: Option<Arc<Notify>>,
}

impl<R: Reporter> Reporter for Notifying<R> {
    fn event(&self, event: &Event) {
        self.inner.event(event);
        if let Some(n) = &self.notify {
            n.event(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ProviderError;
    use crate::state::{RollbackRecord, Status};
    use async_trait::async_trait;

    /// Records what it is asked to send (alerts only, as Alertmanager).
    #[derive(Default)]
    struct Recording(Mutex<Vec<Vec<Alert>>>);

    #[async_trait]
    impl Notifier for Recording {
        fn render(&self, message: &Message<'_>) -> Option<Outgoing> {
            let Message::Alerts(alerts) = message else {
                return None;
            };
            self.0.lock().unwrap().push(alerts.to_vec());
            Some(Outgoing {
                shown: String::new(),
                headers: Vec::new(),
                body: String::new(),
            })
        }

        async fn send(&self, _: &Outgoing) -> Result<(), ProviderError> {
            Ok(())
        }
    }

    fn plan() -> Plan {
        let text = "version: 1\nname: m\nsettings: { notify: [am] }\nproviders:\n  am: { type: alertmanager, url: 'http://127.0.0.1:9' }\nphases:\n  - name: p\n    steps:\n      - approve: go?\n";
        crate::plan::validate(
            text,
            &std::collections::HashMap::<String, String>::new(),
            crate::providers::catalog(),
        )
        .unwrap()
        .plan
    }

    fn tripped() -> State {
        let mut st = State::empty("m");
        st.status = Status::RolledBack;
        st.rollback = Some(RollbackRecord {
            at: Timestamp::new(SystemTime::now()),
            actor: "a".into(),
            reason: "gate errors breached: 0.5".into(),
            at_step: Some("soak".into()),
            phase: None,
            to: None,
            breach: true,
            restore: Vec::new(),
            remaining: Vec::new(),
            finished: true,
        });
        st
    }

    #[tokio::test]
    async fn alerts_fire_once_are_refreshed_when_due_and_resolve_when_they_clear() {
        let plan = plan();
        let registry = Registry::new(&plan);
        let rec = Arc::new(Recording::default());
        registry.set_notifier("am", rec.clone());
        let options = Options {
            hold: Duration::from_secs(300),
            refresh: Duration::from_secs(3600),
            drift_hold: Duration::from_secs(60),
        };
        let n = Notify::start(&plan, &registry, options, Arc::new(|_: &str| {})).unwrap();
        let sent = || rec.0.lock().unwrap().clone();
        n.observe(&plan, Some(&tripped()));
        n.observe(&plan, Some(&tripped()));
        let posts = sent();
        assert_eq!(posts.len(), 1, "posted once, not again before it is due");
        let fired = &posts[0][0];
        assert_eq!(fired.name(), "MigrateBreakerTripped");
        assert!(fired.firing_at(SystemTime::now() + Duration::from_secs(200)));
        assert_eq!(n.firing().len(), 1);

        // Cleared: resolved, with the same labels, once.
        let mut retried = tripped();
        retried.status = Status::Active;
        n.observe(&plan, Some(&retried));
        n.observe(&plan, Some(&retried));
        let posts = sent();
        assert_eq!(posts.len(), 2);
        assert_eq!(posts[1][0].labels, fired.labels);
        assert!(!posts[1][0].firing_at(SystemTime::now() + Duration::from_millis(1)));
        assert!(n.firing().is_empty());
        n.finish(Duration::from_secs(1)).await;

        // A supervisor refreshes what fires when it is due.
        let rec = Arc::new(Recording::default());
        registry.set_notifier("am", rec.clone());
        let due = Options {
            refresh: Duration::ZERO,
            ..options
        };
        let n = Notify::start(&plan, &registry, due, Arc::new(|_: &str| {})).unwrap();
        for _ in 0..3 {
            n.observe(&plan, Some(&tripped()));
        }
        assert_eq!(rec.0.lock().unwrap().len(), 3);
        n.finish(Duration::from_secs(1)).await;
    }

    #[tokio::test]
    async fn parity_readings_fire_on_a_mismatch_and_resolve_at_one() {
        let plan = plan();
        let registry = Registry::new(&plan);
        let rec = Arc::new(Recording::default());
        registry.set_notifier("am", rec.clone());
        let n = Notify::start(&plan, &registry, Options::COMMAND, Arc::new(|_: &str| {})).unwrap();
        let summary = json!({"missing": 0, "extra": 0, "different": 1});
        // A first reading at parity 1 resolves what an earlier run left.
        n.parity("accounts", 1.0, &summary);
        n.parity("accounts", 1.0, &summary);
        n.parity("accounts", 0.5, &summary);
        n.parity("accounts", 0.5, &summary);
        n.parity("accounts", 1.0, &summary);
        let posts = rec.0.lock().unwrap().clone();
        let now = SystemTime::now();
        let states: Vec<bool> = posts.iter().map(|p| p[0].firing_at(now)).collect();
        assert_eq!(states, [false, true, false], "{posts:#?}");
        assert_eq!(posts[1][0].labels["reconciliation"], "accounts");
        assert_eq!(posts[1][0].labels, posts[2][0].labels);
        n.finish(Duration::from_secs(1)).await;
    }
}
