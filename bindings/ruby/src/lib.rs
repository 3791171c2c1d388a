//! The native part of the `tasker_core-tracing` gem: `TaskerCore::Tracing::Native`.
//!
//! Thin by design: each function converts Ruby values to the core's types and calls
//! `tasker-telemetry`; every behaviour (start-up, parents, filtering, correlation, redaction,
//! export) lives in the core, most of it in `tasker_telemetry::foreign`, which the Python glue
//! calls the same way. The Ruby side (`ruby/lib/tasker_core/tracing*.rb`) keeps the current
//! span and correlation in fiber-local state and passes them to every call. The files mirror
//! the Python glue's (`bindings/python/src`):
//!
//! - [`bridge`]: whether the OpenTelemetry API bridge is installed;
//! - [`convert`]: Ruby values → fields (cycles, depth, `to_s` fallback);
//! - [`context`]: `Correlation`, `Remote`, parents, `current`, `inject`/`extract`;
//! - [`span`]: `Span`, `start_span`, `start_otel_span`, `handler_span`, `event`;
//! - [`health`]: the Prometheus text, health components and readiness;
//! - [`monitor`]: `Monitor`, the duration and memory growth of an operation;
//! - [`pipeline`]: start-up, `init`, `flush`, `shutdown`, fork hooks, levels, metrics,
//!   lifecycle events;
//! - [`runtime`]: levels, sampling and thresholds changed at run time, reload;
//! - [`step`]: `run_step`, `stats`;
//! - [`testing`]: hooks for the gem's tests and the benchmarks (`testing` feature only);
//! - [`errors`]: `Error`, `ConfigError` and the panic guard;
//! - [`gvl`]: running blocking work without the GVL (Ruby only: Python's is `py.detach`).

mod bridge;
mod context;
mod convert;
mod errors;
mod gvl;
mod health;
mod monitor;
mod pipeline;
mod runtime;
mod span;
mod step;
#[cfg(feature = "testing")]
mod testing;

use magnus::prelude::*;
use magnus::{function, method, Error, RModule, Ruby};

