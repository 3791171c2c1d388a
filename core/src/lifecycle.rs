//! The standard task and step lifecycle events, each with a declarative route to traces
//! (a span event on the current span), logs (a log event at a level) and metrics (a counter
//! and/or a duration histogram).
//!
//! Default routes:
//!
//! | event | span event | log level | counter | histogram (duration, ms) |
//! |---|---|---|---|---|
//! | `task.initialized` | yes | info | `tasker_tasks_requests_total` | `tasker_task_initialization_duration` |
//! | `task.steps_enqueued` | yes | debug | – | – |
//! | `task.evaluation_started` | yes | debug | – | – |
//! | `task.finalization_ready` | yes | debug | – | – |
//! | `task.completed` | yes | info | `tasker_tasks_completions_total` | `tasker_task_finalization_duration` |
//! | `task.failed` | yes | error | `tasker_tasks_failures_total` | `tasker_task_finalization_duration` |
//! | `step.enqueued` | yes | debug | `tasker_steps_enqueued_total` | – |
//! | `step.claimed` | yes | debug | `tasker_steps_claimed_total` | `tasker_step_claim_duration` |
//! | `step.executing` | yes | debug | `tasker_steps_executions_total` | – |
//! | `step.completed` | yes | info | `tasker_steps_successes_total` | `tasker_step_execution_duration` |
//! | `step.failed` | yes | error | `tasker_steps_failures_total` | `tasker_step_execution_duration` |
//! | `step.retry_scheduled` | yes | warn | – | – |
//!
//! Log events of the lifecycle use the target [`LIFECYCLE_TARGET`]; the trace export layer
//! skips that target, so the span event is recorded exactly once (by the trace route), whatever
//! the log level.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, KeyValue};
use tracing::Level;

use crate::correlation::Correlation;
use crate::dynamic::{self, EventArgs, Parent};
use crate::error::TelemetryError;
use crate::fields::{Fields, Scalar};
use crate::metrics::{self, catalogue, InstrumentKind};

/// Target of lifecycle log events.
pub const LIFECYCLE_TARGET: &str = "tasker.lifecycle";

/// A lifecycle event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleEvent {
    /// `task.initialized`
    TaskInitialized,
    /// `task.steps_enqueued`
    TaskStepsEnqueued,
    /// `task.evaluation_started`
    TaskEvaluationStarted,
    /// `task.finalization_ready`
    TaskFinalizationReady,
    /// `task.completed`
    TaskCompleted,
    /// `task.failed`
    TaskFailed,
    /// `step.enqueued`
    StepEnqueued,
    /// `step.claimed`
    StepClaimed,
    /// `step.executing`
    StepExecuting,
    /// `step.completed`
    StepCompleted,
    /// `step.failed`
    StepFailed,
    /// `step.retry_scheduled`
    StepRetryScheduled,
}

/// Where an event goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Add a span event to the current span.
    pub trace: bool,
    /// Emit a log event at this level.
    pub log: Option<Level>,
    /// Add 1 to this counter.
    pub counter: Option<&'static str>,
    /// Record the duration (ms) in this histogram, when a duration is given.
    pub histogram: Option<&'static str>,
}

impl LifecycleEvent {
    /// Every event.
    pub const ALL: [LifecycleEvent; 12] = [
        Self::TaskInitialized,
        Self::TaskStepsEnqueued,
        Self::TaskEvaluationStarted,
        Self::TaskFinalizationReady,
        Self::TaskCompleted,
        Self::TaskFailed,
        Self::StepEnqueued,
        Self::StepClaimed,
        Self::StepExecuting,
        Self::StepCompleted,
        Self::StepFailed,
        Self::StepRetryScheduled,
    ];

