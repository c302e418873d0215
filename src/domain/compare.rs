//! The sequential comparison of a candidate with its baseline (`compare`
//! gates): a test that stays valid however often it is looked at.
//!
//! Each arm has two cumulative counters: events (errors, slow requests,
//! successful payments) and a total (requests). A look reads the four,
//! takes their increases since the previous look (a counter that went
//! down was reset: its value is the increase since the reset) and adds
//! them to the evidence as one batch.
//!
//! **Model.** Within a batch, each arm's events are Poisson with mean
//! `rate × total`, given the totals (binomial events of any rate are
//! covered too: their moment generating function is below the Poisson
//! one of the same mean, so each likelihood ratio below is still a
//! supermartingale, the test only more conservative). Conditioned on the batch's events in
//! both arms, `n = x_c + x_b`, the candidate's share is binomial:
//! `x_c | n ~ Binomial(n, π(θ))`, `π(θ) = θa / (1 + θa)`, where
//! `a = total_c / total_b` and `θ = rate_c / rate_b` is the rate ratio.
//! The traffic split of the arms enters only through `a`, so it does not
//! bias the comparison, and it may change from one look to the next.
//!
//! **Hypotheses.** With `r = max_ratio` and `direction: increase` (higher
//! is worse): H0 `θ ≤ r` (the candidate is within tolerance), breach on
//! evidence of `θ > r`. With `direction: decrease` (lower is worse):
//! H0 `θ ≥ 1/r` — the candidate's rate is at least the baseline's
//! divided by `max_ratio` — breach on evidence of `θ < 1/r`.
//!
//! **Test.** A mixture likelihood ratio over a fixed grid of rate ratios
//! (uniform on `ln θ` over the alternative side of the grid), the product
//! over batches of the conditional binomial likelihoods at each `θ_j`
//! against that at the boundary `θ0`:
//! `E_t = Σ_j w_j Π_k L_k(θ_j) / L_k(θ0)`. Each term is a nonnegative
//! supermartingale under every θ of H0 (the binomial family has a
//! monotone likelihood ratio), so their mixture is one, and Ville's
//! inequality bounds the chance it ever reaches `1/alpha`:
//! `P(sup_t E_t ≥ 1/alpha) ≤ alpha`, whatever the number of looks and
//! whenever they happen (Ville 1939; Robbins 1970; Johari et al. 2017;
//! Lindon & Malek 2022; Howard et al. 2021).
//!
//! **Confidence interval.** The same batches give, for each grid ratio
//! `θ_i`, the mixture over the whole grid against `θ_i`; the ratios whose
//! mixture stays below `1/alpha` form a `1 − alpha` confidence sequence
//! for θ, valid at every look at once (it is clipped to the grid,
//! [1/64, 64]).
//!
//! **Insufficient evidence.** While even the most damning split of the
//! events seen (all of them the candidate's for `increase`, none for
//! `decrease`) could not reach `1/alpha`, the data cannot reject: the
//! verdict is `insufficient`.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::fmt_number;

/// Points of the grid of rate ratios: `ln θ` evenly spaced over
/// `[-ln 64, ln 64]`, a step of 9 % in θ.
pub const GRID: usize = 97;
/// The grid's largest ratio (its smallest is the inverse).
pub const GRID_MAX: f64 = 64.0;
/// The largest `max_ratio` a gate may have: the grid keeps alternatives
/// up to four times beyond it.
pub const MAX_RATIO_LIMIT: f64 = 16.0;

/// Which way is worse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// A higher rate is worse (errors, slow requests).
    #[default]
    Increase,
    /// A lower rate is worse (successful payments per request).
    Decrease,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::Increase => "increase",
            Direction::Decrease => "decrease",
        }
    }
}

/// What a gate tests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Test {
    pub max_ratio: f64,
    pub direction: Direction,
    pub alpha: f64,
}

impl Test {
    /// The rate ratio at the boundary of the null hypothesis.
    pub fn theta0(&self) -> f64 {
        match self.direction {
            Direction::Increase => self.max_ratio,
            Direction::Decrease => 1.0 / self.max_ratio,
        }
    }

