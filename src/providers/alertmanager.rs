//! `alertmanager`: Prometheus Alertmanager, through its API v2. It is
//! given conditions (alerts), never events: each is posted to
//! `POST {url}/api/v2/alerts` with its labels, annotations, `startsAt` and
//! `endsAt` — a future `endsAt` while it holds (posted again before it
//! comes), `endsAt` now when it clears.
//!
//! ```yaml
//! am: { type: alertmanager, url: http://127.0.0.1:9093 }
//! ```
//!
//! A post is bounded by the provider's timeout and retried with backoff
//! on transient failures (posting the same alerts twice is harmless:
//! Alertmanager keys them by their labels).

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::Client;
use serde::Serialize;
use serde_json::{json, Value};

use super::{config_of, web, Adapter, CallCtx, Message, Notifier, Outgoing, ProviderError};
use crate::domain::notify::Alert;
use crate::plan::decode::Cx;
use crate::plan::providers::Fields;
use crate::plan::spec::{
    self, Key, ProviderConfig, ProviderSpec, Shape, CA_FILE, INSECURE_SKIP_TLS_VERIFY,
};
use crate::plan::{Capability, Headers, Provider, Text, Tls};

/// The path alerts are posted to.
const ALERTS: &str = "/api/v2/alerts";

pub struct Alertmanager {
    url: Text,
    headers: Headers,
    client: Client,
    ctx: CallCtx,
}

impl Alertmanager {
    pub fn new(cfg: &Config, ctx: CallCtx) -> Result<Self, ProviderError> {
        Ok(Self {
            url: cfg.url.clone(),
            headers: cfg.headers.clone(),
            client: web::client(&ctx, &cfg.tls)?,
            ctx,
        })
    }
}

/// The body of a post: Alertmanager's `postableAlerts`.
pub fn alerts_body(alerts: &[Alert]) -> Value {
    Value::Array(
        alerts
            .iter()
            .map(|a| {
                json!({
                    "labels": a.labels,
                    "annotations": a.annotations,
                    "startsAt": humantime::format_rfc3339_millis(a.starts_at).to_string(),
                    "endsAt": humantime::format_rfc3339_millis(a.ends_at).to_string(),
                })
            })
            .collect(),
    )
}

#[async_trait]
impl Notifier for Alertmanager {
    fn render(&self, message: &Message<'_>) -> Option<Outgoing> {
        let Message::Alerts(alerts) = message else {
            return None;
        };
        let body = alerts_body(alerts).to_string();
        Some(Outgoing {
            shown: format!("POST {}", web::join(self.url.shown(), ALERTS)),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: crate::redact::clean(&body).into_owned(),
        })
    }

    async fn send(&self, request: &Outgoing) -> Result<(), ProviderError> {
        let url = web::join(self.url.expose(), ALERTS);
        let shown = Text::literal(web::join(self.url.shown(), ALERTS));
        let doing = "posting alerts";
        self.ctx
            .call(doing, true, || {
                let mut r = web::with_headers(self.client.post(url.as_str()), &self.headers);
                for (k, v) in &request.headers {
                    r = r.header(k.as_str(), v.as_str());
                }
                web::send_ok(&self.ctx, doing, &shown, r.body(request.body.clone()))
            })
            .await
            .map(drop)
    }
}

// The declaration: what an `alertmanager` provider is in a plan.

pub static SPEC: ProviderSpec = ProviderSpec {
    name: "alertmanager",
    article: "an",
    capabilities: &[Capability::Notify],
    needs: &[],
    keys: &[
        Key::required(
            "url",
            Shape::Text,
            "base URL of the Alertmanager (alerts go to /api/v2/alerts)",
        ),
        Key::optional("headers", Shape::Headers, "HTTP headers sent with every post"),
        INSECURE_SKIP_TLS_VERIFY,
        CA_FILE,
    ],
    decode,
    check_query: None,
};

pub static ADAPTER: Adapter = Adapter {
    notifier: Some(notifier),
    ..Adapter::of(&SPEC)
};

fn notifier(p: &Provider, ctx: CallCtx) -> anyhow::Result<Arc<dyn Notifier>> {
    Ok(Arc::new(Alertmanager::new(config_of::<Config>(p)?, ctx)?))
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub url: Text,
    pub headers: Headers,
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
    use std::collections::BTreeMap;
    use std::time::{Duration, SystemTime};

    #[test]
    fn alerts_are_posted_as_alertmanager_reads_them() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let alert = Alert {
            labels: BTreeMap::from([
                ("alertname".to_string(), "MigrateDrift".to_string()),
                ("migration".to_string(), "m".to_string()),
            ]),
            annotations: BTreeMap::from([("summary".to_string(), "s".to_string())]),
            starts_at: at,
            ends_at: at + Duration::from_secs(300),
        };
        let body = alerts_body(&[alert]);
        assert_eq!(body[0]["labels"]["alertname"], "MigrateDrift");
        assert_eq!(body[0]["startsAt"], "2027-01-15T08:00:00.000Z");
        assert_eq!(body[0]["endsAt"], "2027-01-15T08:05:00.000Z");
        assert_eq!(body[0]["annotations"]["summary"], "s");
    }
}
