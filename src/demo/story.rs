//! The demo's narration, around the engine's own output.
//!
//! [`Story`] is the engine's [`Reporter`]: every event goes on to the usual
//! renderer (lines and progress bars for people, JSON lines for programs),
//! and the story adds what a newcomer needs around it — a banner per act,
//! the live split of traffic under the progress bar, a line of traffic
//! after each soak, a table of gate values at the breach and at the end,
//! and the closing summary. With `-o json` the same moments are
//! `demo_*` objects on the event stream.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use anstyle::{AnsiColor, Style};
use serde_json::{json, Value};

use migrate::engine::{Event, Reporter};
use migrate::output::events::{HumanReporter, JsonReporter};
use migrate::output::Printer;
use migrate::providers::fmt_number;
use migrate::state::Target;
use migrate::table;

use super::app::CANDIDATE_FLAG;

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const GREEN: Style = AnsiColor::Green.on_default().bold();
const CYAN: Style = AnsiColor::Cyan.on_default().bold();

fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// The traffic of the last second or so.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Traffic {
    pub legacy_per_second: f64,
    pub candidate_per_second: f64,
    /// The candidate flag's rollout as the application reads it.
    pub candidate_percent: f64,
    /// Answers users got so far, and how many were errors.
    pub requests: u64,
    pub user_errors: u64,
}

impl Traffic {
    pub fn line(&self) -> String {
        format!(
            "traffic: legacy {}/s · payments-v2 {}/s (candidate {}%) · errors seen by users: {}",
            self.legacy_per_second.round(),
            self.candidate_per_second.round(),
            fmt_number(self.candidate_percent),
            self.user_errors
        )
    }
}

/// One gate's last reading.
#[derive(Clone, Debug)]
struct GateRow {
    value: Option<f64>,
    threshold: String,
    ok: bool,
    step: Option<String>,
}

/// The breach that tripped the breaker.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct BreachInfo {
    pub step: Option<String>,
    pub gate: String,
    pub value: Option<f64>,
    pub reason: String,
    /// The candidate's share of traffic when it happened.
    pub candidate_percent: f64,
}

/// What the story saw of the run, for the summary.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub breach: Option<BreachInfo>,
    pub rollback_seconds: Option<f64>,
    pub rollback_remaining: Vec<String>,
    pub retried: Option<(String, String)>,
    pub completed: bool,
    /// Rows written by repairs (inserted + updated).
    pub rows_repaired: u64,
    /// The last reconciliation: rows compared and parity.
    pub rows_compared: u64,
    pub parity: Option<f64>,
}

#[derive(Default)]
struct State {
    phase: Option<String>,
    /// Phases seen again after a retry get the "again" banner.
    retried: bool,
    gates: BTreeMap<String, GateRow>,
    candidate_percent: f64,
    soaks: Vec<String>,
    last_traffic: Traffic,
    seen: Seen,
}

/// The banner of a phase of plans/demo.yaml: act number, title, words.
fn act(phase: &str, again: bool) -> Option<(u32, &'static str, &'static str)> {
    Some(match (phase, again) {
        ("dual-write", _) => (
            1,
            "Dual write",
            "The monolith's store is the source of truth. From now on every new payment is \
             also copied into payments-v2's store — and stays so until clean-up, even if the \
             migration is rolled back.",
        ),
        ("backfill", _) => (
            2,
            "Backfill",
            "payments-v2's store lacks the history: a year of payments, and what was written \
             before dual writes began. A reconciliation compares both tables row by row and \
             copies every missing row across (SQLite → SQLite) while customers keep paying.",
        ),
        ("shadow", _) => (
            3,
            "Shadow reads",
            "Every read is now also sent to payments-v2. Customers still get the monolith's \
             answer; payments-v2's is compared with it and thrown away. One difference breaches.",
        ),
        ("verify", _) => (
            4,
            "Consistency check",
            "A fresh, exact comparison of both tables under live writes. Live traffic moves \
             only at 100% parity.",
        ),
        ("canary", false) => (
            5,
            "Canary",
            "payments-v2 serves 1%, then 5%, 25%, 50% and 100% of customers, each share held \
             while the gates watch the errors and latency users get from it.",
        ),
        ("canary", true) => (
            7,
            "Canary, again",
            "With the fix deployed, the canary starts over at 1%.",
        ),
        ("cleanup", _) => (
            8,
            "Clean-up",
            "One last exact comparison, then the point of no return: the monolith's store \
             stops receiving copies (approved here by the demo, as `-y` would) and shadow \
             reads end.",
        ),
        _ => return None,
    })
}