    /// The event's name, e.g. `step.completed`.
    pub fn name(self) -> &'static str {
        match self {
            Self::TaskInitialized => "task.initialized",
            Self::TaskStepsEnqueued => "task.steps_enqueued",
            Self::TaskEvaluationStarted => "task.evaluation_started",
            Self::TaskFinalizationReady => "task.finalization_ready",
            Self::TaskCompleted => "task.completed",
            Self::TaskFailed => "task.failed",
            Self::StepEnqueued => "step.enqueued",
            Self::StepClaimed => "step.claimed",
            Self::StepExecuting => "step.executing",
            Self::StepCompleted => "step.completed",
            Self::StepFailed => "step.failed",
            Self::StepRetryScheduled => "step.retry_scheduled",
        }
    }

    /// Looks an event up by name.
    ///
    /// ```
    /// use tasker_telemetry::lifecycle::LifecycleEvent;
    /// assert_eq!(LifecycleEvent::parse("step.claimed").unwrap(), LifecycleEvent::StepClaimed);
    /// assert!(LifecycleEvent::parse("step.teleported").is_err());
    /// ```
    pub fn parse(name: &str) -> Result<Self, TelemetryError> {
        Self::ALL
            .into_iter()
            .find(|e| e.name() == name)
            .ok_or_else(|| TelemetryError::InvalidInput {
                what: "lifecycle event",
                message: format!(
                    "{name:?} is not a lifecycle event; expected one of {}",
                    Self::ALL.map(|e| e.name()).join(", ")
                ),
            })
    }

    /// The default route (see the module table).
    pub fn route(self) -> Route {
        use catalogue as c;
        let r = |log,
                 counter: Option<metrics::MetricDef>,
                 histogram: Option<metrics::MetricDef>| Route {
            trace: true,
            log: Some(log),
            counter: counter.map(|m| m.name),
            histogram: histogram.map(|m| m.name),
        };
        match self {
            Self::TaskInitialized => r(
                Level::INFO,
                Some(c::TASKS_REQUESTS_TOTAL),
                Some(c::TASK_INITIALIZATION_DURATION),
            ),
            Self::TaskStepsEnqueued | Self::TaskEvaluationStarted | Self::TaskFinalizationReady => {
                r(Level::DEBUG, None, None)
            }
            Self::TaskCompleted => r(
                Level::INFO,
                Some(c::TASKS_COMPLETIONS_TOTAL),
                Some(c::TASK_FINALIZATION_DURATION),
            ),
            Self::TaskFailed => r(
                Level::ERROR,
                Some(c::TASKS_FAILURES_TOTAL),
                Some(c::TASK_FINALIZATION_DURATION),
            ),
            Self::StepEnqueued => r(Level::DEBUG, Some(c::STEPS_ENQUEUED_TOTAL), None),
            Self::StepClaimed => r(
                Level::DEBUG,
                Some(c::STEPS_CLAIMED_TOTAL),
                Some(c::STEP_CLAIM_DURATION),
            ),
            Self::StepExecuting => r(Level::DEBUG, Some(c::STEPS_EXECUTIONS_TOTAL), None),
            Self::StepCompleted => r(
                Level::INFO,
                Some(c::STEPS_SUCCESSES_TOTAL),
                Some(c::STEP_EXECUTION_DURATION),
            ),
            Self::StepFailed => r(
                Level::ERROR,
                Some(c::STEPS_FAILURES_TOTAL),
                Some(c::STEP_EXECUTION_DURATION),
            ),
            Self::StepRetryScheduled => r(Level::WARN, None, None),
        }
    }

    /// Emits the event along its default route, in the current context: `fields` go on the span
    /// event and the log event; `labels` (keep them low-cardinality: namespace, handler,
    /// error_type) go on the metrics and on the span/log event too.
    ///
    /// ```
    /// use std::time::Duration;
    /// use opentelemetry::KeyValue;
    /// use tasker_telemetry::fields::Fields;
    /// use tasker_telemetry::lifecycle::LifecycleEvent;
    ///
    /// LifecycleEvent::StepCompleted.emit(
    ///     Some(Duration::from_millis(12)),
    ///     &[KeyValue::new("namespace", "payments")],
    ///     &Fields::new(),
    /// );
    /// ```
    pub fn emit(self, duration: Option<Duration>, labels: &[KeyValue], fields: &Fields) {
        self.emit_routed(
            self.route(),
            Parent::Current,
            None,
            duration,
            labels,
            fields,
        );
    }

    /// A lifecycle duration from milliseconds, as the bindings take it; an error naming the
    /// value for a negative, infinite or NaN one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tasker_telemetry::lifecycle::LifecycleEvent;
    /// assert_eq!(LifecycleEvent::duration_from_ms(2.5).unwrap(), Duration::from_micros(2500));
    /// assert!(LifecycleEvent::duration_from_ms(-5.0).unwrap_err().to_string().contains("duration_ms -5"));
    /// ```
    pub fn duration_from_ms(ms: f64) -> Result<Duration, TelemetryError> {
        Duration::try_from_secs_f64(ms / 1000.0).map_err(|_| TelemetryError::InvalidDuration {
            what: "duration_ms",
            value: ms,
            unit: "milliseconds",
        })
    }

    /// Like [`emit`](Self::emit), attached to an explicit parent (a binding's own span) and
    /// correlation instead of the thread's current context.
    pub fn emit_with(
        self,
        parent: Parent<'_>,
        correlation: Option<&Arc<Correlation>>,
        duration: Option<Duration>,
        labels: &[KeyValue],
        fields: &Fields,
    ) {
        self.emit_routed(self.route(), parent, correlation, duration, labels, fields);
    }

    /// Emits the event along an explicit route.
    pub fn emit_routed(
        self,
        route: Route,
        parent: Parent<'_>,
        correlation: Option<&Arc<Correlation>>,
        duration: Option<Duration>,
        labels: &[KeyValue],
        fields: &Fields,
    ) {
        let duration_ms = duration.map(|d| d.as_secs_f64() * 1000.0);
        if route.trace {
            let add = |cx: &Context| {
                let span = cx.span();
                if span.span_context().is_valid() {
                    span.add_event(self.name(), event_attributes(fields, labels, duration_ms));
                }
            };
            match parent {
                Parent::Span(s) => add(s.context()),
                Parent::Current => Context::map_current(add),
                Parent::Context(cx) => add(cx),
                Parent::Remote(_) | Parent::Root => {}
            }
        }
        // The log line, unless no output records this level (then `all` is not even built).
        if let Some(level) = route
            .log
            .filter(|level| tracing::level_filters::LevelFilter::current() >= *level)
        {
            let mut all = fields.clone();
            for kv in labels {
                all.insert_scalar(kv.key.as_str().to_owned(), scalar(&kv.value));
            }
            if let Some(ms) = duration_ms {
                all.insert_scalar("duration_ms", Scalar::Float(ms));
            }
            dynamic::event(EventArgs {
                level,
                target: LIFECYCLE_TARGET,
                message: self.name(),
                fields: &all,
                parent,
                correlation,
            });
        }
        // Catalogue names and finite, non-negative values: these records cannot be refused.
        if let Some(counter) = route.counter {
            let _ = metrics::record(InstrumentKind::Counter, counter, 1.0, labels);
        }
        if let (Some(histogram), Some(ms)) = (route.histogram, duration_ms) {
            let _ = metrics::record(InstrumentKind::Histogram, histogram, ms, labels);
        }
    }
}

