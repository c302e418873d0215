//! The system the demo migrates, all in this process on loopback:
//!
//! - **legacy** — the payments monolith's API, over its own SQLite file
//!   (`legacy.db`), which starts with a year of history nobody else has;
//! - **candidate** — payments-v2, its replacement, over `candidate.db`
//!   (a schema of its own: `amount_minor` for `amount_cents`);
//! - **the front door** — the application's entry point. It reads the
//!   flagd file like an OpenFeature in-process provider ([`super::flags`])
//!   and routes each request by three flags, keyed by the customer:
//!   `candidate` (the share of live requests payments-v2 serves),
//!   `dual-write` (every write is copied into the other service's store,
//!   so both stay complete whichever side served it) and `shadow-reads`
//!   (a share of the reads legacy serves is also sent to payments-v2, its
//!   answer compared and discarded). It serves `/metrics`.
//!
//! Both services share one API:
//!
//! ```text
//! POST /payments        {"customer", "amount_cents", "currency"} → 201 the payment
//! GET  /payments/{id}   → 200 the payment, 404
//! PUT  /payments/{id}   a whole payment, stored as is (dual-write copies)
//! ```
//!
//! The planted bug: payments-v2 authorizes each *new* payment under a quota
//! sized from a load test at a tenth of production traffic — a few per
//! second. Beyond it, it sheds the payment with 503. Copies and reads are
//! not authorized, so dual writes and shadow reads never meet the quota;
//! only live writes do, and they pass it somewhere between 5% and 25% of
//! the traffic. [`Limiter::set_rate`] is the fix.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use hyper::{Method, StatusCode};

use super::flags::FlagClient;
use super::metrics::{Metrics, Side};
use super::store::{NewPayment, Payment, Store};
use crate::http::{self, Reply, Req, Server};

/// Flag keys, as the plan names them.
pub const CANDIDATE_FLAG: &str = "candidate";
pub const DUAL_WRITE_FLAG: &str = "dual-write";
pub const SHADOW_FLAG: &str = "shadow-reads";

/// The flag file as the operator left it: every switch off.
pub const INITIAL_FLAGS: &str = r#"{
  "$schema": "https://flagd.dev/schema/v0/flags.json",
  "flags": {
    "dual-write": {
      "state": "ENABLED",
      "variants": { "on": true, "off": false },
      "defaultVariant": "off"
    },
    "shadow-reads": {
      "state": "ENABLED",
      "variants": { "on": true, "off": false },
      "defaultVariant": "off"
    },
    "candidate": {
      "state": "ENABLED",
      "variants": { "on": true, "off": false },
      "defaultVariant": "off"
    }
  }
}
"#;

/// How the system is sized.
#[derive(Clone, Debug)]
pub struct Sizing {
    /// Payments only the monolith has at the start.
    pub historic_rows: usize,
    pub customers: usize,
    /// payments-v2's authorization quota (new payments a second), as
    /// shipped, and after the fix.
    pub quota: f64,
    pub fixed_quota: f64,
}

/// A token bucket: `rate` admissions a second, up to `rate` at once.
pub struct Limiter {
    inner: Mutex<Bucket>,
}

struct Bucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Limiter {
    pub fn new(rate: f64) -> Self {
        Self {
            inner: Mutex::new(Bucket {
                rate,
                tokens: rate,
                last: Instant::now(),
            }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Bucket) -> T) -> T {
        let mut b = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut b)
    }

    pub fn admit(&self) -> bool {
        self.with(|b| {
            let now = Instant::now();
            let elapsed = now.duration_since(b.last).as_secs_f64();
            b.last = now;
            b.tokens = (b.tokens + elapsed * b.rate).min(b.rate.max(1.0));
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                true
            } else {
                false
            }
        })
    }

    pub fn rate(&self) -> f64 {
        self.with(|b| b.rate)
    }

    /// Change the quota (deploying the fix).
    pub fn set_rate(&self, rate: f64) {
        self.with(|b| {
            b.rate = rate;
            b.tokens = rate;
            b.last = Instant::now();
        });
    }
}

