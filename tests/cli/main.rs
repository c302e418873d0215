//! The integration tests: one binary driving the real `migrate` and the real
//! components (started by the tests themselves), a module per concern.
//! Shared helpers live in `support` (and in the `testbed` crate).

mod adapters_exec;
mod adapters_flagd;
mod adapters_http;
mod adapters_prometheus;
mod adapters_scrape;
mod architecture;
mod baselines;
mod canary_live;
mod compare_gate;
mod compat;
mod completions;
mod concurrency;
mod crash;
mod demo;
mod design;
mod docs;
mod engine;
mod faults;
mod flags_launchdarkly;
mod flags_unleash;
mod fuzz;
mod guard;
mod hooks;
mod journal_damage;
mod plans;
mod properties;
mod proxies_envoy;
mod proxies_haproxy;
mod proxies_nginx;
mod proxies_traefik;
mod reconcile_continuous;
mod reconcile_engines;
mod reconcile_live;
mod rig;
mod rollback_order;
mod schema;
mod security;
mod state_postgres;
mod sticky;
mod storage;
mod supervise;
mod support;
mod validate;
