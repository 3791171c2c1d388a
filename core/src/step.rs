//! The per-step framework path a worker runs around a handler, the same in every language: the
//! step's correlation, the `execute_step` span continuing the orchestrator's trace (from the
//! message's W3C headers, else under the current span), the `step.claimed`, `step.executing`
//! and `step.completed` / `step.failed` lifecycle events with the duration, then the handler
//! runs *inside* that Rust span, so a Ruby or Python handler called here in-process nests under
//! it with no headers at all.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use opentelemetry::KeyValue;
use tracing::Level;

use crate::correlation::{keys, Correlation};
use crate::dynamic::{DynSpan, Parent, SpanStart};
use crate::error::TelemetryError;
use crate::fields::{Fields, Scalar};
use crate::lifecycle::LifecycleEvent;
use crate::propagation;

/// Name of the span [`run_step`] opens around a handler.
pub const STEP_SPAN_NAME: &str = "execute_step";

/// Target of that span and its events.
pub const STEP_TARGET: &str = "tasker.worker";

/// The W3C header keys read from a step message (under `headers.`).
pub const HEADER_KEYS: &[&str] = &["traceparent", "tracestate", "baggage"];

/// A step as a worker receives it from the orchestrator.
#[derive(Debug, Clone, PartialEq)]
pub struct StepMessage {
    /// The step's name, e.g. `charge_payment`.
    pub step_name: String,
    /// The handler that runs it, e.g. `PaymentHandler`.
    pub handler: String,
    /// 1 for the first attempt.
    pub attempt: i64,
    /// The step's correlation (id, task, step, namespace).
    pub correlation: Correlation,
    /// `traceparent`/`tracestate`/`baggage` of the orchestrator's step span (may be empty).
    pub headers: HashMap<String, String>,
}

impl StepMessage {
    /// Reads a message from flattened fields (a Ruby Hash or Python dict as the bindings convert
    /// it): `step_name` (required), `handler` (default: the step name), `attempt` (default 1),
    /// `correlation_id` (else the one in the headers' baggage), `parent_correlation_id`,
    /// `task_uuid`, `step_uuid`, `namespace`, and
    /// `headers.traceparent` / `headers.tracestate` / `headers.baggage`.
    ///
    /// ```
    /// use tasker_telemetry::fields::Fields;
    /// use tasker_telemetry::step::StepMessage;
    ///
    /// let fields: Fields = [("step_name", "charge_payment"), ("namespace", "payments")].into_iter().collect();
    /// let message = StepMessage::from_fields(&fields).unwrap();
    /// assert_eq!(message.attempt, 1);
    /// assert!(StepMessage::from_fields(&Fields::new()).unwrap_err().to_string().contains("step_name"));
    /// ```
    pub fn from_fields(fields: &Fields) -> Result<Self, TelemetryError> {
        let step_name = fields
            .text("step_name")
            .ok_or_else(|| TelemetryError::InvalidInput {
                what: "step message",
                message: "`step_name` is missing or not a non-empty string".to_owned(),
            })?;
        let attempt = match fields.iter().find(|(k, _)| *k == "attempt") {
            None => 1,
            Some((_, Scalar::Int(n))) if *n >= 1 => *n,
            Some((_, other)) => {
                return Err(TelemetryError::InvalidInput {
                    what: "step message",
                    message: format!("`attempt` must be an integer >= 1, got {other:?}"),
                })
            }
        };
        let headers: HashMap<String, String> = HEADER_KEYS
            .iter()
            .filter_map(|h| {
                fields
                    .text(&format!("headers.{h}"))
                    .map(|v| ((*h).to_owned(), v.to_owned()))
            })
            .collect();
        // Without a `correlation_id` of its own, the step keeps the one its headers' baggage
        // carries (the orchestrator's), so the trace keeps one correlation id.
        let upstream = match fields.text(keys::CORRELATION_ID) {
            Some(_) => None,
            None if headers.is_empty() => None,
            None => propagation::extract_map(&headers)
                .correlation()
                .map(|c| c.correlation_id.to_string()),
        };
        let correlation = Correlation::from_parts(
            fields.text(keys::CORRELATION_ID).or(upstream.as_deref()),
            fields.text(keys::PARENT_CORRELATION_ID),
            fields.text(keys::TASK_UUID),
            fields.text(keys::STEP_UUID),
            fields.text(keys::NAMESPACE),
        )?;
        Ok(Self {
            step_name: step_name.to_owned(),
            handler: fields.text("handler").unwrap_or(step_name).to_owned(),
            attempt,
            correlation,
            headers,
        })
    }
}

