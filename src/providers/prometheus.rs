//! `prometheus`: a gate's number from a PromQL instant query
//! (`GET {url}/api/v1/query?query=...`).
//!
//! ```yaml
//! prom:
//!   type: prometheus
//!   url: http://prometheus:9090
//!   headers: { Authorization: "Bearer ${PROM_TOKEN}" }
//! ```
//!
//! The answer must be one number:
//! - a vector with one sample → its value; an empty vector → no data;
//! - a vector of several series → an error asking to aggregate the query
//!   (`sum(...)`, `max(...)`): a gate compares one number with its limits;
//! - a scalar → its value;
//! - values are strings: `NaN` is no data, `+Inf` / `-Inf` are infinite
//!   values (which breach a `max` / `min`).
//!
//! Failures: a query Prometheus rejects (HTTP 400/422 with
//! `"status": "error"`) is an error quoting Prometheus's `errorType` and
//! message, not retried; 5xx answers (Prometheus timing out or overloaded)
//! and transport failures are retried within the provider's timeout and
//! retries; an answer that is not Prometheus's JSON is an error quoting it.
//! Prometheus's warnings are logged at debug level.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::Client;
use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;

use super::{config_of, querying, web, Adapter, CallCtx, Failure, Metrics, ProviderError};
use crate::plan::decode::Cx;
use crate::plan::providers::Fields;
use crate::plan::spec::{
    self, Key, ProviderConfig, ProviderSpec, Shape, CA_FILE, INSECURE_SKIP_TLS_VERIFY,
};
use crate::plan::{Capability, Provider, Text, Tls};

/// A `prometheus` provider.
pub struct Prometheus {
    url: Text,
    endpoint: String,
    headers: Vec<(String, Text)>,
    client: Client,
    ctx: CallCtx,
}

impl Prometheus {
    pub fn new(cfg: &Config, ctx: CallCtx) -> Result<Self, ProviderError> {
        Ok(Self {
            endpoint: web::join(cfg.url.expose(), "/api/v1/query"),
            url: Text::literal(web::join(cfg.url.shown(), "/api/v1/query")),
            headers: cfg.headers.clone(),
            client: web::client(&ctx, &cfg.tls)?,
            ctx,
        })
    }
}

#[async_trait]
impl Metrics for Prometheus {
    async fn query(&self, query: &str) -> Result<Option<f64>, ProviderError> {
        let doing = querying(query);
        self.ctx
            .call(&doing, true, || async {
                let req = self
                    .client
                    .get(&self.endpoint)
                    .query(&[("query", query)])
                    .header("Accept", "application/json");
                let req = web::with_headers(req, &self.headers);
                let answer = web::send(&self.ctx, &doing, &self.url, req).await?;
                interpret(answer.status.as_u16(), &answer.body).map_err(|(failure, message)| {
                    self.ctx
                        .error(failure, &doing, format!("{}: {message}", self.url))
                })
            })
            .await
    }
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Value,
}

#[derive(Deserialize)]
struct Series {
    #[serde(default)]
    metric: serde_json::Map<String, Value>,
    value: (Value, String),
}

