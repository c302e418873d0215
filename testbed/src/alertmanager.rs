//! A Prometheus Alertmanager (Debian's `prometheus-alertmanager`, 0.25) of
//! the test's own: configuration and storage in a temporary directory,
//! listening on 127.0.0.1 and a free port, clustering off, every alert
//! routed to one webhook receiver (a URL the test gives, on loopback), with
//! short waits so a test sees firing and resolved notifications within a
//! second or two.

use std::fs::File;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::http::get;
use crate::{free_port, wait_until, Guard};

/// The binary of Debian's package.
pub const BINARY: &str = "/usr/bin/prometheus-alertmanager";

pub struct Alertmanager {
    pub port: u16,
    dir: tempfile::TempDir,
    guard: Guard,
}

impl Alertmanager {
    /// Start, sending every notification (firing and resolved) to
    /// `receiver` (a webhook URL), grouped by alert name and migration.
    pub fn start(receiver: &str) -> Result<Self> {
        crate::require(BINARY)?;
        let dir = tempfile::Builder::new().prefix("migrate-am-").tempdir()?;
        let port = free_port()?;
        let config = format!(
            "global:
  resolve_timeout: 5s
route:
  receiver: test
  group_by: [alertname, migration]
  group_wait: 200ms
  group_interval: 500ms
  repeat_interval: 1h
receivers:
  - name: test
    webhook_configs:
      - url: '{receiver}'
        send_resolved: true
"
        );
        let config_path = dir.path().join("alertmanager.yml");
        std::fs::write(&config_path, config)?;
        let log = File::create(dir.path().join("alertmanager.log"))?;
        let guard = Guard::spawn(
            "alertmanager",
            Command::new(BINARY)
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address=")
                .arg("--log.level=warn")
                .stdout(log.try_clone()?)
                .stderr(log),
        )?;
        let mut am = Self { port, dir, guard };
        let ready = wait_until("alertmanager /-/ready", Duration::from_secs(30), || {
            matches!(get(port, "/-/ready"), Ok((200, _)))
        });
        if let Err(e) = ready {
            if am.guard.exited() {
                bail!("alertmanager exited: {}", am.log());
            }
            return Err(e).with_context(|| am.log());
        }
        Ok(am)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The alerts it holds now (`GET /api/v2/alerts`), as JSON text.
    pub fn alerts(&self) -> Result<String> {
        let (status, body) = get(self.port, "/api/v2/alerts")?;
        if status != 200 {
            bail!("GET /api/v2/alerts answered {status}: {body}");
        }
        Ok(body)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }

    /// Stop it (as if it went down); dropping it does the same.
    pub fn stop(&mut self) {
        self.guard.stop(Duration::from_secs(5));
    }
}
