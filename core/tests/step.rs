//! The per-step path (`step::run_step`): the `execute_step` span continues the orchestrator's
//! trace from the message headers, carries the step's correlation and lifecycle events, runs the
//! handler inside it (foreign spans with `Parent::Current` nest under it), and records failure.

use opentelemetry::trace::Status;
use tasker_telemetry::dynamic::{DynSpan, Parent, SpanStart};
use tasker_telemetry::fields::{FieldValue, Fields};
use tasker_telemetry::step::{run_step, StepMessage, STEP_SPAN_NAME};
use tasker_telemetry::testing::{attr, capture};
use tasker_telemetry::{propagation, Correlation, TelemetryConfig};
use tracing::Level;

const CORRELATION: &str = "01932c4e-8f5a-7b3c-9d2e-1f4a5b6c7d8e";

fn message(
    headers: &std::collections::HashMap<String, String>,
    extra: &[(&str, &str)],
) -> StepMessage {
    let mut fields: Fields = [
        ("step_name", FieldValue::from("charge_payment")),
        ("handler", FieldValue::from("PaymentHandler")),
        ("attempt", FieldValue::Int(2)),
        ("correlation_id", FieldValue::from(CORRELATION)),
        ("namespace", FieldValue::from("payments")),
    ]
    .into_iter()
    .collect();
    let headers = headers
        .iter()
        .map(|(k, v)| (k.clone(), FieldValue::from(v.as_str())))
        .collect();
    fields.insert("headers", FieldValue::Map(headers));
    for (k, v) in extra {
        fields.insert(*k, FieldValue::from(*v));
    }
    StepMessage::from_fields(&fields).expect("valid message")
}

#[test]
fn step_span_continues_the_remote_trace_and_hosts_the_handler() {
    let cap = capture(&TelemetryConfig::default());
    let (headers, orchestrator_ids) = cap.run(|| {
        let step = tracing::info_span!("step charge_payment");
        let _e = step.enter();
        let ids = propagation::ids(&opentelemetry::Context::current()).expect("ids");
        (propagation::inject(), ids)
    });
    let result: Result<i64, String> = cap.run(|| {
        run_step(&message(&headers, &[]), || {
            // A Ruby/Python handler called in-process: no headers, parent = current span.
            let handler = DynSpan::start(SpanStart {
                name: "handler_execution",
                level: Level::INFO,
                target: "ruby.PaymentHandler",
                fields: &Fields::new(),
                parent: Parent::Current,
                correlation: None,
            });
            handler.end();
            Ok(42)
        })
    });
    assert_eq!(result, Ok(42));
    let step = cap.span(STEP_SPAN_NAME).expect("execute_step exported");
    let handler = cap.span("handler_execution").expect("handler exported");
    assert_eq!(step.span_context.trace_id().to_string(), orchestrator_ids.0);
    assert_eq!(step.parent_span_id.to_string(), orchestrator_ids.1);
    assert_eq!(handler.parent_span_id, step.span_context.span_id());
    assert_eq!(attr(&step, "correlation_id").as_deref(), Some(CORRELATION));
    assert_eq!(
        attr(&handler, "correlation_id").as_deref(),
        Some(CORRELATION)
    );
    assert_eq!(attr(&step, "attempt").as_deref(), Some("2"));
    assert_eq!(
        attr(&step, "handler.name").as_deref(),
        Some("PaymentHandler")
    );
    let events: Vec<&str> = step.events.iter().map(|e| e.name.as_ref()).collect();
    assert_eq!(events, ["step.claimed", "step.executing", "step.completed"]);
    assert_eq!(step.status, Status::Unset);
}

#[test]
fn a_failing_handler_marks_the_step_failed_and_returns_its_error() {
    let cap = capture(&TelemetryConfig::default());
    let result: Result<(), String> = cap.run(|| {
        run_step(&message(&Default::default(), &[]), || {
            Err("card declined".to_owned())
        })
    });
    assert_eq!(result, Err("card declined".to_owned()));
    let step = cap.span(STEP_SPAN_NAME).expect("execute_step exported");
    assert!(
        matches!(&step.status, Status::Error { description } if description.contains("card declined"))
    );
    let failed = step
        .events
        .iter()
        .find(|e| e.name == "step.failed")
        .expect("step.failed event");
    assert!(failed
        .attributes
        .iter()
        .any(|kv| kv.key.as_str() == "error" && kv.value.as_str() == "card declined"));
    assert!(failed
        .attributes
        .iter()
        .any(|kv| kv.key.as_str() == "duration_ms"));
}

#[test]
fn without_headers_the_step_nests_under_the_current_span_and_correlation_is_current_inside() {
    let cap = capture(&TelemetryConfig::default());
    let inside = cap.run(|| {
        let outer = tracing::info_span!("orchestrator_step");
        let _e = outer.enter();
        run_step(&message(&Default::default(), &[]), || {
            Ok::<_, String>(Correlation::current().map(|c| c.correlation_id.to_string()))
        })
    });
    assert_eq!(inside, Ok(Some(CORRELATION.to_owned())));
    let outer = cap.span("orchestrator_step").expect("outer");
    let step = cap.span(STEP_SPAN_NAME).expect("step");
    assert_eq!(step.parent_span_id, outer.span_context.span_id());
}

#[test]
fn invalid_messages_name_the_field() {
    let no_name = StepMessage::from_fields(&Fields::new())
        .unwrap_err()
        .to_string();
    assert!(no_name.contains("step_name"), "{no_name}");
    let fields: Fields = [
        ("step_name", FieldValue::from("x")),
        ("attempt", FieldValue::Int(0)),
    ]
    .into_iter()
    .collect();
    let bad_attempt = StepMessage::from_fields(&fields).unwrap_err().to_string();
    assert!(bad_attempt.contains("attempt"), "{bad_attempt}");
    let fields: Fields = [("step_name", "x"), ("task_uuid", "not-a-uuid")]
        .into_iter()
        .collect();
    let bad_uuid = StepMessage::from_fields(&fields).unwrap_err().to_string();
    assert!(bad_uuid.contains("task_uuid"), "{bad_uuid}");
}
