//! `migrate reconcile NAME [--repair] [--report FILE]`: compare the two
//! tables of a reconciliation, print the summary, and exit 0 when they are
//! equal (or were repaired to parity 1) or 7 when they differ.
//!
//! `migrate reconcile NAME --follow`: the continuous reconciliation
//! ([`crate::reconcile::continuous`]) until Ctrl-C, a line (or JSON event)
//! per pass, its readings recorded in the journal for parity gates.

use crate::app::notify::{Notify, Options as NotifyOptions};
use crate::engine::ReconcileResult;
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{Global, ReconcileArgs};
use crate::error::{Error, ExitCode};
use crate::output::Printer;
use crate::reconcile::{self, Options, Progress};

use super::load_plan;

pub fn run(global: &Global, args: &ReconcileArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let v = load_plan(&global.file, printer)?;
    crate::app::plan_file::say_security_notices(&v.plan, printer);
    let plan = &v.plan;
    if plan.reconciliation(&args.name).is_none() {
        let known: Vec<&str> = plan
            .reconciliations
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        let hint = if known.is_empty() {
            "the plan has no reconciliations".to_string()
        } else {
            format!("the plan has: {}", known.join(", "))
        };
        return Err(Error::Usage(format!("no reconciliation '{}' ({hint})", args.name)).into());
    }
    if args.follow {
        return follow(global, &v, &args.name, printer);
    }
    if global.dry_run && !args.repair {
        printer.note("note: --dry-run without --repair: a reconciliation changes nothing anyway");
    }
    let opts = Options {
        repair: args.repair,
        dry_run: global.dry_run,
        report: args.report.clone(),
        settle: None,
    };
    let bar = Bar::new(!printer.quiet && std::io::stderr().is_terminal());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let interrupt = crate::engine::Interrupt::default();
    let summary = runtime.block_on(async {
        crate::app::interrupt::catch(crate::app::interrupt::Signals::raise(&interrupt));
        tokio::select! {
            r = reconcile::run(plan, &args.name, &opts, &bar) => r.map(Some),
            () = interrupt.wait() => Ok(None),
        }
    });
    bar.finished();
    let Some(summary) = summary? else {
        printer.err("interrupted: nothing more was written (every repair batch is a transaction)");
        return Ok(ExitCode::Interrupted);
    };
    if !global.dry_run {
        if let Err(e) = runtime.block_on(record(global, &v, &args.name, &summary)) {
            printer.note(&format!(
                "warning: the result could not be recorded in the migration's journal: {e:#}"
            ));
        }
    }
    if !global.dry_run {
        // A mismatch fires `MigrateParityMismatch`; parity 1 resolves it.
        let registry = crate::providers::Registry::new(plan);
        let copy = *printer;
        let final_parity = summary.final_parity();
        let fields = serde_json::to_value(&summary)?;
        runtime.block_on(async {
            let log = std::sync::Arc::new(move |m: &str| copy.err(m));
            if let Some(n) = Notify::start(plan, &registry, NotifyOptions::COMMAND, log) {
                n.parity(&args.name, final_parity, &fields);
                n.finish(crate::app::notify::FLUSH).await;
            }
        });
    }
    if printer.json {
        printer.json(&serde_json::to_value(&summary)?);
    } else if !printer.quiet || !summary.in_parity() {
        printer.out(&summary.to_table());
    }
    if let Some(path) = &args.report {
        if !printer.json && summary.differences() > 0 {
            printer.note(&format!(
                "{} differing row(s) listed in {}",
                summary.differences(),
                path.display()
            ));
        }
    }
    Ok(if summary.in_parity() {
        ExitCode::Ok
    } else {
        ExitCode::ChecksFailed
    })
}

