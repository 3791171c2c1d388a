//! W3C trace context and baggage across processes: [`inject`] the current context into a header
//! map, [`extract`] one into a [`RemoteContext`] that continues the trace elsewhere.
//!
//! `correlation_id` (and `parent_correlation_id`, `task_uuid`, `step_uuid`, `namespace` when
//! set) travel as W3C baggage. Invalid headers are ignored with a debug-level note; they never
//! fail the caller.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::{Extractor, TextMapCompositePropagator, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, ContextGuard, KeyValue};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

use crate::correlation::Correlation;

/// Header names this module reads and writes.
pub mod headers {
    /// `traceparent`
    pub const TRACEPARENT: &str = "traceparent";
    /// `tracestate`
    pub const TRACESTATE: &str = "tracestate";
    /// `baggage`
    pub const BAGGAGE: &str = "baggage";
}

fn propagator() -> &'static TextMapCompositePropagator {
    static PROPAGATOR: std::sync::OnceLock<TextMapCompositePropagator> = std::sync::OnceLock::new();
    PROPAGATOR.get_or_init(|| {
        TextMapCompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(BaggagePropagator::new()),
        ])
    })
}

/// Injects the current context (the current span, or an attached remote context) and the
/// current correlation into a new header map.
///
/// ```
/// let headers = tasker_telemetry::propagation::inject();
/// // With no span and no correlation there is nothing to propagate.
/// assert!(headers.get("traceparent").is_none());
/// ```
pub fn inject() -> HashMap<String, String> {
    Context::map_current(inject_context)
}

/// Injects `cx` (its span, baggage and correlation) into a new header map.
pub fn inject_context(cx: &Context) -> HashMap<String, String> {
    let mut out = HashMap::with_capacity(3);
    match Correlation::from_context(cx) {
        Some(correlation) => {
            let baggage: Vec<KeyValue> = correlation
                .pairs()
                .into_iter()
                .map(|(k, v)| KeyValue::new(k, v))
                .collect();
            propagator().inject_context(&cx.with_baggage(baggage), &mut out);
        }
        None => propagator().inject_context(cx, &mut out),
    }
    out
}

/// The trace id (32 hex digits) and span id (16 hex digits) of the span in `cx`, if valid.
///
/// ```
/// assert_eq!(tasker_telemetry::propagation::ids(&opentelemetry::Context::new()), None);
/// ```
pub fn ids(cx: &Context) -> Option<(String, String)> {
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid()
        .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
}

/// A context received from another process: its span context (the remote parent), baggage
/// and correlation.
#[derive(Clone)]
pub struct RemoteContext {
    cx: Context,
    correlation: Option<Arc<Correlation>>,
}

impl fmt::Debug for RemoteContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteContext")
            .field("trace_id", &self.trace_id())
            .field("span_id", &self.span_id())
            .field("correlation", &self.correlation)
            .finish()
    }
}

/// Extracts a remote context from headers (names are matched case-insensitively).
///
/// ```
/// use tasker_telemetry::propagation::extract;
///
/// let remote = extract([
///     ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
///     ("baggage", "correlation_id=0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b11"),
/// ]);
/// assert_eq!(remote.trace_id().as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
/// assert_eq!(remote.correlation().unwrap().correlation_id.to_string(), "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b11");
///
/// let garbage = extract([("traceparent", "not a header")]);
/// assert!(!garbage.is_valid());
/// ```
pub fn extract<'a, I>(headers: I) -> RemoteContext
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    extract_from(&Pairs(headers.into_iter().collect()))
}

/// Header pairs looked up case-insensitively where they are (no map, no copies); a name given
/// twice keeps its last value.
struct Pairs<'a>(Vec<(&'a str, &'a str)>);

impl Extractor for Pairs<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rfind(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| *k).collect()
    }
}

/// Like [`extract`], from a map whose keys are already lower-case.
pub fn extract_map(map: &HashMap<String, String>) -> RemoteContext {
    extract_from(map)
}

fn extract_from(headers: &dyn Extractor) -> RemoteContext {
    let cx = propagator().extract_with_context(&Context::new(), headers);
    if let Some(tp) = headers.get(headers::TRACEPARENT) {
        if !cx.span().span_context().is_valid() {
            tracing::debug!(target: "tasker_telemetry::propagation", traceparent = %tp, "ignoring invalid traceparent header");
        }
    }
    let correlation = Correlation::from_pairs(
        cx.baggage()
            .iter()
            .map(|(k, (v, _))| (k.as_str(), v.as_str())),
    )
    .map(Arc::new);
    if correlation.is_none() && cx.baggage().get("correlation_id").is_some() {
        tracing::debug!(target: "tasker_telemetry::propagation", "ignoring invalid correlation_id in baggage");
    }
    let cx = match &correlation {
        Some(c) => cx.with_value(crate::correlation::CorrelationValue(c.clone())),
        None => cx,
    };
    RemoteContext { cx, correlation }
}

impl RemoteContext {
    /// Whether a valid remote span context was found.
    pub fn is_valid(&self) -> bool {
        self.cx.span().span_context().is_valid()
    }

    /// The remote trace id (32 hex digits), if valid.
    pub fn trace_id(&self) -> Option<String> {
        crate::propagation::ids(&self.cx).map(|(t, _)| t)
    }

    /// The remote (parent) span id (16 hex digits), if valid.
    pub fn span_id(&self) -> Option<String> {
        crate::propagation::ids(&self.cx).map(|(_, s)| s)
    }

    /// The correlation carried in baggage.
    pub fn correlation(&self) -> Option<&Arc<Correlation>> {
        self.correlation.as_ref()
    }

    /// The OpenTelemetry context.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Replaces (or sets) the correlation, e.g. when the message carries it outside baggage.
    pub fn with_correlation(mut self, correlation: Correlation) -> Self {
        let c = Arc::new(correlation);
        self.cx = self
            .cx
            .with_value(crate::correlation::CorrelationValue(c.clone()));
        self.correlation = Some(c);
        self
    }

    /// Makes this context current on this thread: spans created while the guard lives are
    /// children of the remote span and carry its correlation.
    pub fn attach(&self) -> ContextGuard {
        self.cx.clone().attach()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_only_context_injects_baggage_without_traceparent() {
        let c = Correlation::new().with_namespace("ns");
        let id = c.correlation_id.to_string();
        let _g = c.enter();
        let headers = inject();
        assert!(!headers.contains_key("traceparent"));
        assert!(
            headers["baggage"].contains(&format!("correlation_id={id}")),
            "{headers:?}"
        );
        let back = extract(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(back.correlation().unwrap().correlation_id.to_string(), id);
        assert_eq!(back.correlation().unwrap().namespace.as_deref(), Some("ns"));
    }

    #[test]
    fn garbage_headers_are_ignored() {
        for (k, v) in [
            ("traceparent", ""),
            (
                "traceparent",
                "00-00000000000000000000000000000000-0000000000000000-01",
            ),
            (
                "traceparent",
                "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            ("baggage", "correlation_id=%%%"),
            ("baggage", ";;;==,,"),
            (
                "TRACEPARENT",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            ),
        ] {
            let r = extract([(k, v)]);
            assert!(!r.is_valid(), "{k}: {v}");
            assert!(r.correlation().is_none());
        }
    }

    #[test]
    fn header_names_are_case_insensitive() {
        let r = extract([(
            "TraceParent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )]);
        assert_eq!(r.span_id().as_deref(), Some("00f067aa0ba902b7"));
    }
}
