//! A small HTTP server for what migrate serves (`supervise`'s pages, the
//! demo's system): hyper's HTTP/1.1 server, by default on 127.0.0.1 and a
//! port the system chooses, one task per connection (keep-alive), all
//! stopped when the [`Server`] is dropped.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// The largest request body read.
const MAX_BODY: usize = 64 * 1024;

pub type Reply = Response<Full<Bytes>>;

/// A request with its body read whole.
pub struct Req {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub type Handler = Arc<dyn Fn(Req) -> Pin<Box<dyn Future<Output = Reply> + Send>> + Send + Sync>;

/// Wrap an async function as a [`Handler`].
pub fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    Arc::new(move |req| Box::pin(f(req)))
}

/// A running server; dropping it closes the listener and every connection.
pub struct Server {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    pub async fn start(handler: Handler) -> std::io::Result<Server> {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0)), handler).await
    }

    /// A server on `addr` (port 0: one the system chooses).
    pub async fn bind(addr: SocketAddr, handler: Handler) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(accept(listener, handler));
        Ok(Server { addr, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, handler: Handler) {
    // Dropped with this task (when the server is): aborts every connection.
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors, or a connection reset before it
                // was accepted: try again shortly.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        connections.spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handle(req, handler).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

async fn handle(req: Request<Incoming>, handler: Handler) -> Reply {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return text(StatusCode::BAD_REQUEST, &format!("reading the body: {e}")),
    };
    handler(Req {
        method: parts.method,
        path: parts.uri.path().to_string(),
        headers: parts.headers,
        body,
    })
    .await
}

fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Reply {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

pub fn json(status: StatusCode, value: &serde_json::Value) -> Reply {
    reply(
        status,
        "application/json",
        Bytes::from(value.to_string().into_bytes()),
    )
}

/// Raw JSON bytes passed through (a service's answer, forwarded).
pub fn json_bytes(status: StatusCode, body: Bytes) -> Reply {
    reply(status, "application/json", body)
}

pub fn text(status: StatusCode, body: &str) -> Reply {
    reply(
        status,
        "text/plain; charset=utf-8",
        Bytes::from(body.to_string().into_bytes()),
    )
}

/// A Prometheus text page.
pub fn metrics(body: String) -> Reply {
    reply(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        Bytes::from(body.into_bytes()),
    )
}

/// `{"error": message}` with `status`.
pub fn error(status: StatusCode, message: &str) -> Reply {
    json(status, &serde_json::json!({ "error": message }))
}
