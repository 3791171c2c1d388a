//! The per-step path (`tasker_telemetry::foreign::run_step`) around a Python handler, and the
//! process's export counters.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tasker_telemetry::foreign::{self, Outcome};

use crate::context::{parent_of, ParentArg, PyCorrelation};
use crate::convert;
use crate::errors::{foreign_error, guard};
use crate::span::Span;

/// Calls `callback(span, correlation)` as the step `message` under the Python side's `parent`
/// (the Python side makes the `execute_step` span and the step's correlation current in its
/// contextvars); a Python exception marks the step failed and is raised again unchanged.
#[pyfunction]
#[pyo3(signature = (message, callback, parent=None))]
pub fn run_step(
    message: &Bound<'_, PyDict>,
    callback: Bound<'_, PyAny>,
    parent: Option<ParentArg<'_>>,
) -> PyResult<Py<PyAny>> {
    let fields = convert::message(Some(message))?;
    let parent = parent_of(parent.as_ref());
    guard("run_step", || {
        foreign::run_step(&fields, parent.as_ref(), |span, correlation| {
            let args = (Span { inner: span }, PyCorrelation { inner: correlation });
            match callback.call1(args) {
                Ok(value) => Outcome::Ok(value.unbind()),
                Err(error) => Outcome::Failed {
                    description: error.to_string(),
                    error,
                },
            }
        })
        .map_err(foreign_error)?
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
