//! The result of a reconciliation: the summary (for people, a table; for
//! programs, one JSON object) and the report file of differing rows.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;

use super::diff::{DiffKind, Outcome};
use super::value::Value;

/// What a repair did, or in a dry run would do.
#[derive(Debug, Clone, Serialize)]
pub struct RepairSummary {
    pub dry_run: bool,
    /// Missing rows inserted into the target.
    pub inserted: u64,
    /// Different rows updated in the target.
    pub updated: u64,
    /// Extra rows deleted from the target (`delete_extra: true` only).
    pub deleted: u64,
    /// Extra rows left in the target.
    pub kept: u64,
    /// Rows not repaired: refused by the target (a value its column
    /// cannot take, a constraint) or written but not read back equal.
    pub failed: u64,
    /// The first of those rows (all of them in the report file): key,
    /// columns, why.
    pub unrepaired: Vec<super::repair::Unrepaired>,
    /// The parity the target has after the repair (what a second pass
    /// finds, unless rows change meanwhile). In a dry run: after the repair
    /// it would do.
    pub parity_after: f64,
}

/// The summary of one reconciliation run.
///
/// Parity is `matched / rows_compared`, where `rows_compared` counts the
/// union of the source's and the target's rows within the bounds
/// (`matched + missing + extra + different`); it is 1.0 when both are
/// empty.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub schema: &'static str,
    pub reconciliation: String,
    pub source: String,
    pub target: String,
    pub source_rows: u64,
    pub target_rows: u64,
    pub rows_compared: u64,
    pub matched: u64,
    pub missing: u64,
    pub extra: u64,
    pub different: u64,
    pub parity: f64,
    /// Differences seen that were gone when re-checked after the settle
    /// delay (rows caught mid-write); counted as matched.
    pub settled: u64,
    /// Reads resumed after a dropped connection or a restart.
    pub retries: u64,
    pub seconds: f64,
    pub repair: Option<RepairSummary>,
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        1.0
    } else {
        num as f64 / den as f64
    }
}

