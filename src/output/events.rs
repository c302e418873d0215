//! Renderers of engine events: lines and progress bars for people (on
//! stderr), JSON lines for programs (on stdout).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use anstyle::{AnsiColor, Style};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::events::EVENT_SCHEMA;
use crate::engine::{Event, Reporter};
use crate::plan::describe::duration_words;
use crate::providers::fmt_number;
use crate::redact;

const GREEN: Style = AnsiColor::Green.on_default();
const RED: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();

fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// Events as lines for people, on stderr; a progress bar for soaks and
/// reconciliations when stderr is a terminal.
pub struct HumanReporter {
    quiet: bool,
    verbose: bool,
    bars: bool,
    /// A log's lines (a long-running service): each starts with the time
    /// and this name (the migration's).
    prefix: Option<String>,
    state: Mutex<HumanState>,
}

#[derive(Default)]
struct HumanState {
    phase: Option<String>,
    bar: Option<(String, ProgressBar)>,
    gates: Vec<(String, String)>,
    /// How each gate last read in this soak (passing, no data): without a
    /// bar, a passing reading is printed only when that changes.
    gate_kinds: std::collections::HashMap<String, (bool, bool)>,
    /// A line shown under the progress bar (see [`HumanReporter::set_status`]).
    status: Option<String>,
}

impl HumanReporter {
    pub fn new(quiet: bool, verbose: bool) -> Self {
        Self {
            quiet,
            verbose,
            bars: std::io::stderr().is_terminal() && !quiet,
            prefix: None,
            state: Mutex::new(HumanState::default()),
        }
    }

    /// Lines for a log (no bars), each stamped with the time and `name`.
    pub fn log(quiet: bool, verbose: bool, name: &str) -> Self {
        Self {
            quiet,
            verbose,
            bars: false,
            prefix: Some(name.to_string()),
            state: Mutex::new(HumanState::default()),
        }
    }

    /// Print a line of the caller's own (above the progress bar, if one
    /// is shown), unless quiet.
    pub fn say(&self, text: &str) {
        if self.quiet {
            return;
        }
        let Ok(st) = self.state.lock() else {
            return;
        };
        self.line(&st, text);
    }

    /// A live line shown under the progress bar of a soak or a
    /// reconciliation (a caller watching the system, such as the demo's
    /// traffic view); `None` removes it. Shown only with the bars, on a
    /// terminal.
    pub fn set_status(&self, text: Option<String>) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        st.status = text;
        if let Some((_, bar)) = &st.bar {
            bar.set_prefix(status_suffix(st.status.as_deref()));
        }
    }

    /// A spinner with `title` and the status line under it, until
    /// [`Self::unwatch`] (a caller watching a live system between events).
    /// On a terminal only.
    pub fn watch(&self, title: &str) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        self.bar(&mut st, "watch", 1, "  {spinner} {msg}{prefix}");
        if let Some((_, bar)) = &st.bar {
            bar.set_message(title.to_string());
        }
    }

    pub fn unwatch(&self) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        self.finish_bar(&mut st, "watch");
    }

    fn line(&self, st: &HumanState, text: &str) {
        let text = match &self.prefix {
            Some(name) => redact::clean(&log_line(name, text)).into_owned(),
            None => redact::clean(text).into_owned(),
        };
        match &st.bar {
            // The bar writes to the terminal itself, past anstream: take
            // the colors out when they are off (NO_COLOR, --no-color).
            Some((_, bar)) if colors_off() => {
                bar.println(anstream::adapter::strip_str(&text).to_string())
            }
            Some((_, bar)) => bar.println(text.as_str()),
            None => {
                let mut err = anstream::stderr().lock();
                let _ = writeln!(err, "{text}");
            }
        }
    }

    fn bar(&self, st: &mut HumanState, key: &str, len: u64, template: &str) {
        if !self.bars {
            return;
        }
        if st.bar.as_ref().is_some_and(|(k, _)| k == key) {
            return;
        }
        if let Some((_, old)) = st.bar.take() {
            old.finish_and_clear();
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("█▉▊▋▌▍▎▏ "));
        }
        bar.set_prefix(status_suffix(st.status.as_deref()));
        bar.enable_steady_tick(Duration::from_millis(200));
        st.bar = Some((key.to_string(), bar));
    }

    fn finish_bar(&self, st: &mut HumanState, key: &str) {
        if st.bar.as_ref().is_some_and(|(k, _)| k == key) {
            if let Some((_, bar)) = st.bar.take() {
                bar.finish_and_clear();
            }
        }
    }
}

