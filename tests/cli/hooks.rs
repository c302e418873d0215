//! Hook steps (`run`) through the binary when their run is cut short: the
//! advancing `migrate` killed -9 while its hook runs, Ctrl-C at a terminal
//! during a hook, and a hook that fails under `-o json`.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::rig::{exec_provider, output, Rig};

/// A traffic step, then a hook that sleeps on its first run only (so the
/// test can cut it short) and returns at once on later runs, then a
/// second traffic step. The hook logs `start` / `again` to hook.log.
fn plan_text() -> String {
    format!(
        r#"version: 1
name: hooks
settings: {{ interval: 1s, timeout: 5s, retries: 1, rollback_timeout: 5s }}
providers:
{lb}phases:
  - name: p
    steps:
      - traffic: {{ provider: lb, percent: 10 }}
      - run: [sh, -c, 'if [ -e {{DIR}}/once ]; then echo again >> {{DIR}}/hook.log; else touch {{DIR}}/once; echo start >> {{DIR}}/hook.log; sleep 60; fi']
      - traffic: {{ provider: lb, percent: 50 }}
"#,
        lb = exec_provider("lb")
    )
}

/// `migrate advance` in a process group of its own (as a shell's
/// foreground job: the hooks it runs are in the group too).
fn spawn_advance(rig: &Rig) -> Child {
    use std::os::unix::process::CommandExt;
    let mut cmd = rig.command(&["advance"]);
    cmd.process_group(0);
    cmd.spawn().unwrap()
}

fn signal(what: &str, target: &str) {
    let ok = Command::new("kill")
        .args([what, "--", target])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {what} {target}");
}

