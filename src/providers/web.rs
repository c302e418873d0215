//! What every HTTP-speaking adapter shares: a client built from the plan's
//! TLS options, and one place that turns a response or a transport failure
//! into a [`ProviderError`] of the right class.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use reqwest::{Client, RequestBuilder, StatusCode};

use super::{CallCtx, Failure, ProviderError};
use crate::plan::{Headers, Text, Tls};
use crate::redact;

/// How much of a response body an error message quotes.
const QUOTE_LIMIT: usize = 300;

/// A client for a provider. Certificate verification is on unless the
/// plan turned it off for this provider, which is warned about loudly.
///
/// Clients are shared by every provider with the same TLS options: building
/// one loads the root certificates, which costs more than a request on
/// loopback, and a rollback must not pay it once per target. Each call is
/// bounded by the provider's own timeout in [`CallCtx::call`].
pub fn client(ctx: &CallCtx, tls: &Tls) -> Result<Client, ProviderError> {
    if tls.insecure_skip_verify {
        warn_insecure(&ctx.provider);
    }
    shared_client(tls).map_err(|(doing, message)| ctx.error(Failure::Rejected, doing, message))
}

/// The client shared by everything with these TLS options (providers and
/// webhooks); an error says what was being done and what went wrong.
pub fn shared_client(tls: &Tls) -> Result<Client, (&'static str, String)> {
    type Key = (bool, Option<String>);
    static CLIENTS: OnceLock<Mutex<HashMap<Key, Client>>> = OnceLock::new();
    let key: Key = (
        tls.insecure_skip_verify,
        tls.ca_file.as_ref().map(|c| c.expose().to_string()),
    );
    let clients = CLIENTS.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(c) = clients.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(c);
    }
    let mut b = Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("migrate/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(30));
    if tls.insecure_skip_verify {
        b = b.danger_accept_invalid_certs(true);
    }
    if let Some(ca) = &tls.ca_file {
        let pem = std::fs::read(ca.expose())
            .map_err(|e| ("reading ca_file", format!("cannot read {ca}: {e}")))?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
            (
                "reading ca_file",
                format!("{ca} is not a PEM certificate: {}", e.without_url()),
            )
        })?;
        b = b.add_root_certificate(cert);
    }
    let c = b
        .build()
        .map_err(|e| ("building the HTTP client", e.without_url().to_string()))?;
    if let Ok(mut m) = clients.lock() {
        m.insert(key, c.clone());
    }
    Ok(c)
}

fn warn_insecure(provider: &str) {
    // Said to the operator when the plan is opened (app::plan_file's
    // security notices, through the printer); logged here for tracing.
    tracing::warn!(
        provider,
        "TLS certificate verification is OFF for provider '{provider}' (insecure_skip_tls_verify: true): anyone on the path can impersonate it"
    );
}

/// Add the plan's headers (values may be secrets; they go on the wire only).
pub fn with_headers(mut req: RequestBuilder, headers: &Headers) -> RequestBuilder {
    for (name, value) in headers {
        req = req.header(name.as_str(), value.expose());
    }
    req
}

/// A response that came back, whatever its status.
pub struct Answer {
    pub status: StatusCode,
    pub body: String,
}

impl Answer {
    /// The body, shortened and with secrets masked, for an error message.
    pub fn quote(&self) -> String {
        quote(&self.body)
    }
}

/// Shorten and mask a text from outside for an error message, on one line
/// (line breaks and the indentation after them become one space).
pub fn quote(text: &str) -> String {
    let one_line = one_line(text.trim());
    let text = one_line.as_str();
    let cut: String = text.chars().take(QUOTE_LIMIT).collect();
    let cut = if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        cut
    };
    redact::clean(&cut).into_owned()
}

fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    if let Some(first) = lines.next() {
        out.push_str(first);
    }
    for l in lines {
        out.push(' ');
        out.push_str(l);
    }
    out
}

