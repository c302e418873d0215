//! Baselines and rollbacks when the state does not know what the live
//! system holds: a renamed migration (a new, empty state) finding the
//! candidate already at 50 %, a deleted state directory, and a second
//! migration of the same store driving a target another one drives. None
//! of them may take the live value as a starting point silently, nor claim
//! a rollback that did nothing.

use migrate::state::{Entry, Record, Status};

use crate::rig::{exec_provider, records, Rig};

/// A canary on the exec provider `lb`, held in a long soak after 50 %;
/// with `flag`, the flag `dual-write` is turned on first.
fn canary(rig: &Rig, name: &str, flag: bool) {
    let flag = if flag {
        "      - flag: { provider: flags, key: dual-write, enabled: true }\n"
    } else {
        ""
    };
    rig.plan(&format!(
        r#"version: 1
name: {name}
settings: {{ timeout: 2s, retries: 1, rollback_timeout: 2s }}
providers:
{lb}  flags: {{ type: flagd, file: '{{DIR}}/flags.json' }}
phases:
  - name: canary
    steps:
{flag}      - traffic: {{ provider: lb, percent: 10 }}
      - traffic: {{ provider: lb, percent: 50 }}
      - soak: 1h
      - traffic: {{ provider: lb, percent: 100 }}
"#,
        lb = exec_provider("lb"),
    ));
}

