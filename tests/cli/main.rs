//! The integration tests: migrate against real components started by the
//! tests themselves.

mod adapters_exec;
mod adapters_flagd;
mod adapters_http;
mod adapters_prometheus;
mod adapters_scrape;
