//! Criterion benchmarks of the core's hot paths, through the pipeline every language's benchmark
//! uses ([`BenchPipeline`]: the production subscriber stack, JSON console lines written to
//! `/dev/null`, a batch span processor in front of an exporter that discards, an SDK meter):
//! spans (no subscriber, each layer alone, both, the dynamic API of the bindings), log events,
//! metrics, propagation, redaction, and the per-step framework overhead around a trivial handler.
//!
//! `cargo bench -p tasker-telemetry-benches --bench core`; `bash scripts/bench.sh` runs these with
//! the Ruby and Python benchmarks and writes `benches/REPORT.md`. Benchmark ids are
//! `<group>/<name>`; the report refers to them by that id.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use opentelemetry::KeyValue;
use tasker_telemetry::dynamic::{self, DynSpan, EventArgs, Parent, SpanStart};
use tasker_telemetry::fields::{FieldValue, Fields};
use tasker_telemetry::handler::start_handler_span;
use tasker_telemetry::metrics::{self, catalogue};
use tasker_telemetry::slow_operations;
use tasker_telemetry::step::{self, StepMessage};
use tasker_telemetry::testing::BenchPipeline;
use tasker_telemetry::{propagation, Correlation, Redactor, TelemetryConfig};
use tasker_telemetry_benches::{step_context, sum_handler, HANDLER_INPUT};
use tracing::Level;

fn config(console: &str, export: &str) -> TelemetryConfig {
    let mut config = TelemetryConfig::default();
    config.logging.format = tasker_telemetry::config::LogFormat::Json;
    config.logging.level = console.to_owned();
    config.logging.export_level = export.to_owned();
    config
}

fn pipeline(console: &str, export: &str) -> BenchPipeline {
    #[allow(clippy::expect_used)]
    BenchPipeline::new(&config(console, export)).expect("/dev/null opens")
}

fn three_fields() -> Fields {
    [
        ("order_id", FieldValue::Int(42)),
        ("namespace", FieldValue::Str("payments".into())),
        ("amount", FieldValue::Float(12.5)),
    ]
    .into_iter()
    .collect()
}

fn rust_span() -> i32 {
    tracing::info_span!("step", order_id = 42).in_scope(|| black_box(1))
}

fn dynamic_span(fields: &Fields) {
    DynSpan::start(SpanStart {
        name: "handler_execution",
        level: Level::INFO,
        target: "ruby",
        fields,
        parent: Parent::Current,
        correlation: None,
    })
    .end()
}

fn spans(c: &mut Criterion) {
    let mut g = c.benchmark_group("span");
    g.bench_function("rust_no_subscriber", |b| b.iter(rust_span));
    pipeline("info", "off").run(|| {
        g.bench_function("rust_json_layer", |b| b.iter(rust_span));
    });
    pipeline("off", "info").run(|| {
        g.bench_function("rust_otlp_layer", |b| b.iter(rust_span));
    });
    let fields = three_fields();
    pipeline("info", "info").run(|| {
        g.bench_function("rust_exported", |b| b.iter(rust_span));
        g.bench_function("dynamic_exported_3_fields", |b| {
            b.iter(|| dynamic_span(&fields))
        });
        // The slow-operation check (on by default, 1000 ms): the same span with it on (threshold
        // not reached) and off (`0`).
        slow_operations::set_threshold_ms(1000);
        g.bench_function("rust_exported_slow_check_on", |b| b.iter(rust_span));
        slow_operations::set_threshold_ms(0);
        g.bench_function("rust_exported_slow_check_off", |b| b.iter(rust_span));
        slow_operations::set_threshold_ms(1000);
        // A span with one log line in it, the line copied onto the span as a span event (the
        // default) and not (`telemetry.spans.log_events = false`).
        let with_line = || {
            tracing::info_span!("step", order_id = 42)
                .in_scope(|| tracing::info!(amount = 12.5, "charged"))
        };
        tasker_telemetry::testing::set_log_events(true);
        g.bench_function("rust_exported_with_log_line", |b| b.iter(with_line));
        tasker_telemetry::testing::set_log_events(false);
        g.bench_function("rust_exported_with_log_line_not_copied", |b| {
            b.iter(with_line)
        });
        tasker_telemetry::testing::set_log_events(true);
    });
    g.finish();
}

