//! The envoy provider against a local server that plays Envoy's admin API
//! (Envoy cannot be installed here) and asserts the exact documented
//! requests: `POST /runtime_modify?key=value&...`, `GET /runtime`,
//! `GET /config_dump`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use migrate::providers::{same_percent, Channel, Failure, Registry, Router};
use serde_json::{json, Value};
use testbed::http::{decode, Request, Response, Server};

const PREFIX: &str = "routing.checkout";
const LEGACY_KEY: &str = "routing.checkout.checkout-legacy";
const CANDIDATE_KEY: &str = "routing.checkout.checkout-v2";
const MIRROR_KEY: &str = "routing.checkout.mirror";

/// The admin API: a runtime admin layer, and a route whose
/// weighted_clusters (legacy 100, candidate 0) and mirror runtime_fraction
/// (default 0/HUNDRED) are what Envoy uses before keys are set.
struct FakeEnvoy {
    server: Server,
    runtime: Arc<Mutex<BTreeMap<String, String>>>,
    /// When set, every answer is this.
    fail: Arc<Mutex<Option<Response>>>,
}

fn config_dump() -> Value {
    json!({"configs": [
        {"@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump", "bootstrap": {}},
        {"@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
         "static_route_configs": [{"route_config": {
            "name": "local_route",
            "virtual_hosts": [{"name": "checkout", "domains": ["*"], "routes": [{
                "match": {"prefix": "/"},
                "route": {
                    "weighted_clusters": {
                        "clusters": [
                            {"name": "checkout-legacy", "weight": 100},
                            {"name": "checkout-v2", "weight": 0}
                        ],
                        "runtime_key_prefix": PREFIX
                    },
                    "request_mirror_policies": [{
                        "cluster": "checkout-v2",
                        "runtime_fraction": {
                            "default_value": {"numerator": 0},
                            "runtime_key": MIRROR_KEY
                        }
                    }]
                }
            }]}]
         }}]}
    ]})
}

/// Envoy's admin answers other than JSON reports: plain text.
fn admin_text(status: u16, body: &str) -> Response {
    Response::new(status, body).header("Content-Type", "text/plain; charset=UTF-8")
}

impl FakeEnvoy {
    fn start() -> Self {
        let runtime = Arc::new(Mutex::new(BTreeMap::<String, String>::new()));
        let fail = Arc::new(Mutex::new(None::<Response>));
        let (rt, f) = (runtime.clone(), fail.clone());
        let server = Server::start(move |req: &Request| {
            if let Some(r) = f.lock().unwrap().clone() {
                return r;
            }
            match (req.method.as_str(), req.path()) {
                ("POST", "/runtime_modify") => {
                    let mut rt = rt.lock().unwrap();
                    for pair in req.query().split('&').filter(|p| !p.is_empty()) {
                        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                        rt.insert(decode(k), decode(v));
                    }
                    admin_text(200, "OK\n")
                }
                (_, "/runtime_modify") => admin_text(405, "This endpoint requires POST\n"),
                ("GET", "/runtime") => {
                    let entries: serde_json::Map<String, Value> = rt
                        .lock()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                json!({"final_value": v, "layer_values": ["", v]}),
                            )
                        })
                        .collect();
                    Response::json(
                        json!({"layers": ["static_layer", "admin"], "entries": entries})
                            .to_string(),
                    )
                }
                ("GET", "/config_dump") => Response::json(config_dump().to_string()),
                _ => admin_text(404, "invalid path. admin commands are:\n"),
            }
        })
        .unwrap();
        Self {
            server,
            runtime,
            fail,
        }
    }

    fn fail_with(&self, r: Option<Response>) {
        *self.fail.lock().unwrap() = r;
    }

    fn modifies(&self) -> Vec<String> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| r.path() == "/runtime_modify")
            .map(|r| format!("{} {}", r.method, r.target))
            .collect()
    }
}

