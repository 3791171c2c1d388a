//! Spans and events started from Python: the `Span` object, `start_span`,
//! `start_handler_span` and `event`.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tasker_telemetry::bridge::SpanKind;
use tasker_telemetry::fields::Exception;
use tasker_telemetry::foreign::{self, ForeignSpan, Start};
use tracing::Level;

use crate::context::{correlation_of, parent_of, ParentArg, PyCorrelation};
use crate::convert::{self, Text};
use crate::errors::{foreign_error, guard, tracing_error};

/// The core's level for an index 0 (trace) … 4 (error).
pub fn level(index: u8) -> PyResult<Level> {
    tasker_telemetry::level::level_from_index(index).map_err(foreign_error)
}

/// A span started from Python. Ends on `end()`, or when collected.
#[pyclass(frozen, module = "tasker_core._native")]
pub struct Span {
    pub inner: Arc<ForeignSpan>,
}

#[pymethods]
impl Span {
    /// Trace id (32 hex digits), or `None` when the span is not recorded.
    #[getter]
    fn trace_id(&self) -> Option<String> {
        self.inner.trace_id()
    }

    /// Span id (16 hex digits), or `None` when the span is not recorded.
    #[getter]
    fn span_id(&self) -> Option<String> {
        self.inner.span_id()
    }

    /// Whether any output (console or export) records this span.
    #[getter]
    fn is_recording(&self) -> bool {
        self.inner.is_recording()
    }

    /// Whether it has ended.
    #[getter]
    fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// Sets an attribute (a dict value sets one attribute per flattened key).
    fn set(&self, key: Text, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let fields = convert::field(&key, value)?;
        guard("Span.set", || {
            self.inner.set(&fields);
            Ok(())
        })
    }

    /// Adds a span event with fields.
    #[pyo3(signature = (name, fields=None))]
    fn add_event(&self, name: Text, fields: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        let fields = convert::fields(fields)?;
        guard("Span.add_event", || {
            self.inner.add_event(&name, &fields);
            Ok(())
        })
    }

    /// Records an exception (`exception.type`, `.message`, `.stacktrace`) and error status.
    #[pyo3(signature = (kind, message, stacktrace=None))]
    fn record_exception(
        &self,
        kind: Text,
        message: Text,
        stacktrace: Option<Text>,
    ) -> PyResult<()> {
        guard("Span.record_exception", || {
            self.inner.record_exception(Exception {
                kind: &kind,
                message: &message,
                stacktrace: stacktrace.as_deref(),
            });
            Ok(())
        })
    }

    /// Sets error status with a description.
    fn set_error(&self, description: Text) -> PyResult<()> {
        guard("Span.set_error", || {
            self.inner.set_error(&description);
            Ok(())
        })
    }

    /// Ends the span (idempotent); `end_time` in nanoseconds since the Unix epoch (the
    /// OpenTelemetry API's `end(end_time)`), else now.
    #[pyo3(signature = (end_time=None))]
    fn end(&self, end_time: Option<u64>) -> PyResult<()> {
        guard("Span.end", || {
            match end_time {
                Some(ns) => self
                    .inner
                    .end_at(std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns)),
                None => self.inner.end(),
            }
            Ok(())
        })
    }

    /// Sets the OK status.
    fn set_ok(&self) -> PyResult<()> {
        guard("Span.set_ok", || {
            self.inner.set_ok();
            Ok(())
        })
    }

    /// Renames the exported span.
    fn update_name(&self, name: Text) -> PyResult<()> {
        guard("Span.update_name", || {
            self.inner.update_name(&name);
            Ok(())
        })
    }

    /// Adds a link to the span `(trace_id, span_id)` (integers, as the OpenTelemetry API holds
    /// them) with its trace flags, `tracestate` header and attributes; invalid ids are ignored.
    #[pyo3(signature = (trace_id, span_id, flags=0, trace_state=None, fields=None))]
    fn add_link(
        &self,
        trace_id: u128,
        span_id: u64,
        flags: u8,
        trace_state: Option<Text>,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let fields = convert::fields(fields)?;
        guard("Span.add_link", || {
            let state = trace_state.as_deref().unwrap_or("");
            if let Some(to) = tasker_telemetry::bridge::span_context(
                trace_id.to_be_bytes(),
                span_id.to_be_bytes(),
                flags,
                state,
                false,
            ) {
                self.inner.add_link(to, &fields);
            }
            Ok(())
        })
    }

    /// `(trace_id, span_id, trace_flags, tracestate)`, the ids as integers (0 when the span
    /// is not recorded), as the OpenTelemetry API's `SpanContext` takes them.
    #[getter]
    fn span_context(&self) -> (u128, u64, u8, String) {
        span_context_tuple(self.inner.span_context())
    }

    /// Whether the span is sampled for export.
    #[getter]
    fn is_sampled(&self) -> bool {
        self.inner.is_sampled()
    }

    /// Marks the span as no longer current anywhere (the Python side could not reset its
    /// contextvar): where a context still holds it, new spans attach to its parent instead.
    fn detach(&self) {
        self.inner.detach();
    }
}