fn events(c: &mut Criterion) {
    let mut g = c.benchmark_group("event");
    let fields = three_fields();
    pipeline("info", "info").run(|| {
        g.bench_function("rust_below_filter", |b| {
            b.iter(|| tracing::debug!(order_id = 42, "not printed"))
        });
        g.bench_function("dynamic_below_filter", |b| {
            b.iter(|| dynamic::enabled(Level::DEBUG, "ruby"))
        });
        g.bench_function("rust_json_line_3_fields", |b| {
            b.iter(|| {
                tracing::info!(
                    order_id = 42,
                    namespace = "payments",
                    amount = 12.5,
                    "charged"
                )
            })
        });
        g.bench_function("dynamic_json_line_3_fields", |b| {
            b.iter(|| {
                dynamic::event(EventArgs {
                    level: Level::INFO,
                    target: "python.handler",
                    message: "charged",
                    fields: &fields,
                    parent: Parent::Current,
                    correlation: None,
                })
            })
        });
    });
    g.finish();
}

fn metric(c: &mut Criterion) {
    let mut g = c.benchmark_group("metric");
    let _pipeline = pipeline("info", "info");
    let labels = [KeyValue::new("namespace", "payments")];
    g.bench_function("counter_add", |b| {
        b.iter(|| metrics::counter(catalogue::STEPS_CLAIMED_TOTAL.name).add(1.0, &labels))
    });
    g.bench_function("histogram_record", |b| {
        b.iter(|| {
            metrics::histogram(catalogue::STEP_EXECUTION_DURATION.name)
                .record(black_box(12.5), &labels)
        })
    });
    g.bench_function("record_counter_as_bindings", |b| {
        b.iter(|| {
            metrics::record(
                metrics::InstrumentKind::Counter,
                catalogue::STEPS_CLAIMED_TOTAL.name,
                1.0,
                &labels,
            )
        })
    });
    g.finish();
}