/// Wait (generously) until the hook has started.
fn wait_for_hook(rig: &Rig) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !rig.read("hook.log").contains("start") {
        assert!(Instant::now() < deadline, "the hook never started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_hook_whose_run_was_killed_runs_again_with_a_note_saying_so() {
    let rig = Rig::new("hooks");
    rig.plan(&plan_text());
    let mut child = spawn_advance(&rig);
    let pid = child.id();
    wait_for_hook(&rig);
    // The advancing migrate dies; its hook (same group) is left running.
    signal("-KILL", &pid.to_string());
    let _ = child.wait();
    let claim = rig
        .state()
        .claim
        .expect("the dead run's claim is on record");
    assert_eq!(claim.pid, pid);

    let (code, out, err) = rig.run(&["advance"]);
    // The orphaned hook of the killed run.
    signal("-KILL", &format!("-{pid}"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains(&format!(
            "an earlier run by ops@test (pid {pid} on {}",
            migrate::state::hostname()
        )) && err.contains("was running step")
            && err.contains("stopped before it finished; running its hook again"),
        "the re-run is announced: {err}"
    );
    assert_eq!(rig.log("hook.log"), ["start", "again"]);
    assert_eq!(rig.pct("lb"), 50.0);
    rig.assert_consistent("after the re-run");

    // And under -o json, the note is an event.
    let rig = Rig::new("hooks");
    rig.plan(&plan_text());
    let mut child = spawn_advance(&rig);
    let pid = child.id();
    wait_for_hook(&rig);
    signal("-KILL", &pid.to_string());
    let _ = child.wait();
    let (code, out, err) = rig.run(&["-o", "json", "advance"]);
    signal("-KILL", &format!("-{pid}"));
    assert_eq!(code, 0, "{out}{err}");
    let notes: Vec<Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "note")
        .collect();
    assert!(
        notes.iter().any(|n| n["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("(pid {pid} on")))),
        "{out}"
    );
}

#[test]
fn ctrl_c_during_a_hook_exits_130_and_the_next_advance_runs_it_again() {
    let rig = Rig::new("hooks");
    rig.plan(&plan_text());
    let child = spawn_advance(&rig);
    let pid = child.id();
    wait_for_hook(&rig);
    // Ctrl-C at a terminal: SIGINT to the whole foreground group.
    signal("-INT", &format!("-{pid}"));
    let (code, out, err) = output(child.wait_with_output().unwrap());
    assert_eq!(code, 130, "interrupted, not failed: {out}{err}");
    assert!(
        err.contains("Interrupted; the state is consistent")
            || out.contains("Interrupted; the state is consistent"),
        "{out}{err}"
    );
    assert!(
        err.contains("is not recorded as failed, and the next `migrate advance` runs it again"),
        "says what happens to the step: {err}"
    );
    let st = rig.state();
    assert!(st.claim.is_none(), "the claim is released: {:?}", st.claim);
    assert_ne!(st.status, migrate::state::Status::Failed);
    let names: Vec<&str> = rig.records().iter().map(|r| r.entry.name()).collect();
    assert!(!names.contains(&"step_failed"), "{names:?}");
    assert!(names.contains(&"released"), "{names:?}");
    rig.assert_consistent("after Ctrl-C");

    // The next advance carries on: the hook runs again, then the rest.
    let (code, out, err) = rig.run(&["advance"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains("an earlier run"), "nothing died: {err}");
    assert_eq!(rig.log("hook.log"), ["start", "again"]);
    assert_eq!(rig.pct("lb"), 50.0);
    rig.assert_consistent("after the next advance");
}

#[test]
fn a_failing_step_still_prints_its_summary_under_json() {
    let rig = Rig::new("hooks");
    rig.plan(&format!(
        "version: 1\nname: hooks\nproviders:\n{}phases:\n  - name: p\n    steps:\n      - traffic: {{ provider: lb, percent: 10 }}\n      - run: [sh, -c, 'echo broken >&2; exit 3']\n",
        exec_provider("lb")
    ));
    let (code, out, err) = rig.run(&["-o", "json", "advance"]);
    assert_eq!(code, 1, "{out}{err}");
    let last: Value = serde_json::from_str(out.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("the last line is JSON ({e}): {out}"));
    assert_eq!(last["type"], "summary", "{out}");
    assert_eq!(last["command"], "advance");
    assert_eq!(last["outcome"], "error");
    assert_eq!(last["exit_code"], 1);
    assert_eq!(last["schema"], "migrate.events/v1");
    assert!(
        last["message"]
            .as_str()
            .is_some_and(|m| m.contains("failed") && m.contains("exited with 3")),
        "{last}"
    );
    // Any command, however it fails: a locked state (5, after the lock
    // wait), a refused request (2).
    let holder = std::fs::OpenOptions::new()
        .write(true)
        .open(rig.state_dir().join("lock"))
        .unwrap();
    holder.lock().unwrap();
    let (code, out, err) = rig.run(&["-o", "json", "pause", "--reason", "x"]);
    drop(holder);
    assert_eq!(code, 5, "{out}{err}");
    let last: Value = serde_json::from_str(out.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(
        (
            last["type"].as_str(),
            last["command"].as_str(),
            last["exit_code"].as_i64()
        ),
        (Some("summary"), Some("pause"), Some(5)),
        "{out}"
    );
    let (code, out, err) = rig.run(&["-o", "json", "rollback", "--to", "nope"]);
    assert_eq!(code, 2, "{out}{err}");
    let last: Value = serde_json::from_str(out.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(
        (
            last["type"].as_str(),
            last["command"].as_str(),
            last["exit_code"].as_i64()
        ),
        (Some("summary"), Some("rollback"), Some(2)),
        "{out}"
    );
}

/// A webhook step against a server that records what it receives: the
/// method, path, headers and body as the plan writes them, the secrets
/// in them sent but never shown; a non-2xx answer fails the step (exit
/// 1, nothing after it runs), and the next `advance` calls it again.
#[test]
fn a_webhook_sends_what_the_plan_says_and_fails_on_a_non_2xx_answer() {
    use std::sync::{Arc, Mutex};
    use testbed::http::{Response, Server};

    const TOKEN: &str = "wh-t0ken-5e1f9";
    let status = Arc::new(Mutex::new(503u16));
    let server = {
        let status = status.clone();
        Server::start(move |req| {
            let code = *status.lock().unwrap();
            // A server that quotes what it got back, token included.
            Response::new(
                code,
                format!("refused {}", req.header("x-token").unwrap_or("no token")),
            )
        })
        .unwrap()
    };
    let rig = Rig::new("webhook");
    let plan = r#"version: 1
name: webhook
settings: { interval: 1s, timeout: 5s, retries: 1, rollback_timeout: 5s }
providers:
LB
phases:
  - name: p
    steps:
      - traffic: { provider: lb, percent: 10 }
      - webhook:
          method: put
          url: 'URL/deploys?stage=canary'
          headers: { X-Token: '${HOOK_TOKEN}', X-Stage: canary }
          body: '{"stage": "canary", "token": "${HOOK_TOKEN}"}'
      - traffic: { provider: lb, percent: 50 }
"#
    .replace("LB\n", &exec_provider("lb"))
    .replace("URL", &server.url(""));
    rig.plan(&plan);
    let run = |args: &[&str]| output(rig.command(args).env("HOOK_TOKEN", TOKEN).output().unwrap());

    // 503: the step fails, the answer is quoted with the token masked.
    let (code, out, err) = run(&["advance"]);
    let shown = format!("{out}{err}");
    assert_eq!(code, 1, "{shown}");
    assert!(
        shown.contains("PUT ") && shown.contains("answered 503") && shown.contains("refused ***"),
        "{shown}"
    );
    assert_eq!(rig.pct("lb"), 10.0, "nothing after the failed webhook ran");
    assert_eq!(server.requests().len(), 1);

    // 200: the step is done and the migration goes on.
    *status.lock().unwrap() = 200;
    let (code, out, err) = run(&["advance"]);
    let shown2 = format!("{out}{err}");
    assert_eq!(code, 0, "{shown2}");
    assert_eq!(rig.pct("lb"), 50.0);
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "called once more, not twice");
    for r in &requests {
        assert_eq!(r.method, "PUT");
        assert_eq!(r.path(), "/deploys");
        assert_eq!(r.param("stage").as_deref(), Some("canary"));
        assert_eq!(r.header("x-token"), Some(TOKEN));
        assert_eq!(r.header("x-stage"), Some("canary"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(
            r.body,
            format!(r#"{{"stage": "canary", "token": "{TOKEN}"}}"#)
        );
    }
    let history = run(&["-o", "json", "history"]);
    assert!(history.1.contains("answered 200 OK"), "{}", history.1);
    // The token went on the wire, and nowhere else.
    for (what, text) in [
        (
            "output",
            format!("{shown}{shown2}{}{}", history.1, history.2),
        ),
        ("state", rig.read(".migrate/webhook/state.json")),
        ("journal", rig.read(".migrate/webhook/journal.ndjson")),
    ] {
        assert!(
            !text.contains(TOKEN),
            "the token reached the {what}: {text}"
        );
    }
}
