//! Changes at run time (`tasker_telemetry::runtime`): levels, event sampling and rate limits,
//! slow-operation thresholds, and a reload of the configuration file; and the generation
//! counter the package watches to refresh its cached level after a change made elsewhere
//! (`SIGHUP`, Rust code, another thread).

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tasker_telemetry::runtime;

use crate::convert::{self, Text};
use crate::errors::{foreign_error, guard};

/// Sets the console filter (a level name or `RUST_LOG`-style directives); the changes made.
#[pyfunction]
pub fn set_level(filter: Text) -> PyResult<Vec<String>> {
    guard("set_level", || {
        runtime::set_level(&filter).map_err(foreign_error)
    })
}

/// Sets the export filter of spans and exported log events; the changes made.
#[pyfunction]
pub fn set_export_level(filter: Text) -> PyResult<Vec<String>> {
    guard("set_export_level", || {
        runtime::set_export_level(&filter).map_err(foreign_error)
    })
}

/// Sets keys that can change at run time (spelled as for `init`'s overrides), all or none; the
/// changes made. A key that cannot change at run time, or a bad value, raises `ConfigError`
/// naming it, and nothing changes.
#[pyfunction]
pub fn set_runtime(settings: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<String>> {
    let settings = convert::values(settings)?;
    guard("set_runtime", || {
        runtime::set_many(&settings).map_err(foreign_error)
    })
}

/// Re-reads the configuration file and applies what can change at run time; the changes made.
#[pyfunction]
pub fn reload_config(py: Python<'_>) -> PyResult<Vec<String>> {
    guard("reload_config", || {
        py.detach(runtime::reload).map_err(foreign_error)
    })
}

/// The runtime generation: it moves on every change of the running configuration.
#[pyfunction]
pub fn runtime_generation() -> u64 {
    runtime::generation()
}

/// Waits (without the GIL) until the generation differs from `seen`, at most `timeout`
/// seconds; the generation then.
#[pyfunction]
pub fn wait_for_runtime_change(py: Python<'_>, seen: u64, timeout: f64) -> u64 {
    let timeout = Duration::from_secs_f64(timeout.clamp(0.0, 3600.0));
    py.detach(|| runtime::wait_for_change(seen, timeout))
}
