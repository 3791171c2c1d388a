//! Correlation and trace context as Python sees them: `Correlation` and `RemoteContext`
//! objects (kept by the Python side in contextvars), parents, `current`, `inject` and
//! `extract`. The parent rule itself is the core's (`tasker_telemetry::foreign::resolve`).

use std::collections::HashMap;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use tasker_telemetry::foreign::{self, ForeignParent};
use tasker_telemetry::propagation::{self, RemoteContext};
use tasker_telemetry::Correlation;

use crate::convert::{text_pairs, Text};
use crate::errors::{foreign_error, guard};
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
        let parts = [
            correlation_id,
            parent_correlation_id,
            task_uuid,
            step_uuid,
            namespace,
        ]
        .map(|p| p.map(|t| t.0));
        guard("correlation", || {
            foreign::correlation(parts)
                .map(|c| Self { inner: Arc::new(c) })
                .map_err(foreign_error)
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
    pub inner: Arc<RemoteContext>,
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

    /// `(trace_id, span_id, trace_flags, tracestate)`, the ids as integers (0 when invalid).
    #[getter]
    fn span_context(&self) -> (u128, u64, u8, String) {
        crate::span::span_context_tuple(&self.inner.span_context())
    }

    /// The correlation carried in baggage, if any.
    fn correlation(&self) -> Option<PyCorrelation> {
        self.inner
            .correlation()
            .map(|c| PyCorrelation { inner: c.clone() })
    }
}

/// The two contextvars the Python side keeps its current parent (a `Span` or a
/// `RemoteContext`) and correlation in, with their bound `get`/`set`/`reset` (taken once: a
/// method looked up per call would build a bound method each time). They live here so that
/// `tracing.Span` reads and sets them without a Python frame; `tasker_core._context` takes the
/// variables from the module.
pub struct ContextVars {
    /// `tasker_core.tracing.parent`.
    pub parent: Py<PyAny>,
    /// `tasker_core.tracing.correlation`.
    pub correlation: Py<PyAny>,
    pub get_parent: Py<PyAny>,
    pub set_parent: Py<PyAny>,
    pub reset_parent: Py<PyAny>,
    pub get_correlation: Py<PyAny>,
    pub set_correlation: Py<PyAny>,
    pub reset_correlation: Py<PyAny>,
}

static CONTEXT_VARS: PyOnceLock<ContextVars> = PyOnceLock::new();

/// The package's contextvars (created on first use, that is at module import).
pub fn context_vars(py: Python<'_>) -> PyResult<&'static ContextVars> {
    CONTEXT_VARS.get_or_try_init(py, || {
        let new = PyModule::import(py, "contextvars")?.getattr("ContextVar")?;
        let var = |name: &str| -> PyResult<Bound<'_, PyAny>> {
            let kwargs = PyDict::new(py);
            kwargs.set_item("default", py.None())?;
            new.call((name,), Some(&kwargs))
        };
        let parent = var("tasker_core.tracing.parent")?;
        let correlation = var("tasker_core.tracing.correlation")?;
        let method = |var: &Bound<'_, PyAny>, name: &str| var.getattr(name).map(Bound::unbind);
        Ok(ContextVars {
            get_parent: method(&parent, "get")?,
            set_parent: method(&parent, "set")?,
            reset_parent: method(&parent, "reset")?,
            get_correlation: method(&correlation, "get")?,
            set_correlation: method(&correlation, "set")?,
            reset_correlation: method(&correlation, "reset")?,
            parent: parent.unbind(),
            correlation: correlation.unbind(),
        })
    })
}

/// Takes `value` (what a `set` of the parent variable put there, returning `token`) out of the
/// current context: the variable is reset when `value` is still the innermost parent here;
/// otherwise (an out-of-order exit, say a generator closed inside another span, or a token of
/// another context) it is left alone and a span is detached: wherever a context still holds
/// it, new spans attach to its parent instead. `tracing.span`'s exit, `run_step` and the
/// OpenTelemetry bridge's `detach` all leave this way.
#[pyfunction]
pub fn leave(value: &Bound<'_, PyAny>, token: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = value.py();
    let vars = context_vars(py)?;
    let innermost = vars.get_parent.bind(py).call0()?.is(value);
    let restored = innermost
        && match vars.reset_parent.bind(py).call1((token,)) {
            Ok(_) => true,
            Err(e) => value_error_or(py, e).map(|()| false)?,
        };
    if !restored {
        if let Ok(span) = value.cast::<Span>() {
            span.get().inner.detach();
        }
    }
    Ok(())
}

/// `Ok` for the `ValueError` of a contextvar token used in another context; other errors stay.
pub fn value_error_or(py: Python<'_>, e: PyErr) -> PyResult<()> {
    if e.is_instance_of::<pyo3::exceptions::PyValueError>(py) {
        Ok(())
    } else {
        Err(e)
    }
}

/// Where a new span or event attaches, as the Python side passes it.
#[derive(FromPyObject)]
pub enum ParentArg<'py> {
    /// A span of the Python side.
    Span(Bound<'py, Span>),
    /// A context from `remote_context(headers)`.
    Remote(Bound<'py, PyRemoteContext>),
}

/// The Python side's current parent, as the core takes it.
pub fn parent_of(parent: Option<&ParentArg<'_>>) -> Option<ForeignParent> {
    match parent? {
        ParentArg::Span(span) => Some(ForeignParent::Span(span.get().inner.clone())),
        ParentArg::Remote(remote) => Some(ForeignParent::Remote(remote.get().inner.clone())),
    }
}

/// The correlation of a `Correlation` argument.
pub fn correlation_of(c: Option<&Bound<'_, PyCorrelation>>) -> Option<Arc<Correlation>> {
    c.map(|c| c.get().inner.clone())
}

/// W3C headers (`traceparent`, `tracestate`, `baggage`) for the given parent and correlation.
#[pyfunction]
#[pyo3(signature = (parent=None, correlation=None))]
pub fn inject(
    parent: Option<ParentArg<'_>>,
    correlation: Option<Bound<'_, PyCorrelation>>,
) -> PyResult<HashMap<String, String>> {
    let (parent, correlation) = (
        parent_of(parent.as_ref()),
        correlation_of(correlation.as_ref()),
    );
    guard("inject", || {
        Ok(foreign::inject(parent.as_ref(), correlation.as_ref()))
    })
}

/// Reads a remote context from headers (names case-insensitive; keys and values as `str()`;
/// invalid headers are ignored).
#[pyfunction]
pub fn extract(headers: &Bound<'_, PyDict>) -> PyResult<PyRemoteContext> {
    let headers = text_pairs(headers)?;
    guard("extract", || {
        let inner = propagation::extract(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Ok(PyRemoteContext {
            inner: Arc::new(inner),
        })
    })
}

/// What the OpenTelemetry API shows as the current span for the Python side's `parent` (the
/// core's parent rule: detached spans step aside, a Rust span that called into Python counts):
/// `parent` itself when it stands, another `Span` or `RemoteContext`, a span-context tuple for
/// a Rust span, or `None`.
#[pyfunction]
#[pyo3(signature = (parent=None))]
pub fn shown_parent(py: Python<'_>, parent: Option<ParentArg<'_>>) -> PyResult<Option<Py<PyAny>>> {
    let given = parent_of(parent.as_ref());
    let shown = guard("current_span", || Ok(foreign::shown(given.as_ref())))?;
    let same = |shown: &ForeignParent| match (shown, &given) {
        (ForeignParent::Span(a), Some(ForeignParent::Span(b))) => Arc::ptr_eq(a, b),
        (ForeignParent::Remote(a), Some(ForeignParent::Remote(b))) => Arc::ptr_eq(a, b),
        _ => false,
    };
    Ok(match shown {
        foreign::Shown::Language(p) if same(&p) => parent.map(|arg| match arg {
            ParentArg::Span(s) => s.into_any().unbind(),
            ParentArg::Remote(r) => r.into_any().unbind(),
        }),
        foreign::Shown::Language(ForeignParent::Span(inner)) => {
            Some(Py::new(py, Span { inner })?.into_any())
        }
        foreign::Shown::Language(ForeignParent::Remote(inner)) => {
            Some(Py::new(py, PyRemoteContext { inner })?.into_any())
        }
        foreign::Shown::Rust(cx) => Some(
            crate::span::span_context_tuple(&cx)
                .into_pyobject(py)?
                .into_any()
                .unbind(),
        ),
        foreign::Shown::Nothing => None,
    })
}

/// `(trace_id, span_id, correlation)` of the span a new span would get as its parent, each
/// `None` when absent.
#[pyfunction]
#[pyo3(signature = (parent=None, correlation=None))]
pub fn current(
    parent: Option<ParentArg<'_>>,
    correlation: Option<Bound<'_, PyCorrelation>>,
) -> PyResult<(Option<String>, Option<String>, Option<PyCorrelation>)> {
    let (parent, correlation) = (
        parent_of(parent.as_ref()),
        correlation_of(correlation.as_ref()),
    );
    guard("current", || {
        let now = foreign::current(parent.as_ref(), correlation.as_ref());
        Ok((
            now.trace_id,
            now.span_id,
            now.correlation.map(|inner| PyCorrelation { inner }),
        ))
    })
}
