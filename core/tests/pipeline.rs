//! The subscriber stack with an in-memory exporter: correlation on spans and log lines,
//! redaction, foreign (dynamic) spans nesting under Rust spans, propagation, lifecycle events.

use std::sync::Arc;

use opentelemetry::trace::SpanId;
use tasker_telemetry::config::LogFormat;
use tasker_telemetry::dynamic::{self, DynSpan, EventArgs, Parent, SpanStart};
use tasker_telemetry::fields::{FieldValue, Fields};
use tasker_telemetry::lifecycle::LifecycleEvent;
use tasker_telemetry::testing::{attr, capture, Capture};
use tasker_telemetry::{propagation, Correlation, TelemetryConfig, WithCorrelation};
use tracing::Level;

fn json_capture() -> Capture {
    let mut config = TelemetryConfig::default();
    config.logging.format = LogFormat::Json;
    config.logging.level = "debug".into();
    capture(&config)
}

fn start<'a>(name: &'a str, fields: &'a Fields, parent: Parent<'a>) -> DynSpan {
    DynSpan::start(SpanStart {
        name,
        level: Level::INFO,
        target: "ruby.handler",
        fields,
        parent,
        correlation: None,
    })
}

#[test]
fn correlation_reaches_spans_and_json_log_lines() {
    let cap = json_capture();
    let correlation = Correlation::new()
        .with_namespace("payments")
        .with_task(uuid_v7());
    let id = correlation.correlation_id.to_string();
    cap.run(|| {
        let _scope = correlation.clone().enter();
        let span = tracing::info_span!("step", step = "charge");
        let _e = span.enter();
        tracing::info!(amount = 12, "charged");
        let inner = tracing::info_span!("inner");
        inner.in_scope(|| tracing::warn!("deeper"));
    });
    let step = cap.span("step").unwrap();
    assert_eq!(attr(&step, "correlation_id").as_deref(), Some(id.as_str()));
    assert_eq!(attr(&step, "namespace").as_deref(), Some("payments"));
    assert_eq!(
        attr(&step, "task_uuid"),
        correlation.task_uuid.map(|t| t.to_string())
    );
    let inner = cap.span("inner").unwrap();
    assert_eq!(attr(&inner, "correlation_id").as_deref(), Some(id.as_str()));
    assert_eq!(inner.parent_span_id, step.span_context.span_id());

    let lines = cap.json_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in &lines {
        assert_eq!(line["correlation_id"], id.as_str());
        assert_eq!(line["namespace"], "payments");
        assert_eq!(line["trace_id"], step.span_context.trace_id().to_string());
        for key in [
            "timestamp",
            "level",
            "target",
            "message",
            "span_id",
            "spans",
        ] {
            assert!(line.get(key).is_some(), "{key} missing in {line}");
        }
    }
    assert_eq!(lines[0]["message"], "charged");
    assert_eq!(lines[0]["fields"]["amount"], 12);
    assert_eq!(lines[0]["span_id"], step.span_context.span_id().to_string());
    assert_eq!(lines[1]["spans"], serde_json::json!(["step", "inner"]));
    assert_eq!(lines[1]["level"], "WARN");
    assert!(lines[0]["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn correlation_travels_with_futures_and_spans_across_threads() {
    let cap = json_capture();
    let correlation = Correlation::new();
    let id = correlation.correlation_id.to_string();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&cap.dispatch, || {
        let d = cap.dispatch.clone();
        rt.block_on(async move {
            let task = tokio::spawn(
                async move {
                    tracing::dispatcher::with_default(&d, || {
                        let s = tracing::info_span!("spawned");
                        s.in_scope(|| tracing::info!("in task"));
                    });
                }
                .with_correlation(correlation),
            );
            task.await.unwrap();
        });
    });
    let spawned = cap.span("spawned").unwrap();
    assert_eq!(
        attr(&spawned, "correlation_id").as_deref(),
        Some(id.as_str())
    );
    assert_eq!(cap.json_lines()[0]["correlation_id"], id.as_str());
}

#[test]
fn secrets_are_redacted_in_console_and_export_including_nested_keys() {
    let cap = json_capture();
    cap.run(|| {
        let fields: Fields = [
            (
                "user",
                FieldValue::Map(vec![
                    ("password".into(), "hunter2".into()),
                    ("name".into(), "ann".into()),
                ]),
            ),
            ("Authorization", FieldValue::Str("Bearer abc".into())),
        ]
        .into_iter()
        .collect();
        let span = start("handler_execution", &fields, Parent::Current);
        span.set(
            "api_key",
            &tasker_telemetry::fields::Scalar::Str("k-123".into()),
        );
        span.add_event("charged", &[("card.token", "tok_1")].into_iter().collect());
        dynamic::event(EventArgs {
            level: Level::INFO,
            target: "ruby.handler",
            message: "with secrets",
            fields: &fields,
            parent: Parent::Span(&span),
            correlation: None,
        });
        let rust = tracing::info_span!("rust", secret_token = "t0k");
        rust.in_scope(|| tracing::info!(password = "pw", "rust event"));
        span.end();
    });
    let handler = cap.span("handler_execution").unwrap();
    assert_eq!(
        attr(&handler, "user.password").as_deref(),
        Some("[REDACTED]")
    );
    assert_eq!(attr(&handler, "user.name").as_deref(), Some("ann"));
    assert_eq!(
        attr(&handler, "Authorization").as_deref(),
        Some("[REDACTED]")
    );
    assert_eq!(attr(&handler, "api_key").as_deref(), Some("[REDACTED]"));
    let events: Vec<_> = handler.events.iter().collect();
    let charged = events.iter().find(|e| e.name == "charged").unwrap();
    assert_eq!(charged.attributes[0].value.to_string(), "[REDACTED]");
    let logged = events.iter().find(|e| e.name == "with secrets").unwrap();
    assert!(logged
        .attributes
        .iter()
        .any(|kv| kv.key.as_str() == "user.password" && kv.value.to_string() == "[REDACTED]"));
    let rust = cap.span("rust").unwrap();
    assert_eq!(attr(&rust, "secret_token").as_deref(), Some("[REDACTED]"));

    let all = cap.lines().join("\n");
    for secret in ["hunter2", "Bearer abc", "tok_1", "k-123", "\"pw\"", "t0k"] {
        assert!(!all.contains(secret), "{secret} leaked: {all}");
    }
    assert!(all.contains("\"user.name\":\"ann\""), "{all}");
}

#[test]
fn foreign_spans_nest_under_the_current_rust_span_and_each_other() {
    let cap = json_capture();
    cap.run(|| {
        let step = tracing::info_span!("orchestrator_step");
        let _e = step.enter();
        let none = Fields::new();
        let handler = start("handler_execution", &none, Parent::Current);
        let nested = start("charge_card", &none, Parent::Span(&handler));
        // Rust code called from inside the foreign span nests under it when it is entered.
        nested.enter_raw();
        tracing::info_span!("rust_inside_ruby").in_scope(|| {});
        nested.exit_raw();
        assert_eq!(nested.trace_id(), handler.trace_id());
        nested.end();
        handler.end();
    });
    let step = cap.span("orchestrator_step").unwrap();
    let handler = cap.span("handler_execution").unwrap();
    let nested = cap.span("charge_card").unwrap();
    let inside = cap.span("rust_inside_ruby").unwrap();
    let trace = step.span_context.trace_id();
    for s in [&handler, &nested, &inside] {
        assert_eq!(s.span_context.trace_id(), trace);
    }
    assert_eq!(handler.parent_span_id, step.span_context.span_id());
    assert_eq!(nested.parent_span_id, handler.span_context.span_id());
    assert_eq!(inside.parent_span_id, nested.span_context.span_id());
    assert_eq!(attr(&handler, "target"), None.or(attr(&handler, "target")));
}

#[test]
fn foreign_fields_are_real_typed_attributes() {
    let cap = json_capture();
    cap.run(|| {
        let fields: Fields = [
            ("count", FieldValue::Int(3)),
            ("ratio", FieldValue::Float(0.5)),
            ("ok", FieldValue::Bool(true)),
            (
                "tags",
                FieldValue::List(vec!["a".into(), FieldValue::Int(1)]),
            ),
            ("none", FieldValue::Null),
            ("big", FieldValue::Str("x".repeat(20_000))),
        ]
        .into_iter()
        .collect();
        start("typed", &fields, Parent::Root).end();
    });
    let s = cap.span("typed").unwrap();
    let get = |k: &str| {
        s.attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| kv.value.clone())
            .unwrap()
    };
    assert_eq!(get("count"), opentelemetry::Value::I64(3));
    assert_eq!(get("ratio"), opentelemetry::Value::F64(0.5));
    assert_eq!(get("ok"), opentelemetry::Value::Bool(true));
    assert_eq!(get("tags").to_string(), r#"["a",1]"#);
    assert_eq!(get("none").to_string(), "null");
    let big = get("big").to_string();
    assert!(
        big.len() < 9000 && big.ends_with("…[truncated 11808 bytes]"),
        "{}",
        &big[big.len() - 40..]
    );
    assert_eq!(
        s.parent_span_id,
        SpanId::INVALID,
        "Parent::Root starts a new trace"
    );
}

#[test]
fn exceptions_set_error_status_and_exception_attributes() {
    let cap = json_capture();
    cap.run(|| {
        let span = start("failing", &Fields::new(), Parent::Current);
        span.record_exception(
            "ArgumentError",
            "bad amount",
            Some("handler.rb:3:in `perform'"),
        );
        span.end();
    });
    let s = cap.span("failing").unwrap();
    assert!(
        matches!(s.status, opentelemetry::trace::Status::Error { .. }),
        "{:?}",
        s.status
    );
    assert_eq!(attr(&s, "exception.type").as_deref(), Some("ArgumentError"));
    let ev = s.events.iter().find(|e| e.name == "exception").unwrap();
    assert!(ev
        .attributes
        .iter()
        .any(|kv| kv.key.as_str() == "exception.stacktrace"));
}

#[test]
fn inject_and_extract_continue_the_trace_with_its_correlation() {
    let cap = json_capture();
    let correlation = Correlation::new().with_namespace("ns");
    let id = correlation.correlation_id;
    let headers = cap.run(|| {
        let _c = correlation.enter();
        let span = tracing::info_span!("sender");
        let _e = span.enter();
        propagation::inject()
    });
    assert!(headers["traceparent"].starts_with("00-"));
    assert!(headers["baggage"].contains(&id.to_string()));

    // "Another process": no correlation scope, only the headers.
    let remote = propagation::extract(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    assert_eq!(remote.correlation().unwrap().correlation_id, id);
    cap.run(|| {
        let none = Fields::new();
        start("receiver_dynamic", &none, Parent::Remote(&remote)).end();
        let _g = remote.attach();
        tracing::info_span!("receiver_rust").in_scope(|| tracing::info!("received"));
    });
    let sender = cap.span("sender").unwrap();
    for name in ["receiver_dynamic", "receiver_rust"] {
        let r = cap.span(name).unwrap();
        assert_eq!(
            r.span_context.trace_id(),
            sender.span_context.trace_id(),
            "{name}"
        );
        assert_eq!(r.parent_span_id, sender.span_context.span_id(), "{name}");
        assert_eq!(attr(&r, "correlation_id"), Some(id.to_string()), "{name}");
    }
    let received = cap
        .json_lines()
        .into_iter()
        .find(|l| l["message"] == "received")
        .unwrap();
    assert_eq!(received["correlation_id"], id.to_string());
}

#[test]
fn binding_correlation_overrides_the_inherited_one() {
    let cap = json_capture();
    let outer = Correlation::new();
    let mine = Arc::new(Correlation::new().with_namespace("fiber"));
    cap.run(|| {
        let _c = outer.enter();
        let none = Fields::new();
        let span = DynSpan::start(SpanStart {
            name: "fiber_span",
            level: Level::INFO,
            target: "ruby",
            fields: &none,
            parent: Parent::Current,
            correlation: Some(&mine),
        });
        dynamic::event(EventArgs {
            level: Level::INFO,
            target: "ruby",
            message: "fiber event",
            fields: &none,
            parent: Parent::Span(&span),
            correlation: Some(&mine),
        });
        span.end();
    });
    let s = cap.span("fiber_span").unwrap();
    assert_eq!(
        attr(&s, "correlation_id"),
        Some(mine.correlation_id.to_string())
    );
    assert_eq!(
        cap.json_lines()[0]["correlation_id"],
        mine.correlation_id.to_string()
    );
    assert_eq!(cap.json_lines()[0]["namespace"], "fiber");
}

#[test]
fn console_filter_does_not_decide_what_is_exported() {
    let mut config = TelemetryConfig::default();
    config.logging.format = LogFormat::Json;
    config.logging.level = "error".into();
    let cap = capture(&config);
    cap.run(|| {
        tracing::info_span!("exported_anyway").in_scope(|| tracing::info!("quiet console"));
        tracing::debug_span!("below_export_level").in_scope(|| {});
    });
    assert!(cap.lines().is_empty(), "{:?}", cap.lines());
    assert!(cap.span("exported_anyway").is_some());
    assert!(
        cap.span("below_export_level").is_none(),
        "export level defaults to info"
    );
}

#[test]
fn lifecycle_events_become_span_events_once_and_log_lines() {
    let cap = json_capture();
    cap.run(|| {
        let span = tracing::info_span!("step");
        let _e = span.enter();
        LifecycleEvent::StepCompleted.emit(
            Some(std::time::Duration::from_millis(7)),
            &[opentelemetry::KeyValue::new("namespace", "payments")],
            &Fields::new(),
        );
        LifecycleEvent::StepRetryScheduled.emit(
            None,
            &[],
            &[("attempt", 2i64)].into_iter().collect(),
        );
    });
    let s = cap.span("step").unwrap();
    let names: Vec<_> = s.events.iter().map(|e| e.name.to_string()).collect();
    assert_eq!(names, vec!["step.completed", "step.retry_scheduled"]);
    let completed = &s.events.events[0];
    assert!(completed
        .attributes
        .iter()
        .any(|kv| kv.key.as_str() == "duration_ms" && kv.value == opentelemetry::Value::F64(7.0)));
    let lines: Vec<_> = cap
        .json_lines()
        .into_iter()
        .filter(|l| l["target"] == "tasker.lifecycle")
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["message"], "step.completed");
    assert_eq!(lines[1]["level"], "WARN");
    assert_eq!(lines[1]["fields"]["attempt"], 2);
}

fn uuid_v7() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

#[test]
fn handler_span_takes_the_correlation_from_the_step_context() {
    use tasker_telemetry::handler::start_handler_span;
    let cap = json_capture();
    let task = uuid_v7().to_string();
    let step = uuid_v7().to_string();
    let id = uuid_v7().to_string();
    let context: Fields = [
        ("correlation_id", id.as_str()),
        ("task_uuid", task.as_str()),
        ("step_uuid", step.as_str()),
        ("namespace", "payments"),
        ("step_name", "charge"),
        ("payload", "not copied"),
    ]
    .into_iter()
    .collect();
    cap.run(|| {
        let rust = tracing::info_span!("orchestrator_step");
        let _e = rust.enter();
        let h = start_handler_span("PaymentHandler", &context, Parent::Current, None).unwrap();
        h.span.end();
        let bad: Fields = [("task_uuid", "task-1")].into_iter().collect();
        let err = start_handler_span("PaymentHandler", &bad, Parent::Current, None).unwrap_err();
        assert!(
            err.to_string().contains("task_uuid") && err.to_string().contains("task-1"),
            "{err}"
        );
    });
    let s = cap.span("handler_execution").unwrap();
    assert_eq!(attr(&s, "correlation_id"), Some(id));
    assert_eq!(attr(&s, "task_uuid"), Some(task));
    assert_eq!(attr(&s, "step_uuid"), Some(step));
    assert_eq!(attr(&s, "namespace").as_deref(), Some("payments"));
    assert_eq!(attr(&s, "handler.name").as_deref(), Some("PaymentHandler"));
    assert_eq!(attr(&s, "step_name").as_deref(), Some("charge"));
    assert_eq!(attr(&s, "payload"), None);
    assert_eq!(
        s.parent_span_id,
        cap.span("orchestrator_step")
            .unwrap()
            .span_context
            .span_id()
    );
}

#[test]
fn huge_names_messages_and_keys_are_cut_not_kept() {
    let cap = json_capture();
    let huge = "n".repeat(10 * 1024 * 1024);
    cap.run(|| {
        let fields: Fields = [(huge.clone(), FieldValue::Str(huge.clone()))]
            .into_iter()
            .collect();
        let span = start(&huge, &fields, Parent::Current);
        dynamic::event(EventArgs {
            level: Level::INFO,
            target: &huge,
            message: &huge,
            fields: &fields,
            parent: Parent::Span(&span),
            correlation: None,
        });
        span.set(&huge, &tasker_telemetry::fields::Scalar::Int(1));
        span.add_event(&huge, &Fields::new());
        span.end();
    });
    let span = &cap.spans()[0];
    assert!(
        span.name.len() < 300,
        "span name kept {} bytes",
        span.name.len()
    );
    assert!(span.name.ends_with("bytes]"), "{}", span.name);
    for kv in &span.attributes {
        assert!(
            kv.key.as_str().len() < 300,
            "attribute key kept {} bytes",
            kv.key.as_str().len()
        );
        assert!(
            kv.value.as_str().len() < 9000,
            "attribute value kept {} bytes",
            kv.value.as_str().len()
        );
    }
    for event in span.events.iter() {
        assert!(
            event.name.len() < 9000,
            "event name kept {} bytes",
            event.name.len()
        );
    }
    let line = cap
        .json_lines()
        .into_iter()
        .find(|l| l["message"].as_str().is_some_and(|m| m.starts_with("nnn")))
        .expect("the event was printed");
    assert!(
        line.to_string().len() < 20_000,
        "console line of {} bytes",
        line.to_string().len()
    );
    assert!(line["target"].as_str().unwrap().len() < 300);
}

#[test]
fn children_of_foreign_spans_keep_the_parent_context_or_take_their_own_correlation() {
    let mut config = TelemetryConfig::default();
    config.logging.format = LogFormat::Json;
    config.logging.level = "debug".into();
    config.logging.export_level = "info".into();
    let cap = capture(&config);
    let outer = Arc::new(Correlation::new().with_namespace("outer"));
    let inner = Arc::new(Correlation::new().with_namespace("inner"));
    fn span(
        name: &str,
        level: Level,
        parent: Parent<'_>,
        correlation: Option<&Arc<Correlation>>,
    ) -> DynSpan {
        DynSpan::start(SpanStart {
            name,
            level,
            target: "ruby.handler",
            fields: &Fields::new(),
            parent,
            correlation,
        })
    }
    cap.run(|| {
        let root = span("root", Level::INFO, Parent::Root, Some(&outer));
        // The same correlation as the parent's, a new one, none given.
        let same = span("same", Level::INFO, Parent::Span(&root), Some(&outer));
        let other = span("other", Level::INFO, Parent::Span(&root), Some(&inner));
        let bare = span("bare", Level::INFO, Parent::Span(&root), None);
        // Under a span the export level leaves out: its parent's context, its correlation.
        let unexported = span(
            "unexported",
            Level::DEBUG,
            Parent::Span(&root),
            Some(&outer),
        );
        let under = span("under", Level::INFO, Parent::Span(&unexported), None);
        let grandchild = span("grandchild", Level::INFO, Parent::Span(&other), None);
        for s in [grandchild, under, unexported, bare, other, same, root] {
            s.end();
        }
    });
    let root = cap.span("root").unwrap();
    let root_id = root.span_context.span_id();
    let outer_id = outer.correlation_id.to_string();
    let inner_id = inner.correlation_id.to_string();
    assert_eq!(
        attr(&root, "correlation_id").as_deref(),
        Some(outer_id.as_str())
    );
    for (name, parent, correlation) in [
        ("same", root_id, &outer_id),
        ("other", root_id, &inner_id),
        ("bare", root_id, &outer_id),
        ("under", root_id, &outer_id),
    ] {
        let s = cap.span(name).unwrap();
        assert_eq!(s.parent_span_id, parent, "{name}");
        assert_eq!(
            s.span_context.trace_id(),
            root.span_context.trace_id(),
            "{name}"
        );
        assert_eq!(
            attr(&s, "correlation_id").as_deref(),
            Some(correlation.as_str()),
            "{name}"
        );
    }
    assert!(cap.span("unexported").is_none());
    let other = cap.span("other").unwrap();
    let grandchild = cap.span("grandchild").unwrap();
    assert_eq!(grandchild.parent_span_id, other.span_context.span_id());
    assert_eq!(
        attr(&grandchild, "correlation_id").as_deref(),
        Some(inner_id.as_str())
    );
}