impl Summary {
    pub fn new(
        name: &str,
        source: &str,
        target: &str,
        o: &Outcome,
        repair: Option<bool>,
        elapsed: Duration,
    ) -> Self {
        let c = &o.checked;
        let matched = o.matched + c.settled;
        let compared = matched + c.missing + c.extra + c.different;
        let repair = repair.map(|dry_run| {
            let r = &c.repair;
            RepairSummary {
                dry_run,
                inserted: r.inserted,
                updated: r.updated,
                deleted: r.deleted,
                kept: r.kept,
                failed: r.failed,
                unrepaired: r.unrepaired.clone(),
                parity_after: ratio(
                    matched + r.inserted + r.updated,
                    compared.saturating_sub(r.deleted),
                ),
            }
        });
        Self {
            schema: "migrate.reconcile/v1",
            reconciliation: name.to_string(),
            source: source.to_string(),
            target: target.to_string(),
            source_rows: o.source_rows,
            target_rows: o.target_rows,
            rows_compared: compared,
            matched,
            missing: c.missing,
            extra: c.extra,
            different: c.different,
            parity: ratio(matched, compared),
            settled: c.settled,
            retries: o.retries,
            seconds: (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            repair,
        }
    }

    pub fn differences(&self) -> u64 {
        self.missing + self.extra + self.different
    }

    /// The parity the target has now: after the repair when one was made,
    /// else as found. This is what a parity gate compares with its
    /// threshold.
    pub fn final_parity(&self) -> f64 {
        match &self.repair {
            Some(r) if !r.dry_run => r.parity_after,
            _ => self.parity,
        }
    }

    /// Whether the tables are (now) equal: no differences, or all of them
    /// repaired.
    pub fn in_parity(&self) -> bool {
        self.final_parity() >= 1.0
    }

    /// The summary as a table for terminals.
    pub fn to_table(&self) -> String {
        let mut t = crate::table::new(&["", ""]);
        let n = |v: u64| v.to_string();
        t.add_row(vec![
            "reconciliation".to_string(),
            self.reconciliation.clone(),
        ]);
        t.add_row(vec![
            "source".to_string(),
            format!("{} ({} rows)", self.source, self.source_rows),
        ]);
        t.add_row(vec![
            "target".to_string(),
            format!("{} ({} rows)", self.target, self.target_rows),
        ]);
        t.add_row(vec!["rows compared".to_string(), n(self.rows_compared)]);
        t.add_row(vec!["matched".to_string(), n(self.matched)]);
        t.add_row(vec!["missing".to_string(), n(self.missing)]);
        t.add_row(vec!["extra".to_string(), n(self.extra)]);
        t.add_row(vec!["different".to_string(), n(self.different)]);
        t.add_row(vec!["parity".to_string(), fmt_parity(self.parity)]);
        if self.settled > 0 {
            t.add_row(vec!["settled on re-check".to_string(), n(self.settled)]);
        }
        if self.retries > 0 {
            t.add_row(vec!["reads resumed".to_string(), n(self.retries)]);
        }
        if let Some(r) = &self.repair {
            let verb = if r.dry_run { "would " } else { "" };
            t.add_row(vec![
                format!("repair{}", if r.dry_run { " (dry run)" } else { "" }),
                format!(
                    "{verb}insert {}, {verb}update {}, {verb}delete {}, keep {} extra",
                    r.inserted, r.updated, r.deleted, r.kept
                ),
            ]);
            if r.failed > 0 {
                let mut lines = vec![format!(
                    "{}{}",
                    r.failed,
                    if r.dry_run {
                        " (cannot be written)"
                    } else {
                        ""
                    }
                )];
                for u in r.unrepaired.iter().take(SHOWN) {
                    lines.push(u.to_string());
                }
                if r.failed > SHOWN as u64 {
                    lines.push(format!("… {} more", r.failed - SHOWN as u64));
                }
                t.add_row(vec!["not repaired".to_string(), lines.join("\n")]);
            }
            t.add_row(vec![
                format!(
                    "parity after repair{}",
                    if r.dry_run { " (would be)" } else { "" }
                ),
                fmt_parity(r.parity_after),
            ]);
        }
        t.add_row(vec!["time".to_string(), format!("{:.2}s", self.seconds)]);
        // The header row of two empty cells carries no information.
        let text = t.to_string();
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() > 3 {
            let mut out = vec![lines[0]];
            out.extend(&lines[3..]);
            out.join("\n")
        } else {
            text
        }
    }
}

/// Unrepaired rows shown in the table (the JSON summary has more, the
/// report file all).
const SHOWN: usize = 10;

/// `1`, `0.999712`: exact when it is exactly 1, never rounded up to it.
pub fn fmt_parity(p: f64) -> String {
    if p >= 1.0 {
        "1".to_string()
    } else {
        let s = format!("{:.6}", (p * 1e6).floor() / 1e6);
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// `--report FILE`: one JSON object per line per differing row, e.g.
/// `{"kind":"different","key":{"id":4334},"columns":["status"]}`. Values
/// other than the key are not written (they may be personal data).
pub struct ReportFile {
    path: PathBuf,
    out: BufWriter<File>,
}

impl ReportFile {
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file = File::create(path)
            .with_context(|| format!("creating the report file {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        })
    }

    pub fn write(
        &mut self,
        kind: DiffKind,
        key_names: &[&str],
        key: &[Value],
        columns: &[&str],
    ) -> anyhow::Result<()> {
        let mut k = serde_json::Map::new();
        for (name, v) in key_names.iter().zip(key) {
            k.insert((*name).to_string(), v.to_json());
        }
        let mut line = serde_json::json!({"kind": kind, "key": k});
        if kind == DiffKind::Different {
            line["columns"] = serde_json::json!(columns);
        }
        writeln!(self.out, "{line}")
            .with_context(|| format!("writing the report file {}", self.path.display()))
    }

    /// A row the repair could not put right:
    /// `{"kind":"unrepaired","key":{"id":7},"columns":["note"],"reason":"…"}`.
    pub fn write_unrepaired(&mut self, u: &super::repair::Unrepaired) -> anyhow::Result<()> {
        let line = serde_json::json!({
            "kind": "unrepaired",
            "key": u.key,
            "columns": u.columns,
            "reason": u.reason,
        });
        writeln!(self.out, "{line}")
            .with_context(|| format!("writing the report file {}", self.path.display()))
    }

    pub fn finish(&mut self) -> anyhow::Result<()> {
        self.out
            .flush()
            .and_then(|()| self.out.get_ref().sync_all())
            .with_context(|| format!("writing the report file {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::settle::Checked;

    fn outcome(matched: u64, missing: u64, extra: u64, different: u64) -> Outcome {
        Outcome {
            matched,
            checked: Checked {
                missing,
                extra,
                different,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn parity_is_matched_over_the_union() {
        let s = Summary::new("p", "a", "b", &outcome(96, 2, 1, 1), None, Duration::ZERO);
        assert_eq!(s.rows_compared, 100);
        assert!((s.parity - 0.96).abs() < 1e-12);
        assert!(!s.in_parity());
        let empty = Summary::new("p", "a", "b", &outcome(0, 0, 0, 0), None, Duration::ZERO);
        assert_eq!(empty.parity, 1.0);
        assert!(empty.in_parity());
    }

    #[test]
    fn parity_is_never_rounded_up_to_one() {
        assert_eq!(fmt_parity(0.9999999), "0.999999");
        assert_eq!(fmt_parity(1.0), "1");
        assert_eq!(fmt_parity(0.5), "0.5");
    }

    #[test]
    fn repair_parity_counts_what_was_written() {
        let mut o = outcome(96, 2, 1, 1);
        o.checked.repair.inserted = 2;
        o.checked.repair.updated = 1;
        o.checked.repair.kept = 1;
        let s = Summary::new("p", "a", "b", &o, Some(false), Duration::ZERO);
        assert!(
            (s.final_parity() - 0.99).abs() < 1e-12,
            "the extra row remains"
        );
        o.checked.repair.kept = 0;
        o.checked.repair.deleted = 1;
        let s = Summary::new("p", "a", "b", &o, Some(false), Duration::ZERO);
        assert_eq!(s.final_parity(), 1.0);
        let dry = Summary::new("p", "a", "b", &o, Some(true), Duration::ZERO);
        assert_eq!(dry.final_parity(), 0.96, "a dry run changes nothing");
    }
}
