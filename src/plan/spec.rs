//! What a provider type declares about itself: its name, its keys (each
//! with its own description), what it can do, and how its section of the
//! plan is decoded. The plan layer defines the declaration; each adapter
//! makes one (in its own file under `src/providers/`), and the catalog of
//! them is passed in: the validator's key tables, its hints and the JSON
//! Schema are all generated from it, and the plan layer knows no provider
//! type by name.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::decode::Cx;
use super::model::Capability;
use super::providers::Fields;
use super::text::Text;
use super::yaml::Node;

/// Every provider type migrate knows, in the order they are listed in
/// messages and in the schema.
pub type Catalog = [&'static ProviderSpec];

/// What a key holds, as the JSON Schema describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A string (or number, boolean) that may use `${VAR}`.
    Text,
    /// A plain string, no `${VAR}`.
    Literal,
    /// One name or a list of them.
    OneOrMany,
    /// A command as a list of words (no shell).
    Argv,
    /// A map of names to texts (headers, environment variables).
    Headers,
    Bool,
    /// An HTTP request template (`method`, `url`, `body`, ...).
    Request,
    /// A customer-consistent split (`header` or `cookie`, `missing`).
    Sticky,
}

/// One key of a provider type, besides `type` and `timeout`.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    pub shape: Shape,
    /// The schema lists it as required (a key needed only in some
    /// configurations, like haproxy's `socket` or `address`, is not).
    pub required: bool,
    pub description: &'static str,
}

impl Key {
    pub const fn required(name: &'static str, shape: Shape, description: &'static str) -> Self {
        Self {
            name,
            shape,
            required: true,
            description,
        }
    }

    pub const fn optional(name: &'static str, shape: Shape, description: &'static str) -> Self {
        Self {
            name,
            shape,
            required: false,
            description,
        }
    }
}

/// Keys shared by the providers reached over HTTP(S).
pub const INSECURE_SKIP_TLS_VERIFY: Key = Key::optional(
    "insecure_skip_tls_verify",
    Shape::Bool,
    "skip TLS certificate verification (loudly warned about)",
);
pub const CA_FILE: Key = Key::optional("ca_file", Shape::Text, "PEM file of an extra CA to trust");

/// Reads a provider's section of the plan (its `type` already known and
/// its keys already checked) into its configuration, reporting problems
/// through `cx`; `None` when there were any.
pub type Decode = fn(&mut Cx<'_>, &Fields<'_, '_>) -> Option<Arc<dyn ProviderConfig>>;

/// Checks a gate's `query` for a provider of this type (at `node`, path
/// `path`); `None` when it reported a problem.
pub type CheckQuery = fn(&mut Cx<'_>, &Node, &str, &Text) -> Option<()>;

/// A provider type's declaration.
pub struct ProviderSpec {
    /// The `type:` that selects it.
    pub name: &'static str,
    /// "a" or "an": how the name is read ("an nginx provider").
    pub article: &'static str,
    /// What a provider of this type can do when fully configured.
    pub capabilities: &'static [Capability],
    /// What a capability needs, for hints: `(Mirror, "with mirror_key")`.
    pub needs: &'static [(Capability, &'static str)],
    pub keys: &'static [Key],
    pub decode: Decode,
    pub check_query: Option<CheckQuery>,
}

impl fmt::Debug for ProviderSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderSpec")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ProviderSpec {
    /// "an nginx", "a haproxy".
    pub fn with_article(&self) -> String {
        format!("{} {}", self.article, self.name)
    }

    pub fn key_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.keys.iter().map(|k| k.name)
    }
}

/// The declaration of type `name`.
pub fn find(catalog: &Catalog, name: &str) -> Option<&'static ProviderSpec> {
    catalog.iter().copied().find(|s| s.name == name)
}

pub fn names(catalog: &Catalog) -> Vec<&'static str> {
    catalog.iter().map(|s| s.name).collect()
}

/// The types that offer `cap`, for hints: "nginx, envoy (with mirror_key),
/// http, exec". Types that do fewer things come first (the general-purpose
/// `http` and `exec` last), then in catalog order.
pub fn types_with(catalog: &Catalog, cap: Capability) -> String {
    let mut offering: Vec<&ProviderSpec> = catalog
        .iter()
        .copied()
        .filter(|s| s.capabilities.contains(&cap))
        .collect();
    offering.sort_by_key(|s| s.capabilities.len());
    offering
        .iter()
        .map(|s| match s.needs.iter().find(|(c, _)| *c == cap) {
            Some((_, need)) => format!("{} ({need})", s.name),
            None => s.name.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The part of a configuration every adapter gets for free: downcasting
/// (for the adapter that built it) and its fields as JSON (for the plan's
/// JSON form and step digests).
pub trait ErasedConfig: Any + fmt::Debug + Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn to_json(&self) -> serde_json::Value;
}

impl<T: Serialize + Any + fmt::Debug + Send + Sync> ErasedConfig for T {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// A decoded provider configuration, of a type only its adapter knows.
pub trait ProviderConfig: ErasedConfig {
    /// What this provider can do as configured, when that is less than its
    /// type declares (an `http` provider without `set` only reads).
    fn capabilities(&self) -> Option<&'static [Capability]> {
        None
    }

    /// Why it does less than its type can, for messages: "it has no
    /// 'set', so it can only read metrics".
    fn limited_because(&self) -> Option<&'static str> {
        None
    }

    /// A key this configuration lacks for `cap` although its type offers
    /// it (`mirror_key` for an envoy that cannot mirror).
    fn missing_for(&self, _cap: Capability) -> Option<&'static str> {
        None
    }

    /// Why it cannot set `percent` for `cap` although it can do `cap` (a
    /// share finer than it holds, like a fractional mirror percent through
    /// Envoy's runtime), and what to do instead: `(problem, hint)`.
    fn refuses_percent(&self, _cap: Capability, _percent: f64) -> Option<(String, String)> {
        None
    }

    /// What the provider sends traffic to, in words ("payments-v2").
    fn candidate_label(&self) -> String {
        "the candidate".to_string()
    }

    /// What its traffic split is keyed on, in words ("header
    /// X-Customer"), when it splits by customer rather than by request.
    fn split_by(&self) -> Option<String> {
        None
    }

    /// Whether it talks to its system without checking the certificate
    /// (`insecure_skip_tls_verify: true`), which a command says loudly.
    fn insecure_tls(&self) -> bool {
        false
    }
}

pub type Config = Arc<dyn ProviderConfig>;

/// `Some(config)`, type-erased: what a [`Decode`] returns.
pub fn config(c: impl ProviderConfig) -> Option<Config> {
    Some(Arc::new(c))
}

#[cfg(test)]
pub mod tests {
    //! A catalog for the plan layer's own tests, which must not depend on
    //! the adapters: one database type, `db`, with a `path`.

    use serde::Serialize;

    use super::{Catalog, Key, ProviderConfig, ProviderSpec, Shape};
    use crate::plan::model::Capability;

    #[derive(Debug, Serialize)]
    struct Db {
        path: crate::plan::Text,
    }

    impl ProviderConfig for Db {}

    static DB: ProviderSpec = ProviderSpec {
        name: "db",
        article: "a",
        capabilities: &[Capability::Database],
        needs: &[],
        keys: &[Key::required("path", Shape::Text, "the database file")],
        decode: |cx, r| {
            super::config(Db {
                path: r.text(cx, "path")?,
            })
        },
        check_query: None,
    };

    pub static CATALOG: &Catalog = &[&DB];
}
