//! Spans and events started from Python: the `Span` object, `start_span`,
//! `start_handler_span` and `event`.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard};

use opentelemetry::Context;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tasker_telemetry::dynamic::{self, DynSpan, EventArgs, Parent, SpanStart};
use tasker_telemetry::handler::start_handler_span as core_handler_span;
use tasker_telemetry::propagation;
use tracing::Level;

use crate::context::{correlation_arg, with_parent, ParentArg, PyCorrelation};
use crate::convert::{self, Text};
use crate::errors::{guard, tracing_error, TracingError};

/// The core's level for an index 0 (trace) … 4 (error), as `level_index` returns.
pub fn level(index: u8) -> PyResult<Level> {
    tasker_telemetry::level::level_from_index(index)
        .map_err(|e| TracingError::new_err(e.to_string()))
}

enum State {
    /// Running: the span itself.
    Open(DynSpan),
    /// Ended: its context, for children started later (a copied contextvars context).
    Ended(Context),
}

thread_local! {
    /// Python spans entered (`Span.enter`) on this thread, innermost last.
    static ENTERED: RefCell<Vec<tracing::Id>> = const { RefCell::new(Vec::new()) };
}

/// Whether the span current on this thread is a Python span (entered with `Span.enter`).
pub fn python_span_current() -> bool {
    tracing::Span::current()
        .id()
        .is_some_and(|current| ENTERED.with(|entered| entered.borrow().contains(&current)))
}

/// A span started from Python. Ends on `end()`, or when collected.
#[pyclass(frozen, module = "tasker_core._native")]
pub struct Span {
    state: Mutex<State>,
}

