//! Load through a proxy over kept-alive connections: an upstream that
//! answers every request with its name (`X-Backend` header and body) and
//! keeps the connection open, and a client that sends many requests on a
//! few connections, each with the headers the test chooses, and says which
//! upstream answered each. Tens of thousands of requests take seconds on
//! loopback, where a connection per request would take minutes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// An upstream on 127.0.0.1: `200`, body and `X-Backend` its name,
/// HTTP/1.1 keep-alive.
pub struct Upstream {
    pub name: String,
    pub port: u16,
    served: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Upstream {
    pub fn start(name: &str) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let served = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Backend: {name}\r\nContent-Length: {}\r\n\r\n{name}",
            name.len()
        );
        let accept = {
            let (served, stop) = (served.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (served, answer) = (served.clone(), answer.clone());
                    std::thread::spawn(move || serve(conn, &answer, &served));
                }
            })
        };
        Ok(Self {
            name: name.to_string(),
            port,
            served,
            stop,
            accept: Some(accept),
        })
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Requests answered so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// Answer every request on `conn` until the peer closes it. Requests are
/// read up to their blank line (a body, if announced, is skipped).
fn serve(conn: TcpStream, answer: &str, served: &AtomicU64) {
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    loop {
        let mut length = 0usize;
        let mut close = false;
        let mut line = String::new();
        let mut first = true;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let l = line.trim_end();
            if l.is_empty() {
                if first {
                    continue;
                }
                break;
            }
            first = false;
            if let Some((k, v)) = l.split_once(':') {
                let v = v.trim();
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.parse().unwrap_or(0);
                } else if k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        if length > 0 {
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
        }
        served.fetch_add(1, Ordering::SeqCst);
        if out.write_all(answer.as_bytes()).is_err() || close {
            return;
        }
    }
}

/// One kept-alive connection to a proxy (opened again when the proxy
/// closes it between two requests, as servers do after so many requests
/// on one connection).
pub struct Client {
    port: u16,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    pub fn connect(port: u16) -> Result<Self> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Self {
            port,
            writer: s.try_clone()?,
            reader: BufReader::new(s),
        })
    }

    /// `GET target` with `headers`; the status and the `X-Backend` that
    /// answered (empty when none did).
    pub fn get(&mut self, target: &str, headers: &[(&str, &str)]) -> Result<(u16, String)> {
        let mut req = format!("GET {target} HTTP/1.1\r\nHost: test\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut line = String::new();
        let sent = self
            .writer
            .write_all(req.as_bytes())
            .and_then(|()| self.reader.read_line(&mut line));
        if !matches!(sent, Ok(n) if n > 0) {
            // Closed by the proxy before any answer: a GET can be sent
            // again, on a new connection.
            *self = Self::connect(self.port)?;
            self.writer.write_all(req.as_bytes())?;
            line.clear();
            self.reader.read_line(&mut line)?;
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("not an HTTP status line: {line:?}"))?;
        let (mut length, mut backend) = (None, String::new());
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                bail!("the connection closed in the middle of an answer");
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse::<usize>().ok();
                } else if k.eq_ignore_ascii_case("x-backend") {
                    backend = v.trim().to_string();
                }
            }
        }
        let length = length.context("an answer without Content-Length")?;
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        Ok((status, backend))
    }
}

/// Send one request per entry of `keys` through the proxy on `port`
/// (`Some(key)` sets `header: key`, `None` sends no key), `repeat` times
/// each, on `connections` kept-alive connections in parallel; which
/// upstream answered each time, per key (`answers[i][r]`).
pub fn load(
    port: u16,
    header: &str,
    keys: &[Option<String>],
    repeat: usize,
    connections: usize,
) -> Result<Vec<Vec<String>>> {
    let connections = connections.max(1);
    let chunk = keys.len().div_ceil(connections).max(1);
    let results: Vec<Result<Vec<Vec<String>>>> = std::thread::scope(|s| {
        let handles: Vec<_> = keys
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || -> Result<Vec<Vec<String>>> {
                    let mut c = Client::connect(port)?;
                    let mut out = Vec::with_capacity(part.len());
                    for key in part {
                        let mut seen = Vec::with_capacity(repeat);
                        for _ in 0..repeat {
                            let headers: Vec<(&str, &str)> = match key {
                                Some(k) => vec![(header, k.as_str())],
                                None => Vec::new(),
                            };
                            let (status, backend) = c.get("/pay", &headers)?;
                            if status != 200 {
                                bail!("the proxy answered {status} for key {key:?}");
                            }
                            seen.push(backend);
                        }
                        out.push(seen);
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a client thread panicked")))
            })
            .collect()
    });
    let mut all = Vec::with_capacity(keys.len());
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}
