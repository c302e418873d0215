//! A migration rig for the reliability suites (crash, storage, faults,
//! security): a temp dir holding a plan, the files its exec providers
//! write, a flagd file and a metrics page; and the checks every suite
//! makes of what a run left behind (journal, state, provider logs).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use migrate::state::{Record, State};
use serde_json::Value;
use testbed::http::{Response, Server};

use crate::support;

/// Two boolean flags in a flagd file: one the plan changes, one it must
/// leave alone.
pub const FLAGS: &str = r#"{
  "flags": {
    "dual-write": { "state": "ENABLED", "variants": { "on": true, "off": false }, "defaultVariant": "off" },
    "rollout": { "state": "ENABLED", "variants": { "on": true, "off": false }, "defaultVariant": "on" },
    "unrelated": { "state": "ENABLED", "variants": { "on": true, "off": false }, "defaultVariant": "on" }
  }
}
"#;

/// An exec provider named `name` keeping a percent in `{DIR}/name.pct`
/// and logging every set to `{DIR}/name.log`. A set replaces the file
/// atomically (temp + rename), as a real system's set is atomic: a kill
/// never leaves it half-written.
pub fn exec_provider(name: &str) -> String {
    format!(
        "  {name}:\n    type: exec\n    set: [sh, -c, 'echo {{{{percent}}}} > {{DIR}}/{name}.pct.tmp && mv {{DIR}}/{name}.pct.tmp {{DIR}}/{name}.pct && echo {{{{percent}}}} >> {{DIR}}/{name}.log']\n    get: [sh, -c, 'cat {{DIR}}/{name}.pct 2>/dev/null || echo 0']\n"
    )
}

pub struct Rig {
    pub dir: tempfile::TempDir,
    /// What the metrics page says `error_ratio` is; `None`: it answers 500.
    pub ratio: Arc<Mutex<Option<f64>>>,
    pub metrics: Server,
    /// The migration's name (the plan's `name`).
    pub name: String,
}

