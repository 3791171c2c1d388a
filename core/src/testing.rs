//! Test support: the production subscriber stack with spans collected in memory and console
//! lines captured, scoped to one thread with `tracing::dispatcher::with_default`. Exported
//! spans pass through the same processor (correlation stamping, redaction) as OTLP export.
//! Not for production use.

use std::sync::{Arc, Mutex};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SimpleSpanProcessor, SpanData, SpanExporter};
use tracing::Dispatch;

use crate::config::TelemetryConfig;
use crate::console::ConsoleWriter;
use crate::export::{self, ExportProcessor, SwapTracer};

#[derive(Debug, Clone, Default)]
struct Collect(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collect {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        if let Ok(mut spans) = self.0.lock() {
            spans.extend(batch);
        }
        std::future::ready(Ok(()))
    }
}

/// A private pipeline: use [`Capture::dispatch`] with `tracing::dispatcher::with_default`.
pub struct Capture {
    /// The subscriber.
    pub dispatch: Dispatch,
    spans: Collect,
    lines: Arc<Mutex<Vec<u8>>>,
    _provider: SdkTracerProvider,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Capture")
    }
}

/// Builds a capture with `config`'s console and filter settings (every span exported).
pub fn capture(config: &TelemetryConfig) -> Capture {
    let spans = Collect::default();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let writer: Arc<Mutex<dyn std::io::Write + Send>> = lines.clone();
    let (dispatch, provider) = with_exporter(config, spans.clone(), ConsoleWriter::Custom(writer));
    Capture {
        dispatch,
        spans,
        lines,
        _provider: provider,
    }
}

/// The production stack exporting to `exporter` as OTLP export does (queue admission, batch
/// processor with the configured sizes, export accounting), the console writing to `writer`.
/// Keep the provider alive while the dispatch is used.
pub fn batch_pipeline<E: SpanExporter + 'static>(
    config: &TelemetryConfig,
    exporter: E,
    writer: ConsoleWriter,
) -> (Dispatch, SdkTracerProvider) {
    let provider = export::exporting_tracer_provider(
        config,
        export::resource(config),
        exporter,
        config.snapshot().redactor,
    );
    pipeline(config, provider, writer)
}

fn with_exporter<E: SpanExporter + 'static>(
    config: &TelemetryConfig,
    exporter: E,
    writer: ConsoleWriter,
) -> (Dispatch, SdkTracerProvider) {
    let provider = SdkTracerProvider::builder()
        .with_sampler(export::sampler(config))
        .with_span_processor(ExportProcessor::new(
            SimpleSpanProcessor::new(exporter),
            config.snapshot().redactor,
        ))
        .build();
    pipeline(config, provider, writer)
}

fn pipeline(
    config: &TelemetryConfig,
    provider: SdkTracerProvider,
    writer: ConsoleWriter,
) -> (Dispatch, SdkTracerProvider) {
    let tracer = SwapTracer::new(provider.tracer(export::SCOPE));
    #[allow(clippy::expect_used)]
    let (subscriber, _pipeline) = crate::pipeline::build_subscriber(config, Some(writer), tracer)
        .expect("test configuration is valid");
    // Only the value length: a capture leaves the process's redactor and interner bound alone
    // (captures with other settings run side by side in the tests).
    crate::fields::set_max_value_len(config.spans.value_length_limit());
    (Dispatch::new(subscriber), provider)
}

/// `telemetry.spans.log_events` at once (benchmarks of both settings in one process).
pub fn set_log_events(on: bool) {
    crate::events::set_log_events(on);
}

/// Makes `config`'s limits the process's, as `init` does: value length and field count
/// (`fields`), interner bounds (`dynamic`), instrument bound (`metrics`), redactor.
pub fn install_limits(config: &TelemetryConfig) {
    config.snapshot().install();
}

