//! `http`: any system with an HTTP API. `set` and `get` are request
//! templates; see [`super::template`] for the placeholders and the values
//! `get` must answer with.
//!
//! ```yaml
//! api:
//!   type: http
//!   headers: { Authorization: "Bearer ${CTL_TOKEN}" }
//!   set: { method: PUT, url: "http://ctl:8080/split/{{channel}}", body: '{"candidate": {{percent}}}' }
//!   get: { url: "http://ctl:8080/split/{{channel}}", json_path: "$.candidate" }
//! ```
//!
//! Requests:
//! - placeholders are filled in the `url` (values percent-encoded) and the
//!   `body` (JSON-escaped inside JSON strings, e.g. `"{{query}}"`);
//! - headers are the provider's `headers`, then the request's own (which
//!   replace a provider header of the same name); a body that is JSON gets
//!   `Content-Type: application/json` unless a header says otherwise;
//! - `set` defaults to PUT, `get` to GET; TLS as the provider says
//!   (`ca_file`, `insecure_skip_tls_verify`);
//! - every request is bounded by the provider's timeout and retried on
//!   transient failures (connection errors, timeouts, 5xx, 408, 429): gets
//!   are reads and sets are absolute, so repeating one is safe. Other 4xx
//!   answers are errors quoting the body, not retried.
//!
//! Answers of `get` are JSON; `json_path` picks the value (the whole body
//! without one):
//! - traffic: a number or numeric string (`5`, `"5"`, `"5%"`);
//! - flags: an object `{"enabled": true, "percent": 5}`;
//! - metrics: a number or numeric string; null, a missing path or `"NaN"`
//!   is no data.
//!
//! A missing path, null, or a value of the wrong kind for traffic and flags
//! is an error that quotes the body. The response body of `set` is ignored.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::{Client, Method};
use serde::Serialize;
use serde_json::Value;

use super::template::{self, Escape, Vars};
use super::{
    config_of, querying, web, Adapter, CallCtx, Channel, Failure, FlagChange, FlagState, Flags,
    Metrics, ProviderError, Router,
};
use crate::plan::decode::Cx;
use crate::plan::jsonpath::JsonPath;
use crate::plan::providers::{request, Fields, GET_PLACEHOLDERS, SET_PLACEHOLDERS};
use crate::plan::spec::{
    self, Key, ProviderConfig, ProviderSpec, Shape, CA_FILE, INSECURE_SKIP_TLS_VERIFY,
};
use crate::plan::{Capability, HttpRequest, Provider, Text, Tls};

/// An `http` provider: a router, a flag store or a metric source.
pub struct Http {
    set: Option<HttpRequest>,
    get: HttpRequest,
    headers: Vec<(String, Text)>,
    client: Client,
    ctx: CallCtx,
}

/// The value `get` picked, and the body it came from (for messages).
struct Picked {
    value: Option<Value>,
    body: String,
    url: Text,
}

impl Http {
    pub fn new(cfg: &Config, ctx: CallCtx) -> Result<Self, ProviderError> {
        Ok(Self {
            set: cfg.set.clone(),
            get: cfg.get.clone(),
            headers: cfg.headers.clone(),
            client: web::client(&ctx, &cfg.tls)?,
            ctx,
        })
    }

    fn set_request(&self, doing: &str) -> Result<&HttpRequest, ProviderError> {
        self.set.as_ref().ok_or_else(|| {
            self.ctx.error(
                Failure::Rejected,
                doing,
                "this provider has no 'set' request: it can only be read",
            )
        })
    }

    /// Send `req` filled with `vars`; the body of a 2xx answer.
    async fn send(
        &self,
        doing: &str,
        req: &HttpRequest,
        vars: &Vars,
    ) -> Result<(String, Text), ProviderError> {
        let bad = |e: String| self.ctx.error(Failure::Rejected, doing, e);
        let url = template::fill(req.url.expose(), vars, Escape::Url).map_err(bad)?;
        // What errors show: the template as shown (`${VAR}`s unexpanded),
        // filled the same way.
        let shown_url =
            Text::literal(template::fill(req.url.shown(), vars, Escape::Url).map_err(bad)?);
        let body = match &req.body {
            Some(b) => Some(template::fill(b.expose(), vars, Escape::Json).map_err(bad)?),
            None => None,
        };
        let method = Method::from_bytes(req.method.as_bytes()).map_err(|e| bad(e.to_string()))?;
        let headers = self.header_map(req, body.as_deref()).map_err(bad)?;
        let answer = self
            .ctx
            .call(doing, true, || {
                let mut r = self
                    .client
                    .request(method.clone(), url.as_str())
                    .headers(headers.clone());
                if let Some(b) = &body {
                    r = r.body(b.clone());
                }
                web::send_ok(&self.ctx, doing, &shown_url, r)
            })
            .await?;
        Ok((answer.body, shown_url))
    }