pub struct Story {
    human: Option<HumanReporter>,
    json: Option<JsonReporter>,
    quiet: bool,
    /// The migration is over; the system runs on for exploring (`--keep`).
    keeping: AtomicBool,
    state: Mutex<State>,
}

impl Story {
    pub fn new(printer: &Printer) -> Story {
        let (human, json) = if printer.json {
            (None, Some(JsonReporter::new()))
        } else {
            (
                Some(HumanReporter::new(printer.quiet, printer.verbose > 0)),
                None,
            )
        };
        Story {
            human,
            json,
            quiet: printer.quiet,
            keeping: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut st)
    }

    /// A line of narration (people only).
    pub fn say(&self, text: &str) {
        if let Some(h) = &self.human {
            h.say(text);
        }
    }

    /// An object on the JSON stream (programs only).
    pub fn emit(&self, value: Value) {
        if let Some(j) = &self.json {
            j.emit(value);
        }
    }

    pub fn seen(&self) -> Seen {
        self.with(|st| st.seen.clone())
    }

    pub fn banner(&self, number: u32, title: &str, words: &str) {
        self.emit(json!({"type": "demo_act", "act": number, "title": title}));
        self.say("");
        self.say(&paint(CYAN, &format!("Act {number} · {title}")));
        for line in wrap(words, 76) {
            self.say(&format!("  {line}"));
        }
    }

    /// The live view: under the progress bar, and on the JSON stream.
    pub fn traffic(&self, t: Traffic, emit: bool) {
        self.with(|st| st.last_traffic = t);
        if let Some(h) = &self.human {
            h.set_status(Some(paint(DIM, &t.line())));
        }
        if emit {
            self.emit(json!({
                "type": "demo_traffic",
                "legacy_per_second": round1(t.legacy_per_second),
                "candidate_per_second": round1(t.candidate_per_second),
                "candidate_percent": t.candidate_percent,
                "requests": t.requests,
                "user_errors": t.user_errors,
            }));
        }
    }

    pub fn last_traffic(&self) -> Traffic {
        self.with(|st| st.last_traffic)
    }

    /// A table of the last value of every gate read so far (stderr).
    pub fn gate_table(&self, title: &str) {
        let rows = self.with(|st| st.gates.clone());
        if rows.is_empty() || self.quiet {
            return;
        }
        let mut t = table::new(&["gate", "value", "threshold", "result", "read at"]);
        for (name, r) in &rows {
            // Plain text: the table measures its cells.
            let mark = if r.ok { "✓ ok" } else { "✗ breach" };
            t.add_row(vec![
                name.clone(),
                r.value.map_or_else(|| "no data".to_string(), fmt_number),
                r.threshold.clone(),
                mark.to_string(),
                r.step.clone().unwrap_or_default(),
            ]);
        }
        self.say(&format!("  {}", paint(BOLD, title)));
        for line in t.to_string().lines() {
            self.say(&format!("  {line}"));
        }
    }

    /// The migration is over and the system runs on until Ctrl-C: the
    /// live traffic stays on screen.
    pub fn keeping(&self) {
        self.keeping.store(true, Ordering::SeqCst);
        if let Some(h) = &self.human {
            h.watch("the system is running — Ctrl-C stops it");
        }
    }

    /// Ctrl-C was pressed.
    pub fn interrupted(&self) {
        let keeping = self.keeping.load(Ordering::SeqCst);
        self.emit(json!({"type": "demo_interrupted", "after_the_end": keeping}));
        if let Some(h) = &self.human {
            h.set_status(None);
            h.unwatch();
            h.say("");
            if keeping {
                h.say("stopping the system and removing its directory");
            } else {
                h.say("interrupted: stopping the migration at its next safe point, then the system (Ctrl-C again to quit at once)");
            }
        }
    }

    fn before(&self, event: &Event) {
        let banner = self.with(|st| {
            if let Event::StepStarted { phase, .. } = event {
                if st.phase.as_deref() != Some(phase) {
                    st.phase = Some(phase.clone());
                    return act(phase, st.retried);
                }
            }
            None
        });
        if let Some((n, title, words)) = banner {
            self.banner(n, title, words);
        }
    }

