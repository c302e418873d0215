//! The supervisor's HTTP endpoints (`--listen`, default
//! [`DEFAULT_LISTEN`]): `/metrics`, the Prometheus text page of
//! [`Metrics`], and `/healthz`: `200 ok active|standby`, or `503` with the
//! reason (the state store cannot be reached, the loop stalled, a soak's
//! evaluations are stale).

use std::sync::Arc;
use std::time::Duration;

use hyper::{Method, StatusCode};

use crate::http::{self as web, Req, Server};

use super::metrics::Metrics;

/// Where `/metrics` and `/healthz` are served unless `--listen` says.
pub use crate::cli::DEFAULT_LISTEN;

/// Serve the pages on `addr` until the server is dropped.
pub async fn serve(
    addr: std::net::SocketAddr,
    metrics: Arc<Metrics>,
    stale_after: Duration,
) -> std::io::Result<Server> {
    let handler = web::handler(move |req: Req| {
        let metrics = metrics.clone();
        async move {
            if req.method != Method::GET && req.method != Method::HEAD {
                return web::text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
            }
            match req.path.as_str() {
                "/metrics" => web::metrics(metrics.render()),
                "/healthz" => match metrics.health(stale_after) {
                    Ok(role) => web::text(StatusCode::OK, &format!("ok {role}\n")),
                    Err(why) => web::text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &format!("unhealthy: {}\n", crate::redact::clean(&why)),
                    ),
                },
                _ => web::text(
                    StatusCode::NOT_FOUND,
                    "not found: the supervisor serves /metrics and /healthz\n",
                ),
            }
        }
    });
    Server::bind(addr, handler).await
}
