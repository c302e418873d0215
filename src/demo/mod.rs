//! `migrate demo`: a payments API migrated live, start to finish, in under
//! a minute — with migrate's real engine, adapters and a real plan.
//!
//! In this process, on loopback ports the system picks, in a temporary
//! directory: the monolith and payments-v2 over their own SQLite files, the
//! application's front door routing by a flagd file, a load generator
//! playing 2,000 customers, and a `/metrics` page ([`app`]). Then the plan
//! shipped as plans/demo.yaml runs through [`migrate::engine::Engine`] with the
//! flagd, scrape and sqlite providers and the real reconciler, exactly as
//! `migrate advance --wait -y` would run it:
//!
//! 1. dual write, backfill, shadow reads, a consistency check;
//! 2. the canary meets the planted bug at 25% (payments-v2's authorization
//!    quota, sized for a tenth of the traffic): the gate breaches and the
//!    breaker puts every customer back on the monolith;
//! 3. the demo "deploys the fix" (raises the quota), runs `retry`, and the
//!    canary goes through 100%; clean-up ends dual writes.
//!
//! [`story`] narrates around the engine's own output. With `-o json` the
//! stream holds the engine's events and the demo's own: `demo_started`
//! (addresses, directory, sizes), `demo_act`, `demo_traffic` (every second:
//! requests a second per service, the candidate's share, errors users saw),
//! `demo_back_on_legacy`, `demo_fix_deployed`, `demo_keep` (the commands),
//! `demo_interrupted`, and a final `summary`: `rollback`, `breach` (step,
//! gate, value, the candidate's share), `retry`, `completed`, `parity`,
//! `requests`, `user_errors` (seen by the load generator: any answer other
//! than 2xx), `user_errors_after_fix`, `user_errors_by_candidate_percent`
//! and `candidate_requests_before_fix_by_percent` (by the candidate's
//! rollout when each request was routed), `rows_reconciled` (written by the
//! backfill), `rows_compared`, `seconds`.
//!
//! Ctrl-C stops the migration at its next safe point, then the load and
//! the services, and removes the directory (exit 130); `--keep` leaves the
//! system running after the end, for `migrate status`, `history` and
//! `rollback`, until Ctrl-C (then exit 0).

pub mod app;
pub mod flags;
pub mod load;
pub mod metrics;
pub mod store;
pub mod story;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;

use migrate::app::{EngineParts, Lock};
use migrate::engine::advance::{AdvanceOptions, Limit, Outcome};
use migrate::engine::{Engine, Interrupt};
use migrate::error::ExitCode;
use migrate::output::Printer;
use migrate::plan::Plan;
use migrate::providers::{fmt_number, Registry};
use migrate::state::local::LocalStore;

use app::{Sizing, System, CANDIDATE_FLAG};
use load::{Load, Rates};
use story::{thousands, Story, Traffic};

/// plans/demo.yaml: the plan the demo runs (a test checks that this is the
/// shipped file).
pub const PLAN: &str = include_str!("../../plans/demo.yaml");

/// The environment variables the plan uses, which the demo sets for itself.
pub const DIR_VAR: &str = "DEMO_DIR";
pub const METRICS_VAR: &str = "DEMO_METRICS";

/// The system's size. payments-v2's quota sits between what 5% and 25%
/// of the writes ask of it (about 2 and 10 a second): the bug never shows
/// at 5% and always at 25%, with room both ways on a busy machine.
pub const SIZING: Sizing = Sizing {
    historic_rows: 5_000,
    customers: 2_000,
    quota: 5.0,
    fixed_quota: 500.0,
};

pub const RATES: Rates = Rates {
    writes_per_second: 40,
    reads_per_second: 60,
    customers: SIZING.customers,
};

pub struct Options {
    /// Leave the system running after the end, until Ctrl-C.
    pub keep: bool,
}

/// Run the demo; its exit code.
pub async fn run(opts: &Options, printer: Printer) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("migrate-demo-")
        .tempdir()
        .context("creating the demo's temporary directory")?;
    let story = Arc::new(Story::new(&printer));
    let interrupt = Interrupt::default();
    let signals = catch_interrupt(interrupt.clone(), story.clone(), dir.path().to_path_buf());
    let result = drive(dir.path(), opts, &printer, &story, &interrupt, started).await;
    signals.abort();
    if matches!(result, Ok(ExitCode::Interrupted)) {
        story.say("Stopped: the load, the services and the demo's directory are gone.");
    }
    // Removing the directory: the databases, flags, plan copy and state.
    let path = dir.path().to_path_buf();
    if let Err(e) = dir.close() {
        printer.err(&format!(
            "warning: could not remove {}: {e}",
            path.display()
        ));
    }
    result
}

