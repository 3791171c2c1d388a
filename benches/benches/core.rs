//! Criterion benchmarks of the core's hot paths: what a Rust span, a foreign (dynamic) span, a
//! log event, a metric and propagation cost through the production subscriber stack (console
//! layer writing JSON to a sink, OpenTelemetry layer with a batch processor and a discarding
//! exporter). `cargo bench -p tasker-telemetry-benches`; the cross-language report is built on
//! top of these numbers.

use std::hint::black_box;
use std::io::Write;
use std::sync::{Arc, Mutex};

use criterion::{criterion_group, criterion_main, Criterion};
use tasker_telemetry::config::LogFormat;
use tasker_telemetry::dynamic::{self, DynSpan, EventArgs, Parent, SpanStart};
use tasker_telemetry::fields::{FieldValue, Fields};
use tasker_telemetry::testing::{batch_pipeline, Discard};
use tasker_telemetry::{metrics, propagation, ConsoleWriter, Redactor, TelemetryConfig};
use tracing::Level;

struct Sink;
impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn pipeline() -> (
    tracing::Dispatch,
    opentelemetry_sdk::trace::SdkTracerProvider,
) {
    let mut config = TelemetryConfig::default();
    config.logging.format = LogFormat::Json;
    let sink: Arc<Mutex<dyn Write + Send>> = Arc::new(Mutex::new(Sink));
    batch_pipeline(&config, Discard, ConsoleWriter::Custom(sink))
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

fn spans(c: &mut Criterion) {
    let mut g = c.benchmark_group("span");
    g.bench_function("rust_no_subscriber", |b| {
        b.iter(|| tracing::info_span!("step", order_id = 42).in_scope(|| black_box(1)))
    });
    let (dispatch, _provider) = pipeline();
    tracing::dispatcher::with_default(&dispatch, || {
        g.bench_function("rust_exported", |b| {
            b.iter(|| tracing::info_span!("step", order_id = 42).in_scope(|| black_box(1)))
        });
        let fields = three_fields();
        g.bench_function("dynamic_exported_3_fields", |b| {
            b.iter(|| {
                DynSpan::start(SpanStart {
                    name: "handler_execution",
                    level: Level::INFO,
                    target: "ruby",
                    fields: &fields,
                    parent: Parent::Current,
                    correlation: None,
                })
                .end()
            })
        });
    });
    g.finish();
}

fn events(c: &mut Criterion) {
    let mut g = c.benchmark_group("event");
    let (dispatch, _provider) = pipeline();
    let fields = three_fields();
    tracing::dispatcher::with_default(&dispatch, || {
        g.bench_function("below_filter", |b| {
            b.iter(|| tracing::debug!(order_id = 42, "not printed"))
        });
        g.bench_function("json_line_dynamic_3_fields", |b| {
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

fn misc(c: &mut Criterion) {
    let mut g = c.benchmark_group("misc");
    g.bench_function("counter_add", |b| {
        b.iter(|| metrics::counter("tasker_steps_claimed_total").add(1.0, &[]))
    });
    let (dispatch, _provider) = pipeline();
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("sender");
        let _e = span.enter();
        g.bench_function("inject", |b| b.iter(propagation::inject));
        let headers = propagation::inject();
        g.bench_function("extract", |b| {
            b.iter(|| propagation::extract(headers.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
        });
    });
    let redactor = Redactor::default();
    let keys = [
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
    ];
    g.bench_function("redaction_10_keys", |b| {
        b.iter(|| keys.iter().filter(|k| redactor.is_secret(k)).count())
    });
    g.finish();
}

criterion_group!(benches, spans, events, misc);
criterion_main!(benches);
