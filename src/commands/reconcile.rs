//! `migrate reconcile NAME [--repair] [--report FILE]`: compare the two
//! tables of a reconciliation, print the summary, and exit 0 when they are
//! equal (or were repaired to parity 1) or 7 when they differ.

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{Global, ReconcileArgs};
use crate::error::{Error, ExitCode};
use crate::output::Printer;
use crate::reconcile::{self, Options, Progress};

use super::load_plan;

pub fn run(global: &Global, args: &ReconcileArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let v = load_plan(&global.file, printer)?;
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
    let summary = runtime.block_on(async {
        tokio::select! {
            r = reconcile::run(plan, &args.name, &opts, &bar) => r.map(Some),
            _ = tokio::signal::ctrl_c() => Ok(None),
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
    let store = super::context::store_for(global, v)?;
    let Some(mut state) = store.load().await? else {
        return Ok(());
    };
    let holder = crate::state::Holder {
        actor: crate::state::actor(),
        host: crate::state::hostname(),
        pid: std::process::id(),
        command: format!("migrate reconcile {name}"),
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
            vec![crate::state::Entry::Reconciled {
                name: name.to_string(),
                parity: summary.final_parity(),
                summary: serde_json::to_value(summary)?,
            }],
        )
        .await?;
    Ok(())
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
