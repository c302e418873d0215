//! The supervisor's HTTP endpoints (`--listen`, default
//! [`DEFAULT_LISTEN`]): `/metrics`, the Prometheus text page of
//! [`Metrics`]; `/healthz`: `200 ok active|standby`, or `503` with the
//! reason (the state store cannot be reached, the loop stalled, a soak's
//! evaluations are stale); the page at `/` (its assets under `/assets/`,
//! embedded in the binary) and its data, [`Page`], as JSON under
//! `/api/v1/`.
//!
//! Read-only: `GET` (and `HEAD`) only, anything else is `405`. Who may
//! look ([`Access`]): with a token (`MIGRATE_SUPERVISE_TOKEN`) every path
//! but `/healthz` needs it, as `Authorization: Bearer TOKEN` or as the
//! password of HTTP basic authentication (a browser asks for it); without
//! one, on a loopback address everything is open, and on any other
//! address `/metrics` and `/healthz` are (as they always were: names and
//! numbers) but the page and its API are refused.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Response, StatusCode};
use serde_json::json;

use crate::http::{self as web, Reply, Req, Server};

use super::metrics::Metrics;
use super::page::Page;

/// Where the supervisor serves unless `--listen` says.
pub use crate::cli::DEFAULT_LISTEN;

/// The environment variable holding the token the page, its API and
/// `/metrics` ask for.
pub const TOKEN_VAR: &str = "MIGRATE_SUPERVISE_TOKEN";

/// The page's assets: written by hand, embedded, served as they are.
const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/page.js");
const STYLE: &str = include_str!("assets/page.css");

/// The page loads only what migrate serves, runs only its own script, and
/// cannot be framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Who may look at what.
#[derive(Clone)]
pub struct Access {
    token: Option<String>,
    loopback: bool,
}

/// What [`Access::allows`] decides for a request.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Open,
    /// No token, or the wrong one: `401` (asking a browser for it).
    Ask,
    /// Off a loopback address without a token (`supervise` does not start
    /// so; this is the guard behind that).
    Refused,
}

impl Access {
    /// `token`: from [`TOKEN_VAR`] (empty counts as none).
    pub fn new(listen: std::net::SocketAddr, token: Option<String>) -> Self {
        Self {
            token: token.filter(|t| !t.is_empty()),
            loopback: listen.ip().is_loopback(),
        }
    }

    /// From the environment; the token is registered as a secret.
    pub fn from_env(listen: std::net::SocketAddr) -> Self {
        let token = std::env::var(TOKEN_VAR).ok();
        if let Some(t) = &token {
            crate::redact::register(t);
        }
        Self::new(listen, token)
    }

    /// Anything can be served: a token is set, or the address is loopback
    /// (`supervise` refuses to start otherwise).
    pub fn page_served(&self) -> bool {
        self.token.is_some() || self.loopback
    }

    fn allows(&self, path: &str, authorization: Option<&str>) -> Verdict {
        if path == "/healthz" {
            return Verdict::Open;
        }
        match &self.token {
            Some(t) => {
                if authorization
                    .and_then(presented)
                    .is_some_and(|p| same(&p, t))
                {
                    Verdict::Open
                } else {
                    Verdict::Ask
                }
            }
            None if self.loopback => Verdict::Open,
            None => Verdict::Refused,
        }
    }
}

/// The token an `Authorization` header presents: a bearer token, or the
/// password of basic authentication (any user name).
fn presented(header: &str) -> Option<String> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = String::from_utf8(base64_decode(rest)?).ok()?;
        return decoded.split_once(':').map(|(_, pw)| pw.to_string());
    }
    None
}

/// Equal, in a time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Standard base64 (padding optional); `None` when it is not.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

