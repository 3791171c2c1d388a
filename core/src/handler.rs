//! The span every step handler runs in, built the same way for every language: the
//! `handler_execution` span with the step's correlation taken from its context.

use std::sync::Arc;

use tracing::Level;

use crate::correlation::{clean_namespace, keys, parse_opt_uuid, Correlation, CorrelationId};
use crate::dynamic::{DynSpan, Parent, SpanStart};
use crate::error::TelemetryError;
use crate::fields::{Fields, Scalar};

/// Name of the handler span.
pub const HANDLER_SPAN_NAME: &str = "handler_execution";

/// Context keys copied onto the handler span besides the correlation ones.
pub const HANDLER_CONTEXT_KEYS: &[&str] = &[
    "task_name",
    "step_name",
    "attempt",
    "retry_limit",
    "handler_class",
];

/// A started handler span and the correlation it runs under (the binding makes it current).
#[derive(Debug, Clone)]
pub struct HandlerSpan {
    /// The `handler_execution` span.
    pub span: DynSpan,
    /// The correlation of the step.
    pub correlation: Arc<Correlation>,
}

/// Starts the handler span for `handler` with the step `context` (a flattened hash/dict):
/// `correlation_id`, `parent_correlation_id`, `task_uuid`, `step_uuid` and `namespace` become
/// the correlation (a `correlation_id` missing from the context is taken from `inherited`, then
/// the current correlation, then generated); [`HANDLER_CONTEXT_KEYS`] become span fields with
/// `handler.name`. An id that is not a UUID is an error naming the key.
///
/// ```
/// use tasker_telemetry::handler::start_handler_span;
/// use tasker_telemetry::dynamic::Parent;
/// use tasker_telemetry::fields::Fields;
///
/// let context: Fields = [("namespace", "payments"), ("step_name", "charge")].into_iter().collect();
/// let h = start_handler_span("PaymentHandler", &context, Parent::Current, None).unwrap();
/// assert_eq!(h.correlation.namespace.as_deref(), Some("payments"));
/// h.span.end();
/// ```
pub fn start_handler_span(
    handler: &str,
    context: &Fields,
    parent: Parent<'_>,
    inherited: Option<&Arc<Correlation>>,
) -> Result<HandlerSpan, TelemetryError> {
    let base = inherited.cloned().or_else(|| match parent {
        Parent::Span(s) => s.correlation(),
        Parent::Remote(r) => r.correlation().cloned(),
        Parent::Context(cx) => Correlation::from_context(cx),
        _ => Correlation::current(),
    });
    let mut correlation = match context.text(keys::CORRELATION_ID) {
        Some(_) => Correlation::from_parts(
            context.text(keys::CORRELATION_ID),
            context.text(keys::PARENT_CORRELATION_ID),
            None,
            None,
            None,
        )?,
        None => base.as_deref().cloned().unwrap_or_default(),
    };
    let uuid = |key: &'static str| parse_opt_uuid(key, context.text(key));
    if let Some(p) = uuid(keys::PARENT_CORRELATION_ID)? {
        correlation.parent_correlation_id = Some(CorrelationId::from_uuid(p));
    }
    if let Some(t) = uuid(keys::TASK_UUID)? {
        correlation.task_uuid = Some(t);
    }
    if let Some(s) = uuid(keys::STEP_UUID)? {
        correlation.step_uuid = Some(s);
    }
    if let Some(n) = clean_namespace(context.text(keys::NAMESPACE)) {
        correlation.namespace = Some(n);
    }
    let correlation = Arc::new(correlation);

    let mut fields = Fields::with_capacity(1 + HANDLER_CONTEXT_KEYS.len());
    fields.insert_scalar("handler.name", Scalar::Str(handler.to_owned()));
    for (k, v) in context.iter() {
        if HANDLER_CONTEXT_KEYS.contains(&k) {
            fields.insert_scalar(k, v.clone());
        }
    }
    let span = DynSpan::start(SpanStart {
        name: HANDLER_SPAN_NAME,
        level: Level::INFO,
        target: "tasker.handler",
        fields: &fields,
        parent,
        correlation: Some(&correlation),
    });
    Ok(HandlerSpan { span, correlation })
}