/// `(trace_id, span_id, trace_flags, tracestate)` of a span context, the ids as integers.
pub fn span_context_tuple(cx: &opentelemetry::trace::SpanContext) -> (u128, u64, u8, String) {
    (
        u128::from_be_bytes(cx.trace_id().to_bytes()),
        u64::from_be_bytes(cx.span_id().to_bytes()),
        cx.trace_flags().to_u8(),
        cx.trace_state().header(),
    )
}

/// Starts a span at level index `level` under the Python side's `parent`; `kind` is the
/// OpenTelemetry API's `SpanKind` value (0 internal … 4 consumer).
#[pyfunction]
#[pyo3(signature = (name, level, target, fields=None, parent=None, correlation=None, kind=0))]
#[allow(clippy::too_many_arguments)]
pub fn start_span(
    name: Text,
    level: u8,
    target: Text,
    fields: Option<&Bound<'_, PyDict>>,
    parent: Option<ParentArg<'_>>,
    correlation: Option<Bound<'_, PyCorrelation>>,
    kind: u8,
) -> PyResult<Span> {
    let kind = SpanKind::from_index(kind).ok_or_else(|| {
        tracing_error(format!(
            "invalid span kind {kind}: expected 0 (internal) to 4 (consumer)"
        ))
    })?;
    let fields = convert::fields(fields)?;
    let (parent, correlation) = (
        parent_of(parent.as_ref()),
        correlation_of(correlation.as_ref()),
    );
    guard("span", || {
        let start = Start {
            name: &name,
            level: self::level(level)?,
            target: &target,
            fields: &fields,
            parent: parent.as_ref(),
            correlation: correlation.as_ref(),
        };
        let span = ForeignSpan::start_with_kind(start, kind);
        Ok(Span {
            inner: Arc::new(span),
        })
    })
}

/// Starts the `handler_execution` span of a step handler from its step context; returns the
/// span and the step's correlation.
#[pyfunction]
#[pyo3(signature = (handler_name, context=None, parent=None, correlation=None))]
pub fn start_handler_span(
    handler_name: Text,
    context: Option<&Bound<'_, PyDict>>,
    parent: Option<ParentArg<'_>>,
    correlation: Option<Bound<'_, PyCorrelation>>,
) -> PyResult<(Span, PyCorrelation)> {
    let context = convert::message(context)?;
    let (parent, correlation) = (
        parent_of(parent.as_ref()),
        correlation_of(correlation.as_ref()),
    );
    guard("handler_span", || {
        let (span, correlation) = ForeignSpan::handler(
            &handler_name,
            &context,
            parent.as_ref(),
            correlation.as_ref(),
        )
        .map_err(foreign_error)?;
        Ok((
            Span {
                inner: Arc::new(span),
            },
            PyCorrelation { inner: correlation },
        ))
    })
}

/// Emits a log event at level index `level` under `parent`; `exception` is `None` or
/// `(type, message, stacktrace)`; `console=False` exports it without printing it.
#[pyfunction]
#[pyo3(signature = (level, target, message, fields=None, parent=None, correlation=None, exception=None, console=true))]
#[allow(clippy::too_many_arguments)]
pub fn event(
    level: u8,
    target: Text,
    message: Text,
    fields: Option<&Bound<'_, PyDict>>,
    parent: Option<ParentArg<'_>>,
    correlation: Option<Bound<'_, PyCorrelation>>,
    exception: Option<(Text, Text, Text)>,
    console: bool,
) -> PyResult<()> {
    let fields = convert::fields(fields)?;
    let (parent, correlation) = (
        parent_of(parent.as_ref()),
        correlation_of(correlation.as_ref()),
    );
    guard("event", || {
        foreign::event(foreign::Event {
            level: self::level(level)?,
            target: &target,
            message: &message,
            fields: &fields,
            exception: exception.as_ref().map(|(kind, message, stack)| Exception {
                kind,
                message,
                stacktrace: Some(&**stack).filter(|s| !s.is_empty()),
            }),
            console,
            parent: parent.as_ref(),
            correlation: correlation.as_ref(),
        });
        Ok(())
    })
}