/// A path's percent-encoding undone (a migration's name in the API's path).
fn decode_path(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn header(r: &mut Reply, name: HeaderName, value: &'static str) {
    r.headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

/// Headers every answer of the page and its API carries.
fn guarded(mut r: Reply) -> Reply {
    header(
        &mut r,
        HeaderName::from_static("content-security-policy"),
        CSP,
    );
    header(
        &mut r,
        HeaderName::from_static("x-content-type-options"),
        "nosniff",
    );
    header(
        &mut r,
        HeaderName::from_static("referrer-policy"),
        "no-referrer",
    );
    header(&mut r, HeaderName::from_static("x-frame-options"), "DENY");
    header(&mut r, CACHE_CONTROL, "no-store");
    r
}

fn asset(content_type: &'static str, body: &'static str) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    header(&mut r, CONTENT_TYPE, content_type);
    guarded(r)
}

/// JSON, every registered secret masked.
fn api_json(value: &serde_json::Value) -> Reply {
    let text = crate::redact::clean(&value.to_string()).into_owned();
    let mut r = Response::new(Full::new(Bytes::from(text.into_bytes())));
    header(&mut r, CONTENT_TYPE, "application/json");
    guarded(r)
}

fn api_error(status: StatusCode, message: &str) -> Reply {
    guarded(web::error(status, message))
}

/// Serve the pages on `addr` until the server is dropped.
pub async fn serve(
    addr: std::net::SocketAddr,
    metrics: Arc<Metrics>,
    page: Arc<Page>,
    access: Access,
    stale_after: Duration,
) -> std::io::Result<Server> {
    let handler = web::handler(move |req: Req| {
        let metrics = metrics.clone();
        let page = page.clone();
        let access = access.clone();
        async move { answer(&req, &metrics, &page, &access, stale_after) }
    });
    Server::bind(addr, handler).await
}

fn answer(
    req: &Req,
    metrics: &Metrics,
    page: &Page,
    access: &Access,
    stale_after: Duration,
) -> Reply {
    if req.method != Method::GET && req.method != Method::HEAD {
        let mut r = web::text(
            StatusCode::METHOD_NOT_ALLOWED,
            "GET only: nothing served here changes a migration\n",
        );
        header(&mut r, hyper::header::ALLOW, "GET, HEAD");
        return r;
    }
    let path = req.path.as_str();
    match access.allows(path, req.header("authorization")) {
        Verdict::Open => {}
        Verdict::Ask => {
            let mut r = web::text(
                StatusCode::UNAUTHORIZED,
                &format!("this supervisor asks for its token ({TOKEN_VAR}): Authorization: Bearer TOKEN, or TOKEN as the password\n"),
            );
            header(
                &mut r,
                WWW_AUTHENTICATE,
                "Basic realm=\"migrate supervise\", charset=\"UTF-8\"",
            );
            return r;
        }
        Verdict::Refused => {
            return web::text(
                StatusCode::FORBIDDEN,
                &format!("nothing but /healthz is served on a non-loopback address without a token: set {TOKEN_VAR}\n"),
            );
        }
    }
    match path {
        "/metrics" => web::metrics(metrics.render()),
        "/healthz" => match metrics.health(stale_after) {
            Ok(role) => web::text(StatusCode::OK, &format!("ok {role}\n")),
            Err(why) => web::text(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("unhealthy: {}\n", crate::redact::clean(&why)),
            ),
        },
        "/" | "/index.html" => {
            page.viewed();
            asset("text/html; charset=utf-8", INDEX)
        }
        "/assets/page.js" => asset("text/javascript; charset=utf-8", SCRIPT),
        "/assets/page.css" => asset("text/css; charset=utf-8", STYLE),
        "/api/v1/migrations" => {
            page.viewed();
            let health = metrics.health(stale_after);
            let supervisor = json!({
                "role": metrics.role(),
                "healthy": health.is_ok(),
                "health": match &health {
                    Ok(role) => format!("ok {role}"),
                    Err(why) => format!("unhealthy: {why}"),
                },
            });
            api_json(&page.overview(supervisor))
        }
        _ => match path.strip_prefix("/api/v1/migrations/").map(decode_path) {
            Some(Some(name)) => {
                page.viewed();
                match page.migration(&name) {
                    Some(m) => api_json(&m),
                    None => api_error(
                        StatusCode::NOT_FOUND,
                        &format!("no migration '{name}' is watched here"),
                    ),
                }
            }
            Some(None) => api_error(StatusCode::BAD_REQUEST, "a malformed migration name"),
            None if path.starts_with("/api/") => api_error(
                StatusCode::NOT_FOUND,
                "the API serves /api/v1/migrations and /api/v1/migrations/NAME",
            ),
            None => web::text(
                StatusCode::NOT_FOUND,
                "not found: the supervisor serves /, /api/v1/migrations, /metrics and /healthz\n",
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> std::net::SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn without_a_token_only_loopback_serves_anything_but_healthz() {
        let local = Access::new(addr("127.0.0.1:9465"), None);
        assert_eq!(local.allows("/", None), Verdict::Open);
        assert_eq!(local.allows("/api/v1/migrations", None), Verdict::Open);
        let wide = Access::new(addr("0.0.0.0:9465"), Some(String::new()));
        assert!(!wide.page_served());
        assert_eq!(wide.allows("/", None), Verdict::Refused);
        assert_eq!(wide.allows("/api/v1/migrations", None), Verdict::Refused);
        assert_eq!(wide.allows("/assets/page.js", None), Verdict::Refused);
        assert_eq!(wide.allows("/metrics", None), Verdict::Refused);
        assert_eq!(wide.allows("/healthz", None), Verdict::Open);
    }

    #[test]
    fn a_token_is_asked_for_everywhere_but_healthz() {
        let a = Access::new(addr("0.0.0.0:9465"), Some("s3cret-tok".into()));
        assert_eq!(a.allows("/healthz", None), Verdict::Open);
        assert_eq!(a.allows("/", None), Verdict::Ask);
        assert_eq!(a.allows("/metrics", None), Verdict::Ask);
        assert_eq!(a.allows("/", Some("Bearer s3cret-tok")), Verdict::Open);
        assert_eq!(a.allows("/", Some("Bearer s3cret-to")), Verdict::Ask);
        assert_eq!(a.allows("/", Some("Bearer s3cret-tokk")), Verdict::Ask);
        // "ops:s3cret-tok" in base64: a browser's basic authentication.
        assert_eq!(
            a.allows("/api/v1/migrations", Some("Basic b3BzOnMzY3JldC10b2s=")),
            Verdict::Open
        );
        assert_eq!(a.allows("/", Some("Basic b3BzOndyb25n")), Verdict::Ask);
        assert_eq!(a.allows("/", Some("Basic !!!")), Verdict::Ask);
        // On loopback too, once a token is set.
        let l = Access::new(addr("127.0.0.1:9465"), Some("s3cret-tok".into()));
        assert_eq!(l.allows("/", None), Verdict::Ask);
    }

    #[test]
    fn names_in_paths_are_decoded() {
        assert_eq!(decode_path("pay%20v2").as_deref(), Some("pay v2"));
        assert_eq!(
            decode_path("payments-canary").as_deref(),
            Some("payments-canary")
        );
        assert_eq!(decode_path("bad%2"), None);
        assert_eq!(
            base64_decode("b3BzOnMzY3JldC10b2s=").unwrap(),
            b"ops:s3cret-tok"
        );
    }
}