    fn header_map(&self, req: &HttpRequest, body: Option<&str>) -> Result<HeaderMap, String> {
        let mut map = HeaderMap::new();
        for (name, value) in self.headers.iter().chain(req.headers.iter()) {
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("'{name}' is not a valid header name"))?;
            let v = HeaderValue::from_str(value.expose()).map_err(|_| {
                format!("the value of header '{name}' ({value}) is not a valid header value")
            })?;
            // A request's own header replaces the provider's.
            map.insert(n, v);
        }
        if let Some(b) = body {
            if !map.contains_key(CONTENT_TYPE) && serde_json::from_str::<Value>(b).is_ok() {
                map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
        }
        Ok(map)
    }

    /// Run `get` and pick the value at `json_path`.
    async fn pick(&self, doing: &str, vars: &Vars) -> Result<Picked, ProviderError> {
        let (body, url) = self.send(doing, &self.get, vars).await?;
        let value = pick_value(&body, self.get.json_path.as_ref()).map_err(|e| {
            self.ctx.error(
                Failure::Garbage,
                doing,
                format!("{url} did not answer JSON ({e}): \"{}\"", web::quote(&body)),
            )
        })?;
        Ok(Picked { value, body, url })
    }

    fn garbage(&self, doing: &str, picked: &Picked, why: &str) -> ProviderError {
        let at = match &self.get.json_path {
            Some(p) => format!(" at {p}"),
            None => String::new(),
        };
        self.ctx.error(
            Failure::Garbage,
            doing,
            format!(
                "{}: the answer{at} {why}: \"{}\"",
                picked.url,
                web::quote(&picked.body)
            ),
        )
    }
}

/// The value at `path` in a JSON body (the whole body without a path);
/// `Ok(None)` when the path leads nowhere. Not JSON: the parse error.
pub fn pick_value(body: &str, path: Option<&JsonPath>) -> Result<Option<Value>, String> {
    let json: Value = serde_json::from_str(body.trim()).map_err(|e| e.to_string())?;
    Ok(match path {
        Some(p) => p.select(&json).cloned(),
        None => Some(json),
    })
}

#[async_trait]
impl Router for Http {
    async fn set(&self, channel: Channel, percent: f64) -> Result<(), ProviderError> {
        let doing = format!("setting {channel} to {}%", super::fmt_number(percent));
        let req = self.set_request(&doing)?;
        self.send(&doing, req, &Vars::traffic(channel, Some(percent)))
            .await
            .map(drop)
    }

    async fn get(&self, channel: Channel) -> Result<f64, ProviderError> {
        let doing = format!("reading {channel}");
        let picked = self.pick(&doing, &Vars::traffic(channel, None)).await?;
        match &picked.value {
            None | Some(Value::Null) => Err(self.garbage(&doing, &picked, "is missing")),
            Some(v) => template::json_percent(v)
                .map_err(|why| self.garbage(&doing, &picked, &format!("is not a percent ({why})"))),
        }
    }
}

#[async_trait]
impl Flags for Http {
    async fn get(&self, key: &str) -> Result<FlagState, ProviderError> {
        let doing = format!("reading flag '{key}'");
        let picked = self.pick(&doing, &Vars::flag_get(key)).await?;
        match &picked.value {
            None | Some(Value::Null) => Err(self.garbage(&doing, &picked, "is missing")),
            Some(v) => template::json_flag(v)
                .map_err(|why| self.garbage(&doing, &picked, &format!("is not a flag ({why})"))),
        }
    }

    async fn set(&self, key: &str, change: &FlagChange) -> Result<(), ProviderError> {
        let doing = format!("setting flag '{key}'");
        let req = self.set_request(&doing)?;
        let templates = [Some(&req.url), req.body.as_ref()];
        let current =
            if template::needs_current(change, templates.into_iter().flatten().map(Text::expose)) {
                Some(Flags::get(self, key).await?)
            } else {
                None
            };
        let vars = Vars::flag_set(key, change, current.as_ref());
        self.send(&doing, req, &vars).await.map(drop)
    }
}

