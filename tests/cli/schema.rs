//! `migrate schema`: a valid JSON Schema (draft 2020-12) that every example
//! plan satisfies and that rejects what is plainly wrong. It names exactly
//! the keys the validator accepts.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::support::{migrate, read, valid_plans};

fn schema() -> Value {
    let out = migrate().arg("schema").output().expect("run migrate");
    assert_eq!(out.status.code(), Some(0));
    serde_json::from_slice(&out.stdout).expect("the schema is JSON")
}

/// A plan file as JSON, strings (and `${VAR}`) as written.
fn plan_json(text: &str) -> Value {
    let root = migrate::plan::yaml::parse(text)
        .expect("valid YAML")
        .expect("a document");
    migrate::plan::yaml::to_json(&root)
}

#[test]
fn the_schema_is_a_draft_2020_12_schema() {
    let s = schema();
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    if let Err(e) = jsonschema::meta::validate(&s) {
        panic!("the schema is not a valid JSON Schema: {e}");
    }
    // The command prints what the library builds.
    assert_eq!(
        s,
        migrate::plan::schema::plan_schema(migrate::providers::catalog())
    );
}

#[test]
fn every_example_plan_satisfies_the_schema() {
    let validator = jsonschema::validator_for(&schema()).expect("compile the schema");
    for plan in valid_plans() {
        let doc = plan_json(&read(&plan));
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", plan.display());
    }
}

/// A change that makes a plan document wrong.
type Mutation = Box<dyn Fn(&mut Value)>;

fn minimal() -> Value {
    plan_json(&read(std::path::Path::new("plans/minimal.yaml")))
}

/// Editors' YAML support (the YAML language server) reads draft-07; the
/// schema only uses keywords draft-07 knows, and works when read as one.
#[test]
fn the_schema_also_works_as_draft_07() {
    let mut s = schema();
    if let Some(o) = s.as_object_mut() {
        o.remove("$schema");
    }
    let validator = jsonschema::draft7::new(&s).expect("compile as draft-07");
    for plan in valid_plans() {
        let doc = plan_json(&read(&plan));
        assert!(validator.is_valid(&doc), "{}", plan.display());
    }
    check_rejects(&validator);
}

#[test]
fn the_schema_rejects_plain_mistakes() {
    let validator = jsonschema::validator_for(&schema()).expect("compile the schema");
    check_rejects(&validator);
}

fn check_rejects(validator: &jsonschema::Validator) {
    assert!(validator.is_valid(&minimal()));
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "unknown top-level key",
            Box::new(|p| p["provider"] = json!({})),
        ),
        ("version 2", Box::new(|p| p["version"] = json!(2))),
        (
            "no name",
            Box::new(|p| {
                p.as_object_mut().map(|o| o.remove("name"));
            }),
        ),
        (
            "invalid name",
            Box::new(|p| p["name"] = json!("Hello Canary")),
        ),
        (
            "provider without type",
            Box::new(|p| {
                p["providers"]["lb"]
                    .as_object_mut()
                    .map(|o| o.remove("type"));
            }),
        ),
        (
            "unknown provider type",
            Box::new(|p| p["providers"]["lb"]["type"] = json!("haproxi")),
        ),
        (
            "unknown provider key",
            Box::new(|p| p["providers"]["lb"]["weight"] = json!(5)),
        ),
        (
            "gate without threshold",
            Box::new(|p| {
                p["gates"]["errors"]
                    .as_object_mut()
                    .map(|o| o.remove("max"));
            }),
        ),
        (
            "percent above 100",
            Box::new(|p| {
                p["phases"][0]["steps"][0]["canary"]["percents"] = json!([10, 150]);
            }),
        ),
        (
            "two kinds in one step",
            Box::new(|p| {
                p["phases"][0]["steps"][0]["soak"] = json!("1h");
            }),
        ),
        (
            "step without a kind",
            Box::new(|p| {
                p["phases"][0]["steps"] = json!([{ "id": "nothing" }]);
            }),
        ),
        (
            "duration without unit",
            Box::new(|p| {
                p["phases"][0]["steps"][0]["canary"]["soak"] = json!(30);
            }),
        ),
        ("no phases", Box::new(|p| p["phases"] = json!([]))),
        (
            "both sweep sizes",
            Box::new(|p| {
                p["reconciliations"] = json!({"r": {
                    "source": {"provider": "a", "table": "t"},
                    "target": {"provider": "b", "table": "t"},
                    "key": "id",
                    "continuous": {"sweep_rows": 10, "sweep_within": "1h"},
                }});
            }),
        ),
        (
            "unknown continuous key",
            Box::new(|p| {
                p["reconciliations"] = json!({"r": {
                    "source": {"provider": "a", "table": "t"},
                    "target": {"provider": "b", "table": "t"},
                    "key": "id",
                    "continuous": {"watermark": "updated_at", "overlp": "1m"},
                }});
            }),
        ),
        (
            "max_age without a unit",
            Box::new(|p| p["gates"]["errors"]["max_age"] = json!(10)),
        ),
    ];
    for (what, mutate) in cases {
        let mut doc = minimal();
        mutate(&mut doc);
        assert!(!validator.is_valid(&doc), "the schema accepts: {what}");
    }
}