/// First Ctrl-C: stop at the next safe point (the caller cleans up).
/// Second: remove the directory and exit at once.
fn catch_interrupt(
    interrupt: Interrupt,
    story: Arc<Story>,
    dir: PathBuf,
) -> tokio::task::JoinHandle<()> {
    migrate::app::interrupt::catch(migrate::app::interrupt::Signals {
        first: Box::new(move || {
            interrupt.raise();
            story.interrupted();
        }),
        second: Box::new(move || {
            let _ = std::fs::remove_dir_all(&dir);
        }),
        terminate: None,
    })
}

/// Sleep, unless interrupted; whether it slept the whole time.
async fn pause(d: Duration, interrupt: &Interrupt) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if interrupt.raised() {
            return false;
        }
        tokio::time::sleep(
            Duration::from_millis(50).min(end.saturating_duration_since(Instant::now())),
        )
        .await;
    }
    !interrupt.raised()
}

async fn drive(
    dir: &Path,
    opts: &Options,
    printer: &Printer,
    story: &Arc<Story>,
    interrupt: &Interrupt,
    started: Instant,
) -> anyhow::Result<ExitCode> {
    let system = System::start(dir, &SIZING)
        .await
        .context("starting the demo's system")?;
    let load = Load::start(system.front.url(), system.history.clone(), RATES.clone());
    let sampler = sample_traffic(story.clone(), &system, &load);
    let result = migrate(
        &system, &load, dir, opts, printer, story, interrupt, started,
    )
    .await;
    sampler.abort();
    load.stop();
    system.stop().await;
    result
}

/// Every 500 ms, the traffic of the last second for the live view (and
/// every second on the JSON stream).
fn sample_traffic(story: Arc<Story>, system: &System, load: &Load) -> tokio::task::JoinHandle<()> {
    let metrics = system.metrics.clone();
    let stats = load.stats.clone();
    let flags = system.flags.clone();
    tokio::spawn(async move {
        let mut window = VecDeque::new();
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut n = 0u64;
        loop {
            tick.tick().await;
            let now = Instant::now();
            let totals = metrics.totals();
            window.push_back((now, totals));
            while window.len() > 3 {
                window.pop_front();
            }
            let Some((then, first)) = window.front().copied() else {
                continue;
            };
            let dt = now.duration_since(then).as_secs_f64();
            let rate = |a: u64, b: u64| {
                if dt > 0.2 {
                    a.saturating_sub(b) as f64 / dt
                } else {
                    0.0
                }
            };
            let counts = stats.counts();
            story.traffic(
                Traffic {
                    legacy_per_second: rate(totals.legacy, first.legacy),
                    candidate_per_second: rate(totals.candidate, first.candidate),
                    candidate_percent: flags.snapshot().percent(CANDIDATE_FLAG),
                    requests: counts.ok + counts.errors,
                    user_errors: counts.errors,
                },
                n.is_multiple_of(2),
            );
            n += 1;
        }
    })
}

/// The plan, validated with the demo's own values for its variables.
pub fn plan_for(dir: &Path, metrics_url: &str) -> anyhow::Result<Plan> {
    let env: HashMap<String, String> = [
        (DIR_VAR.to_string(), dir.display().to_string()),
        (METRICS_VAR.to_string(), metrics_url.to_string()),
    ]
    .into();
    migrate::plan::validate(PLAN, &env, migrate::providers::catalog())
        .map(|v| v.plan)
        .map_err(|diags| {
            let text: Vec<String> = diags
                .iter()
                .map(|d| d.render("plans/demo.yaml", PLAN, false))
                .collect();
            anyhow::anyhow!("the demo's plan is invalid:\n{}", text.join("\n"))
        })
}

