//! Percent ↔ integer weights, shared by the proxies that split traffic by
//! server weight (HAProxy, NGINX).
//!
//! Every server of a side gets the same weight; the candidate's share is
//! `candidate weight sum / total weight sum`. Weights are integers up to a
//! system's maximum, so not every real percent can be held exactly: the
//! pair of per-server weights whose share is closest to the request is
//! chosen (the smallest such pair, so the common canary steps read as
//! plainly as `9:1` or `19:1`). 0% and 100% keep the other side's weight
//! above zero, so the total is never zero.

use super::{fmt_number, same_percent};

/// Per-server weights for each side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Weights {
    pub legacy: u32,
    pub candidate: u32,
}

/// The per-server weights, at most `max` each, that put `percent` of the
/// traffic on the candidate side given the number of servers per side.
pub fn weights_for(
    percent: f64,
    legacy_servers: usize,
    candidate_servers: usize,
    max: u32,
) -> Weights {
    let p = percent.clamp(0.0, 100.0);
    if p <= 0.0 || candidate_servers == 0 {
        return Weights {
            legacy: 1,
            candidate: 0,
        };
    }
    if p >= 100.0 || legacy_servers == 0 {
        return Weights {
            legacy: 0,
            candidate: 1,
        };
    }
    let (nl, nc) = (legacy_servers as f64, candidate_servers as f64);
    let mut best = Weights {
        legacy: 1,
        candidate: 1,
    };
    let mut best_err = f64::INFINITY;
    // Small search space (max² at most 65 536 for HAProxy): exhaustive is
    // simplest and exact. Smaller pairs come first and win ties.
    for c in 1..=max {
        for l in 1..=max {
            let got = share(f64::from(l) * nl, f64::from(c) * nc);
            let err = (got - p).abs();
            if err + 1e-9 < best_err {
                best_err = err;
                best = Weights {
                    legacy: l,
                    candidate: c,
                };
            }
        }
        if best_err < 1e-9 {
            break;
        }
    }
    best
}

/// [`weights_for`], or why they cannot hold `percent` (within the
/// tolerance of [`same_percent`]) and the closest share they can. `system`
/// names the weights in that message: `HAProxy weights (0 to 256)`.
pub fn holding(
    percent: f64,
    legacy_servers: usize,
    candidate_servers: usize,
    max: u32,
    system: &str,
) -> Result<Weights, String> {
    let w = weights_for(percent, legacy_servers, candidate_servers, max);
    let reached = w.percent(legacy_servers, candidate_servers);
    if same_percent(reached, percent) {
        return Ok(w);
    }
    Err(format!(
        "{system} spread evenly over {legacy_servers} legacy and {candidate_servers} candidate servers cannot hold {}%; the closest is {}%",
        fmt_number(percent),
        fmt_number((reached * 100.0).round() / 100.0)
    ))
}

impl Weights {
    /// The same share in the largest weights up to `max`: `3:1` becomes
    /// `255:85` for HAProxy. HAProxy's weighted round robin takes the new
    /// total into account at once for a server whose weight changes, but a
    /// server raised from 0 is queued behind what is left of the old
    /// weights' round, and the larger its weight, the sooner its turn
    /// comes: from `100:0`, `3:1` serves 14 of the next 100 requests to the
    /// candidate, `255:85` 25. Large weights also make both sides
    /// change at each canary step, so neither keeps a place computed from
    /// the old weights.
    pub fn scaled(self, max: u32) -> Self {
        let k = (max / self.legacy.max(self.candidate).max(1)).max(1);
        Self {
            legacy: self.legacy * k,
            candidate: self.candidate * k,
        }
    }

    /// The candidate's share these weights give, for the server counts.
    pub fn percent(self, legacy_servers: usize, candidate_servers: usize) -> f64 {
        percent_of(
            f64::from(self.legacy) * legacy_servers as f64,
            f64::from(self.candidate) * candidate_servers as f64,
        )
        .unwrap_or(0.0)
    }
}

/// The candidate's share in percent, from the weight sums of each side;
/// `None` when both are zero (no server would get traffic).
pub fn percent_of(legacy_total: f64, candidate_total: f64) -> Option<f64> {
    (legacy_total + candidate_total > 0.0).then(|| share(legacy_total, candidate_total))
}

fn share(legacy_total: f64, candidate_total: f64) -> f64 {
    candidate_total / (legacy_total + candidate_total) * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_back(w: Weights, nl: usize, nc: usize) -> f64 {
        percent_of(
            f64::from(w.legacy) * nl as f64,
            f64::from(w.candidate) * nc as f64,
        )
        .unwrap()
    }

    #[test]
    fn common_canary_steps_are_exact_or_within_tolerance() {
        for (nl, nc) in [(1, 1), (2, 1), (3, 2), (1, 2), (4, 4)] {
            for p in [
                0.0, 1.0, 2.5, 5.0, 10.0, 25.0, 33.3, 50.0, 75.0, 99.0, 100.0,
            ] {
                let w = weights_for(p, nl, nc, 256);
                assert!(w.legacy <= 256 && w.candidate <= 256);
                let got = read_back(w, nl, nc);
                assert!(
                    same_percent(got, p),
                    "{p}% over {nl}+{nc} servers gave {w:?} = {got}%"
                );
            }
        }
    }

    #[test]
    fn some_shares_are_out_of_reach() {
        // One legacy server against three candidates at weight 1 each
        // already gives the candidates 3/259.
        let w = weights_for(1.0, 1, 3, 256);
        assert!(!same_percent(w.percent(1, 3), 1.0));
        let e = holding(1.0, 1, 3, 256, "weights (0 to 256)").unwrap_err();
        assert_eq!(
            e,
            "weights (0 to 256) spread evenly over 1 legacy and 3 candidate servers cannot hold 1%; the closest is 1.16%"
        );
        assert_eq!(
            holding(10.0, 1, 1, 256, "w"),
            Ok(weights_for(10.0, 1, 1, 256))
        );
    }

    #[test]
    fn extremes_never_zero_the_total() {
        assert_eq!(
            weights_for(0.0, 2, 2, 256),
            Weights {
                legacy: 1,
                candidate: 0
            }
        );
        assert_eq!(
            weights_for(100.0, 2, 2, 256),
            Weights {
                legacy: 0,
                candidate: 1
            }
        );
        assert_eq!(percent_of(0.0, 0.0), None);
    }

    #[test]
    fn scaled_weights_are_the_largest_multiple_within_the_maximum() {
        let w = |legacy, candidate| Weights { legacy, candidate };
        // docs/providers.md's examples for HAProxy (at most 256).
        assert_eq!(weights_for(25.0, 1, 1, 256).scaled(256), w(255, 85));
        assert_eq!(weights_for(10.0, 2, 1, 256).scaled(256), w(252, 56));
    }

    #[test]
    fn plain_ratios_for_plain_percents() {
        assert_eq!(
            weights_for(10.0, 1, 1, 256),
            Weights {
                legacy: 9,
                candidate: 1
            }
        );
        assert_eq!(
            weights_for(25.0, 1, 1, 256),
            Weights {
                legacy: 3,
                candidate: 1
            }
        );
        // Two legacy servers, one candidate: 10% is 1 of 10 total.
        assert_eq!(
            weights_for(10.0, 2, 1, 256),
            Weights {
                legacy: 9,
                candidate: 2
            }
        );
    }
}
