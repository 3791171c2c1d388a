//! Test and bench hooks (not public API; built only with the `testing` feature, which the test
//! and bench scripts ask for): a Rust span that calls back into Python, an in-memory capture of
//! spans and console lines, the core's benchmark pipeline, and a no-op call.

use std::borrow::Cow;

use opentelemetry::trace::Status;
use opentelemetry::{KeyValue, Value};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use tasker_telemetry::testing::{capture, BenchPipeline, Capture};
use tasker_telemetry::{Correlation, TelemetryConfig};

use crate::context::{correlation_of, parent_of, ParentArg, PyCorrelation};
use crate::errors::{guard, tracing_error};

/// Calls `callback()` inside a Rust `tracing` span named `name` under the Python side's
/// `parent` (`tasker_telemetry::testing::in_rust_span`), inside a correlation scope when
/// `correlation_id` is given. Returns `(result, trace_id, span_id)` of the Rust span.
#[pyfunction]
#[pyo3(signature = (name, callback, correlation_id=None, parent=None, correlation=None))]
pub fn _testing_rust_span(
    name: &str,
    callback: Bound<'_, PyAny>,
    correlation_id: Option<&str>,
    parent: Option<ParentArg<'_>>,
    correlation: Option<Bound<'_, PyCorrelation>>,
) -> PyResult<(Py<PyAny>, Option<String>, Option<String>)> {
    let scope = correlation_id
        .map(|id| Correlation::from_parts(Some(id), None, None, None, None))
        .transpose()
        .map_err(tracing_error)?
        .map(Correlation::enter);
    let (parent, correlation) = (
        parent_of(parent.as_ref()),
        correlation_of(correlation.as_ref()),
    );
    let (result, trace_id, span_id) = tasker_telemetry::testing::in_rust_span(
        name,
        parent.as_ref(),
        correlation.as_ref(),
        || callback.call0(),
    );
    drop(scope);
    Ok((result?.unbind(), trace_id, span_id))
}

/// The production pipeline with spans kept in memory and console lines captured, active on the
/// threads that call `run`.
#[pyclass(frozen, module = "tasker_core._native")]
pub struct _TestingCapture {
    inner: Capture,
}

fn value<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::I64(i) => i.into_pyobject(py)?.into_any(),
        Value::F64(f) => f.into_pyobject(py)?.into_any(),
        other => other.to_string().into_pyobject(py)?.into_any(),
    })
}

fn attributes<'py>(py: Python<'py>, kvs: &[KeyValue]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for kv in kvs {
        d.set_item(kv.key.as_str(), value(py, &kv.value)?)?;
    }
    Ok(d)
}

#[pymethods]
impl _TestingCapture {
    /// A capture configured with the defaults plus `overrides` (dotted keys, string values).
    #[new]
    #[pyo3(signature = (overrides=Vec::new()))]
    fn new(overrides: Vec<(String, String)>) -> PyResult<Self> {
        let mut config = TelemetryConfig::default();
        config.set("logging.ansi", "false").map_err(tracing_error)?;
        for (k, v) in &overrides {
            config.set(k, v).map_err(tracing_error)?;
        }
        guard("capture", || {
            Ok(Self {
                inner: capture(&config),
            })
        })
    }

    /// Calls `callback()` with this capture as the thread's pipeline; returns its result.
    fn run(&self, callback: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.inner.run(|| callback.call0()).map(Bound::unbind)
    }

    /// Spans ended so far, as dicts: name, trace_id, span_id, parent_span_id (None for a root),
    /// status (`unset`/`ok`/`error`), status_message, attributes, events (name, attributes), kind
    /// (`internal`, `client`, ...), links (trace_id, span_id, attributes), end_time_ns.
    fn spans<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for s in self.inner.spans() {
            let d = PyDict::new(py);
            d.set_item("name", s.name.as_ref())?;
            d.set_item("trace_id", s.span_context.trace_id().to_string())?;
            d.set_item("span_id", s.span_context.span_id().to_string())?;
            let parent = (s.parent_span_id != opentelemetry::trace::SpanId::INVALID)
                .then(|| s.parent_span_id.to_string());
            d.set_item("parent_span_id", parent)?;
            let (status, message): (&str, Cow<'_, str>) = match &s.status {
                Status::Unset => ("unset", "".into()),
                Status::Ok => ("ok", "".into()),
                Status::Error { description } => ("error", description.clone()),
            };
            d.set_item("status", status)?;
            d.set_item("status_message", message.as_ref())?;
            d.set_item("attributes", attributes(py, &s.attributes)?)?;
            let events = PyList::empty(py);
            for e in s.events.iter() {
                let ed = PyDict::new(py);
                ed.set_item("name", e.name.as_ref())?;
                ed.set_item("attributes", attributes(py, &e.attributes)?)?;
                events.append(ed)?;
            }
            d.set_item("events", events)?;
            d.set_item("kind", format!("{:?}", s.span_kind).to_ascii_lowercase())?;
            let links = PyList::empty(py);
            for l in s.links.iter() {
                let ld = PyDict::new(py);
                ld.set_item("trace_id", l.span_context.trace_id().to_string())?;
                ld.set_item("span_id", l.span_context.span_id().to_string())?;
                ld.set_item("attributes", attributes(py, &l.attributes)?)?;
                links.append(ld)?;
            }
            d.set_item("links", links)?;
            let end_ns = s
                .end_time
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            d.set_item("end_time_ns", end_ns)?;
            out.append(d)?;
        }
        Ok(out)
    }

    /// Console lines written so far.
    fn lines(&self) -> Vec<String> {
        self.inner.lines()
    }
}

/// Bench helper: a call into the extension that does nothing (the physical floor of a crossing).
#[pyfunction]
pub fn _noop() {}

/// Bench helper: `n` dynamic spans with 3 fields started and ended in Rust (the Rust side of a
/// `with span(...)`, which does not enter the span on the thread; timed in this process).
#[pyfunction]
pub fn _bench_rust_spans(n: u64) {
    tasker_telemetry::testing::dynamic_spans(n, false)
}

/// Bench helper: the core's benchmark pipeline (JSON lines to /dev/null, batch export to an
/// exporter that discards, an SDK meter), active on the threads that call `run`.
#[pyclass(frozen, module = "tasker_core._native")]
pub struct _BenchPipeline {
    inner: BenchPipeline,
}

#[pymethods]
impl _BenchPipeline {
    #[new]
    fn new() -> PyResult<Self> {
        guard("bench pipeline", || {
            BenchPipeline::json()
                .map(|inner| Self { inner })
                .map_err(tracing_error)
        })
    }

    /// Calls `callback()` with this pipeline as the thread's subscriber; returns its result.
    fn run(&self, callback: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.inner.run(|| callback.call0()).map(Bound::unbind)
    }

    /// Waits until the spans ended so far have gone through the batch processor.
    fn flush(&self, py: Python<'_>) {
        py.detach(|| self.inner.flush());
    }
}

/// Adds the hooks to the native module.
pub fn define(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<_TestingCapture>()?;
    m.add_class::<_BenchPipeline>()?;
    m.add_function(wrap_pyfunction!(_testing_rust_span, m)?)?;
    m.add_function(wrap_pyfunction!(_noop, m)?)?;
    m.add_function(wrap_pyfunction!(_bench_rust_spans, m)?)?;
    Ok(())
}