/// Exits an entered span even when the handler panics.
struct Entered<'a>(&'a DynSpan);

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.0.exit_raw();
    }
}

/// A step in progress: its `execute_step` span and correlation, started by [`StepRun::start`]
/// and ended by [`StepRun::finish`]. [`run_step`] (Rust handlers) and the bindings'
/// `run_step` (through [`crate::foreign`]) are built on it, so the step path is the same in
/// every language.
#[derive(Debug)]
pub struct StepRun {
    span: DynSpan,
    correlation: Arc<Correlation>,
    labels: Vec<KeyValue>,
    started: Instant,
}

impl StepRun {
    /// Opens the `execute_step` span of `message` and emits `step.claimed` and
    /// `step.executing`. Its parent is the remote context of `message.headers` when valid,
    /// else `parent`.
    pub fn start(message: &StepMessage, parent: Parent<'_>) -> StepRun {
        let correlation = Arc::new(message.correlation.clone());
        let remote = (!message.headers.is_empty())
            .then(|| propagation::extract_map(&message.headers))
            .filter(|r| r.is_valid());
        let parent = remote.as_ref().map_or(parent, Parent::Remote);
        let mut fields = Fields::with_capacity(3);
        fields.insert_scalar("step_name", Scalar::Str(message.step_name.clone()));
        fields.insert_scalar("handler.name", Scalar::Str(message.handler.clone()));
        fields.insert_scalar("attempt", Scalar::Int(message.attempt));
        let span = DynSpan::start(SpanStart {
            name: STEP_SPAN_NAME,
            level: Level::INFO,
            target: STEP_TARGET,
            fields: &fields,
            parent,
            correlation: Some(&correlation),
        });
        let mut labels = vec![KeyValue::new("step_name", message.step_name.clone())];
        if let Some(ns) = &message.correlation.namespace {
            labels.push(KeyValue::new("namespace", ns.clone()));
        }
        let run = StepRun {
            span,
            correlation,
            labels,
            started: Instant::now(),
        };
        let none = Fields::new();
        run.emit(LifecycleEvent::StepClaimed, None, &none);
        run.emit(LifecycleEvent::StepExecuting, None, &none);
        StepRun {
            started: Instant::now(),
            ..run
        }
    }

    /// The `execute_step` span (the parent of the handler's spans).
    pub fn span(&self) -> &DynSpan {
        &self.span
    }

    /// The step's correlation.
    pub fn correlation(&self) -> &Arc<Correlation> {
        &self.correlation
    }

    fn emit(&self, event: LifecycleEvent, duration: Option<std::time::Duration>, extra: &Fields) {
        event.emit_with(
            Parent::Span(&self.span),
            Some(&self.correlation),
            duration,
            &self.labels,
            extra,
        )
    }

    /// Emits `step.completed`, or `step.failed` with `error` (error status, an `error` field),
    /// with the duration since `step.executing`, and ends the span.
    pub fn finish(self, error: Option<&str>) {
        let elapsed = Some(self.started.elapsed());
        match error {
            None => self.emit(LifecycleEvent::StepCompleted, elapsed, &Fields::new()),
            Some(text) => {
                self.span.set_error(text);
                let mut extra = Fields::with_capacity(1);
                extra.insert_scalar("error", Scalar::Str(text.to_owned()));
                self.emit(LifecycleEvent::StepFailed, elapsed, &extra);
            }
        }
    }
}

/// Runs `handler` as the step `message`: opens the `execute_step` span (parent: the remote
/// context of `message.headers` when valid, else the current span), makes it and the step's
/// correlation current on this thread, emits `step.claimed` and `step.executing`, runs the
/// handler, then `step.completed` or `step.failed` (error status, the error's text) with the
/// duration, and ends the span. The handler's result is returned unchanged.
///
/// ```
/// use tasker_telemetry::fields::Fields;
/// use tasker_telemetry::step::{run_step, StepMessage};
///
/// let fields: Fields = [("step_name", "validate_order")].into_iter().collect();
/// let message = StepMessage::from_fields(&fields).unwrap();
/// let total: Result<i64, String> = run_step(&message, || Ok((1..=100).sum()));
/// assert_eq!(total, Ok(5050));
/// ```
pub fn run_step<T, E: fmt::Display>(
    message: &StepMessage,
    handler: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let run = StepRun::start(message, Parent::Current);
    let result = {
        let _correlation = message.correlation.clone().enter();
        run.span().enter_raw();
        let _entered = Entered(run.span());
        handler()
    };
    let error = result.as_ref().err().map(ToString::to_string);
    run.finish(error.as_deref());
    result
}
