//! Real components for tests and benchmarks, started on 127.0.0.1 with
//! free ports in temporary directories, and stopped (by pid) when dropped.
//!
//! Each component lives in its own module; this file holds what they share:
//! free ports, readiness polling, and the child-process guard.

pub mod alertmanager;
pub mod backend;
pub mod data_diff;
pub mod envoy;
pub mod flagd_core;
pub mod haproxy;
pub mod http;
pub mod keepalive;
pub mod mariadb;
pub mod nginx;
pub mod pip;
pub mod postgres;
pub mod prometheus;
pub mod tls;
pub mod tmpfs;
pub mod traefik;
pub mod unleash;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A free TCP port on 127.0.0.1. The listener is closed before returning,
/// so the port can (rarely) be taken by someone else before it is used.
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Poll `ready` every 20 ms until it returns true, failing after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("{what} was not ready within {limit:?}")
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// Where components installed from a package registry (npm, PyPI) are
/// kept between runs: `$MIGRATE_TESTBED_CACHE`, or
/// `~/.cache/migrate-testbed`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("MIGRATE_TESTBED_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/migrate-testbed"))
        })
        .unwrap_or_else(|| std::env::temp_dir().join("migrate-testbed"))
}

/// Whether a program is on PATH (or an absolute path that exists).
pub fn have(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).exists();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// Fail with a message naming what to install when `program` is missing.
pub fn require(program: &str) -> Result<()> {
    if have(program) {
        Ok(())
    } else {
        bail!("{program} is not installed: run ./scripts/test (it installs the components the tests use)")
    }
}

/// A child process killed (TERM, then KILL) and reaped when dropped.
pub struct Guard {
    pub child: Child,
    pub name: String,
}

impl Guard {
    pub fn spawn(name: &str, cmd: &mut Command) -> Result<Self> {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Self {
            child,
            name: name.to_string(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send a signal by pid (e.g. "STOP", "CONT", "TERM", "KILL").
    pub fn signal(&self, sig: &str) -> Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .context("running kill")?;
        if !status.success() {
            bail!("kill -{sig} {} failed", self.pid());
        }
        Ok(())
    }

    /// Whether the process has exited (reaping it if so).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// TERM, wait up to `grace`, then KILL; always reaps.
    pub fn stop(&mut self, grace: Duration) {
        if self.exited() {
            return;
        }
        let _ = self.signal("TERM");
        let start = Instant::now();
        while start.elapsed() < grace {
            if self.exited() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

/// Run a command to completion; fail with its output when it fails.
pub fn run(what: &str, cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Quote a word for `sh`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Run `commands` (argv lists) once this process has exited: for
/// components shared by a whole test binary through a static, which Rust
/// never drops. A detached `sh` polls for this process and then cleans up.
pub fn reap_after(commands: &[Vec<String>]) -> Result<()> {
    let me = std::process::id();
    let script: Vec<String> = commands
        .iter()
        .map(|argv| {
            argv.iter()
                .map(|a| sh_quote(a))
                .collect::<Vec<_>>()
                .join(" ")
                + " >/dev/null 2>&1"
        })
        .collect();
    let script = format!(
        "while kill -0 {me} 2>/dev/null && ! grep -q '^State:.*Z' /proc/{me}/status 2>/dev/null; do sleep 0.5; done; {}",
        script.join("; ")
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the clean-up watcher")?;
    Ok(())
}