/// Send a request and read the whole body. Transport failures and
/// timeouts are transient; the status is left to the caller (see
/// [`expect_success`]).
pub async fn send(
    ctx: &CallCtx,
    doing: &str,
    url: &Text,
    req: RequestBuilder,
) -> Result<Answer, ProviderError> {
    let resp = req
        .send()
        .await
        .map_err(|e| transport(ctx, doing, url, &e))?;
    let status = resp.status();
    let body = resp
        .text()
        .await
        .map_err(|e| transport(ctx, doing, url, &e))?;
    Ok(Answer { status, body })
}

/// `send`, then fail on a non-2xx status: 5xx, 408 and 429 are transient,
/// other 4xx rejected.
pub async fn send_ok(
    ctx: &CallCtx,
    doing: &str,
    url: &Text,
    req: RequestBuilder,
) -> Result<Answer, ProviderError> {
    let a = send(ctx, doing, url, req).await?;
    expect_success(ctx, doing, url, a)
}

pub fn expect_success(
    ctx: &CallCtx,
    doing: &str,
    url: &Text,
    a: Answer,
) -> Result<Answer, ProviderError> {
    if a.status.is_success() {
        return Ok(a);
    }
    let failure = status_failure(a.status);
    let body = a.quote();
    let message = if body.is_empty() {
        format!("{url} answered {}", a.status)
    } else {
        format!("{url} answered {}: {body}", a.status)
    };
    Err(ctx.error(failure, doing, message))
}

pub fn status_failure(status: StatusCode) -> Failure {
    if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        Failure::Transient
    } else {
        Failure::Rejected
    }
}

/// A transport failure in words, without the URL reqwest would quote (it
/// may hold credentials); the plan's display form of the URL is used.
pub fn transport(ctx: &CallCtx, doing: &str, url: &Text, e: &reqwest::Error) -> ProviderError {
    let what = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        format!("cannot connect: {}", root_cause(e))
    } else if e.is_body() || e.is_decode() {
        format!("the answer broke off: {}", root_cause(e))
    } else {
        root_cause(e)
    };
    ctx.error(Failure::Transient, doing, format!("{url}: {what}"))
}

/// The innermost cause of an error, which says what actually happened
/// ("Connection refused (os error 111)", "invalid peer certificate:
/// UnknownIssuer"), without the URL reqwest would quote.
pub fn root_cause(e: &reqwest::Error) -> String {
    let mut msg = None;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg = Some(s.to_string());
        source = s.source();
    }
    // reqwest's own words name the URL: "... for url (http://u:p@h/)".
    msg.unwrap_or_else(|| {
        let text = e.to_string();
        match text.find(" for url (") {
            Some(i) => text[..i].to_string(),
            None => text,
        }
    })
}

/// Join a base URL and a path without doubling or dropping the slash.
pub fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        assert_eq!(status_failure(StatusCode::BAD_GATEWAY), Failure::Transient);
        assert_eq!(
            status_failure(StatusCode::TOO_MANY_REQUESTS),
            Failure::Transient
        );
        assert_eq!(status_failure(StatusCode::NOT_FOUND), Failure::Rejected);
        assert_eq!(status_failure(StatusCode::UNAUTHORIZED), Failure::Rejected);
    }

    #[test]
    fn joins_paths() {
        assert_eq!(join("http://a:1/", "/api/v1"), "http://a:1/api/v1");
        assert_eq!(join("http://a:1", "api"), "http://a:1/api");
    }

    #[test]
    fn quotes_are_one_line() {
        assert_eq!(
            quote("<html>\n  <body>Internal error</body>\r\n\n</html>\n"),
            "<html> <body>Internal error</body> </html>"
        );
    }

    #[test]
    fn quotes_are_short() {
        let long = "x".repeat(1000);
        assert!(quote(&long).chars().count() <= QUOTE_LIMIT + 1);
    }
}
