//! The `http` adapter against a real HTTP server started by the test,
//! which records the exact requests and answers as each test needs: state
//! it keeps, 5xx, 4xx, garbage, and answers that never come.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use migrate::providers::{Channel, Failure, FlagChange, FlagState, Registry};
use migrate::redact::SecretEnv;
use serde_json::{json, Value};
use testbed::http::{Response, Server};

fn registry(settings: &str, providers: &str, env: &[(&str, &str)]) -> Registry {
    let text = format!(
        "version: 1\nname: http-test\nsettings: {settings}\nproviders:\n{providers}\nphases:\n  - name: p\n    steps:\n      - approve: go\n"
    );
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match migrate::plan::validate(&text, &SecretEnv::new(env), migrate::providers::catalog()) {
        Ok(v) => Registry::new(&v.plan),
        Err(d) => panic!("invalid test plan: {d:#?}\n{text}"),
    }
}

/// A control API keeping one JSON document per path: PUT stores the
/// body, GET answers it (404 when never stored).
fn store_server() -> (Server, Arc<Mutex<HashMap<String, String>>>) {
    let store: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let s = store.clone();
    let server = Server::start(move |r| {
        let mut store = s.lock().unwrap();
        match r.method.as_str() {
            "PUT" => {
                store.insert(r.path().to_string(), r.body.clone());
                Response::new(204, "")
            }
            _ => match store.get(r.path()) {
                Some(body) => Response::json(body.clone()),
                None => Response::new(404, "no such thing"),
            },
        }
    })
    .unwrap();
    (server, store)
}