/// The span event's attributes: `fields`, then `labels` (a label replaces a field of the same
/// key in place), then `duration_ms`; values as a log field would carry them.
fn event_attributes(
    fields: &Fields,
    labels: &[KeyValue],
    duration_ms: Option<f64>,
) -> Vec<KeyValue> {
    let mut attrs: Vec<KeyValue> = Vec::with_capacity(fields.len() + labels.len() + 1);
    attrs.extend(
        fields
            .iter()
            .map(|(k, v)| KeyValue::new(k.to_owned(), v.to_otel())),
    );
    let mut put = |kv: KeyValue| match attrs.iter_mut().find(|a| a.key == kv.key) {
        Some(slot) => slot.value = kv.value,
        None => attrs.push(kv),
    };
    for kv in labels {
        let value = match &kv.value {
            v @ (opentelemetry::Value::Bool(_)
            | opentelemetry::Value::I64(_)
            | opentelemetry::Value::F64(_)) => v.clone(),
            v @ opentelemetry::Value::String(s)
                if s.as_str().len() <= crate::fields::max_value_len() =>
            {
                v.clone()
            }
            // A long string or an array: as text, cut like any field value.
            other => opentelemetry::Value::from(crate::fields::truncate(
                other.to_string(),
                crate::fields::max_value_len(),
            )),
        };
        put(KeyValue::new(kv.key.clone(), value));
    }
    if let Some(ms) = duration_ms {
        put(KeyValue::new("duration_ms", ms));
    }
    attrs
}

fn scalar(v: &opentelemetry::Value) -> Scalar {
    match v {
        opentelemetry::Value::Bool(b) => Scalar::Bool(*b),
        opentelemetry::Value::I64(i) => Scalar::Int(*i),
        opentelemetry::Value::F64(f) => Scalar::Float(*f),
        other => Scalar::Str(other.to_string()),
    }
}