/// A reconciliation's progress while the number of rows is not known.
const RECONCILE_COUNTING: &str = "  {spinner} {msg} {human_pos} rows compared ({per_sec}){prefix}";
/// A reconciliation's progress out of the source's (estimated) rows.
const RECONCILE_BAR: &str =
    "  {spinner} {msg} [{bar:30}] {human_pos}/~{human_len} rows (eta {eta}){prefix}";

/// A line of a service's log: the time (UTC, to the second), who speaks,
/// and the text (indentation dropped: every line stands alone).
pub fn log_line(name: &str, text: &str) -> String {
    format!(
        "{} {name}: {}",
        humantime::format_rfc3339_seconds(SystemTime::now()),
        text.trim_start()
    )
}

/// The status line as the bar templates' `{prefix}`: on a line of its own.
fn status_suffix(status: Option<&str>) -> String {
    match status {
        Some(s) if colors_off() => format!("\n  {}", anstream::adapter::strip_str(s)),
        Some(s) => format!("\n  {s}"),
        None => String::new(),
    }
}

/// Whether colors are off for stderr (NO_COLOR, --no-color, not a terminal).
fn colors_off() -> bool {
    anstream::AutoStream::choice(&std::io::stderr()) == anstream::ColorChoice::Never
}

impl HumanReporter {
    /// A step: its start, the change it makes and its read-back, its end; a hook's output; an approval.
    fn step_line(&self, st: &mut HumanState, event: &Event) {
        match event {
            Event::StepStarted {
                step,
                phase,
                action,
                index,
                total,
            } => {
                if st.phase.as_deref() != Some(phase) {
                    st.phase = Some(phase.clone());
                    self.line(st, &paint(BOLD, &format!("── {phase} ──")));
                }
                self.line(
                    st,
                    &format!(
                        "▶ {step} {} {action}",
                        paint(DIM, &format!("[{index}/{total}]"))
                    ),
                );
            }
            Event::Baseline { target, value } => {
                self.line(st, &paint(DIM, &format!("  baseline of {target}: {value}")))
            }
            Event::Change {
                target,
                from,
                to,
                dry_run,
                step,
            } => {
                let from = from.as_ref().map_or("?".to_string(), ToString::to_string);
                if *dry_run {
                    self.line(
                        st,
                        &format!(
                            "  {} {step}: {target}: {from} → {to}",
                            paint(YELLOW, "would set")
                        ),
                    )
                } else {
                    self.line(st, &format!("  {target}: {from} → {to}"))
                }
            }
            Event::Verified { value, .. } => {
                self.line(st, &format!("  {} reads back {value}", paint(GREEN, "✓")))
            }
            Event::StepDone { step, note } => {
                self.finish_bar(st, step);
                if let Some(n) = note {
                    self.line(st, &format!("  {} {step} done: {n}", paint(GREEN, "✓")));
                } else if self.verbose {
                    self.line(st, &format!("  {} {step} done", paint(GREEN, "✓")));
                }
            }
            Event::StepFailed { step, error } => self.line(
                st,
                &format!("{} step {step}: {error}", paint(RED, "✗ failed:")),
            ),
            Event::HookOutput { step, text } if self.verbose => {
                for l in text.lines() {
                    self.line(st, &paint(DIM, &format!("  {step} │ {l}")));
                }
            }
            Event::ApprovalNeeded { step, message } => {
                self.line(st, &format!("? {step} needs approval: {message}"))
            }
            Event::Approved { step, by } => self.line(
                st,
                &format!("  {} {step} approved by {by}", paint(GREEN, "✓")),
            ),
            _ => {}
        }
    }

