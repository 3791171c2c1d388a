//! The dynamic-callsite interner's byte bound, and the fallback callsite keeping fields as real
//! attributes. Its own process: the interner and its bounds are global.

use opentelemetry::Value;
use tasker_telemetry::config::LogFormat;
use tasker_telemetry::dynamic::{self, DynSpan, EventArgs, Parent, SpanStart};
use tasker_telemetry::fields::{FieldValue, Fields};
use tasker_telemetry::testing::{capture, install_limits};
use tasker_telemetry::TelemetryConfig;
use tracing::Level;

const BUDGET: usize = 16 * 1024;

fn shape(i: usize) -> Fields {
    // A dict keyed by ids: every call a new shape.
    let mut fields = Fields::new();
    for j in 0..10 {
        fields.insert(
            format!("order_{i}_line_{j}_with_a_longish_key"),
            FieldValue::Int(j),
        );
    }
    fields.insert("password", FieldValue::from("hunter2"));
    fields.insert("ratio", FieldValue::Float(0.5));
    fields
}

#[test]
fn shapes_stay_within_the_byte_budget_and_the_fallback_exports_each_field() {
    let mut config = TelemetryConfig::default();
    config.logging.format = LogFormat::Json;
    config.spans.max_dynamic_callsite_bytes = BUDGET;
    install_limits(&config);
    let cap = capture(&config);
    let n = 2000;
    cap.run(|| {
        for i in 0..n {
            let fields = shape(i);
            let span = DynSpan::start(SpanStart {
                name: &format!("by_id_{}", i % 3),
                level: Level::INFO,
                target: "ruby",
                fields: &fields,
                parent: Parent::Root,
                correlation: None,
            });
            dynamic::event(EventArgs {
                level: Level::INFO,
                target: "ruby",
                message: "line",
                fields: &fields,
                parent: Parent::Span(&span),
                correlation: None,
            });
            span.end();
        }
    });
    assert!(
        dynamic::interned_bytes() <= BUDGET,
        "{} bytes interned",
        dynamic::interned_bytes()
    );
    assert!(
        dynamic::interned_callsites() < 100,
        "{}",
        dynamic::interned_callsites()
    );
    assert!(dynamic::fallback_uses() >= 2 * (n as u64 - 100));

    // The last span went through the fallback: its name and every field are still there, one
    // attribute each, typed, the secret redacted; so is its event.
    let spans = cap.spans();
    assert_eq!(spans.len(), n);
    let last = spans.last().unwrap();
    assert_eq!(last.name, format!("by_id_{}", (n - 1) % 3));
    let attr = |attrs: &[opentelemetry::KeyValue], key: &str| {
        attrs
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.clone())
    };
    let key = format!("order_{}_line_3_with_a_longish_key", n - 1);
    assert_eq!(attr(&last.attributes, &key), Some(Value::I64(3)));
    assert_eq!(attr(&last.attributes, "ratio"), Some(Value::F64(0.5)));
    assert_eq!(
        attr(&last.attributes, "password"),
        Some(Value::from("[REDACTED]"))
    );
    assert_eq!(attr(&last.attributes, dynamic::FALLBACK_FIELDS), None);
    let event = last.events.iter().next().expect("the span's event");
    assert_eq!(attr(&event.attributes, &key), Some(Value::I64(3)));
    assert_eq!(
        attr(&event.attributes, "password"),
        Some(Value::from("[REDACTED]"))
    );

    // The console still shows the fields (as one JSON field), redacted.
    let lines = cap.json_lines();
    let last_line = lines.iter().rev().find(|l| l["message"] == "line").unwrap();
    let text = last_line.to_string();
    assert!(text.contains(&key) && !text.contains("hunter2"), "{text}");
}