/// Record the result in the migration's journal (when the migration has
/// started), so `parity` gates use it and `history` shows it.
async fn record(
    global: &Global,
    v: &crate::plan::Validated,
    name: &str,
    summary: &reconcile::Summary,
) -> anyhow::Result<()> {
    let repair = summary.repair.as_ref();
    let result = ReconcileResult {
        unrepaired: repair.map_or(0, |r| r.failed),
        first_unrepaired: repair.and_then(|r| r.unrepaired.first().cloned()),
        ..ReconcileResult::complete(summary.final_parity(), serde_json::to_value(summary)?)
    };
    record_parity(global, v, name, &result, "")
        .await
        .map(|_| ())
}

/// Record a parity and its summary as `Entry::Reconciled`. Returns false
/// when the migration has not started (there is no state to record in).
async fn record_parity(
    global: &Global,
    v: &crate::plan::Validated,
    name: &str,
    result: &ReconcileResult,
    flags: &str,
) -> anyhow::Result<bool> {
    let store = crate::app::store::store_for(global, v)?;
    let Some(mut state) = store.load().await? else {
        return Ok(false);
    };
    let holder = crate::state::Holder {
        actor: crate::state::actor(),
        host: crate::state::hostname(),
        pid: std::process::id(),
        command: format!("migrate reconcile {name}{flags}"),
        since: crate::state::Timestamp::new(std::time::SystemTime::now()),
    };
    let guard = store
        .lock(&holder, super::context::LOCK_WAIT, false)
        .await?;
    if let Some(fresh) = store.load().await? {
        state = fresh;
    }
    store
        .commit(
            guard.as_ref(),
            &mut state,
            &holder.actor,
            holder.since,
            vec![result.entry(name)],
        )
        .await?;
    Ok(true)
}

type Continuous = reconcile::continuous::Reading;

