//! `gates:` (named health checks) and `reconciliations:` (named comparisons
//! of a legacy and a new table).

use std::time::Duration;

use super::decode::Cx;
use super::diag::{Pos, Span};
use super::model::{
    Capability, Compare, CompareArm, Continuous, Gate, GateSource, NoData, Overlap, Provider,
    Reconciliation, Sweep, TableRef, Watermark,
};
use super::refs::{resolve_provider, resolve_reconciliation};
use super::text::Text;
use super::yaml::{Node, NodeKind};

pub const GATE_KEYS: &[&str] = &[
    "provider",
    "query",
    "reconcile",
    "compare",
    "max",
    "min",
    "failure_limit",
    "no_data",
    "interval",
    "max_age",
];

/// `compare:` of a gate.
pub const COMPARE_KEYS: &[&str] = &[
    "provider",
    "candidate",
    "baseline",
    "max_ratio",
    "direction",
    "alpha",
];

/// `candidate:` and `baseline:` of a `compare:`.
pub const ARM_KEYS: &[&str] = &["events", "total"];

pub const RECONCILIATION_KEYS: &[&str] = &[
    "source",
    "target",
    "key",
    "columns",
    "where",
    "source_where",
    "target_where",
    "delete_extra",
    "batch_size",
    "settle",
    "continuous",
];

pub const CONTINUOUS_KEYS: &[&str] = &[
    "every",
    "watermark",
    "overlap",
    "sweep_rows",
    "sweep_within",
    "max_differing",
];

pub const TABLE_KEYS: &[&str] = &["provider", "table"];

pub fn decode_reconciliations(
    cx: &mut Cx<'_>,
    node: &Node,
    providers: &[Provider],
) -> Vec<Reconciliation> {
    let Some(map) = cx.open_map(node, "reconciliations", "reconciliations") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name_node, value) in map.entries {
        let path = map.child_path(name_node.as_scalar().map_or("", |s| s.text.as_str()));
        let Some(name) = cx.definition_name(name_node, &path, "reconciliation") else {
            continue;
        };
        match reconciliation(cx, &name, value, &path, providers) {
            Some(r) => out.push(r),
            None => {
                cx.broken.insert(format!("reconciliation:{name}"));
            }
        }
    }
    out
}

fn reconciliation(
    cx: &mut Cx<'_>,
    name: &str,
    node: &Node,
    path: &str,
    providers: &[Provider],
) -> Option<Reconciliation> {
    let what = format!("reconciliation '{name}'");
    let map = cx.map(node, path, &what, RECONCILIATION_KEYS)?;
    let source = map
        .req(cx, "source", &what)
        .and_then(|(n, p)| table(cx, n, &p, providers));
    let target = map
        .req(cx, "target", &what)
        .and_then(|(n, p)| table(cx, n, &p, providers));
    let key = map
        .req(cx, "key", &what)
        .and_then(|(n, p)| cx.one_or_many(n, &p));
    let columns = match map.opt("columns") {
        Some((n, p)) => columns(cx, n, &p),
        None => Some(Vec::new()),
    };
    let text = |cx: &mut Cx<'_>, key: &str| match map.opt(key) {
        Some((n, p)) => cx.text(n, &p).map(Some),
        None => Some(None),
    };
    let both = text(cx, "where");
    let source_where = text(cx, "source_where");
    let target_where = text(cx, "target_where");
    if let (Some((n, p)), true, true) = (
        map.opt("where"),
        map.has("source_where"),
        map.has("target_where"),
    ) {
        cx.error_hint(
            n.span,
            &p,
            "'where' is never used: 'source_where' and 'target_where' are both given",
            "remove 'where', or one of the two specific ones",
        );
    }
    let delete_extra = match map.opt("delete_extra") {
        Some((n, p)) => cx.bool(n, &p),
        None => Some(false),
    };
    let batch_size = match map.opt("batch_size") {
        Some((n, p)) => cx.uint(n, &p, 1, 1_000_000),
        None => Some(1000),
    };
    // `0s` is allowed here: no delay before re-checking differences (for
    // tables nobody writes to while they are compared).
    let settle = match map.opt("settle") {
        Some((n, _)) if is_zero_duration(n) => Some(Duration::ZERO),
        Some((n, p)) => cx.duration(n, &p),
        None => Some(Duration::from_secs(1)),
    };
    let continuous = match map.opt("continuous") {
        Some((n, p)) => continuous(cx, n, &p, key.as_deref(), columns.as_deref()).map(Some),
        None => Some(None),
    };
    let (both, source_where, target_where) = (both?, source_where?, target_where?);
    Some(Reconciliation {
        name: name.to_string(),
        source: source?,
        target: target?,
        key: key?,
        columns: columns?,
        source_where: source_where.or_else(|| both.clone()),
        target_where: target_where.or(both),
        delete_extra: delete_extra?,
        batch_size: batch_size?,
        settle: settle?,
        continuous: continuous?,
    })
}

