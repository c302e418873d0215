//! JSON Schema (draft 2020-12) of the plan, for editors. It describes the
//! same keys the validator accepts (a test holds the two together); the
//! validator remains the authority on what a valid plan is (references,
//! ordering, environment variables are beyond a schema).

use serde_json::{json, Map, Value};

use super::gates::{
    ARM_KEYS, COMPARE_KEYS, CONTINUOUS_KEYS, GATE_KEYS, RECONCILIATION_KEYS, TABLE_KEYS,
};
use super::providers::{COMMON_KEYS, REQUEST_KEYS, STICKY_KEYS};
use super::spec::{Catalog, Key, ProviderSpec, Shape};
use super::steps::{
    sibling_keys, CANARY_KEYS, FLAG_KEYS, PHASE_KEYS, STEP_KINDS, TRAFFIC_KEYS, WEBHOOK_KEYS,
};
use super::{SETTINGS_KEYS, STATE_KEYS, TOP_KEYS};

pub const SCHEMA_ID: &str = "https://migrate.dev/schema/plan-v1.json";

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/$defs/{name}") })
}

fn object(props: &[(&str, Value)], required: &[&str], description: &str) -> Value {
    let mut properties = Map::new();
    for (k, v) in props {
        properties.insert((*k).to_string(), v.clone());
    }
    let mut o = json!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        o["required"] = json!(required);
    }
    if !description.is_empty() {
        o["description"] = json!(description);
    }
    o
}

fn described(mut v: Value, description: &str) -> Value {
    v["description"] = json!(description);
    v
}

fn key_schema(key: &Key) -> Value {
    let v = match key.shape {
        Shape::Text => r("text"),
        Shape::Literal => r("literal"),
        Shape::OneOrMany => r("oneOrMany"),
        Shape::Argv => r("argv"),
        Shape::Headers => r("headers"),
        Shape::Bool => json!({"type": "boolean"}),
        Shape::Request => r("request"),
        Shape::Sticky => r("sticky"),
    };
    if key.description.is_empty() {
        v
    } else {
        described(v, key.description)
    }
}

/// One provider type's schema, from its declaration.
fn provider_schema(spec: &ProviderSpec) -> Value {
    let mut props: Vec<(&str, Value)> = vec![
        ("type", json!({ "const": spec.name })),
        (
            "timeout",
            described(
                r("duration"),
                "per-call timeout for this provider (default: settings.timeout)",
            ),
        ),
    ];
    props.extend(spec.keys.iter().map(|k| (k.name, key_schema(k))));
    let required: Vec<&str> = std::iter::once("type")
        .chain(spec.keys.iter().filter(|k| k.required).map(|k| k.name))
        .collect();
    object(
        &props,
        &required,
        &format!("{} provider", spec.with_article()),
    )
}