    /// The e-value at which the gate breaches.
    pub fn threshold(&self) -> f64 {
        1.0 / self.alpha
    }
}

/// The four cumulative counters of one look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub candidate_events: f64,
    pub candidate_total: f64,
    pub baseline_events: f64,
    pub baseline_total: f64,
}

impl Counters {
    fn values(&self) -> [f64; 4] {
        [
            self.candidate_events,
            self.candidate_total,
            self.baseline_events,
            self.baseline_total,
        ]
    }

    fn from_values(v: [f64; 4]) -> Self {
        Counters {
            candidate_events: v[0],
            candidate_total: v[1],
            baseline_events: v[2],
            baseline_total: v[3],
        }
    }

    /// Every value a finite, nonnegative number (what a counter holds).
    pub fn valid(&self) -> bool {
        self.values().iter().all(|v| v.is_finite() && *v >= 0.0)
    }
}

/// The evidence a gate has gathered during a soak: kept in the state,
/// folded from the counters each look journals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Track {
    pub max_ratio: f64,
    pub direction: Direction,
    /// The counters at the soak's first look.
    pub start: Counters,
    /// The counters at the latest look.
    pub last: Counters,
    /// Increases since the first look.
    pub sums: Counters,
    /// Increases not yet in the test: a batch whose arms did not both
    /// have traffic and events waits for the next.
    #[serde(default)]
    pub pending: Counters,
    /// Counter resets seen.
    #[serde(default)]
    pub resets: u32,
    /// Looks after the first.
    pub looks: u32,
    /// Log-likelihood at each grid ratio (up to a shared constant).
    pub loglik: Vec<f64>,
    /// Log-likelihood at the boundary ratio.
    pub loglik0: f64,
    /// Log-likelihood ratio against the boundary at each grid ratio, had
    /// every event fallen the most damning way.
    pub logmax: Vec<f64>,
}

/// A grid ratio.
pub fn grid(j: usize) -> f64 {
    let half = (GRID / 2) as f64;
    (GRID_MAX.ln() * (j as f64 - half) / half).exp()
}

/// Whether grid point `j` is an alternative of `test`.
fn alternative(test: &Test, j: usize) -> bool {
    let t0 = test.theta0();
    match test.direction {
        Direction::Increase => grid(j) > t0 * (1.0 + 1e-9),
        Direction::Decrease => grid(j) < t0 * (1.0 - 1e-9),
    }
}

/// `ln Σ exp(v_i)` of the values chosen, less `ln count` (the log of
/// their mean); `-inf` when none is chosen.
fn log_mean_exp(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    let (sum, count) = values.fold((0.0, 0usize), |(s, c), v| (s + (v - max).exp(), c + 1));
    max + (sum / count as f64).ln()
}

impl Track {
    /// A new track whose first look read `counters`.
    pub fn start(test: &Test, counters: Counters) -> Track {
        Track {
            max_ratio: test.max_ratio,
            direction: test.direction,
            start: counters,
            last: counters,
            sums: Counters::default(),
            pending: Counters::default(),
            resets: 0,
            looks: 0,
            loglik: vec![0.0; GRID],
            loglik0: 0.0,
            logmax: vec![0.0; GRID],
        }
    }

    /// Whether this track tests `test` (a gate changed mid-soak starts
    /// afresh).
    pub fn tests(&self, test: &Test) -> bool {
        self.max_ratio == test.max_ratio && self.direction == test.direction
    }

    /// The track after a look that read `now`: a new one at a first look
    /// (or when the test changed).
    pub fn look(previous: Option<&Track>, test: &Test, now: Counters) -> Track {
        match previous.filter(|t| t.tests(test)) {
            None => Track::start(test, now),
            Some(t) => {
                let mut t = t.clone();
                t.add(test, now);
                t
            }
        }
    }

    fn test(&self, alpha: f64) -> Test {
        Test {
            max_ratio: self.max_ratio,
            direction: self.direction,
            alpha,
        }
    }

