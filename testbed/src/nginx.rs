//! NGINX 1.22 in a temporary prefix directory (`daemon off`, every temp
//! path inside it, one worker so weighted round robin is exact), listening
//! on a free port. The test writes the files the configuration includes
//! and the `http {}` body; [`Nginx::argv`] gives the command line a plan's
//! `reload`/`test` use.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use crate::{free_port, port_open, run, wait_until, Guard};

pub struct Nginx {
    pub port: u16,
    dir: tempfile::TempDir,
    guard: Option<Guard>,
}

impl Nginx {
    /// A prefix directory and a port; nothing runs yet.
    pub fn prepare() -> Result<Self> {
        crate::require("nginx")?;
        let dir = tempfile::Builder::new()
            .prefix("migrate-nginx-")
            .tempdir()?;
        std::fs::create_dir_all(dir.path().join("logs"))?;
        Ok(Self {
            port: free_port()?,
            dir,
            guard: None,
        })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, contents: &str) -> Result<()> {
        std::fs::write(self.path(name), contents)?;
        Ok(())
    }

    fn conf(&self) -> PathBuf {
        self.path("nginx.conf")
    }

    /// `nginx -p DIR -c DIR/nginx.conf -e DIR/logs/error.log` and `extra`.
    pub fn argv(&self, extra: &[&str]) -> Vec<String> {
        let mut v = vec![
            "nginx".to_string(),
            "-p".to_string(),
            self.dir().display().to_string(),
            "-c".to_string(),
            self.conf().display().to_string(),
            "-e".to_string(),
            self.path("logs/error.log").display().to_string(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    }

    fn command(&self, extra: &[&str]) -> Command {
        let argv = self.argv(extra);
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..]);
        c
    }

    /// Write nginx.conf around `http_body` (which may use `{port}` for the
    /// listening port), check it, and start nginx.
    pub fn start(&mut self, http_body: &str) -> Result<()> {
        let d = self.dir().display().to_string();
        let conf = format!(
            "daemon off;
worker_processes 1;
pid {d}/logs/nginx.pid;
error_log {d}/logs/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{}
}}
",
            http_body.replace("{port}", &self.port.to_string())
        );
        std::fs::write(self.conf(), conf)?;
        run("nginx -t", &mut self.command(&["-t", "-q"]))?;
        self.guard = Some(Guard::spawn("nginx", &mut self.command(&[]))?);
        let port = self.port;
        wait_until("nginx", Duration::from_secs(10), || port_open(port))
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.path("logs/error.log")).unwrap_or_default()
    }

    /// The master's worker processes now.
    pub fn workers(&self) -> Vec<u32> {
        let Some(pid) = self.master_pid() else {
            return Vec::new();
        };
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// Wait until every worker in `before` has been replaced: a reload
    /// has taken effect.
    pub fn wait_reloaded(&self, before: &[u32]) -> Result<()> {
        wait_until("nginx reload", Duration::from_secs(10), || {
            let now = self.workers();
            !now.is_empty() && now.iter().all(|p| !before.contains(p))
        })
    }

    pub fn master_pid(&self) -> Option<u32> {
        self.guard.as_ref().map(Guard::pid)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(g) = &self.guard {
            // Graceful stop; the guard kills it if that takes too long.
            let _ = g.signal("QUIT");
        }
    }
}
