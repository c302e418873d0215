//! Which source column is compared with which target column.

use crate::plan::Reconciliation;
use crate::providers::db::{Column, Kind, Shape, TableName};

/// The two sides' shapes, column for column: key columns first, in the
/// plan's order, then the compared columns.
#[derive(Debug, Clone)]
pub struct Pair {
    pub source: Shape,
    pub target: Shape,
}

impl Pair {
    pub fn keys(&self) -> usize {
        self.source.keys
    }

    /// Source names of the key columns, for reports.
    pub fn key_names(&self) -> Vec<&str> {
        self.source
            .key_columns()
            .iter()
            .map(|c| c.name.as_str())
            .collect()
    }

    pub fn column_name(&self, i: usize) -> &str {
        self.source.columns.get(i).map_or("?", |c| c.name.as_str())
    }
}

fn find<'a>(cols: &'a [Column], name: &str) -> Option<&'a Column> {
    cols.iter()
        .find(|c| c.name == name)
        .or_else(|| cols.iter().find(|c| c.name.eq_ignore_ascii_case(name)))
}

/// Resolve the plan's key and column mapping against the real tables.
/// Every problem is reported at once.
pub fn pair(
    rec: &Reconciliation,
    src_table: &TableName,
    src_cols: &[Column],
    tgt_table: &TableName,
    tgt_cols: &[Column],
) -> anyhow::Result<Pair> {
    let mapped = |s: &str| -> String {
        rec.columns
            .iter()
            .find(|(from, _)| from == s)
            .map_or_else(|| s.to_string(), |(_, to)| to.clone())
    };
    let mut names: Vec<(String, String)> = rec.key.iter().map(|k| (k.clone(), mapped(k))).collect();
    let compared: Vec<(String, String)> = if rec.columns.is_empty() {
        src_cols
            .iter()
            .map(|c| (c.name.clone(), c.name.clone()))
            .collect()
    } else {
        rec.columns.clone()
    };
    for (s, t) in compared {
        if !rec.key.iter().any(|k| k.eq_ignore_ascii_case(&s)) {
            names.push((s, t));
        }
    }
    let mut problems = Vec::new();
    let mut source = Vec::new();
    let mut target = Vec::new();
    for (s, t) in &names {
        match (find(src_cols, s), find(tgt_cols, t)) {
            (Some(a), Some(b)) => {
                source.push(a.clone());
                target.push(b.clone());
            }
            (a, b) => {
                if a.is_none() {
                    problems.push(format!("the source table {src_table} has no column '{s}'"));
                }
                if b.is_none() {
                    let hint = if rec.columns.is_empty() {
                        " (list the compared columns, or map names, with 'columns:')"
                    } else {
                        ""
                    };
                    problems.push(format!(
                        "the target table {tgt_table} has no column '{t}'{hint}"
                    ));
                }
            }
        }
    }
    let keys = rec.key.len();
    for (a, b) in source.iter().zip(&target).take(keys) {
        let numeric = |k: Kind| matches!(k, Kind::Int | Kind::UInt | Kind::Decimal | Kind::Bool);
        if (a.kind.is_text() && numeric(b.kind)) || (numeric(a.kind) && b.kind.is_text()) {
            problems.push(format!(
                "key column '{}' is {} in the source but '{}' is {} in the target: rows cannot be matched in key order",
                a.name, a.ty, b.name, b.ty
            ));
        }
    }
    if !problems.is_empty() {
        anyhow::bail!("{}", problems.join("; "));
    }
    Ok(Pair {
        source: Shape {
            table: src_table.clone(),
            columns: source,
            keys,
            filter: rec.source_where.as_ref().map(|w| w.expose().to_string()),
            after: None,
            upto: None,
            above: None,
        },
        target: Shape {
            table: tgt_table.clone(),
            columns: target,
            keys,
            filter: rec.target_where.as_ref().map(|w| w.expose().to_string()),
            after: None,
            upto: None,
            above: None,
        },
    })
}
