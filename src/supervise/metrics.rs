//! What the supervisor knows about itself and the migrations it watches,
//! as its `/metrics` page (Prometheus text format 0.0.4) and its
//! `/healthz` verdict.
//!
//! ```text
//! migrate_supervisor_active                        1 active, 0 standby
//! migrate_supervisor_role{role}                    1 for the current role (active | standby)
//! migrate_supervisor_lease_token                   the fencing token held (PostgreSQL, while active)
//! migrate_supervisor_takeovers_total               times this process became active
//! migrate_supervisor_migrations                    migrations watched
//! migrate_supervisor_last_loop_timestamp_seconds   when the loop last completed a round
//! migrate_supervisor_last_evaluation_timestamp_seconds   when this process last evaluated a gate
//! migrate_migration_state{migration, state}        1 for the migration's state
//! migrate_migration_position{migration}            steps done (the index of the next step)
//! migrate_migration_steps{migration}               steps in the plan
//! migrate_migration_step{migration, step}          1 for the step the migration is at
//! migrate_gate_value{migration, gate}              the gate's last value (absent: no data)
//! migrate_gate_ok{migration, gate}                 1 within thresholds, 0 breached
//! migrate_gate_last_evaluation_timestamp_seconds{migration, gate}
//! migrate_compare_events{migration, gate, arm}     a compare gate's events since the soak began
//! migrate_compare_total{migration, gate, arm}      … and totals (arm: candidate | baseline)
//! migrate_compare_ratio{migration, gate, bound}    the rate ratio: estimate | low | high
//!                                                  (low, high: its always-valid interval)
//! migrate_compare_e_value{migration, gate}         the statistic; breach at the threshold
//! migrate_compare_threshold{migration, gate}       1 / alpha
//! migrate_compare_sufficient{migration, gate}      1 once the data could reject
//! migrate_gate_evaluations_total{migration, gate}  evaluations by this process
//! migrate_breaker_trips_total{migration}           breaches that tripped the breaker here
//! migrate_rollbacks_total{migration, result}       rollbacks run here: complete | incomplete
//! migrate_supervisor_errors_total{migration}       looks at a migration that failed
//! migrate_migration_problem{migration}             1 while the plan file cannot drive the
//!                                                  migration, its targets drift, or a look
//!                                                  fails (its running soak is still guarded)
//! ```
//!
//! Label values are plan names and step ids: never a URL, a token or a
//! value from the environment.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::engine::Event;
use crate::state::{GateReading, State, Status};

/// Everything the pages show, behind one lock.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    active: bool,
    token: Option<i64>,
    takeovers: u64,
    last_loop: Option<(Instant, SystemTime)>,
    last_evaluation: Option<SystemTime>,
    /// The store could not be reached (the lease, or a migration's state).
    store_error: Option<String>,
    migrations: BTreeMap<String, Migration>,
}

#[derive(Default)]
struct Migration {
    status: Option<Status>,
    position: usize,
    steps: usize,
    step: Option<String>,
    gates: BTreeMap<String, GateReading>,
    evaluations: BTreeMap<String, u64>,
    trips: u64,
    rollbacks: BTreeMap<&'static str, u64>,
    errors: u64,
    /// What is wrong with the migration now (an incompatible plan, drift,
    /// a look that failed); `/healthz` says so.
    problem: Option<String>,
    /// The soak being watched, with its longest gate interval, and since
    /// when (for staleness).
    soak: Option<(String, Duration)>,
}