/// Points the metric registry at `provider`'s meter with `config`'s settings (labels, redaction,
/// `telemetry.metrics.max_instruments`), as `init` does with an exporting meter provider.
pub fn install_meter(
    config: &TelemetryConfig,
    provider: &opentelemetry_sdk::metrics::SdkMeterProvider,
) {
    let snapshot = config.snapshot();
    snapshot.install();
    crate::metrics::install(
        Some(crate::metrics::meter_from(provider)),
        config.metrics.allow_correlation_labels,
        snapshot.redactor,
    );
}

/// The pipeline the benchmarks of every language measure: the production subscriber stack (JSON
/// console lines, OpenTelemetry layer) with the export path of OTLP export (queue admission,
/// batch span processor, export accounting) in front of an exporter that discards
/// ([`Discard`]), console lines written to `/dev/null` (one `write(2)` per line, as on a real
/// stream), and an SDK meter (aggregating, never exported) behind the metric registry.
/// Spans are scoped to threads that run [`BenchPipeline::run`]; the meter is process-wide.
pub struct BenchPipeline {
    /// The subscriber.
    pub dispatch: Dispatch,
    provider: SdkTracerProvider,
    _meter: opentelemetry_sdk::metrics::SdkMeterProvider,
}

impl std::fmt::Debug for BenchPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BenchPipeline")
    }
}

impl Drop for BenchPipeline {
    fn drop(&mut self) {
        // Shut the meter down quietly (the SDK logs when its last reference goes first).
        let _ = self._meter.shutdown();
    }
}

impl BenchPipeline {
    /// Builds it from `config` (use `logging.format = json`; `logging.level = off` or
    /// `logging.export_level = off` isolate one layer).
    pub fn new(config: &TelemetryConfig) -> std::io::Result<Self> {
        let null = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
        let writer: Arc<Mutex<dyn std::io::Write + Send>> = Arc::new(Mutex::new(null));
        let (dispatch, provider) = batch_pipeline(config, Discard, ConsoleWriter::Custom(writer));
        let meter = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
            .with_reader(
                opentelemetry_sdk::metrics::PeriodicReader::builder(Discard)
                    .with_interval(std::time::Duration::from_secs(3600))
                    .build(),
            )
            .build();
        crate::metrics::install(
            Some(crate::metrics::meter_from(&meter)),
            config.metrics.allow_correlation_labels,
            config.snapshot().redactor,
        );
        Ok(Self {
            dispatch,
            provider,
            _meter: meter,
        })
    }

    /// [`new`](Self::new) with the default configuration and JSON console lines: what the
    /// cross-language benchmarks use.
    pub fn json() -> std::io::Result<Self> {
        let mut config = TelemetryConfig::default();
        config.logging.format = crate::config::LogFormat::Json;
        Self::new(&config)
    }

    /// Runs `f` with this pipeline as the thread's subscriber.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        tracing::dispatcher::with_default(&self.dispatch, f)
    }

    /// `n` OpenTelemetry SDK spans with the same 3 attributes as [`dynamic_spans`], built with
    /// this pipeline's own tracer provider (the same export processor, redaction included, and
    /// exporter) but without `tracing`: the least a foreign span recorded directly into the
    /// SDK's span type would cost (`span_loop sdk N`).
    pub fn sdk_spans(&self, n: u64) {
        use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
        let tracer = self.provider.tracer("bench");
        for _ in 0..n {
            let mut span = tracer
                .span_builder("charge_payment")
                .with_attributes([
                    opentelemetry::KeyValue::new("order_id", 42),
                    opentelemetry::KeyValue::new("namespace", "payments"),
                    opentelemetry::KeyValue::new("amount", 12.5),
                ])
                .start(&tracer);
            span.end();
        }
    }

    /// Waits until the spans ended so far have gone through the batch processor (instruction
    /// counts include the exporter thread's share of them).
    pub fn flush(&self) {
        let _ = self.provider.force_flush();
    }
}