/// Keys of an object schema.
fn props(v: &Value) -> BTreeSet<String> {
    v["properties"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn step_schema<'a>(s: &'a Value, kind: &str) -> &'a Value {
    s["$defs"]["step"]["oneOf"]
        .as_array()
        .and_then(|a| a.iter().find(|v| v["required"] == json!([kind])))
        .unwrap_or_else(|| panic!("no step schema for {kind}"))
}

/// The schema and the validator know the same keys in every kind of map.
#[test]
fn the_schema_names_exactly_the_keys_the_validator_accepts() {
    let s = schema();
    for (name, keys) in migrate::plan::schema::key_sets(migrate::providers::catalog()) {
        let node = match name {
            "plan" => &s,
            "settings" => &s["properties"]["settings"],
            "state" => &s["properties"]["settings"]["properties"]["state"],
            "gate" => &s["properties"]["gates"]["additionalProperties"],
            "compare" => &s["properties"]["gates"]["additionalProperties"]["properties"]["compare"],
            "arm" => {
                &s["properties"]["gates"]["additionalProperties"]["properties"]["compare"]
                    ["properties"]["candidate"]
            }
            "reconciliation" => &s["properties"]["reconciliations"]["additionalProperties"],
            "continuous" => {
                &s["properties"]["reconciliations"]["additionalProperties"]["properties"]
                    ["continuous"]
            }
            "phase" => &s["properties"]["phases"]["items"],
            "request" | "sticky" => &s["$defs"][name],
            "flag step" | "webhook step" | "canary step" => {
                let kind = name.trim_end_matches(" step");
                &step_schema(&s, kind)["properties"][kind]
            }
            provider => s["$defs"]["provider"]["oneOf"]
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .find(|v| v["properties"]["type"]["const"] == provider)
                })
                .unwrap_or_else(|| panic!("no schema for provider type {provider}")),
        };
        let want: BTreeSet<String> = keys.iter().map(|k| (*k).to_string()).collect();
        assert_eq!(props(node), want, "keys of {name}");
    }
    for kind in migrate::plan::steps::STEP_KINDS {
        let mut want: BTreeSet<String> = migrate::plan::steps::COMMON_STEP_KEYS
            .iter()
            .chain(migrate::plan::steps::sibling_keys(kind))
            .map(|k| (*k).to_string())
            .collect();
        want.insert((*kind).to_string());
        assert_eq!(props(step_schema(&s, kind)), want, "keys of a {kind} step");
    }
}

/// A `compare` gate: the schema accepts it, and neither a threshold of its
/// own nor a missing arm.
#[test]
fn the_schema_knows_compare_gates() {
    let validator = jsonschema::validator_for(&schema()).expect("compile the schema");
    let mut doc = minimal();
    doc["gates"]["errors"] = json!({
        "compare": {
            "provider": "app",
            "candidate": { "events": "errors_v2", "total": "requests_v2" },
            "baseline": { "events": "errors_legacy", "total": "requests_legacy" },
            "max_ratio": 1.5,
            "direction": "increase",
            "alpha": 0.01,
        },
        "no_data": "pause",
    });
    assert!(validator.is_valid(&doc), "{doc:#}");
    let mut with_max = doc.clone();
    with_max["gates"]["errors"]["max"] = json!(0.01);
    assert!(!validator.is_valid(&with_max));
    let mut one_arm = doc.clone();
    if let Some(c) = one_arm["gates"]["errors"]["compare"].as_object_mut() {
        c.remove("baseline");
    }
    assert!(!validator.is_valid(&one_arm));
    let mut bad_alpha = doc;
    bad_alpha["gates"]["errors"]["compare"]["alpha"] = json!(0.5);
    assert!(!validator.is_valid(&bad_alpha));
    // The validator agrees with the schema on the valid document.
    let yaml = std::fs::read_to_string("plans/minimal.yaml").unwrap().replace(
        "    provider: app\n    query: rate(http_requests_total{code=~\"5..\"}) / rate(http_requests_total)\n    max: 0.01\n",
        "    compare:\n      provider: app\n      candidate: { events: errors_v2, total: requests_v2 }\n      baseline: { events: errors_legacy, total: requests_legacy }\n      max_ratio: 1.5\n",
    );
    assert!(yaml.contains("compare:"), "{yaml}");
    let v = migrate::plan::validate(
        &yaml,
        &std::collections::HashMap::new(),
        migrate::providers::catalog(),
    );
    assert!(v.is_ok(), "{:#?}", v.err());
}