impl Span {
    /// Wraps a started span; with `enter`, also makes it current on this thread (one crossing
    /// instead of two for `with span(...)`).
    fn new(span: DynSpan, enter: bool) -> Self {
        if enter {
            enter_span(&span);
        }
        Span {
            state: Mutex::new(State::Open(span)),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the span while it is open (a no-op once ended).
    fn with_open(&self, f: impl FnOnce(&DynSpan)) {
        if let State::Open(span) = &*self.state() {
            f(span)
        }
    }

    /// Whether a Rust span was entered on this thread after this span: Rust code called from
    /// inside this span called back into Python, so new spans belong under that Rust span. (A
    /// Python span of another asyncio task entered meanwhile does not count.)
    pub fn rust_span_on_top(&self) -> bool {
        let State::Open(span) = &*self.state() else {
            return false;
        };
        let (Some(own), Some(current)) = (span.span().id(), tracing::Span::current().id()) else {
            return false;
        };
        current != own
            && ENTERED.with(|entered| {
                let entered = entered.borrow();
                entered.contains(&own) && !entered.contains(&current)
            })
    }

    /// Calls `f` with this span as the parent (its context once it has ended).
    pub fn with_parent<R>(&self, f: impl FnOnce(Parent<'_>) -> R) -> R {
        let state = self.state();
        match &*state {
            State::Open(span) => f(Parent::Span(span)),
            State::Ended(cx) => {
                let cx = cx.clone();
                drop(state);
                let remote = propagation::extract_map(&propagation::inject_context(&cx));
                f(Parent::Remote(&remote))
            }
        }
    }

    /// The span's OpenTelemetry context.
    pub fn context(&self) -> Context {
        match &*self.state() {
            State::Open(span) => span.context().clone(),
            State::Ended(cx) => cx.clone(),
        }
    }
}

#[pymethods]
impl Span {
    /// Trace id (32 hex digits), or `None` when the span is not recorded.
    #[getter]
    fn trace_id(&self) -> Option<String> {
        propagation::ids(&self.context()).map(|(t, _)| t)
    }

    /// Span id (16 hex digits), or `None` when the span is not recorded.
    #[getter]
    fn span_id(&self) -> Option<String> {
        propagation::ids(&self.context()).map(|(_, s)| s)
    }

    /// Whether any output (console or export) records this span.
    #[getter]
    fn is_recording(&self) -> bool {
        matches!(&*self.state(), State::Open(s) if !s.is_disabled())
    }

    /// Sets an attribute (a dict value sets one attribute per flattened key).
    fn set(&self, key: Text, value: &Bound<'_, PyAny>) -> PyResult<()> {
        guard("Span.set", || {
            let fields = convert::field(&key, value);
            self.with_open(|span| {
                for (k, v) in fields.iter() {
                    span.set(k, v);
                }
            });
            Ok(())
        })
    }

    /// Adds a span event with fields.
    #[pyo3(signature = (name, fields=None))]
    fn add_event(&self, name: Text, fields: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        guard("Span.add_event", || {
            let fields = convert::fields(fields);
            self.with_open(|span| span.add_event(&name, &fields));
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
            self.with_open(|span| span.record_exception(&kind, &message, stacktrace.as_deref()));
            Ok(())
        })
    }

    /// Sets error status with a description.
    fn set_error(&self, description: Text) -> PyResult<()> {
        guard("Span.set_error", || {
            self.with_open(|span| span.set_error(&description));
            Ok(())
        })
    }

    /// Makes the span current on this thread (Rust code called meanwhile nests under it); pair
    /// with `exit()` on the same thread.
    fn enter(&self) -> PyResult<()> {
        guard("Span.enter", || {
            self.with_open(enter_span);
            Ok(())
        })
    }

    /// Undoes `enter()`.
    fn exit(&self) -> PyResult<()> {
        guard("Span.exit", || {
            self.with_open(exit_span);
            Ok(())
        })
    }

    /// Ends the span (idempotent); with `exit`, first undoes `enter()` (one crossing instead of
    /// two at the end of `with span(...)`).
    #[pyo3(signature = (exit=false))]
    fn end(&self, exit: bool) -> PyResult<()> {
        guard("Span.end", || {
            let mut state = self.state();
            if let State::Open(span) = &*state {
                if exit {
                    exit_span(span);
                }
                let cx = span.context().clone();
                // Dropping the running span ends it.
                *state = State::Ended(cx);
            }
            Ok(())
        })
    }
}

fn enter_span(span: &DynSpan) {
    span.enter_raw();
    if let Some(id) = span.span().id() {
        ENTERED.with(|entered| entered.borrow_mut().push(id));
    }
}

fn exit_span(span: &DynSpan) {
    if let Some(id) = span.span().id() {
        ENTERED.with(|entered| {
            let mut entered = entered.borrow_mut();
            if let Some(i) = entered.iter().rposition(|e| *e == id) {
                entered.remove(i);
            }
        });
    }
    span.exit_raw();
}

/// Starts a span at level index `level` under `parent` (see `with_parent`).
/// With `enter`, the span is also made current on this thread (as `Span.enter`).
#[pyfunction]
#[pyo3(signature = (name, level, target, fields=None, parent=None, correlation=None, enter=false))]
#[allow(clippy::too_many_arguments)]
pub fn start_span(
    name: Text,
    level: u8,
    target: Text,
    fields: Option<&Bound<'_, PyDict>>,
    parent: Option<ParentArg<'_>>,
    correlation: Option<Bound<'_, PyCorrelation>>,
    enter: bool,
) -> PyResult<Span> {
    guard("span", || {
        let level = self::level(level)?;
        let fields = convert::fields(fields);
        let correlation = correlation_arg(correlation.as_ref());
        let span = with_parent(parent.as_ref(), |parent| {
            DynSpan::start(SpanStart {
                name: &name,
                level,
                target: &target,
                fields: &fields,
                parent,
                correlation: correlation.as_ref(),
            })
        });
        Ok(Span::new(span, enter))
    })
}

/// Starts the `handler_execution` span of a step handler from its step context; returns the
/// span and the step's correlation (with `enter`, the span is also made current on this thread).
#[pyfunction]
#[pyo3(signature = (handler_name, context=None, parent=None, correlation=None, enter=false))]
pub fn start_handler_span(
    handler_name: Text,
    context: Option<&Bound<'_, PyDict>>,
    parent: Option<ParentArg<'_>>,
    correlation: Option<Bound<'_, PyCorrelation>>,
    enter: bool,
) -> PyResult<(Span, PyCorrelation)> {
    guard("handler_span", || {
        let context = convert::fields(context);
        let inherited = correlation_arg(correlation.as_ref());
        let started = with_parent(parent.as_ref(), |parent| {
            core_handler_span(&handler_name, &context, parent, inherited.as_ref())
        })
        .map_err(tracing_error)?;
        Ok((
            Span::new(started.span, enter),
            PyCorrelation {
                inner: started.correlation,
            },
        ))
    })
}

/// Emits a log event at level index `level`, attached to `parent`.
#[pyfunction]
#[pyo3(signature = (level, target, message, fields=None, parent=None, correlation=None))]
#[allow(clippy::too_many_arguments)]
pub fn event(
    level: u8,
    target: Text,
    message: Text,
    fields: Option<&Bound<'_, PyDict>>,
    parent: Option<ParentArg<'_>>,
    correlation: Option<Bound<'_, PyCorrelation>>,
) -> PyResult<()> {
    guard("event", || {
        let level = self::level(level)?;
        let fields = convert::fields(fields);
        let correlation: Option<Arc<_>> = correlation_arg(correlation.as_ref());
        with_parent(parent.as_ref(), |parent| {
            dynamic::event(EventArgs {
                level,
                target: &target,
                message: &message,
                fields: &fields,
                parent,
                correlation: correlation.as_ref(),
            })
        });
        Ok(())
    })
}