    fn add(&mut self, test: &Test, now: Counters) {
        let (last, now_v) = (self.last.values(), now.values());
        let mut inc = [0.0; 4];
        for i in 0..4 {
            inc[i] = if now_v[i] >= last[i] {
                now_v[i] - last[i]
            } else {
                // A reset: the counter counts again from zero.
                self.resets += 1;
                now_v[i]
            };
        }
        self.last = now;
        self.looks += 1;
        let sums = self.sums.values();
        let pending = self.pending.values();
        let mut new_sums = [0.0; 4];
        let mut new_pending = [0.0; 4];
        for i in 0..4 {
            new_sums[i] = sums[i] + inc[i];
            new_pending[i] = pending[i] + inc[i];
        }
        self.sums = Counters::from_values(new_sums);
        let [x, ec, y, eb] = new_pending;
        let n = x + y;
        if n > 0.0 && ec > 0.0 && eb > 0.0 {
            self.batch(test, x, n, ec / eb);
            self.pending = Counters::default();
        } else {
            self.pending = Counters::from_values(new_pending);
        }
    }

    /// Add one batch: `x` of `n` events in the candidate, exposure ratio `a`.
    fn batch(&mut self, test: &Test, x: f64, n: f64, a: f64) {
        // ln L(θ) = x ln θ − n ln(1 + θa), up to terms free of θ.
        let ll = |theta: f64| x * theta.ln() - n * (theta * a).ln_1p();
        let t0 = test.theta0();
        let l0 = ll(t0);
        // The most damning split: every event the candidate's (increase),
        // or none (decrease).
        let worst = |theta: f64| match test.direction {
            Direction::Increase => {
                n * (theta / t0).ln() - n * ((theta * a).ln_1p() - (t0 * a).ln_1p())
            }
            Direction::Decrease => -n * ((theta * a).ln_1p() - (t0 * a).ln_1p()),
        };
        for j in 0..GRID {
            let theta = grid(j);
            self.loglik[j] += ll(theta);
            if alternative(test, j) {
                self.logmax[j] += worst(theta);
            }
        }
        self.loglik0 += l0;
    }

    /// The log e-value: the mixture over the alternatives against the
    /// boundary.
    pub fn log_e(&self, alpha: f64) -> f64 {
        let test = self.test(alpha);
        let l0 = self.loglik0;
        log_mean_exp(
            (0..GRID)
                .filter(|j| alternative(&test, *j))
                .map(|j| self.loglik[j] - l0),
        )
    }

    /// The e-value the data could have reached at most.
    fn log_e_max(&self, alpha: f64) -> f64 {
        let test = self.test(alpha);
        log_mean_exp(
            (0..GRID)
                .filter(|j| alternative(&test, *j))
                .map(|j| self.logmax[j]),
        )
    }

    /// The verdict at `alpha`.
    pub fn verdict(&self, alpha: f64) -> Verdict {
        let limit = (1.0 / alpha).ln();
        if self.looks == 0 {
            Verdict::Started
        } else if self.log_e(alpha) >= limit {
            Verdict::Breach
        } else if self.log_e_max(alpha) < limit {
            Verdict::Insufficient
        } else {
            Verdict::Within
        }
    }

    /// The `1 − alpha` confidence sequence for the rate ratio at this
    /// look. The ratios θ the mixture does not reject form an interval
    /// (the likelihood is log-concave in ln θ); its ends lie between the
    /// last grid ratio rejected and the first one kept, so the interval
    /// reported reaches one grid step beyond the grid ratios kept (or
    /// around the best-fitting one, when the set falls between two).
    pub fn interval(&self, alpha: f64) -> (f64, f64) {
        let limit = (1.0 / alpha).ln();
        let mix = log_mean_exp(self.loglik.iter().copied());
        let kept: Vec<usize> = (0..GRID)
            .filter(|i| mix - self.loglik[*i] < limit)
            .collect();
        let (lo, hi) = match (kept.first(), kept.last()) {
            (Some(lo), Some(hi)) => (*lo, *hi),
            _ => {
                let best = (0..GRID)
                    .max_by(|a, b| self.loglik[*a].total_cmp(&self.loglik[*b]))
                    .unwrap_or(GRID / 2);
                (best, best)
            }
        };
        (grid(lo.saturating_sub(1)), grid((hi + 1).min(GRID - 1)))
    }

