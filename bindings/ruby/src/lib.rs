//! The native part of the `tasker_core-tracing` gem: `TaskerCore::Tracing::Native`.
//!
//! Thin by design: each function converts Ruby values to the core's types and calls
//! `tasker-telemetry`; every behaviour (filtering, correlation, redaction, export) lives in the
//! core. The Ruby side (`ruby/lib/tasker_core/tracing.rb`) keeps the fiber-local span stack and
//! passes explicit parents, so a span costs one crossing to start and one to finish.

mod convert;
mod gvl;

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use magnus::error::ErrorType;
use magnus::prelude::*;
use magnus::value::Lazy;
use magnus::{function, method, Error, ExceptionClass, RArray, RHash, RModule, Ruby, Value};
use opentelemetry::trace::TraceContextExt;
use tasker_telemetry::config::ProcessEnv;
use tasker_telemetry::dynamic::{self, DynSpan, EventArgs, Parent, SpanStart};
use tasker_telemetry::lifecycle::LifecycleEvent;
use tasker_telemetry::metrics::{self, InstrumentKind};
use tasker_telemetry::step::{self, StepMessage};
use tasker_telemetry::{handler, propagation, Correlation, RemoteContext, TelemetryConfig};
use tracing::Level;

static ERROR: Lazy<ExceptionClass> = Lazy::new(|ruby| {
    ruby.define_module("TaskerCore")
        .and_then(|m| m.define_module("Tracing"))
        .and_then(|m| m.define_error("Error", ruby.exception_standard_error()))
        .unwrap_or_else(|_| ruby.exception_runtime_error())
});

fn error(ruby: &Ruby, message: impl std::fmt::Display) -> Error {
    Error::new(ruby.get_inner(&ERROR), message.to_string())
}

/// Runs `f`, turning a Rust panic into a `TaskerCore::Tracing::Error` instead of letting it
/// reach Ruby (magnus would raise `fatal`, which ends the interpreter).
fn guard<T>(ruby: &Ruby, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Err(error(
            ruby,
            format!("internal error in tasker-telemetry (please report): {what}"),
        ))
    })
}

/// A name, message or key as the core takes it: Symbol and String as themselves (binary or
/// invalid UTF-8 converted lossily), anything else via `to_s` (a placeholder when that raises).
fn text(v: Value) -> String {
    convert::key(v)
}

/// [`text`], with `nil` as none.
fn opt_text(v: Value) -> Option<String> {
    (!v.is_nil()).then(|| text(v))
}

fn level(ruby: &Ruby, index: u8) -> Result<Level, Error> {
    tasker_telemetry::level::level_from_index(index).map_err(|e| error(ruby, e))
}

/// A span started from Ruby. Ended by `finish`, or when the Ruby object is collected.
#[magnus::wrap(class = "TaskerCore::Tracing::Native::Span", free_immediately, size)]
struct RbSpan {
    span: RefCell<Option<DynSpan>>,
    /// Kept after `finish` so the ids stay readable.
    ids: opentelemetry::trace::SpanContext,
}

impl Drop for RbSpan {
    fn drop(&mut self) {
        // Runs during GC: ends the span if Ruby never finished it; must not unwind.
        let span = self.span.get_mut().take();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(span)));
    }
}

impl RbSpan {
    fn new(span: DynSpan) -> Self {
        Self {
            ids: span.context().span().span_context().clone(),
            span: RefCell::new(Some(span)),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&DynSpan) -> T) -> Option<T> {
        self.span.try_borrow().ok().and_then(|s| s.as_ref().map(f))
    }

    fn trace_id(&self) -> Option<String> {
        self.ids.is_valid().then(|| self.ids.trace_id().to_string())
    }

    fn span_id(&self) -> Option<String> {
        self.ids.is_valid().then(|| self.ids.span_id().to_string())
    }

    fn is_recording(&self) -> bool {
        self.with(|s| !s.is_disabled()).unwrap_or(false)
    }

    fn is_finished(&self) -> bool {
        self.with(|_| ()).is_none()
    }

    fn set(&self, key: Value, value: Value) {
        let k = convert::key(key);
        let mut fields = tasker_telemetry::fields::Fields::new();
        fields.insert(k, convert::value(value, &mut Vec::new(), 0));
        self.with(|s| {
            for (k, v) in fields.iter() {
                s.set(k, v);
            }
        });
    }

    fn add_event(&self, name: Value, fields: Option<RHash>) {
        let name = text(name);
        let fields = convert::fields(fields);
        self.with(|s| s.add_event(&name, &fields));
    }