    /// A soak and its gates: the bar, each reading, a breach, waiting, drift.
    fn soak_line(&self, st: &mut HumanState, event: &Event) {
        match event {
            Event::SoakStarted {
                step,
                duration_ms,
                ends_at,
            } => {
                st.gates.clear();
                st.gate_kinds.clear();
                self.line(
                    st,
                    &format!(
                        "  soaking {} (until {ends_at})",
                        duration_words(Duration::from_millis(*duration_ms))
                    ),
                );
                self.bar(
                    st,
                    step,
                    *duration_ms,
                    "  {spinner} soak [{bar:30}] {msg}{prefix}",
                );
            }
            Event::SoakProgress {
                step,
                elapsed_ms,
                duration_ms,
            } => {
                self.bar(
                    st,
                    step,
                    *duration_ms,
                    "  {spinner} soak [{bar:30}] {msg}{prefix}",
                );
                if let Some((_, bar)) = &st.bar {
                    bar.set_length(*duration_ms);
                    bar.set_position((*elapsed_ms).min(*duration_ms));
                    let left = Duration::from_millis(duration_ms.saturating_sub(*elapsed_ms));
                    let gates: Vec<String> =
                        st.gates.iter().map(|(g, v)| format!("{g}={v}")).collect();
                    bar.set_message(format!(
                        "{} left  {}",
                        duration_words(Duration::from_secs(left.as_secs())),
                        gates.join("  ")
                    ));
                }
            }
            Event::Gate {
                gate,
                value,
                nan,
                ok,
                threshold,
                breaches,
                failure_limit,
                note,
                ..
            } => {
                let shown = crate::providers::fmt_reading(*value, *nan);
                st.gates.retain(|(g, _)| g != gate);
                st.gates.push((gate.clone(), shown.clone()));
                let mark = if *ok {
                    paint(GREEN, "✓")
                } else {
                    paint(RED, "✗")
                };
                let mut text = match (value, note) {
                    // The note says why there is no data, and the policy.
                    (None, Some(n)) => format!("  {mark} gate {gate}: {n}"),
                    _ => format!("  {mark} gate {gate} = {shown}"),
                };
                if !threshold.is_empty() {
                    text.push_str(&paint(DIM, &format!(" ({threshold})")));
                }
                if !ok {
                    text.push_str(&format!(" breach {breaches}/{}", failure_limit + 1));
                }
                if let (Some(n), Some(_)) = (note, value) {
                    text.push_str(&paint(DIM, &format!(" — {n}")));
                }

                // Passing readings during a soak are the bar's business;
                // without a bar (a log), say only when a gate's reading
                // changes kind.
                let kind = (*ok, value.is_none());
                let changed = st.gate_kinds.insert(gate.clone(), kind) != Some(kind);
                if !ok || self.verbose || (st.bar.is_none() && changed) {
                    self.line(st, &text);
                }
            }
            Event::Breach { reason, .. } => {
                self.line(st, &format!("{} {reason}", paint(RED, "✗ BREACH:")))
            }
            Event::Waiting { step, reason, .. } => {
                if let Some((_, bar)) = st.bar.take() {
                    bar.abandon();
                }
                self.line(st, &format!("⏸ {step}: {reason}"));
            }
            Event::Drift {
                target,
                expected,
                live,
                error,
            } => {
                let live = live
                    .as_ref()
                    .map(ToString::to_string)
                    .or_else(|| error.clone())
                    .unwrap_or_default();
                self.line(
                    st,
                    &format!(
                        "{} {target}: expected {expected}, live {live}",
                        paint(YELLOW, "drift:")
                    ),
                )
            }
            _ => {}
        }
    }

