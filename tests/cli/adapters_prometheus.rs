//! The `prometheus` adapter against a real Prometheus server (started by
//! the test, scraping a page the test serves): vectors, scalars, empty
//! results, several series, refused queries, and a server that is gone.

use std::collections::HashMap;

use migrate::providers::{Failure, Metrics, Registry};
use migrate::redact::SecretEnv;
use testbed::http::{Response, Server};
use testbed::prometheus::Prometheus;

const PAGE: &str = "# TYPE test_value gauge
test_value 42
# TYPE test_multi gauge
test_multi{kind=\"a\"} 1
test_multi{kind=\"b\"} 2
";

fn registry(url: &str, retries: u32) -> Registry {
    let text = format!(
        "version: 1\nname: prom-test\nsettings: {{ timeout: 5s, retries: {retries} }}\nproviders:\n  prom:\n    type: prometheus\n    url: \"{url}\"\n    headers: {{ Authorization: \"Bearer ${{PROM_TOKEN}}\" }}\nphases:\n  - name: p\n    steps:\n      - approve: go\n"
    );
    let env: HashMap<String, String> =
        [("PROM_TOKEN".to_string(), "prom-tok-31337-abc".to_string())].into();
    match migrate::plan::validate(&text, &SecretEnv::new(env), migrate::providers::catalog()) {
        Ok(v) => Registry::new(&v.plan),
        Err(d) => panic!("invalid test plan: {d:#?}"),
    }
}

#[tokio::test]
async fn answers_of_a_real_prometheus() {
    let page = Server::start(|_| Response::ok(PAGE)).unwrap();
    let mut prom = Prometheus::start(&[page.address()]).unwrap();
    prom.wait_for("test_multi").unwrap();
    let reg = registry(&format!("{}/", prom.url()), 0);
    let m = reg.metrics("prom").unwrap();

    // A vector with one sample.
    assert_eq!(m.query("test_value").await.unwrap(), Some(42.0));
    assert_eq!(
        m.query(r#"test_value{job="app"}"#).await.unwrap(),
        Some(42.0)
    );
    assert_eq!(m.query("sum(test_multi)").await.unwrap(), Some(3.0));
    // Scalars.
    assert_eq!(m.query("2 * 21").await.unwrap(), Some(42.0));
    assert_eq!(m.query("scalar(test_value) / 4").await.unwrap(), Some(10.5));
    // No data: an empty vector. NaN is passed on (the gate takes it as no
    // data and says NaN).
    assert_eq!(m.query("no_such_metric").await.unwrap(), None);
    assert_eq!(m.query(r#"test_value{job="other"}"#).await.unwrap(), None);
    assert!(m.query("0 / 0").await.unwrap().is_some_and(f64::is_nan));
    // Infinities are values (they breach a max).
    assert_eq!(m.query("1 / 0").await.unwrap(), Some(f64::INFINITY));
    assert_eq!(m.query("-1 / 0").await.unwrap(), Some(f64::NEG_INFINITY));

    // Several series: aggregate them.
    let e = m.query("test_multi").await.unwrap_err();
    assert_eq!(e.failure, Failure::Rejected);
    assert!(
        e.message.contains("2 series") && e.message.contains("sum("),
        "{e}"
    );
    assert!(e.message.contains(r#"kind="a""#), "{e}");

    // Refused queries quote Prometheus.
    let e = m.query("sum(test_value").await.unwrap_err();
    assert_eq!(e.failure, Failure::Rejected);
    assert!(
        e.message.contains("bad_data") && e.message.contains("parse error"),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("prometheus provider 'prom': querying \"sum(test_value\""),
        "{e}"
    );
    let e = m.query("test_value[1m]").await.unwrap_err();
    assert_eq!(e.failure, Failure::Rejected);
    assert!(e.message.contains("range vector"), "{e}");

    // A server that is gone: transient, retried, and no secret shown.
    let retrying = registry(&prom.url(), 2);
    let m: std::sync::Arc<dyn Metrics> = retrying.metrics("prom").unwrap();
    prom.stop();
    let e = m.query("test_value").await.unwrap_err();
    assert_eq!(e.failure, Failure::Transient);
    assert!(e.message.contains("cannot connect"), "{e}");
    assert!(e.message.contains("after 3 attempts"), "{e}");
    assert!(!format!("{e:?}").contains("prom-tok-31337-abc"), "{e:?}");
}

#[tokio::test]
async fn a_url_that_is_not_prometheus_says_so() {
    let page = Server::start(|_| Response::new(404, "404 page not found")).unwrap();
    let reg = registry(&page.url("/"), 2);
    let e = reg.metrics("prom").unwrap().query("up").await.unwrap_err();
    assert_eq!(e.failure, Failure::Rejected);
    assert!(
        e.message.contains("404") && e.message.contains("base URL"),
        "{e}"
    );
    let req = &page.requests()[0];
    assert_eq!(req.path(), "/api/v1/query");
    assert_eq!(req.param("query").as_deref(), Some("up"));
    assert_eq!(
        req.header("authorization"),
        Some("Bearer prom-tok-31337-abc")
    );
}