/// The `/healthz` verdict: `Ok(role)` or `Err(reason)`.
pub type Health = Result<String, String>;

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> Option<T> {
        self.inner.lock().ok().map(|mut i| f(&mut i))
    }

    pub fn set_role(&self, active: bool, token: Option<i64>) {
        self.with(|i| {
            if active && !i.active {
                i.takeovers += 1;
            }
            i.active = active;
            i.token = token;
        });
    }

    /// `active` or `standby`.
    pub fn role(&self) -> &'static str {
        match self.with(|i| i.active) {
            Some(true) => "active",
            _ => "standby",
        }
    }

    /// The loop completed a round (`Ok`), or could not reach the store.
    pub fn round(&self, store: Result<(), String>) {
        self.with(|i| {
            i.last_loop = Some((Instant::now(), SystemTime::now()));
            i.store_error = store.err();
        });
    }

    /// The migrations watched now (others are forgotten).
    pub fn watching(&self, names: &[String]) {
        self.with(|i| {
            i.migrations.retain(|k, _| names.contains(k));
            for n in names {
                i.migrations.entry(n.clone()).or_default();
            }
        });
    }

    /// What a look at a migration's state found.
    pub fn state(&self, name: &str, st: Option<&State>, soak: Option<(String, Duration)>) {
        self.with(|i| {
            let m = i.migrations.entry(name.to_string()).or_default();
            m.status = st.map(|s| s.status);
            m.position = st.map_or(0, |s| s.position);
            m.steps = st.map_or(0, |s| s.steps.len());
            m.step = st.and_then(|s| s.current()).map(|c| c.id.clone());
            m.gates = st.map(|s| s.gates.clone()).unwrap_or_default();
            m.soak = soak;
        });
    }

    /// What is wrong with migration `name` now (`None`: nothing).
    pub fn problem(&self, name: &str, problem: Option<String>) {
        self.with(|i| i.migrations.entry(name.to_string()).or_default().problem = problem);
    }

    pub fn error(&self, name: &str) {
        self.with(|i| i.migrations.entry(name.to_string()).or_default().errors += 1);
    }

    /// An engine event about migration `name`.
    pub fn event(&self, name: &str, event: &Event) {
        self.with(|i| {
            let now = SystemTime::now();
            let m = i.migrations.entry(name.to_string()).or_default();
            match event {
                Event::Gate { gate, .. } => {
                    *m.evaluations.entry(gate.clone()).or_default() += 1;
                    i.last_evaluation = Some(now);
                }
                Event::Breach { .. } => m.trips += 1,
                Event::RollbackFinished { remaining, .. } => {
                    let result = if remaining.is_empty() {
                        "complete"
                    } else {
                        "incomplete"
                    };
                    *m.rollbacks.entry(result).or_default() += 1;
                }
                _ => {}
            }
        });
    }

    /// Healthy: the store answers, the loop runs, and no watched soak's
    /// gates are more than `stale_after` past their interval (active only).
    pub fn health(&self, stale_after: Duration) -> Health {
        self.with(|i| {
            if let Some(e) = &i.store_error {
                return Err(format!("the state store cannot be reached: {e}"));
            }
            let Some((at, _)) = i.last_loop else {
                return Err("starting".to_string());
            };
            if at.elapsed() > stale_after {
                return Err(format!(
                    "the loop has not completed a round for {} s",
                    at.elapsed().as_secs()
                ));
            }
            if !i.active {
                return Ok("standby".to_string());
            }
            if let Some((name, p)) = i
                .migrations
                .iter()
                .find_map(|(n, m)| m.problem.as_ref().map(|p| (n, p)))
            {
                let first = p.lines().next().unwrap_or_default();
                return Err(format!("{name}: {first}"));
            }
            let now = SystemTime::now();
            for (name, m) in &i.migrations {
                let Some((step, interval)) = &m.soak else {
                    continue;
                };
                let last = m.gates.values().map(|g| g.at.0).max();
                let age = last.map(|t| now.duration_since(t).unwrap_or_default());
                match age {
                    Some(a) if a <= *interval + stale_after => {}
                    Some(a) => {
                        return Err(format!(
                            "evaluations of {name} (soak {step}) are stale: the last was {} s ago",
                            a.as_secs()
                        ))
                    }
                    None => {}
                }
            }
            Ok("active".to_string())
        })
        .unwrap_or_else(|| Err("the supervisor's state is unreadable".to_string()))
    }

    /// The `/metrics` page.
    pub fn render(&self) -> String {
        self.with(|i| render(i)).unwrap_or_default()
    }
}

/// A label value, escaped as the text format wants.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn status_name(s: Option<Status>) -> &'static str {
    match s {
        None | Some(Status::New) => "new",
        Some(Status::Active) => "active",
        Some(Status::Paused) => "paused",
        Some(Status::Failed) => "failed",
        Some(Status::RollingBack) => "rolling_back",
        Some(Status::RolledBack) => "rolled_back",
        Some(Status::RollbackIncomplete) => "rollback_incomplete",
        Some(Status::Completed) => "completed",
    }
}

const STATES: &[&str] = &[
    "new",
    "active",
    "soaking",
    "paused",
    "failed",
    "rolling_back",
    "rolled_back",
    "rollback_incomplete",
    "completed",
];

fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn render(i: &Inner) -> String {
    let mut out = String::new();
    head(
        &mut out,
        "migrate_supervisor_active",
        "gauge",
        "1 when this supervisor is the active one, 0 on standby.",
    );
    let _ = writeln!(out, "migrate_supervisor_active {}", u8::from(i.active));
    head(
        &mut out,
        "migrate_supervisor_role",
        "gauge",
        "1 for this supervisor's current role.",
    );
    for role in ["active", "standby"] {
        let on = (role == "active") == i.active;
        let _ = writeln!(
            out,
            "migrate_supervisor_role{{role=\"{role}\"}} {}",
            u8::from(on)
        );
    }
    if let Some(t) = i.token {
        head(
            &mut out,
            "migrate_supervisor_lease_token",
            "gauge",
            "The fencing token of the supervisor lease held.",
        );
        let _ = writeln!(out, "migrate_supervisor_lease_token {t}");
    }
    head(
        &mut out,
        "migrate_supervisor_takeovers_total",
        "counter",
        "Times this process became the active supervisor.",
    );
    let _ = writeln!(out, "migrate_supervisor_takeovers_total {}", i.takeovers);
    head(
        &mut out,
        "migrate_supervisor_migrations",
        "gauge",
        "Migrations this supervisor watches.",
    );
    let _ = writeln!(out, "migrate_supervisor_migrations {}", i.migrations.len());
    if let Some((_, t)) = i.last_loop {
        head(
            &mut out,
            "migrate_supervisor_last_loop_timestamp_seconds",
            "gauge",
            "When the supervisor last completed a round.",
        );
        let _ = writeln!(
            out,
            "migrate_supervisor_last_loop_timestamp_seconds {:.3}",
            secs(t)
        );
    }
    if let Some(t) = i.last_evaluation {
        head(
            &mut out,
            "migrate_supervisor_last_evaluation_timestamp_seconds",
            "gauge",
            "When this process last evaluated a gate.",
        );
        let _ = writeln!(
            out,
            "migrate_supervisor_last_evaluation_timestamp_seconds {:.3}",
            secs(t)
        );
    }
    head(
        &mut out,
        "migrate_migration_state",
        "gauge",
        "1 for the state each migration is in (soaking: active, in a soak).",
    );
    for (name, m) in &i.migrations {
        let current = match (m.status, &m.soak) {
            (Some(Status::Active), Some(_)) => "soaking",
            (s, _) => status_name(s),
        };
        for s in STATES {
            let _ = writeln!(
                out,
                "migrate_migration_state{{migration=\"{}\",state=\"{s}\"}} {}",
                esc(name),
                u8::from(*s == current)
            );
        }
    }
    head(
        &mut out,
        "migrate_migration_position",
        "gauge",
        "Steps done: the index of the step each migration is at.",
    );
    for (name, m) in &i.migrations {
        let _ = writeln!(
            out,
            "migrate_migration_position{{migration=\"{}\"}} {}",
            esc(name),
            m.position
        );
    }
    head(
        &mut out,
        "migrate_migration_steps",
        "gauge",
        "Steps in each migration's plan.",
    );
    for (name, m) in &i.migrations {
        let _ = writeln!(
            out,
            "migrate_migration_steps{{migration=\"{}\"}} {}",
            esc(name),
            m.steps
        );
    }
    head(
        &mut out,
        "migrate_migration_step",
        "gauge",
        "1 for the step each migration is at.",
    );
    for (name, m) in &i.migrations {
        if let Some(step) = &m.step {
            let _ = writeln!(
                out,
                "migrate_migration_step{{migration=\"{}\",step=\"{}\"}} 1",
                esc(name),
                esc(step)
            );
        }
    }
    head(
        &mut out,
        "migrate_gate_value",
        "gauge",
        "Each gate's last value (absent when it had no data).",
    );
    for (name, m) in &i.migrations {
        for (gate, r) in &m.gates {
            if let Some(v) = r.value {
                let _ = writeln!(
                    out,
                    "migrate_gate_value{{migration=\"{}\",gate=\"{}\"}} {}",
                    esc(name),
                    esc(gate),
                    crate::providers::fmt_number(v)
                );
            }
        }
    }
    head(
        &mut out,
        "migrate_gate_ok",
        "gauge",
        "1 when each gate's last reading passed, 0 when it breached.",
    );
    for (name, m) in &i.migrations {
        for (gate, r) in &m.gates {
            let _ = writeln!(
                out,
                "migrate_gate_ok{{migration=\"{}\",gate=\"{}\"}} {}",
                esc(name),
                esc(gate),
                u8::from(r.ok)
            );
        }
    }
    compare_families(&mut out, &i.migrations);
    head(
        &mut out,
        "migrate_gate_last_evaluation_timestamp_seconds",
        "gauge",
        "When each gate was last evaluated (by any run).",
    );
    for (name, m) in &i.migrations {
        for (gate, r) in &m.gates {
            let _ = writeln!(
                out,
                "migrate_gate_last_evaluation_timestamp_seconds{{migration=\"{}\",gate=\"{}\"}} {:.3}",
                esc(name),
                esc(gate),
                secs(r.at.0)
            );
        }
    }
    head(
        &mut out,
        "migrate_gate_evaluations_total",
        "counter",
        "Gate evaluations by this process.",
    );
    for (name, m) in &i.migrations {
        for (gate, n) in &m.evaluations {
            let _ = writeln!(
                out,
                "migrate_gate_evaluations_total{{migration=\"{}\",gate=\"{}\"}} {n}",
                esc(name),
                esc(gate)
            );
        }
    }
    head(
        &mut out,
        "migrate_breaker_trips_total",
        "counter",
        "Gate breaches that tripped the breaker in this process.",
    );
    for (name, m) in &i.migrations {
        let _ = writeln!(
            out,
            "migrate_breaker_trips_total{{migration=\"{}\"}} {}",
            esc(name),
            m.trips
        );
    }
    head(
        &mut out,
        "migrate_rollbacks_total",
        "counter",
        "Rollbacks this process ran, by result.",
    );
    for (name, m) in &i.migrations {
        for result in ["complete", "incomplete"] {
            let _ = writeln!(
                out,
                "migrate_rollbacks_total{{migration=\"{}\",result=\"{result}\"}} {}",
                esc(name),
                m.rollbacks.get(result).copied().unwrap_or(0)
            );
        }
    }
    head(
        &mut out,
        "migrate_supervisor_errors_total",
        "counter",
        "Looks at a migration that ended in an error.",
    );
    for (name, m) in &i.migrations {
        let _ = writeln!(
            out,
            "migrate_supervisor_errors_total{{migration=\"{}\"}} {}",
            esc(name),
            m.errors
        );
    }
    head(
        &mut out,
        "migrate_migration_problem",
        "gauge",
        "1 while the plan file cannot drive the migration, its targets drift, or a look fails.",
    );
    for (name, m) in &i.migrations {
        let _ = writeln!(
            out,
            "migrate_migration_problem{{migration=\"{}\"}} {}",
            esc(name),
            u8::from(m.problem.is_some())
        );
    }
    out
}

