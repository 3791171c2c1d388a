//! `tasker_core._native`: the Python glue of `tasker-telemetry`. Only conversion between Python
//! values and the core's lives here; the Python package (`tasker_core.tracing`) keeps the span
//! stack and correlation in contextvars and passes them explicitly to every call.
//!
//! - [`convert`]: Python values → fields (cycles, `str()` fallback);
//! - [`context`]: `Correlation`, `RemoteContext`, parents, `inject`/`extract`;
//! - [`span`]: `Span`, `start_span`, `start_handler_span`, `event`;
//! - [`pipeline`]: `init_logging`, `init`, `flush`, `shutdown`, fork hooks, levels, metrics,
//!   lifecycle events;
//! - [`testing`]: hooks for the package's tests and the benchmarks (`_noop`, `_BenchPipeline`);
//! - [`errors`]: `TracingError` and the panic guard.
//!
//! No function here calls into Python from a thread other than the caller's, and blocking
//! calls (`init`, `flush`, `shutdown`, `before_fork`) release the GIL.

mod context;
mod convert;
mod errors;
mod pipeline;
mod span;
mod step;
mod testing;

use pyo3::prelude::*;

/// The native module.
#[pymodule(name = "_native")]
fn native_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("TracingError", py.get_type::<errors::TracingError>())?;
    m.add("CYCLE_MARKER", convert::CYCLE_MARKER)?;
    m.add_class::<span::Span>()?;
    m.add_class::<context::PyCorrelation>()?;
    m.add_class::<context::PyRemoteContext>()?;
    m.add_class::<testing::_TestingCapture>()?;
    m.add_class::<testing::_BenchPipeline>()?;
    m.add_function(wrap_pyfunction!(span::start_span, m)?)?;
    m.add_function(wrap_pyfunction!(span::start_handler_span, m)?)?;
    m.add_function(wrap_pyfunction!(span::event, m)?)?;
    m.add_function(wrap_pyfunction!(context::inject, m)?)?;
    m.add_function(wrap_pyfunction!(context::extract, m)?)?;
    m.add_function(wrap_pyfunction!(context::current, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::init_logging, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::init, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::is_initialized, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::flush, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::shutdown, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::shutdown_timeout, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::before_fork, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::after_fork_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::level_index, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::max_level_index, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::record_metric, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::lifecycle, m)?)?;
    m.add_function(wrap_pyfunction!(step::run_step, m)?)?;
    m.add_function(wrap_pyfunction!(step::stats, m)?)?;
    m.add_function(wrap_pyfunction!(testing::_testing_rust_span, m)?)?;
    m.add_function(wrap_pyfunction!(testing::_noop, m)?)?;
    m.add_function(wrap_pyfunction!(testing::_bench_rust_spans, m)?)?;
    Ok(())
}
