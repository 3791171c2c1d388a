//! `tasker_core.tracing.TracingError` and the guard that keeps Rust panics out of Python.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::PyErr;
use pyo3::PyResult;

create_exception!(
    tasker_core._native,
    TracingError,
    PyException,
    "Raised when telemetry cannot do what was asked (invalid configuration, a bad id, a failed flush)."
);

/// A `TracingError` carrying the `Display` of a core error (`ConfigError`, `TelemetryError`).
pub fn tracing_error(e: impl std::fmt::Display) -> PyErr {
    TracingError::new_err(e.to_string())
}

/// Runs `f`, turning a Rust panic into a `TracingError` naming `what` (so no panic unwinds into
/// Python).
pub fn guard<T>(what: &'static str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let detail = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(TracingError::new_err(format!(
                "internal error in tasker_core.tracing {what}: {detail}"
            )))
        }
    }
}