#[magnus::init(name = "tasker_core_tracing")]
fn init_extension(ruby: &Ruby) -> Result<(), Error> {
    // Before start-up: the resource says this is Ruby (`telemetry.sdk.language`,
    // `process.runtime.name`/`version`).
    let engine: String = ruby.class_object().const_get("RUBY_ENGINE")?;
    let version: String = ruby.class_object().const_get("RUBY_VERSION")?;
    tasker_telemetry::resource::set_runtime("ruby", &engine, &version);
    let tracing_module: RModule = ruby.define_module("TaskerCore")?.define_module("Tracing")?;
    let _ = ruby.get_inner(&errors::ERROR);
    let _ = ruby.get_inner(&errors::CONFIG_ERROR);
    let native = tracing_module.define_module("Native")?;
    native.define_module_function("startup", function!(pipeline::startup, 0))?;
    native.define_module_function("init", function!(pipeline::init, 2))?;
    native.define_module_function("flush", function!(pipeline::flush, 1))?;
    native.define_module_function("shutdown", function!(pipeline::shutdown, 1))?;
    native.define_module_function("before_fork", function!(pipeline::before_fork, 0))?;
    native.define_module_function(
        "after_fork_in_child",
        function!(pipeline::after_fork_in_child, 0),
    )?;
    native.define_module_function(
        "initialized?",
        function!(tasker_telemetry::is_initialized, 0),
    )?;
    native.define_module_function("exporting?", function!(tasker_telemetry::is_exporting, 0))?;
    native.define_module_function("level_names", function!(pipeline::level_names, 0))?;
    native.define_module_function("max_level", function!(pipeline::max_level, 0))?;
    native.define_module_function("record_metric", function!(pipeline::record_metric, 4))?;
    native.define_module_function("lifecycle", function!(pipeline::lifecycle, 6))?;
    native.define_module_function("start_span", function!(span::start_span, 6))?;
    native.define_module_function("start_otel_span", function!(span::start_otel_span, 7))?;
    native.define_module_function("bridge_decision", function!(bridge::bridge_decision, 3))?;
    native.define_module_function("bridge_mode", function!(bridge::bridge_mode, 0))?;
    native.define_module_function(
        "propagates_baggage?",
        function!(bridge::propagates_baggage, 0),
    )?;
    native.define_module_function("handler_span", function!(span::handler_span, 4))?;
    native.define_module_function("event", function!(span::event, 7))?;
    native.define_module_function("correlation", function!(context::new_correlation, 5))?;
    native.define_module_function("extract", function!(context::extract, 1))?;
    native.define_module_function("inject", function!(context::inject, 2))?;
    native.define_module_function("current", function!(context::current, 2))?;
    native.define_module_function("shown_parent", function!(context::shown_parent, 1))?;
    native.define_module_function("prometheus_text", function!(health::prometheus_text, 0))?;
    native.define_module_function("set_health", function!(health::set_health, 3))?;
    native.define_module_function("readiness", function!(health::readiness, 0))?;
    native.define_module_function("health_detailed", function!(health::health_detailed, 0))?;
    native.const_set(
        "PROMETHEUS_CONTENT_TYPE",
        tasker_telemetry::exposition::CONTENT_TYPE,
    )?;
    native.define_module_function("set_level", function!(runtime::set_level, 1))?;
    native.define_module_function("set_export_level", function!(runtime::set_export_level, 1))?;
    native.define_module_function("set_runtime", function!(runtime::set_runtime, 1))?;
    native.define_module_function("reload_config", function!(runtime::reload_config, 0))?;
    native.define_module_function(
        "runtime_generation",
        function!(runtime::runtime_generation, 0),
    )?;
    native.define_module_function("run_step", function!(step::run_step, 2))?;
    native.define_module_function("stats", function!(step::stats, 0))?;
    #[cfg(feature = "testing")]
    testing::define(ruby, native)?;

    let span = native.define_class("Span", ruby.class_object())?;
    span.define_method("trace_id", method!(span::RbSpan::trace_id, 0))?;
    span.define_method("span_id", method!(span::RbSpan::span_id, 0))?;
    span.define_method("recording?", method!(span::RbSpan::is_recording, 0))?;
    span.define_method("finished?", method!(span::RbSpan::is_finished, 0))?;
    span.define_method("set", method!(span::RbSpan::set, 2))?;
    span.define_method("_add_event", method!(span::RbSpan::add_event, 2))?;
    span.define_method(
        "_record_exception",
        method!(span::RbSpan::record_exception, 3),
    )?;
    span.define_method("set_error", method!(span::RbSpan::set_error, 1))?;
    span.define_method("finish", method!(span::RbSpan::finish, 0))?;
    span.define_method("_finish_at", method!(span::RbSpan::finish_at, 1))?;
    span.define_method("set_ok", method!(span::RbSpan::set_ok, 0))?;
    span.define_method("update_name", method!(span::RbSpan::update_name, 1))?;
    span.define_method("_add_link", method!(span::RbSpan::add_link, 5))?;
    span.define_method("span_context", method!(span::RbSpan::span_context, 0))?;
    span.define_method("sampled?", method!(span::RbSpan::is_sampled, 0))?;

    let correlation = native.define_class("Correlation", ruby.class_object())?;
    correlation.define_method(
        "correlation_id",
        method!(context::RbCorrelation::correlation_id, 0),
    )?;
    correlation.define_method("to_h", method!(context::RbCorrelation::to_h, 0))?;

    let monitor = native.define_class("Monitor", ruby.class_object())?;
    monitor.define_singleton_method("start", function!(monitor::RbMonitor::start, 1))?;
    monitor.define_method("finish", method!(monitor::RbMonitor::finish, 0))?;
    let remote = native.define_class("Remote", ruby.class_object())?;
    remote.define_method("valid?", method!(context::RbRemote::is_valid, 0))?;
    remote.define_method("trace_id", method!(context::RbRemote::trace_id, 0))?;
    remote.define_method("span_id", method!(context::RbRemote::span_id, 0))?;
    remote.define_method("correlation", method!(context::RbRemote::correlation, 0))?;
    remote.define_method("span_context", method!(context::RbRemote::span_context, 0))?;
    Ok(())
}