    fn record_exception(&self, kind: Value, message: Value, backtrace: Value) {
        let (kind, message, backtrace) = (text(kind), text(message), opt_text(backtrace));
        self.with(|s| s.record_exception(&kind, &message, backtrace.as_deref()));
    }

    fn set_error(&self, message: Value) {
        let message = text(message);
        self.with(|s| s.set_error(&message));
    }

    fn finish(&self) {
        if let Ok(mut slot) = self.span.try_borrow_mut() {
            slot.take();
        }
    }
}

/// A correlation scope's value, held by the Ruby side in fiber-local storage.
#[magnus::wrap(
    class = "TaskerCore::Tracing::Native::Correlation",
    free_immediately,
    size
)]
struct RbCorrelation(Arc<Correlation>);

impl RbCorrelation {
    fn correlation_id(&self) -> String {
        self.0.correlation_id.to_string()
    }
    fn to_h(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        let h = ruby.hash_new();
        for (k, v) in rb_self.0.pairs() {
            h.aset(ruby.to_symbol(k), v)?;
        }
        Ok(h)
    }
}

/// A context extracted from headers.
#[magnus::wrap(class = "TaskerCore::Tracing::Native::Remote", free_immediately, size)]
struct RbRemote(RemoteContext);

impl RbRemote {
    fn is_valid(&self) -> bool {
        self.0.is_valid()
    }
    fn trace_id(&self) -> Option<String> {
        self.0.trace_id()
    }
    fn span_id(&self) -> Option<String> {
        self.0.span_id()
    }
    fn correlation(&self) -> Option<RbCorrelation> {
        self.0.correlation().cloned().map(RbCorrelation)
    }
}

fn typed<T: magnus::TypedData>(v: Value) -> Option<&'static T> {
    if v.is_nil() {
        return None;
    }
    <&T as magnus::TryConvert>::try_convert(v).ok()
}

/// Runs `f` with the parent chosen by the Ruby side: its own span, else a remote context,
/// else whatever Rust span is current on this thread.
fn with_parent<T>(parent: Value, remote: Value, f: impl FnOnce(Parent<'_>) -> T) -> T {
    if let Some(span) = typed::<RbSpan>(parent) {
        if let Ok(guard) = span.span.try_borrow() {
            if let Some(s) = guard.as_ref() {
                return f(Parent::Span(s));
            }
        }
    }
    if let Some(remote) = typed::<RbRemote>(remote) {
        return f(Parent::Remote(&remote.0));
    }
    f(Parent::Current)
}

fn correlation_of(v: Value) -> Option<&'static Arc<Correlation>> {
    typed::<RbCorrelation>(v).map(|c| &c.0)
}

fn load_config(
    ruby: &Ruby,
    path: Option<String>,
    overrides: Option<RHash>,
) -> Result<TelemetryConfig, Error> {
    let mut config =
        TelemetryConfig::load_from(path.as_deref().map(std::path::Path::new), &ProcessEnv)
            .map_err(|e| error(ruby, e))?;
    // The Ruby side passes keys and values as strings (lists joined with commas, tables as
    // `k=v` pairs), the spelling of environment variables.
    for (k, v) in overrides.map(convert::pairs).unwrap_or_default() {
        config
            .set(&convert::key(k), &convert::key(v))
            .map_err(|e| error(ruby, e))?;
    }
    Ok(config)
}

fn init_logging(ruby: &Ruby, overrides: Option<RHash>) -> Result<(), Error> {
    guard(ruby, || {
        let config = load_config(ruby, None, overrides)?;
        tasker_telemetry::init_logging(&config).map_err(|e| error(ruby, e))
    })
}

fn init(ruby: &Ruby, path: Value, overrides: Option<RHash>) -> Result<(), Error> {
    let path = opt_text(path);
    guard(ruby, || {
        let config = load_config(ruby, path, overrides)?;
        // Keep the guard's effect without its Drop: shutdown is explicit (at_exit / shutdown).
        std::mem::forget(tasker_telemetry::init(config).map_err(|e| error(ruby, e))?);
        Ok(())
    })
}

/// A timeout in seconds; an error (never a panic) for a negative, infinite or NaN one.
fn seconds(ruby: &Ruby, timeout: f64) -> Result<Duration, Error> {
    tasker_telemetry::timeout_from_secs(timeout).map_err(|e| error(ruby, e))
}

fn flush(ruby: &Ruby, timeout: f64) -> Result<(), Error> {
    let timeout = seconds(ruby, timeout)?;
    match gvl::without_gvl(move || tasker_telemetry::flush(timeout)) {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(error(ruby, e)),
        None => Err(error(ruby, "flush failed unexpectedly")),
    }
}

