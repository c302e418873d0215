//! The validated plan. Every value here has been checked: percents are in
//! range, durations parsed, references point at something of the right kind.
//! Built only by [`super::validate`].

use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::jsonpath::JsonPath;
use super::spec::{Config, ProviderSpec};
use super::text::Text;
use crate::domain::fmt_number;

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub version: u32,
    pub name: String,
    pub description: Option<String>,
    pub settings: Settings,
    pub providers: Vec<Provider>,
    pub gates: Vec<Gate>,
    pub reconciliations: Vec<Reconciliation>,
    pub phases: Vec<Phase>,
}

impl Plan {
    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.name == name)
    }

    pub fn gate(&self, name: &str) -> Option<&Gate> {
        self.gates.iter().find(|g| g.name == name)
    }

    pub fn reconciliation(&self, name: &str) -> Option<&Reconciliation> {
        self.reconciliations.iter().find(|r| r.name == name)
    }

    /// Every step in order, canaries already expanded.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.phases.iter().flat_map(|p| p.steps.iter())
    }

    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps().find(|s| s.id == id)
    }

    /// The least time the plan can take: the sum of its soaks.
    pub fn min_duration(&self) -> Duration {
        self.steps()
            .filter_map(|s| match &s.kind {
                StepKind::Soak { duration, .. } => Some(*duration),
                _ => None,
            })
            .sum()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    #[serde(serialize_with = "ser_duration")]
    pub interval: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    pub retries: u32,
    pub on_breach: OnBreach,
    #[serde(serialize_with = "ser_duration")]
    pub rollback_timeout: Duration,
    pub state: StateConfig,
    /// The providers told about the migration (alerts, notices).
    pub notify: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            retries: 3,
            on_breach: OnBreach::Rollback,
            rollback_timeout: Duration::from_secs(60),
            state: StateConfig::Local { dir: None },
            notify: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnBreach {
    Rollback,
    Pause,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum StateConfig {
    Local { dir: Option<Text> },
    Postgres { url: Text },
}

/// A percentage, 0 to 100 inclusive.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percent(f64);

impl Percent {
    pub const ZERO: Percent = Percent(0.0);
    pub const FULL: Percent = Percent(100.0);

    pub fn new(value: f64) -> Option<Self> {
        (value.is_finite() && (0.0..=100.0).contains(&value)).then_some(Self(value))
    }

    pub fn value(self) -> f64 {
        self.0
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

pub fn ser_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&super::describe::duration_words(*d))
}

fn ser_opt_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_duration(d, s),
        None => s.serialize_none(),
    }
}

/// What a provider can do. A step or gate names a provider; the provider must
/// have the capability the step needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    Traffic,
    Mirror,
    Flags,
    Metrics,
    Database,
    /// Tells people: alerts or notices (`settings.notify`).
    Notify,
}

impl Capability {
    pub fn noun(self) -> &'static str {
        match self {
            Capability::Traffic => "shifts traffic",
            Capability::Mirror => "mirrors traffic",
            Capability::Flags => "sets feature flags",
            Capability::Metrics => "reads metrics",
            Capability::Database => "holds data",
            Capability::Notify => "sends notifications",
        }
    }

    /// "cannot mirror", "cannot shift traffic".
    pub fn verb(self) -> &'static str {
        match self {
            Capability::Traffic => "shift traffic",
            Capability::Mirror => "mirror",
            Capability::Flags => "set feature flags",
            Capability::Metrics => "read metrics",
            Capability::Database => "hold data",
            Capability::Notify => "send notifications",
        }
    }
}

/// A named provider of the plan: its type's declaration and its decoded
/// configuration (a type only its adapter knows; see [`super::spec`]).
#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    pub timeout: Option<Duration>,
    pub spec: &'static ProviderSpec,
    pub config: Config,
}

impl Provider {
    pub fn type_name(&self) -> &'static str {
        self.spec.name
    }

    /// What this provider can do as configured.
    pub fn capabilities(&self) -> &'static [Capability] {
        self.config.capabilities().unwrap_or(self.spec.capabilities)
    }

    /// What the provider sends traffic to, in words ("payments-v2").
    pub fn candidate_label(&self) -> String {
        self.config.candidate_label()
    }

    /// The configuration, for the adapter of its type.
    pub fn config<T: 'static>(&self) -> Option<&T> {
        self.config.as_any().downcast_ref()
    }
}