#[allow(clippy::too_many_arguments)]
async fn migrate(
    system: &System,
    load: &Load,
    dir: &Path,
    opts: &Options,
    printer: &Printer,
    story: &Arc<Story>,
    interrupt: &Interrupt,
    started: Instant,
) -> anyhow::Result<ExitCode> {
    let plan = plan_for(dir, &system.metrics_url())?;
    let plan_file = dir.join("demo.yaml");
    std::fs::write(&plan_file, PLAN).with_context(|| format!("writing {}", plan_file.display()))?;
    let store = LocalStore::new(&dir.join(".migrate"), &plan.name);
    let reconciler = migrate::app::reconciler::reconciler();
    let parts = Parts {
        plan: &plan,
        store: &store,
        reconciler: reconciler.as_ref(),
        story: story.as_ref(),
        interrupt,
    };
    intro(story, system, &plan);
    // Customers pay for a moment before anything changes: these payments,
    // like the history, are in the monolith's store only.
    if !pause(Duration::from_millis(1500), interrupt).await {
        return Ok(ExitCode::Interrupted);
    }
    story.say(&format!("  {}", story::dim(&story.last_traffic().line())));

    let advance = AdvanceOptions {
        limit: Limit::All,
        wait: true,
        approve: Vec::new(),
        yes: true,
        force: false,
        adopt_gates: false,
        prompter: None,
        accept_baseline: false,
    };
    let providers = Registry::new(&plan);
    let first = parts.engine(&providers).advance(&advance).await?;
    match &first {
        Outcome::RolledBack { breach: true, .. } => {}
        Outcome::Completed => {
            anyhow::bail!(
                "the planted bug did not trip the breaker: payments-v2 served 25% of customers without errors. \
                 The machine may be too slow to send the demo's {} payments a second.",
                RATES.writes_per_second
            );
        }
        other => return Ok(stopped(other, story, printer)),
    }

    // The rollback is done; show the customers back on the monolith.
    if !pause(Duration::from_millis(1500), interrupt).await {
        return Ok(ExitCode::Interrupted);
    }
    let back = story.last_traffic();
    story.say(&format!(
        "  {}",
        story::green("Every customer is back on the monolith; dual writes stay on.")
    ));
    story.say(&format!("  {}", story::dim(&back.line())));
    story.emit(json!({
        "type": "demo_back_on_legacy",
        "legacy_per_second": back.legacy_per_second,
        "candidate_per_second": back.candidate_per_second,
        "candidate_percent": back.candidate_percent,
    }));

    // The fix.
    let errors_before_fix = load.stats.counts().errors;
    let by_percent_before_fix = system.metrics.by_percent();
    let seen = story.seen();
    let breach = seen.breach.clone().unwrap_or_default();
    let rolled_back_in = seen
        .rollback_seconds
        .map_or_else(|| "at once".to_string(), |s| format!("in {}", seconds(s)));
    let what = if breach.candidate_percent > 0.0 {
        format!(
            "What went wrong: payments-v2 authorizes each new payment under a quota sized in a \
             load test at a tenth of production traffic — {} a second. At {}% of customers it \
             was asked for about {} a second and shed the rest with 503: {} failed before the \
             breaker put every customer back on the monolith ({rolled_back_in}). \
             Dual writes stayed on: no payment is missing from either store.",
            fmt_number(SIZING.quota),
            fmt_number(breach.candidate_percent),
            fmt_number(
                (f64::from(RATES.writes_per_second) * breach.candidate_percent / 100.0).round()
            ),
            migrate::output::plural(
                usize::try_from(errors_before_fix).unwrap_or(usize::MAX),
                "request"
            ),
        )
    } else {
        // Not the planted bug: say what it was, and carry on all the same.
        format!(
            "The breaker tripped at {}, before payments-v2 served anyone: {}. Everything \
             was put back {rolled_back_in}. The demo deploys its fix and tries again.",
            breach.step.as_deref().unwrap_or("?"),
            breach.reason
        )
    };
    story.banner(6, "The fix", &what);
    system.quota.set_rate(SIZING.fixed_quota);
    story.say(&format!(
        "  {} payments-v2 1.0.1: authorization quota {} → {} a second.",
        story::bold("Deployed"),
        fmt_number(SIZING.quota),
        fmt_number(SIZING.fixed_quota)
    ));
    story.emit(json!({
        "type": "demo_fix_deployed",
        "service": "payments-v2",
        "quota_from": SIZING.quota,
        "quota_to": SIZING.fixed_quota,
    }));
    if !pause(Duration::from_millis(1000), interrupt).await {
        return Ok(ExitCode::Interrupted);
    }
    story.say(&format!("  {}", story::bold("$ migrate retry")));
    let providers = Registry::new(&plan);
    parts.engine(&providers).retry(false).await?;
    story.say(&format!("  {}", story::bold("$ migrate advance --wait -y")));
    let providers = Registry::new(&plan);
    let second = parts.engine(&providers).advance(&advance).await?;
    if second != Outcome::Completed {
        return Ok(stopped(&second, story, printer));
    }

    // The end.
    story.say("");
    story.gate_table("The gates at the end:");
    let seen = story.seen();
    let counts = load.stats.counts();
    let totals = system.metrics.totals();
    let by_percent = system.metrics.by_percent();
    let user_errors_by_percent: BTreeMap<String, u64> = by_percent
        .iter()
        .filter(|(_, c)| c.user_errors > 0)
        .map(|(p, c)| (p.clone(), c.user_errors))
        .collect();
    let candidate_before_fix: BTreeMap<String, u64> = by_percent_before_fix
        .iter()
        .map(|(p, c)| (p.clone(), c.candidate_requests))
        .collect();
    let secs = started.elapsed().as_secs_f64();
    let requests = counts.ok + counts.errors;
    story.emit(json!({
        "type": "summary",
        "command": "demo",
        "outcome": "completed",
        "exit_code": 0,
        "seconds": (secs * 10.0).round() / 10.0,
        "rollback": seen.breach.is_some() && seen.rollback_remaining.is_empty(),
        "breach": seen.breach,
        "rollback_seconds": seen.rollback_seconds,
        "retry": seen.retried.is_some(),
        "completed": seen.completed,
        "parity": seen.parity,
        "requests": requests,
        "requests_by_service": { "legacy": totals.legacy, "candidate": totals.candidate },
        "user_errors": counts.errors,
        "user_errors_after_fix": counts.errors - errors_before_fix,
        "user_errors_by_candidate_percent": user_errors_by_percent,
        "candidate_requests_before_fix_by_percent": candidate_before_fix,
        "rows_reconciled": seen.rows_repaired,
        "rows_compared": seen.rows_compared,
        "historic_rows": SIZING.historic_rows,
        "shadow_reads": totals.shadow,
        "shadow_mismatches": totals.shadow_mismatches,
        "dual_writes": totals.dual_writes,
    }));
    if !printer.json && !printer.quiet {
        let breach_words = match &seen.breach {
            Some(b) => format!(
                "tripped at {} ({}% of customers): {} {} · rolled back in {}",
                b.step.as_deref().unwrap_or("?"),
                fmt_number(b.candidate_percent),
                b.gate,
                b.value.map_or_else(|| "no data".to_string(), short),
                seen.rollback_seconds
                    .map_or_else(|| "?".to_string(), seconds),
            ),
            None => "did not trip".into(),
        };
        let retry_words = match &seen.retried {
            Some((_, step)) => format!("from {step}, after the fix · completed"),
            None => "not needed".into(),
        };
        let error_words = if counts.errors == 0 {
            "none".to_string()
        } else {
            let at: Vec<String> = user_errors_by_percent
                .keys()
                .map(|p| format!("{p}%"))
                .collect();
            format!(
                "{}, all while payments-v2 served {} · none after the fix",
                thousands(counts.errors),
                at.join(", ")
            )
        };
        let rows = [
            (
                "requests served",
                format!(
                    "{} (legacy {} · payments-v2 {})",
                    thousands(requests),
                    thousands(totals.legacy),
                    thousands(totals.candidate)
                ),
            ),
            ("errors seen by users", error_words),
            (
                "rows reconciled",
                format!(
                    "{} copied by the backfill · last check: parity {} over {} rows",
                    thousands(seen.rows_repaired),
                    seen.parity.map_or_else(
                        || "?".to_string(),
                        |p| format!("{}%", fmt_number(p * 100.0))
                    ),
                    thousands(seen.rows_compared)
                ),
            ),
            ("breaker", breach_words),
            ("retry", retry_words),
        ];
        let mut text = format!(
            "\n{} in {}: payments-v2 serves every customer, and the monolith's store no longer receives writes.\n\n",
            story::green("✓ Migrated"),
            seconds(secs)
        );
        for (k, v) in rows {
            text.push_str(&format!("  {} {v}\n", story::bold(&format!("{k:<21}"))));
        }
        if !opts.keep {
            text.push_str(&format!(
                "\n  {}\n",
                story::dim("`migrate demo --keep` leaves the system running to explore it with status, history and rollback.")
            ));
        }
        printer.out(&text);
    }
    if opts.keep {
        keep(system, dir, &plan_file, printer, story, interrupt).await;
    }
    Ok(ExitCode::Ok)
}