/// One of the two services.
struct Service {
    side: Side,
    store: Store,
    /// The authorization quota of new payments (payments-v2 only).
    quota: Option<Arc<Limiter>>,
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

async fn serve_service(svc: Arc<Service>, req: Req) -> Reply {
    let parts = segments(&req.path);
    match (&req.method, parts.as_slice()) {
        (&Method::POST, ["payments"]) => create(&svc, &req.body).await,
        (&Method::GET, ["payments", id]) => match svc.store.get(id).await {
            Ok(Some(p)) => payment_reply(StatusCode::OK, &p),
            Ok(None) => http::error(StatusCode::NOT_FOUND, &format!("no payment {id}")),
            Err(e) => store_error(&svc, &e),
        },
        (&Method::PUT, ["payments", id]) => {
            let p: Payment = match serde_json::from_slice(&req.body) {
                Ok(p) => p,
                Err(e) => return http::error(StatusCode::BAD_REQUEST, &format!("a payment: {e}")),
            };
            if p.id != *id {
                return http::error(StatusCode::BAD_REQUEST, "the id differs from the path's");
            }
            match svc.store.upsert(&p).await {
                Ok(()) => payment_reply(StatusCode::OK, &p),
                Err(e) => store_error(&svc, &e),
            }
        }
        _ => http::error(StatusCode::NOT_FOUND, "no such route"),
    }
}

async fn create(svc: &Service, body: &[u8]) -> Reply {
    let new: NewPayment = match serde_json::from_slice(body) {
        Ok(n) => n,
        Err(e) => return http::error(StatusCode::BAD_REQUEST, &format!("a new payment: {e}")),
    };
    if let Err(e) = new.check() {
        return http::error(StatusCode::BAD_REQUEST, &e);
    }
    if let Some(q) = &svc.quota {
        if !q.admit() {
            return http::error(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!(
                    "{}: authorization quota exhausted ({} a second); try again later",
                    svc.side.name(),
                    crate::providers::fmt_number(q.rate())
                ),
            );
        }
    }
    let p = new.accept();
    match svc.store.insert(&p).await {
        Ok(()) => payment_reply(StatusCode::CREATED, &p),
        Err(e) => store_error(svc, &e),
    }
}

fn payment_reply(status: StatusCode, p: &Payment) -> Reply {
    match serde_json::to_value(p) {
        Ok(v) => http::json(status, &v),
        Err(e) => http::error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn store_error(svc: &Service, e: &anyhow::Error) -> Reply {
    http::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!("{}: database: {e:#}", svc.side.name()),
    )
}

/// The front door: routes by flags, copies writes, shadows reads.
struct FrontDoor {
    flags: FlagClient,
    legacy: String,
    candidate: String,
    client: reqwest::Client,
    metrics: Arc<Metrics>,
}

/// What a service answered (or the front door's own 502 when it did not).
struct Answer {
    status: u16,
    body: Bytes,
}

impl FrontDoor {
    fn base(&self, side: Side) -> &str {
        match side {
            Side::Legacy => &self.legacy,
            Side::Candidate => &self.candidate,
        }
    }

    async fn call(&self, method: Method, side: Side, path: &str, body: Option<Bytes>) -> Answer {
        let url = format!("{}{path}", self.base(side));
        let mut req = self.client.request(method, &url);
        if let Some(b) = body {
            req = req
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .body(b);
        }
        let sent = async {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let body = resp.bytes().await?;
            Ok::<_, reqwest::Error>(Answer { status, body })
        }
        .await;
        sent.unwrap_or_else(|e| Answer {
            status: StatusCode::BAD_GATEWAY.as_u16(),
            body: Bytes::from(
                serde_json::json!({
                    "error": format!("{} did not answer: {}", side.name(), e.without_url())
                })
                .to_string(),
            ),
        })
    }

    async fn write(self: Arc<Self>, req: Req) -> Reply {
        let customer = req.header("x-customer").map(str::to_string).or_else(|| {
            serde_json::from_slice::<serde_json::Value>(&req.body)
                .ok()
                .and_then(|v| {
                    v.get("customer")
                        .and_then(|c| c.as_str())
                        .map(str::to_string)
                })
        });
        let key = customer.unwrap_or_default();
        let flags = self.flags.snapshot();
        let percent = flags.percent(CANDIDATE_FLAG);
        let side = if flags.enabled(CANDIDATE_FLAG, &key) {
            Side::Candidate
        } else {
            Side::Legacy
        };
        let started = Instant::now();
        let answer = self
            .call(Method::POST, side, "/payments", Some(req.body))
            .await;
        self.metrics
            .request(side, "create", answer.status, started.elapsed(), percent);
        if answer.status == StatusCode::CREATED.as_u16() && flags.enabled(DUAL_WRITE_FLAG, &key) {
            // The copy: the other store gets the payment exactly as
            // stored, id and time included. A failed copy does not fail
            // the user's write; the reconciliation finds and repairs it.
            let copied = match serde_json::from_slice::<Payment>(&answer.body) {
                Ok(p) => {
                    let path = format!("/payments/{}", p.id);
                    let copy = self
                        .call(Method::PUT, side.other(), &path, Some(answer.body.clone()))
                        .await;
                    (200..300).contains(&copy.status)
                }
                Err(_) => false,
            };
            self.metrics.dual_write(side.other(), copied);
        }
        http::json_bytes(status_code(answer.status), answer.body)
    }

    async fn read(self: Arc<Self>, req: Req, id: String) -> Reply {
        let key = req
            .header("x-customer")
            .map_or_else(|| id.clone(), str::to_string);
        let flags = self.flags.snapshot();
        let percent = flags.percent(CANDIDATE_FLAG);
        let side = if flags.enabled(CANDIDATE_FLAG, &key) {
            Side::Candidate
        } else {
            Side::Legacy
        };
        let path = format!("/payments/{id}");
        let started = Instant::now();
        let answer = self.call(Method::GET, side, &path, None).await;
        self.metrics
            .request(side, "read", answer.status, started.elapsed(), percent);
        if side == Side::Legacy && answer.status == 200 && flags.enabled(SHADOW_FLAG, &key) {
            let me = self.clone();
            let served = answer.body.clone();
            tokio::spawn(async move {
                let shadow = me.call(Method::GET, Side::Candidate, &path, None).await;
                let result = if shadow.status != 200 {
                    "error"
                } else if same_json(&served, &shadow.body) {
                    "match"
                } else {
                    "mismatch"
                };
                me.metrics.shadow(result);
            });
        }
        http::json_bytes(status_code(answer.status), answer.body)
    }
}

fn status_code(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY)
}

fn same_json(a: &[u8], b: &[u8]) -> bool {
    match (
        serde_json::from_slice::<serde_json::Value>(a),
        serde_json::from_slice::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

const FRONT_HELP: &str = "The payments front door (migrate demo).

POST /payments        {\"customer\": \"cus_0042\", \"amount_cents\": 1299, \"currency\": \"EUR\"}
GET  /payments/{id}   (header X-Customer: the customer, who decides the route)
GET  /metrics         Prometheus text: requests, errors and latency per service

Routing follows the flags in flags.json: candidate (share of live requests to
payments-v2), dual-write (copy every write into the other store), shadow-reads
(share of reads also sent to payments-v2, answer compared and discarded).
";

async fn serve_front(front: Arc<FrontDoor>, req: Req) -> Reply {
    let parts = segments(&req.path);
    match (&req.method, parts.as_slice()) {
        (&Method::GET, ["metrics"]) => http::metrics(front.metrics.render()),
        (&Method::GET, []) => http::text(StatusCode::OK, FRONT_HELP),
        (&Method::POST, ["payments"]) => front.clone().write(req).await,
        (&Method::GET, ["payments", id]) => {
            let id = (*id).to_string();
            front.clone().read(req, id).await
        }
        _ => http::error(StatusCode::NOT_FOUND, "no such route (GET / lists them)"),
    }
}

/// The running system.
pub struct System {
    pub dir: PathBuf,
    pub front: Server,
    pub legacy: Server,
    pub candidate: Server,
    legacy_store: Store,
    candidate_store: Store,
    /// payments-v2's authorization quota.
    pub quota: Arc<Limiter>,
    pub metrics: Arc<Metrics>,
    pub flags: FlagClient,
    flag_task: tokio::task::JoinHandle<()>,
    /// The monolith's historic payments: (id, customer).
    pub history: Vec<(String, String)>,
}

impl System {
    /// Create the databases and the flag file in `dir`, and start the
    /// three servers.
    pub async fn start(dir: &Path, sizing: &Sizing) -> anyhow::Result<System> {
        let flag_file = dir.join("flags.json");
        std::fs::write(&flag_file, INITIAL_FLAGS)
            .with_context(|| format!("writing {}", flag_file.display()))?;
        let legacy_store = Store::create(&dir.join("legacy.db"), "amount_cents").await?;
        let candidate_store = Store::create(&dir.join("candidate.db"), "amount_minor").await?;
        let history = legacy_store
            .seed_history(sizing.historic_rows, sizing.customers)
            .await
            .context("writing the monolith's history")?;
        let quota = Arc::new(Limiter::new(sizing.quota));
        let legacy = start_service(Service {
            side: Side::Legacy,
            store: legacy_store.clone(),
            quota: None,
        })
        .await?;
        let candidate = start_service(Service {
            side: Side::Candidate,
            store: candidate_store.clone(),
            quota: Some(quota.clone()),
        })
        .await?;
        let (flags, flag_task) = FlagClient::watch(&flag_file);
        let metrics = Arc::new(Metrics::default());
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .build()
            .context("building the front door's HTTP client")?;
        let front = Arc::new(FrontDoor {
            flags: flags.clone(),
            legacy: legacy.url(),
            candidate: candidate.url(),
            client,
            metrics: metrics.clone(),
        });
        let front = Server::start(http::handler(move |req| serve_front(front.clone(), req)))
            .await
            .context("starting the front door")?;
        Ok(System {
            dir: dir.to_path_buf(),
            front,
            legacy,
            candidate,
            legacy_store,
            candidate_store,
            quota,
            metrics,
            flags,
            flag_task,
            history,
        })
    }

    pub fn metrics_url(&self) -> String {
        format!("{}/metrics", self.front.url())
    }

    /// Rows in each store now.
    pub async fn rows(&self) -> (u64, u64) {
        (
            self.legacy_store.count().await.unwrap_or(0),
            self.candidate_store.count().await.unwrap_or(0),
        )
    }

    /// Stop the servers and close the databases.
    pub async fn stop(self) {
        self.flag_task.abort();
        drop(self.front);
        drop(self.legacy);
        drop(self.candidate);
        self.legacy_store.close().await;
        self.candidate_store.close().await;
    }
}

async fn start_service(svc: Service) -> anyhow::Result<Server> {
    let name = svc.side.name();
    let svc = Arc::new(svc);
    Server::start(http::handler(move |req| serve_service(svc.clone(), req)))
        .await
        .with_context(|| format!("starting the {name} service"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_admits_its_rate_and_sheds_the_rest() {
        let q = Limiter::new(5.0);
        let admitted = (0..20).filter(|_| q.admit()).count();
        assert_eq!(admitted, 5, "a burst is cut at the quota");
        q.set_rate(500.0);
        assert!((0..100).all(|_| q.admit()));
    }

    #[tokio::test]
    async fn the_front_door_routes_copies_and_shadows_by_the_flag_file() {
        let dir = tempfile::tempdir().unwrap();
        let sys = System::start(
            dir.path(),
            &Sizing {
                historic_rows: 20,
                customers: 5,
                quota: 1000.0,
                fixed_quota: 1000.0,
            },
        )
        .await
        .unwrap();
        let client = reqwest::Client::new();
        let front = sys.front.url();
        let write = |customer: &str| {
            client
                .post(format!("{front}/payments"))
                .header("x-customer", customer)
                .json(&serde_json::json!({"customer": customer, "amount_cents": 500, "currency": "EUR"}))
                .send()
        };
        // Everything off: legacy serves, nothing is copied.
        let r = write("cus_0001").await.unwrap();
        assert_eq!(r.status(), 201);
        let p: Payment = r.json().await.unwrap();
        assert_eq!(sys.rows().await, (21, 0));
        // Dual writes on: a write lands in both stores.
        let mut doc: serde_json::Value = serde_json::from_str(INITIAL_FLAGS).unwrap();
        doc["flags"][DUAL_WRITE_FLAG]["defaultVariant"] = "on".into();
        std::fs::write(dir.path().join("flags.json"), doc.to_string()).unwrap();
        let on = |s: &super::super::flags::Snapshot| s.enabled(DUAL_WRITE_FLAG, "x");
        for _ in 0..50 {
            if on(&sys.flags.snapshot()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(on(&sys.flags.snapshot()), "the flag file is re-read");
        let r = write("cus_0002").await.unwrap();
        assert_eq!(r.status(), 201);
        let q: Payment = r.json().await.unwrap();
        assert_eq!(sys.rows().await, (22, 1));
        assert_eq!(
            sys.candidate_store.get(&q.id).await.unwrap(),
            Some(q.clone())
        );
        // Reads come back from legacy, the same as written.
        let got: Payment = client
            .get(format!("{front}/payments/{}", p.id))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(got, p);
        let page = client
            .get(sys.metrics_url())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains(
                "payments_requests_total{service=\"legacy\",operation=\"create\",code=\"201\"} 2"
            ),
            "{page}"
        );
        assert!(page.contains("payments_dual_writes_total{to=\"candidate\",result=\"ok\"} 1"));
        // payments-v2 serves everyone, shadow reads on: a write goes to
        // payments-v2 and is copied into the monolith's store.
        doc["flags"][CANDIDATE_FLAG]["defaultVariant"] = "on".into();
        doc["flags"][SHADOW_FLAG]["defaultVariant"] = "on".into();
        std::fs::write(dir.path().join("flags.json"), doc.to_string()).unwrap();
        for _ in 0..50 {
            if sys.flags.snapshot().percent(CANDIDATE_FLAG) == 100.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let r = write("cus_0003").await.unwrap();
        assert_eq!(r.status(), 201);
        let c: Payment = r.json().await.unwrap();
        assert_eq!(sys.rows().await, (23, 2));
        assert_eq!(sys.legacy_store.get(&c.id).await.unwrap(), Some(c.clone()));
        let t = sys.metrics.totals();
        assert_eq!((t.legacy, t.candidate), (3, 1), "{t:?}");
        // Reads served by payments-v2 are not shadowed; back on legacy,
        // they are, and payments-v2 answers the same.
        doc["flags"][CANDIDATE_FLAG]["defaultVariant"] = "off".into();
        std::fs::write(dir.path().join("flags.json"), doc.to_string()).unwrap();
        for _ in 0..50 {
            if sys.flags.snapshot().percent(CANDIDATE_FLAG) == 0.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let got = client
            .get(format!("{front}/payments/{}", q.id))
            .header("x-customer", "cus_0002")
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200);
        for _ in 0..50 {
            if sys.metrics.totals().shadow > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let t = sys.metrics.totals();
        assert_eq!((t.shadow, t.shadow_mismatches), (1, 0), "{t:?}");
        // The quota sheds new payments on payments-v2 only.
        sys.quota.set_rate(0.5);
        let _ = sys.quota.admit();
        let direct = client
            .post(format!("{}/payments", sys.candidate.url()))
            .json(&serde_json::json!({"customer": "c", "amount_cents": 1, "currency": "EUR"}))
            .send()
            .await
            .unwrap();
        assert_eq!(direct.status(), 503);
        sys.stop().await;
    }
}
