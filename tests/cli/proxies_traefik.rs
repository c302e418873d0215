//! The traefik provider on real dynamic-configuration files (Traefik
//! itself is not installable here: the file is what it watches).

use std::collections::HashMap;
use std::sync::Arc;

use migrate::providers::{same_percent, Channel, Failure, Registry, Router};
use yaml_rust2::{Yaml, YamlLoader};

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
    let plan = match migrate::plan::validate(&text, &env) {
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