/// What the engine of each command is built from. Each command gets the
/// engine a `migrate` process would build, with providers of its own: a
/// scrape provider remembers the pages it read for as long as its process
/// lives, so `migrate retry` and `migrate advance` — separate processes —
/// start from fresh pages, not from the one read at the breach.
struct Parts<'a> {
    plan: &'a Plan,
    store: &'a LocalStore,
    reconciler: &'a dyn migrate::engine::Reconciler,
    story: &'a Story,
    interrupt: &'a Interrupt,
}

impl<'a> Parts<'a> {
    fn engine(&self, providers: &'a Registry) -> Engine<'a> {
        EngineParts {
            plan: self.plan,
            store: self.store,
            providers,
            events: self.story,
            reconciler: self.reconciler,
            actor: migrate::state::actor(),
            command: "migrate demo".into(),
            interrupt: self.interrupt.clone(),
        }
        .engine(Lock::COMMAND)
    }
}

/// The migration stopped short of the story (an interruption, a breach
/// the demo did not plant, an error in a step): say so, with its code.
fn stopped(outcome: &Outcome, story: &Story, printer: &Printer) -> ExitCode {
    let (code, text) = migrate::app::outcome::describe(outcome);
    story.emit(json!({
        "type": "summary",
        "command": "demo",
        "outcome": migrate::app::outcome::outcome_name(outcome),
        "message": text,
        "exit_code": code.code(),
    }));
    if !printer.json && code != ExitCode::Interrupted {
        printer.out(&text);
    }
    code
}

/// `--keep`: the commands to explore the system, then wait for Ctrl-C.
async fn keep(
    system: &System,
    dir: &Path,
    plan_file: &Path,
    printer: &Printer,
    story: &Story,
    interrupt: &Interrupt,
) {
    let program = program();
    let plan = shell_quote(&plan_file.display().to_string());
    let exports = vec![
        format!(
            "export {DIR_VAR}={}",
            shell_quote(&dir.display().to_string())
        ),
        format!("export {METRICS_VAR}={}", system.metrics_url()),
    ];
    let commands = vec![
        (
            format!("{program} -f {plan} status"),
            "where the migration stands: every flag live, the gates, drift",
        ),
        (
            format!("{program} -f {plan} history"),
            "the journal: every change, by whom, before and after",
        ),
        (
            format!("{program} -f {plan} rollback --force"),
            "every customer back on the monolith, past the point of no return: it lacks the payments taken since dual writes stopped (watch the errors here)",
        ),
        (
            format!("curl -s {}", system.metrics_url()),
            "the page the gates read",
        ),
    ];
    story.emit(json!({
        "type": "demo_keep",
        "dir": dir.display().to_string(),
        "front_door": system.front.url(),
        "metrics": system.metrics_url(),
        "exports": exports,
        "commands": commands.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>(),
    }));
    if !printer.json {
        let mut text = format!(
            "\nThe system keeps running ({}; Ctrl-C stops it and removes {}).\nIn another terminal:\n\n",
            system.front.url(),
            dir.display()
        );
        for e in &exports {
            text.push_str(&format!("  {e}\n"));
        }
        for (c, what) in &commands {
            text.push_str(&format!(
                "  {c}\n      {}\n",
                story::dim(&format!("# {what}"))
            ));
        }
        printer.out(&text);
    }
    story.keeping();
    while !interrupt.raised() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How to run this migrate from a shell: `migrate` when that is the one
/// on PATH, else its full path.
fn program() -> String {
    let Ok(me) = std::env::current_exe() else {
        return "migrate".into();
    };
    let me = std::fs::canonicalize(&me).unwrap_or(me);
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("migrate"))
            .find(|p| p.is_file())
            .and_then(|p| std::fs::canonicalize(p).ok())
    });
    if on_path.as_deref() == Some(me.as_path()) {
        "migrate".into()
    } else {
        shell_quote(&me.display().to_string())
    }
}

