//! `scrape`: a gate's number read straight from a service's `/metrics`
//! page (the Prometheus text format), without waiting for a Prometheus
//! server to scrape it.
//!
//! ```yaml
//! app:
//!   type: scrape
//!   url: http://payments-v2:9100/metrics
//! gates:
//!   errors:
//!     provider: app
//!     query: rate(http_requests_total{code=~"5.."}) / rate(http_requests_total)
//!     max: 0.01
//! ```
//!
//! Queries ([`query`] has the grammar; the plan is checked with it):
//! - `name` or `name{label="v", label!="v", label=~"re", label!~"re"}`:
//!   the sum of the matching samples of a fresh scrape; no matching sample
//!   is no data, a NaN among them is no data;
//! - `rate(selector)`: the per-second increase of the matching counters
//!   between the previous scrape and a fresh one, summed over the series.
//!   A counter lower than before was restarted (its process restarted):
//!   its increase is its new value, as Prometheus counts it. A series that
//!   was not on the previous page is new and counts from zero;
//! - `a / b` of two such terms: their ratio, both from the same scrapes.
//!   A denominator of zero (no requests at all) is no data. A numerator
//!   that matches nothing while the denominator has data is zero: a
//!   service lazily creates `code="500"` series, so none yet means no
//!   errors yet.
//!
//! Scrapes: each query fetches the page afresh (a bounded, retried call,
//! like every provider call). The provider remembers the pages it read,
//! with the local time each was received, and a rate compares the fresh
//! page with the newest earlier page at least a *gap* older — 1 second, or
//! the provider's timeout when that is shorter — and at most 10 minutes
//! old (an older one would average a spike away). When there is none (the
//! first query of a process, or one after a long pause) the provider
//! scrapes, waits the gap, and scrapes again, so that a rate is available
//! on the first evaluation; such a query takes the gap plus two scrapes.
//!
//! A page with a line that cannot be read is an error naming the line (it
//! is not trusted for a gate), as is an answer other than 2xx (5xx and
//! transport failures are retried).

pub mod exposition;
pub mod query;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::Client;
use serde::Serialize;

use self::exposition::Sample;
use self::query::{Query, Term};
use super::{config_of, querying, web, Adapter, CallCtx, Failure, Metrics, ProviderError};
use crate::plan::decode::Cx;
use crate::plan::providers::Fields;
use crate::plan::spec::{
    self, Key, ProviderConfig, ProviderSpec, Shape, CA_FILE, INSECURE_SKIP_TLS_VERIFY,
};
use crate::plan::yaml::Node;
use crate::plan::{Capability, Provider, Text, Tls};

/// The longest wait between the two scrapes of a fresh rate.
const MAX_GAP: Duration = Duration::from_secs(1);
/// The oldest page a rate is taken from.
const MAX_AGE: Duration = Duration::from_secs(600);

/// A page as read at one moment.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub at: Instant,
    pub samples: Vec<Sample>,
}

/// A `scrape` provider.
pub struct Scrape {
    url: Text,
    headers: Vec<(String, Text)>,
    client: Client,
    ctx: CallCtx,
    gap: Duration,
    /// Earlier pages, oldest first.
    history: Mutex<Vec<Snapshot>>,
}

impl Scrape {
    pub fn new(cfg: &Config, ctx: CallCtx) -> Result<Self, ProviderError> {
        Ok(Self {
            url: cfg.url.clone(),
            headers: cfg.headers.clone(),
            client: web::client(&ctx, &cfg.tls)?,
            gap: ctx.timeout.min(MAX_GAP),
            ctx,
            history: Mutex::new(Vec::new()),
        })
    }

    async fn scrape(&self, doing: &str) -> Result<Snapshot, ProviderError> {
        self.ctx
            .call(doing, true, || async {
                let req = self
                    .client
                    .get(self.url.expose())
                    .header("Accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1");
                let req = web::with_headers(req, &self.headers);
                let answer = web::send_ok(&self.ctx, doing, &self.url, req).await?;
                let at = Instant::now();
                let samples = exposition::parse(&answer.body).map_err(|e| {
                    self.ctx.error(
                        Failure::Garbage,
                        doing,
                        format!(
                            "{} is not a Prometheus text page: {e}: \"{}\"",
                            self.url,
                            web::quote(&e.text.chars().take(120).collect::<String>())
                        ),
                    )
                })?;
                Ok(Snapshot { at, samples })
            })
            .await
    }

    /// The newest remembered page at least a gap older than `now`.
    fn baseline(&self, now: Instant) -> Option<Snapshot> {
        let history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        history
            .iter()
            .rev()
            .find(|s| {
                let age = now.saturating_duration_since(s.at);
                age >= self.gap && age <= MAX_AGE
            })
            .cloned()
    }

    /// Remember `snap`, keeping only what a later rate may use: pages
    /// younger than a gap, and the newest one older than that.
    fn remember(&self, snap: Snapshot) {
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let pos = history.partition_point(|s| s.at <= snap.at);
        history.insert(pos, snap);
        let now = history.last().map_or_else(Instant::now, |s| s.at);
        let old = history
            .iter()
            .filter(|s| now.saturating_duration_since(s.at) >= self.gap)
            .count();
        if old > 1 {
            history.drain(..old - 1);
        }
    }
}