/// Starts and ends `n` dynamic spans with the three fields of the benchmarks (`order_id = 42`,
/// `namespace = "payments"`, `amount = 12.5`), as a binding's span does on the Rust side (with
/// `enter`, each is also entered and exited, as the Python binding's spans are): the bindings'
/// benchmarks time it in their own process to get the Rust-side span cost.
pub fn dynamic_spans(n: u64, enter: bool) {
    spans_under(n, enter, crate::dynamic::Parent::Current);
}

/// [`dynamic_spans`] (not entered), each the child of one outer dynamic span, as the spans of a
/// handler inside its step span.
pub fn nested_dynamic_spans(n: u64) {
    use crate::dynamic::{DynSpan, Parent, SpanStart};
    let outer = DynSpan::start(SpanStart {
        name: "handler_execution",
        level: tracing::Level::INFO,
        target: "bench",
        fields: &crate::fields::Fields::new(),
        parent: Parent::Current,
        correlation: None,
    });
    spans_under(n, false, Parent::Span(&outer));
    outer.end();
}

fn spans_under(n: u64, enter: bool, parent: crate::dynamic::Parent<'_>) {
    use crate::dynamic::{DynSpan, SpanStart};
    use crate::fields::{FieldValue, Fields};
    let fields: Fields = [
        ("order_id", FieldValue::Int(42)),
        ("namespace", FieldValue::Str("payments".into())),
        ("amount", FieldValue::Float(12.5)),
    ]
    .into_iter()
    .collect();
    for _ in 0..n {
        let span = DynSpan::start(SpanStart {
            name: "charge_payment",
            level: tracing::Level::INFO,
            target: "bench",
            fields: &fields,
            parent,
            correlation: None,
        });
        if enter {
            span.enter_raw();
            span.exit_raw();
        }
        span.end();
    }
}

/// An exporter that discards everything (benchmarks).
#[derive(Debug, Clone, Default)]
pub struct Discard;

impl SpanExporter for Discard {
    fn export(
        &self,
        _batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        std::future::ready(Ok(()))
    }
}

impl opentelemetry_sdk::metrics::exporter::PushMetricExporter for Discard {
    fn export(
        &self,
        _metrics: &opentelemetry_sdk::metrics::data::ResourceMetrics,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        std::future::ready(Ok(()))
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: std::time::Duration) -> OTelSdkResult {
        Ok(())
    }
    fn temporality(&self) -> opentelemetry_sdk::metrics::Temporality {
        opentelemetry_sdk::metrics::Temporality::Cumulative
    }
}

impl Capture {
    /// Runs `f` with this pipeline as the thread's subscriber.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        tracing::dispatcher::with_default(&self.dispatch, f)
    }

    /// Spans ended so far.
    pub fn spans(&self) -> Vec<SpanData> {
        self.spans.0.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The span named `name` (the first one ended).
    pub fn span(&self, name: &str) -> Option<SpanData> {
        self.spans().into_iter().find(|s| s.name == name)
    }

    /// Console output so far, one string per line.
    pub fn lines(&self) -> Vec<String> {
        let bytes = self.lines.lock().map(|l| l.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Console output parsed as JSON (use with `format = json`).
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// The string value of attribute `key` of `span`.
pub fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

/// Runs `f` inside a Rust `tracing` span named `name`, as an orchestrator calling a handler
/// in-process would. The span's parent is the language's `parent` (its context borrowed on this
/// thread for this call only), with `correlation` in scope. Returns `f`'s value and the span's
/// trace and span ids. The bindings' `_with_rust_span` / `_testing_rust_span` hooks.
pub fn in_rust_span<T>(
    name: &str,
    parent: Option<&crate::foreign::ForeignParent>,
    correlation: Option<&std::sync::Arc<crate::Correlation>>,
    f: impl FnOnce() -> T,
) -> (T, Option<String>, Option<String>) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let _borrowed = crate::foreign::parent_context(parent, correlation).attach();
    let span = tracing::info_span!("rust_span", otel.name = %name);
    let (trace_id, span_id) = crate::propagation::ids(&span.context()).unzip();
    (span.in_scope(f), trace_id, span_id)
}
