//! `TracingError`, `ConfigError` and the guard that keeps Rust panics out of Python.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::{PyErr, PyResult};
use tasker_telemetry::foreign::{self, ForeignError};

create_exception!(
    tasker_core._native,
    TracingError,
    PyException,
    "Raised when telemetry cannot do what was asked (a bad id, a failed flush, invalid input)."
);

create_exception!(
    tasker_core._native,
    ConfigError,
    TracingError,
    "Raised for an invalid telemetry configuration, or a second explicit init()."
);

/// A `TracingError` with the text of `e`.
pub fn tracing_error(e: impl std::fmt::Display) -> PyErr {
    TracingError::new_err(e.to_string())
}

/// The exception for a core error: `ConfigError` for configuration, `TracingError` otherwise.
pub fn foreign_error(e: impl Into<ForeignError>) -> PyErr {
    match e.into() {
        e @ ForeignError::Config(_) => ConfigError::new_err(e.to_string()),
        e => tracing_error(e),
    }
}

/// Runs `f`, turning a Rust panic into a `TracingError` naming `what` (so no panic unwinds into
/// Python).
pub fn guard<T>(what: &'static str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    foreign::catch_panic(what, f).unwrap_or_else(|e| Err(foreign_error(e)))
}