fn shutdown(ruby: &Ruby, timeout: f64) -> Result<(), Error> {
    let timeout = seconds(ruby, timeout)?;
    match gvl::without_gvl(move || tasker_telemetry::shutdown(timeout)) {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(error(ruby, e)),
        None => Err(error(ruby, "shutdown failed unexpectedly")),
    }
}

#[allow(clippy::too_many_arguments)]
fn start_span(
    ruby: &Ruby,
    level_index: u8,
    name: Value,
    target: Value,
    fields: Option<RHash>,
    parent: Value,
    remote: Value,
    correlation: Value,
) -> Result<RbSpan, Error> {
    let (name, target) = (text(name), text(target));
    guard(ruby, || {
        let level = level(ruby, level_index)?;
        let fields = convert::fields(fields);
        let span = with_parent(parent, remote, |parent| {
            DynSpan::start(SpanStart {
                name: &name,
                level,
                target: &target,
                fields: &fields,
                parent,
                correlation: correlation_of(correlation),
            })
        });
        Ok(RbSpan::new(span))
    })
}

#[allow(clippy::too_many_arguments)]
fn event(
    ruby: &Ruby,
    level_index: u8,
    target: Value,
    message: Value,
    fields: Option<RHash>,
    parent: Value,
    remote: Value,
    correlation: Value,
) -> Result<(), Error> {
    let (target, message) = (text(target), text(message));
    guard(ruby, || {
        let level = level(ruby, level_index)?;
        let fields = convert::fields(fields);
        with_parent(parent, remote, |parent| {
            dynamic::event(EventArgs {
                level,
                target: &target,
                message: &message,
                fields: &fields,
                parent,
                correlation: correlation_of(correlation),
            })
        });
        Ok(())
    })
}

fn handler_span(
    ruby: &Ruby,
    handler_name: Value,
    context: Option<RHash>,
    parent: Value,
    remote: Value,
    correlation: Value,
) -> Result<RArray, Error> {
    let handler_name = text(handler_name);
    guard(ruby, || {
        let context = convert::fields(context);
        let started = with_parent(parent, remote, |parent| {
            handler::start_handler_span(
                &handler_name,
                &context,
                parent,
                correlation_of(correlation),
            )
        })
        .map_err(|e| error(ruby, e))?;
        let out = ruby.ary_new_capa(2);
        out.push(RbSpan::new(started.span))?;
        out.push(RbCorrelation(started.correlation))?;
        Ok(out)
    })
}

fn new_correlation(
    ruby: &Ruby,
    correlation_id: Value,
    parent_correlation_id: Value,
    task_uuid: Value,
    step_uuid: Value,
    namespace: Value,
) -> Result<RbCorrelation, Error> {
    let [correlation_id, parent_correlation_id, task_uuid, step_uuid, namespace] = [
        correlation_id,
        parent_correlation_id,
        task_uuid,
        step_uuid,
        namespace,
    ]
    .map(opt_text);
    guard(ruby, || {
        Correlation::from_parts(
            correlation_id.as_deref(),
            parent_correlation_id.as_deref(),
            task_uuid.as_deref(),
            step_uuid.as_deref(),
            namespace.as_deref(),
        )
        .map(|c| RbCorrelation(Arc::new(c)))
        .map_err(|e| error(ruby, e))
    })
}

fn extract(headers: Option<RHash>) -> RbRemote {
    let pairs: Vec<(String, String)> = headers
        .map(convert::pairs)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (convert::key(k), convert::key(v)))
        .collect();
    RbRemote(propagation::extract(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    ))
}

fn inject(ruby: &Ruby, parent: Value, remote: Value, correlation: Value) -> Result<RHash, Error> {
    guard(ruby, || {
        let cx = with_parent(parent, remote, |p| match p {
            Parent::Span(s) => s.context().clone(),
            Parent::Remote(r) => r.context().clone(),
            _ => opentelemetry::Context::current(),
        });
        let cx = match correlation_of(correlation) {
            Some(c) => c.as_ref().clone().into_context(&cx),
            None => cx,
        };
        let out = ruby.hash_new();
        for (k, v) in propagation::inject_context(&cx) {
            out.aset(k, v)?;
        }
        Ok(out)
    })
}

/// `[trace_id, span_id, correlation_id]` of the Rust context current on this thread.
fn current_ids() -> (Option<String>, Option<String>, Option<String>) {
    opentelemetry::Context::map_current(|cx| {
        let (trace_id, span_id) = propagation::ids(cx).unzip();
        let correlation_id = Correlation::from_context(cx).map(|c| c.correlation_id.to_string());
        (trace_id, span_id, correlation_id)
    })
}