/// The evidence of each `compare` gate's last reading.
fn compare_families(out: &mut String, migrations: &BTreeMap<String, Migration>) {
    use crate::domain::compare::{Evidence, Verdict};
    let each = |f: &mut dyn FnMut(&str, &str, &Evidence)| {
        for (name, m) in migrations {
            for (gate, r) in &m.gates {
                if let Some(e) = &r.evidence {
                    f(&esc(name), &esc(gate), e);
                }
            }
        }
    };
    let num = crate::providers::fmt_number;
    head(
        out,
        "migrate_compare_events",
        "gauge",
        "A compare gate's events in each arm since its soak began.",
    );
    each(&mut |n, g, e| {
        for (arm, a) in [("candidate", e.candidate), ("baseline", e.baseline)] {
            let _ = writeln!(
                out,
                "migrate_compare_events{{migration=\"{n}\",gate=\"{g}\",arm=\"{arm}\"}} {}",
                num(a.events)
            );
        }
    });
    head(
        out,
        "migrate_compare_total",
        "gauge",
        "A compare gate's totals (requests) in each arm since its soak began.",
    );
    each(&mut |n, g, e| {
        for (arm, a) in [("candidate", e.candidate), ("baseline", e.baseline)] {
            let _ = writeln!(
                out,
                "migrate_compare_total{{migration=\"{n}\",gate=\"{g}\",arm=\"{arm}\"}} {}",
                num(a.total)
            );
        }
    });
    head(
        out,
        "migrate_compare_ratio",
        "gauge",
        "The candidate's rate over the baseline's: the estimate and its always-valid interval.",
    );
    each(&mut |n, g, e| {
        let bounds = [
            ("estimate", e.ratio),
            ("low", Some(e.ratio_low)),
            ("high", Some(e.ratio_high)),
        ];
        for (bound, v) in bounds {
            if let Some(v) = v {
                let _ = writeln!(
                    out,
                    "migrate_compare_ratio{{migration=\"{n}\",gate=\"{g}\",bound=\"{bound}\"}} {}",
                    num(v)
                );
            }
        }
    });
    head(
        out,
        "migrate_compare_e_value",
        "gauge",
        "A compare gate's statistic: it breaches when the e-value reaches the threshold.",
    );
    each(&mut |n, g, e| {
        let _ = writeln!(
            out,
            "migrate_compare_e_value{{migration=\"{n}\",gate=\"{g}\"}} {}",
            num(e.e_value)
        );
    });
    head(
        out,
        "migrate_compare_threshold",
        "gauge",
        "A compare gate's threshold: 1 / alpha.",
    );
    each(&mut |n, g, e| {
        let _ = writeln!(
            out,
            "migrate_compare_threshold{{migration=\"{n}\",gate=\"{g}\"}} {}",
            num(e.threshold)
        );
    });
    head(
        out,
        "migrate_compare_sufficient",
        "gauge",
        "1 once a compare gate's data could reject; 0 while the evidence is insufficient.",
    );
    each(&mut |n, g, e| {
        let sufficient = matches!(e.verdict, Verdict::Within | Verdict::Breach);
        let _ = writeln!(
            out,
            "migrate_compare_sufficient{{migration=\"{n}\",gate=\"{g}\"}} {}",
            u8::from(sufficient)
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_every_family_and_escapes_labels() {
        let m = Metrics::default();
        m.set_role(true, Some(7));
        m.watching(&["pay\"v2".to_string()]);
        m.event(
            "pay\"v2",
            &Event::Gate {
                step: None,
                gate: "errors".into(),
                value: Some(0.5),
                nan: false,
                ok: false,
                threshold: String::new(),
                breaches: 1,
                failure_limit: 0,
                note: None,
                evidence: None,
            },
        );
        m.event(
            "pay\"v2",
            &Event::Breach {
                step: None,
                gate: "errors".into(),
                value: Some(0.5),
                reason: "r".into(),
                evidence: None,
            },
        );
        m.round(Ok(()));
        let page = m.render();
        assert!(page.contains("migrate_supervisor_active 1\n"), "{page}");
        assert!(
            page.contains("migrate_supervisor_lease_token 7\n"),
            "{page}"
        );
        assert!(
            page.contains("migrate_breaker_trips_total{migration=\"pay\\\"v2\"} 1\n"),
            "{page}"
        );
        assert!(
            page.contains(
                "migrate_gate_evaluations_total{migration=\"pay\\\"v2\",gate=\"errors\"} 1\n"
            ),
            "{page}"
        );
        assert!(page.contains("state=\"new\"} 1"), "{page}");
        assert_eq!(m.health(Duration::from_secs(30)), Ok("active".into()));
        m.round(Err("down".into()));
        assert!(m.health(Duration::from_secs(30)).is_err());
        m.set_role(false, None);
        m.round(Ok(()));
        assert_eq!(m.health(Duration::from_secs(30)), Ok("standby".into()));
    }

    #[test]
    fn a_comparison_shows_its_evidence() {
        use crate::domain::compare::{Counters, Direction, Test, Track};
        let test = Test {
            max_ratio: 1.5,
            direction: Direction::Increase,
            alpha: 0.01,
        };
        let start = Track::look(None, &test, Counters::default());
        let now = Counters {
            candidate_events: 30.0,
            candidate_total: 1000.0,
            baseline_events: 10.0,
            baseline_total: 1000.0,
        };
        let track = Track::look(Some(&start), &test, now);
        let mut st = State::empty("pay");
        st.gates.insert(
            "errors".into(),
            GateReading {
                at: crate::state::Timestamp::new(SystemTime::now()),
                value: Some(1.0),
                nan: false,
                ok: true,
                note: None,
                evidence: Some(track.evidence(0.01)),
            },
        );
        let m = Metrics::default();
        m.watching(&["pay".to_string()]);
        m.state("pay", Some(&st), None);
        let page = m.render();
        for line in [
            "migrate_compare_events{migration=\"pay\",gate=\"errors\",arm=\"candidate\"} 30\n",
            "migrate_compare_total{migration=\"pay\",gate=\"errors\",arm=\"baseline\"} 1000\n",
            "migrate_compare_ratio{migration=\"pay\",gate=\"errors\",bound=\"estimate\"} 3\n",
            "migrate_compare_threshold{migration=\"pay\",gate=\"errors\"} 100\n",
            "migrate_compare_sufficient{migration=\"pay\",gate=\"errors\"} 1\n",
        ] {
            assert!(page.contains(line), "{line} not in {page}");
        }
        assert!(page.contains("migrate_compare_e_value{migration=\"pay\",gate=\"errors\"} "));
    }
}
