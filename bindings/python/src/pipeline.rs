//! Life cycle (start-up at import, `init`, `flush`, `shutdown`, fork hooks), levels, metrics
//! and lifecycle events. What each does is the core's (`tasker_telemetry::foreign`); this file
//! converts arguments and releases the GIL around anything that may wait.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tasker_telemetry::{foreign, pipeline};

use crate::context::{correlation_of, parent_of, ParentArg, PyCorrelation};
use crate::convert::{self, Text};
use crate::errors::{foreign_error, guard};

/// What the package does at import: console logging, export when the environment asks for it.
/// Returns `(exporting, problem)` (the error line already printed, or `None`).
#[pyfunction]
pub fn startup(py: Python<'_>) -> PyResult<(bool, Option<String>)> {
    guard("startup", || {
        let started = py.detach(foreign::startup);
        Ok((started.exporting, started.problem))
    })
}

/// `tracing.init(config_path, **overrides)`: see `tasker_telemetry::foreign::init`.
#[pyfunction]
#[pyo3(signature = (config_path=None, overrides=None))]
pub fn init(
    py: Python<'_>,
    config_path: Option<PathBuf>,
    overrides: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    // A PathBuf keeps a path that is not UTF-8 (os.fsdecode's surrogate escapes) as it was.
    let overrides = convert::values(overrides)?;
    guard("init", || {
        py.detach(|| foreign::init("tracing.init()", config_path.as_deref(), &overrides))
            .map_err(foreign_error)
    })
}

/// Whether telemetry has started (at import or by `init()`) and not shut down.
#[pyfunction]
pub fn is_initialized() -> bool {
    tasker_telemetry::is_initialized()
}

/// Whether spans currently leave the process.
#[pyfunction]
pub fn is_exporting() -> bool {
    tasker_telemetry::is_exporting()
}

/// Exports everything buffered (waiting at most `timeout` seconds, default the configured
/// shutdown timeout; without holding the GIL).
#[pyfunction]
#[pyo3(signature = (timeout=None))]
pub fn flush(py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
    guard("flush", || {
        let timeout = foreign::timeout(timeout).map_err(foreign_error)?;
        let pending = py.detach(|| pipeline::start_flush(timeout));
        wait(py, pending)
    })
}

/// Waits for a flush or shutdown in slices without the GIL, handling signals between them (so
/// Ctrl-C raises `KeyboardInterrupt` within one slice).
fn wait(py: Python<'_>, pending: pipeline::Pending) -> PyResult<()> {
    foreign::wait(
        pending,
        |p| Ok(py.detach(|| p.wait(foreign::WAIT_SLICE))),
        || py.check_signals(),
    )?
    .map_err(foreign_error)
}

/// Flushes and stops export (idempotent; without holding the GIL).
#[pyfunction]
#[pyo3(signature = (timeout=None))]
pub fn shutdown(py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
    guard("shutdown", || {
        let timeout = foreign::timeout(timeout).map_err(foreign_error)?;
        let pending = py.detach(|| pipeline::start_shutdown(timeout));
        wait(py, pending)
    })
}

/// `os.register_at_fork(before=...)`: waits for nothing (see
/// `tasker_telemetry::pipeline::before_fork`).
#[pyfunction]
pub fn before_fork() -> PyResult<()> {
    guard("before_fork", || {
        pipeline::before_fork();
        Ok(())
    })
}

/// `os.register_at_fork(after_in_child=...)`: rebuilds the exporters in the child.
#[pyfunction]
pub fn after_fork_in_child() -> PyResult<()> {
    guard("after_fork_in_child", || {
        tasker_telemetry::pipeline::after_fork_in_child().map_err(foreign_error)
    })
}

/// The core's level names and indices (`tasker_telemetry::level::LEVEL_NAMES`).
#[pyfunction]
pub fn level_names() -> Vec<(&'static str, u8)> {
    tasker_telemetry::level::LEVEL_NAMES.to_vec()
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
    kind: Text,
    name: Text,
    value: f64,
    labels: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    let labels = convert::fields(labels)?;
    guard("metric", || {
        foreign::record_metric(&kind, &name, value, &labels).map_err(foreign_error)
    })
}

/// Emits the lifecycle event `name` (e.g. `step.completed`) along the core's route (span event,
/// log line, counter, duration histogram), attached to `parent`.
#[pyfunction]
#[pyo3(signature = (name, duration_ms=None, labels=None, fields=None, parent=None, correlation=None))]
pub fn lifecycle(
    name: Text,
    duration_ms: Option<f64>,
    labels: Option<&Bound<'_, PyDict>>,
    fields: Option<&Bound<'_, PyDict>>,
    parent: Option<ParentArg<'_>>,
    correlation: Option<Bound<'_, PyCorrelation>>,
) -> PyResult<()> {
    let (labels, fields) = (convert::fields(labels)?, convert::fields(fields)?);
    let (parent, correlation) = (
        parent_of(parent.as_ref()),
        correlation_of(correlation.as_ref()),
    );
    let (p, c) = (parent.as_ref(), correlation.as_ref());
    guard("lifecycle", || {
        foreign::lifecycle(&name, duration_ms, &labels, &fields, p, c).map_err(foreign_error)
    })
}