/// `continuous:` — how `reconcile --follow` keeps comparing. `key` and
/// `columns` are the reconciliation's (when they decoded), to check the
/// watermark against.
fn continuous(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    key: Option<&[String]>,
    columns: Option<&[(String, String)]>,
) -> Option<Continuous> {
    let what = "'continuous'";
    let map = cx.map(node, path, what, CONTINUOUS_KEYS)?;
    let every = match map.opt("every") {
        Some((n, p)) => cx.duration(n, &p),
        None => Some(Duration::from_secs(30)),
    };
    let watermark = match map.opt("watermark") {
        Some((n, p)) => cx.literal(n, &p).and_then(|column| {
            if key.is_some_and(|k| k.iter().any(|k| k.eq_ignore_ascii_case(&column))) {
                cx.error_hint(
                    n.span,
                    &p,
                    format!("the watermark '{column}' is a key column"),
                    "a watermark is a column that grows on every write, like updated_at; a key never changes",
                );
                return None;
            }
            let target = match columns {
                None => Some(column.clone()),
                Some([]) => Some(column.clone()),
                Some(cols) => {
                    let found = cols.iter().find(|(s, _)| s.eq_ignore_ascii_case(&column));
                    if found.is_none() {
                        cx.error_hint(
                            n.span,
                            &p,
                            format!("the watermark '{column}' is not one of the compared 'columns'"),
                            format!("add it to 'columns' (as '{column}: <target column>' when the names differ)"),
                        );
                    }
                    found.map(|(_, t)| t.clone())
                }
            };
            target.map(|target_column| Some((column, target_column)))
        }),
        None => Some(None),
    };
    let overlap = match map.opt("overlap") {
        Some((n, p)) => {
            if !map.has("watermark") {
                cx.error_hint(
                    n.span,
                    &p,
                    "'overlap' without a 'watermark' is never used",
                    "add 'watermark: <column>' (a column that grows on every write), or remove 'overlap'",
                );
                None
            } else {
                overlap(cx, n, &p).map(Some)
            }
        }
        None => Some(None),
    };
    let rows = map
        .opt("sweep_rows")
        .map(|(n, p)| cx.uint(n, &p, 1, 10_000_000));
    let within = map.opt("sweep_within").map(|(n, p)| cx.duration(n, &p));
    let sweep = match (rows, within) {
        (Some(_), Some(_)) => {
            if let Some((n, p)) = map.opt("sweep_within") {
                cx.error_hint(
                    n.span,
                    &p,
                    "'sweep_rows' and 'sweep_within' both size the sweep's slices",
                    "give one: rows per pass, or how long a full sweep may take",
                );
            }
            None
        }
        (Some(r), None) => r.map(Sweep::Rows),
        (None, Some(w)) => w.map(Sweep::Within),
        (None, None) => Some(Sweep::Rows(10_000)),
    };
    if let (Some(Some(w)), Some(e), Some((n, p))) = (within, every, map.opt("sweep_within")) {
        if w < e {
            cx.error_hint(
                n.span,
                &p,
                format!(
                    "a full sweep within {} cannot be done with a pass every {}",
                    humantime::format_duration(w),
                    humantime::format_duration(e)
                ),
                "make 'sweep_within' at least as long as 'every'",
            );
        }
    }
    let max_differing = match map.opt("max_differing") {
        Some((n, p)) => cx.uint(n, &p, 1, 10_000_000),
        None => Some(100_000),
    };
    let (every, watermark, overlap) = (every?, watermark?, overlap?);
    Some(Continuous {
        every,
        watermark: watermark.map(|(column, target_column)| Watermark {
            column,
            target_column,
            overlap,
        }),
        sweep: sweep?,
        max_differing: max_differing?,
    })
}

