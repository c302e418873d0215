//! The engine end to end, through the `migrate` binary: real exec
//! providers (shell commands writing files), a real flagd file, a metrics
//! page the test controls (read directly, or through a real Prometheus),
//! and real processes killed, raced and rolled back from other terminals.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use testbed::http::{Response, Server};

use crate::support;

/// A migration rig: a temp dir holding the plan, the files the exec
/// providers write, the flagd file, and a metrics page.
struct Rig {
    dir: tempfile::TempDir,
    /// The error ratio the page reports; `None`: the page answers 500.
    ratio: Arc<Mutex<Option<f64>>>,
    /// Report this ratio while the candidate's traffic is at least the
    /// percent (a bug that shows at a share of traffic).
    bug_at: Arc<Mutex<Option<(f64, f64)>>>,
    metrics: Server,
}

const FLAGS: &str = r#"{
  "$schema": "https://flagd.dev/schema/v0/flags.json",
  "flags": {
    "dual-write": { "state": "ENABLED", "variants": { "on": true, "off": false }, "defaultVariant": "off" },
    "unrelated": { "state": "ENABLED", "variants": { "on": true, "off": false }, "defaultVariant": "on" }
  }
}
"#;

/// The plan's providers and gates; `{DIR}` and `{METRICS}` are filled in.
const HEAD: &str = r#"
version: 1
name: e2e
settings: { interval: 1s, timeout: 3s, retries: 1, rollback_timeout: 5s }
providers:
  lb:
    type: exec
    set: [sh, -c, 'echo {{percent}} > {DIR}/lb.pct && echo {{percent}} >> {DIR}/lb.log']
    get: [sh, -c, 'cat {DIR}/lb.pct 2>/dev/null || echo 0']
  edge:
    type: exec
    set: [sh, -c, 'echo {{percent}} > {DIR}/mirror.pct && echo {{percent}} >> {DIR}/mirror.log']
    get: [sh, -c, 'cat {DIR}/mirror.pct 2>/dev/null || echo 0']
  flags: { type: flagd, file: '{DIR}/flags.json' }
  app: { type: scrape, url: '{METRICS}' }
gates:
  errors: { provider: app, query: error_ratio, max: 0.05 }
"#;

const PHASES: &str = r#"
phases:
  - name: dual-write
    steps:
      - flag: { provider: flags, key: dual-write, enabled: true }
        keep_on_rollback: true
  - name: shadow
    steps:
      - mirror: { provider: edge, percent: 100 }
      - soak: 1s
        gates: [errors]
  - name: canary
    steps:
      - canary: { provider: lb, percents: [5, 50, 100], soak: {SOAK}, gates: [errors] }
  - name: cleanup
    steps:
      - mirror: { provider: edge, percent: 0 }
"#;