/// A word for a POSIX shell: as is when it is plain, else single-quoted.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:=@%+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A gate value with three significant digits at most.
fn short(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return fmt_number(v);
    }
    let digits = (3 - 1 - v.abs().log10().floor() as i32).clamp(0, 9) as usize;
    fmt_number(format!("{v:.digits$}").parse().unwrap_or(v))
}

fn seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else if s < 10.0 {
        format!("{s:.1} s")
    } else {
        format!("{s:.0} s")
    }
}

fn intro(story: &Story, system: &System, plan: &Plan) {
    let steps = plan.steps().count();
    let phases = plan.phases.len();
    story.emit(json!({
        "type": "demo_started",
        "dir": system.dir.display().to_string(),
        "front_door": system.front.url(),
        "legacy": system.legacy.url(),
        "candidate": system.candidate.url(),
        "metrics": system.metrics_url(),
        "plan": "plans/demo.yaml",
        "phases": phases,
        "steps": steps,
        "historic_rows": SIZING.historic_rows,
        "customers": SIZING.customers,
        "writes_per_second": RATES.writes_per_second,
        "reads_per_second": RATES.reads_per_second,
    }));
    story.say(&story::bold(
        "migrate demo — a payments API moves from a monolith to its replacement, live, with no downtime",
    ));
    story.say("");
    story.say("  The system, in this process on loopback:");
    let rows = [
        (
            "front door",
            system.front.url(),
            "routes each customer by the flags in flags.json".to_string(),
        ),
        (
            "legacy",
            system.legacy.url(),
            format!(
                "the monolith: {} payments of history in legacy.db",
                thousands(SIZING.historic_rows as u64)
            ),
        ),
        (
            "payments-v2",
            system.candidate.url(),
            "the candidate: an empty candidate.db".to_string(),
        ),
        (
            "customers",
            String::new(),
            format!(
                "{} payments/s and {} reads/s from {} customers",
                RATES.writes_per_second,
                RATES.reads_per_second,
                thousands(SIZING.customers as u64)
            ),
        ),
        (
            "metrics",
            system.metrics_url(),
            "what the gates read".to_string(),
        ),
    ];
    for (name, url, what) in rows {
        story.say(&format!(
            "    {:<12} {:<34} {}",
            name,
            url,
            story::dim(&what)
        ));
    }
    story.say("");
    story.say(&format!(
        "  The plan: plans/demo.yaml — {phases} phases, {steps} steps — run by migrate's own engine, as"
    ));
    story.say(&format!(
        "  {} would run it.",
        story::bold("migrate -f plans/demo.yaml advance --wait -y")
    ));
    story.say(&format!(
        "  State and journal: {}",
        system.dir.join(".migrate").display()
    ));
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_runs_the_shipped_plan() {
        let shipped =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/plans/demo.yaml"))
                .expect("plans/demo.yaml");
        assert_eq!(
            super::PLAN,
            shipped,
            "the demo embeds plans/demo.yaml as it is"
        );
    }

    use super::*;

    #[test]
    fn the_shares_the_plan_uses_fall_either_side_of_the_quota() {
        // Routing is a pure function of the customer: the exact share of
        // customers at each canary percent is known.
        let share = |p: u32| {
            let text = format!(
                r#"{{"flags": {{"candidate": {{"state": "ENABLED", "variants": {{"on": true, "off": false}},
                   "defaultVariant": "on", "targeting": {{"fractional": [["on", {p}], ["off", {}]]}}}}}}}}"#,
                100 - p
            );
            let s = flags::Snapshot::parse(&text).unwrap();
            let on = (0..RATES.customers)
                .filter(|i| s.enabled(CANDIDATE_FLAG, &store::customer(*i)))
                .count();
            on as f64 / RATES.customers as f64
        };
        let writes = f64::from(RATES.writes_per_second);
        let at5 = writes * share(5);
        let at25 = writes * share(25);
        // At least twice the margin either way.
        assert!(at5 * 2.0 <= SIZING.quota, "5%: {at5} writes/s");
        assert!(at25 >= SIZING.quota * 1.6, "25%: {at25} writes/s");
        assert!(writes * share(100) <= SIZING.fixed_quota / 4.0);
    }

    #[test]
    fn short_numbers() {
        assert_eq!(short(0.086957), "0.087");
        assert_eq!(short(0.0), "0");
        assert_eq!(short(12.345), "12.3");
        assert_eq!(short(1.0), "1");
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_quote("/tmp/migrate-demo-x1"), "/tmp/migrate-demo-x1");
        assert_eq!(shell_quote("/a b/it's"), "'/a b/it'\\''s'");
    }
}