    /// A rollback: its start, each target restored (or not), its end; a retry.
    fn rollback_line(&self, st: &mut HumanState, event: &Event) {
        match event {
            Event::RollbackStarted {
                reason,
                to,
                targets,
                legacy,
            } => {
                if let Some((_, bar)) = st.bar.take() {
                    bar.finish_and_clear();
                }
                let dest = match to {
                    _ if *legacy => "the legacy side".to_string(),
                    Some(t) => format!("the values after step {t}"),
                    None => "the baselines".to_string(),
                };
                self.line(
                    st,
                    &format!(
                        "{} to {dest} ({targets} target{}): {reason}",
                        paint(RED, "↩ ROLLING BACK"),
                        if *targets == 1 { "" } else { "s" }
                    ),
                );
            }
            Event::Restored {
                target,
                from,
                to,
                dry_run,
            } => {
                let unchanged = from.as_ref().is_some_and(|f| to.matches(f));
                let from = from.as_ref().map_or("?".to_string(), ToString::to_string);
                if unchanged {
                    let verb = if *dry_run { "would leave" } else { "= left" };
                    self.line(st, &format!("  {verb} {target} at {to} (already there)"));
                } else if *dry_run {
                    self.line(
                        st,
                        &format!(
                            "  {} {target}: {from} → {to}",
                            paint(YELLOW, "would restore")
                        ),
                    );
                } else {
                    self.line(
                        st,
                        &format!("  {} {target}: {from} → {to}", paint(GREEN, "↩ restored")),
                    );
                }
            }
            Event::RestoreFailed {
                target,
                error,
                retrying,
            } => {
                let tail = if *retrying { " (retrying)" } else { "" };
                self.line(
                    st,
                    &format!("  {} {target}: {error}{tail}", paint(RED, "✗ not restored")),
                );
            }
            Event::RollbackFinished { remaining, seconds } => {
                if remaining.is_empty() {
                    self.line(
                        st,
                        &format!(
                            "{} in {}",
                            paint(GREEN, "↩ rollback complete"),
                            secs(*seconds)
                        ),
                    );
                } else {
                    self.line(
                        st,
                        &format!(
                            "{} still wrong: {}",
                            paint(RED, "ROLLBACK INCOMPLETE:"),
                            remaining.join(", ")
                        ),
                    );
                }
            }
            Event::Retried { phase, step } => self.line(
                st,
                &format!("↻ starting again at phase {phase} (step {step})"),
            ),
            _ => {}
        }
    }

    /// A reconciliation's start, progress and result.
    fn reconcile_line(&self, st: &mut HumanState, event: &Event) {
        match event {
            Event::ReconcileStarted { name } => {
                self.line(st, &format!("  reconciling {name}…"));
                self.bar(st, &format!("reconcile:{name}"), 0, RECONCILE_COUNTING);
            }
            Event::ReconcileProgress { name, done, total } => {
                let key = format!("reconcile:{name}");
                self.bar(st, &key, 0, RECONCILE_COUNTING);
                if let Some((_, bar)) = &st.bar {
                    // The total (the source's estimate) may come with the
                    // first progress, or never (SQLite keeps none): a bar
                    // of rows out of it when known, else a count.
                    if let Some(t) = total.filter(|t| *t > 0) {
                        if bar.length().unwrap_or(0) == 0 {
                            if let Ok(style) = ProgressStyle::with_template(RECONCILE_BAR) {
                                bar.set_style(style.progress_chars("█▉▊▋▌▍▎▏ "));
                            }
                        }
                        bar.set_length(t);
                    }
                    bar.set_position(*done);
                    bar.set_message(name.clone());
                }
            }
            Event::ReconcileFinished { name, parity, .. } => {
                self.finish_bar(st, &format!("reconcile:{name}"));
                self.line(
                    st,
                    &format!("  reconciliation {name}: parity {}", fmt_number(*parity)),
                );
            }
            _ => {}
        }
    }

