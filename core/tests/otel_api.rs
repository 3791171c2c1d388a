//! A Rust service that uses the `opentelemetry` API directly (`global::tracer`) next to
//! `tracing` gets the core's provider and one context both ways, checked against a real
//! collector (issue 13).

mod common;

use std::time::Duration;

use opentelemetry::global;
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer};
use opentelemetry::KeyValue;
use tasker_telemetry::{Correlation, TelemetryConfig};
use tracing_opentelemetry::OpenTelemetrySpanExt;

#[test]
fn global_tracer_spans_share_the_pipeline_and_nest_with_tracing_spans() {
    let collector = common::Collector::start();
    let mut config = TelemetryConfig {
        service_name: Some("otel-api-test".into()),
        ..TelemetryConfig::default()
    };
    config.otlp.endpoint = Some(collector.http_endpoint());
    config.otlp.scheduled_delay = Duration::from_millis(200);
    config.logging.level = "warn".into();
    let guard = tasker_telemetry::init(config).unwrap();

    let correlation = Correlation::new();
    let correlation_id = correlation.correlation_id.to_string();
    let tracer = global::tracer("my-rust-lib");
    {
        let _scope = correlation.enter();
        let outer = tracing::info_span!("tracing_outer");
        let _entered = outer.enter();
        // An API span started inside a `tracing` span is its child.
        tracer.in_span("api_middle", |cx| {
            cx.span().set_attribute(KeyValue::new("lib.route", "/x"));
            cx.span()
                .set_attribute(KeyValue::new("password", "hunter2"));
            // A `tracing` span started inside the API span is its child.
            let inner = tracing::info_span!("tracing_inner");
            assert_eq!(
                inner.context().span().span_context().trace_id(),
                cx.span().span_context().trace_id()
            );
            let _inner = inner.enter();
            let client = tracer
                .span_builder("api_client")
                .with_kind(SpanKind::Client)
                .start(&tracer);
            drop(client);
        });
    }
    tasker_telemetry::flush(Duration::from_secs(10)).unwrap();
    guard.shutdown(Duration::from_secs(10)).unwrap();

    let received = collector.wait_for(Duration::from_secs(20), |r| {
        ["tracing_outer", "api_middle", "tracing_inner", "api_client"]
            .iter()
            .all(|n| r.span(n).is_some())
    });
    let outer = received.span("tracing_outer").unwrap();
    let middle = received.span("api_middle").unwrap();
    let inner = received.span("tracing_inner").unwrap();
    let client = received.span("api_client").unwrap();
    assert_eq!(middle.parent_id, outer.span_id);
    assert_eq!(inner.parent_id, middle.span_id);
    assert_eq!(client.parent_id, inner.span_id);
    for span in [outer, middle, inner, client] {
        assert_eq!(span.trace_id, outer.trace_id);
        assert_eq!(span.service, "otel-api-test");
        assert_eq!(
            span.attributes.get("correlation_id").map(String::as_str),
            Some(correlation_id.as_str()),
            "{} carries the correlation id",
            span.name
        );
    }
    assert_eq!(
        middle.attributes.get("lib.route").map(String::as_str),
        Some("/x")
    );
    assert!(
        !collector.output().contains("hunter2"),
        "redaction applies to API spans too"
    );
}