/// `overlap: 1m` (a timestamp watermark) or `overlap: 1000` (an integer
/// one); zero is allowed.
fn overlap(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Overlap> {
    if let Some(super::yaml::Resolved::Int(i)) = node.as_scalar().map(|s| s.resolve()) {
        return match u64::try_from(i) {
            Ok(u) => Some(Overlap::Units(u)),
            Err(_) => {
                cx.error_hint(
                    node.span,
                    path,
                    format!("'overlap' must not be negative (got {i})"),
                    "a duration like 1m for a timestamp watermark, a whole number for an integer one",
                );
                None
            }
        };
    }
    if is_zero_duration(node) {
        return Some(Overlap::Time(Duration::ZERO));
    }
    cx.duration(node, path).map(Overlap::Time)
}

fn is_zero_duration(node: &Node) -> bool {
    node.as_scalar().is_some_and(|s| {
        let t = s.text.trim();
        t.starts_with('0') && matches!(t.trim_start_matches('0'), "" | "s" | "ms" | "m" | "h")
    })
}

fn table(cx: &mut Cx<'_>, node: &Node, path: &str, providers: &[Provider]) -> Option<TableRef> {
    let map = cx.map(node, path, "a table reference", TABLE_KEYS)?;
    let provider = map
        .req(cx, "provider", "a table reference")
        .and_then(|(n, p)| {
            resolve_provider(
                cx,
                n,
                &p,
                providers,
                Capability::Database,
                "a reconciliation",
            )
        });
    let table = map
        .req(cx, "table", "a table reference")
        .and_then(|(n, p)| cx.text(n, &p));
    Some(TableRef {
        provider: provider?,
        table: table?,
    })
}

/// `{source: target, ...}` or `[a, b]` (same names on both sides).
fn columns(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Vec<(String, String)>> {
    match &node.kind {
        NodeKind::Map(entries) => {
            let mut out = Vec::new();
            let mut ok = true;
            for (k, v) in entries {
                let key = k.as_scalar().map(|s| s.text.clone()).unwrap_or_default();
                match cx.literal(v, &format!("{path}.{key}")) {
                    Some(t) => out.push((key, t)),
                    None => ok = false,
                }
            }
            if out.is_empty() && ok {
                cx.error(
                    node.span,
                    path,
                    "'columns' must not be empty (leave it out to compare every column)",
                );
                return None;
            }
            ok.then_some(out)
        }
        _ => cx
            .one_or_many(node, path)
            .map(|names| names.into_iter().map(|n| (n.clone(), n)).collect()),
    }
}

pub fn decode_gates(
    cx: &mut Cx<'_>,
    node: &Node,
    providers: &[Provider],
    reconciliations: &[Reconciliation],
) -> Vec<Gate> {
    let Some(map) = cx.open_map(node, "gates", "gates") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name_node, value) in map.entries {
        let path = map.child_path(name_node.as_scalar().map_or("", |s| s.text.as_str()));
        let Some(name) = cx.definition_name(name_node, &path, "gate") else {
            continue;
        };
        match gate(cx, &name, value, &path, providers, reconciliations) {
            Some(g) => out.push(g),
            None => {
                cx.broken.insert(format!("gate:{name}"));
            }
        }
    }
    out
}

fn gate(
    cx: &mut Cx<'_>,
    name: &str,
    node: &Node,
    path: &str,
    providers: &[Provider],
    reconciliations: &[Reconciliation],
) -> Option<Gate> {
    let what = format!("gate '{name}'");
    let map = cx.map(node, path, &what, GATE_KEYS)?;
    let is_compare = map.has("compare");
    let source = match (map.opt("provider"), map.opt("reconcile")) {
        _ if is_compare => {
            for key in ["provider", "query", "reconcile", "max", "min", "max_age"] {
                if let Some((n, p)) = map.opt(key) {
                    cx.error_hint(
                        n.span,
                        &p,
                        format!("a compare gate takes no '{key}' of its own"),
                        "its provider and queries go under 'compare:'; its threshold is 'max_ratio' and 'alpha'",
                    );
                }
            }
            map.opt("compare")
                .and_then(|(n, p)| compare(cx, n, &p, providers))
                .map(|compare| GateSource::Compare { compare })
        }
        (Some((pn, pp)), None) => {
            let provider = resolve_provider(cx, pn, &pp, providers, Capability::Metrics, "a gate");
            let query = map
                .req(cx, "query", &what)
                .and_then(|(n, p)| metric_query(cx, n, &p, provider.as_deref(), providers));
            provider
                .zip(query)
                .map(|(provider, query)| GateSource::Metric { provider, query })
        }
        (None, Some((rn, rp))) => {
            if let Some((qn, qp)) = map.opt("query") {
                cx.error(
                    qn.span,
                    &qp,
                    "a parity gate takes no 'query': its value is the reconciliation's parity",
                );
            }
            resolve_reconciliation(cx, rn, &rp, reconciliations)
                .map(|reconcile| GateSource::Parity { reconcile })
        }
        (Some(_), Some((rn, rp))) => {
            cx.error_hint(
                rn.span,
                &rp,
                format!("{what} has both 'provider' and 'reconcile'"),
                "a gate reads a metric (provider + query) or a reconciliation's parity, not both",
            );
            None
        }
        (None, None) => {
            cx.error_hint(
                map.key_span(),
                path,
                format!("{what} reads nothing: it needs 'provider' and 'query', 'reconcile', or 'compare'"),
                "e.g. provider: prom, query: sum(rate(http_requests_total{code=~\"5..\"}[1m]))",
            );
            None
        }
    };
    let max = map.opt("max").and_then(|(n, p)| cx.number(n, &p));
    let min = map.opt("min").and_then(|(n, p)| cx.number(n, &p));
    let misspelled = map.misspelling_of("max").is_some() || map.misspelling_of("min").is_some();
    if !map.has("max") && !map.has("min") && !misspelled && !is_compare {
        cx.error_hint(
            map.key_span(),
            path,
            format!("{what} has no threshold"),
            "add 'max:' (breach when the value is above) and/or 'min:' (breach when below)",
        );
    }
    if let (Some(lo), Some(hi)) = (min, max) {
        if lo > hi {
            if let Some((n, p)) = map.opt("min") {
                cx.error(
                    n.span,
                    &p,
                    format!("'min' ({lo}) is greater than 'max' ({hi}): every value would breach"),
                );
            }
        }
    }
    // A parity gate by what is written, whether or not its reconciliation
    // decoded (one with an unset variable is reported on its own): its
    // thresholds are checked all the same.
    let parity = map.has("reconcile") && !map.has("provider");
    if parity {
        for (key, v) in [("min", min), ("max", max)] {
            if let (Some(v), Some((n, p))) = (v, map.opt(key)) {
                if !(0.0..=1.0).contains(&v) {
                    cx.error_hint(
                        n.span,
                        &p,
                        format!(
                            "parity is between 0 and 1, so '{key}: {v}' can never be met as meant"
                        ),
                        "1.0 means every row matches; 0.999 allows one in a thousand to differ",
                    );
                }
            }
        }
    }
    let failure_limit = match map.opt("failure_limit") {
        Some((n, p)) => cx.uint(n, &p, 0, 1_000_000),
        None => Some(0),
    };
    let no_data = match map.opt("no_data") {
        Some((n, p)) => cx.choice(
            n,
            &p,
            &[
                ("fail", NoData::Fail),
                ("pass", NoData::Pass),
                ("pause", NoData::Pause),
            ],
        ),
        None => {
            // A comparison reads "insufficient evidence" until its data
            // could reject, and that is no data: under the default `fail`
            // a small canary would breach before any evidence.
            if is_compare && matches!(source, Some(GateSource::Compare { .. })) {
                cx.warning(
                    map.key_span(),
                    path,
                    format!(
                        "{what} has no 'no_data': until its data could reject it reads as insufficient evidence, which the default 'no_data: fail' counts as a breach"
                    ),
                    Some("say 'no_data: pause' (hold until there is evidence) or 'no_data: pass' (go on while there is none)"),
                );
            }
            Some(NoData::Fail)
        }
    };
    let interval = match map.opt("interval") {
        Some((n, p)) => cx.duration(n, &p).map(Some),
        None => Some(None),
    };
    let max_age = match map.opt("max_age") {
        // A compare gate's 'max_age' was refused above.
        Some(_) if is_compare => None,
        Some((n, p)) if map.has("provider") && !map.has("reconcile") => {
            cx.error_hint(
                n.span,
                &p,
                format!("{what} reads a metric: 'max_age' is only for parity gates"),
                "max_age bounds how old a recorded parity ('reconcile:') may be; a metric is read fresh each time",
            );
            None
        }
        Some((n, p)) => cx.duration(n, &p).map(|d| {
            stale_warning(cx, n, &p, d, source.as_ref(), reconciliations);
            Some(d)
        }),
        None => Some(None),
    };
    Some(Gate {
        name: name.to_string(),
        source: source?,
        max,
        min,
        failure_limit: failure_limit?,
        no_data: no_data?,
        interval: interval?,
        max_age: max_age?,
    })
}

/// A metric query, checked by its provider's type when it checks queries
/// (scrape parses them).
fn metric_query(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    provider: Option<&str>,
    providers: &[Provider],
) -> Option<Text> {
    let q = cx.text(node, path)?;
    let check = provider.and_then(|name| {
        providers
            .iter()
            .find(|pr| pr.name == name)
            .and_then(|pr| pr.spec.check_query)
    });
    if let Some(check) = check {
        check(cx, node, path, &q)?;
    }
    Some(q)
}

/// `compare:` — a metrics provider, the arms' counters, the tolerance.
fn compare(cx: &mut Cx<'_>, node: &Node, path: &str, providers: &[Provider]) -> Option<Compare> {
    let what = "'compare'";
    let map = cx.map(node, path, what, COMPARE_KEYS)?;
    let provider = map.req(cx, "provider", what).and_then(|(n, p)| {
        resolve_provider(cx, n, &p, providers, Capability::Metrics, "a compare gate")
    });
    let arm = |cx: &mut Cx<'_>, key: &str| {
        let (n, p) = map.req(cx, key, what)?;
        let arm_what = format!("'{key}'");
        let arm = cx.map(n, &p, &arm_what, ARM_KEYS)?;
        let query = |cx: &mut Cx<'_>, k: &str| {
            arm.req(cx, k, &arm_what)
                .and_then(|(n, p)| metric_query(cx, n, &p, provider.as_deref(), providers))
        };
        let events = query(cx, "events");
        let total = query(cx, "total");
        Some(CompareArm {
            events: events?,
            total: total?,
        })
    };
    let candidate = arm(cx, "candidate");
    let baseline = arm(cx, "baseline");
    let max_ratio = map.req(cx, "max_ratio", what).and_then(|(n, p)| {
        let v = cx.number(n, &p)?;
        let limit = crate::domain::compare::MAX_RATIO_LIMIT;
        if !(1.0..=limit).contains(&v) {
            cx.error_hint(
                n.span,
                &p,
                format!("'max_ratio' must be between 1 and {limit} (got {v})"),
                "the candidate's rate tolerated, as a multiple of the baseline's: 1 tolerates no worse, 1.5 up to 50% worse",
            );
            return None;
        }
        Some(v)
    });
    let direction = match map.opt("direction") {
        Some((n, p)) => cx.choice(
            n,
            &p,
            &[
                ("increase", crate::domain::compare::Direction::Increase),
                ("decrease", crate::domain::compare::Direction::Decrease),
            ],
        ),
        None => Some(crate::domain::compare::Direction::Increase),
    };
    let alpha = match map.opt("alpha") {
        Some((n, p)) => cx.number(n, &p).and_then(|v| {
            if v > 0.0 && v < 0.5 {
                Some(v)
            } else {
                cx.error_hint(
                    n.span,
                    &p,
                    format!("'alpha' must be above 0 and below 0.5 (got {v})"),
                    "the chance of a false breach over the whole soak: 0.01 is one in a hundred",
                );
                None
            }
        }),
        None => Some(0.01),
    };
    Some(Compare {
        provider: provider?,
        candidate: candidate?,
        baseline: baseline?,
        max_ratio: max_ratio?,
        direction: direction?,
        alpha: alpha?,
    })
}

