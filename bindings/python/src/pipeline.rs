//! Life cycle (console logging at import, `init`, `flush`, `shutdown`, fork hooks), levels,
//! metrics and lifecycle events.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tasker_telemetry::config::ProcessEnv;
use tasker_telemetry::lifecycle::LifecycleEvent;
use tasker_telemetry::metrics::{self, InstrumentKind};
use tasker_telemetry::{TelemetryConfig, TelemetryGuard};

use crate::context::{correlation_arg, with_parent, ParentArg, PyCorrelation};
use crate::convert::{self, Text};
use crate::errors::{guard, tracing_error, TracingError};

/// The guard of `init()`, kept until `shutdown()`.
static GUARD: Mutex<Option<TelemetryGuard>> = Mutex::new(None);

fn duration(timeout: f64) -> PyResult<Duration> {
    tasker_telemetry::timeout_from_secs(timeout).map_err(tracing_error)
}

/// Installs console logging from the environment (`TASKER_CONFIG`, `TASKER_LOG_*`, …), as done
/// at import. Returns a warning when that configuration is invalid (the defaults are used then).
#[pyfunction]
pub fn init_logging() -> PyResult<Option<String>> {
    guard("init_logging", || {
        let (config, warning) = match TelemetryConfig::load() {
            Ok(c) => (c, None),
            Err(e) => (TelemetryConfig::default(), Some(e.to_string())),
        };
        tasker_telemetry::init_logging(&config).map_err(tracing_error)?;
        Ok(warning)
    })
}

/// Loads the configuration (`config_path` or `TASKER_CONFIG`, the `TASKER_ENV` overlay,
/// environment variables), applies `overrides` (dotted keys, string values) and starts
/// telemetry with export. Raises `TracingError` on an invalid configuration or a second call.
#[pyfunction]
#[pyo3(signature = (config_path=None, overrides=Vec::new()))]
pub fn init(
    py: Python<'_>,
    config_path: Option<PathBuf>,
    overrides: Vec<(Text, Text)>,
) -> PyResult<()> {
    // A PathBuf keeps a path that is not UTF-8 (os.fsdecode's surrogate escapes) as it was.
    guard("init", || {
        let mut config = TelemetryConfig::load_from(config_path.as_deref(), &ProcessEnv)
            .map_err(tracing_error)?;
        for (key, value) in &overrides {
            config.set(&key.0, &value.0).map_err(tracing_error)?;
        }
        let started = py.detach(|| tasker_telemetry::init(config));
        let new_guard = started.map_err(tracing_error)?;
        *GUARD.lock().unwrap_or_else(|e| e.into_inner()) = Some(new_guard);
        Ok(())
    })
}

/// Whether `init()` has run (and `shutdown()` has not).
#[pyfunction]
pub fn is_initialized() -> bool {
    tasker_telemetry::is_initialized()
}

/// Exports everything buffered (waiting at most `timeout` seconds, without holding the GIL).
#[pyfunction]
pub fn flush(py: Python<'_>, timeout: f64) -> PyResult<()> {
    guard("flush", || {
        let timeout = duration(timeout)?;
        py.detach(|| tasker_telemetry::flush(timeout))
            .map_err(tracing_error)
    })
}

/// Flushes and stops export (at most `timeout` seconds, without holding the GIL). Idempotent.
#[pyfunction]
pub fn shutdown(py: Python<'_>, timeout: f64) -> PyResult<()> {
    guard("shutdown", || {
        let timeout = duration(timeout)?;
        let held = GUARD.lock().unwrap_or_else(|e| e.into_inner()).take();
        py.detach(|| match held {
            Some(g) => g.shutdown(timeout),
            None => tasker_telemetry::shutdown(timeout),
        })
        .map_err(tracing_error)
    })
}

/// The configured wait for delivery at exit (`telemetry.otlp.shutdown_timeout_ms`), in seconds:
/// the `atexit` flush waits no longer.
#[pyfunction]
pub fn shutdown_timeout() -> f64 {
    tasker_telemetry::shutdown_timeout().as_secs_f64()
}

/// `os.register_at_fork(before=...)`: exports what is queued before the process forks.
#[pyfunction]
pub fn before_fork(py: Python<'_>) -> PyResult<()> {
    guard("before_fork", || {
        py.detach(tasker_telemetry::pipeline::before_fork);
        Ok(())
    })
}

/// `os.register_at_fork(after_in_child=...)`: rebuilds the exporters in the child.
#[pyfunction]
pub fn after_fork_in_child() -> PyResult<()> {
    guard("after_fork_in_child", || {
        tasker_telemetry::pipeline::after_fork_in_child().map_err(tracing_error)
    })
}

/// The index (0 = trace … 4 = error) of a level name; `TracingError` for an unknown name.
#[pyfunction]
pub fn level_index(name: Text) -> PyResult<u8> {
    tasker_telemetry::level::parse_level(&name)
        .map(tasker_telemetry::level::level_index)
        .map_err(tracing_error)
}

/// The most verbose level any output records (0 = trace … 4 = error, 5 = off).
#[pyfunction]
pub fn max_level_index() -> u8 {
    tasker_telemetry::dynamic::max_level_index()
}

/// Records `value` on the instrument `kind` (`counter`, `up_down_counter`, `histogram`,
/// `gauge`) named `name`, with `labels`.
#[pyfunction]
#[pyo3(signature = (kind, name, value, labels=None))]
pub fn record_metric(
    kind: &str,
    name: Text,
    value: f64,
    labels: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    guard("metric", || {
        let kind = match kind {
            "counter" => InstrumentKind::Counter,
            "up_down_counter" => InstrumentKind::UpDownCounter,
            "histogram" => InstrumentKind::Histogram,
            "gauge" => InstrumentKind::Gauge,
            other => {
                return Err(TracingError::new_err(format!(
                    "unknown instrument kind {other:?}: expected counter, up_down_counter, histogram or gauge"
                )))
            }
        };
        metrics::record(kind, &name, value, &convert::labels(labels)).map_err(tracing_error)
    })
}

/// Emits the lifecycle event `name` (e.g. `step.completed`) along the core's route (span event,
/// log line, counter, duration histogram), attached to `parent`.
#[pyfunction]
#[pyo3(signature = (name, duration_ms=None, labels=None, fields=None, parent=None, correlation=None))]
#[allow(clippy::too_many_arguments)]
pub fn lifecycle(
    name: Text,
    duration_ms: Option<f64>,
    labels: Option<&Bound<'_, PyDict>>,
    fields: Option<&Bound<'_, PyDict>>,
    parent: Option<ParentArg<'_>>,
    correlation: Option<Bound<'_, PyCorrelation>>,
) -> PyResult<()> {
    guard("lifecycle", || {
        let event = LifecycleEvent::parse(&name).map_err(tracing_error)?;
        let duration = duration_ms
            .map(LifecycleEvent::duration_from_ms)
            .transpose()
            .map_err(tracing_error)?;
        let labels = convert::labels(labels);
        let fields = convert::fields(fields);
        let correlation = correlation_arg(correlation.as_ref());
        with_parent(parent.as_ref(), |parent| {
            event.emit_with(parent, correlation.as_ref(), duration, &labels, &fields)
        });
        Ok(())
    })
}
