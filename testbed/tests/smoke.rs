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
