//! `migrate`: zero-downtime service migrations driven by a declarative plan.
//!
//! The library holds everything but the demo; the `migrate` binary is a
//! thin shell over [`cli`] and [`commands`] (and holds `migrate demo`).
//! docs/ARCHITECTURE.md maps the layers; each module uses only the ones
//! below it.

pub mod app;
pub mod cli;
pub mod commands;
pub mod domain;
pub mod engine;
pub mod error;
pub mod fsutil;
pub mod http;
pub mod output;
pub mod plan;
pub mod providers;
pub mod reconcile;
pub mod redact;
pub mod state;
pub mod supervise;
pub mod table;