fn baselines(records: &[Record]) -> Vec<(String, String, Option<String>)> {
    records
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::Baseline { target, value, .. } => {
                // The note as the journal line holds it.
                let line = serde_json::to_value(&r.entry).unwrap_or_default();
                let note = line["note"].as_str().map(str::to_string);
                Some((target.to_string(), value.to_string(), note))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_renamed_migration_does_not_take_the_candidates_live_share_as_its_baseline() {
    let rig = Rig::new("payments");
    canary(&rig, "payments", false);
    let (code, out, err) = rig.run(&["advance"]);
    assert_eq!(code, 4, "waits in the soak: {out}{err}");
    assert_eq!(rig.pct("lb"), 50.0);
    let sets = rig.log("lb.log");

    // The plan is renamed mid-soak: the new name has no state.
    canary(&rig, "payments-v2", false);
    let (code, out, err) = rig.run(&["advance"]);
    let shown = format!("{out}{err}");
    assert_eq!(code, 2, "refused: {shown}");
    for words in [
        "traffic via lb",
        "50%",
        "renamed",
        "payments",
        "--accept-baseline",
    ] {
        assert!(shown.contains(words), "the refusal says {words:?}: {shown}");
    }
    assert_eq!(rig.pct("lb"), 50.0, "nothing set");
    assert_eq!(rig.log("lb.log"), sets, "no set at all");
    let v2 = records(&rig.path(".migrate/payments-v2/journal.ndjson"));
    assert!(
        baselines(&v2).is_empty(),
        "no baseline recorded: {:?}",
        baselines(&v2)
    );

    // The operator says this really is the starting point.
    let (code, out, err) = rig.run(&["advance", "--accept-baseline", "--steps", "1"]);
    let shown = format!("{out}{err}");
    assert_eq!(code, 0, "{shown}");
    assert!(
        shown.contains("--accept-baseline") && shown.contains("50%"),
        "said loudly: {shown}"
    );
    let v2 = records(&rig.path(".migrate/payments-v2/journal.ndjson"));
    let b = baselines(&v2);
    let lb = b
        .iter()
        .find(|(t, _, _)| t == "traffic via lb")
        .unwrap_or_else(|| panic!("a baseline of lb: {b:?}"));
    assert_eq!(lb.1, "50%");
    let note = lb.2.clone().unwrap_or_default();
    assert!(
        note.contains("--accept-baseline") && note.contains("ops@test"),
        "the journal says who accepted it: {note}"
    );
    assert_eq!(rig.pct("lb"), 10.0, "the migration proceeds from there");
}

#[test]
fn a_rollback_that_knows_nothing_says_so_and_legacy_sends_every_target_back() {
    let rig = Rig::new("payments");
    canary(&rig, "payments", true);
    let (code, out, err) = rig.run(&["advance", "--steps", "2"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(rig.pct("lb"), 10.0);
    assert_eq!(rig.flag("dual-write")["defaultVariant"], "on");

    // The state is lost.
    std::fs::remove_dir_all(rig.state_dir()).unwrap();
    let (code, out, err) = rig.run(&["rollback"]);
    let shown = format!("{out}{err}");
    assert_eq!(code, 6, "never claims success: {shown}");
    assert!(!shown.contains("Rolled back:"), "{shown}");
    for words in [
        "traffic via lb",
        "10%",
        "flag dual-write via flags",
        "rollback --legacy",
    ] {
        assert!(shown.contains(words), "says {words:?}: {shown}");
    }
    assert_eq!(rig.pct("lb"), 10.0, "nothing changed");
    let (_, out, err) = rig.run(&["status"]);
    assert!(
        !format!("{out}{err}").contains("rolled back"),
        "status does not say rolled back: {out}{err}"
    );

    let (code, out, err) = rig.run(&["rollback", "--legacy"]);
    let shown = format!("{out}{err}");
    assert_eq!(code, 0, "{shown}");
    assert_eq!(rig.pct("lb"), 0.0, "traffic back on legacy");
    assert_eq!(rig.flag("dual-write")["defaultVariant"], "off", "flag off");
    assert!(shown.contains("legacy"), "says what it did: {shown}");
    assert_eq!(rig.state().status, Status::RolledBack);
    let names: Vec<&str> = rig.records().iter().map(|r| r.entry.name()).collect();
    assert!(
        names.contains(&"rollback_started")
            && names.iter().filter(|n| **n == "restored").count() == 2
            && names.contains(&"rollback_finished"),
        "journaled as a rollback: {names:?}"
    );
    let (code, out, err) = rig.run(&["history"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("legacy") && out.contains("traffic via lb"),
        "history shows the rollback: {out}"
    );
    rig.assert_consistent("rollback --legacy");

    // Everything on its legacy side and nothing known: said, exit 0.
    std::fs::remove_dir_all(rig.state_dir()).unwrap();
    let (code, out, err) = rig.run(&["rollback"]);
    let shown = format!("{out}{err}");
    assert_eq!(code, 0, "{shown}");
    assert!(
        shown.to_lowercase().contains("nothing is known") && shown.contains("legacy side"),
        "{shown}"
    );
    assert!(
        !rig.state_dir().join("journal.ndjson").exists(),
        "nothing journaled"
    );
}

#[test]
fn a_second_migration_of_the_same_store_may_not_drive_a_target_another_drives() {
    let rig = Rig::new("first");
    // The first migration turns the flag on and waits for an approval.
    let plan = |name: &str| {
        format!(
            r#"version: 1
name: {name}
providers:
  flags: {{ type: flagd, file: '{{DIR}}/flags.json' }}
phases:
  - name: p
    steps:
      - flag: {{ provider: flags, key: dual-write, enabled: true }}
      - approve: go on?
"#
        )
    };
    rig.plan(&plan("first"));
    let (code, out, err) = rig.run(&["advance"]);
    assert_eq!(code, 4, "waits for the approval: {out}{err}");

    // Another plan next to it, another name, the same flag.
    rig.plan(&plan("second"));
    let (code, out, err) = rig.run(&["advance"]);
    let shown = format!("{out}{err}");
    assert_eq!(code, 2, "refused: {shown}");
    assert!(
        shown.contains("flag dual-write via flags") && shown.contains("'first'"),
        "names the target and the migration that drives it: {shown}"
    );
    let second = records(&rig.path(".migrate/second/journal.ndjson"));
    assert!(baselines(&second).is_empty(), "{second:?}");

    // Once the first is rolled back, the second may start.
    rig.plan(&plan("first"));
    let (code, out, err) = rig.run(&["rollback"]);
    assert_eq!(code, 0, "{out}{err}");
    rig.plan(&plan("second"));
    let (code, out, err) = rig.run(&["advance"]);
    assert_eq!(code, 4, "{out}{err}");
    assert_eq!(rig.flag("dual-write")["defaultVariant"], "on");
}

#[test]
fn rollback_legacy_leaves_keep_on_rollback_targets_unless_forced() {
    let rig = Rig::new("shadow");
    rig.plan(&format!(
        r#"version: 1
name: shadow
settings: {{ timeout: 2s, retries: 1, rollback_timeout: 2s }}
providers:
{edge}{lb}phases:
  - name: p
    steps:
      - mirror: {{ provider: edge, percent: 100 }}
        keep_on_rollback: true
      - traffic: {{ provider: lb, percent: 10 }}
"#,
        edge = exec_provider("edge"),
        lb = exec_provider("lb"),
    ));
    let (code, out, err) = rig.run(&["advance"]);
    assert_eq!(code, 0, "{out}{err}");
    std::fs::remove_dir_all(rig.state_dir()).unwrap();
    let (code, out, err) = rig.run(&["rollback", "--legacy"]);
    let shown = format!("{out}{err}");
    assert_eq!(code, 0, "{shown}");
    assert_eq!(rig.pct("lb"), 0.0);
    assert_eq!(rig.pct("edge"), 100.0, "kept");
    assert!(
        shown.contains("mirror via edge") && shown.contains("keep_on_rollback"),
        "names what it left and why: {shown}"
    );
    let (code, out, err) = rig.run(&["rollback", "--legacy", "--force"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(rig.pct("edge"), 0.0, "with --force, sent too");
    rig.assert_consistent("legacy with kept targets");
}
