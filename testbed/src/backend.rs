//! Tiny HTTP servers for the proxies under test to route to, and a plain
//! HTTP client to drive them.
//!
//! - [`Backend`]: answers every request `200` with its name, and counts.
//! - [`Stub`]: a scripted server for systems that cannot run here (Envoy's
//!   admin API, LaunchDarkly): a handler decides each answer, and every
//!   request is recorded for the test to assert on.
//!
//! One thread per connection, `Connection: close`: simple and enough for
//! the few hundred requests a test sends.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// A request as received.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent (`/runtime_modify?a=1`).
    pub target: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Request {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// An answer: status and body (sent as `application/json` when it looks
/// like JSON, else `text/plain`).
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            body: body.into(),
        }
    }
}

fn read_request(stream: &TcpStream) -> Result<Request> {
    let mut r = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    if method.is_empty() {
        bail!("empty request");
    }
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(Request {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn write_response(mut stream: &TcpStream, resp: &Response, extra: &str) -> Result<()> {
    let kind = if resp.body.trim_start().starts_with(['{', '[']) {
        "application/json"
    } else {
        "text/plain"
    };
    let reason = match resp.status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    write!(
        stream,
        "HTTP/1.1 {} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{}",
        resp.status,
        resp.body.len(),
        resp.body
    )?;
    stream.flush()?;
    Ok(())
}

type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// A server on 127.0.0.1 with a free port, stopped when dropped.
struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn start(handler: Arc<Handler>, extra_header: String) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding a backend")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = conn else { continue };
                let handler = handler.clone();
                let extra = extra_header.clone();
                std::thread::spawn(move || {
                    if let Ok(req) = read_request(&stream) {
                        let resp = handler(&req);
                        let _ = write_response(&stream, &resp, &extra);
                    }
                    let _ = stream.shutdown(Shutdown::Both);
                });
            }
        });
        Ok(Self { port, stop })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// An upstream that answers with its name and counts what it served.
pub struct Backend {
    pub name: String,
    pub port: u16,
    count: Arc<AtomicUsize>,
    _server: Server,
}

impl Backend {
    pub fn start(name: &str) -> Result<Self> {
        let count = Arc::new(AtomicUsize::new(0));
        let counted = count.clone();
        let body = name.to_string();
        let server = Server::start(
            Arc::new(move |_req: &Request| {
                counted.fetch_add(1, Ordering::SeqCst);
                Response::new(200, body.clone())
            }),
            format!("X-Backend: {name}\r\n"),
        )?;
        Ok(Self {
            name: name.to_string(),
            port: server.port,
            count,
            _server: server,
        })
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Requests served so far.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    pub fn reset(&self) {
        self.count.store(0, Ordering::SeqCst);
    }
}

/// A scripted HTTP server that records every request.
pub struct Stub {
    pub port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    _server: Server,
}

impl Stub {
    pub fn start(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Result<Self> {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let server = Server::start(
            Arc::new(move |req: &Request| {
                if let Ok(mut s) = seen.lock() {
                    s.push(req.clone());
                }
                handler(req)
            }),
            String::new(),
        )?;
        Ok(Self {
            port: server.port,
            requests,
            _server: server,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn clear(&self) {
        if let Ok(mut r) = self.requests.lock() {
            r.clear();
        }
    }
}

/// A TCP server that accepts connections and never answers: for timeouts.
pub struct Silent {
    pub port: u16,
    _listener: TcpListener,
}

impl Silent {
    pub fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        Ok(Self {
            port: listener.local_addr()?.port(),
            // Connections complete in the kernel's backlog and are never
            // read: the client waits for an answer that does not come.
            _listener: listener,
        })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// An answer from [`get`].
#[derive(Debug)]
pub struct Got {
    pub status: u16,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

/// `GET http://127.0.0.1:port{path}` with a new connection.
pub fn get(port: u16, path: &str) -> Result<Got> {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .with_context(|| format!("connecting to 127.0.0.1:{port}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status line in {head:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Got {
        status,
        headers,
        body: body.to_string(),
    })
}