#[tokio::test]
async fn traffic_is_set_with_the_exact_request_and_read_back_per_channel() {
    let (server, _) = store_server();
    let secret = "Bearer http-s3cret-9f2c";
    let providers = format!(
        r#"  api:
    type: http
    headers: {{ Authorization: "${{CTL_AUTH}}", X-Team: payments }}
    set: {{ method: PUT, url: "{}/split/{{{{channel}}}}", body: '{{"candidate": {{{{percent}}}}}}', headers: {{ X-Team: checkout }} }}
    get: {{ url: "{}/split/{{{{channel}}}}", json_path: "$.candidate" }}"#,
        server.url(""),
        server.url("")
    );
    let reg = registry(
        "{ timeout: 5s, retries: 0 }",
        &providers,
        &[("CTL_AUTH", secret)],
    );
    let r = reg.router("api").unwrap();
    r.set(Channel::Traffic, 12.5).await.unwrap();
    r.set(Channel::Mirror, 100.0).await.unwrap();
    assert_eq!(r.get(Channel::Traffic).await.unwrap(), 12.5);
    assert_eq!(r.get(Channel::Mirror).await.unwrap(), 100.0);

    let reqs = server.requests();
    let put = &reqs[0];
    assert_eq!(
        (put.method.as_str(), put.target.as_str()),
        ("PUT", "/split/traffic")
    );
    assert_eq!(put.body, r#"{"candidate": 12.5}"#);
    assert_eq!(put.header("content-type"), Some("application/json"));
    // The real secret goes on the wire; the request's header replaces the
    // provider's of the same name.
    assert_eq!(put.header("authorization"), Some(secret));
    assert_eq!(put.header("x-team"), Some("checkout"));
    assert_eq!(reqs[1].target, "/split/mirror");
    assert_eq!(reqs[1].body, r#"{"candidate": 100}"#);
    let get = &reqs[2];
    assert_eq!(
        (get.method.as_str(), get.target.as_str()),
        ("GET", "/split/traffic")
    );
    assert_eq!(get.header("x-team"), Some("payments"));
    assert_eq!(get.body, "");
}

#[tokio::test]
async fn flags_use_encoded_keys_and_read_before_a_partial_change() {
    let (server, store) = store_server();
    let providers = format!(
        r#"  toggles:
    type: http
    set: {{ url: "{}/flags/{{{{key}}}}", body: '{{"flag": {{"enabled": {{{{enabled}}}}, "percent": {{{{percent}}}}}}, "note": "{{{{key}}}} via migrate"}}' }}
    get: {{ url: "{}/flags/{{{{key}}}}", json_path: "$.flag" }}"#,
        server.url(""),
        server.url("")
    );
    let reg = registry("{ timeout: 5s, retries: 0 }", &providers, &[]);
    let f = reg.flags("toggles").unwrap();
    let key = "checkout \"v2\"/beta";
    f.set(
        key,
        &FlagChange {
            enabled: Some(true),
            percent: Some(Some(5.0)),
        },
    )
    .await
    .unwrap();
    let path = "/flags/checkout%20%22v2%22%2Fbeta";
    let stored: Value = serde_json::from_str(&store.lock().unwrap()[path]).unwrap();
    assert_eq!(
        stored,
        json!({"flag": {"enabled": true, "percent": 5}, "note": "checkout \"v2\"/beta via migrate"})
    );
    server.clear();
    f.set(
        key,
        &FlagChange {
            enabled: Some(false),
            percent: None,
        },
    )
    .await
    .unwrap();
    let methods: Vec<String> = server.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["GET", "PUT"], "read first, then set");
    assert_eq!(
        f.get(key).await.unwrap(),
        FlagState {
            enabled: false,
            percent: Some(5.0)
        }
    );
    // A flag the API does not have is an error naming what was done.
    let e = f.get("unknown").await.unwrap_err();
    assert_eq!(e.failure, Failure::Rejected);
    assert!(
        e.to_string()
            .contains("http provider 'toggles': reading flag 'unknown'"),
        "{e}"
    );
    assert!(
        e.message.contains("404") && e.message.contains("no such thing"),
        "{e}"
    );
}

#[tokio::test]
async fn metrics_pick_numbers_and_treat_missing_as_no_data() {
    let server = Server::start(|r| {
        let q = r.param("q").unwrap_or_default();
        let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        let answer = match q.as_str() {
            "number" => json!({"data": {"value": 0.25}}),
            "string" => json!({"data": {"value": "0.5"}}),
            "null" => json!({"data": {"value": null}}),
            "nan" => json!({"data": {"value": "NaN"}}),
            "missing" => json!({"data": {}}),
            "object" => json!({"data": {"value": {"a": 1}}}),
            // Echo what arrived in the body.
            _ => json!({"data": {"value": body["query"].as_str().map(str::len)}}),
        };
        if q == "html" {
            return Response::ok("<html>oops</html>");
        }
        Response::json(answer.to_string())
    })
    .unwrap();
    let providers = format!(
        r#"  app:
    type: http
    get: {{ method: POST, url: "{}/q?q={{{{query}}}}", body: '{{"query": "{{{{query}}}}"}}', json_path: "$.data.value" }}"#,
        server.url("")
    );
    let reg = registry("{ timeout: 5s, retries: 0 }", &providers, &[]);
    let m = reg.metrics("app").unwrap();
    assert_eq!(m.query("number").await.unwrap(), Some(0.25));
    assert_eq!(m.query("string").await.unwrap(), Some(0.5));
    assert_eq!(m.query("null").await.unwrap(), None);
    // NaN is passed on: the gate takes it as no data and says NaN.
    assert!(m.query("nan").await.unwrap().is_some_and(f64::is_nan));
    assert_eq!(m.query("missing").await.unwrap(), None);
    let e = m.query("object").await.unwrap_err();
    assert_eq!(e.failure, Failure::Garbage);
    assert!(e.message.contains("$.data.value"), "{e}");
    let e = m.query("html").await.unwrap_err();
    assert_eq!(e.failure, Failure::Garbage);
    assert!(e.message.contains("<html>oops</html>"), "{e}");
    // Quotes survive both the URL and the JSON body.
    let q = r#"rate(x{code=~"5.."}[1m]) & more"#;
    assert_eq!(m.query(q).await.unwrap(), Some(q.len() as f64));
    let last = server.requests().pop().unwrap();
    assert_eq!(last.param("q").as_deref(), Some(q));
    let body: Value = serde_json::from_str(&last.body).unwrap();
    assert_eq!(body["query"], q);
}

#[tokio::test]
async fn a_missing_traffic_value_is_an_error_not_zero() {
    let server = Server::start(|_| Response::json(r#"{"weights": {}}"#)).unwrap();
    let providers = format!(
        r#"  api:
    type: http
    set: {{ url: "{0}/w", body: "p={{{{percent}}}}" }}
    get: {{ url: "{0}/w", json_path: "$.weights.candidate" }}"#,
        server.url("")
    );
    let reg = registry("{ timeout: 5s, retries: 0 }", &providers, &[]);
    let e = reg
        .router("api")
        .unwrap()
        .get(Channel::Traffic)
        .await
        .unwrap_err();
    assert_eq!(e.failure, Failure::Garbage);
    assert!(
        e.message.contains("is missing") && e.message.contains("weights"),
        "{e}"
    );
    // A body that is not JSON is sent without a JSON content type.
    reg.router("api")
        .unwrap()
        .set(Channel::Traffic, 3.0)
        .await
        .unwrap();
    let put = server.requests().pop().unwrap();
    assert_eq!((put.method.as_str(), put.body.as_str()), ("PUT", "p=3"));
    assert_eq!(put.header("content-type"), None);
}

#[tokio::test]
async fn server_errors_are_retried_and_client_errors_are_not() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let server = Server::start(move |r| {
        let n = h.fetch_add(1, Ordering::SeqCst);
        match r.path() {
            // Fails once, then works.
            "/flaky" if n == 0 => Response::new(503, "warming up"),
            "/flaky" => Response::json(r#"{"v": 7}"#),
            "/bad" => Response::new(400, r#"{"error": "percent must be an integer"}"#),
            _ => Response::new(500, "always broken"),
        }
    })
    .unwrap();
    let provider = |name: &str, path: &str| {
        format!(
            "  {name}:\n    type: http\n    set: {{ url: \"{0}{path}\", body: \"{{{{percent}}}}\" }}\n    get: {{ url: \"{0}{path}\", json_path: \"$.v\" }}",
            server.url("")
        )
    };
    let providers = [
        provider("flaky", "/flaky"),
        provider("bad", "/bad"),
        provider("broken", "/broken"),
    ]
    .join("\n");
    let reg = registry("{ timeout: 5s, retries: 2 }", &providers, &[]);
    assert_eq!(
        reg.router("flaky")
            .unwrap()
            .get(Channel::Traffic)
            .await
            .unwrap(),
        7.0
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    server.clear();
    let e = reg
        .router("bad")
        .unwrap()
        .set(Channel::Traffic, 2.5)
        .await
        .unwrap_err();
    assert_eq!(e.failure, Failure::Rejected);
    assert!(
        e.message.contains("400") && e.message.contains("percent must be an integer"),
        "{e}"
    );
    assert_eq!(server.requests().len(), 1, "a 4xx is not retried");

    server.clear();
    let e = reg
        .router("broken")
        .unwrap()
        .get(Channel::Mirror)
        .await
        .unwrap_err();
    assert_eq!(e.failure, Failure::Transient);
    assert!(
        e.message.contains("always broken") && e.message.contains("after 3 attempts"),
        "{e}"
    );
    assert_eq!(server.requests().len(), 3, "first try and two retries");
}

#[tokio::test]
async fn an_answer_that_never_comes_times_out_and_is_retried() {
    let server = Server::start(|_| Response::never()).unwrap();
    let providers = format!(
        "  api:\n    type: http\n    get: {{ url: \"{}/slow\" }}",
        server.url("")
    );
    let reg = registry("{ timeout: 300ms, retries: 2 }", &providers, &[]);
    let e = reg.metrics("api").unwrap().query("q").await.unwrap_err();
    assert_eq!(e.failure, Failure::Transient);
    assert!(
        e.message.contains("timed out") || e.message.contains("no answer within"),
        "{e}"
    );
    assert_eq!(server.requests().len(), 3, "first try and two retries");
}

#[tokio::test]
async fn secrets_never_appear_in_errors() {
    let token = "tok-http-7d1e0c55aa";
    // A server that echoes the credentials it got, as some do.
    let server = Server::start(|r| {
        Response::new(
            500,
            format!(
                "auth {} rejected for {}",
                r.header("authorization").unwrap_or(""),
                r.target
            ),
        )
    })
    .unwrap();
    let providers = format!(
        "  api:\n    type: http\n    headers: {{ Authorization: \"Bearer ${{TOKEN}}\" }}\n    get: {{ url: \"{}/v?token=${{TOKEN}}\" }}",
        server.url("")
    );
    let reg = registry(
        "{ timeout: 5s, retries: 0 }",
        &providers,
        &[("TOKEN", token)],
    );
    let e = reg.metrics("api").unwrap().query("q").await.unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(token), "{shown}");
    assert!(shown.contains("auth Bearer *** rejected"), "{shown}");
    assert!(
        shown.contains("token=${TOKEN}"),
        "the URL shows as written: {shown}"
    );

    // Nor when the server cannot be reached at all.
    drop(server);
    let e = reg.metrics("api").unwrap().query("q").await.unwrap_err();
    let shown = format!("{e} {e:?}");
    assert_eq!(e.failure, Failure::Transient);
    assert!(!shown.contains(token), "{shown}");
}