#[async_trait]
impl Metrics for Http {
    async fn query(&self, query: &str) -> Result<Option<f64>, ProviderError> {
        let doing = querying(query);
        let picked = self.pick(&doing, &Vars::query(query)).await?;
        match &picked.value {
            None => Ok(None),
            Some(v) => template::json_number(v)
                .map_err(|why| self.garbage(&doing, &picked, &format!("is not a number ({why})"))),
        }
    }
}

// The declaration: what an `http` provider is in a plan, and what it builds.

pub static SPEC: ProviderSpec = ProviderSpec {
    name: "http",
    article: "an",
    capabilities: &[
        Capability::Traffic,
        Capability::Mirror,
        Capability::Flags,
        Capability::Metrics,
    ],
    needs: &[],
    keys: &[
        Key::optional(
            "set",
            Shape::Request,
            "the request that sets a value; without it the provider only reads metrics",
        ),
        Key::required("get", Shape::Request, "the request that reads a value"),
        Key::optional(
            "headers",
            Shape::Headers,
            "HTTP headers sent with both requests",
        ),
        INSECURE_SKIP_TLS_VERIFY,
        CA_FILE,
    ],
    decode,
    check_query: None,
};

pub static ADAPTER: Adapter = Adapter {
    router: Some(router),
    flags: Some(flags),
    metrics: Some(metrics),
    ..Adapter::of(&SPEC)
};

fn build(p: &Provider, ctx: CallCtx) -> anyhow::Result<Arc<Http>> {
    Ok(Arc::new(Http::new(config_of::<Config>(p)?, ctx)?))
}

fn router(p: &Provider, ctx: CallCtx) -> anyhow::Result<Arc<dyn Router>> {
    Ok(build(p, ctx)?)
}

fn flags(p: &Provider, ctx: CallCtx) -> anyhow::Result<Arc<dyn Flags>> {
    Ok(build(p, ctx)?)
}

fn metrics(p: &Provider, ctx: CallCtx) -> anyhow::Result<Arc<dyn Metrics>> {
    Ok(build(p, ctx)?)
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub set: Option<HttpRequest>,
    pub get: HttpRequest,
    pub headers: Vec<(String, Text)>,
    pub tls: Tls,
}

impl ProviderConfig for Config {
    fn insecure_tls(&self) -> bool {
        self.tls.insecure_skip_verify
    }

    fn capabilities(&self) -> Option<&'static [Capability]> {
        self.set.is_none().then_some(&[Capability::Metrics])
    }

    fn limited_because(&self) -> Option<&'static str> {
        self.set
            .is_none()
            .then_some("it has no 'set', so it can only read metrics")
    }
}

fn decode(cx: &mut Cx<'_>, r: &Fields<'_, '_>) -> Option<spec::Config> {
    let set = match r.map.opt("set") {
        Some((n, p)) => request(cx, n, &p, "PUT", SET_PLACEHOLDERS).map(Some),
        None => Some(None),
    };
    let get = r
        .map
        .req(cx, "get", r.what)
        .and_then(|(n, p)| request(cx, n, &p, "GET", GET_PLACEHOLDERS));
    let headers = r.headers(cx);
    let tls = r.tls(cx);
    spec::config(Config {
        set: set?,
        get: get?,
        headers: headers.ok()?,
        tls: tls.ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(p: &str) -> JsonPath {
        JsonPath::parse(p).unwrap()
    }

    #[test]
    fn picks_values_by_path_or_takes_the_body() {
        let body = r#"{"data": {"candidate": 5, "flag": {"enabled": true, "percent": null}}, "list": [1, "2.5"]}"#;
        assert_eq!(
            pick_value(body, Some(&path("$.data.candidate"))),
            Ok(Some(json!(5)))
        );
        assert_eq!(
            pick_value(body, Some(&path("$.list[-1]"))),
            Ok(Some(json!("2.5")))
        );
        assert_eq!(pick_value(body, Some(&path("$.nope"))), Ok(None));
        assert_eq!(pick_value(" 7\n", None), Ok(Some(json!(7))));
        assert!(pick_value("<html>", None).is_err());
        let flag = pick_value(body, Some(&path("$.data.flag")))
            .unwrap()
            .unwrap();
        assert_eq!(
            template::json_flag(&flag),
            Ok(FlagState {
                enabled: true,
                percent: None
            })
        );
        let whole = pick_value(r#"{"enabled": false, "percent": "5"}"#, None)
            .unwrap()
            .unwrap();
        assert_eq!(
            template::json_flag(&whole).map(|f| f.percent),
            Ok(Some(5.0))
        );
    }
}
