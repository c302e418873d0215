//! HAProxy 2.6 in master-worker mode, with an admin socket and a server
//! state file, in a temporary directory: one frontend on a free port and
//! one backend (`balance roundrobin`) whose servers the test chooses.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::{free_port, port_open, run, wait_until, Guard};

/// A server line: name, port on 127.0.0.1, initial weight.
pub struct Server<'a> {
    pub name: &'a str,
    pub port: u16,
    pub weight: u32,
}

pub struct Haproxy {
    /// The frontend's port.
    pub port: u16,
    pub backend: String,
    dir: tempfile::TempDir,
    guard: Guard,
}

impl Haproxy {
    pub fn start(backend: &str, servers: &[Server<'_>]) -> Result<Self> {
        Self::start_with_rules(backend, servers, |_| String::new())
    }

    /// [`Haproxy::start`] with `rules` (given the temporary directory) as
    /// the backend's first lines, before its servers.
    pub fn start_with_rules(
        backend: &str,
        servers: &[Server<'_>],
        rules: impl FnOnce(&Path) -> String,
    ) -> Result<Self> {
        crate::require("haproxy")?;
        let dir = tempfile::Builder::new()
            .prefix("migrate-haproxy-")
            .tempdir()?;
        let port = free_port()?;
        let d = dir.path().display();
        let mut cfg = format!(
            "global
    master-worker
    stats socket {d}/admin.sock mode 600 level admin expose-fd listeners
    server-state-file {d}/state

defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    load-server-state-from-file global

frontend fe
    bind 127.0.0.1:{port}
    default_backend {backend}

backend {backend}
    balance roundrobin
"
        );
        cfg.push_str(&rules(dir.path()));
        for s in servers {
            cfg.push_str(&format!(
                "    server {} 127.0.0.1:{} weight {}\n",
                s.name, s.port, s.weight
            ));
        }
        let file = dir.path().join("haproxy.cfg");
        std::fs::write(&file, cfg)?;
        run(
            "haproxy -c",
            Command::new("haproxy").args(["-c", "-q", "-f"]).arg(&file),
        )?;
        let guard = Guard::spawn(
            "haproxy",
            Command::new("haproxy").args(["-W", "-db", "-f"]).arg(&file),
        )?;
        let h = Self {
            port,
            backend: backend.to_string(),
            dir,
            guard,
        };
        let sock = h.socket();
        wait_until("haproxy", Duration::from_secs(15), || {
            port_open(port) && UnixStream::connect(&sock).is_ok()
        })?;
        Ok(h)
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("admin.sock")
    }

    pub fn state_file(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn master_pid(&self) -> u32 {
        self.guard.pid()
    }

    /// One Runtime API command; the reply as text.
    pub fn command(&self, cmd: &str) -> Result<String> {
        let mut s = UnixStream::connect(self.socket()).context("connecting to the admin socket")?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.write_all(format!("{cmd}\n").as_bytes())?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    }

    /// The worker's pid, from `show info`.
    pub fn worker_pid(&self) -> Result<u32> {
        let info = self.command("show info")?;
        info.lines()
            .find_map(|l| l.strip_prefix("Pid: "))
            .and_then(|p| p.trim().parse().ok())
            .context("no Pid in show info")
    }

    /// A server's current weight (`get weight be/srv` → `N (initial M)`).
    pub fn weight(&self, server: &str) -> Result<u32> {
        let reply = self.command(&format!("get weight {}/{server}", self.backend))?;
        reply
            .split_whitespace()
            .next()
            .and_then(|w| w.parse().ok())
            .with_context(|| format!("get weight answered {reply:?}"))
    }

    /// Hitless reload (USR2 to the master); returns once a new worker
    /// answers on the admin socket.
    pub fn reload(&self) -> Result<()> {
        let before = self.worker_pid()?;
        // The master can miss a USR2 that arrives while it is still busy with
        // an earlier reload: ask again every few seconds until a new worker
        // answers.
        let mut after = before;
        let start = std::time::Instant::now();
        let mut asked = None::<std::time::Instant>;
        while start.elapsed() < Duration::from_secs(30) {
            if asked.is_none_or(|t| t.elapsed() > Duration::from_secs(3)) {
                self.guard.signal("USR2")?;
                asked = Some(std::time::Instant::now());
            }
            if let Ok(p) = self.worker_pid() {
                if p != before {
                    after = p;
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if after == before {
            bail!("haproxy did not reload within 30 s");
        }
        // The new worker takes over the admin socket a moment after it
        // appears; wait until it answers there.
        wait_until(
            "haproxy admin socket after reload",
            Duration::from_secs(15),
            || {
                self.command("show info")
                    .map(|info| info.contains(&format!("Pid: {after}")))
                    .unwrap_or(false)
            },
        )?;
        Ok(())
    }
}
