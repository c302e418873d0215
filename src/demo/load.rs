//! The users: a steady stream of payment writes and reads against the
//! front door, at fixed rates (open loop: a slow answer does not slow the
//! stream, as with real customers), from a fixed set of customers. Reads
//! ask for payments that exist — the history and what was written since —
//! each on behalf of the customer who owns it.
//!
//! What users see is counted here: every answer other than 2xx (and every
//! request that got no answer) is an error seen by a user.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::{JoinHandle, JoinSet};

use super::store::{customer, splitmix64, CURRENCIES};

/// Requests in flight beyond which a tick is skipped rather than piling
/// more onto a system that does not keep up.
const MAX_IN_FLIGHT: u64 = 256;
/// Payments remembered for reads.
const MAX_KNOWN: usize = 50_000;

#[derive(Clone, Debug)]
pub struct Rates {
    pub writes_per_second: u32,
    pub reads_per_second: u32,
    pub customers: usize,
}

#[derive(Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub ok: AtomicU64,
    pub errors: AtomicU64,
    pub skipped: AtomicU64,
    in_flight: AtomicU64,
}

/// Counts at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    pub skipped: u64,
}

impl Stats {
    pub fn counts(&self) -> Counts {
        Counts {
            sent: self.sent.load(Ordering::Relaxed),
            ok: self.ok.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
        }
    }
}

/// The running load.
pub struct Load {
    pub stats: Arc<Stats>,
    task: JoinHandle<()>,
}

impl Load {
    /// Start sending to `front` (the front door's base URL); `known` are
    /// payments that exist, as (id, customer).
    pub fn start(front: String, known: Vec<(String, String)>, rates: Rates) -> Load {
        let stats = Arc::new(Stats::default());
        let task = tokio::spawn(run(front, known, rates, stats.clone()));
        Load { stats, task }
    }

    /// Stop sending; requests in flight are dropped.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    client: reqwest::Client,
    front: String,
    known: Mutex<VecDeque<(String, String)>>,
    stats: Arc<Stats>,
}

async fn run(front: String, known: Vec<(String, String)>, rates: Rates, stats: Arc<Stats>) {
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(64)
        .build()
    else {
        return;
    };
    let shared = Arc::new(Shared {
        client,
        front,
        known: Mutex::new(known.into()),
        stats,
    });
    let total = u64::from(rates.writes_per_second + rates.reads_per_second).max(1);
    let writes = u64::from(rates.writes_per_second);
    let mut tick = tokio::time::interval(Duration::from_secs(1) / total as u32);
    // A stalled generator does not catch up in a burst.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Dropped with this task: aborts what is in flight.
    let mut requests = JoinSet::new();
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        while requests.try_join_next().is_some() {}
        let k = n % total;
        // Spread the writes evenly among the ticks of a second.
        let is_write = (k + 1) * writes / total > k * writes / total;
        let r = splitmix64(n ^ 0xdeed_beef);
        n += 1;
        if shared.stats.in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
            shared.stats.skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let s = shared.clone();
        let customers = rates.customers.max(1);
        requests.spawn(async move {
            s.stats.in_flight.fetch_add(1, Ordering::Relaxed);
            s.stats.sent.fetch_add(1, Ordering::Relaxed);
            let ok = if is_write {
                write(&s, r, customers).await
            } else {
                read(&s, r).await
            };
            let counter = if ok { &s.stats.ok } else { &s.stats.errors };
            counter.fetch_add(1, Ordering::Relaxed);
            s.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn write(s: &Shared, r: u64, customers: usize) -> bool {
    let who = customer((r % customers as u64) as usize);
    let body = serde_json::json!({
        "customer": who,
        "amount_cents": 100 + (r >> 16) % 50_000,
        "currency": CURRENCIES[((r >> 8) % CURRENCIES.len() as u64) as usize],
    });
    let sent = s
        .client
        .post(format!("{}/payments", s.front))
        .header("x-customer", &who)
        .json(&body)
        .send()
        .await;
    let Ok(resp) = sent else {
        return false;
    };
    if !resp.status().is_success() {
        return false;
    }
    let Ok(v) = resp.json::<serde_json::Value>().await else {
        return false;
    };
    if let Some(id) = v.get("id").and_then(|i| i.as_str()) {
        let mut known = s.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= MAX_KNOWN {
            known.pop_front();
        }
        known.push_back((id.to_string(), who));
    }
    true
}

async fn read(s: &Shared, r: u64) -> bool {
    let pick = {
        let known = s.known.lock().unwrap_or_else(|p| p.into_inner());
        let len = known.len() as u64;
        if len == 0 {
            None
        } else {
            // Half the reads are of recent payments, half of any.
            let i = if r.is_multiple_of(2) {
                len - 1 - (r >> 1) % len.min(500)
            } else {
                (r >> 1) % len
            };
            known.get(i as usize).cloned()
        }
    };
    let Some((id, who)) = pick else {
        return true;
    };
    let sent = s
        .client
        .get(format!("{}/payments/{id}", s.front))
        .header("x-customer", &who)
        .send()
        .await;
    match sent {
        Ok(resp) => resp.status().is_success() && resp.bytes().await.is_ok(),
        Err(_) => false,
    }
}
