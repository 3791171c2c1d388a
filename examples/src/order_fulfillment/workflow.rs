//! The order_fulfillment workflow: steps, attempts and retries, and where each step runs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use tasker_telemetry::fields::Fields;
use tasker_telemetry::lifecycle::LifecycleEvent;
use tasker_telemetry::step::{run_step, StepMessage};
use tasker_telemetry::{propagation, Correlation};
use tracing::{info, info_span, warn, Span};
use uuid::Uuid;

use crate::options::Mode;
use crate::worker::Worker;

/// The workflow's namespace (and task name).
pub const NAMESPACE: &str = "order_fulfillment";

/// What the orchestrator knows about one step attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub step: &'static str,
    pub attempt: i64,
    pub service: &'static str,
    pub step_span_id: String,
    pub ok: bool,
    pub reply: Value,
}

pub struct Run {
    pub mode: Mode,
    pub fail_step: Option<String>,
    pub correlation: Correlation,
    pub task: Span,
    pub ruby: Worker,
    pub python: Worker,
    pub attempts: Mutex<Vec<Attempt>>,
}

pub fn current_span_id() -> String {
    propagation::ids(&opentelemetry::Context::current())
        .map(|(_, span)| span)
        .unwrap_or_default()
}

impl Run {
    fn message(&self, step: &str, handler: &str, attempt: i64) -> Value {
        json!({
            "step_name": step,
            "handler": handler,
            "attempt": attempt,
            "retry_limit": 2,
            "correlation_id": self.correlation.correlation_id.to_string(),
            "task_uuid": self.correlation.task_uuid.map(|u| u.to_string()),
            "step_uuid": Uuid::now_v7().to_string(),
            "namespace": NAMESPACE,
            "task_name": NAMESPACE,
        })
    }

    fn fails(&self, step: &str, attempt: i64) -> bool {
        attempt == 1 && self.fail_step.as_deref() == Some(step)
    }

    /// Runs one step (retrying once on failure) under a `step <name>` span per attempt.
    pub fn step(
        &self,
        step: &'static str,
        service: &'static str,
        input: Value,
    ) -> Result<Value, String> {
        for attempt in 1..=2 {
            let span = info_span!(parent: &self.task, "step", otel.name = format!("step {step}"),
                step_name = step, attempt, service, otel.status_code = tracing::field::Empty);
            let _entered = span.enter();
            let fields = Fields::new();
            LifecycleEvent::StepEnqueued.emit(None, &[], &fields);
            let reply = match service {
                "orchestrator" => self.rust_step(step, attempt),
                _ => {
                    let mut message = self.message(step, handler_of(step), attempt);
                    message["headers"] = json!(propagation::inject());
                    let worker = if service == "ruby-worker" {
                        &self.ruby
                    } else {
                        &self.python
                    };
                    worker.call(json!({
                        "type": "step",
                        "mode": self.mode.name(),
                        "step": message,
                        "input": input,
                        "fail": self.fails(step, attempt),
                    }))?
                }
            };
            let ok = reply.get("ok").and_then(Value::as_bool).unwrap_or(false);
            self.attempts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Attempt {
                    step,
                    attempt,
                    service,
                    step_span_id: current_span_id(),
                    ok,
                    reply: reply.clone(),
                });
            if ok {
                info!(step, attempt, "step completed");
                return Ok(reply.get("result").cloned().unwrap_or(Value::Null));
            }
            let error = reply
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("unknown error");
            span.record("otel.status_code", "error");
            warn!(step, attempt, error, "step failed");
            if attempt == 1 {
                LifecycleEvent::StepRetryScheduled.emit(None, &[], &fields);
            }
        }
        Err(format!("step {step} failed twice"))
    }

    /// A Rust step handler, run through the same per-step path the workers use.
    fn rust_step(&self, step: &str, attempt: i64) -> Value {
        let message = StepMessage {
            step_name: step.to_owned(),
            handler: handler_of(step).to_owned(),
            attempt,
            correlation: self.correlation.clone().with_step(Uuid::now_v7()),
            headers: HashMap::new(),
        };
        let fail = self.fails(step, attempt);
        let result = run_step(&message, || -> Result<Value, String> {
            let span = info_span!("rust_handler", otel.name = format!("{step}_handler"));
            let _e = span.enter();
            if fail {
                return Err(format!("{step}: simulated failure"));
            }
            let total: i64 = (1..=100).sum();
            std::thread::sleep(Duration::from_millis(3));
            info!(step, total, "rust handler done");
            Ok(json!({"checked": true, "total": total}))
        });
        match result {
            Ok(v) => json!({"ok": true, "result": v}),
            Err(e) => json!({"ok": false, "error": e}),
        }
    }
}

fn handler_of(step: &str) -> &'static str {
    match step {
        "validate_order" => "ValidateOrder",
        "charge_payment" => "PaymentHandler",
        "reserve_inventory" => "ReserveInventoryHandler",
        "send_confirmation" => "SendConfirmationHandler",
        _ => "FinalizeOrder",
    }
}