#[async_trait]
impl Metrics for Scrape {
    async fn query(&self, text: &str) -> Result<Option<f64>, ProviderError> {
        let doing = querying(text);
        let q = query::parse(text).map_err(|e| {
            self.ctx
                .error(Failure::Rejected, &doing, format!("invalid query: {e}"))
        })?;
        let current = self.scrape(&doing).await?;
        if !q.needs_rate() {
            let value = evaluate(&q, None, &current);
            self.remember(current);
            return Ok(value);
        }
        let (previous, current) = match self.baseline(current.at) {
            Some(prev) => (prev, current),
            None => {
                // No page old enough: take a second one after the gap.
                let first = current;
                self.remember(first.clone());
                tokio::time::sleep(self.gap).await;
                (first, self.scrape(&doing).await?)
            }
        };
        let value = evaluate(&q, Some(&previous), &current);
        self.remember(current);
        Ok(value)
    }
}

/// The query's value from a fresh page and (for rates) an earlier one.
pub fn evaluate(q: &Query, previous: Option<&Snapshot>, current: &Snapshot) -> Option<f64> {
    let term = |t: &Term| match t {
        Term::Value(sel) => {
            let mut matched = current.samples.iter().filter(|s| sel.matches(s)).peekable();
            matched.peek()?;
            Some(matched.map(|s| s.value).sum::<f64>())
        }
        Term::Rate(sel) => rate(sel, previous?, current),
    };
    let value = match &q.denominator {
        None => term(&q.numerator)?,
        Some(d) => {
            let den = term(d)?;
            // No requests: no data. A NaN page value is passed on (the
            // gate takes it as no data and says NaN).
            if den == 0.0 {
                return None;
            }
            term(&q.numerator).unwrap_or(0.0) / den
        }
    };
    Some(value)
}

/// A series: its name and (sorted) labels.
type SeriesId<'a> = (&'a str, &'a [(String, String)]);

/// Per-second increase of the matching counters from `previous` to
/// `current`; `None` when nothing matches now.
fn rate(sel: &query::Selector, previous: &Snapshot, current: &Snapshot) -> Option<f64> {
    let secs = current
        .at
        .saturating_duration_since(previous.at)
        .as_secs_f64();
    if secs <= 0.0 {
        return None;
    }
    let before: HashMap<SeriesId<'_>, f64> = previous
        .samples
        .iter()
        .filter(|s| sel.matches(s))
        .map(|s| ((s.name.as_str(), s.labels.as_slice()), s.value))
        .collect();
    let mut any = false;
    let mut increase = 0.0;
    for s in current.samples.iter().filter(|s| sel.matches(s)) {
        any = true;
        increase += match before.get(&(s.name.as_str(), s.labels.as_slice())) {
            Some(&old) if s.value >= old => s.value - old,
            // Lower than before: the counter restarted from zero.
            Some(_) => s.value,
            // New since the previous page: counted from zero.
            None => s.value,
        };
    }
    any.then_some(increase / secs)
}

// The declaration: what a `scrape` provider is in a plan, and what it builds.

pub static SPEC: ProviderSpec = ProviderSpec {
    name: "scrape",
    article: "a",
    capabilities: &[Capability::Metrics],
    needs: &[],
    keys: &[
        Key::required(
            "url",
            Shape::Text,
            "URL of the metrics page (Prometheus text format) to read",
        ),
        Key::optional(
            "headers",
            Shape::Headers,
            "HTTP headers sent with every scrape",
        ),
        INSECURE_SKIP_TLS_VERIFY,
        CA_FILE,
    ],
    decode,
    check_query: Some(check_query),
};

pub static ADAPTER: Adapter = Adapter {
    metrics: Some(metrics),
    ..Adapter::of(&SPEC)
};

fn metrics(p: &Provider, ctx: CallCtx) -> anyhow::Result<Arc<dyn Metrics>> {
    Ok(Arc::new(Scrape::new(config_of::<Config>(p)?, ctx)?))
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub url: Text,
    pub headers: Vec<(String, Text)>,
    pub tls: Tls,
}

impl ProviderConfig for Config {
    fn insecure_tls(&self) -> bool {
        self.tls.insecure_skip_verify
    }
}

fn decode(cx: &mut Cx<'_>, r: &Fields<'_, '_>) -> Option<spec::Config> {
    let (url, headers, tls) = r.http_base(cx)?;
    spec::config(Config { url, headers, tls })
}

