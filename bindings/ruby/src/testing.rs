//! Test and bench hooks (not public API; built only with the `testing` feature, which the test
//! and bench scripts ask for): a Rust span that calls back into Ruby, the core's benchmark
//! pipeline, and a no-op call (the physical floor of a crossing).

use magnus::{function, method, Error, Module, RArray, RModule, Ruby, Value};

use crate::context::{correlation_of, parent_of};
use crate::errors::error;

/// Runs the block inside a Rust `tracing` span under the Ruby side's `parent`
/// (`tasker_telemetry::testing::in_rust_span`). Returns `[block result, trace_id, span_id]`.
fn with_rust_span(
    ruby: &Ruby,
    name: String,
    parent: Value,
    correlation: Value,
) -> Result<RArray, Error> {
    let (parent, correlation) = (parent_of(parent), correlation_of(correlation));
    let (result, trace_id, span_id) = tasker_telemetry::testing::in_rust_span(
        &name,
        parent.as_ref(),
        correlation.as_ref(),
        || ruby.yield_value::<_, Value>(()),
    );
    let out = ruby.ary_new_capa(3);
    out.push(result?)?;
    out.push(trace_id)?;
    out.push(span_id)?;
    Ok(out)
}

/// The core's benchmark pipeline (`tasker_telemetry::testing::BenchPipeline`: JSON lines to
/// /dev/null, batch export to an exporter that discards, an SDK meter).
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

/// Waits until the spans ended so far have gone through the batch processor.
fn bench_flush(rb_self: &RbBenchPipeline) {
    rb_self.0.flush();
}

/// Defines the hooks on `TaskerCore::Tracing::Native`.
pub fn define(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    native.define_module_function("noop", function!(|| (), 0))?;
    native.define_module_function("_bench_pipeline", function!(bench_pipeline, 0))?;
    native.define_module_function(
        "_bench_rust_spans",
        function!(
            |n: u64| tasker_telemetry::testing::dynamic_spans(n, false),
            1
        ),
    )?;
    let pipeline = native.define_class("BenchPipeline", ruby.class_object())?;
    pipeline.define_method("run", method!(bench_run, 0))?;
    pipeline.define_method("flush", method!(bench_flush, 0))?;
    native.define_module_function("_with_rust_span", function!(with_rust_span, 3))?;
    Ok(())
}
