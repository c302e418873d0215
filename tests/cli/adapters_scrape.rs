//! The `scrape` adapter reading a real `/metrics` page served by the
//! test, which changes the page between scrapes like a live service.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use migrate::providers::{Failure, Registry};
use testbed::http::{Response, Server};

fn registry(settings: &str, url: &str) -> Registry {
    let text = format!(
        "version: 1\nname: scrape-test\nsettings: {settings}\nproviders:\n  app: {{ type: scrape, url: \"{url}\" }}\nphases:\n  - name: p\n    steps:\n      - approve: go\n"
    );
    match migrate::plan::validate(
        &text,
        &HashMap::<String, String>::new(),
        migrate::providers::catalog(),
    ) {
        Ok(v) => Registry::new(&v.plan),
        Err(d) => panic!("invalid test plan: {d:#?}"),
    }
}

/// A page whose text the test sets.
fn page_server(initial: &str) -> (Server, Arc<Mutex<String>>) {
    let page = Arc::new(Mutex::new(initial.to_string()));
    let p = page.clone();
    let server = Server::start(move |r| {
        if r.path() != "/metrics" {
            return Response::new(404, "404 page not found");
        }
        Response::ok(p.lock().unwrap().clone())
            .header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
    })
    .unwrap();
    (server, page)
}

const PAGE: &str = r#"# HELP http_requests_total Requests served.
# TYPE http_requests_total counter
http_requests_total{code="200",method="GET"} 1000
http_requests_total{code="200",method="POST"} 500
http_requests_total{code="503",method="POST"} 7 1700000000000
# TYPE queue_depth gauge
queue_depth{queue="payments"} 3
queue_depth{queue="refunds"} 4
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.1"} 90
latency_seconds_bucket{le="+Inf"} 100
latency_seconds_sum 4.2
latency_seconds_count 100
"#;

#[tokio::test]
async fn selectors_sum_the_matching_samples_of_a_fresh_scrape() {
    let (server, page) = page_server(PAGE);
    let reg = registry("{ timeout: 5s, retries: 0 }", &server.url("/metrics"));
    let m = reg.metrics("app").unwrap();
    assert_eq!(m.query("queue_depth").await.unwrap(), Some(7.0));
    assert_eq!(
        m.query(r#"queue_depth{queue="refunds"}"#).await.unwrap(),
        Some(4.0)
    );
    assert_eq!(
        m.query(r#"http_requests_total{code=~"5..", method!="GET"}"#)
            .await
            .unwrap(),
        Some(7.0)
    );
    assert_eq!(
        m.query(r#"latency_seconds_bucket{le="+Inf"}"#)
            .await
            .unwrap(),
        Some(100.0)
    );
    assert_eq!(
        m.query("latency_seconds_sum / latency_seconds_count")
            .await
            .unwrap(),
        Some(0.042)
    );
    assert_eq!(m.query("no_such_metric").await.unwrap(), None);
    // Each query reads the page afresh.
    *page.lock().unwrap() = "queue_depth{queue=\"payments\"} 10\n".to_string();
    assert_eq!(m.query("queue_depth").await.unwrap(), Some(10.0));
    let req = server.requests().pop().unwrap();
    assert!(
        req.header("accept").unwrap_or("").contains("text/plain"),
        "{req:?}"
    );
}

#[tokio::test]
async fn a_first_rate_scrapes_twice_and_later_ones_use_the_previous_page() {
    // Every scrape sees 40 more requests, 10 of them errors.
    let scrapes = Arc::new(AtomicU64::new(0));
    let s = scrapes.clone();
    let server = Server::start(move |_| {
        let n = s.fetch_add(1, Ordering::SeqCst) + 1;
        Response::ok(format!(
            "http_requests_total{{code=\"200\"}} {}\nhttp_requests_total{{code=\"500\"}} {}\n",
            30 * n,
            10 * n
        ))
    })
    .unwrap();
    // A short timeout makes the gap between the first two scrapes short.
    let reg = registry("{ timeout: 400ms, retries: 0 }", &server.url("/metrics"));
    let m = reg.metrics("app").unwrap();
    let q = r#"rate(http_requests_total{code=~"5.."}) / rate(http_requests_total)"#;
    assert_eq!(m.query(q).await.unwrap(), Some(0.25));
    assert_eq!(server.requests().len(), 2, "a fresh process scrapes twice");
    let per_second = m.query("rate(http_requests_total)").await.unwrap().unwrap();
    assert!(per_second > 0.0 && per_second.is_finite(), "{per_second}");

    // Once the last page is older than the gap, one scrape is enough.
    tokio::time::sleep(Duration::from_millis(600)).await;
    server.clear();
    assert_eq!(m.query(q).await.unwrap(), Some(0.25));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn restarted_counters_and_idle_services() {
    let (server, page) = page_server("req_total{code=\"200\"} 1000\nreq_total{code=\"500\"} 100\n");
    let reg = registry("{ timeout: 300ms, retries: 0 }", &server.url("/metrics"));
    let m = reg.metrics("app").unwrap();
    let q = r#"rate(req_total{code="500"}) / rate(req_total)"#;
    // Idle: no new requests between the two scrapes → no data.
    assert_eq!(m.query(q).await.unwrap(), None);
    // The service restarts: its counters start again from zero.
    *page.lock().unwrap() = "req_total{code=\"200\"} 6\nreq_total{code=\"500\"} 2\n".to_string();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(m.query(q).await.unwrap(), Some(0.25));
    // Only successes so far, and no error series at all: zero errors.
    *page.lock().unwrap() = "req_total{code=\"200\"} 50\n".to_string();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(m.query(q).await.unwrap(), Some(0.0));
}

#[tokio::test]
async fn unreadable_pages_and_bad_answers_are_errors() {
    let (server, page) = page_server("good 1\n# TYPE x counter\nbad{code=\"500} 3\ngood 2\n");
    let reg = registry("{ timeout: 5s, retries: 1 }", &server.url("/metrics"));
    let m = reg.metrics("app").unwrap();
    let e = m.query("good").await.unwrap_err();
    assert_eq!(e.failure, Failure::Garbage);
    assert!(e.message.contains("line 3"), "{e}");
    assert!(e.message.contains("bad{code="), "the line is quoted: {e}");
    assert!(
        e.to_string()
            .starts_with("scrape provider 'app': querying \"good\""),
        "{e}"
    );

    *page.lock().unwrap() = "good 1\n".to_string();
    let e = m.query("sum(rate(good[5m]))").await.unwrap_err();
    assert_eq!(e.failure, Failure::Rejected);
    assert!(e.message.contains("invalid query: column 1"), "{e}");

    let reg = registry("{ timeout: 5s, retries: 1 }", &server.url("/wrong"));
    server.clear();
    let e = reg.metrics("app").unwrap().query("good").await.unwrap_err();
    assert_eq!(e.failure, Failure::Rejected);
    assert!(e.message.contains("404"), "{e}");
    assert_eq!(server.requests().len(), 1, "a 404 is not retried");
}

#[tokio::test]
async fn a_page_that_never_comes_times_out_and_is_retried() {
    let server = Server::start(|_| Response::never()).unwrap();
    let reg = registry("{ timeout: 300ms, retries: 1 }", &server.url("/metrics"));
    let e = reg
        .metrics("app")
        .unwrap()
        .query("rate(x)")
        .await
        .unwrap_err();
    assert_eq!(e.failure, Failure::Transient);
    assert_eq!(server.requests().len(), 2, "first try and one retry");
}
