//! Upstreams for the proxies under test to route to: each answers every
//! request `200` with its name (and an `X-Backend` header), and counts what
//! it served. Built on the scripted [`Server`], which records every request.

use anyhow::Result;

use crate::http::{Response, Server};

/// An upstream that answers with its name and counts what it served.
pub struct Backend {
    pub name: String,
    pub port: u16,
    server: Server,
}

impl Backend {
    pub fn start(name: &str) -> Result<Self> {
        let answer = Response::ok(name)
            .header("Content-Type", "text/plain")
            .header("X-Backend", name);
        let server = Server::start(move |_| answer.clone())?;
        Ok(Self {
            name: name.to_string(),
            port: server.port,
            server,
        })
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        self.server.address()
    }

    /// Requests served so far.
    pub fn count(&self) -> usize {
        self.server.requests().len()
    }

    /// Every request served so far (with its headers: a request Envoy
    /// mirrored comes with its host suffixed `-shadow`).
    pub fn requests(&self) -> Vec<crate::http::Request> {
        self.server.requests()
    }

    pub fn reset(&self) {
        self.server.clear();
    }
}