impl Rig {
    pub fn new(name: &str) -> Rig {
        let dir = tempfile::Builder::new()
            .prefix("migrate-rel-")
            .tempdir()
            .unwrap();
        std::fs::write(dir.path().join("flags.json"), FLAGS).unwrap();
        let ratio = Arc::new(Mutex::new(Some(0.0)));
        let metrics = {
            let ratio = ratio.clone();
            Server::start(move |_| match *ratio.lock().unwrap() {
                Some(v) => Response::ok(format!("# TYPE error_ratio gauge\nerror_ratio {v}\n")),
                None => Response::new(500, "internal error"),
            })
            .unwrap()
        };
        Rig {
            dir,
            ratio,
            metrics,
            name: name.to_string(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write the plan, with `{DIR}` and `{METRICS}` filled in.
    pub fn plan(&self, text: &str) -> PathBuf {
        let text = text
            .replace("{DIR}", &self.dir.path().display().to_string())
            .replace("{METRICS}", &self.metrics.url("/metrics"));
        let p = self.path("plan.yaml");
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `migrate -f plan.yaml` with a clean environment.
    pub fn migrate(&self) -> assert_cmd::Command {
        let mut cmd = support::migrate();
        cmd.arg("-f").arg(self.path("plan.yaml"));
        cmd
    }

    /// The binary as a plain command (to spawn, kill, or give a seam's
    /// variables), with a clean environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_migrate"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .env("MIGRATE_ACTOR", "ops@test")
            .arg("-f")
            .arg(self.path("plan.yaml"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Run to the end: exit code, stdout, stderr.
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        output(self.command(args).output().unwrap())
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    /// The percent an exec provider holds.
    pub fn pct(&self, provider: &str) -> f64 {
        self.read(&format!("{provider}.pct"))
            .trim()
            .parse()
            .unwrap_or(0.0)
    }

    /// Every value an exec provider was set to, in order.
    pub fn log(&self, name: &str) -> Vec<String> {
        self.read(name).lines().map(str::to_string).collect()
    }

    pub fn flag(&self, key: &str) -> Value {
        let v: Value = serde_json::from_str(&self.read("flags.json")).unwrap();
        v["flags"][key].clone()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path(&format!(".migrate/{}", self.name))
    }

    pub fn state_file(&self) -> PathBuf {
        self.state_dir().join("state.json")
    }

    pub fn journal_file(&self) -> PathBuf {
        self.state_dir().join("journal.ndjson")
    }

    /// The journal's records, read strictly: every line complete and valid.
    pub fn records(&self) -> Vec<Record> {
        records(&self.journal_file())
    }

    pub fn state(&self) -> State {
        serde_json::from_str(&std::fs::read_to_string(self.state_file()).unwrap()).unwrap()
    }

    /// What must hold after any run, however it ended: the journal is
    /// whole (no torn line, sequence numbers 1, 2, 3, ...), no step is
    /// recorded done twice, and `state.json` is exactly the fold of the
    /// journal.
    pub fn assert_consistent(&self, context: &str) {
        assert_consistent(&self.name, &self.records(), &self.state(), context);
    }
}

/// What must hold after any run of the migration `name`, whichever store
/// holds it: see [`Rig::assert_consistent`].
pub fn assert_consistent(name: &str, records: &[Record], state: &State, context: &str) {
    {
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.seq, i as u64 + 1, "{context}: journal sequence");
        }
        let mut done = std::collections::HashSet::new();
        let mut last_retry = 0;
        for (i, r) in records.iter().enumerate() {
            if r.entry.name() == "retried" || r.entry.name() == "rollback_started" {
                last_retry = i;
                done.clear();
            }
            if let migrate::state::Entry::StepDone { step, .. } = &r.entry {
                assert!(
                    done.insert(step.clone()),
                    "{context}: step {step} recorded done twice (record {}, after record {last_retry})",
                    r.seq
                );
            }
        }
        let replayed = State::replay(name, records);
        assert_eq!(
            state, &replayed,
            "{context}: the state is not the fold of the journal"
        );
    }
}

/// A journal file's records, read strictly.
pub fn records(path: &Path) -> Vec<Record> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{}: the last line is torn: {:?}",
        path.display(),
        text.lines().last()
    );
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{} line {}: {e}: {l}", path.display(), i + 1))
        })
        .collect()
}

pub fn output(out: std::process::Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Consecutive repeats collapsed: an idempotent re-set of the step in
/// flight after a crash shows as a repeat, which is allowed; anything
/// else (a skipped or twice-applied step) is not.
pub fn collapsed(log: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in log {
        if out.last() != Some(l) {
            out.push(l.clone());
        }
    }
    out
}

/// Run SQL with the sqlite3 shell; its output, trimmed.
pub fn sqlite(file: &Path, sql: &str) -> String {
    testbed::require("sqlite3").unwrap();
    let out = Command::new("sqlite3").arg(file).arg(sql).output().unwrap();
    assert!(
        out.status.success(),
        "sqlite3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A real HAProxy with backend `payments`: server `old` (weight 100) and
/// `new` (weight 0), each a backend that says its name.
pub fn payments_haproxy() -> (
    testbed::backend::Backend,
    testbed::backend::Backend,
    testbed::haproxy::Haproxy,
) {
    use testbed::backend::Backend;
    let old = Backend::start("old").unwrap();
    let new = Backend::start("new").unwrap();
    let haproxy = payments_haproxy_to(old.port, new.port);
    (old, new, haproxy)
}

/// A real HAProxy with backend `payments`: server `old` (weight 100) on
/// `legacy` and `new` (weight 0) on `candidate`, both loopback ports.
pub fn payments_haproxy_to(legacy: u16, candidate: u16) -> testbed::haproxy::Haproxy {
    use testbed::haproxy::{Haproxy, Server as HaServer};
    Haproxy::start(
        "payments",
        &[
            HaServer {
                name: "old",
                port: legacy,
                weight: 100,
            },
            HaServer {
                name: "new",
                port: candidate,
                weight: 0,
            },
        ],
    )
    .unwrap()
}
