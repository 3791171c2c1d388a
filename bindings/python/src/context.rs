//! Correlation and trace context as Python sees them: `Correlation` and `RemoteContext`
//! objects (kept by the Python side in contextvars), the choice of a parent, `inject` and
//! `extract`.

use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tasker_telemetry::dynamic::Parent;
use tasker_telemetry::propagation::{self, RemoteContext};
use tasker_telemetry::Correlation;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::convert::{text_pairs, Text};
use crate::errors::{guard, tracing_error};
use crate::span::Span;

/// A correlation: `correlation_id` plus the optional workflow ids.
#[pyclass(frozen, name = "Correlation", module = "tasker_core._native")]
pub struct PyCorrelation {
    pub inner: Arc<Correlation>,
}

fn opt(v: &Option<impl ToString>) -> Option<String> {
    v.as_ref().map(ToString::to_string)
}

#[pymethods]
impl PyCorrelation {
    /// Builds a correlation (UUIDv7 generated when `correlation_id` is missing); an id that is not
    /// a UUID raises `TracingError` naming the field.
    #[staticmethod]
    #[pyo3(signature = (correlation_id=None, parent_correlation_id=None, task_uuid=None, step_uuid=None, namespace=None))]
    fn from_parts(
        correlation_id: Option<Text>,
        parent_correlation_id: Option<Text>,
        task_uuid: Option<Text>,
        step_uuid: Option<Text>,
        namespace: Option<Text>,
    ) -> PyResult<Self> {
        guard("correlation", || {
            Correlation::from_parts(
                correlation_id.as_deref(),
                parent_correlation_id.as_deref(),
                task_uuid.as_deref(),
                step_uuid.as_deref(),
                namespace.as_deref(),
            )
            .map(|c| Self { inner: Arc::new(c) })
            .map_err(tracing_error)
        })
    }

    /// The correlation id (a UUID string).
    #[getter]
    fn correlation_id(&self) -> String {
        self.inner.correlation_id.to_string()
    }

    /// The parent correlation id, if any.
    #[getter]
    fn parent_correlation_id(&self) -> Option<String> {
        opt(&self.inner.parent_correlation_id)
    }

    /// The task UUID, if any.
    #[getter]
    fn task_uuid(&self) -> Option<String> {
        opt(&self.inner.task_uuid)
    }

    /// The step UUID, if any.
    #[getter]
    fn step_uuid(&self) -> Option<String> {
        opt(&self.inner.step_uuid)
    }

    /// The namespace, if any.
    #[getter]
    fn namespace(&self) -> Option<String> {
        self.inner.namespace.clone()
    }

    /// The fields that are set, as a dict (`correlation_id` first).
    fn to_dict(&self) -> HashMap<&'static str, String> {
        self.inner.pairs().into_iter().collect()
    }

    fn __repr__(&self) -> String {
        format!("Correlation({})", self.inner.correlation_id)
    }
}

/// A trace context received from another process (W3C `traceparent`, `tracestate`, `baggage`).
#[pyclass(frozen, name = "RemoteContext", module = "tasker_core._native")]
pub struct PyRemoteContext {
    pub inner: RemoteContext,
}

#[pymethods]
impl PyRemoteContext {
    /// Whether the headers held a valid trace context.
    #[getter]
    fn is_valid(&self) -> bool {
        self.inner.is_valid()
    }

    /// The remote trace id (32 hex digits), if valid.
    #[getter]
    fn trace_id(&self) -> Option<String> {
        self.inner.trace_id()
    }

    /// The remote parent span id (16 hex digits), if valid.
    #[getter]
    fn span_id(&self) -> Option<String> {
        self.inner.span_id()
    }

    /// The correlation carried in baggage, if any.
    fn correlation(&self) -> Option<PyCorrelation> {
        self.inner
            .correlation()
            .map(|c| PyCorrelation { inner: c.clone() })
    }
}