    fn after(&self, event: &Event) {
        match event {
            Event::Gate {
                step,
                gate,
                value,
                ok,
                threshold,
                breaches,
                failure_limit,
                ..
            } => {
                self.with(|st| {
                    st.gates.insert(
                        gate.clone(),
                        GateRow {
                            value: *value,
                            threshold: threshold.clone(),
                            ok: *ok,
                            step: step.clone(),
                        },
                    );
                });
                if !ok && value.is_none() && breaches <= failure_limit {
                    self.say(&format!(
                        "    {}",
                        paint(
                            DIM,
                            "tolerated: a soak's first reading can predate the flag change (the application re-reads its flags every 100 ms)"
                        )
                    ));
                }
            }
            Event::Change {
                target: Target::Flag { key, .. },
                to,
                dry_run: false,
                ..
            } if key == CANDIDATE_FLAG => self.with(|st| {
                st.candidate_percent = flag_percent(to);
            }),
            Event::Restored {
                target: Target::Flag { key, .. },
                to,
                dry_run: false,
                ..
            } if key == CANDIDATE_FLAG => self.with(|st| {
                st.candidate_percent = flag_percent(to);
            }),
            Event::SoakStarted { step, .. } => self.with(|st| st.soaks.push(step.clone())),
            Event::StepDone { step, .. } => {
                let soak = self.with(|st| st.soaks.contains(step));
                if soak {
                    let t = self.last_traffic();
                    self.say(&format!("  {}", paint(DIM, &t.line())));
                }
            }
            Event::Breach {
                step,
                gate,
                value,
                reason,
                ..
            } => {
                let percent = self.with(|st| {
                    st.seen.breach = Some(BreachInfo {
                        step: step.clone(),
                        gate: gate.clone(),
                        value: *value,
                        reason: reason.clone(),
                        candidate_percent: st.candidate_percent,
                    });
                    st.candidate_percent
                });
                self.say("");
                self.gate_table(&format!(
                    "The gates when the breaker tripped (payments-v2 at {}% of customers):",
                    fmt_number(percent)
                ));
                self.say("");
            }
            Event::RollbackFinished { remaining, seconds } => self.with(|st| {
                st.seen.rollback_seconds = Some(*seconds);
                st.seen.rollback_remaining.clone_from(remaining);
            }),
            Event::Retried { phase, step } => self.with(|st| {
                st.retried = true;
                st.phase = None;
                st.seen.retried = Some((phase.clone(), step.clone()));
            }),
            Event::ReconcileFinished {
                parity, summary, ..
            } => self.with(|st| {
                st.seen.rows_compared = summary
                    .get("rows_compared")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                st.seen.parity = Some(*parity);
                if let Some(r) = summary.get("repair") {
                    let m = |k: &str| r.get(k).and_then(Value::as_u64).unwrap_or(0);
                    st.seen.rows_repaired += m("inserted") + m("updated");
                }
            }),
            Event::Completed { .. } => self.with(|st| st.seen.completed = true),
            _ => {}
        }
    }
}

impl Reporter for Story {
    fn event(&self, event: &Event) {
        self.before(event);
        match (&self.human, &self.json) {
            (Some(h), _) => h.event(event),
            (None, Some(j)) => j.event(event),
            (None, None) => {}
        }
        self.after(event);
    }
}

fn flag_percent(v: &migrate::state::Value) -> f64 {
    match v {
        migrate::state::Value::Flag(f) if f.enabled => f.percent.unwrap_or(100.0),
        migrate::state::Value::Flag(_) => 0.0,
        migrate::state::Value::Percent(p) | migrate::state::Value::Configured { configured: p } => {
            *p
        }
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Words wrapped at `width` columns.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// `12,345`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Style helpers for the orchestration's own lines.
pub fn bold(text: &str) -> String {
    paint(BOLD, text)
}

pub fn dim(text: &str) -> String {
    paint(DIM, text)
}

pub fn green(text: &str) -> String {
    paint(GREEN, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_groups() {
        assert_eq!(
            wrap("one two three four", 9),
            vec!["one two", "three", "four"]
        );
        assert_eq!(thousands(5000), "5,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn every_phase_of_the_demo_plan_has_an_act() {
        let env: std::collections::HashMap<String, String> = [
            ("DEMO_DIR".to_string(), "/tmp/x".to_string()),
            (
                "DEMO_METRICS".to_string(),
                "http://127.0.0.1:1/metrics".to_string(),
            ),
        ]
        .into();
        let plan = migrate::plan::validate(super::super::PLAN, &env, migrate::providers::catalog())
            .unwrap()
            .plan;
        for p in &plan.phases {
            assert!(act(&p.name, false).is_some(), "{}", p.name);
        }
    }
}
