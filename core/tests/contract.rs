//! The cross-language contract (`tests/contract/cases.json`), Rust side: the core's own answer
//! for every case. The Ruby (`ruby/test/contract_test.rb`) and Python
//! (`python/tests/test_contract.py`) suites run the same table through their bindings.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use tasker_telemetry::dynamic::{event, EventArgs, Parent};
use tasker_telemetry::fields::{FieldValue, Fields, Scalar};
use tasker_telemetry::handler::start_handler_span;
use tasker_telemetry::level::{index_of, normalize_filter};
use tasker_telemetry::lifecycle::LifecycleEvent;
use tasker_telemetry::testing::{attr, capture};
use tasker_telemetry::{Redactor, TelemetryConfig};

fn cases() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/contract/cases.json");
    let text = std::fs::read_to_string(path).expect("tests/contract/cases.json");
    serde_json::from_str(&text).expect("valid JSON")
}

fn field_value(v: &Value) -> FieldValue {
    match v {
        Value::Null => FieldValue::Null,
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Number(n) => n
            .as_i64()
            .map(FieldValue::Int)
            .unwrap_or_else(|| FieldValue::Float(n.as_f64().unwrap_or(f64::NAN))),
        Value::String(s) => FieldValue::Str(s.clone()),
        Value::Array(items) => FieldValue::List(items.iter().map(field_value).collect()),
        Value::Object(map) => FieldValue::Map(
            map.iter()
                .map(|(k, v)| (k.clone(), field_value(v)))
                .collect(),
        ),
    }
}

fn scalar_json(s: &Scalar) -> Value {
    match s {
        Scalar::Str(s) => Value::from(s.clone()),
        Scalar::Int(i) => Value::from(*i),
        Scalar::Float(f) => Value::from(*f),
        Scalar::Bool(b) => Value::from(*b),
    }
}

#[test]
fn level_names() {
    let c = cases();
    for (name, index) in c["level_names"]["accepted"].as_object().expect("object") {
        assert_eq!(index_of(name).map(u64::from), index.as_u64(), "{name}");
    }
    for name in c["level_names"]["rejected"].as_array().expect("array") {
        let name = name.as_str().expect("string");
        assert_eq!(index_of(name), None, "{name:?} must be refused");
    }
}

#[test]
fn filters() {
    let c = cases();
    for (filter, normal) in c["filters"]["accepted"].as_object().expect("object") {
        assert_eq!(
            normalize_filter(filter).as_deref(),
            Ok(normal.as_str().unwrap_or(""))
        );
    }
    for filter in c["filters"]["rejected"].as_array().expect("array") {
        let filter = filter.as_str().expect("string");
        let err = normalize_filter(filter).expect_err(filter);
        assert!(!err.is_empty());
    }
}

#[test]
fn fields() {
    for case in cases()["fields"].as_array().expect("array") {
        let mut fields = Fields::new();
        fields.insert("v", field_value(&case["value"]));
        let expected: &Map<String, Value> = case["fields"].as_object().expect("object");
        let want: BTreeMap<_, _> = expected.clone().into_iter().collect();
        // What the console JSON line shows (as the Ruby and Python runners read it): secret
        // keys redacted, secrets inside string values scrubbed.
        let mut config = TelemetryConfig::default();
        config.logging.format = tasker_telemetry::config::LogFormat::Json;
        let cap = capture(&config);
        cap.run(|| {
            event(EventArgs {
                level: tracing::Level::INFO,
                target: "contract",
                message: "case",
                fields: &fields,
                parent: Parent::Current,
                correlation: None,
            })
        });
        let lines = cap.json_lines();
        let got: BTreeMap<_, _> = lines[0]["fields"]
            .as_object()
            .expect("fields object")
            .clone()
            .into_iter()
            .collect();
        assert_eq!(got, want, "case {} (console line)", case["name"]);
        // The fallback callsite's JSON: redacted by key (its strings are scrubbed on output).
        let redactor = Redactor::default();
        let scrub = |v: Value| match v {
            Value::String(s) => Value::from(redactor.scrub_text(&s).into_owned()),
            other => other,
        };
        let line = fields.to_json();
        let got: BTreeMap<_, _> = line
            .as_object()
            .expect("object")
            .clone()
            .into_iter()
            .map(|(k, v)| (k, scrub(v)))
            .collect();
        assert_eq!(got, want, "case {}", case["name"]);
        // and the flat values themselves, for every key that is not a secret
        for (k, v) in fields.iter() {
            if want[k] != "[REDACTED]" {
                assert_eq!(
                    scrub(scalar_json(v)),
                    want[k],
                    "case {} key {k}",
                    case["name"]
                );
            }
        }
    }
}

#[test]
fn handler_span_attributes() {
    let c = cases();
    let case = &c["handler_span"];
    let mut context = Fields::new();
    for (k, v) in case["context"].as_object().expect("object") {
        context.insert(k.clone(), field_value(v));
    }
    let cap = capture(&TelemetryConfig::default());
    cap.run(|| {
        let started = start_handler_span(
            case["handler"].as_str().expect("string"),
            &context,
            Parent::Root,
            None,
        )
        .expect("valid context");
        started.span.end();
    });
    let span = cap.span("handler_execution").expect("handler span");
    for (k, v) in case["attributes"].as_object().expect("object") {
        let want = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(attr(&span, k).as_deref(), Some(want.as_str()), "{k}");
    }
    for k in case["absent"].as_array().expect("array") {
        assert_eq!(attr(&span, k.as_str().expect("string")), None);
    }
}

#[test]
fn lifecycle_routes() {
    for case in cases()["lifecycle"].as_array().expect("array") {
        let event = LifecycleEvent::parse(case["event"].as_str().expect("string")).expect("known");
        let route = event.route();
        assert_eq!(
            route.log.map(|l| l.to_string().to_uppercase()),
            case["log_level"].as_str().map(str::to_owned),
            "{}",
            case["event"]
        );
        assert_eq!(route.counter, case["counter"].as_str(), "{}", case["event"]);
    }
}

#[test]
fn startup_problems_name_the_variable_and_value() {
    // The start-up policy's decision and message; the bindings' suites check what a user sees.
    let tmp = std::env::temp_dir().join(format!("contract-{}", std::process::id()));
    for case in cases()["startup"].as_array().expect("array") {
        let env: BTreeMap<String, String> = case["env"]
            .as_object()
            .expect("object")
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().expect("string");
                (k.clone(), v.replace("{tmp}", &tmp.to_string_lossy()))
            })
            .collect();
        let problems: Vec<&str> = case["problem"]
            .as_array()
            .expect("array")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if problems.is_empty() {
            assert!(
                TelemetryConfig::load_from(None, &env).is_ok(),
                "{}",
                case["name"]
            );
            continue;
        }
        // The configuration's verdict (core/tests/startup.rs runs the start-up itself, in a
        // process of its own).
        let err =
            TelemetryConfig::load_from(None, &env).expect_err(case["name"].as_str().unwrap_or(""));
        let text = err.to_string();
        for p in problems
            .iter()
            .filter(|p| !p.contains("export was not started"))
        {
            assert!(text.contains(p), "{}: {text:?} lacks {p:?}", case["name"]);
        }
    }
}