/// `{name, timeout, type, ...the configuration's fields}`: the form step
/// digests hash, so it must not change.
impl Serialize for Provider {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Timeout<'a>(&'a Option<Duration>);
        impl Serialize for Timeout<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                ser_opt_duration(self.0, s)
            }
        }
        let fields = self.config.to_json();
        let fields = fields.as_object();
        let mut map = s.serialize_map(Some(3 + fields.map_or(0, |f| f.len())))?;
        map.serialize_entry("name", &self.name)?;
        map.serialize_entry("timeout", &Timeout(&self.timeout))?;
        map.serialize_entry("type", self.spec.name)?;
        for (k, v) in fields.into_iter().flatten() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// HTTP headers or environment variables: names and (possibly secret) values.
pub type Headers = Vec<(String, Text)>;

/// TLS options of providers reached over HTTP(S).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tls {
    /// Skip certificate verification. Loud: every use is warned about.
    pub insecure_skip_verify: bool,
    /// Extra CA certificate (PEM) to trust.
    pub ca_file: Option<Text>,
}

/// Customer-consistent traffic (a traffic provider's `sticky`): each
/// request's side is decided by a key the request carries, so that every
/// request of one customer goes to the same side, and a customer moved to
/// the candidate stays there as the share grows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sticky {
    pub key: StickyKey,
    pub missing: Missing,
}

/// Where the key is read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StickyKey {
    /// A request header, by name (`X-Customer`).
    Header(String),
    /// A cookie, by name.
    Cookie(String),
}

impl StickyKey {
    /// `header X-Customer`, `cookie session`.
    pub fn describe(&self) -> String {
        match self {
            Self::Header(h) => format!("header {h}"),
            Self::Cookie(c) => format!("cookie {c}"),
        }
    }
}

/// What happens to a request without the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    /// It goes to legacy, until the share is 100% (then to the candidate,
    /// like every request).
    Legacy,
    /// It is split per request at the same share.
    Split,
}

