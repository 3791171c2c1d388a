//! Spans and events started from Python: the `Span` object, `SpanScope` (the `with` protocol
//! of `tracing.span`), `start_span`, `start_handler_span` and `event`.

use std::sync::Arc;

use pyo3::exceptions::{PyBaseException, PyGeneratorExit};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};
use pyo3::{PyTraverseError, PyVisit};
use tasker_telemetry::bridge::SpanKind;
use tasker_telemetry::fields::Exception;
use tasker_telemetry::foreign::{self, ForeignSpan, Start};
use tracing::Level;

use crate::context::{
    context_vars, correlation_of, leave, parent_of, value_error_or, ParentArg, PyCorrelation,
};
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

/// A span. `with tracing.span(name, **fields) as span:` starts it (under the current span,
/// remote context or Rust span), makes it current, and ends it on exit. An exception raised in
/// the block is recorded (`exception.type`, `exception.message`, `exception.stacktrace`), sets
/// the error status, and propagates unchanged. A `Span` is entered once; one from `start_span`
/// is already started (end it with `end()`).
///
/// Native, so that no Python frame runs per span: `__enter__` starts the span under the parent
/// and correlation in the package's contextvars and makes it the current parent; `__exit__`
/// records an exception leaving the block (not `GeneratorExit`), restores the contextvars (or
/// detaches the span when they cannot be restored: an out-of-order exit, or another context)
/// and ends the span. `tracing.Span`, exposed as `_native.SpanScope` (`_native.Span` is the
/// started span it holds).
#[pyclass(subclass, name = "Span", module = "tasker_core.tracing")]
pub struct SpanScope {
    name: Py<PyAny>,
    level: u8,
    target: Py<PyAny>,
    fields: Option<Py<PyDict>>,
    /// A step handler's `handler_execution` span (fields are the step context).
    handler: bool,
    native: Option<Py<Span>>,
    /// The contextvars' tokens (parent, correlation) while the block runs.
    tokens: Option<(Py<PyAny>, Option<Py<PyAny>>)>,
}

impl SpanScope {
    /// The started span (taken under a short borrow), or the error of a span used before its
    /// `with` block.
    fn running_of(slf: &Bound<'_, Self>) -> PyResult<Py<Span>> {
        let (native, name) = Self::native_and_name(slf);
        native.ok_or_else(|| {
            Self::named_error(slf.py(), &name, "has not started: use it in a `with` block")
        })
    }

    /// The started span and the name, copied under a short borrow (no Python code runs while
    /// the object is borrowed, so no other use of it can find it borrowed).
    fn native_and_name(slf: &Bound<'_, Self>) -> (Option<Py<Span>>, Py<PyAny>) {
        let py = slf.py();
        let scope = slf.borrow();
        (
            scope.native.as_ref().map(|n| n.clone_ref(py)),
            scope.name.clone_ref(py),
        )
    }

    /// `TracingError("span <repr of name> <what>")`.
    fn named_error(py: Python<'_>, name: &Py<PyAny>, what: &str) -> PyErr {
        match name.bind(py).repr() {
            Ok(repr) => tracing_error(format!("span {repr} {what}")),
            Err(e) => e,
        }
    }

    /// The started span's value of `f`, `None` before it starts.
    fn started<T>(&self, f: impl FnOnce(&Span) -> Option<T>) -> Option<T> {
        self.native.as_ref().and_then(|n| f(n.get()))
    }
}

#[pymethods]
impl SpanScope {
    #[new]
    #[pyo3(signature = (name, level, target, fields=None, handler=false))]
    fn new(
        name: Py<PyAny>,
        level: u8,
        target: Py<PyAny>,
        fields: Option<Py<PyDict>>,
        handler: bool,
    ) -> Self {
        SpanScope {
            name,
            level,
            target,
            fields,
            handler,
            native: None,
            tokens: None,
        }
    }

    /// The name the span starts with.
    #[getter]
    fn name(&self, py: Python<'_>) -> Py<PyAny> {
        self.name.clone_ref(py)
    }

    /// The native span once started, else `None`.
    #[getter(_native)]
    fn native(&self, py: Python<'_>) -> Option<Py<Span>> {
        self.native.as_ref().map(|n| n.clone_ref(py))
    }

    #[setter(_native)]
    fn set_native(&mut self, native: Option<Py<Span>>) {
        self.native = native;
    }

