//! The per-step path (`tasker_telemetry::step::run_step`) around a Python handler, and the
//! process's export counters.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tasker_telemetry::step::{self, StepMessage};

use crate::convert;
use crate::errors::{guard, tracing_error};

/// Calls `callback()` as the step `message` inside the Rust `execute_step` span; a Python
/// exception marks the step failed and is raised again unchanged.
#[pyfunction]
pub fn run_step(message: &Bound<'_, PyDict>, callback: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let fields = convert::fields(Some(message));
    guard("run_step", || {
        let message = StepMessage::from_fields(&fields).map_err(tracing_error)?;
        step::run_step(&message, || callback.call0().map(Bound::unbind))
    })
}

/// The process's export counters (`tasker_telemetry::stats::stats`): spans started, ended,
/// exported, dropped and pending; log records and metric streams dropped.
#[pyfunction]
pub fn stats(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    for (key, value) in tasker_telemetry::stats::stats().pairs() {
        out.set_item(key, value)?;
    }
    Ok(out)
}
