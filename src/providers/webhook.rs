//! `webhook`: events posted to a URL — a JSON body with a schema version
//! (`migrate.notify/v1`), or Slack's incoming-webhook format with
//! `format: slack` (`{"text": ...}`). It is given events, never alerts.
//!
//! ```yaml
//! chat: { type: webhook, url: "${CHAT_WEBHOOK_URL}", format: slack, secret: "${HOOK_SECRET}" }
//! ```
//!
//! With `secret`, every post carries `X-Migrate-Timestamp` (Unix seconds)
//! and `X-Migrate-Signature: sha256=<hex>`, the HMAC-SHA256 under the
//! secret of `<timestamp>.<body>`: a receiver checks the signature and
//! refuses old timestamps. Posts are bounded by the provider's timeout and
//! retried with backoff on transient failures (each body has an `id`, the
//! same on every attempt, for a receiver to drop a repeat).

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use reqwest::Client;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{config_of, web, Adapter, CallCtx, Message, Notifier, Outgoing, ProviderError};
use crate::domain::notify::{Notice, NOTICE_SCHEMA};
use crate::plan::decode::Cx;
use crate::plan::providers::Fields;
use crate::plan::spec::{
    self, Key, ProviderConfig, ProviderSpec, Shape, CA_FILE, INSECURE_SKIP_TLS_VERIFY,
};
use crate::plan::{Capability, Headers, Provider, Text, Tls};

pub const TIMESTAMP_HEADER: &str = "X-Migrate-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Migrate-Signature";

/// The body a webhook posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `{"schema": "migrate.notify/v1", "event": ..., ...}`.
    Json,
    /// Slack's incoming webhooks: `{"text": ...}`.
    Slack,
}

pub struct Webhook {
    url: Text,
    format: Format,
    secret: Option<Text>,
    headers: Headers,
    client: Client,
    ctx: CallCtx,
}

impl Webhook {
    pub fn new(cfg: &Config, ctx: CallCtx) -> Result<Self, ProviderError> {
        Ok(Self {
            url: cfg.url.clone(),
            format: cfg.format,
            secret: cfg.secret.clone(),
            headers: cfg.headers.clone(),
            client: web::client(&ctx, &cfg.tls)?,
            ctx,
        })
    }
}

/// The JSON body of a notice.
pub fn json_body(n: &Notice, at: SystemTime) -> serde_json::Value {
    let at = humantime::format_rfc3339_millis(at).to_string();
    let id = crate::domain::short_digest(format!("{}|{}|{at}", n.migration, n.event).as_bytes());
    json!({
        "schema": NOTICE_SCHEMA,
        "id": id,
        "event": n.event,
        "migration": n.migration,
        "severity": n.severity,
        "at": at,
        "summary": n.summary,
        "next": n.next,
        "fields": n.fields,
    })
}

/// The Slack body of a notice: one line of text, and the next command.
pub fn slack_body(n: &Notice) -> serde_json::Value {
    let mark = match n.severity.as_str() {
        "critical" => ":rotating_light: ",
        "warning" => ":warning: ",
        _ => "",
    };
    let mut text = format!("{mark}*{}*: {}", n.migration, n.summary);
    if let Some(next) = &n.next {
        text.push_str(&format!("\nNext: `{next}`"));
    }
    json!({ "text": text })
}

/// HMAC-SHA256 of `message` under `key` (RFC 2104), as lowercase hex.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The signature header's value for `body` sent at Unix time `timestamp`.
pub fn signature(secret: &str, timestamp: u64, body: &str) -> String {
    format!(
        "sha256={}",
        hmac_sha256_hex(secret.as_bytes(), format!("{timestamp}.{body}").as_bytes())
    )
}