fn record_metric(
    ruby: &Ruby,
    kind: u8,
    name: Value,
    value: f64,
    labels: Option<RHash>,
) -> Result<(), Error> {
    let name = text(name);
    guard(ruby, || {
        let kind = match kind {
            0 => InstrumentKind::Counter,
            1 => InstrumentKind::UpDownCounter,
            2 => InstrumentKind::Histogram,
            3 => InstrumentKind::Gauge,
            _ => return Err(error(ruby, format!("invalid instrument kind {kind}"))),
        };
        let labels: Vec<opentelemetry::KeyValue> = convert::fields(labels)
            .iter()
            .map(|(k, v)| opentelemetry::KeyValue::new(k.to_owned(), v.to_otel()))
            .collect();
        metrics::record(kind, &name, value, &labels).map_err(|e| error(ruby, e))
    })
}

fn lifecycle(
    ruby: &Ruby,
    name: Value,
    duration_ms: Option<f64>,
    labels: Option<RHash>,
    fields: Option<RHash>,
    parent: Value,
    correlation: Value,
) -> Result<(), Error> {
    let name = text(name);
    guard(ruby, || {
        let event = LifecycleEvent::parse(&name).map_err(|e| error(ruby, e))?;
        let labels: Vec<opentelemetry::KeyValue> = convert::fields(labels)
            .iter()
            .map(|(k, v)| opentelemetry::KeyValue::new(k.to_owned(), v.to_otel()))
            .collect();
        let fields = convert::fields(fields);
        let duration = duration_ms
            .map(LifecycleEvent::duration_from_ms)
            .transpose()
            .map_err(|e| error(ruby, e))?;
        with_parent(parent, ruby.qnil().as_value(), |p| {
            event.emit_with(p, correlation_of(correlation), duration, &labels, &fields)
        });
        Ok(())
    })
}

fn after_fork_in_child(ruby: &Ruby) -> Result<(), Error> {
    tasker_telemetry::after_fork_in_child().map_err(|e| error(ruby, e))
}

/// Runs the block as the step `message` through the core's per-step path (`step::run_step`):
/// the block runs inside the Rust `execute_step` span. A Ruby exception from the block marks the
/// step failed and is re-raised unchanged; `throw`, `break` or `return` out of the block end the
/// step as completed (as they end a `span` block) and then go on.
fn run_step(ruby: &Ruby, message: RHash) -> Result<Value, Error> {
    let fields = convert::fields(Some(message));
    guard(ruby, || {
        let message = StepMessage::from_fields(&fields).map_err(|e| error(ruby, e))?;
        step::run_step(&message, || match ruby.yield_value::<_, Value>(()) {
            Err(jump) if matches!(jump.error_type(), ErrorType::Jump(_)) => Ok(Err(jump)),
            result => result.map(Ok),
        })?
    })
}

/// The process's export counters as a Hash (`tasker_telemetry::stats::stats`).
fn stats(ruby: &Ruby) -> Result<RHash, Error> {
    let out = ruby.hash_new();
    for (key, value) in tasker_telemetry::stats::stats().pairs() {
        out.aset(ruby.to_symbol(key), value)?;
    }
    Ok(out)
}

/// `telemetry.otlp.shutdown_timeout_ms` in seconds: how long the `at_exit` flush may wait.
fn shutdown_timeout() -> f64 {
    tasker_telemetry::shutdown_timeout().as_secs_f64()
}

/// Test hook: runs the block inside a Rust `tracing` span, as an orchestrator calling a Ruby
/// handler in-process would. Returns `[block result, trace_id, span_id]`.
fn with_rust_span(ruby: &Ruby, name: String) -> Result<RArray, Error> {
    let span = tracing::info_span!("rust_span", rust.name = %name);
    let _entered = span.enter();
    let (trace_id, span_id, _) = current_ids();
    let result: Value = ruby.yield_value(())?;
    let out = ruby.ary_new_capa(3);
    out.push(result)?;
    out.push(trace_id)?;
    out.push(span_id)?;
    Ok(out)
}

/// Bench helper: the core's benchmark pipeline (`tasker_telemetry::testing::BenchPipeline`: JSON
/// lines to /dev/null, batch export to an exporter that discards, an SDK meter). Not public API.
#[magnus::wrap(
    class = "TaskerCore::Tracing::Native::BenchPipeline",
    free_immediately,
    size
)]
struct RbBenchPipeline(tasker_telemetry::testing::BenchPipeline);