/// Where a new span or event attaches, as the Python side passes it.
#[derive(FromPyObject)]
pub enum ParentArg<'py> {
    /// A span of the Python-side stack.
    Span(Bound<'py, Span>),
    /// A context from `remote_context(headers)`.
    Remote(Bound<'py, PyRemoteContext>),
}

/// The parent a new span or event actually gets.
enum Resolved<'a, 'py> {
    Span(&'a Bound<'py, Span>),
    Remote(&'a RemoteContext),
    Current,
    Root,
}

/// Resolves `parent`: the given span (unless Rust code called from inside it called back into
/// Python: then the Rust span current on the thread) or remote context. With no parent, the
/// span current on this thread (a Rust span calling into Python), unless that is a Python span
/// entered by another context (an interleaved asyncio task): then none.
fn resolve<'a, 'py>(parent: Option<&'a ParentArg<'py>>) -> Resolved<'a, 'py> {
    match parent {
        Some(ParentArg::Span(span)) if span.get().rust_span_on_top() => Resolved::Current,
        Some(ParentArg::Span(span)) => Resolved::Span(span),
        Some(ParentArg::Remote(remote)) => Resolved::Remote(&remote.get().inner),
        None if crate::span::python_span_current() => Resolved::Root,
        None => Resolved::Current,
    }
}

/// Calls `f` with the core's parent for `parent` (see [`resolve`]).
pub fn with_parent<R>(parent: Option<&ParentArg<'_>>, f: impl FnOnce(Parent<'_>) -> R) -> R {
    match resolve(parent) {
        Resolved::Span(span) => span.get().with_parent(f),
        Resolved::Remote(remote) => f(Parent::Remote(remote)),
        Resolved::Current => f(Parent::Current),
        Resolved::Root => f(Parent::Root),
    }
}

/// The correlation of a `Correlation` argument.
pub fn correlation_arg(c: Option<&Bound<'_, PyCorrelation>>) -> Option<Arc<Correlation>> {
    c.map(|c| c.get().inner.clone())
}

/// The OpenTelemetry context a parent stands for, with `correlation` placed in it when given.
fn parent_context(
    parent: Option<&ParentArg<'_>>,
    correlation: Option<Arc<Correlation>>,
) -> Context {
    let cx = match resolve(parent) {
        Resolved::Span(span) => span.get().context(),
        Resolved::Remote(remote) => remote.context().clone(),
        Resolved::Current => thread_context_of_current_span(),
        Resolved::Root => Context::new(),
    };
    match correlation {
        Some(c) => (*c).clone().into_context(&cx),
        None => cx,
    }
}

/// The context of the Rust span current on this thread (or the attached context).
fn thread_context_of_current_span() -> Context {
    let cx = tracing::Span::current().context();
    if cx.span().span_context().is_valid() {
        cx
    } else {
        Context::current()
    }
}

/// W3C headers (`traceparent`, `tracestate`, `baggage`) for the given parent and correlation.
#[pyfunction]
#[pyo3(signature = (parent=None, correlation=None))]
pub fn inject(
    parent: Option<ParentArg<'_>>,
    correlation: Option<Bound<'_, PyCorrelation>>,
) -> PyResult<HashMap<String, String>> {
    guard("inject", || {
        let cx = parent_context(parent.as_ref(), correlation_arg(correlation.as_ref()));
        Ok(propagation::inject_context(&cx))
    })
}

/// Reads a remote context from headers (names case-insensitive; keys and values as `str()`;
/// invalid headers are ignored).
#[pyfunction]
pub fn extract(headers: &Bound<'_, PyDict>) -> PyResult<PyRemoteContext> {
    let headers = text_pairs(headers);
    guard("extract", || {
        let inner = propagation::extract(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Ok(PyRemoteContext { inner })
    })
}

/// `(trace_id, span_id, correlation)` of the span a new span would get as its parent (see
/// [`resolve`]), each `None` when absent; `correlation` wins over the parent's.
#[pyfunction]
#[pyo3(signature = (parent=None, correlation=None))]
pub fn current(
    parent: Option<ParentArg<'_>>,
    correlation: Option<Bound<'_, PyCorrelation>>,
) -> PyResult<(Option<String>, Option<String>, Option<PyCorrelation>)> {
    guard("current", || {
        let thread_scope = matches!(resolve(parent.as_ref()), Resolved::Current);
        let cx = parent_context(parent.as_ref(), correlation_arg(correlation.as_ref()));
        let sc = cx.span().span_context().clone();
        let (trace_id, span_id) = if sc.is_valid() {
            (
                Some(sc.trace_id().to_string()),
                Some(sc.span_id().to_string()),
            )
        } else {
            (None, None)
        };
        let correlation = Correlation::from_context(&cx)
            .or_else(|| thread_scope.then(Correlation::current).flatten())
            .map(|inner| PyCorrelation { inner });
        Ok((trace_id, span_id, correlation))
    })
}
