//! The integration tests: real components started by the tests themselves.

mod flags_launchdarkly;
mod flags_unleash;
mod proxies_envoy;
mod proxies_haproxy;
mod proxies_nginx;
mod proxies_traefik;
