//! What the demo application measures, and its `/metrics` page in the
//! Prometheus text format (0.0.4) — the page the plan's gates read with
//! the `scrape` provider.
//!
//! ```text
//! payments_requests_total{service, operation, code}     live requests, by the service that served them
//! payments_request_duration_seconds{service}            histogram of the time to answer them
//! payments_shadow_reads_total{result}                   match | mismatch | error
//! payments_dual_writes_total{to, result}                copies of writes into the other store: ok | error
//! ```
//!
//! Series appear when first counted: a service that has served nothing has
//! no `payments_requests_total` series at all (a gate reading it has no
//! data, which its `no_data` policy decides).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Which service served a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    Legacy,
    Candidate,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Legacy => "legacy",
            Side::Candidate => "candidate",
        }
    }

    pub fn other(self) -> Side {
        match self {
            Side::Legacy => Side::Candidate,
            Side::Candidate => Side::Legacy,
        }
    }
}

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Clone, Default)]
struct Histogram {
    /// Counts per bucket (not cumulative), the last one for +Inf.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let i = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        if let Some(c) = self.counts.get_mut(i) {
            *c += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }
}

#[derive(Default)]
struct Inner {
    /// (service, operation, code) → count
    requests: BTreeMap<(Side, &'static str, u16), u64>,
    latency: BTreeMap<Side, Histogram>,
    shadow: BTreeMap<&'static str, u64>,
    dual_writes: BTreeMap<(Side, &'static str), u64>,
    /// Per candidate rollout percent in force when a request was routed:
    /// requests the candidate served, and errors users saw.
    by_percent: BTreeMap<String, PercentCounts>,
}

/// Counts kept per candidate rollout percent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PercentCounts {
    pub requests: u64,
    pub candidate_requests: u64,
    pub user_errors: u64,
}

/// Totals for the live view.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub legacy: u64,
    pub candidate: u64,
    pub legacy_errors: u64,
    pub candidate_errors: u64,
    pub shadow: u64,
    pub shadow_mismatches: u64,
    pub dual_writes: u64,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// `25`, `2.5`: a percent as a label value.
pub fn percent_label(p: f64) -> String {
    migrate::providers::fmt_number((p * 1000.0).round() / 1000.0)
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut inner)
    }

    /// A live request answered by `side`; `percent` is the candidate's
    /// rollout when it was routed.
    pub fn request(
        &self,
        side: Side,
        operation: &'static str,
        code: u16,
        took: Duration,
        percent: f64,
    ) {
        self.with(|m| {
            *m.requests.entry((side, operation, code)).or_default() += 1;
            m.latency
                .entry(side)
                .or_default()
                .observe(took.as_secs_f64());
            let p = m.by_percent.entry(percent_label(percent)).or_default();
            p.requests += 1;
            if side == Side::Candidate {
                p.candidate_requests += 1;
            }
            if code >= 500 {
                p.user_errors += 1;
            }
        });
    }

    pub fn shadow(&self, result: &'static str) {
        self.with(|m| *m.shadow.entry(result).or_default() += 1);
    }

    pub fn dual_write(&self, to: Side, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.with(|m| *m.dual_writes.entry((to, result)).or_default() += 1);
    }

    pub fn by_percent(&self) -> BTreeMap<String, PercentCounts> {
        self.with(|m| m.by_percent.clone())
    }

    pub fn totals(&self) -> Totals {
        self.with(|m| {
            let mut t = Totals::default();
            for ((side, _, code), n) in &m.requests {
                let (all, errors) = match side {
                    Side::Legacy => (&mut t.legacy, &mut t.legacy_errors),
                    Side::Candidate => (&mut t.candidate, &mut t.candidate_errors),
                };
                *all += n;
                if *code >= 500 {
                    *errors += n;
                }
            }
            for (result, n) in &m.shadow {
                t.shadow += n;
                if *result != "match" {
                    t.shadow_mismatches += n;
                }
            }
            t.dual_writes = m.dual_writes.values().sum();
            t
        })
    }

    /// The page.
    pub fn render(&self) -> String {
        self.with(|m| {
            let mut out = String::new();
            out.push_str("# HELP payments_requests_total Live requests answered, by the service that served them.\n");
            out.push_str("# TYPE payments_requests_total counter\n");
            for ((side, op, code), n) in &m.requests {
                let _ = writeln!(
                    out,
                    "payments_requests_total{{service=\"{}\",operation=\"{op}\",code=\"{code}\"}} {n}",
                    side.name()
                );
            }
            out.push_str("# HELP payments_request_duration_seconds Time to answer a live request, by the service that served it.\n");
            out.push_str("# TYPE payments_request_duration_seconds histogram\n");
            for (side, h) in &m.latency {
                let s = side.name();
                let mut cumulative = 0;
                for (i, bound) in BUCKETS.iter().enumerate() {
                    cumulative += h.counts.get(i).copied().unwrap_or(0);
                    let _ = writeln!(
                        out,
                        "payments_request_duration_seconds_bucket{{service=\"{s}\",le=\"{bound}\"}} {cumulative}"
                    );
                }
                let _ = writeln!(
                    out,
                    "payments_request_duration_seconds_bucket{{service=\"{s}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "payments_request_duration_seconds_sum{{service=\"{s}\"}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "payments_request_duration_seconds_count{{service=\"{s}\"}} {}",
                    h.count
                );
            }
            out.push_str("# HELP payments_shadow_reads_total Reads also sent to the candidate, its answer compared with legacy's and discarded.\n");
            out.push_str("# TYPE payments_shadow_reads_total counter\n");
            for (result, n) in &m.shadow {
                let _ = writeln!(out, "payments_shadow_reads_total{{result=\"{result}\"}} {n}");
            }
            out.push_str("# HELP payments_dual_writes_total Writes copied into the other service's store.\n");
            out.push_str("# TYPE payments_dual_writes_total counter\n");
            for ((to, result), n) in &m.dual_writes {
                let _ = writeln!(
                    out,
                    "payments_dual_writes_total{{to=\"{}\",result=\"{result}\"}} {n}",
                    to.name()
                );
            }
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use migrate::providers::scrape::exposition;

    #[test]
    fn the_page_is_read_by_the_scrape_provider() {
        let m = Metrics::default();
        m.request(Side::Legacy, "create", 201, Duration::from_millis(3), 0.0);
        m.request(
            Side::Candidate,
            "create",
            503,
            Duration::from_millis(1),
            25.0,
        );
        m.request(Side::Candidate, "read", 200, Duration::from_secs(2), 25.0);
        m.shadow("match");
        m.shadow("mismatch");
        m.dual_write(Side::Candidate, true);
        let page = m.render();
        let samples = exposition::parse(&page).unwrap();
        let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
            samples
                .iter()
                .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == *v))
                .map(|s| s.value)
                .sum()
        };
        assert_eq!(
            value("payments_requests_total", &[("service", "candidate")]),
            2.0
        );
        assert_eq!(
            value(
                "payments_requests_total",
                &[("service", "candidate"), ("code", "503")]
            ),
            1.0
        );
        assert_eq!(
            value(
                "payments_request_duration_seconds_bucket",
                &[("service", "candidate"), ("le", "+Inf")]
            ),
            2.0
        );
        assert_eq!(
            value(
                "payments_request_duration_seconds_bucket",
                &[("service", "candidate"), ("le", "0.001")]
            ),
            1.0
        );
        assert!(
            (value(
                "payments_request_duration_seconds_sum",
                &[("service", "candidate")]
            ) - 2.001)
                .abs()
                < 1e-9
        );
        assert_eq!(
            value("payments_shadow_reads_total", &[("result", "mismatch")]),
            1.0
        );
        let by = m.by_percent();
        assert_eq!(
            by.get("25"),
            Some(&PercentCounts {
                requests: 2,
                candidate_requests: 2,
                user_errors: 1
            })
        );
        let t = m.totals();
        assert_eq!((t.legacy, t.candidate, t.candidate_errors), (1, 2, 1));
        assert_eq!((t.shadow, t.shadow_mismatches, t.dual_writes), (2, 1, 1));
    }
}