fn propagation_and_redaction(c: &mut Criterion) {
    let mut g = c.benchmark_group("propagation");
    pipeline("info", "info").run(|| {
        let span = tracing::info_span!("sender");
        let _e = span.enter();
        let _c = Correlation::new().with_namespace("payments").enter();
        g.bench_function("inject", |b| b.iter(propagation::inject));
        let headers = propagation::inject();
        g.bench_function("extract", |b| {
            b.iter(|| propagation::extract(headers.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
        });
    });
    g.finish();

    let mut g = c.benchmark_group("redaction");
    let redactor = Redactor::default();
    let map: Vec<KeyValue> = [
        "order_id",
        "namespace",
        "amount",
        "user.password",
        "task_uuid",
        "step_uuid",
        "attempt",
        "handler.name",
        "api_key",
        "duration_ms",
    ]
    .iter()
    .map(|k| KeyValue::new(*k, "value"))
    .collect();
    // What the export processor and the console do with every attribute map.
    g.bench_function("map_10_fields", |b| {
        b.iter_batched_ref(
            || map.clone(),
            |attrs| {
                for kv in attrs.iter_mut() {
                    if redactor.is_secret(kv.key.as_str()) {
                        kv.value = tasker_telemetry::redaction::REDACTED.into();
                    }
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// Headers of a step sent by the orchestrator: its span and correlation.
fn step_headers(p: &BenchPipeline) -> HashMap<String, String> {
    p.run(|| {
        let span = tracing::info_span!("orchestrator_step");
        let _e = span.enter();
        let _c = Correlation::new().with_namespace("bench").enter();
        propagation::inject()
    })
}

fn handler(c: &mut Criterion) {
    let mut g = c.benchmark_group("handler");
    g.bench_function("direct", |b| {
        b.iter(|| sum_handler(black_box(&HANDLER_INPUT)))
    });
    let p = pipeline("info", "info");
    let headers = step_headers(&p);
    let context: Fields = step_context()
        .into_iter()
        .map(|(k, v)| (k, FieldValue::Str(v)))
        .collect();
    let labels = [KeyValue::new("namespace", "bench")];
    p.run(|| {
        g.bench_function("framework", |b| {
            b.iter(|| {
                let remote =
                    propagation::extract(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                #[allow(clippy::expect_used)]
                let step =
                    start_handler_span("SumHandler", &context, Parent::Remote(&remote), None)
                        .expect("valid step context");
                let entered = step.span.enter();
                let started = Instant::now();
                let result = sum_handler(black_box(&HANDLER_INPUT));
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                tracing::info!(result, "step completed");
                metrics::counter(catalogue::STEPS_SUCCESSES_TOTAL.name).add(1.0, &labels);
                metrics::histogram(catalogue::STEP_EXECUTION_DURATION.name).record(ms, &labels);
                drop(entered);
                step.span.end();
                result
            })
        });
        // The worker's per-step path (`step::run_step`): the `execute_step` span continuing the
        // remote trace, and the step.claimed / executing / completed lifecycle events.
        #[allow(clippy::expect_used)]
        let message = StepMessage {
            step_name: "sum".to_owned(),
            handler: "SumHandler".to_owned(),
            attempt: 1,
            correlation: Correlation::from_parts(
                Some(&step_context()[0].1),
                None,
                Some(&step_context()[1].1),
                Some(&step_context()[2].1),
                Some("bench"),
            )
            .expect("valid ids"),
            headers: headers.clone(),
        };
        g.bench_function("run_step", |b| {
            b.iter(|| {
                step::run_step(&message, || {
                    Ok::<u64, String>(sum_handler(black_box(&HANDLER_INPUT)))
                })
            })
        });
    });
    g.finish();
}

/// The floor: what a span costs where nothing of ours runs. The OpenTelemetry SDK's own span (3
/// attributes, batch processor, discarding exporter) and a dedicated recorder (fastrace: a
/// thread-local buffer drained by a collector thread, discarding reporter).
fn floor(c: &mut Criterion) {
    use opentelemetry::trace::{Tracer, TracerProvider};
    let mut g = c.benchmark_group("floor");
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_span_processor(
            opentelemetry_sdk::trace::BatchSpanProcessor::builder(
                tasker_telemetry::testing::Discard,
            )
            .build(),
        )
        .build();
    let tracer = provider.tracer("floor");
    g.bench_function("otel_sdk_span_3_attributes", |b| {
        b.iter(|| {
            tracer
                .span_builder("step")
                .with_attributes([
                    KeyValue::new("order_id", 42),
                    KeyValue::new("namespace", "payments"),
                    KeyValue::new("amount", 12.5),
                ])
                .start(&tracer);
        })
    });
    let _ = provider.shutdown();

    struct DiscardReporter;
    impl fastrace::collector::Reporter for DiscardReporter {
        fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
            black_box(spans);
        }
    }
    fastrace::set_reporter(DiscardReporter, fastrace::collector::Config::default());
    g.bench_function("fastrace_span_3_properties", |b| {
        b.iter(|| {
            let span = fastrace::Span::root("step", fastrace::collector::SpanContext::random())
                .with_properties(|| {
                    [
                        ("order_id", "42"),
                        ("namespace", "payments"),
                        ("amount", "12.5"),
                    ]
                });
            drop(black_box(span));
        })
    });
    fastrace::flush();
    g.finish();
}

criterion_group!(
    benches,
    floor,
    spans,
    events,
    metric,
    propagation_and_redaction,
    handler
);
criterion_main!(benches);
