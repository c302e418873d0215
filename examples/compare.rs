//! A deterministic simulation of `compare` gates, through the gate's own
//! code (`migrate::domain::compare`, what the engine calls at each look).
//!
//! Traffic: 1,000 requests a minute in all, split between the arms; the
//! gate looks every minute; a soak of 48 h is 2,880 looks. Each look draws
//! each arm's errors as binomial of its requests. Seeds are fixed: the
//! output is the same on every run.
//!
//! 1. False breaches: 1,000 healthy soaks (0.5 % errors in both arms) with
//!    the candidate at 1 % and at 25 % of traffic. On the same data: the
//!    compare gate (`max_ratio: 1`, `alpha: 0.01` — the boundary of the
//!    null, its worst case), an absolute gate (`max: 0.01` on the
//!    candidate's error ratio over each look's minute), and a fixed test
//!    repeated at every look (Kayenta-style: a two-proportion test at
//!    98 % on the counts so far, breaching on its high side).
//! 2. Power: the candidate at 2x and 3x the baseline's 0.5 % at 1, 5 and
//!    25 % of traffic, 1,000 soaks each: the candidate requests seen before
//!    the breach (median, 95th percentile), against the candidate requests
//!    a one-shot two-proportion test at the same alpha and 80 % power
//!    needs.
//!
//! `cargo run --release --example compare` (or, reusing a debug build's
//! dependencies: `cargo run --example compare --config
//! 'profile.dev.package.migrate.opt-level=3'`). `COMPARE_SIM_SOAKS=N`
//! sets the soaks per scenario.

use std::time::Instant;

use migrate::domain::compare::{Counters, Direction, Test, Track, Verdict};

const PER_MINUTE: f64 = 1000.0;
const LOOKS: usize = 2880;
const BASE_RATE: f64 = 0.005;
const ALPHA: f64 = 0.01;
/// z of a 98 % two-sided test's high side (and of a one-sided 1 %).
const Z_98: f64 = 2.326_347_874;
/// z of 80 % power.
const Z_80: f64 = 0.841_621_234;

/// xorshift64*: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, never zero.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Binomial(n, p) by inversion (n p is small here).
    fn binomial(&mut self, n: u64, p: f64) -> u64 {
        if n == 0 || p <= 0.0 {
            return 0;
        }
        let q = 1.0 - p;
        let ratio = p / q;
        let mut f = q.powf(n as f64);
        let mut cdf = f;
        let u = self.uniform();
        let mut k = 0;
        while u > cdf && k < n {
            f *= ratio * (n - k) as f64 / (k + 1) as f64;
            k += 1;
            cdf += f;
        }
        k
    }
}

/// One soak's arms.
#[derive(Clone, Copy)]
struct Scenario {
    share: f64,
    candidate_rate: f64,
}

impl Scenario {
    fn requests(&self) -> (u64, u64) {
        let c = (PER_MINUTE * self.share).round() as u64;
        (c, PER_MINUTE as u64 - c)
    }
}

/// What each gate did over one soak.
#[derive(Default, Clone, Copy)]
struct Outcome {
    /// Candidate requests seen when the compare gate breached.
    compare: Option<u64>,
    absolute: bool,
    repeated: bool,
}

fn soak(sc: Scenario, seed: u64, others: bool) -> Outcome {
    let mut rng = Rng::new(seed);
    let test = Test {
        max_ratio: 1.0,
        direction: Direction::Increase,
        alpha: ALPHA,
    };
    let (nc, nb) = sc.requests();
    let mut now = Counters::default();
    let mut track = Track::look(None, &test, now);
    let mut out = Outcome::default();
    for look in 1..=LOOKS {
        let ec = rng.binomial(nc, sc.candidate_rate);
        let eb = rng.binomial(nb, BASE_RATE);
        now.candidate_events += ec as f64;
        now.candidate_total += nc as f64;
        now.baseline_events += eb as f64;
        now.baseline_total += nb as f64;
        if out.compare.is_none() {
            track = Track::look(Some(&track), &test, now);
            if track.verdict(ALPHA) == Verdict::Breach {
                out.compare = Some(nc * look as u64);
                if !others {
                    return out;
                }
            }
        }
        if others {
            // max: 0.01 on the candidate's error ratio of the minute.
            if nc > 0 && ec as f64 / nc as f64 > 0.01 {
                out.absolute = true;
            }
            // A fixed two-proportion test on the counts so far, at every look.
            if !out.repeated && z_score(&now) > Z_98 {
                out.repeated = true;
            }
        }
    }
    out
}