/// A `max_age` shorter than the pass interval of the reconciliation's
/// continuous settings: readings go stale between passes.
fn stale_warning(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    max_age: Duration,
    source: Option<&GateSource>,
    reconciliations: &[Reconciliation],
) {
    let Some(GateSource::Parity { reconcile }) = source else {
        return;
    };
    let every = reconciliations
        .iter()
        .find(|r| &r.name == reconcile)
        .and_then(|r| r.continuous.as_ref())
        .map(|c| c.every);
    if let Some(every) = every.filter(|e| *e > max_age) {
        cx.warning(
            node.span,
            path,
            format!(
                "max_age {} is shorter than the pass interval of '{reconcile}' (every {}): its readings go stale between passes",
                humantime::format_duration(max_age),
                humantime::format_duration(every)
            ),
            Some("make max_age a few times 'every', so that a late pass is not no data"),
        );
    }
}

/// Where character `offset` of a one-line scalar is in the plan: after
/// its opening quote, if quoted. `None` when the scalar spans lines or
/// does not hold its text as written (escapes), where columns would lie.
pub fn query_span(node: &Node, text: &str, offset: usize) -> Option<Span> {
    let NodeKind::Scalar(s) = &node.kind else {
        return None;
    };
    let (start, end) = (node.span.start, node.span.end);
    if start.line != end.line {
        return None;
    }
    let len = text.chars().count();
    let width = end.col.checked_sub(start.col)?;
    let lead = if s.plain && width >= len {
        0
    } else if !s.plain && width == len + 2 {
        1
    } else {
        return None;
    };
    Some(Span::point(Pos::new(start.line, start.col + lead + offset)))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::plan::{validate, Diagnostic};

    fn continuous_plan(
        continuous: &str,
        gate: &str,
    ) -> Result<crate::plan::Validated, Vec<Diagnostic>> {
        let text = format!(
            "version: 1
name: t
providers:
  a: {{ type: db, path: a.db }}
  b: {{ type: db, path: b.db }}
reconciliations:
  r:
    source: {{ provider: a, table: t }}
    target: {{ provider: b, table: t }}
    key: [id]
    columns: {{ v: value, changed: modified }}
    continuous: {continuous}
gates:
  parity: {{ reconcile: r, min: 1.0, {gate} }}
phases:
  - name: p
    steps:
      - check: [parity]
"
        );
        validate(&text, &HashMap::new(), crate::plan::spec::tests::CATALOG)
    }

    #[test]
    fn continuous_settings_decode_with_their_defaults() {
        let v = continuous_plan("{ watermark: changed }", "max_age: 10m").unwrap();
        let r = v.plan.reconciliation("r").unwrap();
        let c = r.continuous.as_ref().unwrap();
        assert_eq!(c.every, std::time::Duration::from_secs(30));
        assert_eq!(c.sweep, crate::plan::Sweep::Rows(10_000));
        assert_eq!(c.max_differing, 100_000);
        let w = c.watermark.as_ref().unwrap();
        // The target's column comes from the mapping.
        assert_eq!(
            (w.column.as_str(), w.target_column.as_str()),
            ("changed", "modified")
        );
        assert_eq!(w.overlap, None);
        let g = v.plan.gate("parity").unwrap();
        assert_eq!(g.max_age, Some(std::time::Duration::from_secs(600)));
        let v = continuous_plan(
            "{ watermark: changed, overlap: 0, sweep_within: 1h, every: 10s }",
            "max_age: 1m",
        )
        .unwrap();
        let c = v
            .plan
            .reconciliation("r")
            .unwrap()
            .continuous
            .clone()
            .unwrap();
        assert_eq!(
            c.watermark.unwrap().overlap,
            Some(crate::plan::Overlap::Units(0))
        );
        assert_eq!(
            c.sweep,
            crate::plan::Sweep::Within(std::time::Duration::from_secs(3600))
        );
        assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    }

    #[test]
    fn a_max_age_shorter_than_the_passes_is_a_warning() {
        let v = continuous_plan("{ every: 5m }", "max_age: 1m").unwrap();
        assert_eq!(v.warnings.len(), 1, "{:?}", v.warnings);
        assert!(v.warnings[0]
            .message
            .contains("shorter than the pass interval"));
    }
}
