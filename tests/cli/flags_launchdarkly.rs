//! The launchdarkly provider against a local server that plays
//! LaunchDarkly's REST API v2 and asserts the documented requests:
//! `GET /api/v2/flags/{project}/{flag}?env=...` and a semantic patch
//! `PATCH /api/v2/flags/{project}/{flag}` with
//! `Content-Type: application/json; domain-model=launchdarkly.semanticpatch`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use migrate::providers::{Failure, FlagChange, FlagState, Flags, Registry};
use serde_json::{json, Value};
use testbed::http::{Request, Response, Server};

const TOKEN: &str = "api-5d2e0c1f-ld-secret";
const FLAG_PATH: &str = "/api/v2/flags/web/checkout-v2-ui";

/// One boolean flag, variations true (index 0) and false (index 1),
/// serving false by default in production.
struct FakeLd {
    server: Server,
    env: Arc<Mutex<Value>>,
    fail: Arc<Mutex<Option<Response>>>,
}

fn flag_json(env: &Value) -> String {
    json!({
        "key": "checkout-v2-ui",
        "kind": "boolean",
        "variations": [
            {"_id": "e432f62b-55f6-49dd-a02f-eb24acf39d05", "value": true},
            {"_id": "a00bf58d-d252-476c-b915-15a74becacb4", "value": false}
        ],
        "environments": {"production": env}
    })
    .to_string()
}

fn apply(env: &mut Value, instructions: &[Value]) -> Result<(), String> {
    for i in instructions {
        match i["kind"].as_str() {
            Some("turnFlagOn") => env["on"] = json!(true),
            Some("turnFlagOff") => env["on"] = json!(false),
            Some("updateFallthroughVariationOrRollout") => {
                let index = |id: &str| match id {
                    "e432f62b-55f6-49dd-a02f-eb24acf39d05" => Ok(0),
                    "a00bf58d-d252-476c-b915-15a74becacb4" => Ok(1),
                    other => Err(format!("unknown variation {other}")),
                };
                if let Some(w) = i["rolloutWeights"].as_object() {
                    let sum: i64 = w.values().filter_map(Value::as_i64).sum();
                    if sum != 100_000 {
                        return Err(format!("rollout weights sum to {sum}"));
                    }
                    let mut vars = Vec::new();
                    for (id, weight) in w {
                        vars.push(json!({"variation": index(id)?, "weight": weight}));
                    }
                    env["fallthrough"] = json!({"rollout": {"variations": vars}});
                } else if let Some(id) = i["variationId"].as_str() {
                    env["fallthrough"] = json!({"variation": index(id)?});
                } else {
                    return Err("neither rolloutWeights nor variationId".into());
                }
            }
            other => return Err(format!("unknown instruction kind {other:?}")),
        }
    }
    Ok(())
}

/// An answer of the API: JSON, as LaunchDarkly sends it.
fn api_answer(status: u16, body: impl Into<String>) -> Response {
    Response::new(status, body).header("Content-Type", "application/json")
}

