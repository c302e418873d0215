//! Reconciliation: compare a table of the legacy database (the source of
//! truth) with its copy in the new one, exactly, and optionally repair the
//! copy (a backfill is a reconciliation that repairs what is missing).
//!
//! How it works (docs/reconcile.md has the full story):
//! 1. Both tables are read at once, each as one consistent, key-ordered
//!    stream, decoded with their real types on their own tasks
//!    ([`diff`]); a bounded channel of chunks keeps memory flat whatever the
//!    table's size. A dropped connection resumes the stream after the last
//!    key received, not from the start.
//! 2. The streams are merged by key; each pair of rows is compared column by
//!    column by meaning ([`value`]).
//! 3. Rows that differ are re-read from both sides after the settle delay
//!    ([`settle`]): rows that were caught in the middle of a dual write
//!    match by then and are not reported.
//! 4. What still differs goes to the report file and, with repair, is
//!    written to the target in batches, each in a transaction, then read
//!    back ([`repair`]).
//!
//! The engine calls [`run`] for `reconcile` steps and parity gates; the
//! `migrate reconcile` command calls it too and prints the [`Summary`].

pub mod columns;
pub mod continuous;
pub mod diff;
pub mod repair;
pub mod report;
pub mod settle;
/// The SQL value model (in the domain layer, shared with the database providers).
pub use crate::domain::sql as value;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::plan::Plan;

use crate::providers::db::{self, Database, TableName};

pub use report::{RepairSummary, Summary};

/// How a reconciliation runs.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Write missing and different rows into the target (and delete extra
    /// rows when the reconciliation says `delete_extra: true`).
    pub repair: bool,
    /// With `repair`: work out what would be written, write nothing.
    pub dry_run: bool,
    /// Write one JSON line per differing row to this file.
    pub report: Option<PathBuf>,
    /// Override the plan's settle delay (the time differing rows are given
    /// to settle before they are re-read and reported).
    pub settle: Option<Duration>,
}

/// Progress of a run, for a progress bar. The core never prints: the
/// binary implements this with indicatif; the engine may ignore it.
pub trait Progress: Send + Sync {
    /// The run started; `estimate` is the source's approximate row count.
    fn started(&self, _estimate: Option<u64>) {}
    /// `rows` more source rows were compared.
    fn advanced(&self, _rows: u64) {}
    /// The run is over (successfully or not).
    fn finished(&self) {}
}

/// No progress display.
pub struct NoProgress;

impl Progress for NoProgress {}

/// Run the plan's reconciliation `name`: compare, re-check what differs,
/// report, and repair when asked. Differences are not an error: they are
/// in the [`Summary`]; errors are failures to connect, read or write.
///
/// Dropping the returned future at any point leaves the target consistent:
/// each repair batch is one transaction.
pub async fn run(
    plan: &Plan,
    name: &str,
    opts: &Options,
    progress: &dyn Progress,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let rec = plan
        .reconciliation(name)
        .ok_or_else(|| anyhow::anyhow!("the plan has no reconciliation '{name}'"))?;
    let (source, target, pair) = open(plan, rec).await?;
    let estimate = source
        .estimate_rows(&pair.source.table)
        .await
        .ok()
        .flatten();
    progress.started(estimate);
    let report = match &opts.report {
        Some(path) => Some(report::ReportFile::create(path)?),
        None => None,
    };
    let settle = opts.settle.unwrap_or(rec.settle);
    let outcome = diff::compare(
        diff::Sides {
            source: source.clone(),
            target: target.clone(),
            pair: &pair,
            tally: None,
        },
        settle::Checker {
            source,
            target,
            pair: &pair,
            settle,
            batch: rec.batch_size as usize,
            repair: opts.repair.then_some(repair::Mode {
                dry_run: opts.dry_run,
                delete_extra: rec.delete_extra,
            }),
            report,
            tally: None,
        },
        progress,
    )
    .await;
    progress.finished();
    let outcome = outcome.with_context(|| format!("reconciliation '{name}'"))?;
    Ok(Summary::new(
        name,
        &format!("{}:{}", rec.source.provider, rec.source.table),
        &format!("{}:{}", rec.target.provider, rec.target.table),
        &outcome,
        opts.repair.then_some(opts.dry_run),
        started.elapsed(),
    ))
}

/// Connect to both sides of `rec` and pair their columns.
pub async fn open(
    plan: &Plan,
    rec: &crate::plan::Reconciliation,
) -> anyhow::Result<(Arc<dyn Database>, Arc<dyn Database>, columns::Pair)> {
    let (source, target) = tokio::try_join!(
        db::connect(plan, &rec.source.provider),
        db::connect(plan, &rec.target.provider)
    )?;
    let src_table = TableName::parse(rec.source.table.expose());
    let tgt_table = TableName::parse(rec.target.table.expose());
    let (src_cols, tgt_cols) =
        tokio::try_join!(source.columns(&src_table), target.columns(&tgt_table))?;
    let pair = columns::pair(rec, &src_table, &src_cols, &tgt_table, &tgt_cols)
        .with_context(|| format!("reconciliation '{}'", rec.name))?;
    Ok((source, target, pair))
}

/// The parity of the plan's reconciliation `name` now: runs a comparison
/// (no repair, no report) and returns `matched / rows compared` (1.0 when
/// both sides are empty). For parity gates that have no recent result.
pub async fn parity(plan: &Plan, name: &str, progress: &dyn Progress) -> anyhow::Result<f64> {
    Ok(run(plan, name, &Options::default(), progress)
        .await?
        .final_parity())
}
