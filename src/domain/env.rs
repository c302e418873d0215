//! Where `${VAR}` values come from: injected, so that validating a plan
//! stays pure, and shared with the redactor, which masks every value taken
//! from it.

use std::collections::HashMap;

/// Where `${VAR}` values come from. Injected, so validation stays pure.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}