fn router(admin: &str, extra: &str) -> Arc<dyn Router> {
    let text = format!(
        "version: 1
name: envoy-test
settings: {{ timeout: 2s, retries: 1 }}
providers:
  mesh:
    type: envoy
    admin: {admin}
    runtime_key_prefix: {PREFIX}
    legacy: checkout-legacy
    candidate: checkout-v2
    mirror_key: {MIRROR_KEY}
    headers: {{ X-Admin-Token: \"${{ENVOY_ADMIN_TOKEN}}\" }}
{extra}
phases:
  - name: shadow
    steps:
      - mirror: {{ provider: mesh, percent: 50 }}
      - traffic: {{ provider: mesh, percent: 10 }}
"
    );
    let env: HashMap<String, String> = HashMap::from([(
        "ENVOY_ADMIN_TOKEN".to_string(),
        "admin-s3cret-77".to_string(),
    )]);
    let env = migrate::redact::SecretEnv::new(env);
    let plan = match migrate::plan::validate(&text, &env, migrate::providers::catalog()) {
        Ok(v) => v.plan,
        Err(d) => panic!("invalid test plan: {d:?}\n{text}"),
    };
    Registry::new(&plan)
        .router("mesh")
        .expect("an envoy router")
}

#[tokio::test]
async fn envoy_reads_the_route_baseline_sets_runtime_keys_and_restores() {
    let envoy = FakeEnvoy::start();
    let mesh = router(&envoy.server.url(""), "");

    // Nothing in the runtime yet: the route's configured weights.
    assert_eq!(mesh.get(Channel::Traffic).await.unwrap(), 0.0);
    assert_eq!(mesh.get(Channel::Mirror).await.unwrap(), 0.0);
    let paths: Vec<String> = envoy
        .server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert_eq!(
        paths,
        [
            "GET /runtime",
            "GET /config_dump",
            "GET /runtime",
            "GET /config_dump"
        ]
    );
    // The plan's headers go with every request.
    assert!(envoy
        .server
        .requests()
        .iter()
        .all(|r| r.header("x-admin-token") == Some("admin-s3cret-77")));

    mesh.set(Channel::Traffic, 10.0).await.unwrap();
    assert_eq!(
        envoy.modifies(),
        [format!(
            "POST /runtime_modify?{LEGACY_KEY}=9000&{CANDIDATE_KEY}=1000"
        )]
    );
    assert!(same_percent(
        mesh.get(Channel::Traffic).await.unwrap(),
        10.0
    ));

    mesh.set(Channel::Traffic, 33.3).await.unwrap();
    assert_eq!(envoy.runtime.lock().unwrap()[CANDIDATE_KEY], "3330");
    assert!(same_percent(
        mesh.get(Channel::Traffic).await.unwrap(),
        33.3
    ));

    mesh.set(Channel::Mirror, 50.0).await.unwrap();
    assert_eq!(
        envoy.modifies().last().unwrap(),
        &format!("POST /runtime_modify?{MIRROR_KEY}=50")
    );
    assert_eq!(mesh.get(Channel::Mirror).await.unwrap(), 50.0);

    // Whole percents only for mirroring (denominator HUNDRED): refused
    // before anything is sent.
    envoy.server.clear();
    let e = mesh.set(Channel::Mirror, 2.5).await.unwrap_err();
    assert_eq!(e.failure, Failure::Rejected);
    assert!(envoy.server.requests().is_empty());

    // Restore the baseline.
    mesh.set(Channel::Traffic, 0.0).await.unwrap();
    mesh.set(Channel::Mirror, 0.0).await.unwrap();
    assert_eq!(
        envoy.modifies(),
        [
            format!("POST /runtime_modify?{LEGACY_KEY}=10000&{CANDIDATE_KEY}=0"),
            format!("POST /runtime_modify?{MIRROR_KEY}=0"),
        ]
    );
    assert_eq!(mesh.get(Channel::Traffic).await.unwrap(), 0.0);
    assert_eq!(mesh.get(Channel::Mirror).await.unwrap(), 0.0);
}

#[tokio::test]
async fn envoy_errors_are_classified_and_name_the_admin_url() {
    let envoy = FakeEnvoy::start();
    let mesh = router(&envoy.server.url(""), "");

    // No admin layer: 503, retried once (idempotent), then reported.
    envoy.fail_with(Some(admin_text(503, "No admin layer specified\n")));
    let e = mesh.set(Channel::Traffic, 5.0).await.unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("envoy provider 'mesh'"), "{msg}");
    assert!(
        msg.contains(&envoy.server.url("")) && msg.contains("503"),
        "{msg}"
    );
    assert!(msg.contains("No admin layer specified"), "{msg}");
    assert!(msg.contains("after 2 attempts"), "{msg}");
    assert_eq!(e.failure, Failure::Transient);
    assert!(!msg.contains("admin-s3cret-77"));

    // A 4xx is not retried.
    envoy.server.clear();
    envoy.fail_with(Some(admin_text(403, "forbidden")));
    let e = mesh.get(Channel::Traffic).await.unwrap_err();
    assert_eq!(e.failure, Failure::Rejected);
    assert_eq!(envoy.server.requests().len(), 1);

    // Not JSON.
    envoy.fail_with(Some(admin_text(200, "<html>proxy login</html>")));
    let e = mesh.get(Channel::Mirror).await.unwrap_err();
    assert_eq!(e.failure, Failure::Garbage);
    envoy.fail_with(None);

    // An admin that never answers: the plan's timeout.
    let silent = Server::start(|_| Response::never()).unwrap();
    let mesh = router(&silent.url(""), "");
    let e = mesh.set(Channel::Traffic, 5.0).await.unwrap_err();
    assert!(e.to_string().contains(&silent.url("")), "{e}");
    assert_eq!(e.failure, Failure::Transient);

    // Nothing listening at all.
    let port = testbed::free_port().unwrap();
    let mesh = router(&format!("http://127.0.0.1:{port}"), "");
    let e = mesh.get(Channel::Traffic).await.unwrap_err();
    assert!(e.to_string().contains("cannot connect"), "{e}");
}