/// What an answer of `/api/v1/query` means: the number, no data, or how it
/// failed (with a message quoting Prometheus).
pub fn interpret(status: u16, body: &str) -> Result<Option<f64>, (Failure, String)> {
    let class = if (500..600).contains(&status) || status == 408 || status == 429 {
        Failure::Transient
    } else if (400..500).contains(&status) {
        Failure::Rejected
    } else {
        Failure::Garbage
    };
    let envelope: Envelope = match serde_json::from_str(body) {
        Ok(e) => e,
        Err(_) if status >= 400 => {
            let quoted = web::quote(body);
            let hint = if status == 404 {
                " (is the url a Prometheus server's base URL?)"
            } else {
                ""
            };
            return Err((
                class,
                if quoted.is_empty() {
                    format!("answered HTTP {status}{hint}")
                } else {
                    format!("answered HTTP {status}{hint}: {quoted}")
                },
            ));
        }
        Err(_) => {
            return Err((
                Failure::Garbage,
                format!(
                    "the answer is not Prometheus's query API JSON: \"{}\"",
                    web::quote(body)
                ),
            ))
        }
    };
    for w in &envelope.warnings {
        tracing::debug!(warning = %web::quote(w), "Prometheus warned");
    }
    if envelope.status != "success" {
        let kind = envelope.error_type.as_deref().unwrap_or("error");
        let message = envelope.error.as_deref().unwrap_or("no message");
        let failure = if status < 400 {
            Failure::Rejected
        } else {
            class
        };
        return Err((
            failure,
            format!(
                "Prometheus refused the query ({}): {}",
                web::quote(kind),
                web::quote(message)
            ),
        ));
    }
    if status >= 300 {
        return Err((class, format!("answered HTTP {status}")));
    }
    let Some(data) = envelope.data else {
        return Err((Failure::Garbage, "the answer has no \"data\"".to_string()));
    };
    let garbage = |what: &str| {
        (
            Failure::Garbage,
            format!("{what}: \"{}\"", web::quote(&data.result.to_string())),
        )
    };
    match data.result_type.as_str() {
        "scalar" => {
            let (_, v): (Value, String) = serde_json::from_value(data.result.clone())
                .map_err(|_| garbage("a scalar result is not [time, \"value\"]"))?;
            sample_value(&v).map_err(|_| garbage("a value is not a number"))
        }
        "vector" => {
            let series: Vec<Series> = serde_json::from_value(data.result.clone())
                .map_err(|_| garbage("a vector result is not a list of samples"))?;
            match series.as_slice() {
                [] => Ok(None),
                [one] => sample_value(&one.value.1).map_err(|_| garbage("a value is not a number")),
                many => {
                    let shown: Vec<String> = many.iter().take(3).map(|s| labels(&s.metric)).collect();
                    let more = if many.len() > 3 { ", …" } else { "" };
                    Err((
                        Failure::Rejected,
                        format!(
                            "the query returned {} series ({}{more}), but a gate needs one number: aggregate it, e.g. sum(...) or max(...)",
                            many.len(),
                            web::quote(&shown.join(", "))
                        ),
                    ))
                }
            }
        }
        "matrix" => Err((
            Failure::Rejected,
            "the query returned a range vector; a gate needs an instant value: wrap the range in a function such as rate(...[5m])".to_string(),
        )),
        other => Err((
            Failure::Rejected,
            format!(
                "the query returned a {}, but a gate needs a number",
                web::quote(other)
            ),
        )),
    }
}

/// A sample value as Prometheus writes it: `"0.25"`, `"NaN"`, `"+Inf"`
/// (NaN is passed on: the gate takes it as no data and says NaN).
fn sample_value(s: &str) -> Result<Option<f64>, ()> {
    let v: f64 = s.trim().parse().map_err(|_| ())?;
    Ok(Some(v))
}

/// `{job="a", code="500"}`.
fn labels(metric: &serde_json::Map<String, Value>) -> String {
    let parts: Vec<String> = metric.iter().map(|(k, v)| format!("{k}={}", v)).collect();
    format!("{{{}}}", parts.join(", "))
}

// The declaration: what a `prometheus` provider is in a plan, and what it
// builds.

pub static SPEC: ProviderSpec = ProviderSpec {
    name: "prometheus",
    article: "a",
    capabilities: &[Capability::Metrics],
    needs: &[],
    keys: &[
        Key::required(
            "url",
            Shape::Text,
            "base URL of the Prometheus server (queries go to /api/v1/query)",
        ),
        Key::optional(
            "headers",
            Shape::Headers,
            "HTTP headers sent with every query",
        ),
        INSECURE_SKIP_TLS_VERIFY,
        CA_FILE,
    ],
    decode,
    check_query: None,
};

pub static ADAPTER: Adapter = Adapter {
    metrics: Some(metrics),
    ..Adapter::of(&SPEC)
};