/// An HTTP request template (`http` providers' `set` and `get`).
#[derive(Debug, Clone, Serialize)]
pub struct HttpRequest {
    pub method: String,
    pub url: Text,
    pub body: Option<Text>,
    pub headers: Vec<(String, Text)>,
    pub json_path: Option<JsonPath>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NoData {
    Fail,
    Pass,
    Pause,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gate {
    pub name: String,
    #[serde(flatten)]
    pub source: GateSource,
    pub max: Option<f64>,
    pub min: Option<f64>,
    pub failure_limit: u32,
    pub no_data: NoData,
    #[serde(serialize_with = "ser_opt_duration")]
    pub interval: Option<Duration>,
    /// Parity gates: a recorded parity older than this is no data.
    #[serde(serialize_with = "ser_opt_duration")]
    pub max_age: Option<Duration>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum GateSource {
    Metric {
        provider: String,
        query: Text,
    },
    Parity {
        reconcile: String,
    },
    /// A sequential comparison of the candidate's rate with the baseline's.
    Compare {
        compare: Compare,
    },
}

/// `compare:` — the candidate's events per total against the baseline's.
#[derive(Debug, Clone, Serialize)]
pub struct Compare {
    pub provider: String,
    pub candidate: CompareArm,
    pub baseline: CompareArm,
    pub max_ratio: f64,
    pub direction: crate::domain::compare::Direction,
    pub alpha: f64,
}

impl Compare {
    /// The test it runs.
    pub fn test(&self) -> crate::domain::compare::Test {
        crate::domain::compare::Test {
            max_ratio: self.max_ratio,
            direction: self.direction,
            alpha: self.alpha,
        }
    }

    /// Its four queries: candidate events, candidate total, baseline
    /// events, baseline total.
    pub fn queries(&self) -> [&Text; 4] {
        [
            &self.candidate.events,
            &self.candidate.total,
            &self.baseline.events,
            &self.baseline.total,
        ]
    }
}

/// One arm of a comparison: two cumulative counters.
#[derive(Debug, Clone, Serialize)]
pub struct CompareArm {
    pub events: Text,
    pub total: Text,
}

impl Gate {
    /// Whether `value` breaches this gate's thresholds.
    pub fn breached_by(&self, value: f64) -> bool {
        self.max.is_some_and(|m| value > m) || self.min.is_some_and(|m| value < m)
    }

    /// The thresholds in words: "≤ 0.01", "≥ 1", "between 0.5 and 2".
    pub fn threshold_label(&self) -> String {
        if let GateSource::Compare { compare } = &self.source {
            let t = compare.test();
            let tolerance = match t.direction {
                crate::domain::compare::Direction::Increase => {
                    format!("candidate ≤ {}× baseline", fmt_number(t.max_ratio))
                }
                crate::domain::compare::Direction::Decrease => {
                    format!("candidate ≥ baseline / {}", fmt_number(t.max_ratio))
                }
            };
            return format!(
                "e-value < {} ({tolerance}, alpha {})",
                fmt_number(t.threshold()),
                fmt_number(t.alpha)
            );
        }
        match (self.min, self.max) {
            (Some(lo), Some(hi)) => format!("{lo} ≤ value ≤ {hi}"),
            (Some(lo), None) => format!("≥ {lo}"),
            (None, Some(hi)) => format!("≤ {hi}"),
            (None, None) => String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TableRef {
    pub provider: String,
    pub table: Text,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reconciliation {
    pub name: String,
    pub source: TableRef,
    pub target: TableRef,
    pub key: Vec<String>,
    /// Source column → target column. Empty: every source column, same names.
    pub columns: Vec<(String, String)>,
    pub source_where: Option<Text>,
    pub target_where: Option<Text>,
    pub delete_extra: bool,
    pub batch_size: u32,
    #[serde(serialize_with = "ser_duration")]
    pub settle: Duration,
    /// How `migrate reconcile NAME --follow` keeps comparing (see
    /// `reconcile::continuous`).
    pub continuous: Option<Continuous>,
}

/// A reconciliation's continuous settings: re-check what changed since a
/// watermark, and sweep the key space in slices, a pass every `every`.
#[derive(Debug, Clone, Serialize)]
pub struct Continuous {
    #[serde(serialize_with = "ser_duration")]
    pub every: Duration,
    pub watermark: Option<Watermark>,
    pub sweep: Sweep,
    /// Keys known to differ that are remembered (past it, differences are
    /// still counted, their keys are not kept).
    pub max_differing: u32,
}

/// A column that grows on every write, on both sides.
#[derive(Debug, Clone, Serialize)]
pub struct Watermark {
    /// The source column.
    pub column: String,
    /// The target column (through the reconciliation's `columns` mapping).
    pub target_column: String,
    /// How far below the highest watermark seen each pass re-reads.
    /// `None`: the default for the column's type (1m for times, 0 for
    /// integers).
    pub overlap: Option<Overlap>,
}

/// The overlap, in the watermark's own units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Overlap {
    /// For a timestamp (or date) watermark.
    #[serde(serialize_with = "ser_duration")]
    Time(Duration),
    /// For an integer watermark.
    Units(u64),
}

/// How much of the key space each pass sweeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sweep {
    /// This many source rows per pass.
    Rows(u32),
    /// Slices sized so that a full sweep takes at most this long (from
    /// the source's row estimate).
    #[serde(serialize_with = "ser_duration")]
    Within(Duration),
}

#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub name: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub id: String,
    pub phase: String,
    pub keep_on_rollback: bool,
    pub irreversible: bool,
    #[serde(flatten)]
    pub kind: StepKind,
    /// Line of the step in the plan (of the `canary` it came from, if any).
    #[serde(skip)]
    pub line: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StepKind {
    Traffic {
        provider: String,
        percent: Percent,
    },
    Mirror {
        provider: String,
        percent: Percent,
    },
    Flag {
        provider: String,
        key: String,
        enabled: Option<bool>,
        percent: Option<Percent>,
    },
    Soak {
        #[serde(serialize_with = "ser_duration")]
        duration: Duration,
        gates: Vec<String>,
    },
    Check {
        gates: Vec<String>,
        #[serde(serialize_with = "ser_opt_duration")]
        timeout: Option<Duration>,
    },
    Approve {
        message: String,
    },
    Run {
        argv: Vec<Text>,
        #[serde(serialize_with = "ser_opt_duration")]
        timeout: Option<Duration>,
        env: Vec<(String, Text)>,
    },
    Webhook {
        method: String,
        url: Text,
        headers: Vec<(String, Text)>,
        body: Option<Text>,
        #[serde(serialize_with = "ser_opt_duration")]
        timeout: Option<Duration>,
    },
    Reconcile {
        reconciliation: String,
        repair: bool,
        min_parity: Option<f64>,
    },
}

impl StepKind {
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Traffic { .. } => "traffic",
            StepKind::Mirror { .. } => "mirror",
            StepKind::Flag { .. } => "flag",
            StepKind::Soak { .. } => "soak",
            StepKind::Check { .. } => "check",
            StepKind::Approve { .. } => "approve",
            StepKind::Run { .. } => "run",
            StepKind::Webhook { .. } => "webhook",
            StepKind::Reconcile { .. } => "reconcile",
        }
    }

    /// Whether the step changes a target that rollback restores.
    pub fn changes_target(&self) -> bool {
        matches!(
            self,
            StepKind::Traffic { .. } | StepKind::Mirror { .. } | StepKind::Flag { .. }
        )
    }
}