/// A `scrape` gate's query must parse; the error points at the column of
/// the query where it went wrong when the query sits on one line of the
/// plan. A query taken from the environment is not checked (its text is a
/// secret, and is checked when first run).
fn check_query(cx: &mut Cx<'_>, node: &Node, path: &str, query: &Text) -> Option<()> {
    if query.is_secret() {
        return Some(());
    }
    let Err(e) = query::parse(query.expose()) else {
        return Some(());
    };
    let (span, message) = match crate::plan::gates::query_span(node, query.expose(), e.offset) {
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
        match validate(&text, &HashMap::new(), crate::providers::catalog()) {
            Ok(_) => Vec::new(),
            Err(d) => d.into_iter().filter(Diagnostic::is_error).collect(),
        }
    }

    use super::*;

    fn snap(at: Instant, page: &str) -> Snapshot {
        Snapshot {
            at,
            samples: exposition::parse(page).unwrap(),
        }
    }

    fn eval(q: &str, prev: Option<&Snapshot>, cur: &Snapshot) -> Option<f64> {
        evaluate(&query::parse(q).unwrap(), prev, cur)
    }

    const T0: &str = r#"
http_requests_total{code="200",path="/a"} 100
http_requests_total{code="200",path="/b"} 50
http_requests_total{code="500",path="/a"} 1
queue_depth 7
queue_capacity 70
"#;

    #[test]
    fn selectors_sum_matching_samples() {
        let t = Instant::now();
        let s = snap(t, T0);
        assert_eq!(eval("http_requests_total", None, &s), Some(151.0));
        assert_eq!(
            eval(r#"http_requests_total{code="200"}"#, None, &s),
            Some(150.0)
        );
        assert_eq!(
            eval(r#"http_requests_total{code=~"5.."}"#, None, &s),
            Some(1.0)
        );
        assert_eq!(eval("nope", None, &s), None);
        assert_eq!(eval("queue_depth / queue_capacity", None, &s), Some(0.1));
        let nan = snap(t, "a NaN\na 1\n");
        assert!(eval("a", None, &nan).is_some_and(f64::is_nan));
        let inf = snap(t, "a +Inf\n");
        assert_eq!(eval("a", None, &inf), Some(f64::INFINITY));
    }

    #[test]
    fn rates_use_the_time_between_pages() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(10);
        let a = snap(t0, T0);
        let b = snap(
            t1,
            r#"
http_requests_total{path="/a",code="200"} 190
http_requests_total{code="200",path="/b"} 60
http_requests_total{code="500",path="/a"} 6
"#,
        );
        assert_eq!(eval("rate(http_requests_total)", Some(&a), &b), Some(10.5));
        let ratio = eval(
            r#"rate(http_requests_total{code=~"5.."}) / rate(http_requests_total)"#,
            Some(&a),
            &b,
        )
        .unwrap();
        assert!((ratio - 5.0 / 105.0).abs() < 1e-12, "{ratio}");
    }

    #[test]
    fn counter_resets_and_new_series() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(2);
        let a = snap(t0, "c{k=\"x\"} 100\n");
        // Restarted: 100 → 4 means 4 since the restart.
        let b = snap(t1, "c{k=\"x\"} 4\nc{k=\"y\"} 6\n");
        assert_eq!(eval("rate(c)", Some(&a), &b), Some(5.0));
        assert_eq!(eval("rate(c{k=\"y\"})", Some(&a), &b), Some(3.0));
    }

    #[test]
    fn ratios_without_traffic_are_no_data_and_missing_errors_are_zero() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        let a = snap(t0, "req{code=\"200\"} 10\n");
        let b = snap(t1, "req{code=\"200\"} 10\n");
        let q = r#"rate(req{code=~"5.."}) / rate(req)"#;
        assert_eq!(eval(q, Some(&a), &b), None, "no requests: no data");
        let c = snap(t1, "req{code=\"200\"} 30\n");
        assert_eq!(eval(q, Some(&a), &c), Some(0.0), "no 5xx series yet: zero");
        assert_eq!(eval("rate(req) / rate(nothing)", Some(&a), &c), None);
        assert_eq!(eval("rate(nothing)", Some(&a), &c), None);
    }

    #[test]
    fn history_keeps_what_rates_need() {
        let ctx = CallCtx {
            provider: "app".into(),
            kind: "scrape",
            timeout: Duration::from_secs(5),
            retries: 0,
        };
        let s = Scrape::new(
            &Config {
                url: Text::literal("http://127.0.0.1:9/metrics"),
                headers: Vec::new(),
                tls: Tls::default(),
            },
            ctx,
        )
        .unwrap();
        let t0 = Instant::now();
        assert!(s.baseline(t0).is_none());
        s.remember(snap(t0, "a 1\n"));
        // Too young to be a baseline.
        assert!(s.baseline(t0 + Duration::from_millis(500)).is_none());
        assert_eq!(
            s.baseline(t0 + Duration::from_secs(2)).map(|b| b.at),
            Some(t0)
        );
        // Too old: a spike would be averaged away.
        assert!(s.baseline(t0 + MAX_AGE + Duration::from_secs(1)).is_none());
        for i in 1..=5 {
            s.remember(snap(t0 + Duration::from_secs(i * 10), "a 1\n"));
        }
        s.remember(snap(t0 + Duration::from_millis(50_300), "a 1\n"));
        let kept: Vec<_> = s
            .history
            .lock()
            .unwrap()
            .iter()
            .map(|x| x.at.duration_since(t0).as_millis())
            .collect();
        assert_eq!(kept, [40_000, 50_000, 50_300]);
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
