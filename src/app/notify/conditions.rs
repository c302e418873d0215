//! The conditions a migration is in, read off its state: what Alertmanager
//! is told is firing. Pure: the same state gives the same alerts (the same
//! labels), so any process that reads it — the command that tripped the
//! breaker, a later `migrate rollback`, a supervisor — fires, refreshes or
//! resolves the same alerts.
//!
//! | alert | fires while | severity |
//! |---|---|---|
//! | `MigrateBreakerTripped` | the migration is held by its breaker: rolled back (or rolling back) after a breach, or paused by a gate's `on_breach: pause` | warning |
//! | `MigrateRollbackIncomplete` | a rollback left targets wrong (or died half-way) | critical |
//! | `MigrateParityMismatch` | a reconciliation's latest complete result is below parity 1 | warning |
//! | `MigrateApprovalWaiting` | the next step is an approval nobody gave | info |
//! | `MigrateSoakStale` | a soak runs and nobody has read its gates for a while | warning |
//!
//! `MigrateDrift` is not in the state: it is raised from what a look at
//! the live values found (see [`super::Notify`]).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::domain::notify::Alert;
use crate::plan::Plan;
use crate::state::{State, Status, Timestamp};

/// A condition, before it is given its times.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub name: &'static str,
    pub severity: &'static str,
    /// Besides `alertname`, `migration` and `severity`: `gate`, `step`,
    /// `reconciliation` where they apply.
    pub labels: Vec<(&'static str, String)>,
    pub summary: String,
    pub description: String,
    /// The command to run next.
    pub next: String,
    /// Extra annotations (the breaching gate's reading).
    pub extra: Vec<(&'static str, String)>,
    /// When the condition began.
    pub since: SystemTime,
}

impl Condition {
    /// The alert, firing until `until`.
    pub fn alert(&self, migration: &str, until: SystemTime) -> Alert {
        let mut labels = BTreeMap::from([
            ("alertname".to_string(), self.name.to_string()),
            ("migration".to_string(), migration.to_string()),
            ("severity".to_string(), self.severity.to_string()),
        ]);
        for (k, v) in &self.labels {
            labels.insert((*k).to_string(), v.clone());
        }
        let mut annotations = BTreeMap::from([
            ("summary".to_string(), self.summary.clone()),
            ("description".to_string(), self.description.clone()),
            ("next".to_string(), self.next.clone()),
        ]);
        for (k, v) in &self.extra {
            annotations.insert((*k).to_string(), v.clone());
        }
        for v in labels.values_mut().chain(annotations.values_mut()) {
            *v = crate::redact::clean(v).into_owned();
        }
        Alert {
            labels,
            annotations,
            starts_at: self.since.min(SystemTime::now()),
            ends_at: until,
        }
    }
}

/// The gate a breaker's reason names: "gate errors breached: ...".
pub fn breached_gate(reason: &str) -> Option<&str> {
    let rest = reason.strip_prefix("gate ")?;
    let (name, _) = rest.split_once(" breached")?;
    (!name.is_empty() && !name.contains(' ')).then_some(name)
}

/// How long a soak may go without a gate reading before it is stale: three
/// times its longest gate interval, and at least a minute.
pub fn stale_after(plan: &Plan, state: &State) -> Duration {
    let longest = state
        .soak
        .as_ref()
        .map(|k| {
            k.gates
                .iter()
                .map(|g| {
                    g.interval_ms
                        .map_or(plan.settings.interval, Duration::from_millis)
                })
                .max()
                .unwrap_or(plan.settings.interval)
        })
        .unwrap_or(plan.settings.interval);
    (longest * 3).max(Duration::from_secs(60))
}

/// The conditions `state` is in at `now`.
pub fn of(plan: &Plan, state: &State, now: Timestamp) -> Vec<Condition> {
    let mut out = Vec::new();
    let name = &state.migration;
    breaker(state, &mut out);
    if let Some(rb) = &state.rollback {
        let died = state.status == Status::RollingBack
            && now.since(rb.at) > plan.settings.rollback_timeout + Duration::from_secs(30);
        if state.status == Status::RollbackIncomplete || died {
            let remaining = if rb.remaining.is_empty() {
                "the rollback stopped before it finished".to_string()
            } else {
                format!("still wrong: {}", rb.remaining.join(", "))
            };
            out.push(Condition {
                name: "MigrateRollbackIncomplete",
                severity: "critical",
                labels: Vec::new(),
                summary: format!(
                    "{name}: ROLLBACK INCOMPLETE — the candidate may still get traffic"
                ),
                description: format!(
                    "rollback by {} at {}: {}; {remaining}",
                    rb.actor, rb.at, rb.reason
                ),
                next: "fix access to the targets, then `migrate rollback`".to_string(),
                extra: Vec::new(),
                since: rb.at.0,
            });
        }
    }
    for (rec, p) in &state.parity {
        if p.is_complete() && p.parity < 1.0 {
            let n = |k: &str| p.summary.get(k).and_then(serde_json::Value::as_u64);
            let counts = match (n("missing"), n("extra"), n("different")) {
                (Some(m), Some(e), Some(d)) => {
                    format!(" ({m} missing, {e} extra, {d} different)")
                }
                _ => String::new(),
            };
            out.push(Condition {
                name: "MigrateParityMismatch",
                severity: "warning",
                labels: vec![("reconciliation", rec.clone())],
                summary: format!(
                    "{name}: reconciliation {rec} found differences: parity {}",
                    p.parity
                ),
                description: format!("recorded at {}{counts}", p.at),
                next: format!("`migrate reconcile {rec} --report diff.jsonl`, then `--repair`"),
                extra: Vec::new(),
                since: p.at.0,
            });
        }
    }
    let current = state.current();
    if let Some(step) = current.filter(|s| {
        s.kind == "approve"
            && state.status == Status::Active
            && !state.approvals.contains_key(&s.id)
    }) {
        out.push(Condition {
            name: "MigrateApprovalWaiting",
            severity: "info",
            labels: vec![("step", step.id.clone())],
            summary: format!("{name}: step {} waits for an approval", step.id),
            description: step.action.clone(),
            next: format!("`migrate advance --approve {}`", step.id),
            extra: Vec::new(),
            since: state.updated.as_ref().map_or(now.0, |u| u.at.0),
        });
    }
    if let Some(soak) = state
        .soak
        .as_ref()
        .filter(|_| matches!(state.status, Status::Active | Status::Paused))
        .filter(|k| current.is_some_and(|c| c.id == k.step))
    {
        let last = soak
            .gates
            .iter()
            .filter_map(|g| state.gates.get(&g.name).map(|r| r.at))
            .filter(|at| *at >= soak.started)
            .max()
            .unwrap_or(soak.started);
        let limit = stale_after(plan, state);
        if !soak.gates.is_empty() && now.since(last) > limit {
            out.push(Condition {
                name: "MigrateSoakStale",
                severity: "warning",
                labels: vec![("step", soak.step.clone())],
                summary: format!(
                    "{name}: nobody has read the gates of soak {} since {last}",
                    soak.step
                ),
                description: format!(
                    "a soak is guarded only while its gates are read; none for more than {}",
                    humantime::format_duration(limit)
                ),
                next: "`migrate supervise` (or `migrate advance --wait`) on this plan".to_string(),
                extra: Vec::new(),
                since: last.plus(limit).0,
            });
        }
    }
    out
}

/// `MigrateBreakerTripped`, while the breaker holds the migration.
fn breaker(state: &State, out: &mut Vec<Condition>) {
    let name = &state.migration;
    let held = match (&state.rollback, &state.paused) {
        (_, Some(p)) if p.breach && state.status == Status::Paused => {
            Some((p.reason.clone(), None, p.at, "paused"))
        }
        (Some(rb), _)
            if rb.breach
                && matches!(
                    state.status,
                    Status::RollingBack | Status::RolledBack | Status::RollbackIncomplete
                ) =>
        {
            Some((rb.reason.clone(), rb.at_step.clone(), rb.at, "rolled back"))
        }
        _ => None,
    };
    let Some((reason, step, at, what)) = held else {
        return;
    };
    let step = step.or_else(|| state.current().map(|c| c.id.clone()));
    let gate = breached_gate(&reason).map(str::to_string);
    let mut labels = Vec::new();
    let mut extra = Vec::new();
    if let Some(g) = &gate {
        labels.push(("gate", g.clone()));
        // Whatever the gate's last reading carries: its value, its note,
        // its evidence.
        if let Some(r) = state.gates.get(g) {
            if let Ok(v) = serde_json::to_string(r) {
                extra.push(("evidence", v));
            }
        }
    }
    if let Some(s) = &step {
        labels.push(("step", s.clone()));
    }
    let next = if what == "paused" {
        "inspect, then `migrate resume` or `migrate rollback`"
    } else if state.status == Status::RollbackIncomplete {
        "`migrate rollback` until every target is restored"
    } else {
        "fix the cause, then `migrate retry`"
    };
    out.push(Condition {
        name: "MigrateBreakerTripped",
        severity: "warning",
        labels,
        summary: format!("{name}: the breaker tripped and {what} the migration"),
        description: reason,
        next: next.to_string(),
        extra,
        since: at.0,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{
        Actioned, GateReading, GateSpec, GateSpecSource, ParityRecord, PauseRecord, RollbackRecord,
        Soak, StepRecord, StepStatus,
    };

    fn plan() -> Plan {
        let text = "version: 1\nname: m\nsettings: { interval: 10s, rollback_timeout: 30s }\nphases:\n  - name: p\n    steps:\n      - approve: go?\n";
        crate::plan::validate(
            text,
            &std::collections::HashMap::<String, String>::new(),
            crate::providers::catalog(),
        )
        .unwrap()
        .plan
    }

    fn at(secs: u64) -> Timestamp {
        Timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs))
    }

    fn step(id: &str, kind: &str) -> StepRecord {
        StepRecord {
            id: id.into(),
            phase: "p".into(),
            kind: kind.into(),
            action: format!("{kind} {id}"),
            digest: String::new(),
            status: StepStatus::Pending,
            started: None,
            finished: None,
            error: None,
            keep_on_rollback: false,
            irreversible: false,
        }
    }

    fn state() -> State {
        let mut st = State::empty("m");
        st.status = Status::Active;
        st.steps = vec![
            step("traffic-1", "traffic"),
            step("soak-2", "soak"),
            step("ok-3", "approve"),
        ];
        st
    }

    fn names(c: &[Condition]) -> Vec<&str> {
        c.iter().map(|c| c.name).collect()
    }

    fn rollback(breach: bool, remaining: Vec<String>) -> RollbackRecord {
        RollbackRecord {
            at: at(0),
            actor: "ann".into(),
            reason: if breach {
                "gate errors breached: 0.5 (allowed ≤ 0.05)".into()
            } else {
                "rollback requested by ann".into()
            },
            at_step: Some("soak-2".into()),
            phase: Some("p".into()),
            to: None,
            breach,
            restore: Vec::new(),
            remaining,
            finished: true,
        }
    }

    #[test]
    fn the_breaker_holds_until_the_migration_moves_and_an_incomplete_rollback_is_critical() {
        let plan = plan();
        let mut st = state();
        st.status = Status::RolledBack;
        st.rollback = Some(rollback(true, Vec::new()));
        st.gates.insert(
            "errors".into(),
            GateReading {
                at: at(0),
                value: Some(0.5),
                nan: false,
                ok: false,
                note: None,
                evidence: None,
            },
        );
        let c = of(&plan, &st, at(10));
        assert_eq!(names(&c), ["MigrateBreakerTripped"]);
        let a = c[0].alert("m", SystemTime::now() + Duration::from_secs(60));
        assert_eq!(a.labels["gate"], "errors");
        assert_eq!(a.labels["step"], "soak-2");
        assert_eq!(a.labels["severity"], "warning");
        assert!(a.annotations["evidence"].contains("\"value\":0.5"));
        assert!(a.annotations["next"].contains("migrate retry"));

        st.status = Status::RollbackIncomplete;
        st.rollback = Some(rollback(true, vec!["traffic:lb".into()]));
        let c = of(&plan, &st, at(10));
        assert_eq!(
            names(&c),
            ["MigrateBreakerTripped", "MigrateRollbackIncomplete"]
        );
        assert_eq!(c[1].severity, "critical");
        assert!(c[1].description.contains("traffic:lb"));

        // A person's rollback, complete: nothing holds.
        st.status = Status::RolledBack;
        st.rollback = Some(rollback(false, Vec::new()));
        assert!(of(&plan, &st, at(10)).is_empty());
        // A rollback that died half-way, long ago.
        st.status = Status::RollingBack;
        assert!(of(&plan, &st, at(10)).is_empty(), "may still be running");
        assert_eq!(
            names(&of(&plan, &st, at(61))),
            ["MigrateRollbackIncomplete"]
        );
        // Paused by the gate policy.
        st.status = Status::Paused;
        st.rollback = None;
        st.position = 1;
        st.paused = Some(PauseRecord {
            at: at(0),
            actor: "sup".into(),
            reason: "gate errors breached: no data".into(),
            breach: true,
        });
        let c = of(&plan, &st, at(10));
        assert_eq!(names(&c), ["MigrateBreakerTripped"]);
        assert_eq!(
            c[0].labels,
            [
                ("gate", "errors".to_string()),
                ("step", "soak-2".to_string())
            ]
        );
    }

    #[test]
    fn approvals_mismatches_and_stale_soaks() {
        let plan = plan();
        let mut st = state();
        st.position = 2;
        assert_eq!(names(&of(&plan, &st, at(0))), ["MigrateApprovalWaiting"]);
        st.approvals.insert(
            "ok-3".into(),
            Actioned {
                at: at(0),
                actor: "ann".into(),
                reason: None,
            },
        );
        assert!(of(&plan, &st, at(0)).is_empty());

        let parity = |p: f64, complete: bool| ParityRecord {
            at: at(0),
            parity: p,
            complete: Some(complete),
            swept: None,
            summary: serde_json::json!({"missing": 0, "extra": 1, "different": 2}),
        };
        st.parity.insert("accounts".into(), parity(0.99, true));
        let c = of(&plan, &st, at(0));
        assert_eq!(names(&c), ["MigrateParityMismatch"]);
        assert_eq!(c[0].labels, [("reconciliation", "accounts".to_string())]);
        assert!(c[0].description.contains("1 extra, 2 different"));
        st.parity.insert("accounts".into(), parity(0.5, false));
        assert!(of(&plan, &st, at(0)).is_empty(), "not a complete sweep");
        st.parity.insert("accounts".into(), parity(1.0, true));
        assert!(of(&plan, &st, at(0)).is_empty());

        // A soak whose gates nobody reads: stale after three intervals, at
        // least a minute.
        st.position = 1;
        st.soak = Some(Soak {
            step: "soak-2".into(),
            started: at(0),
            duration: Duration::from_secs(3600),
            breaches: BTreeMap::new(),
            paused: Duration::ZERO,
            paused_since: None,
            gates: vec![GateSpec {
                name: "errors".into(),
                source: GateSpecSource::Parity {
                    reconcile: "accounts".into(),
                },
                max: None,
                min: Some(1.0),
                failure_limit: 0,
                no_data: "fail".into(),
                interval_ms: Some(30_000),
                max_age_ms: None,
            }],
            changed: BTreeMap::new(),
            compare: BTreeMap::new(),
        });
        assert!(of(&plan, &st, at(89)).is_empty());
        let c = of(&plan, &st, at(91));
        assert_eq!(names(&c), ["MigrateSoakStale"]);
        assert_eq!(c[0].labels, [("step", "soak-2".to_string())]);
        st.gates.insert(
            "errors".into(),
            GateReading {
                at: at(80),
                value: Some(1.0),
                nan: false,
                ok: true,
                note: None,
                evidence: None,
            },
        );
        assert!(of(&plan, &st, at(91)).is_empty(), "read again");
    }

    #[test]
    fn the_gate_is_read_off_the_breakers_reason() {
        assert_eq!(
            breached_gate("gate errors breached: 0.5 (allowed ≤ 0.05)"),
            Some("errors")
        );
        assert_eq!(
            breached_gate("gate p99.latency breached: no data"),
            Some("p99.latency")
        );
        assert_eq!(breached_gate("rollback requested by ann"), None);
        assert_eq!(breached_gate("gate  breached"), None);
    }
}