/// The pooled two-proportion z of the candidate's rate over the baseline's.
fn z_score(c: &Counters) -> f64 {
    let (x1, n1, x2, n2) = (
        c.candidate_events,
        c.candidate_total,
        c.baseline_events,
        c.baseline_total,
    );
    if n1 == 0.0 || n2 == 0.0 {
        return 0.0;
    }
    let pooled = (x1 + x2) / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if se == 0.0 {
        return 0.0;
    }
    (x1 / n1 - x2 / n2) / se
}

/// Candidate requests a one-shot two-proportion test (one-sided, `ALPHA`)
/// needs for 80 % power, baseline `k` times the candidate's traffic.
fn fixed_sample(p1: f64, p0: f64, k: f64) -> f64 {
    let pbar = (p1 + k * p0) / (1.0 + k);
    let a = Z_98 * (pbar * (1.0 - pbar) * (1.0 + 1.0 / k)).sqrt();
    let b = Z_80 * (p1 * (1.0 - p1) + p0 * (1.0 - p0) / k).sqrt();
    ((a + b) / (p1 - p0)).powi(2)
}

/// Run `n` soaks of a scenario on two threads.
fn run(sc: Scenario, id: u64, n: usize, others: bool) -> Vec<Outcome> {
    let half = n / 2;
    let work = |from: usize, to: usize| -> Vec<Outcome> {
        (from..to)
            .map(|i| soak(sc, id * 1_000_003 + i as u64, others))
            .collect()
    };
    std::thread::scope(|s| {
        let first = s.spawn(|| work(0, half));
        let second = work(half, n);
        let mut all = first.join().unwrap_or_default();
        all.extend(second);
        all
    })
}

/// The `q` quantile over `n` soaks, of which those in `sorted` breached
/// (the others never did: later than any).
fn quantile(sorted: &[u64], n: usize, q: f64) -> String {
    let i = ((n as f64 - 1.0) * q).round() as usize;
    sorted
        .get(i)
        .map_or_else(|| "not within 48 h".to_string(), |v| v.to_string())
}

fn pct(k: usize, n: usize) -> String {
    format!("{:.1} %", 100.0 * k as f64 / n as f64)
}

fn main() {
    let n: usize = std::env::var("COMPARE_SIM_SOAKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let started = Instant::now();
    println!(
        "traffic {PER_MINUTE} requests/minute, one look a minute, {LOOKS} looks (48 h); alpha {ALPHA}; {n} soaks per scenario\n"
    );
    println!("False breaches (both arms {} % errors):", BASE_RATE * 100.0);
    println!("| candidate share | candidate req/min | compare (max_ratio 1, alpha 0.01) | absolute max: 0.01 per look | fixed 98 % test repeated each look |");
    println!("|---|---|---|---|---|");
    for (id, share) in [(1u64, 0.01), (2, 0.25)] {
        let sc = Scenario {
            share,
            candidate_rate: BASE_RATE,
        };
        let out = run(sc, id, n, true);
        let compare = out.iter().filter(|o| o.compare.is_some()).count();
        let absolute = out.iter().filter(|o| o.absolute).count();
        let repeated = out.iter().filter(|o| o.repeated).count();
        println!(
            "| {} % | {} | {} ({compare}/{n}) | {} ({absolute}/{n}) | {} ({repeated}/{n}) |",
            share * 100.0,
            sc.requests().0,
            pct(compare, n),
            pct(absolute, n),
            pct(repeated, n)
        );
    }
    println!("\nPower (candidate requests before the breach; baseline 0.5 % errors):");
    println!("| regression | candidate share | detected within 48 h | median | 95th percentile | one-shot test, 80 % power |");
    println!("|---|---|---|---|---|---|");
    let mut id = 10;
    for factor in [2.0, 3.0] {
        for share in [0.01, 0.05, 0.25] {
            id += 1;
            let sc = Scenario {
                share,
                candidate_rate: BASE_RATE * factor,
            };
            let out = run(sc, id, n, false);
            let mut seen: Vec<u64> = out.iter().filter_map(|o| o.compare).collect();
            seen.sort_unstable();
            let k = (1.0 - share) / share;
            let fixed = fixed_sample(BASE_RATE * factor, BASE_RATE, k);
            println!(
                "| {factor}x | {} % | {} | {} | {} | {:.0} |",
                share * 100.0,
                pct(seen.len(), n),
                quantile(&seen, n, 0.5),
                quantile(&seen, n, 0.95),
                fixed
            );
        }
    }
    eprintln!("\n(simulated in {:.1} s)", started.elapsed().as_secs_f64());
}