fn step_field(kind: &str) -> Value {
    match kind {
        "traffic" | "mirror" => object(
            &[("provider", r("name")), ("percent", r("percent"))],
            TRAFFIC_KEYS,
            if kind == "traffic" {
                "send `percent` of live traffic to the candidate"
            } else {
                "mirror `percent` of traffic to the candidate; responses discarded"
            },
        ),
        "flag" => object(
            &[
                ("provider", r("name")),
                ("key", r("literal")),
                ("enabled", json!({"type": "boolean"})),
                ("percent", r("percent")),
            ],
            &["provider", "key"],
            "set a flag on/off and/or its rollout percentage",
        ),
        "soak" => described(r("duration"), "hold; evaluate the gates every interval"),
        "check" => described(r("oneOrMany"), "evaluate these gates once, now"),
        "approve" => described(
            json!({"type": "string"}),
            "wait for a person: prompt on a terminal, or `advance --approve ID`",
        ),
        "run" => described(r("argv"), "a hook (no shell); non-zero exit fails the step"),
        "webhook" => object(
            &[
                ("url", r("text")),
                (
                    "method",
                    json!({"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "get", "post", "put", "patch", "delete"]}),
                ),
                ("headers", r("headers")),
                ("body", r("text")),
            ],
            &["url"],
            "an HTTP hook; a non-2xx answer fails the step",
        ),
        "reconcile" => described(r("name"), "run this reconciliation now"),
        "canary" => object(
            &[
                ("provider", r("name")),
                (
                    "percents",
                    json!({"type": "array", "items": r("percent"), "minItems": 1}),
                ),
                ("soak", r("duration")),
                ("gates", r("oneOrMany")),
                ("key", r("literal")),
            ],
            &["provider", "percents", "soak"],
            "shorthand: a traffic (or flag) step and a soak for each percent",
        ),
        _ => json!({}),
    }
}

fn sibling_field(key: &str) -> Value {
    match key {
        "gates" => described(r("oneOrMany"), "gates watched during the soak"),
        "timeout" => r("duration"),
        "env" => r("headers"),
        "repair" => described(
            json!({"type": "boolean"}),
            "copy missing and different rows source → target",
        ),
        "min_parity" => json!({"type": "number", "minimum": 0, "maximum": 1}),
        _ => json!({}),
    }
}

fn step_schemas() -> Vec<Value> {
    STEP_KINDS
        .iter()
        .map(|kind| {
            let mut props: Vec<(&str, Value)> = vec![
                ("id", described(r("name"), "default: <phase>.<n>")),
                (
                    "keep_on_rollback",
                    described(
                        json!({"type": "boolean"}),
                        "rollback leaves this change in place",
                    ),
                ),
                (
                    "irreversible",
                    described(
                        json!({"type": "boolean"}),
                        "rollback past this step needs --force",
                    ),
                ),
                (kind, step_field(kind)),
            ];
            for s in sibling_keys(kind) {
                props.push((s, sibling_field(s)));
            }
            object(&props, &[kind], &format!("a {kind} step"))
        })
        .collect()
}

/// The schema as a JSON value, for plans whose providers are of the types
/// in `catalog` (`providers::catalog()`).
pub fn plan_schema(catalog: &Catalog) -> Value {
    let settings = object(
        &[
            (
                "interval",
                described(
                    r("duration"),
                    "how often gates are evaluated during a soak (default 30s)",
                ),
            ),
            (
                "timeout",
                described(r("duration"), "per provider call (default 10s)"),
            ),
            (
                "retries",
                described(
                    json!({"type": "integer", "minimum": 0, "maximum": 100}),
                    "retries of idempotent provider calls (default 3)",
                ),
            ),
            ("on_breach", json!({"enum": ["rollback", "pause"]})),
            (
                "rollback_timeout",
                described(
                    r("duration"),
                    "how long a rollback keeps retrying failed restores (default 60s)",
                ),
            ),
            (
                "state",
                object(
                    &[
                        ("backend", json!({"enum": ["local", "postgres"]})),
                        ("dir", r("text")),
                        ("url", r("text")),
                    ],
                    &[],
                    "where the migration's state and journal live",
                ),
            ),
            (
                "notify",
                described(
                    json!({"type": "array", "items": r("name"), "uniqueItems": true}),
                    "providers told about the migration: alertmanager (alerts), webhook (events)",
                ),
            ),
        ],
        &[],
        "all optional",
    );
    let arm = |which: &str| {
        object(
            &[
                ("events", described(r("text"), "a query for the cumulative counter of events (errors, slow requests, successes)")),
                ("total", described(r("text"), "a query for the cumulative counter of all requests")),
            ],
            &["events", "total"],
            which,
        )
    };
    let compare = object(
        &[
            ("provider", described(r("name"), "a metrics provider")),
            ("candidate", arm("the candidate's counters")),
            ("baseline", arm("the baseline's counters")),
            ("max_ratio", described(json!({"type": "number", "minimum": 1, "maximum": crate::domain::compare::MAX_RATIO_LIMIT}), "the candidate's rate tolerated, as a multiple of the baseline's")),
            ("direction", described(json!({"enum": ["increase", "decrease"]}), "increase: higher is worse (default); decrease: lower is worse")),
            ("alpha", described(json!({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.5}), "the chance of a false breach over the whole soak, however often the gate is read (default 0.01)")),
        ],
        &["provider", "candidate", "baseline", "max_ratio"],
        "a sequential comparison of the candidate's rate with the baseline's",
    );
    let gate = json!({
        "type": "object",
        "properties": {
            "compare": compare,
            "provider": described(r("name"), "a metrics provider"),
            "query": described(r("text"), "the provider's query; its value is compared with min/max"),
            "reconcile": described(r("name"), "a reconciliation whose parity (0..1) is the value"),
            "max": described(json!({"type": "number"}), "breach when the value is above"),
            "min": described(json!({"type": "number"}), "breach when the value is below"),
            "failure_limit": described(json!({"type": "integer", "minimum": 0}), "breaches tolerated before the breaker trips"),
            "no_data": described(json!({"enum": ["fail", "pass", "pause"]}), "what an empty result, NaN or an unreachable provider means"),
            "interval": r("duration"),
            "max_age": described(r("duration"), "parity gates: a recorded parity older than this is no data"),
        },
        "additionalProperties": false,
        "oneOf": [
            { "required": ["provider", "query"], "not": { "anyOf": [{ "required": ["reconcile"] }, { "required": ["compare"] }] }, "anyOf": [{ "required": ["max"] }, { "required": ["min"] }] },
            { "required": ["reconcile"], "not": { "anyOf": [{ "required": ["provider"] }, { "required": ["query"] }, { "required": ["compare"] }] }, "anyOf": [{ "required": ["max"] }, { "required": ["min"] }] },
            { "required": ["compare"], "not": { "anyOf": [{ "required": ["provider"] }, { "required": ["query"] }, { "required": ["reconcile"] }, { "required": ["max"] }, { "required": ["min"] }, { "required": ["max_age"] }] } },
        ],
    });
    let continuous = object(
        &[
            (
                "every",
                described(r("duration"), "time between passes (default 30s)"),
            ),
            (
                "watermark",
                described(
                    r("literal"),
                    "a source column that grows on every write (timestamp or integer); the target's is its mapped column",
                ),
            ),
            (
                "overlap",
                json!({
                    "description": "how far below the highest watermark seen each pass re-reads: a duration for a timestamp watermark (default 1m), a number for an integer one (default 0)",
                    "oneOf": [r("duration"), { "type": "integer", "minimum": 0 }],
                }),
            ),
            (
                "sweep_rows",
                described(
                    json!({"type": "integer", "minimum": 1, "maximum": 10_000_000}),
                    "source rows the rolling sweep compares per pass (default 10000)",
                ),
            ),
            (
                "sweep_within",
                described(
                    r("duration"),
                    "instead of sweep_rows: slices sized so that a full sweep takes at most this long",
                ),
            ),
            (
                "max_differing",
                described(
                    json!({"type": "integer", "minimum": 1, "maximum": 10_000_000}),
                    "keys known to differ that are remembered (default 100000)",
                ),
            ),
        ],
        &[],
        "how `reconcile NAME --follow` keeps comparing: re-check rows changed since a watermark, plus a rolling sweep",
    );
    let continuous = {
        let mut c = continuous;
        c["not"] = json!({ "required": ["sweep_rows", "sweep_within"] });
        c
    };
    let table = object(
        &[("provider", r("name")), ("table", r("text"))],
        TABLE_KEYS,
        "a table of a database provider",
    );
    let reconciliation = object(
        &[
            (
                "source",
                described(table.clone(), "the source of truth (legacy)"),
            ),
            ("target", described(table, "the new store")),
            ("key", r("oneOrMany")),
            (
                "columns",
                json!({
                    "description": "source column: target column, or a list when the names match (default: every source column)",
                    "oneOf": [
                        { "type": "object", "additionalProperties": r("literal"), "minProperties": 1 },
                        r("oneOrMany"),
                    ],
                }),
            ),
            (
                "where",
                described(r("text"), "SQL condition applied to both sides"),
            ),
            ("source_where", r("text")),
            ("target_where", r("text")),
            (
                "delete_extra",
                described(
                    json!({"type": "boolean"}),
                    "repair deletes rows found only in the target",
                ),
            ),
            (
                "batch_size",
                json!({"type": "integer", "minimum": 1, "maximum": 1_000_000}),
            ),
            (
                "settle",
                described(
                    r("duration"),
                    "wait before re-checking differing rows (default 1s)",
                ),
            ),
            ("continuous", continuous),
        ],
        &["source", "target", "key"],
        "",
    );
    let phase = object(
        &[
            ("name", r("name")),
            (
                "steps",
                json!({"type": "array", "items": r("step"), "minItems": 1}),
            ),
        ],
        &["name", "steps"],
        "",
    );
    let request = object(
        &[
            (
                "method",
                json!({"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "get", "post", "put", "patch", "delete"]}),
            ),
            ("url", r("text")),
            ("body", r("text")),
            ("headers", r("headers")),
            (
                "json_path",
                described(
                    r("literal"),
                    "where the value is in the JSON answer, e.g. $.data.candidate",
                ),
            ),
        ],
        &["url"],
        "an HTTP request template",
    );
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "migrate plan (version 1)",
        "description": "A zero-downtime migration plan for `migrate`.",
        "type": "object",
        "properties": {
            "version": { "const": 1 },
            "name": described(r("name"), "keys the migration's state"),
            "description": { "type": "string" },
            "settings": settings,
            "providers": { "type": "object", "propertyNames": r("name"), "additionalProperties": r("provider") },
            "gates": { "type": "object", "propertyNames": r("name"), "additionalProperties": gate },
            "reconciliations": { "type": "object", "propertyNames": r("name"), "additionalProperties": reconciliation },
            "phases": { "type": "array", "items": phase, "minItems": 1 },
        },
        "required": ["version", "name", "phases"],
        "additionalProperties": false,
        "$defs": {
            "name": { "type": "string", "pattern": "^[a-z0-9._-]+$", "maxLength": 128 },
            "literal": { "type": "string", "minLength": 1 },
            "text": { "type": ["string", "number", "boolean"], "description": "may use ${VAR} or ${VAR:-default}" },
            "duration": { "type": "string", "pattern": "^\\s*([0-9]+(\\.[0-9]+)?\\s*[a-zA-Zµ]+\\s*)+$", "examples": ["500ms", "30s", "1h30m", "48h"] },
            "percent": {
                "oneOf": [
                    { "type": "number", "minimum": 0, "maximum": 100 },
                    { "type": "string", "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*%\\s*$" },
                ],
            },
            "oneOrMany": {
                "oneOf": [
                    { "type": "string", "minLength": 1 },
                    { "type": "array", "items": { "type": "string", "minLength": 1 }, "minItems": 1 },
                ],
            },
            "argv": { "type": "array", "items": { "type": ["string", "number"] }, "minItems": 1 },
            "headers": { "type": "object", "additionalProperties": r("text") },
            "request": request,
            "sticky": {
                "type": "object",
                "properties": {
                    "header": { "type": "string", "pattern": "^[A-Za-z0-9_-]+$", "description": "the request header whose value is the customer's key" },
                    "cookie": { "type": "string", "pattern": "^[A-Za-z0-9_-]+$", "description": "the cookie whose value is the customer's key" },
                    "missing": { "enum": ["legacy", "split"], "description": "where a request without the key goes: legacy (default; the candidate at 100%) or split per request" },
                },
                "oneOf": [{ "required": ["header"] }, { "required": ["cookie"] }],
                "additionalProperties": false,
                "description": "decide each request's side by a stable hash of its key, so a customer stays on one side and the candidate's cohort only grows",
            },
            "provider": { "type": "object", "required": ["type"], "oneOf": catalog.iter().map(|s| provider_schema(s)).collect::<Vec<_>>() },
            "step": { "type": "object", "oneOf": step_schemas() },
        },
    })
}

/// Every key the schema names in each kind of map, by the validator's names
/// for them; for the test that keeps validator and schema in step.
pub fn key_sets(catalog: &Catalog) -> Vec<(&'static str, Vec<&'static str>)> {
    let mut sets = vec![
        ("plan", TOP_KEYS.to_vec()),
        ("settings", SETTINGS_KEYS.to_vec()),
        ("state", STATE_KEYS.to_vec()),
        ("gate", GATE_KEYS.to_vec()),
        ("compare", COMPARE_KEYS.to_vec()),
        ("arm", ARM_KEYS.to_vec()),
        ("reconciliation", RECONCILIATION_KEYS.to_vec()),
        ("continuous", CONTINUOUS_KEYS.to_vec()),
        ("phase", PHASE_KEYS.to_vec()),
        ("request", REQUEST_KEYS.to_vec()),
        ("sticky", STICKY_KEYS.to_vec()),
        ("flag step", FLAG_KEYS.to_vec()),
        ("webhook step", WEBHOOK_KEYS.to_vec()),
        ("canary step", CANARY_KEYS.to_vec()),
    ];
    for spec in catalog {
        let mut keys = COMMON_KEYS.to_vec();
        keys.extend(spec.key_names());
        sets.push((spec.name, keys));
    }
    sets
}