fn metrics(p: &Provider, ctx: CallCtx) -> anyhow::Result<Arc<dyn Metrics>> {
    Ok(Arc::new(Prometheus::new(config_of::<Config>(p)?, ctx)?))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(samples: &[(&str, &str)]) -> String {
        let items: Vec<String> = samples
            .iter()
            .map(|(job, v)| {
                format!(r#"{{"metric":{{"job":"{job}"}},"value":[1795392476.656,"{v}"]}}"#)
            })
            .collect();
        format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
            items.join(",")
        )
    }

    #[test]
    fn one_sample_is_its_value() {
        assert_eq!(interpret(200, &vector(&[("a", "0.25")])), Ok(Some(0.25)));
        assert_eq!(interpret(200, &vector(&[("a", "100")])), Ok(Some(100.0)));
    }

    #[test]
    fn empty_vectors_are_no_data_and_nan_is_passed_on() {
        assert_eq!(interpret(200, &vector(&[])), Ok(None));
        let nan = |r: Result<Option<f64>, _>| matches!(r, Ok(Some(v)) if v.is_nan());
        assert!(nan(interpret(200, &vector(&[("a", "NaN")]))));
        let scalar_nan =
            r#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"NaN"]}}"#;
        assert!(nan(interpret(200, scalar_nan)));
    }

    #[test]
    fn infinities_are_values() {
        assert_eq!(
            interpret(200, &vector(&[("a", "+Inf")])),
            Ok(Some(f64::INFINITY))
        );
        assert_eq!(
            interpret(200, &vector(&[("a", "-Inf")])),
            Ok(Some(f64::NEG_INFINITY))
        );
    }

    #[test]
    fn scalars_are_values() {
        let s = r#"{"status":"success","data":{"resultType":"scalar","result":[1795392476.656,"204"]}}"#;
        assert_eq!(interpret(200, s), Ok(Some(204.0)));
    }

    #[test]
    fn several_series_ask_for_aggregation() {
        let (failure, msg) = interpret(200, &vector(&[("a", "1"), ("b", "2")])).unwrap_err();
        assert_eq!(failure, Failure::Rejected);
        assert!(msg.contains("2 series") && msg.contains("sum("), "{msg}");
        assert!(msg.contains(r#"job="a""#), "{msg}");
    }

    #[test]
    fn refused_queries_quote_prometheus() {
        let body = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"}"#;
        let (failure, msg) = interpret(400, body).unwrap_err();
        assert_eq!(failure, Failure::Rejected);
        assert!(
            msg.contains("bad_data") && msg.contains("unclosed left parenthesis"),
            "{msg}"
        );
        let timeout = r#"{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}"#;
        assert_eq!(interpret(503, timeout).unwrap_err().0, Failure::Transient);
        let exec = r#"{"status":"error","errorType":"execution","error":"many-to-many matching not allowed"}"#;
        assert_eq!(interpret(422, exec).unwrap_err().0, Failure::Rejected);
    }

    #[test]
    fn server_errors_are_transient_and_garbage_is_garbage() {
        assert_eq!(
            interpret(502, "Bad Gateway").unwrap_err().0,
            Failure::Transient
        );
        assert_eq!(interpret(500, "").unwrap_err().0, Failure::Transient);
        let (failure, msg) = interpret(404, "404 page not found").unwrap_err();
        assert_eq!(failure, Failure::Rejected);
        assert!(msg.contains("base URL"), "{msg}");
        assert_eq!(
            interpret(200, "<html>hi</html>").unwrap_err().0,
            Failure::Garbage
        );
        let odd =
            r#"{"status":"success","data":{"resultType":"vector","result":[{"value":[1,2]}]}}"#;
        assert_eq!(interpret(200, odd).unwrap_err().0, Failure::Garbage);
        let word = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"many"]}}"#;
        assert_eq!(interpret(200, word).unwrap_err().0, Failure::Garbage);
        let no_data = r#"{"status":"success"}"#;
        assert_eq!(interpret(200, no_data).unwrap_err().0, Failure::Garbage);
    }

    #[test]
    fn ranges_and_strings_are_refused() {
        let m = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        let (failure, msg) = interpret(200, m).unwrap_err();
        assert_eq!(failure, Failure::Rejected);
        assert!(msg.contains("range"), "{msg}");
        let s = r#"{"status":"success","data":{"resultType":"string","result":[1,"x"]}}"#;
        assert_eq!(interpret(200, s).unwrap_err().0, Failure::Rejected);
    }
}