#[async_trait]
impl Notifier for Webhook {
    fn render(&self, message: &Message<'_>) -> Option<Outgoing> {
        let Message::Notice(notice, at) = message else {
            return None;
        };
        let body = match self.format {
            Format::Json => json_body(notice, *at),
            Format::Slack => slack_body(notice),
        };
        // Nothing from the environment goes in a body.
        let body = crate::redact::clean(&body.to_string()).into_owned();
        let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
        if let Some(secret) = &self.secret {
            let ts = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            headers.push((TIMESTAMP_HEADER.to_string(), ts.to_string()));
            headers.push((
                SIGNATURE_HEADER.to_string(),
                signature(secret.expose(), ts, &body),
            ));
        }
        Some(Outgoing {
            shown: format!("POST {}", self.url.shown()),
            headers,
            body,
        })
    }

    async fn send(&self, request: &Outgoing) -> Result<(), ProviderError> {
        let doing = "posting an event";
        self.ctx
            .call(doing, true, || {
                let mut r = web::with_headers(self.client.post(self.url.expose()), &self.headers);
                for (k, v) in &request.headers {
                    r = r.header(k.as_str(), v.as_str());
                }
                web::send_ok(&self.ctx, doing, &self.url, r.body(request.body.clone()))
            })
            .await
            .map(drop)
    }
}

// The declaration: what a `webhook` provider is in a plan.

pub static SPEC: ProviderSpec = ProviderSpec {
    name: "webhook",
    article: "a",
    capabilities: &[Capability::Notify],
    needs: &[],
    keys: &[
        Key::required("url", Shape::Text, "the URL events are posted to"),
        Key::optional(
            "format",
            Shape::Literal,
            "json (default: migrate.notify/v1 bodies) or slack (incoming-webhook text)",
        ),
        Key::optional(
            "secret",
            Shape::Text,
            "signs every post: X-Migrate-Signature, HMAC-SHA256 of timestamp.body",
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
    Ok(Arc::new(Webhook::new(config_of::<Config>(p)?, ctx)?))
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub url: Text,
    pub format: Format,
    /// Shown as its template; its value only signs.
    pub secret: Option<Text>,
    pub headers: Headers,
    pub tls: Tls,
}

impl ProviderConfig for Config {
    fn insecure_tls(&self) -> bool {
        self.tls.insecure_skip_verify
    }
}

fn decode(cx: &mut Cx<'_>, r: &Fields<'_, '_>) -> Option<spec::Config> {
    let url = r.url(cx, "url", &["http://", "https://"]);
    let format = match r.map.opt("format") {
        Some((n, p)) => cx.choice(n, &p, &[("json", Format::Json), ("slack", Format::Slack)]),
        None => Some(Format::Json),
    };
    let secret = r.opt_text(cx, "secret");
    if let Ok(Some(s)) = &secret {
        if !s.is_secret() {
            if let Some((n, p)) = r.map.opt("secret") {
                cx.warning(
                    n.span,
                    &p,
                    "the webhook's secret is written in the plan",
                    Some("take it from the environment: secret: \"${HOOK_SECRET}\""),
                );
            }
        }
    }
    let headers = r.headers(cx);
    let tls = r.tls(cx);
    spec::config(Config {
        url: url?,
        format: format?,
        secret: secret.ok()?,
        headers: headers.ok()?,
        tls: tls.ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test cases 1, 2 and 6 (a key longer than a block).
    #[test]
    fn hmac_matches_the_rfc_vectors() {
        assert_eq!(
            hmac_sha256_hex(&[0x0b; 20], b"Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hmac_sha256_hex(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn slack_bodies_are_one_text() {
        let n = Notice {
            event: "breach".into(),
            migration: "m".into(),
            severity: "critical".into(),
            summary: "gate errors breached".into(),
            next: Some("migrate status".into()),
            fields: json!({}),
        };
        let body = slack_body(&n);
        assert_eq!(
            body["text"],
            ":rotating_light: *m*: gate errors breached\nNext: `migrate status`"
        );
        assert_eq!(body.as_object().map(serde_json::Map::len), Some(1));
    }
}
