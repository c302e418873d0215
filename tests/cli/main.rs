//! The integration tests: one binary driving the real `migrate`, a module per
//! concern. Shared helpers live in `support`.

mod completions;
mod design;
mod docs;
mod plans;
mod properties;
mod schema;
mod support;
mod validate;