/// `reconcile NAME --follow`.
fn follow(
    global: &Global,
    v: &crate::plan::Validated,
    name: &str,
    printer: &Printer,
) -> anyhow::Result<ExitCode> {
    if global.dry_run {
        printer.note("note: --dry-run: readings are printed, not recorded");
    }
    let plan = &v.plan;
    let json = crate::output::events::JsonReporter::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let registry = crate::providers::Registry::new(plan);
    let printer_copy = *printer;
    let interrupt = crate::engine::Interrupt::default();
    runtime.block_on(async {
        crate::app::interrupt::catch(crate::app::interrupt::Signals::raise(&interrupt));
        // Every complete reading tells the notifiers: a mismatch fires,
        // parity 1 resolves (not on a dry run).
        let notify = if global.dry_run {
            None
        } else {
            Notify::start(
                plan,
                &registry,
                NotifyOptions::COMMAND,
                std::sync::Arc::new(move |m: &str| printer_copy.err(m)),
            )
        };
        let mut stop = std::pin::pin!(interrupt.wait());
        let mut c = tokio::select! {
            c = reconcile::continuous::Continuous::new(plan, name) => c?,
            _ = &mut stop => return Ok(ExitCode::Interrupted),
        };
        if !printer.json {
            printer.note(&format!(
                "following reconciliation '{name}': a pass every {} (Ctrl-C stops)",
                humantime::format_duration(c.every())
            ));
        }
        let mut throttle = reconcile::continuous::Throttle::new(plan, name);
        let mut unrecorded_noted = false;
        let (mut passes, mut failed) = (0u64, 0u64);
        loop {
            let next = tokio::time::Instant::now() + c.every();
            let outcome = tokio::select! {
                r = c.tick() => r,
                _ = &mut stop => break,
            };
            passes += 1;
            match outcome {
                Ok(reading) => {
                    if let (Some(n), true) = (&notify, reading.complete) {
                        n.parity(name, reading.parity, &reading.summary);
                    }
                    let mut recorded = false;
                    if !global.dry_run && throttle.due(&reading, Instant::now()) {
                        let result = ReconcileResult {
                            complete: reading.complete,
                            swept: (!reading.complete).then_some(reading.swept),
                            ..ReconcileResult::complete(reading.parity, reading.summary.clone())
                        };
                        match record_parity(global, v, name, &result, " --follow")
                        .await
                        {
                            Ok(true) => {
                                recorded = true;
                                throttle.recorded(&reading, Instant::now());
                            }
                            Ok(false) => {
                                if !unrecorded_noted && !printer.json {
                                    printer.note("note: the migration has not started: readings are not recorded");
                                }
                                unrecorded_noted = true;
                            }
                            Err(e) => printer.note(&format!(
                                "warning: the reading could not be recorded in the migration's journal: {e:#}"
                            )),
                        }
                    }
                    if printer.json {
                        json.emit(serde_json::json!({
                            "type": "reconcile_pass",
                            "reconciliation": name,
                            "parity": reading.parity,
                            "rows": reading.rows,
                            "differing": reading.differing,
                            "complete": reading.complete,
                            "saturated": reading.saturated,
                            "recorded": recorded,
                            "summary": reading.summary,
                        }));
                    } else if !printer.quiet {
                        printer.out(&pass_line(&reading, recorded));
                    }
                }
                Err(e) => {
                    failed += 1;
                    let message = crate::redact::clean(&format!("{e:#}")).into_owned();
                    if printer.json {
                        json.emit(serde_json::json!({
                            "type": "reconcile_pass_failed",
                            "reconciliation": name,
                            "error": message,
                        }));
                    } else {
                        printer.err(&format!("pass failed (the next one goes on): {message}"));
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep_until(next) => {}
                _ = &mut stop => break,
            }
        }
        if let Some(n) = &notify {
            n.finish(crate::app::notify::FLUSH).await;
        }
        if printer.json {
            json.emit(serde_json::json!({
                "type": "reconcile_follow_stopped",
                "reconciliation": name,
                "passes": passes,
                "failed": failed,
            }));
        } else {
            printer.note(&format!("stopped after {passes} pass(es), {failed} failed"));
        }
        Ok(ExitCode::Interrupted)
    })
}

/// One line per pass for people.
fn pass_line(r: &Continuous, recorded: bool) -> String {
    let s = &r.summary;
    let n = |k: &str| s.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    let pass = &s["pass"];
    let p = |k: &str| pass.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    let sweep = if r.complete {
        format!("sweep {} done", n("sweeps"))
    } else {
        format!("first sweep not complete ({} rows so far)", n("swept"))
    };
    let secs = pass
        .get("seconds")
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0);
    format!(
        "{}  parity {:.6}  differing {}/{}  {sweep}  changed rows read {}  slice {} rows  {secs:.2} s{}",
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
        r.parity,
        r.differing,
        r.rows,
        p("watermark_rows"),
        p("slice_rows"),
        if recorded { "  recorded" } else { "" }
    )
}

/// The progress bar: rows compared of the source's estimated rows, on
/// stderr, only on a terminal.
struct Bar {
    bar: ProgressBar,
}

impl Bar {
    fn new(visible: bool) -> Self {
        let bar = if visible {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        Self { bar }
    }
}

impl Progress for Bar {
    fn started(&self, estimate: Option<u64>) {
        let style = match estimate {
            Some(n) if n > 0 => {
                self.bar.set_length(n);
                ProgressStyle::with_template(
                    "{spinner} comparing [{bar:30}] {human_pos}/~{human_len} rows  {per_sec}  ETA {eta}",
                )
            }
            _ => ProgressStyle::with_template("{spinner} comparing {human_pos} rows  {per_sec}"),
        };
        if let Ok(style) = style {
            self.bar.set_style(style.progress_chars("=> "));
        }
        self.bar.enable_steady_tick(Duration::from_millis(120));
    }

    fn advanced(&self, rows: u64) {
        self.bar.inc(rows);
        if let Some(len) = self.bar.length() {
            if self.bar.position() > len {
                self.bar.set_length(self.bar.position());
            }
        }
    }

    fn finished(&self) {
        self.bar.finish_and_clear();
    }
}