impl FakeLd {
    fn start() -> Self {
        let env = Arc::new(Mutex::new(json!({
            "on": false,
            "offVariation": 1,
            "fallthrough": {"variation": 1},
            "rules": [], "targets": []
        })));
        let fail = Arc::new(Mutex::new(None::<Response>));
        let (e, f) = (env.clone(), fail.clone());
        let server = Server::start(move |req: &Request| {
            if req.header("authorization") != Some(TOKEN) {
                // LaunchDarkly does not echo tokens; this one does, to
                // prove migrate masks what a server says.
                return api_answer(
                    401,
                    json!({"code": "unauthorized", "message": format!("Invalid access token {}", req.header("authorization").unwrap_or(""))}).to_string(),
                );
            }
            if let Some(r) = f.lock().unwrap().clone() {
                return r;
            }
            if req.path() != FLAG_PATH {
                return api_answer(404, r#"{"code":"not_found","message":"Unknown resource"}"#);
            }
            match req.method.as_str() {
                "GET" if req.query() == "env=production" => {
                    api_answer(200, flag_json(&e.lock().unwrap()))
                }
                "PATCH" => {
                    if req.header("content-type")
                        != Some("application/json; domain-model=launchdarkly.semanticpatch")
                    {
                        return api_answer(400, r#"{"code":"invalid_request","message":"not a semantic patch"}"#);
                    }
                    let body: Value = match serde_json::from_str(&req.body) {
                        Ok(b) => b,
                        Err(_) => return api_answer(400, r#"{"code":"invalid_request"}"#),
                    };
                    if body["environmentKey"] != "production" {
                        return api_answer(400, r#"{"code":"invalid_request","message":"environmentKey"}"#);
                    }
                    let mut env = e.lock().unwrap();
                    let mut next = env.clone();
                    match apply(&mut next, body["instructions"].as_array().map_or(&[][..], Vec::as_slice)) {
                        Ok(()) => {
                            *env = next;
                            api_answer(200, flag_json(&env))
                        }
                        Err(m) => api_answer(400, json!({"code": "invalid_request", "message": m}).to_string()),
                    }
                }
                _ => api_answer(405, "{}"),
            }
        })
        .unwrap();
        Self { server, env, fail }
    }

    fn patches(&self) -> Vec<Value> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| r.method == "PATCH")
            .map(|r| serde_json::from_str(&r.body).unwrap())
            .collect()
    }
}

fn flags(url: &str, token: &str) -> Arc<dyn Flags> {
    let text = format!(
        "version: 1
name: ld-test
settings: {{ timeout: 2s, retries: 1 }}
providers:
  ld:
    type: launchdarkly
    url: {url}
    token: \"${{LD_API_TOKEN}}\"
    project: web
    environment: production
phases:
  - name: canary
    steps:
      - flag: {{ provider: ld, key: checkout-v2-ui, enabled: true, percent: 5 }}
"
    );
    let env = HashMap::from([("LD_API_TOKEN".to_string(), token.to_string())]);
    let env = migrate::redact::SecretEnv::new(env);
    let plan = match migrate::plan::validate(&text, &env, migrate::providers::catalog()) {
        Ok(v) => v.plan,
        Err(d) => panic!("invalid test plan: {d:?}\n{text}"),
    };
    Registry::new(&plan)
        .flags("ld")
        .expect("a launchdarkly provider")
}

const KEY: &str = "checkout-v2-ui";

#[tokio::test]
async fn launchdarkly_semantic_patches_read_back_and_restore() {
    let ld = FakeLd::start();
    let f = flags(&ld.server.url(""), TOKEN);

    // Off, serving false: 0%.
    let baseline = f.get(KEY).await.unwrap();
    assert_eq!(
        baseline,
        FlagState {
            enabled: false,
            percent: Some(0.0)
        }
    );
    let first = &ld.server.requests()[0];
    assert_eq!(first.method, "GET");
    assert_eq!(first.target, format!("{FLAG_PATH}?env=production"));

    f.set(
        KEY,
        &FlagChange {
            enabled: Some(true),
            percent: Some(Some(5.0)),
        },
    )
    .await
    .unwrap();
    let patch = ld.patches().pop().unwrap();
    assert_eq!(patch["environmentKey"], "production");
    assert_eq!(
        patch["instructions"],
        json!([
            {"kind": "turnFlagOn"},
            {"kind": "updateFallthroughVariationOrRollout", "rolloutWeights": {
                "e432f62b-55f6-49dd-a02f-eb24acf39d05": 5000,
                "a00bf58d-d252-476c-b915-15a74becacb4": 95000
            }}
        ])
    );
    assert_eq!(
        f.get(KEY).await.unwrap(),
        FlagState {
            enabled: true,
            percent: Some(5.0)
        }
    );

    // 33.3% in thousandths, summing to 100000.
    f.set(
        KEY,
        &FlagChange {
            enabled: None,
            percent: Some(Some(33.3)),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        ld.patches().pop().unwrap()["instructions"],
        json!([{"kind": "updateFallthroughVariationOrRollout", "rolloutWeights": {
            "e432f62b-55f6-49dd-a02f-eb24acf39d05": 33300,
            "a00bf58d-d252-476c-b915-15a74becacb4": 66700
        }}])
    );

    // Everyone: the fallthrough serves true.
    f.set(
        KEY,
        &FlagChange {
            enabled: Some(true),
            percent: Some(None),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        ld.env.lock().unwrap()["fallthrough"],
        json!({"variation": 0})
    );

    // Restore the baseline.
    f.set(KEY, &FlagChange::to(&baseline)).await.unwrap();
    assert_eq!(f.get(KEY).await.unwrap(), baseline);
    assert_eq!(ld.env.lock().unwrap()["on"], json!(false));
}

#[tokio::test]
async fn launchdarkly_errors_are_classified_and_hide_the_token() {
    let ld = FakeLd::start();

    // A wrong token: 401; the server's echo of it is masked.
    let wrong = "api-wrong-token-9090";
    let e = flags(&ld.server.url(""), wrong).get(KEY).await.unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("launchdarkly provider 'ld'") && msg.contains("401"),
        "{msg}"
    );
    assert!(!msg.contains(wrong), "{msg}");
    assert!(msg.contains("***"), "{msg}");
    assert_eq!(e.failure, Failure::Rejected);

    let f = flags(&ld.server.url(""), TOKEN);
    let e = f.get("no-such-flag").await.unwrap_err();
    assert!(
        e.to_string().contains("no-such-flag") && e.to_string().contains("404"),
        "{e}"
    );
    assert_eq!(e.failure, Failure::Rejected);

    // Rate limited, then a server error: transient, retried once.
    for status in [429, 500] {
        ld.server.clear();
        *ld.fail.lock().unwrap() = Some(api_answer(status, r#"{"code":"x"}"#));
        let e = f.get(KEY).await.unwrap_err();
        assert_eq!(e.failure, Failure::Transient, "{e}");
        assert_eq!(ld.server.requests().len(), 2, "{status} is retried once");
    }
    *ld.fail.lock().unwrap() = None;

    // Garbage.
    *ld.fail.lock().unwrap() = Some(Response::new(200, "<html>maintenance</html>"));
    assert_eq!(f.get(KEY).await.unwrap_err().failure, Failure::Garbage);
    *ld.fail.lock().unwrap() = None;

    // A server that never answers: the plan's timeout.
    let silent = Server::start(|_| Response::never()).unwrap();
    let e = flags(&silent.url(""), TOKEN).get(KEY).await.unwrap_err();
    assert_eq!(e.failure, Failure::Transient);
    assert!(!e.to_string().contains(TOKEN));
}
