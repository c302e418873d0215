//! A migration whose state was written by an earlier release (6955575:
//! before soaks kept their gates and their paused time) still loads and
//! resumes: `tests/fixtures/state-6955575` holds its plan, its live
//! targets (an exec router's file, a flagd file) and its state directory,
//! paused in a soak, as that release left them.

use std::path::Path;

use migrate::state::{Record, State};
use testbed::http::{Response, Server};

use crate::rig::output;
use crate::support::root;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        let dest = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

#[test]
fn a_state_written_by_the_previous_release_loads_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = root().join("tests/fixtures/state-6955575");
    for f in ["plan.yaml", "flags.json", "lb.pct"] {
        std::fs::copy(fixture.join(f), dir.path().join(f)).unwrap();
    }
    copy_dir(&fixture.join("state"), &dir.path().join(".migrate"));
    // The gate reads a page of the test's (the metrics provider is in no
    // step's digest: pointing it elsewhere changes no step).
    let metrics = Server::start(|_| Response::ok("error_ratio 0\n")).unwrap();
    let plan = std::fs::read_to_string(dir.path().join("plan.yaml")).unwrap();
    std::fs::write(
        dir.path().join("plan.yaml"),
        plan.replace("http://127.0.0.1:9/metrics", &metrics.url("/metrics")),
    )
    .unwrap();
    let run = |args: &[&str]| {
        output(
            std::process::Command::new(env!("CARGO_BIN_EXE_migrate"))
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("NO_COLOR", "1")
                .env("MIGRATE_ACTOR", "ops@test")
                .current_dir(dir.path())
                .arg("-f")
                .arg("plan.yaml")
                .args(args)
                .output()
                .unwrap(),
        )
    };
    let journal = dir.path().join(".migrate/compat/journal.ndjson");
    let records_before = std::fs::read_to_string(&journal).unwrap().lines().count();

    let (code, out, err) = run(&["status"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("paused"), "{out}");
    assert!(out.contains("canary.2"), "{out}");
    // Paused: the soak's gate is read, nothing moves.
    let (code, out, err) = run(&["advance"]);
    assert_eq!(code, 4, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("lb.pct"))
            .unwrap()
            .trim(),
        "10"
    );
    let (code, out, err) = run(&["resume"]);
    assert_eq!(code, 0, "{out}{err}");
    // The 1 s soak was over long ago: it completes, the last step runs.
    let (code, out, err) = run(&["advance"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("lb.pct"))
            .unwrap()
            .trim(),
        "50"
    );
    // The journal grew on the old records, and the state is its fold.
    let text = std::fs::read_to_string(&journal).unwrap();
    let records: Vec<Record> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(records.len() > records_before);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1);
    }
    let state: State = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(".migrate/compat/state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state, State::replay("compat", &records));
    let (code, out, err) = run(&["history"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("a look at the dashboards"), "{out}");
    // Rolled back: traffic to its baseline, dual writes kept on.
    let (code, out, err) = run(&["rollback", "--reason", "compat"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("lb.pct"))
            .unwrap()
            .trim(),
        "0"
    );
    let flags = std::fs::read_to_string(dir.path().join("flags.json")).unwrap();
    assert!(flags.contains(r#""defaultVariant": "on""#), "{flags}");
}