    /// What the gate shows of this track.
    pub fn evidence(&self, alpha: f64) -> Evidence {
        let arm = |events: f64, total: f64| Arm {
            events,
            total,
            rate: (total > 0.0).then(|| events / total),
        };
        let candidate = arm(self.sums.candidate_events, self.sums.candidate_total);
        let baseline = arm(self.sums.baseline_events, self.sums.baseline_total);
        let ratio = match (candidate.rate, baseline.rate) {
            (Some(c), Some(b)) if b > 0.0 => Some(c / b),
            _ => None,
        };
        let (low, high) = self.interval(alpha);
        let e = self.log_e(alpha).exp();
        Evidence {
            candidate,
            baseline,
            ratio,
            ratio_low: low,
            ratio_high: high,
            e_value: if e.is_finite() { e } else { f64::MAX },
            threshold: 1.0 / alpha,
            max_ratio: self.max_ratio,
            direction: self.direction,
            alpha,
            verdict: self.verdict(alpha),
            looks: self.looks,
            resets: self.resets,
        }
    }
}

/// What a look concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The first look of the soak: the counters the comparison starts from.
    Started,
    /// The data so far could not reject, whatever they said.
    Insufficient,
    /// Not (yet) evidence that the candidate is worse than tolerated.
    Within,
    /// Evidence, at the gate's alpha, that it is.
    Breach,
}

impl Verdict {
    pub fn words(self) -> &'static str {
        match self {
            Verdict::Started => "counters taken",
            Verdict::Insufficient => "insufficient evidence",
            Verdict::Within => "within tolerance",
            Verdict::Breach => "worse than tolerated",
        }
    }
}

/// One arm's increases since the soak began.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Arm {
    pub events: f64,
    pub total: f64,
    /// `events / total`; `None` without traffic.
    pub rate: Option<f64>,
}

/// A `compare` gate's evidence at a look: what it read, what it concluded
/// and why — shown in `status`, `history`, events and `/metrics`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub candidate: Arm,
    pub baseline: Arm,
    /// The candidate's rate over the baseline's (`None` while either is
    /// unknown or the baseline's is zero).
    pub ratio: Option<f64>,
    /// The always-valid `1 − alpha` confidence interval of the ratio.
    pub ratio_low: f64,
    pub ratio_high: f64,
    /// The statistic: the e-value against the tolerated ratio.
    pub e_value: f64,
    /// `1 / alpha`: the gate breaches when the e-value reaches it.
    pub threshold: f64,
    pub max_ratio: f64,
    pub direction: Direction,
    pub alpha: f64,
    pub verdict: Verdict,
    pub looks: u32,
    #[serde(default)]
    pub resets: u32,
}

fn fmt_rate(r: Option<f64>) -> String {
    r.map_or_else(|| "n/a".to_string(), |r| format!("{}%", fmt_sig(r * 100.0)))
}

/// Four significant digits, no trailing zeros.
pub fn fmt_sig(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return fmt_number(v);
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 12);
    let s = format!("{v:.*}", usize::try_from(digits).unwrap_or(0));
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

impl Evidence {
    /// The tolerance in words: `candidate ≤ 1.5× baseline`.
    pub fn tolerance(&self) -> String {
        match self.direction {
            Direction::Increase => format!("candidate ≤ {}× baseline", fmt_sig(self.max_ratio)),
            Direction::Decrease => format!("candidate ≥ baseline / {}", fmt_sig(self.max_ratio)),
        }
    }

    /// The arms in words.
    pub fn arms(&self) -> String {
        let n = |v: f64| fmt_number(v.round());
        format!(
            "candidate {}/{} ({}) vs baseline {}/{} ({})",
            n(self.candidate.events),
            n(self.candidate.total),
            fmt_rate(self.candidate.rate),
            n(self.baseline.events),
            n(self.baseline.total),
            fmt_rate(self.baseline.rate),
        )
    }

    /// The ratio and its interval in words.
    pub fn ratio_words(&self) -> String {
        format!(
            "ratio {} [{}, {}]",
            self.ratio.map_or_else(|| "n/a".to_string(), fmt_sig),
            fmt_sig(self.ratio_low),
            fmt_sig(self.ratio_high)
        )
    }

