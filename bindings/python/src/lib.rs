//! `tasker_core._native`: the Python glue of `tasker-telemetry`. Only conversion between Python
//! values and the core's lives here; every behaviour (start-up, parents, filtering,
//! correlation, redaction, export) is the core's, most of it in `tasker_telemetry::foreign`,
//! which the Ruby glue calls the same way. The Python package (`tasker_core.tracing`) keeps the
//! current span and correlation in contextvars and passes them to every call. The files mirror
//! the Ruby glue's (`bindings/ruby/src`):
//!
//! - [`bridge`]: whether the OpenTelemetry API bridge is installed;
//! - [`convert`]: Python values → fields (cycles, depth, `str()` fallback);
//! - [`context`]: `Correlation`, `RemoteContext`, parents, `current`, `inject`/`extract`;
//! - [`span`]: `Span`, `tracing.Span` and `tracing.span` (the `with` protocol, native),
//!   `start_span`, `start_handler_span`, `event`;
//! - [`health`]: the Prometheus text, health components and readiness;
//! - [`monitor`]: `Monitor`, the duration and memory growth of an operation;
//! - [`pipeline`]: start-up, `init`, `flush`, `shutdown`, fork hooks, levels, metrics,
//!   lifecycle events;
//! - [`runtime`]: levels, sampling and thresholds changed at run time, reload;
//! - [`step`]: `run_step`, `stats`;
//! - [`testing`]: hooks for the package's tests and the benchmarks (`testing` feature only);
//! - [`errors`]: `TracingError`, `ConfigError` and the panic guard.
//!
//! No function here calls into Python from a thread other than the caller's, and calls that may
//! wait (`startup`, `init`, `flush`, `shutdown`) release the GIL.

mod bridge;
mod context;
mod convert;
mod errors;
mod health;
mod monitor;
mod pipeline;
mod runtime;
mod span;
mod step;
#[cfg(feature = "testing")]
mod testing;

use pyo3::prelude::*;

/// The native module.
#[pymodule(name = "_native")]
fn native_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    // Before start-up: the resource says this is Python (`telemetry.sdk.language`,
    // `process.runtime.name`/`version`).
    let implementation: String = PyModule::import(py, "sys")?
        .getattr("implementation")?
        .getattr("name")?
        .extract()?;
    let version: String = PyModule::import(py, "platform")?
        .call_method0("python_version")?
        .extract()?;
    tasker_telemetry::resource::set_runtime("python", &implementation, &version);
    m.add("TracingError", py.get_type::<errors::TracingError>())?;
    m.add("ConfigError", py.get_type::<errors::ConfigError>())?;
    m.add_class::<span::Span>()?;
    // `tracing.Span` (its class name is `Span`; `_native.Span` is the started span it holds).
    m.add("SpanScope", py.get_type::<span::SpanScope>())?;
    let vars = context::context_vars(py)?;
    m.add("parent_var", vars.parent.bind(py))?;
    m.add("correlation_var", vars.correlation.bind(py))?;
    m.add_class::<context::PyCorrelation>()?;
    m.add_class::<context::PyRemoteContext>()?;
    m.add_class::<monitor::Monitor>()?;
    m.add_function(wrap_pyfunction!(span::span, m)?)?;
    m.add_function(wrap_pyfunction!(span::start_span, m)?)?;
    m.add_function(wrap_pyfunction!(span::start_handler_span, m)?)?;
    m.add_function(wrap_pyfunction!(span::event, m)?)?;
    m.add_function(wrap_pyfunction!(context::inject, m)?)?;
    m.add_function(wrap_pyfunction!(context::extract, m)?)?;
    m.add_function(wrap_pyfunction!(context::current, m)?)?;
    m.add_function(wrap_pyfunction!(context::shown_parent, m)?)?;
    m.add_function(wrap_pyfunction!(context::leave, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::startup, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::init, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::is_initialized, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::is_exporting, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::flush, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::shutdown, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::before_fork, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::after_fork_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::level_names, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::max_level_index, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::record_metric, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::lifecycle, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::bridge_decision, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::bridge_mode, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::propagates_baggage, m)?)?;
    m.add_function(wrap_pyfunction!(health::prometheus_text, m)?)?;
    m.add_function(wrap_pyfunction!(health::set_health, m)?)?;
    m.add_function(wrap_pyfunction!(health::readiness, m)?)?;
    m.add_function(wrap_pyfunction!(health::health_detailed, m)?)?;
    m.add(
        "PROMETHEUS_CONTENT_TYPE",
        tasker_telemetry::exposition::CONTENT_TYPE,
    )?;
    m.add_function(wrap_pyfunction!(runtime::set_level, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::set_export_level, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::set_runtime, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::reload_config, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::runtime_generation, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::wait_for_runtime_change, m)?)?;
    m.add_function(wrap_pyfunction!(step::run_step, m)?)?;
    m.add_function(wrap_pyfunction!(step::stats, m)?)?;
    #[cfg(feature = "testing")]
    testing::define(m)?;
    Ok(())
}
