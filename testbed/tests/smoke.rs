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
