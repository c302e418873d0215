//! A Prometheus 2 server of the test's own: configuration and storage in a
//! temporary directory, listening on 127.0.0.1 and a free port, scraping
//! the given targets every second.
//!
//! The first samples appear only some seconds after start; [`start`]
//! returns once the server is ready *and* has scraped its targets (the
//! query `up` has a result), so queries see data at once.
//!
//! [`start`]: Prometheus::start

use std::fs::File;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::http::{encode, get};
use crate::{free_port, wait_until, Guard};

pub struct Prometheus {
    pub port: u16,
    dir: tempfile::TempDir,
    guard: Guard,
}

impl Prometheus {
    /// Start scraping `targets` (`127.0.0.1:PORT`, path `/metrics`) as job
    /// `app`, every second.
    pub fn start(targets: &[String]) -> Result<Self> {
        crate::require("prometheus")?;
        let dir = tempfile::Builder::new().prefix("migrate-prom-").tempdir()?;
        let port = free_port()?;
        let list = targets
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: [{list}]\n"
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config)?;
        let log = File::create(dir.path().join("prometheus.log"))?;
        let guard = Guard::spawn(
            "prometheus",
            Command::new("prometheus")
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--storage.tsdb.retention.time=1h")
                .stdout(log.try_clone()?)
                .stderr(log),
        )?;
        let mut p = Self { port, dir, guard };
        let ready = wait_until("prometheus /-/ready", Duration::from_secs(30), || {
            matches!(get(port, "/-/ready"), Ok((200, _)))
        });
        if let Err(e) = ready {
            if p.guard.exited() {
                bail!("prometheus exited: {}", p.log());
            }
            return Err(e).with_context(|| p.log());
        }
        if !targets.is_empty() {
            p.wait_for("up").with_context(|| p.log())?;
        }
        Ok(p)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The raw answer of an instant query.
    pub fn query(&self, query: &str) -> Result<(u16, String)> {
        get(self.port, &format!("/api/v1/query?query={}", encode(query)))
    }

    /// Wait (up to 30 s) until `query` has a non-empty result.
    pub fn wait_for(&self, query: &str) -> Result<()> {
        wait_until(
            &format!("prometheus data for {query}"),
            Duration::from_secs(30),
            || {
                std::thread::sleep(Duration::from_millis(100));
                matches!(self.query(query), Ok((200, body)) if body.contains("\"result\":[{") || body.contains("\"resultType\":\"scalar\""))
            },
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Stop the server (as if it went down); dropping it does the same.
    pub fn stop(&mut self) {
        self.guard.stop(Duration::from_secs(5));
    }
}
