//! Runners racing on one migration: several `migrate advance` started at
//! once, as a CI system retrying a job or two operators in two terminals
//! do. Whatever the interleaving, each runner does its step, waits (a soak
//! runs: 4) or finds the state locked (5); none sees a state it takes for
//! an invalid plan (2) or fails (1), and the journal stays whole.
//!
//! `RACE_ROUNDS` (default 20) sets how many rounds of six runners
//! `six_runners_on_a_fresh_migration_get_0_4_or_5` makes; RELIABILITY.md
//! records the long runs.

use std::process::Child;

use crate::rig::{exec_provider, output, Rig};

/// An 8-step canary (four traffic steps, each followed by a 100 ms soak
/// with a gate on the metrics page), through an exec provider.
fn plan_text() -> String {
    format!(
        "version: 1\nname: race\nsettings: {{ interval: 1s, timeout: 5s, retries: 1, rollback_timeout: 5s }}\nproviders:\n{}  app: {{ type: scrape, url: '{{METRICS}}' }}\ngates:\n  errors: {{ provider: app, query: error_ratio, max: 0.05 }}\nphases:\n  - name: canary\n    steps:\n      - canary: {{ provider: lb, percents: [5, 25, 50, 100], soak: 100ms, gates: [errors] }}\n",
        exec_provider("lb")
    )
}

fn rounds() -> usize {
    std::env::var("RACE_ROUNDS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(20)
}

#[test]
fn six_runners_on_a_fresh_migration_get_0_4_or_5() {
    let rounds = rounds();
    let mut codes = std::collections::BTreeMap::<i32, usize>::new();
    for round in 1..=rounds {
        let rig = Rig::new("race");
        rig.plan(&plan_text());
        let children: Vec<Child> = (0..6)
            .map(|i| {
                let mut cmd = rig.command(&["advance", "--steps", "1"]);
                cmd.env("MIGRATE_ACTOR", format!("runner{i}@ci"));
                cmd.spawn().unwrap()
            })
            .collect();
        for c in children {
            let (code, out, err) = output(c.wait_with_output().unwrap());
            *codes.entry(code).or_default() += 1;
            assert!(
                [0, 4, 5].contains(&code),
                "round {round}: a racing runner exited {code}:\n{out}{err}"
            );
        }
        let context = format!("round {round}");
        rig.assert_consistent(&context);
        let log = rig.log("lb.log");
        assert!(
            !log.is_empty() && log.len() <= 4 && log == ["5", "25", "50", "100"][..log.len()],
            "{context}: traffic steps in order, each once: {log:?}"
        );
        // And the migration carries on to the end from there.
        let (code, out, err) = rig.run(&["advance", "--wait"]);
        assert_eq!(code, 0, "{context}: finishing: {out}{err}");
        assert_eq!(rig.log("lb.log"), ["5", "25", "50", "100"], "{context}");
        rig.assert_consistent(&format!("{context}, finished"));
    }
    eprintln!("{rounds} rounds of 6 racing runners: exit codes {codes:?}");
}

/// A loaded machine can be short of file descriptors or memory when a
/// runner starts: what fails then (the runtime, reading the plan, the
/// state, a provider command) is a runtime error (1, retry), never an
/// invalid plan or usage (2, which tells a pipeline to fix the plan).
/// Each limit below makes a different one of them fail.
#[test]
fn a_runner_short_of_file_descriptors_never_says_the_plan_is_invalid() {
    let mut seen = Vec::new();
    for limit in 4..=16 {
        let rig = Rig::new("race");
        rig.plan(&plan_text());
        let mut cmd = std::process::Command::new("sh");
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .arg("-c")
            .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_migrate"))
            .arg("-f")
            .arg(rig.path("plan.yaml"))
            .args(["advance", "--steps", "1"]);
        let (code, out, err) = output(cmd.output().unwrap());
        assert_ne!(code, 2, "ulimit -n {limit}: {out}{err}");
        for what in ["starting the runtime", "cannot read plan", "reading "] {
            if err.contains(what) {
                assert_eq!(code, 1, "ulimit -n {limit}: {err}");
                seen.push(what);
            }
        }
    }
    assert!(
        seen.contains(&"starting the runtime") && seen.contains(&"cannot read plan"),
        "the limits reached both startup failures: {seen:?}"
    );
}