    /// Notes, warnings, a pause and its release, the end of the migration.
    fn status_line(&self, st: &mut HumanState, event: &Event) {
        match event {
            Event::Note { message } => self.line(st, &paint(DIM, message)),
            Event::Warning { message } => {
                self.line(st, &format!("{} {message}", paint(YELLOW, "warning:")))
            }
            Event::Paused { by, reason } => self.line(
                st,
                &format!("{} by {by}: {reason}", paint(YELLOW, "⏸ paused")),
            ),
            Event::Resumed { by } => self.line(st, &format!("▶ resumed by {by}")),
            Event::Completed { steps } => {
                if let Some((_, bar)) = st.bar.take() {
                    bar.finish_and_clear();
                }
                self.line(
                    st,
                    &paint(
                        GREEN,
                        &format!("✓ migration complete ({})", super::plural(*steps, "step")),
                    ),
                );
            }
            _ => {}
        }
    }
}

impl Reporter for HumanReporter {
    fn event(&self, event: &Event) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        let st = &mut *st;
        if self.quiet {
            // Only what went wrong.
            match event {
                Event::Breach { reason, .. } => {
                    self.line(st, &format!("{} {reason}", paint(RED, "✗ breach:")))
                }
                Event::StepFailed { step, error } => self.line(
                    st,
                    &format!("{} step {step}: {error}", paint(RED, "✗ failed:")),
                ),
                Event::RestoreFailed {
                    target,
                    error,
                    retrying: false,
                } => self.line(
                    st,
                    &format!("{} {target}: {error}", paint(RED, "✗ not restored:")),
                ),
                _ => {}
            }
            return;
        }
        match event {
            Event::StepStarted { .. }
            | Event::Baseline { .. }
            | Event::Change { .. }
            | Event::Verified { .. }
            | Event::StepDone { .. }
            | Event::StepFailed { .. }
            | Event::HookOutput { .. }
            | Event::ApprovalNeeded { .. }
            | Event::Approved { .. } => self.step_line(st, event),
            Event::SoakStarted { .. }
            | Event::SoakProgress { .. }
            | Event::Gate { .. }
            | Event::Breach { .. }
            | Event::Waiting { .. }
            | Event::Drift { .. } => self.soak_line(st, event),
            Event::RollbackStarted { .. }
            | Event::Restored { .. }
            | Event::RestoreFailed { .. }
            | Event::RollbackFinished { .. }
            | Event::Retried { .. } => self.rollback_line(st, event),
            Event::ReconcileStarted { .. }
            | Event::ReconcileProgress { .. }
            | Event::ReconcileFinished { .. } => self.reconcile_line(st, event),
            Event::Note { .. }
            | Event::Warning { .. }
            | Event::Paused { .. }
            | Event::Resumed { .. }
            | Event::Completed { .. } => self.status_line(st, event),
        }
    }
}

fn secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

/// Events as JSON lines on stdout: `{"schema": "migrate.events/v1",
/// "type": ..., "at": ..., ...}`.
pub struct JsonReporter {
    out: Mutex<()>,
}

impl JsonReporter {
    pub fn new() -> Self {
        Self {
            out: Mutex::new(()),
        }
    }

    /// Print one object with the schema and time stamped in.
    pub fn emit(&self, mut value: serde_json::Value) {
        if let Some(obj) = value.as_object_mut() {
            obj.insert("schema".into(), EVENT_SCHEMA.into());
            obj.insert(
                "at".into(),
                humantime::format_rfc3339_millis(SystemTime::now())
                    .to_string()
                    .into(),
            );
        }
        let line = redact::clean(&value.to_string()).into_owned();
        let _guard = self.out.lock();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

impl Default for JsonReporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for JsonReporter {
    fn event(&self, event: &Event) {
        // Progress ticks are for bars; the stream keeps what happened.
        if matches!(
            event,
            Event::SoakProgress { .. } | Event::ReconcileProgress { .. }
        ) {
            return;
        }
        if let Ok(v) = serde_json::to_value(event) {
            self.emit(v);
        }
    }
}
