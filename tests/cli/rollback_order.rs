//! A rollback with a dead target: a stopped HAProxy must not hold back the
//! flags. Traffic is tried first, then flags; after every target's first
//! attempt the failing ones are retried in parallel until
//! `rollback_timeout`, and each result is journaled as it lands.

use migrate::state::Entry;

use crate::rig::Rig;

#[test]
fn a_dead_haproxy_does_not_hold_back_the_flags_rollback() {
    let (_old, _new, haproxy) = crate::rig::payments_haproxy();
    let socket = haproxy.socket().display().to_string();
    let rig = Rig::new("deadlb");
    rig.plan(&format!(
        r#"version: 1
name: deadlb
settings: {{ timeout: 1s, retries: 1, rollback_timeout: 20s }}
providers:
  lb: {{ type: haproxy, socket: '{socket}', backend: payments, legacy: old, candidate: new }}
  flags: {{ type: flagd, file: '{{DIR}}/flags.json' }}
phases:
  - name: p
    steps:
      - traffic: {{ provider: lb, percent: 10 }}
      - flag: {{ provider: flags, key: rollout, percent: 30 }}
"#,
    ));
    let baseline = rig.flag("rollout");
    let (code, out, err) = rig.run(&["advance"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        haproxy.weight("new").unwrap() > 0,
        "the candidate has traffic"
    );
    assert!(
        rig.flag("rollout").get("targeting").is_some(),
        "flag at 30%"
    );

    // HAProxy stops, its admin socket with it.
    drop(haproxy);
    let (code, out, err) = rig.run(&["rollback"]);
    let shown = format!("{out}{err}");
    assert_eq!(code, 6, "rollback incomplete: {shown}");
    assert!(shown.contains("traffic via lb"), "{shown}");
    assert_eq!(
        rig.flag("rollout"),
        baseline,
        "the flag is back at its baseline"
    );

    let records = rig.records();
    let started = records
        .iter()
        .position(|r| r.entry.name() == "rollback_started")
        .expect("a rollback_started record");
    let flag_restored = records
        .iter()
        .position(|r| matches!(&r.entry, Entry::Restored { target, .. } if target.is_flag()))
        .unwrap_or_else(|| panic!("the flag's restored record: {records:#?}"));
    let lb_failed = records
        .iter()
        .rposition(
            |r| matches!(&r.entry, Entry::RestoreFailed { target, .. } if target.provider() == "lb"),
        )
        .unwrap_or_else(|| panic!("the traffic target's restore_failed record: {records:#?}"));
    assert!(
        started < flag_restored && flag_restored < lb_failed,
        "the flag is restored (record {}) before the traffic target gives up (record {}): {:#?}",
        records[flag_restored].seq,
        records[lb_failed].seq,
        &records[started..]
    );
    let delay = records[flag_restored].at.since(records[started].at);
    let gave_up = records[lb_failed].at.since(records[started].at);
    eprintln!(
        "flag restored {:.3} s after the rollback started; traffic gave up after {:.3} s",
        delay.as_secs_f64(),
        gave_up.as_secs_f64()
    );
    assert_eq!(
        records.last().map(|r| r.entry.name()),
        Some("rollback_finished")
    );
    rig.assert_consistent("dead haproxy");
}