fn bench_pipeline(ruby: &Ruby) -> Result<RbBenchPipeline, Error> {
    tasker_telemetry::testing::BenchPipeline::json()
        .map(RbBenchPipeline)
        .map_err(|e| error(ruby, e))
}

/// Runs the block with the bench pipeline as this thread's subscriber; returns its value.
fn bench_run(ruby: &Ruby, rb_self: &RbBenchPipeline) -> Result<Value, Error> {
    rb_self.0.run(|| ruby.yield_value(()))
}

fn set_key(_ruby: &Ruby, span: &RbSpan, key: Value, value: Value) {
    span.set(key, value);
}

#[magnus::init(name = "tasker_core_tracing")]
fn init_extension(ruby: &Ruby) -> Result<(), Error> {
    let tracing_module: RModule = ruby.define_module("TaskerCore")?.define_module("Tracing")?;
    let _ = ruby.get_inner(&ERROR);
    let native = tracing_module.define_module("Native")?;
    native.define_module_function("init_logging", function!(init_logging, 1))?;
    native.define_module_function("init", function!(init, 2))?;
    native.define_module_function("flush", function!(flush, 1))?;
    native.define_module_function("shutdown", function!(shutdown, 1))?;
    native.define_module_function("max_level", function!(dynamic::max_level_index, 0))?;
    native.define_module_function("start_span", function!(start_span, 7))?;
    native.define_module_function("event", function!(event, 7))?;
    native.define_module_function("handler_span", function!(handler_span, 5))?;
    native.define_module_function("correlation", function!(new_correlation, 5))?;
    native.define_module_function("extract", function!(extract, 1))?;
    native.define_module_function("inject", function!(inject, 3))?;
    native.define_module_function("current_ids", function!(current_ids, 0))?;
    native.define_module_function("record_metric", function!(record_metric, 4))?;
    native.define_module_function("lifecycle", function!(lifecycle, 6))?;
    native.define_module_function("before_fork", function!(tasker_telemetry::before_fork, 0))?;
    native.define_module_function("after_fork_in_child", function!(after_fork_in_child, 0))?;
    native.define_module_function(
        "initialized?",
        function!(tasker_telemetry::is_initialized, 0),
    )?;
    native.define_module_function("run_step", function!(run_step, 1))?;
    native.define_module_function("stats", function!(stats, 0))?;
    native.define_module_function("shutdown_timeout", function!(shutdown_timeout, 0))?;
    // Bench helpers (not public API): the physical floor of a call into the extension, and the
    // pipeline the benchmarks measure (benches/ruby/bench.rb).
    native.define_module_function("noop", function!(|| (), 0))?;
    native.define_module_function("_bench_pipeline", function!(bench_pipeline, 0))?;
    native.define_module_function(
        "_bench_rust_spans",
        function!(
            |n: u64| tasker_telemetry::testing::dynamic_spans(n, false),
            1
        ),
    )?;
    native
        .define_class("BenchPipeline", ruby.class_object())?
        .define_method("run", method!(bench_run, 0))?;
    native.define_module_function("_with_rust_span", function!(with_rust_span, 1))?;

    let span = native.define_class("Span", ruby.class_object())?;
    span.define_method("trace_id", method!(RbSpan::trace_id, 0))?;
    span.define_method("span_id", method!(RbSpan::span_id, 0))?;
    span.define_method("recording?", method!(RbSpan::is_recording, 0))?;
    span.define_method("finished?", method!(RbSpan::is_finished, 0))?;
    span.define_method("set", method!(set_key, 2))?;
    span.define_method("_add_event", method!(RbSpan::add_event, 2))?;
    span.define_method("_record_exception", method!(RbSpan::record_exception, 3))?;
    span.define_method("set_error", method!(RbSpan::set_error, 1))?;
    span.define_method("finish", method!(RbSpan::finish, 0))?;

    let correlation = native.define_class("Correlation", ruby.class_object())?;
    correlation.define_method("correlation_id", method!(RbCorrelation::correlation_id, 0))?;
    correlation.define_method("to_h", method!(RbCorrelation::to_h, 0))?;

    let remote = native.define_class("Remote", ruby.class_object())?;
    remote.define_method("valid?", method!(RbRemote::is_valid, 0))?;
    remote.define_method("trace_id", method!(RbRemote::trace_id, 0))?;
    remote.define_method("span_id", method!(RbRemote::span_id, 0))?;
    remote.define_method("correlation", method!(RbRemote::correlation, 0))?;
    Ok(())
}