impl Rig {
    fn new() -> Rig {
        let dir = tempfile::Builder::new()
            .prefix("migrate-e2e-")
            .tempdir()
            .unwrap();
        std::fs::write(dir.path().join("flags.json"), FLAGS).unwrap();
        let ratio = Arc::new(Mutex::new(Some(0.0)));
        let bug_at: Arc<Mutex<Option<(f64, f64)>>> = Arc::new(Mutex::new(None));
        let lb = dir.path().join("lb.pct");
        let metrics = {
            let ratio = ratio.clone();
            let bug_at = bug_at.clone();
            Server::start(move |_| {
                let traffic: f64 = std::fs::read_to_string(&lb)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0.0);
                let mut value = *ratio.lock().unwrap();
                if let Some((at, bad)) = *bug_at.lock().unwrap() {
                    if traffic >= at {
                        value = Some(bad);
                    }
                }
                match value {
                    Some(v) => Response::ok(format!(
                        "# TYPE error_ratio gauge\nerror_ratio {v}\n# TYPE candidate_percent gauge\ncandidate_percent {traffic}\n"
                    )),
                    None => Response::new(500, "internal error"),
                }
            })
            .unwrap()
        };
        Rig {
            dir,
            ratio,
            bug_at,
            metrics,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write the plan (HEAD + `phases`, soak filled in) and return its path.
    fn plan(&self, phases: &str, soak: &str) -> PathBuf {
        self.plan_with(HEAD, phases, soak)
    }

    fn plan_with(&self, head: &str, phases: &str, soak: &str) -> PathBuf {
        let text = format!("{head}{phases}")
            .replace("{DIR}", &self.dir.path().display().to_string())
            .replace("{METRICS}", &self.metrics.url("/metrics"))
            .replace("{SOAK}", soak);
        let p = self.path("plan.yaml");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn migrate(&self) -> assert_cmd::Command {
        let mut cmd = support::migrate();
        cmd.arg("-f").arg(self.path("plan.yaml"));
        cmd
    }

    /// The binary as a child process (for killing and racing).
    fn spawn(&self, args: &[&str], actor: &str) -> Child {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_migrate"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .env("MIGRATE_ACTOR", actor)
            .arg("-f")
            .arg(self.path("plan.yaml"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.spawn().unwrap()
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    fn lb(&self) -> f64 {
        self.read("lb.pct").trim().parse().unwrap_or(0.0)
    }

    fn mirror(&self) -> f64 {
        self.read("mirror.pct").trim().parse().unwrap_or(0.0)
    }

    fn log(&self, name: &str) -> Vec<String> {
        self.read(name).lines().map(str::to_string).collect()
    }

    fn flag(&self, key: &str) -> Value {
        let v: Value = serde_json::from_str(&self.read("flags.json")).unwrap();
        v["flags"][key].clone()
    }

    fn state_dir(&self) -> PathBuf {
        self.path(".migrate/e2e")
    }

    fn state(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.state_dir().join("state.json")).unwrap())
            .unwrap()
    }

    fn journal(&self) -> Vec<Value> {
        std::fs::read_to_string(self.state_dir().join("journal.ndjson"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn output(child: Child) -> (i32, String, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Consecutive repeats collapsed: an idempotent re-set of the step in
/// flight after a crash shows as a repeat, which is allowed; anything
/// else (a skipped or twice-applied step) is not.
fn collapsed(log: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in log {
        if out.last() != Some(l) {
            out.push(l.clone());
        }
    }
    out
}

#[test]
fn a_whole_plan_runs_against_a_real_prometheus() {
    let rig = Rig::new();
    let prom = testbed::prometheus::Prometheus::start(&[rig.metrics.address()]).unwrap();
    prom.wait_for("error_ratio").unwrap();
    let head = HEAD.replace(
        "  app: { type: scrape, url: '{METRICS}' }",
        &format!("  app: {{ type: prometheus, url: '{}' }}", prom.url()),
    );
    let head = head.replace("query: error_ratio", "query: max(error_ratio)");
    rig.plan_with(&head, PHASES, "2s");
    rig.migrate().args(["validate"]).assert().success();
    let out = rig.migrate().args(["advance", "--wait"]).assert().code(0);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("complete"), "{stdout}");
    assert_eq!(rig.lb(), 100.0);
    assert_eq!(rig.mirror(), 0.0, "clean-up removed mirroring");
    assert_eq!(rig.flag("dual-write")["defaultVariant"], "on");
    assert_eq!(
        rig.flag("unrelated")["defaultVariant"],
        "on",
        "other flags untouched"
    );
    assert_eq!(
        rig.log("lb.log"),
        ["5", "50", "100"],
        "each canary step applied once, in order"
    );
    // Gates were read from Prometheus during every soak.
    let gates = rig
        .journal()
        .iter()
        .filter(|r| r["event"] == "gate" && r["gate"] == "errors")
        .count();
    assert!(gates >= 4, "gate readings in the journal: {gates}");
    let status = rig
        .migrate()
        .args(["-o", "json", "status"])
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&status.get_output().stdout).unwrap();
    assert_eq!(v["status"], "completed");
    assert_eq!(v["schema"], "migrate.events/v1");
}

#[test]
fn a_breach_mid_canary_rolls_everything_back_and_retry_finishes() {
    let rig = Rig::new();
    rig.plan(PHASES, "1s");
    // A bug in the candidate that shows once it takes half the traffic.
    *rig.bug_at.lock().unwrap() = Some((50.0, 0.3));
    let out = rig.migrate().args(["advance", "--wait"]).assert().code(3);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stdout.contains("Rolled back"), "{stdout}");
    assert!(
        stderr.contains("BREACH") && stderr.contains("errors"),
        "{stderr}"
    );
    assert_eq!(rig.lb(), 0.0, "traffic back at the baseline");
    assert_eq!(rig.mirror(), 0.0, "mirroring back at the baseline");
    assert_eq!(
        rig.flag("dual-write")["defaultVariant"],
        "on",
        "keep_on_rollback: dual writes stay on"
    );
    let st = rig.state();
    assert_eq!(st["status"], "rolled_back");
    // Every restore was verified by reading it back.
    let restored: Vec<_> = rig
        .journal()
        .into_iter()
        .filter(|r| r["event"] == "restored")
        .collect();
    assert_eq!(restored.len(), 3, "lb, mirror and the flag (kept as it is)");
    // advance keeps reporting the rollback until retry.
    rig.migrate().arg("advance").assert().code(3);

    // The fix is deployed; retry puts mirroring back and starts the canary again.
    *rig.bug_at.lock().unwrap() = None;
    rig.migrate().arg("retry").assert().success();
    assert_eq!(rig.mirror(), 100.0, "the shadow phase's mirroring is back");
    rig.migrate().args(["advance", "--wait"]).assert().code(0);
    assert_eq!(rig.lb(), 100.0);
    assert_eq!(
        collapsed(&rig.log("lb.log")),
        ["5", "50", "0", "5", "50", "100"]
    );
}

#[test]
fn killed_runs_resume_without_skipping_or_repeating_a_step() {
    // Kill -9 at a range of moments; after each, the next run carries on.
    let phases = r#"
phases:
  - name: canary
    steps:
      - traffic: { provider: lb, percent: 1 }
      - traffic: { provider: lb, percent: 2 }
      - soak: 300ms
        gates: [errors]
      - traffic: { provider: lb, percent: 3 }
      - flag: { provider: flags, key: dual-write, enabled: true }
      - traffic: { provider: lb, percent: 4 }
      - soak: 300ms
      - traffic: { provider: lb, percent: 5 }
      - traffic: { provider: lb, percent: 6 }
"#;
    for (round, delay_ms) in [5u64, 20, 40, 60, 90, 120, 160, 220, 300, 450]
        .iter()
        .enumerate()
    {
        let rig = Rig::new();
        rig.plan(phases, "1s");
        let mut kills = 0;
        let mut finished = false;
        for attempt in 0..40 {
            let mut child = rig.spawn(&["advance", "--wait"], "killer@test");
            std::thread::sleep(Duration::from_millis(delay_ms + attempt * 7));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                kills += 1;
            }
            let (code, _, stderr) = output(child);
            if code == 0 {
                finished = true;
                break;
            }
            assert!(
                code == -1 || code == 4,
                "round {round}: exit {code}: {stderr}"
            );
        }
        if !finished {
            rig.migrate().args(["advance", "--wait"]).assert().code(0);
        }
        let log = rig.log("lb.log");
        assert_eq!(
            collapsed(&log),
            ["1", "2", "3", "4", "5", "6"],
            "round {round} ({kills} kills): every step once, in order: {log:?}"
        );
        assert_eq!(rig.state()["status"], "completed");
        // The state is the fold of the journal, crash or not.
        rig.migrate().args(["state", "rebuild"]).assert().success();
        assert_eq!(rig.state()["status"], "completed");
    }
}

#[test]
fn a_rollback_from_another_terminal_stops_a_waiting_advance() {
    let rig = Rig::new();
    // The soak outlasts the test: the advance ends only by noticing.
    rig.plan(PHASES, "1h");
    let soaker = rig.spawn(&["advance", "--wait"], "ana@ci");
    wait_for("the canary soak to start", Duration::from_secs(20), || {
        rig.lb() == 5.0 && rig.read(".migrate/e2e/state.json").contains("\"soak\"")
    });
    let out = rig
        .migrate()
        .env("MIGRATE_ACTOR", "bob@oncall")
        .args(["rollback", "--reason", "latency looks wrong"])
        .assert()
        .success();
    // The flag a keep_on_rollback step turned on is not called restored to
    // its baseline.
    let said = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        said.contains("Rolled back: 3 targets verified")
            && said.contains(
                "at their baselines but flag dual-write via flags at on, as keep_on_rollback steps left it"
            ),
        "{said}"
    );
    let (code, stdout, stderr) = output(soaker);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(
        stdout.contains("bob@oncall") && stdout.contains("latency looks wrong"),
        "{stdout}"
    );
    assert_eq!(rig.lb(), 0.0);
    assert_eq!(rig.mirror(), 0.0);
}

#[test]
fn a_partial_rollback_from_another_terminal_stops_a_waiting_advance() {
    let rig = Rig::new();
    // The soak outlasts the test: the advance ends only by noticing.
    rig.plan(
        "\nphases:\n  - name: p\n    steps:\n      - traffic: { provider: lb, percent: 10 }\n      - traffic: { provider: lb, percent: 20 }\n      - soak: 1h\n        gates: [errors]\n      - traffic: { provider: lb, percent: 30 }\n",
        "1s",
    );
    let soaker = rig.spawn(&["advance", "--wait"], "ana@ci");
    wait_for("the soak to start", Duration::from_secs(20), || {
        rig.lb() == 20.0 && rig.read(".migrate/e2e/state.json").contains("\"soak\"")
    });
    rig.migrate()
        .env("MIGRATE_ACTOR", "bob@oncall")
        .args(["rollback", "--to", "p.1", "--reason", "20% is too much"])
        .assert()
        .success();
    let (code, stdout, stderr) = output(soaker);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(
        stdout.contains("bob@oncall") && stdout.contains("back to step p.1"),
        "{stdout}"
    );
    // The waiting advance set nothing after the rollback: p.2 is not
    // applied again, and the journal ends with the rollback.
    assert_eq!(rig.lb(), 10.0);
    assert_eq!(rig.log("lb.log"), ["10", "20", "10"]);
    let journal = rig.journal();
    let kinds: Vec<&str> = journal.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds.last(), Some(&"rollback_finished"), "{kinds:?}");
    // The migration goes on from p.2 when asked.
    assert_eq!(rig.state()["status"], "active");
    rig.migrate()
        .args(["advance", "--steps", "1"])
        .assert()
        .code(0);
    assert_eq!(rig.lb(), 20.0);
}

#[test]
fn concurrent_advances_never_apply_a_step_twice() {
    let rig = Rig::new();
    let steps: String = (1..=12)
        .map(|p| format!("      - traffic: {{ provider: lb, percent: {p} }}\n"))
        .collect();
    rig.plan(
        &format!("\nphases:\n  - name: ramp\n    steps:\n{steps}"),
        "1s",
    );
    for _round in 0..3 {
        let children: Vec<Child> = (0..6)
            .map(|i| rig.spawn(&["advance", "--steps", "1"], &format!("runner{i}@ci")))
            .collect();
        for c in children {
            let (code, out, err) = output(c);
            assert_eq!(code, 0, "{out}{err}");
        }
    }
    let log = rig.log("lb.log");
    let expected: Vec<String> = (1..=12).map(|p| p.to_string()).collect();
    assert_eq!(log, expected[..log.len()], "exactly once, in order");
    assert_eq!(
        log.len(),
        12,
        "18 runs of one step each finish the 12 steps"
    );
}

#[test]
fn dry_run_changes_nothing() {
    let rig = Rig::new();
    rig.plan(PHASES, "1s");
    let out = rig
        .migrate()
        .args(["--dry-run", "advance"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("flag dual-write via flags") && stdout.contains("mirror via edge"),
        "{stdout}"
    );
    assert!(!rig.state_dir().exists(), "no state written");
    assert!(!rig.path("mirror.pct").exists());
    assert_eq!(rig.read("flags.json"), FLAGS);
    // And after some progress, a dry-run rollback says what it would do.
    rig.migrate()
        .args(["advance", "--steps", "2"])
        .assert()
        .success();
    let journal = rig.journal().len();
    let out = rig
        .migrate()
        .args(["--dry-run", "rollback"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("restore mirror via edge: 100% → 0%"),
        "{stdout}"
    );
    assert_eq!(rig.mirror(), 100.0);
    assert_eq!(rig.journal().len(), journal);
}

#[test]
fn secrets_never_reach_output_state_or_journal() {
    let rig = Rig::new();
    let secret = "s3cr3t-t0ken-value-9f2c";
    let head = HEAD.replace(
        "  flags: { type: flagd",
        "  hooked:\n    type: exec\n    set: [sh, -c, 'echo {{percent}} > {DIR}/h.pct']\n    get: [sh, -c, 'cat {DIR}/h.pct 2>/dev/null || echo 0']\n    env: { API_TOKEN: '${API_TOKEN}' }\n  flags: { type: flagd",
    );
    let phases = r#"
phases:
  - name: p
    steps:
      - traffic: { provider: hooked, percent: 10 }
      - run: [sh, -c, 'echo "token is $T"; echo "token is $T" >&2; exit 3']
        env: { T: '${API_TOKEN}' }
"#;
    rig.plan_with(&head, phases, "1s");
    let mut outputs = String::new();
    let run = |args: &[&str]| {
        let o = rig
            .migrate()
            .env("API_TOKEN", secret)
            .args(args)
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    for args in [
        &["-v", "advance"][..],
        &["-o", "json", "advance"],
        &["status"],
        &["-o", "json", "status"],
        &["history"],
        &["-o", "json", "history"],
        &["plan"],
        &["-o", "json", "plan"],
        &["rollback"],
    ] {
        outputs.push_str(&run(args));
    }
    // The hook failed, and what it printed was shown, masked.
    assert!(
        outputs.contains("step p.2 failed") && outputs.contains("token is ***"),
        "{outputs}"
    );
    assert!(
        !outputs.contains(secret),
        "a secret reached the output:\n{outputs}"
    );
    for entry in std::fs::read_dir(rig.state_dir()).unwrap() {
        let p = entry.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        assert!(!text.contains(secret), "a secret reached {}", p.display());
    }
    // The state directory and its files are private.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&rig.state_dir()), 0o700);
    assert_eq!(mode(&rig.state_dir().join("state.json")), 0o600);
    assert_eq!(mode(&rig.state_dir().join("journal.ndjson")), 0o600);
}

#[test]
fn a_metrics_endpoint_answering_500_is_no_data_and_trips_the_breaker() {
    let rig = Rig::new();
    rig.plan(PHASES, "1s");
    *rig.ratio.lock().unwrap() = None;
    let out = rig.migrate().args(["advance", "--wait"]).assert().code(3);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("500") && stderr.contains("no_data: fail"),
        "{stderr}"
    );
    assert_eq!(rig.mirror(), 0.0);
}

#[test]
fn a_metrics_endpoint_that_never_answers_times_out_as_no_data() {
    let rig = Rig::new();
    let silent = Server::start(|_| Response::never()).unwrap();
    let head = HEAD
        .replace(
            "'{METRICS}'",
            &format!("'{}', timeout: 500ms", silent.url("/metrics")),
        )
        .replace("max: 0.05 }", "max: 0.05, no_data: pause }");
    rig.plan_with(&head, PHASES, "1s");
    let started = Instant::now();
    let out = rig.migrate().args(["advance", "--wait"]).assert().code(7);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("Paused by the gate policy"), "{stdout}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(rig.state()["status"], "paused");
    assert_eq!(rig.mirror(), 100.0, "pause changes nothing");
    rig.migrate().arg("advance").assert().code(7);
    rig.migrate().arg("resume").assert().success();
}

#[test]
fn a_failing_provider_fails_the_step_and_advance_tries_again() {
    let rig = Rig::new();
    let head = HEAD.replace(
        "set: [sh, -c, 'echo {{percent}} > {DIR}/lb.pct && echo {{percent}} >> {DIR}/lb.log']",
        "set: [sh, -c, 'test -e {DIR}/lb.ok || { echo lb unreachable >&2; exit 1; }; echo {{percent}} > {DIR}/lb.pct && echo {{percent}} >> {DIR}/lb.log']",
    );
    rig.plan_with(
        &head,
        "\nphases:\n  - name: c\n    steps:\n      - traffic: { provider: lb, percent: 10 }\n",
        "1s",
    );
    let out = rig.migrate().arg("advance").assert().code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("lb unreachable") && stderr.contains("exec provider 'lb'"),
        "{stderr}"
    );
    assert_eq!(rig.state()["status"], "failed");
    std::fs::write(rig.path("lb.ok"), "").unwrap();
    rig.migrate().arg("advance").assert().code(0);
    assert_eq!(rig.lb(), 10.0);
}

#[test]
fn approvals_need_a_person_or_a_flag() {
    let rig = Rig::new();
    rig.plan(
        "\nphases:\n  - name: c\n    steps:\n      - approve: Shift traffic?\n      - traffic: { provider: lb, percent: 10 }\n",
        "1s",
    );
    let out = rig
        .migrate()
        .args(["--dry-run", "advance"])
        .assert()
        .code(0);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("The next advance changes no target and stops at c.1: "),
        "{stdout}"
    );
    let out = rig.migrate().arg("advance").assert().code(4);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("--approve c.1"), "{stdout}");
    assert_eq!(rig.lb(), 0.0);
    // A mistyped approval is refused, not taken for no approval at all:
    // the message names the approvals the plan has.
    for (id, says) in [
        ("c.3", "the plan has no step 'c.3'"),
        ("c.2", "step 'c.2' is not an approval step"),
    ] {
        let out = rig
            .migrate()
            .args(["advance", "--approve", id])
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(
            stderr.contains(says) && stderr.contains("its approval steps: c.1"),
            "{stderr}"
        );
        assert_eq!(rig.lb(), 0.0);
    }
    rig.migrate()
        .args(["advance", "--approve", "c.1"])
        .assert()
        .code(0);
    assert_eq!(rig.lb(), 10.0);
    let history = rig.migrate().arg("history").assert().success();
    let text = String::from_utf8_lossy(&history.get_output().stdout).into_owned();
    assert!(text.contains("approved"), "{text}");
}

#[test]
fn drift_is_shown_and_stops_advance_unless_forced() {
    let rig = Rig::new();
    rig.plan(PHASES, "1s");
    rig.migrate()
        .args(["advance", "--steps", "2"])
        .assert()
        .success();
    std::fs::write(rig.path("mirror.pct"), "40\n").unwrap();
    let status = rig.migrate().arg("status").assert().success();
    let text = String::from_utf8_lossy(&status.get_output().stdout).into_owned();
    assert!(text.contains("DRIFT"), "{text}");
    let out = rig.migrate().arg("advance").assert().code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("mirror via edge") && stderr.contains("40%"),
        "{stderr}"
    );
    rig.migrate()
        .args(["advance", "--force", "--steps", "1"])
        .assert()
        .code(4);
}

