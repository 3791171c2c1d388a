//! # tasker-telemetry
//!
//! One core for tracing, correlation, metrics and OTLP export, shared by the Tasker
//! orchestrator (Rust) and its Ruby and Python step handlers (through thin bindings), so that a
//! step that crosses three languages is one trace with one correlation id.
//!
//! Rust code uses ordinary `tracing` macros; bindings use [`dynamic`].
//!
//! ```no_run
//! use tasker_telemetry::{init, Correlation, TelemetryConfig};
//!
//! let _guard = init(TelemetryConfig::load()?)?;
//! let _scope = Correlation::new().with_namespace("payments").enter();
//! let span = tracing::info_span!("order_fulfillment");
//! span.in_scope(|| tracing::info!(order_id = 42, "validated"));
//! # Ok::<(), tasker_telemetry::ConfigError>(())
//! ```
//!
//! Contents:
//! - [`bridge`]: the OpenTelemetry API bridge's shared rules (mode, span kinds, span contexts);
//! - [`config`]: [`TelemetryConfig`] from defaults, TOML, `TASKER_ENV` overlay and `OTEL_*` variables;
//! - [`pipeline`]: [`init_logging`] (console only), [`init`] (export), [`flush`], [`shutdown`];
//! - [`correlation`]: [`CorrelationId`], [`Correlation`] scopes carried by spans, logs and futures;
//! - [`resource`]: the resource (detected attributes, `service.name`), [`set_runtime`](resource::set_runtime) for bindings;
//! - [`propagators`]: which formats cross processes (`OTEL_PROPAGATORS`);
//! - [`propagation`]: W3C `traceparent`/`tracestate`/`baggage` [`inject`](propagation::inject) and [`extract`](propagation::extract);
//! - [`trace_context`]: the validating W3C Trace Context Level 2 parse of `traceparent`/`tracestate`;
//! - [`dynamic`]: spans and events with run-time names and fields, for foreign callers;
//! - [`fields`]: how foreign values become attributes (flattening, truncation, markers);
//! - [`foreign`]: the contract the Ruby and Python bindings share (start-up, parents, spans,
//!   events, ids, the step path, panics, errors);
//! - [`handler`]: the `handler_execution` span of a step handler, with the step's correlation;
//! - [`redaction`]: secret-looking fields replaced by `[REDACTED]` before any output;
//! - [`console`]: the pretty/compact/JSON log line formats;
//! - [`metrics`]: cached instruments and the metric [`catalogue`](metrics::catalogue);
//! - [`events`]: sampling, rate limits and filtered names of log events, their counts and summary line;
//! - [`runtime`]: changes without a restart ([`set_level`](runtime::set_level) and friends, [`reload`](runtime::reload));
//! - [`sighup`]: the configuration file reloaded on `SIGHUP` when the host has not claimed it;
//! - [`slow_operations`]: spans slower than their threshold reported (`slow_operation`) and counted;
//! - [`monitor`]: monitored operations: duration, memory growth, `memory_spike`;
//! - [`process`]: the process's memory, CPU, threads and descriptors, exported as `process.*` metrics;
//! - [`lifecycle`]: task/step lifecycle events routed to traces, logs and metrics;
//! - [`level`]: the one table of level names, and filters spelled with them;
//! - [`step`]: [`run_step`](step::run_step), the per-step path a worker runs around a handler;
//! - [`view`]: OTLP-JSON trace files drawn as terminal waterfalls (`tasker-telemetry view FILE`);
//! - [`exposition`]: the Prometheus text of the core's metrics, [`prometheus_text`];
//! - [`health`]: components pushed by the host, readiness and the detailed health view;
//! - [`probe_server`]: the HTTP server of `/metrics` and the health probes (own thread, optional bearer token);
//! - [`stats`]: export accounting: spans handed to the exporters, delivered, dropped and why;
//! - [`error`]: [`ConfigError`] and [`TelemetryError`].

#![warn(missing_docs)]

pub mod bridge;
pub mod config;
pub mod console;
pub mod correlation;
pub mod dynamic;
pub mod error;
pub mod events;
mod export;
pub mod exposition;
pub mod fields;
mod file_export;
pub mod foreign;
pub mod handler;
pub mod health;
pub mod level;
pub mod lifecycle;
mod logs;
pub mod metrics;
pub mod monitor;
pub mod pipeline;
pub mod probe_server;
pub mod process;
pub mod propagation;
pub mod propagators;
pub mod redaction;
pub mod resource;
pub mod runtime;
pub mod sighup;
pub mod slow_operations;
pub mod stats;
pub mod step;
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing;
pub mod trace_context;
pub mod view;

/// The OpenTelemetry instrumentation scope of every tracer, meter and logger the core creates.
pub(crate) const SCOPE: &str = "tasker-telemetry";

pub use config::TelemetryConfig;
pub use console::ConsoleWriter;
pub use correlation::{Correlation, CorrelationGuard, CorrelationId, WithCorrelation};
pub use error::{ConfigError, TelemetryError};
pub use exposition::prometheus_text;
pub use pipeline::{
    after_fork_in_child, before_fork, flush, init, init_logging, init_with_writer, is_exporting,
    is_initialized, shutdown, shutdown_timeout, timeout_from_secs, TelemetryGuard,
};
pub use propagation::RemoteContext;
pub use redaction::Redactor;