    /// The statistic against its threshold in words.
    pub fn statistic(&self) -> String {
        format!(
            "e-value {} {} {}",
            fmt_sig(self.e_value),
            if self.e_value >= self.threshold {
                "≥"
            } else {
                "<"
            },
            fmt_sig(self.threshold)
        )
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}; {}; {} ({}, alpha {})",
            self.verdict.words(),
            self.arms(),
            self.ratio_words(),
            self.statistic(),
            self.tolerance(),
            fmt_sig(self.alpha)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(max_ratio: f64, direction: Direction) -> Test {
        Test {
            max_ratio,
            direction,
            alpha: 0.01,
        }
    }

    fn c(ce: f64, ct: f64, be: f64, bt: f64) -> Counters {
        Counters {
            candidate_events: ce,
            candidate_total: ct,
            baseline_events: be,
            baseline_total: bt,
        }
    }

    /// Run looks adding `(ce, ct, be, bt)` each time.
    fn run(t: &Test, step: Counters, looks: usize) -> Track {
        let mut now = Counters::default();
        let mut track = Track::look(None, t, now);
        for _ in 0..looks {
            now = c(
                now.candidate_events + step.candidate_events,
                now.candidate_total + step.candidate_total,
                now.baseline_events + step.baseline_events,
                now.baseline_total + step.baseline_total,
            );
            track = Track::look(Some(&track), t, now);
        }
        track
    }

    #[test]
    fn the_grid_is_symmetric_around_one() {
        assert!((grid(GRID / 2) - 1.0).abs() < 1e-12);
        assert!((grid(0) * grid(GRID - 1) - 1.0).abs() < 1e-9);
        assert!((grid(GRID - 1) - GRID_MAX).abs() < 1e-9);
    }

    #[test]
    fn a_first_look_only_takes_the_counters() {
        let t = test(1.5, Direction::Increase);
        let track = Track::look(None, &t, c(5.0, 100.0, 50.0, 10_000.0));
        assert_eq!(track.verdict(0.01), Verdict::Started);
        assert_eq!(track.evidence(0.01).candidate.total, 0.0);
    }

    #[test]
    fn no_events_is_insufficient_evidence() {
        let t = test(1.5, Direction::Increase);
        let track = run(&t, c(0.0, 100.0, 0.0, 10_000.0), 10);
        assert_eq!(track.verdict(0.01), Verdict::Insufficient);
        // A couple of events cannot reject either.
        let track = run(&t, c(1.0, 100.0, 0.0, 10_000.0), 1);
        assert_eq!(track.verdict(0.01), Verdict::Insufficient);
    }

    #[test]
    fn equal_rates_are_within_and_the_interval_covers_one() {
        let t = test(1.5, Direction::Increase);
        let track = run(&t, c(5.0, 1000.0, 50.0, 10_000.0), 100);
        assert_eq!(track.verdict(0.01), Verdict::Within);
        let e = track.evidence(0.01);
        assert!((e.ratio.unwrap() - 1.0).abs() < 1e-9);
        assert!(e.ratio_low < 1.0 && e.ratio_high > 1.0, "{e}");
        assert!(e.ratio_high < 1.5, "enough data to exclude 1.5: {e}");
        assert!(e.e_value < 1.0, "{e}");
    }

    #[test]
    fn three_times_the_errors_breach() {
        let t = test(1.5, Direction::Increase);
        let track = run(&t, c(15.0, 1000.0, 50.0, 10_000.0), 30);
        assert_eq!(track.verdict(0.01), Verdict::Breach);
        let e = track.evidence(0.01);
        assert!(
            e.ratio_low > 1.5 && e.ratio_high > 3.0 && e.ratio_low < 3.0,
            "{e}"
        );
        assert!(e.to_string().contains("worse than tolerated"), "{e}");
    }

    #[test]
    fn the_traffic_split_does_not_bias_the_comparison() {
        // Same rates, very different shares: no breach; 3x rates at a 1%
        // share: a breach.
        let t = test(1.0, Direction::Increase);
        let track = run(&t, c(1.0, 200.0, 99.0, 19_800.0), 500);
        assert_ne!(track.verdict(0.01), Verdict::Breach);
        let track = run(&t, c(3.0, 200.0, 99.0, 19_800.0), 200);
        assert_eq!(track.verdict(0.01), Verdict::Breach);
    }

