//! The `exec` adapter running real programs (sh, cat, sleep) that keep
//! their state in files of a temporary directory.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use migrate::providers::{Channel, Failure, FlagChange, FlagState, Registry, Router};
use migrate::redact::SecretEnv;

/// A registry for a plan with these settings and providers (YAML lines,
/// indented as under `providers:`), validated with `env` as the
/// environment (its values become secrets).
fn registry(settings: &str, providers: &str, env: &[(&str, &str)]) -> Registry {
    let text = format!(
        "version: 1\nname: exec-test\nsettings: {settings}\nproviders:\n{providers}\nphases:\n  - name: p\n    steps:\n      - approve: go\n"
    );
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match migrate::plan::validate(&text, &SecretEnv::new(env), migrate::providers::catalog()) {
        Ok(v) => Registry::new(&v.plan),
        Err(d) => panic!("invalid test plan: {d:#?}\n{text}"),
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Lines of the invocation log the test commands append to.
fn calls(dir: &Path) -> Vec<String> {
    read(&dir.join("calls"))
        .lines()
        .map(str::to_string)
        .collect()
}

fn split_provider(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"  split:
    type: exec
    set: [sh, -c, 'echo "set $2" >> "$STATE_DIR/calls"; printf %s "$1" > "$STATE_DIR/$2"', sh, "{{{{percent}}}}", "{{{{channel}}}}"]
    get: [sh, -c, 'echo "get $1" >> "$STATE_DIR/calls"; cat "$STATE_DIR/$1"', sh, "{{{{channel}}}}"]
    env: {{ STATE_DIR: "{d}" }}"#
    )
}

#[tokio::test]
async fn traffic_and_mirror_are_set_and_read_per_channel() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(
        "{ timeout: 5s, retries: 0 }",
        &split_provider(dir.path()),
        &[],
    );
    let r: Arc<dyn Router> = reg.router("split").unwrap();
    r.set(Channel::Traffic, 12.5).await.unwrap();
    r.set(Channel::Mirror, 100.0).await.unwrap();
    // Written without float noise, one file per channel.
    assert_eq!(read(&dir.path().join("traffic")), "12.5");
    assert_eq!(read(&dir.path().join("mirror")), "100");
    assert_eq!(r.get(Channel::Traffic).await.unwrap(), 12.5);
    assert_eq!(r.get(Channel::Mirror).await.unwrap(), 100.0);
    // Setting again is the same absolute value, not an increment.
    r.set(Channel::Traffic, 12.5).await.unwrap();
    assert_eq!(r.get(Channel::Traffic).await.unwrap(), 12.5);
    assert_eq!(
        calls(dir.path()),
        [
            "set traffic",
            "set mirror",
            "get traffic",
            "get mirror",
            "set traffic",
            "get traffic"
        ]
    );
    // Percent signs and whitespace are fine; nonsense is not.
    std::fs::write(dir.path().join("traffic"), " 40%\n").unwrap();
    assert_eq!(r.get(Channel::Traffic).await.unwrap(), 40.0);
    for bad in ["lots", "150", ""] {
        std::fs::write(dir.path().join("traffic"), bad).unwrap();
        let e = r.get(Channel::Traffic).await.unwrap_err();
        assert_eq!(e.failure, Failure::Garbage, "{bad:?}: {e}");
        assert!(
            e.to_string()
                .contains("exec provider 'split': reading traffic"),
            "{e}"
        );
        assert!(e.message.contains(bad), "{e}");
    }
}

