//! A small nested trace with a correlation id, printed to the console (the README's demo).
//!
//! `cargo run -p tasker-telemetry-examples --bin nested_trace`
//! Set `TASKER_LOG_FORMAT=json` for JSON lines, `OTEL_EXPORTER_OTLP_ENDPOINT` to export.

use std::time::{Duration, Instant};

use tasker_telemetry::dynamic::{self, DynSpan, EventArgs, Parent, SpanStart};
use tasker_telemetry::fields::{FieldValue, Fields};
use tasker_telemetry::lifecycle::LifecycleEvent;
use tasker_telemetry::{propagation, Correlation, TelemetryConfig};
use tracing::{info, info_span, warn, Level};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = TelemetryConfig::load()?;
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        config.service_name = "orchestrator".into();
    }
    let guard = tasker_telemetry::init(config)?;

    let correlation = Correlation::new().with_namespace("order_fulfillment");
    let correlation_id = correlation.correlation_id;
    let _scope = correlation.enter();

    let task = info_span!("task", task_name = "order_fulfillment");
    task.in_scope(|| {
        info!(steps = 3, "task initialized");
        for (step, ms) in [
            ("validate_order", 3u64),
            ("charge_payment", 5),
            ("finalize", 2),
        ] {
            let span = info_span!("step", step_name = step);
            let _entered = span.enter();
            let started = Instant::now();
            LifecycleEvent::StepClaimed.emit(None, &[], &Fields::new());
            std::thread::sleep(Duration::from_millis(ms));
            if step == "charge_payment" {
                // What a Ruby or Python handler does through the bindings, called in-process:
                // its span nests under the current Rust span without any headers.
                let fields: Fields = [
                    ("amount_cents", FieldValue::Int(4_200)),
                    (
                        "card",
                        FieldValue::Map(vec![("api_key".into(), "sk_live_123".into())]),
                    ),
                ]
                .into_iter()
                .collect();
                let handler = DynSpan::start(SpanStart {
                    name: "handler_execution",
                    level: Level::INFO,
                    target: "ruby.PaymentHandler",
                    fields: &fields,
                    parent: Parent::Current,
                    correlation: None,
                });
                dynamic::event(EventArgs {
                    level: Level::INFO,
                    target: "ruby.PaymentHandler",
                    message: "payment authorised",
                    fields: &fields,
                    parent: Parent::Span(&handler),
                    correlation: None,
                });
                let headers = propagation::inject();
                info!(
                    traceparent = headers.get("traceparent").map(String::as_str).unwrap_or(""),
                    "headers a worker process would receive"
                );
                handler.end();
            }
            if step == "finalize" {
                warn!(password = "hunter2", "secrets in fields are redacted");
            }
            LifecycleEvent::StepCompleted.emit(Some(started.elapsed()), &[], &Fields::new());
        }
    });
    info!(%correlation_id, "task complete");
    drop(_scope);
    guard.shutdown(Duration::from_secs(5))?;
    Ok(())
}