    #[test]
    fn a_decrease_breaches_on_a_drop_only() {
        let t = test(1.25, Direction::Decrease);
        // Candidate converts 30% of requests, baseline 30%: fine.
        let same = run(&t, c(300.0, 1000.0, 3000.0, 10_000.0), 50);
        assert_ne!(same.verdict(0.01), Verdict::Breach);
        // A rise is never a breach for a decrease gate.
        let up = run(&t, c(600.0, 1000.0, 3000.0, 10_000.0), 50);
        assert_ne!(up.verdict(0.01), Verdict::Breach);
        // Candidate at 15%: half the baseline's, below 1/1.25 of it.
        let down = run(&t, c(150.0, 1000.0, 3000.0, 10_000.0), 50);
        assert_eq!(down.verdict(0.01), Verdict::Breach);
        assert!(down.evidence(0.01).ratio_high < 0.8);
    }

    #[test]
    fn a_counter_reset_is_an_increase_from_zero() {
        let t = test(1.5, Direction::Increase);
        let track = Track::look(None, &t, c(10.0, 1000.0, 100.0, 10_000.0));
        let track = Track::look(Some(&track), &t, c(15.0, 2000.0, 150.0, 20_000.0));
        // The candidate's process restarted: its counters begin again.
        let track = Track::look(Some(&track), &t, c(4.0, 900.0, 200.0, 30_000.0));
        assert_eq!(track.resets, 2);
        let e = track.evidence(0.01);
        assert_eq!(e.candidate.events, 9.0);
        assert_eq!(e.candidate.total, 1900.0);
        assert_eq!(e.baseline.events, 100.0);
        assert_eq!(e.baseline.total, 20_000.0);
    }

    #[test]
    fn a_batch_without_traffic_in_one_arm_waits_for_the_next() {
        let t = test(1.5, Direction::Increase);
        let track = Track::look(None, &t, c(0.0, 0.0, 0.0, 0.0));
        let track = Track::look(Some(&track), &t, c(3.0, 0.0, 5.0, 1000.0));
        assert_eq!(track.pending.candidate_events, 3.0);
        assert!(track.loglik.iter().all(|v| *v == 0.0));
        let track = Track::look(Some(&track), &t, c(3.0, 100.0, 5.0, 1000.0));
        assert_eq!(track.pending, Counters::default());
        assert!(track.loglik0 != 0.0);
    }

    #[test]
    fn a_changed_test_starts_afresh() {
        let t = test(1.5, Direction::Increase);
        let track = run(&t, c(5.0, 1000.0, 50.0, 10_000.0), 3);
        let other = test(2.0, Direction::Increase);
        let again = Track::look(Some(&track), &other, c(100.0, 1.0e4, 1000.0, 1.0e5));
        assert_eq!(again.verdict(0.01), Verdict::Started);
    }

    /// Under the null, however many looks, the e-process rarely crosses:
    /// a small seeded check (the full simulation is in examples/compare.rs).
    #[test]
    fn healthy_soaks_rarely_breach() {
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let mut uniform = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng >> 11) as f64 / (1u64 << 53) as f64
        };
        let t = test(1.0, Direction::Increase);
        let mut breaches = 0;
        for _ in 0..50 {
            let mut now = Counters::default();
            let mut track = Track::look(None, &t, now);
            for _ in 0..200 {
                // 0.5 % errors of 1,000 requests in each arm.
                let mut draw = |n: usize| (0..n).filter(|_| uniform() < 0.005).count() as f64;
                now.candidate_events += draw(1000);
                now.candidate_total += 1000.0;
                now.baseline_events += draw(1000);
                now.baseline_total += 1000.0;
                track = Track::look(Some(&track), &t, now);
                if track.verdict(0.01) == Verdict::Breach {
                    breaches += 1;
                    break;
                }
            }
        }
        assert!(breaches <= 2, "{breaches} of 50 healthy soaks breached");
    }
}