#[tokio::test]
async fn flag_changes_fill_untouched_fields_from_a_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let providers = format!(
        r#"  toggles:
    type: exec
    set: [sh, -c, 'echo "set $3 $1 $2" >> {d}/calls; printf "{{\"enabled\":%s,\"percent\":%s}}" "$1" "$2" > "{d}/$3.json"', sh, "{{{{enabled}}}}", "{{{{percent}}}}", "{{{{key}}}}"]
    get: [sh, -c, 'echo "get $1" >> {d}/calls; cat "{d}/$1.json"', sh, "{{{{key}}}}"]"#
    );
    let reg = registry("{ timeout: 5s, retries: 0 }", &providers, &[]);
    let f = reg.flags("toggles").unwrap();
    let both = FlagChange {
        enabled: Some(true),
        percent: Some(Some(5.0)),
    };
    f.set("checkout", &both).await.unwrap();
    assert_eq!(
        f.get("checkout").await.unwrap(),
        FlagState {
            enabled: true,
            percent: Some(5.0)
        }
    );
    // Only the percent: enabled comes from a read first.
    f.set(
        "checkout",
        &FlagChange {
            enabled: None,
            percent: Some(Some(25.0)),
        },
    )
    .await
    .unwrap();
    // Only enabled: the percent is kept.
    f.set(
        "checkout",
        &FlagChange {
            enabled: Some(false),
            percent: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        read(&dir.path().join("checkout.json")),
        r#"{"enabled":false,"percent":25}"#
    );
    // No rollout: everyone gets `enabled`, written as 100.
    f.set(
        "checkout",
        &FlagChange {
            enabled: Some(true),
            percent: Some(None),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        read(&dir.path().join("checkout.json")),
        r#"{"enabled":true,"percent":100}"#
    );
    assert_eq!(
        calls(dir.path()),
        [
            "set checkout true 5",
            "get checkout",
            "get checkout",
            "set checkout true 25",
            "get checkout",
            "set checkout false 25",
            "set checkout true 100",
        ]
    );
    // A flag that is not JSON is an error quoting what was printed.
    std::fs::write(dir.path().join("broken.json"), "on").unwrap();
    let e = f.get("broken").await.unwrap_err();
    assert_eq!(e.failure, Failure::Garbage);
    assert!(
        e.to_string().contains("reading flag 'broken'") && e.message.contains("\"on\""),
        "{e}"
    );
}

#[tokio::test]
async fn metrics_are_numbers_or_no_data() {
    let providers = r#"  probe:
    type: exec
    get: [sh, -c, 'case "$1" in ok) echo 0.25;; empty) ;; nan) echo NaN;; inf) echo +Inf;; *) echo "what is $1";; esac', sh, "{{query}}"]"#;
    let reg = registry("{ timeout: 5s, retries: 0 }", providers, &[]);
    let m = reg.metrics("probe").unwrap();
    assert_eq!(m.query("ok").await.unwrap(), Some(0.25));
    assert_eq!(m.query("empty").await.unwrap(), None);
    // NaN is passed on: the gate takes it as no data and says NaN.
    assert!(m.query("nan").await.unwrap().is_some_and(f64::is_nan));
    assert_eq!(m.query("inf").await.unwrap(), Some(f64::INFINITY));
    let e = m.query("garbage").await.unwrap_err();
    assert_eq!(e.failure, Failure::Garbage);
    assert!(e.message.contains("what is garbage"), "{e}");
    assert!(e.doing.contains("\"garbage\""), "{e}");
}

#[tokio::test]
async fn failures_quote_stderr_without_secrets_and_are_retried() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let secret = "exec-s3cret-value-4711";
    let providers = format!(
        r#"  split:
    type: exec
    set: [sh, -c, 'exit 0']
    get: [sh, -c, 'echo try >> {d}/calls; echo "denied for token $API_TOKEN" >&2; exit 3']
    env: {{ API_TOKEN: "${{API_TOKEN}}" }}"#
    );
    let reg = registry(
        "{ timeout: 5s, retries: 2 }",
        &providers,
        &[("API_TOKEN", secret)],
    );
    let e = reg
        .router("split")
        .unwrap()
        .get(Channel::Traffic)
        .await
        .unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.contains("status 3") && shown.contains("denied for token ***"),
        "{shown}"
    );
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains("after 3 attempts"), "{shown}");
    assert_eq!(calls(dir.path()).len(), 3, "first try and two retries");
}

#[tokio::test]
async fn a_command_past_the_timeout_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let providers = format!(
        r#"  slow:
    type: exec
    get: [sh, -c, 'echo $$ >> {d}/pids; exec sleep 30']"#
    );
    let reg = registry("{ timeout: 2s, retries: 1 }", &providers, &[]);
    let e = reg.metrics("slow").unwrap().query("q").await.unwrap_err();
    assert_eq!(e.failure, Failure::Transient);
    assert!(e.message.contains("no answer within 2s"), "{e}");
    let pids: Vec<u32> = read(&dir.path().join("pids"))
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert_eq!(pids.len(), 2, "tried twice");
    for pid in pids {
        testbed::wait_until(
            &format!("sleep {pid} to be killed"),
            Duration::from_secs(10),
            || gone(pid),
        )
        .unwrap();
    }
}

/// Whether a process no longer runs (exited, or a zombie not yet reaped).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

#[tokio::test]
async fn a_missing_program_is_named_and_not_retried() {
    let providers = r#"  gone:
    type: exec
    get: [/nonexistent/ctl, read]"#;
    let reg = registry("{ timeout: 5s, retries: 3 }", providers, &[]);
    let e = reg.flags("gone").unwrap().get("k").await.unwrap_err();
    assert_eq!(e.failure, Failure::Rejected);
    assert!(e.message.contains("cannot run `/nonexistent/ctl`"), "{e}");
    assert!(!e.message.contains("attempts"), "{e}");
}