#[test]
fn a_changed_plan_is_refused_for_steps_already_run() {
    let rig = Rig::new();
    rig.plan(PHASES, "1s");
    rig.migrate()
        .args(["advance", "--steps", "2"])
        .assert()
        .success();
    rig.plan(&PHASES.replace("percent: 100 }", "percent: 80 }"), "1s");
    let out = rig.migrate().arg("advance").assert().code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("shadow.1") && stderr.contains("100%") && stderr.contains("80%"),
        "{stderr}"
    );
    // A change to a step not yet run is fine.
    rig.plan(&PHASES.replace("[5, 50, 100]", "[10, 50, 100]"), "1s");
    rig.migrate()
        .args(["advance", "--steps", "2"])
        .assert()
        .code(4);
    assert_eq!(rig.lb(), 0.0);
}

/// `status` and `plan` on a plan changed in steps the migration has run:
/// everything they can show, the incompatibility loudly and why, exit 2
/// (as `advance`); the JSON document says so and a summary follows.
#[test]
fn status_and_plan_show_an_incompatible_plan_and_exit_2() {
    let rig = Rig::new();
    rig.plan(PHASES, "1s");
    rig.migrate()
        .args(["advance", "--steps", "2"])
        .assert()
        .success();
    rig.plan(&PHASES.replace("percent: 100 }", "percent: 80 }"), "1s");
    for cmd in ["status", "plan"] {
        let out = rig.migrate().arg(cmd).assert().code(2);
        let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(
            stdout.starts_with("PLAN INCOMPATIBLE — `migrate advance` refuses to run (exit 2): the plan changed under a running migration")
                && stdout.contains("shadow.1"),
            "{cmd}: loudly, first, and why: {stdout}"
        );
        assert!(
            stderr.contains("shadow.1") && stderr.contains("100%") && stderr.contains("80%"),
            "{cmd}: why: {stderr}"
        );
        let everything = if cmd == "status" {
            "Migration e2e: in progress"
        } else {
            "Plan e2e"
        };
        assert!(stdout.contains(everything), "{cmd}: the rest too: {stdout}");

        let out = rig.migrate().args(["-o", "json", cmd]).assert().code(2);
        let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        let lines: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let doc = &lines[0];
        let state = if cmd == "status" { doc } else { &doc["state"] };
        assert_eq!(state["plan_compatible"], false, "{cmd}: {stdout}");
        assert!(
            state["plan_problem"]
                .as_str()
                .is_some_and(|p| p.contains("shadow.1")),
            "{cmd}: {stdout}"
        );
        let last = lines.last().unwrap();
        assert_eq!(
            (last["type"].as_str(), last["exit_code"].as_i64()),
            (Some("summary"), Some(2)),
            "{cmd}: {stdout}"
        );
    }
    // Put back, both are fine again.
    rig.plan(PHASES, "1s");
    rig.migrate().arg("status").assert().success();
    rig.migrate().arg("plan").assert().success();
}

#[test]
fn a_damaged_state_file_is_reported_and_rebuilt_from_the_journal() {
    let rig = Rig::new();
    rig.plan(PHASES, "1s");
    rig.migrate()
        .args(["advance", "--steps", "2"])
        .assert()
        .success();
    let state = rig.state_dir().join("state.json");
    let text = std::fs::read_to_string(&state).unwrap();
    std::fs::write(&state, &text[..text.len() / 3]).unwrap();
    let out = rig.migrate().arg("status").assert().code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("migrate state rebuild"), "{stderr}");
    rig.migrate().args(["state", "rebuild"]).assert().success();
    let st = rig.state();
    assert_eq!(st["position"], 2);
    rig.migrate()
        .args(["advance", "--steps", "1"])
        .assert()
        .code(4);
}