    /// Starts the native span under the contextvars' parent and correlation (not made
    /// current): `(span, correlation)`, the correlation a handler span brings or `None`.
    fn _start(slf: &Bound<'_, Self>) -> PyResult<(Py<Span>, Option<Py<PyCorrelation>>)> {
        let py = slf.py();
        // What the span starts with, copied under a short borrow: converting the fields and the
        // name may run Python code (`__str__`), which may switch threads or touch this span.
        let (name, level, target, fields, handler) = {
            let scope = slf.borrow();
            (
                scope.name.clone_ref(py),
                scope.level,
                scope.target.clone_ref(py),
                scope.fields.as_ref().map(|f| f.clone_ref(py)),
                scope.handler,
            )
        };
        let vars = context_vars(py)?;
        let parent = vars.get_parent.bind(py).call0()?;
        let parent: Option<ParentArg<'_>> = parent.extract()?;
        let correlation = vars.get_correlation.bind(py).call0()?;
        let correlation: Option<Bound<'_, PyCorrelation>> = correlation.extract()?;
        let fields = fields.as_ref().map(|f| f.bind(py));
        if handler {
            let (span, correlation) =
                start_handler_span(name.bind(py).extract()?, fields, parent, correlation)?;
            return Ok((Py::new(py, span)?, Some(Py::new(py, correlation)?)));
        }
        let span = start_span(
            name.bind(py).extract()?,
            level,
            target.bind(py).extract()?,
            fields,
            parent,
            correlation,
            0,
        )?;
        Ok((Py::new(py, span)?, None))
    }

    fn __enter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
        let py = slf.py();
        let unstarted = || -> PyResult<()> {
            match Self::native_and_name(slf) {
                (Some(_), name) => Err(Self::named_error(
                    py,
                    &name,
                    "was already entered; create a new span",
                )),
                (None, _) => Ok(()),
            }
        };
        unstarted()?;
        let (native, correlation) = Self::_start(slf)?;
        // Entered meanwhile (by code the start ran, or another thread): that entry stands.
        unstarted()?;
        let vars = context_vars(py)?;
        let parent_token = vars.set_parent.bind(py).call1((native.clone_ref(py),))?;
        let correlation_token = match correlation {
            Some(c) => Some(vars.set_correlation.bind(py).call1((c,))?.unbind()),
            None => None,
        };
        let mut scope = slf.borrow_mut();
        scope.native = Some(native);
        scope.tokens = Some((parent_token.unbind(), correlation_token));
        drop(scope);
        Ok(slf.clone())
    }

    #[pyo3(signature = (exc_type=None, exc=None, tb=None))]
    fn __exit__(
        slf: &Bound<'_, Self>,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc: Option<&Bound<'_, PyAny>>,
        tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let _ = (exc_type, tb); // the exception value says it all
        let py = slf.py();
        let (native, tokens) = {
            let mut scope = slf.borrow_mut();
            let tokens = scope.tokens.take();
            match (scope.native.as_ref(), tokens) {
                (Some(native), Some(tokens)) => (native.clone_ref(py), tokens),
                _ => return Ok(()),
            }
        };
        let recorded = match exc {
            Some(e) if !e.is_instance_of::<PyGeneratorExit>() => {
                record_exception_on(native.get(), e)
            }
            _ => Ok(()),
        };
        let vars = context_vars(py)?;
        if let Some(token) = tokens.1 {
            // A token of another context cannot be used: the variable stays as it is there.
            if let Err(e) = vars.reset_correlation.bind(py).call1((token,)) {
                value_error_or(py, e)?;
            }
        }
        leave(native.bind(py).as_any(), tokens.0.bind(py))?;
        native.get().end(None)?;
        recorded
    }

    /// The trace id (32 hex digits); `None` before the span starts or when not recorded.
    #[getter]
    fn trace_id(&self) -> Option<String> {
        self.started(Span::trace_id)
    }

    /// The span id (16 hex digits); `None` before the span starts or when not recorded.
    #[getter]
    fn span_id(&self) -> Option<String> {
        self.started(Span::span_id)
    }

    /// Whether any output records this span (its level passes a filter).
    #[getter]
    fn is_recording(&self) -> bool {
        self.started(|n| Some(n.is_recording())).unwrap_or(false)
    }

    // The methods below take the started span under a short borrow and convert their arguments
    // without one: a conversion may run Python code (`__str__`), which may switch threads, and
    // another thread ending the same span must not find it borrowed.

    /// Sets attribute `key` (a dict value becomes dotted keys, as for fields).
    fn set(slf: &Bound<'_, Self>, key: Text, value: &Bound<'_, PyAny>) -> PyResult<()> {
        Self::running_of(slf)?.get().set(key, value)
    }

    /// `span[key] = value`: same as `set`.
    fn __setitem__(slf: &Bound<'_, Self>, key: Text, value: &Bound<'_, PyAny>) -> PyResult<()> {
        Self::set(slf, key, value)
    }

    /// Adds a span event with fields (exported with the span).
    #[pyo3(signature = (name, **fields))]
    fn add_event(
        slf: &Bound<'_, Self>,
        name: Text,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        Self::running_of(slf)?.get().add_event(name, fields)
    }

    /// Records `exc` on the span (`exception.*` attributes and event) and sets the error
    /// status. Done automatically for an exception leaving the `with` block. `TracingError`
    /// when `exc` is not an exception.
    fn record_exception(slf: &Bound<'_, Self>, exc: &Bound<'_, PyAny>) -> PyResult<()> {
        if !exc.is_instance_of::<PyBaseException>() {
            return Err(tracing_error(format!(
                "record_exception expects an exception, got {}",
                exc.get_type().qualname()?
            )));
        }
        record_exception_on(Self::running_of(slf)?.get(), exc)
    }

    /// Sets the error status with a description.
    fn set_error(slf: &Bound<'_, Self>, description: Text) -> PyResult<()> {
        Self::running_of(slf)?.get().set_error(description)
    }

    /// Ends a span from `start_span` (idempotent; `with` blocks end theirs).
    fn end(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::running_of(slf)?.get().end(None)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.name)?;
        visit.call(&self.target)?;
        visit.call(&self.fields)?;
        visit.call(&self.native)?;
        if let Some((parent, correlation)) = &self.tokens {
            visit.call(parent)?;
            visit.call(correlation)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        // The name stays (for `repr`); what may hold a cycle goes.
        self.fields = None;
        self.tokens = None;
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let (native, name) = Self::native_and_name(slf);
        let span_id = native.and_then(|n| n.get().span_id());
        Ok(format!(
            "<tracing.Span {} span_id={}>",
            name.bind(slf.py()).repr()?,
            span_id.as_deref().unwrap_or("None")
        ))
    }
}

