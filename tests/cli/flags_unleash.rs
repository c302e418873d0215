//! The unleash provider against a real Unleash 7.5.1 on a real PostgreSQL
//! (one instance shared by these tests; each uses flags of its own).

use std::collections::HashMap;
use std::sync::Arc;

use migrate::providers::{Failure, FlagChange, FlagState, Flags, Registry};
use serde_json::Value;
use testbed::http::{Response, Server};
use testbed::unleash::{Unleash, ADMIN_TOKEN};

fn flags(url: &str, token: &str) -> Arc<dyn Flags> {
    let text = format!(
        "version: 1
name: unleash-test
settings: {{ timeout: 5s, retries: 1 }}
providers:
  flags:
    type: unleash
    url: {url}
    token: \"${{UNLEASH_TOKEN}}\"
    environment: production
phases:
  - name: dual-write
    steps:
      - flag: {{ provider: flags, key: x, enabled: true }}
"
    );
    let env = HashMap::from([("UNLEASH_TOKEN".to_string(), token.to_string())]);
    let env = migrate::redact::SecretEnv::new(env);
    let plan = match migrate::plan::validate(&text, &env, migrate::providers::catalog()) {
        Ok(v) => v.plan,
        Err(d) => panic!("invalid test plan: {d:?}\n{text}"),
    };
    Registry::new(&plan)
        .flags("flags")
        .expect("an unleash provider")
}

fn unleash() -> &'static Unleash {
    Unleash::shared().unwrap()
}

fn create_flag(name: &str) {
    let (status, body) = unleash()
        .admin(
            "POST",
            "/api/admin/projects/default/features",
            Some(&format!(r#"{{"name":"{name}","type":"release"}}"#)),
        )
        .unwrap();
    assert_eq!(status, 201, "{body}");
}

fn add_rollout(name: &str, rollout: &str) -> String {
    let (status, body) = unleash()
        .admin(
            "POST",
            &format!("/api/admin/projects/default/features/{name}/environments/production/strategies"),
            Some(&format!(
                r#"{{"name":"flexibleRollout","constraints":[],"parameters":{{"rollout":"{rollout}","stickiness":"default","groupId":"{name}"}}}}"#
            )),
        )
        .unwrap();
    assert!(status == 200 || status == 201, "{status} {body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["id"].as_str().unwrap().to_string()
}

/// The production strategies of a flag, straight from Unleash.
fn strategies(name: &str) -> Vec<Value> {
    let (status, body) = unleash()
        .admin(
            "GET",
            &format!("/api/admin/projects/default/features/{name}"),
            None,
        )
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "production")
        .unwrap()["strategies"]
        .as_array()
        .unwrap()
        .clone()
}

fn state(enabled: bool, percent: Option<f64>) -> FlagState {
    FlagState { enabled, percent }
}

#[tokio::test]
async fn unleash_toggles_rolls_out_and_restores_a_new_flag() {
    let u = unleash();
    let f = flags(&u.url(), ADMIN_TOKEN);
    let key = "unleash-t1.dual-write";
    create_flag(key);

    let baseline = f.get(key).await.unwrap();
    assert_eq!(baseline, state(false, None));

    f.set(
        key,
        &FlagChange {
            enabled: Some(true),
            percent: Some(Some(25.0)),
        },
    )
    .await
    .unwrap();
    assert_eq!(f.get(key).await.unwrap(), state(true, Some(25.0)));
    let s = strategies(key);
    let rollouts: Vec<&Value> = s
        .iter()
        .filter(|s| s["name"] == "flexibleRollout")
        .collect();
    assert_eq!(rollouts.len(), 1, "{s:?}");
    assert_eq!(rollouts[0]["parameters"]["rollout"], "25");

    // Percent alone, twice: absolute, so the same.
    for _ in 0..2 {
        f.set(
            key,
            &FlagChange {
                enabled: None,
                percent: Some(Some(50.0)),
            },
        )
        .await
        .unwrap();
    }
    assert_eq!(f.get(key).await.unwrap(), state(true, Some(50.0)));
    assert_eq!(
        strategies(key)
            .iter()
            .filter(|s| s["name"] == "flexibleRollout")
            .count(),
        1
    );

    // Restore the baseline: off, no percentage (everyone who gets it).
    f.set(key, &FlagChange::to(&baseline)).await.unwrap();
    let after = f.get(key).await.unwrap();
    assert!(!after.enabled);
    assert!(matches!(after.percent, None | Some(100.0)), "{after:?}");
}

#[tokio::test]
async fn unleash_drives_the_operators_rollout_strategy() {
    let u = unleash();
    let f = flags(&u.url(), ADMIN_TOKEN);
    let key = "unleash-t2.read-new";
    create_flag(key);
    let id = add_rollout(key, "10");
    let (status, body) = u
        .admin(
            "POST",
            &format!("/api/admin/projects/default/features/{key}/environments/production/on"),
            Some("{}"),
        )
        .unwrap();
    assert!(status < 300, "{status} {body}");
    assert_eq!(f.get(key).await.unwrap(), state(true, Some(10.0)));

    f.set(
        key,
        &FlagChange {
            enabled: None,
            percent: Some(Some(75.0)),
        },
    )
    .await
    .unwrap();
    let s = strategies(key);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0]["id"].as_str(), Some(id.as_str()));
    assert_eq!(s[0]["parameters"]["rollout"], "75");

    f.set(key, &FlagChange::to(&state(true, Some(10.0))))
        .await
        .unwrap();
    assert_eq!(f.get(key).await.unwrap(), state(true, Some(10.0)));

    // A second rollout strategy makes the flag ambiguous: a clear error.
    add_rollout(key, "5");
    let e = f.get(key).await.unwrap_err();
    assert!(
        e.to_string().contains("2 flexibleRollout strategies"),
        "{e}"
    );
    assert_eq!(e.failure, Failure::Rejected);
}

#[tokio::test]
async fn unleash_errors_name_the_flag_and_hide_the_token() {
    let u = unleash();
    let f = flags(&u.url(), ADMIN_TOKEN);

    let e = f.get("unleash-t3.no-such-flag").await.unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("unleash provider 'flags'"), "{msg}");
    assert!(
        msg.contains("unleash-t3.no-such-flag") && msg.contains("404"),
        "{msg}"
    );
    assert_eq!(e.failure, Failure::Rejected);

    let key = "unleash-t3.flag";
    create_flag(key);
    let e = f
        .set(
            key,
            &FlagChange {
                enabled: None,
                percent: Some(Some(2.5)),
            },
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("whole percents"), "{e}");

    // A wrong token: 401, and the token itself appears nowhere.
    let wrong = "*:*.not-the-right-token-4711";
    let bad = flags(&u.url(), wrong);
    let e = bad.get(key).await.unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("401"), "{msg}");
    assert!(!msg.contains("not-the-right-token-4711"), "{msg}");
    assert_eq!(e.failure, Failure::Rejected);

    // An Unleash that never answers: the plan's timeout.
    let silent = Server::start(|_| Response::never()).unwrap();
    let e = flags(&silent.url(""), ADMIN_TOKEN)
        .get(key)
        .await
        .unwrap_err();
    assert_eq!(e.failure, Failure::Transient);
    assert!(e.to_string().contains(key), "{e}");
}
