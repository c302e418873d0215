//! The components start, answer, and stop.

#[test]
fn postgres_starts_answers_and_restarts() {
    let pg = testbed::postgres::Postgres::start().expect("postgres starts");
    assert_eq!(pg.psql("postgres", "SELECT 1+1").unwrap().trim(), "2");
    pg.create_database("app").unwrap();
    pg.psql("app", "CREATE TABLE t(id int); INSERT INTO t VALUES (7)")
        .unwrap();
    pg.restart().unwrap();
    assert_eq!(pg.psql("app", "SELECT id FROM t").unwrap().trim(), "7");
}

#[test]
fn prometheus_starts_and_scrapes_a_target() {
    use testbed::http::{Response, Server};
    let page =
        Server::start(|_| Response::ok("# TYPE smoke_value gauge\nsmoke_value 42\n")).unwrap();
    let prom =
        testbed::prometheus::Prometheus::start(&[page.address()]).expect("prometheus starts");
    prom.wait_for("smoke_value").unwrap();
    let (status, body) = prom.query("smoke_value").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"42\""), "{body}");
    assert!(page.requests().iter().any(|r| r.path() == "/metrics"));
}

#[test]
fn envoy_routes_by_its_runtime_and_reloads_its_route() {
    use testbed::backend::Backend;
    use testbed::envoy::{Envoy, Route, CANDIDATE, LEGACY, PREFIX};
    let legacy = Backend::start("legacy").unwrap();
    let candidate = Backend::start("candidate").unwrap();
    let mut envoy = Envoy::start(
        &legacy.address(),
        &candidate.address(),
        &Route::new(100, 0, 0, "HUNDRED"),
    )
    .expect("envoy starts");
    assert!(envoy.send(20).unwrap().iter().all(|b| b == "legacy"));
    let (lk, ck) = (
        format!("{PREFIX}.{LEGACY}"),
        format!("{PREFIX}.{CANDIDATE}"),
    );
    envoy.runtime_modify(&[(&lk, "0"), (&ck, "1")]).unwrap();
    assert!(envoy.send(20).unwrap().iter().all(|b| b == "candidate"));
    assert_eq!(envoy.runtime().unwrap()[&ck], "1");
    // The override outlives a change of the route, not a restart.
    let route = Route::new(0, 100, 250, "TEN_THOUSAND");
    envoy.set_route(&route).unwrap();
    assert_eq!(envoy.live_route().unwrap(), route);
    envoy.runtime_modify(&[(&lk, "1"), (&ck, "0")]).unwrap();
    assert!(envoy.send(20).unwrap().iter().all(|b| b == "legacy"));
    envoy.restart().unwrap();
    assert!(envoy.runtime().unwrap().is_empty());
    assert!(envoy.send(20).unwrap().iter().all(|b| b == "candidate"));
    assert!(envoy.stat("cluster.checkout-v2.upstream_rq_total").unwrap() >= 20);
}
