//! A damaged journal or checkpoint (local state) is never a dead end:
//! `state rebuild` recovers what can be read — the checkpoint when the
//! journal is lost, every valid record around a garbage or torn line — and
//! says what it could not keep; `rollback` does that by itself, so an
//! emergency rollback works whatever is damaged, and says so plainly when
//! nothing at all can be read.

use serde_json::Value;

use crate::rig::{exec_provider, Rig};

fn rig() -> Rig {
    let rig = Rig::new("jd");
    rig.plan(&format!(
        "version: 1\nname: jd\nsettings: {{ interval: 1s, timeout: 5s, retries: 1, rollback_timeout: 5s }}\nproviders:\n{}  flags: {{ type: flagd, file: '{{DIR}}/flags.json' }}\nphases:\n  - name: ramp\n    steps:\n      - flag: {{ provider: flags, key: dual-write, enabled: true }}\n      - traffic: {{ provider: lb, percent: 10 }}\n      - traffic: {{ provider: lb, percent: 20 }}\n      - traffic: {{ provider: lb, percent: 50 }}\n",
        exec_provider("lb")
    ));
    let (code, out, err) = rig.run(&["advance", "--steps", "2"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(rig.pct("lb"), 10.0);
    assert_eq!(rig.flag("dual-write")["defaultVariant"], "on");
    rig
}

/// The journal's lines as JSON values (whatever migrate wrote).
fn lines(rig: &Rig) -> Vec<Value> {
    std::fs::read_to_string(rig.journal_file())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// (seq, event) of each journal line.
fn events(lines: &[Value]) -> Vec<(u64, String)> {
    lines
        .iter()
        .map(|r| {
            (
                r["seq"].as_u64().unwrap(),
                r["event"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Files of the state directory whose name starts with `prefix`.
fn aside(rig: &Rig, prefix: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(rig.state_dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect()
}

/// The journal is whole again: from its last `recovered` record on (which
/// holds the whole state, whatever came before it) the numbers follow each
/// other, and state.json is its fold.
fn assert_whole(rig: &Rig, context: &str) {
    let records = rig.records();
    let from = records
        .iter()
        .rposition(|r| r.entry.name() == "recovered")
        .unwrap_or(0);
    for w in records[from..].windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1, "{context}: journal numbering");
    }
    for w in records.windows(2) {
        assert!(w[1].seq > w[0].seq, "{context}: journal numbering");
    }
    assert_eq!(
        rig.state(),
        migrate::state::State::replay(&rig.name, &records),
        "{context}: state.json is not the fold of the journal"
    );
}

/// Advance one step, then roll back: the targets end at their baselines.
fn advance_and_roll_back(rig: &Rig, context: &str) {
    let (code, out, err) = rig.run(&["advance", "--steps", "1"]);
    assert_eq!(code, 0, "{context}: advance: {out}{err}");
    assert_eq!(rig.pct("lb"), 20.0, "{context}");
    let (code, out, err) = rig.run(&["rollback"]);
    assert_eq!(code, 0, "{context}: rollback: {out}{err}");
    assert_eq!(rig.pct("lb"), 0.0, "{context}: lb back at its baseline");
    assert_eq!(
        rig.flag("dual-write")["defaultVariant"],
        "off",
        "{context}: the flag back at its baseline"
    );
    let (code, out, err) = rig.run(&["status"]);
    assert_eq!(code, 0, "{context}: status: {out}{err}");
    assert!(out.contains("rolled back"), "{context}: {out}");
    assert_whole(rig, context);
}

#[test]
fn a_lost_journal_is_started_again_from_the_checkpoint() {
    let rig = rig();
    let seen = rig.state().journal_seq;
    std::fs::remove_file(rig.journal_file()).unwrap();
    let (code, out, err) = rig.run(&["status"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("migrate state rebuild"), "{err}");
    assert!(
        err.contains("new journal"),
        "the way out says what it does: {err}"
    );

    let (code, out, err) = rig.run(&["state", "rebuild"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("journal") && out.contains("lost") && out.contains(&format!("{seen}")),
        "it says what was lost: {out}"
    );
    // A new journal: one record, numbered after what the checkpoint had
    // seen, holding the state.
    let kept = lines(&rig);
    assert_eq!(events(&kept), [(seen + 1, "recovered".to_string())]);
    assert_whole(&rig, "after the rebuild");

    let (code, out, err) = rig.run(&["status"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("in progress"), "{out}");
    let (code, out, err) = rig.run(&["history"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("recovered"),
        "history shows the recovery: {out}"
    );
    advance_and_roll_back(&rig, "a lost journal");
}

#[test]
fn garbage_and_a_torn_last_line_are_set_aside_and_the_valid_records_kept() {
    let rig = rig();
    let original = std::fs::read_to_string(rig.journal_file()).unwrap();
    let records = lines(&rig);
    let mut text: Vec<String> = original.lines().map(str::to_string).collect();
    // Garbage between records 3 and 4 (line 4), a secret in it.
    text.insert(3, "\u{0}\u{0}garbage password=hunter2".to_string());
    let garbage_len = text[3].len();
    let torn = r#"{"v":1,"seq":99,"at":"2026-01-01T00:00:00.000Z","actor":"x","migrat"#;
    let damaged = text.join("\n") + "\n" + torn;
    std::fs::write(rig.journal_file(), &damaged).unwrap();
    let torn_line = text.len() + 1;

    // Ordinary commands refuse, pointing to the rebuild.
    let (code, out, err) = rig.run(&["advance"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("line 4") && err.contains("migrate state rebuild"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");

    let (code, out, err) = rig.run(&["state", "rebuild"]);
    assert_eq!(code, 0, "{out}{err}");
    let shown = format!("{out}{err}");
    assert!(!shown.contains("hunter2"), "never the content: {shown}");
    assert!(
        shown.contains("line 4") && shown.contains(&format!("{garbage_len} bytes")),
        "the garbage line, by number and length: {shown}"
    );
    assert!(
        shown.contains(&format!("line {torn_line}")) && shown.contains("torn"),
        "the torn line: {shown}"
    );
    // Every valid record is kept, in order, then the recovery is recorded.
    let kept = lines(&rig);
    assert_eq!(&kept[..records.len()], &records[..]);
    assert_eq!(kept.len(), records.len() + 1);
    assert_eq!(kept[records.len()]["event"], "recovered");
    // The damaged journal is kept aside, as it was.
    let aside = aside(&rig, "journal.ndjson.damaged-");
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read_to_string(&aside[0]).unwrap(), damaged);
    assert_whole(&rig, "after the rebuild");
    advance_and_roll_back(&rig, "garbage and a torn line");
}

#[test]
fn a_record_lost_to_damage_is_reported_and_the_checkpoint_covers_it() {
    let rig = rig();
    let records = lines(&rig);
    let original = std::fs::read_to_string(rig.journal_file()).unwrap();
    let mut text: Vec<String> = original.lines().map(str::to_string).collect();
    // Record 3 overwritten with garbage.
    text[2] = "{\"v\":1,\"seq\":3,\"token\":\"hunter2\"".to_string();
    std::fs::write(rig.journal_file(), text.join("\n") + "\n").unwrap();
    let (code, out, err) = rig.run(&["state", "rebuild"]);
    assert_eq!(code, 0, "{out}{err}");
    let shown = format!("{out}{err}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("line 3"), "{shown}");
    assert!(shown.contains("record 3"), "the gap is reported: {shown}");
    let kept = lines(&rig);
    let mut want: Vec<Value> = records.clone();
    want.remove(2);
    assert_eq!(&kept[..want.len()], &want[..]);
    assert_eq!(
        events(&kept[want.len()..]),
        [(records.len() as u64 + 1, "recovered".to_string())]
    );
    assert_whole(&rig, "after the rebuild");
    advance_and_roll_back(&rig, "a lost record");
}

#[test]
fn a_lost_baseline_record_is_taken_from_the_change_that_followed_it() {
    let rig = rig();
    std::fs::remove_file(rig.state_file()).unwrap();
    let original = std::fs::read_to_string(rig.journal_file()).unwrap();
    let text: Vec<&str> = original
        .lines()
        .map(|l| {
            if l.contains(r#""event":"baseline""#) && l.contains(r#""kind":"traffic""#) {
                "garbage"
            } else {
                l
            }
        })
        .collect();
    assert!(text.contains(&"garbage"));
    std::fs::write(rig.journal_file(), text.join("\n") + "\n").unwrap();
    // Neither state.json nor the baseline record: the change that followed
    // it says what the target held before.
    let (code, out, err) = rig.run(&["rollback"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("without it"), "the loss is said: {err}");
    assert_eq!(rig.pct("lb"), 0.0);
    assert_eq!(rig.flag("dual-write")["defaultVariant"], "off");
    assert_whole(&rig, "after the rollback");
}

#[test]
fn rollback_rebuilds_a_damaged_state_file_by_itself() {
    let rig = rig();
    std::fs::write(rig.state_file(), "{ garbage").unwrap();
    let (code, out, err) = rig.run(&["rollback"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("rebuilt"),
        "it says what it did: {out}{err}"
    );
    assert_eq!(rig.pct("lb"), 0.0);
    assert_eq!(rig.flag("dual-write")["defaultVariant"], "off");
    assert_eq!(aside(&rig, "state.json.damaged-").len(), 1);
    rig.assert_consistent("after the rollback");
    let (code, out, err) = rig.run(&["status"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("rolled back"), "{out}");
}

#[test]
fn rollback_rebuilds_a_damaged_journal_by_itself() {
    let rig = rig();
    let original = std::fs::read_to_string(rig.journal_file()).unwrap();
    let mut text: Vec<&str> = original.lines().collect();
    text.insert(2, "not json at all");
    std::fs::write(rig.journal_file(), text.join("\n") + "\n").unwrap();
    let (code, out, err) = rig.run(&["rollback"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("line 3"),
        "it says what it skipped: {out}{err}"
    );
    assert_eq!(rig.pct("lb"), 0.0);
    assert_eq!(rig.flag("dual-write")["defaultVariant"], "off");
    assert_eq!(aside(&rig, "journal.ndjson.damaged-").len(), 1);
    assert_whole(&rig, "after the rollback");
}

#[test]
fn rollback_says_so_when_nothing_is_recoverable() {
    let rig = rig();
    std::fs::write(rig.state_file(), "{ garbage").unwrap();
    std::fs::remove_file(rig.journal_file()).unwrap();
    let log = rig.read("lb.log");
    let (code, out, err) = rig.run(&["rollback"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("nothing recoverable"), "{err}");
    assert!(err.contains("state.json"), "{err}");
    // Nothing changed, the damaged file is left where it was.
    assert_eq!(rig.read("lb.log"), log);
    assert_eq!(rig.read(".migrate/jd/state.json"), "{ garbage");
    let (code, out, err) = rig.run(&["state", "rebuild"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("nothing recoverable"), "{err}");
}
