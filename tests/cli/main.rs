//! The integration tests: the real `migrate` binary against real
//! components started by the tests.

mod reconcile_engines;
mod reconcile_live;
