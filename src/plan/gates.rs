//! `gates:` (named health checks) and `reconciliations:` (named comparisons
//! of a legacy and a new table).

use std::time::Duration;

use super::decode::Cx;
use super::diag::{Pos, Span};
use super::model::{
    Capability, Gate, GateSource, NoData, Provider, ProviderKind, Reconciliation, TableRef,
};
use super::refs::{resolve_provider, resolve_reconciliation};
use super::text::Text;
use super::yaml::{Node, NodeKind};

pub const GATE_KEYS: &[&str] = &[
    "provider",
    "query",
    "reconcile",
    "max",
    "min",
    "failure_limit",
    "no_data",
    "interval",
];

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
    })
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
    let source = match (map.opt("provider"), map.opt("reconcile")) {
        (Some((pn, pp)), None) => {
            let provider = resolve_provider(cx, pn, &pp, providers, Capability::Metrics, "a gate");
            let query = map.req(cx, "query", &what).and_then(|(n, p)| {
                let q = cx.text(n, &p)?;
                let is_scrape = provider.as_ref().is_some_and(|name| {
                    providers
                        .iter()
                        .any(|pr| &pr.name == name && matches!(pr.kind, ProviderKind::Scrape(_)))
                });
                if is_scrape {
                    check_scrape_query(cx, n, &p, &q)?;
                }
                Some(q)
            });
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
                format!("{what} reads nothing: it needs 'provider' and 'query', or 'reconcile'"),
                "e.g. provider: prom, query: sum(rate(http_requests_total{code=~\"5..\"}[1m]))",
            );
            None
        }
    };
    let max = map.opt("max").and_then(|(n, p)| cx.number(n, &p));
    let min = map.opt("min").and_then(|(n, p)| cx.number(n, &p));
    let misspelled = map.misspelling_of("max").is_some() || map.misspelling_of("min").is_some();
    if !map.has("max") && !map.has("min") && !misspelled {
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
    if matches!(source, Some(GateSource::Parity { .. })) {
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
        None => Some(NoData::Fail),
    };
    let interval = match map.opt("interval") {
        Some((n, p)) => cx.duration(n, &p).map(Some),
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
    })
}

/// A `scrape` gate's query must parse; the error points at the column of
/// the query where it went wrong when the query sits on one line of the
/// plan. A query taken from the environment is not checked (its text is a
/// secret, and is checked when first run).
fn check_scrape_query(cx: &mut Cx<'_>, node: &Node, path: &str, query: &Text) -> Option<()> {
    if query.is_secret() {
        return Some(());
    }
    let Err(e) = crate::providers::scrape::query::parse(query.expose()) else {
        return Some(());
    };
    let (span, message) = match query_span(node, query.expose(), e.offset) {
        Some(span) => (span, format!("invalid scrape query: {}", e.message)),
        None => (
            node.span,
            format!(
                "invalid scrape query at column {} of the query: {}",
                e.offset + 1,
                e.message
            ),
        ),
    };
    cx.error_hint(
        span,
        path,
        message,
        "a scrape query is a metric selector (name{label=\"v\"}), rate(selector), or rate(a) / rate(b)",
    );
    None
}

/// Where character `offset` of a one-line scalar is in the plan: after
/// its opening quote, if quoted. `None` when the scalar spans lines or
/// does not hold its text as written (escapes), where columns would lie.
fn query_span(node: &Node, text: &str, offset: usize) -> Option<Span> {
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

    fn errors(query_line: &str) -> Vec<Diagnostic> {
        let text = format!(
            "version: 1
name: t
providers:
  app: {{ type: scrape, url: http://127.0.0.1:9100/metrics }}
  prom: {{ type: prometheus, url: http://127.0.0.1:9090 }}
gates:
  g:
    provider: app
{query_line}
    max: 1
phases:
  - name: p
    steps:
      - check: [g]
"
        );
        match validate(&text, &HashMap::new()) {
            Ok(_) => Vec::new(),
            Err(d) => d.into_iter().filter(Diagnostic::is_error).collect(),
        }
    }

    #[test]
    fn good_scrape_queries_pass() {
        assert!(errors(
            "    query: rate(http_requests_total{code=~\"5..\"}) / rate(http_requests_total)"
        )
        .is_empty());
    }

    #[test]
    fn scrape_query_errors_point_at_the_column() {
        // Plain scalar: the query starts at column 12; '[' is 6 further.
        let d = errors("    query: rate(x[5m])");
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].message.contains("range"), "{}", d[0].message);
        assert_eq!((d[0].span.start.line, d[0].span.start.col), (9, 12 + 6));
        // Quoted: one more for the quote.
        let d = errors("    query: 'sum(x)'");
        assert_eq!((d[0].span.start.line, d[0].span.start.col), (9, 13));
        assert!(d[0].message.contains("already sums"), "{}", d[0].message);
        let d = errors("    query: \"x{a=~'('}\"");
        assert_eq!((d[0].span.start.line, d[0].span.start.col), (9, 13 + 5));
    }

    #[test]
    fn multi_line_queries_are_reported_at_the_value() {
        let d = errors("    query: >-\n      rate(x)\n      / sum(y)");
        assert_eq!(d.len(), 1, "{d:?}");
        assert!((9..=10).contains(&d[0].span.start.line), "{d:?}");
        assert!(d[0].message.contains("column 11"), "{}", d[0].message);
    }
}