/// Records a Python exception on `span`; its parts (qualified type, message, formatted
/// traceback) are read by the package's `exception_parts`.
fn record_exception_on(span: &Span, exc: &Bound<'_, PyAny>) -> PyResult<()> {
    static PARTS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let parts = PARTS.import(exc.py(), "tasker_core._util", "exception_parts")?;
    let (kind, message, stacktrace): (Text, Text, Option<Text>) = parts.call1((exc,))?.extract()?;
    span.record_exception(kind, message, stacktrace)
}

/// `tracing.span(name, level="info", **fields)`: a span whose target (used by filters) is the
/// calling module. Raises `TracingError` for an unknown level.
#[pyfunction]
#[pyo3(signature = (name, level=LevelArg(INFO), **fields))]
pub fn span(
    py: Python<'_>,
    name: Py<PyAny>,
    level: LevelArg,
    fields: Option<Bound<'_, PyDict>>,
) -> PyResult<SpanScope> {
    Ok(SpanScope::new(
        name,
        level.0,
        caller_module(py),
        fields.map(Bound::unbind),
        false,
    ))
}

/// Level index 2, `info`.
const INFO: u8 = 2;

/// A level argument: a name (any case) or a `logging` level number, as its index.
pub struct LevelArg(u8);

impl<'a, 'py> FromPyObject<'a, 'py> for LevelArg {
    type Error = PyErr;

    fn extract(obj: pyo3::Borrowed<'a, 'py, PyAny>) -> Result<Self, Self::Error> {
        level_index_of(&obj).map(LevelArg)
    }
}

/// The level index of a name (any case) or a `logging` level number; the package's
/// `level_index` answers (and words the error) for anything but a known name.
fn level_index_of(level: &Bound<'_, PyAny>) -> PyResult<u8> {
    if let Some(name) = level.cast::<PyString>().ok().and_then(|s| s.to_str().ok()) {
        if let Some(index) = tasker_telemetry::level::index_of(name) {
            return Ok(index);
        }
    }
    static LEVEL_INDEX: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    LEVEL_INDEX
        .import(level.py(), "tasker_core._events", "level_index")?
        .call1((level,))?
        .extract()
}

/// `__name__` of the calling Python code's module (`""` when there is none).
fn caller_module(py: Python<'_>) -> Py<PyAny> {
    // SAFETY: called with the GIL held (`py`); the result is a borrowed reference to the
    // globals of the executing frame, or NULL when no Python frame runs.
    let globals = unsafe { pyo3::ffi::PyEval_GetGlobals() };
    let name = if globals.is_null() {
        None
    } else {
        // SAFETY: `globals` is a live dict borrowed from the frame for this call.
        let globals = unsafe { Bound::from_borrowed_ptr(py, globals) };
        globals
            .cast::<PyDict>()
            .ok()
            .and_then(|g| g.get_item(intern!(py, "__name__")).ok().flatten())
            .filter(|n| n.is_instance_of::<PyString>())
    };
    name.map_or_else(|| PyString::new(py, "").into_any().unbind(), Bound::unbind)
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
