//! The OTLP side: tracer, meter and logger providers built from [`TelemetryConfig`], the
//! processor that stamps correlation attributes and redacts secrets, the export accounting of
//! [`crate::stats`] (queue admission and per-request counts), and the Tokio runtime the core
//! owns for gRPC (so hosts never need one).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use opentelemetry::trace::{SpanBuilder, SpanId, TraceId, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, IdGenerator, RandomIdGenerator, Sampler, SdkTracer,
    SdkTracerProvider, SpanData, SpanExporter, SpanProcessor,
};
use opentelemetry_sdk::Resource;

use crate::config::{Protocol, SamplerKind, TelemetryConfig};
use crate::correlation::Correlation;
use crate::error::ConfigError;
use crate::file_export::FileSpanExporter;
use crate::redaction::{display_url, Redactor};
use crate::stats::{self, Signal};

pub(crate) use crate::SCOPE;

/// The tracer the `tracing` layer uses; swapped when export is configured or restarted.
#[derive(Debug, Clone)]
pub(crate) struct SwapTracer {
    current: Arc<ArcSwap<SdkTracer>>,
}

impl SwapTracer {
    pub(crate) fn new(tracer: SdkTracer) -> Self {
        Self {
            current: Arc::new(ArcSwap::from_pointee(tracer)),
        }
    }

    pub(crate) fn swap(&self, tracer: SdkTracer) {
        self.current.store(Arc::new(tracer));
    }
}

impl opentelemetry::trace::Tracer for SwapTracer {
    type Span = opentelemetry_sdk::trace::Span;

    fn build_with_context(&self, builder: SpanBuilder, parent_cx: &Context) -> Self::Span {
        self.current.load().build_with_context(builder, parent_cx)
    }
}

/// Stamps the correlation of the parent context on every span at start, redacts secret
/// attributes (span and event attributes) before the span leaves the process, and (for OTLP
/// export) admits the span to the export queue or counts it as dropped.
#[derive(Debug)]
pub(crate) struct ExportProcessor<P> {
    inner: P,
    redactor: Arc<Redactor>,
    /// Capacity of the export queue behind `inner`, when the books of [`crate::stats`] are kept.
    queue: Option<usize>,
}

impl<P> ExportProcessor<P> {
    pub(crate) fn new(inner: P, redactor: Arc<Redactor>) -> Self {
        Self {
            inner,
            redactor,
            queue: None,
        }
    }

    /// Admits spans to `inner` (a batch processor with a queue of `capacity`) only while there
    /// is room, counting the others as dropped.
    pub(crate) fn with_queue(mut self, capacity: usize) -> Self {
        self.queue = Some(capacity);
        self
    }
}

impl<P: SpanProcessor> SpanProcessor for ExportProcessor<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        use opentelemetry::trace::Span as _;
        if let Some(c) = Correlation::from_context(cx) {
            c.with_attributes(|attrs| span.set_attributes(attrs.iter().cloned()));
        }
        if span.span_context().is_sampled() {
            stats::span_started();
        }
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        if !span.span_context.is_sampled() {
            // Never exported (the batch processor drops it): not admitted to the queue either.
            return;
        }
        stats::span_ended();
        if let Some(capacity) = self.queue {
            if !stats::counters(Signal::Traces).admit(capacity) {
                return;
            }
        }
        crate::dynamic::expand_fallback_fields(&mut span.attributes);
        for event in span.events.events.iter_mut() {
            crate::dynamic::expand_fallback_fields(&mut event.attributes);
        }
        self.redactor.redact_span(&mut span);
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The resource of a configuration: detected attributes, then the configured ones
/// ([`crate::resource`]).
pub(crate) fn resource(config: &TelemetryConfig) -> Resource {
    crate::resource::build(config)
}

/// The sampler of a configuration, as the OpenTelemetry specification defines each
/// (`parentbased_*`: the SDK's `ParentBased`, whose children of sampled parents, remote or
/// local, are sampled and of unsampled ones dropped; the named sampler decides for roots).
pub(crate) fn sampler(config: &TelemetryConfig) -> Sampler {
    let ratio = config.sampling.ratio;
    match config.sampling.sampler {
        SamplerKind::AlwaysOn => Sampler::AlwaysOn,
        SamplerKind::AlwaysOff => Sampler::AlwaysOff,
        SamplerKind::TraceIdRatio => Sampler::TraceIdRatioBased(ratio),
        SamplerKind::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        SamplerKind::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        SamplerKind::ParentBasedTraceIdRatio => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
        }
    }
}

/// Trace and span ids that stay unique across `fork()`: the SDK's generator keeps its random
/// state in a thread-local that a fork copies, so forked children (pre-fork servers) would
/// repeat each other's ids. XOR-ing a mask derived from the process id keeps each process's
/// ids apart (within one process it is a bijection: ids stay uniformly random).
#[derive(Debug, Default)]
pub(crate) struct ForkSafeIdGenerator(RandomIdGenerator);

/// splitmix64 of the process id.
fn process_mask() -> u64 {
    let mut z = u64::from(std::process::id()).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl IdGenerator for ForkSafeIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        let mask = process_mask();
        let random = u128::from_be_bytes(self.0.new_trace_id().to_bytes());
        TraceId::from(random ^ (u128::from(mask) << 64 | u128::from(mask.rotate_left(32))))
    }

    fn new_span_id(&self) -> SpanId {
        let random = u64::from_be_bytes(self.0.new_span_id().to_bytes());
        SpanId::from(random ^ process_mask())
    }
}

/// The SDK's span limits from `[telemetry.spans]` (the SDK would read only some of the
/// `OTEL_*_LIMIT` variables itself; the configuration reads them all, with files and overrides).
pub(crate) fn span_limits(config: &TelemetryConfig) -> opentelemetry_sdk::trace::SpanLimits {
    opentelemetry_sdk::trace::SpanLimits {
        max_attributes_per_span: config.spans.max_attributes,
        max_events_per_span: config.spans.max_events,
        max_links_per_span: config.spans.max_links,
        max_attributes_per_event: config.spans.max_event_attributes,
        max_attributes_per_link: config.spans.max_link_attributes,
    }
}

/// A tracer provider with no exporter: spans get ids and contexts (for logs and propagation)
/// but go nowhere. Used before `init` and when export is off.
pub(crate) fn local_tracer_provider(config: &TelemetryConfig) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_id_generator(ForkSafeIdGenerator::default())
        .with_sampler(sampler(config))
        .with_span_limits(span_limits(config))
        .with_resource(resource(config))
        .build()
}

/// Everything that exports, kept until shutdown.
pub(crate) struct Exporters {
    pub(crate) tracer_provider: SdkTracerProvider,
    pub(crate) meter_provider: Option<SdkMeterProvider>,
    pub(crate) logger_provider: Option<SdkLoggerProvider>,
    pub(crate) runtime: Option<tokio::runtime::Runtime>,
    /// `tasker_telemetry_dropped_total`, observed from [`crate::stats`] at each collection.
    pub(crate) _dropped_metric: Option<opentelemetry::metrics::ObservableCounter<u64>>,
}

/// Exports what the providers hold now; the errors, one per signal that failed.
pub(crate) fn force_flush(
    tracer_provider: &SdkTracerProvider,
    meter_provider: Option<&SdkMeterProvider>,
    logger_provider: Option<&SdkLoggerProvider>,
) -> Vec<String> {
    let mut errors = Vec::new();
    if let Err(e) = tracer_provider.force_flush() {
        errors.push(format!("traces: {e}"));
    }
    if let Some(mp) = meter_provider {
        if let Err(e) = mp.force_flush() {
            errors.push(format!("metrics: {e}"));
        }
    }
    if let Some(lp) = logger_provider {
        if let Err(e) = lp.force_flush() {
            errors.push(format!("logs: {e}"));
        }
    }
    errors
}

impl Exporters {
    pub(crate) fn tracer(&self) -> SdkTracer {
        self.tracer_provider.tracer(SCOPE)
    }

    /// Flushes and stops every provider (each waits at most `timeout`) and the gRPC runtime;
    /// the errors, one per signal that failed.
    pub(crate) fn shutdown(self, timeout: std::time::Duration) -> Vec<String> {
        let mut errors = Vec::new();
        if let Err(e) = self.tracer_provider.shutdown_with_timeout(timeout) {
            errors.push(format!("traces: {e}"));
        }
        if let Some(mp) = self.meter_provider {
            if let Err(e) = mp.shutdown_with_timeout(timeout) {
                errors.push(format!("metrics: {e}"));
            }
        }
        if let Some(lp) = self.logger_provider {
            if let Err(e) = lp.shutdown_with_timeout(timeout) {
                errors.push(format!("logs: {e}"));
            }
        }
        if let Some(rt) = self.runtime {
            rt.shutdown_background();
        }
        errors
    }
}

fn signal_endpoint(config: &TelemetryConfig, path: &str) -> String {
    let base = config.otlp.endpoint.clone().unwrap_or_default();
    match config.otlp.protocol {
        Protocol::Grpc => base,
        Protocol::HttpProtobuf => {
            let trimmed = base.trim_end_matches('/');
            if trimmed.ends_with(path) {
                trimmed.to_owned()
            } else {
                format!("{trimmed}{path}")
            }
        }
    }
}

fn headers(config: &TelemetryConfig) -> HashMap<String, String> {
    config
        .otlp
        .headers
        .0
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn metadata(
    config: &TelemetryConfig,
    signal: &'static str,
) -> Result<tonic::metadata::MetadataMap, ConfigError> {
    let mut map = tonic::metadata::MetadataMap::new();
    for (k, v) in &config.otlp.headers.0 {
        let key = tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes());
        let value = tonic::metadata::MetadataValue::try_from(v.as_str());
        match (key, value) {
            (Ok(key), Ok(value)) => {
                map.insert(key, value);
            }
            _ => {
                return Err(ConfigError::Exporter {
                    signal,
                    endpoint: display_url(config.otlp.endpoint.as_deref().unwrap_or_default()),
                    reason: format!(
                        "header `{k}` is not a valid gRPC metadata name/value (value hidden)"
                    ),
                })
            }
        }
    }
    Ok(map)
}

fn build_error(
    config: &TelemetryConfig,
    signal: &'static str,
    e: impl std::fmt::Display,
) -> ConfigError {
    ConfigError::Exporter {
        signal,
        endpoint: display_url(config.otlp.endpoint.as_deref().unwrap_or_default()),
        reason: display_url(&e.to_string()),
    }
}

/// Runs an exporter's futures on the core's runtime (gRPC needs Tokio; the SDK's batch threads
/// are plain threads).
#[derive(Debug)]
struct OnRuntime<E> {
    inner: E,
    handle: tokio::runtime::Handle,
}

impl<E: SpanExporter> SpanExporter for OnRuntime<E> {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        std::future::ready(self.handle.block_on(self.inner.export(batch)))
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let _g = self.handle.enter();
        self.inner.shutdown_with_timeout(timeout)
    }
    fn force_flush(&self) -> OTelSdkResult {
        let _g = self.handle.enter();
        self.inner.force_flush()
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: PushMetricExporter> PushMetricExporter for OnRuntime<E> {
    fn export(
        &self,
        metrics: &ResourceMetrics,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        std::future::ready(self.handle.block_on(self.inner.export(metrics)))
    }
    fn force_flush(&self) -> OTelSdkResult {
        let _g = self.handle.enter();
        self.inner.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let _g = self.handle.enter();
        self.inner.shutdown_with_timeout(timeout)
    }
    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

impl<E: opentelemetry_sdk::logs::LogExporter> opentelemetry_sdk::logs::LogExporter
    for OnRuntime<E>
{
    fn export(
        &self,
        batch: opentelemetry_sdk::logs::LogBatch<'_>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        std::future::ready(self.handle.block_on(self.inner.export(batch)))
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let _g = self.handle.enter();
        self.inner.shutdown_with_timeout(timeout)
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Keeps the books of [`crate::stats`] for every export request of `inner`, and reports drops
/// (rate-limited) after each one. Runs on the exporters' threads, never on the caller's.
#[derive(Debug)]
struct Accounted<E> {
    inner: E,
}

/// One export request of `signal` with `n` items, in the books: counted as sending before
/// `export` starts (it may block, see [`OnRuntime`]), as sent or failed when it finishes.
fn accounted<F>(
    signal: Signal,
    n: usize,
    from_queue: bool,
    export: impl FnOnce() -> F,
) -> impl std::future::Future<Output = OTelSdkResult> + Send
where
    F: std::future::Future<Output = OTelSdkResult> + Send,
{
    let counters = stats::counters(signal);
    counters.sending(n, from_queue);
    let export = export();
    async move {
        let result = export.await;
        counters.sent(n, &result);
        stats::maybe_report();
        result
    }
}

impl<E: SpanExporter> SpanExporter for Accounted<E> {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let n = batch.len();
        accounted(Signal::Traces, n, true, || self.inner.export(batch))
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Accounted<E> {
    fn export(
        &self,
        metrics: &ResourceMetrics,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let n = metrics.scope_metrics().map(|s| s.metrics().count()).sum();
        accounted(Signal::Metrics, n, false, || self.inner.export(metrics))
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

impl<E: opentelemetry_sdk::logs::LogExporter> opentelemetry_sdk::logs::LogExporter
    for Accounted<E>
{
    fn export(
        &self,
        batch: opentelemetry_sdk::logs::LogBatch<'_>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let n = batch.iter().count();
        accounted(Signal::Logs, n, true, || self.inner.export(batch))
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Admits log records to the batch log processor only while its queue has room (see
/// [`ExportProcessor`]).
#[derive(Debug)]
struct QueuedLogs<P> {
    inner: P,
    capacity: usize,
}

impl<P: opentelemetry_sdk::logs::LogProcessor> opentelemetry_sdk::logs::LogProcessor
    for QueuedLogs<P>
{
    fn emit(
        &self,
        data: &mut opentelemetry_sdk::logs::SdkLogRecord,
        instrumentation: &opentelemetry::InstrumentationScope,
    ) {
        if stats::counters(Signal::Logs).admit(self.capacity) {
            self.inner.emit(data, instrumentation);
        }
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Registers `tasker_telemetry_dropped_total{signal, reason}` on `provider`.
fn dropped_metric(provider: &SdkMeterProvider) -> opentelemetry::metrics::ObservableCounter<u64> {
    use opentelemetry::metrics::MeterProvider as _;
    let def = crate::metrics::catalogue::TELEMETRY_DROPPED_TOTAL;
    provider
        .meter(SCOPE)
        .u64_observable_counter(def.name)
        .with_unit(def.unit)
        .with_description(def.description)
        .with_callback(|observer| {
            for (signal, reason, value) in stats::dropped_series() {
                observer.observe(
                    value,
                    &[
                        KeyValue::new("signal", signal),
                        KeyValue::new("reason", reason),
                    ],
                );
            }
        })
        .build()
}

/// The tracer provider of export to `exporter`: spans stamped with their correlation, admitted
/// to the bounded queue, redacted, batched with the configured sizes, and accounted in
/// [`crate::stats`] per export request. [`crate::testing::BenchPipeline`] measures this too.
pub(crate) fn exporting_tracer_provider<E: SpanExporter + 'static>(
    config: &TelemetryConfig,
    resource: Resource,
    exporter: E,
    redactor: Arc<Redactor>,
) -> SdkTracerProvider {
    let batch = BatchConfigBuilder::default()
        .with_max_queue_size(config.otlp.max_queue_size)
        .with_max_export_batch_size(config.otlp.batch_size.min(config.otlp.max_queue_size))
        .with_scheduled_delay(config.otlp.scheduled_delay)
        .build();
    let processor = BatchSpanProcessor::builder(Accounted { inner: exporter })
        .with_batch_config(batch)
        .build();
    tracer_provider(config, resource, processor, redactor)
}

fn tracer_provider(
    config: &TelemetryConfig,
    resource: Resource,
    processor: impl SpanProcessor + 'static,
    redactor: Arc<Redactor>,
) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_id_generator(ForkSafeIdGenerator::default())
        .with_sampler(sampler(config))
        .with_span_limits(span_limits(config))
        .with_resource(resource)
        .with_span_processor(
            ExportProcessor::new(processor, redactor).with_queue(config.otlp.max_queue_size),
        )
        .build()
}

/// Builds the exporting providers. Runs on its own thread so that neither the blocking HTTP
/// client nor the gRPC channel sees (or needs) the caller's async runtime.
pub(crate) fn build_exporters(
    config: &TelemetryConfig,
    redactor: Arc<Redactor>,
) -> Result<Exporters, ConfigError> {
    let config_owned = config.clone();
    std::thread::Builder::new()
        .name("tasker-telemetry-init".into())
        .spawn(move || build_on_this_thread(&config_owned, redactor))
        .map_err(|e| build_error(config, "traces", e))?
        .join()
        .map_err(|_| build_error(config, "traces", "exporter construction panicked"))?
}

fn build_on_this_thread(
    config: &TelemetryConfig,
    redactor: Arc<Redactor>,
) -> Result<Exporters, ConfigError> {
    let resource = resource(config);
    if let (None, Some(path)) = (&config.otlp.endpoint, &config.otlp.file) {
        stats::configure_reports(
            config.otlp.drop_warning_interval,
            &path.display().to_string(),
            config.otlp.max_queue_size,
        );
        return Ok(Exporters {
            tracer_provider: exporting_tracer_provider(
                config,
                resource,
                FileSpanExporter::open(path)?,
                redactor,
            ),
            meter_provider: None,
            logger_provider: None,
            runtime: None,
            _dropped_metric: None,
        });
    }
    let runtime = match config.otlp.protocol {
        Protocol::Grpc => Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("tasker-telemetry-grpc")
                .enable_all()
                .build()
                .map_err(|e| build_error(config, "traces", e))?,
        ),
        Protocol::HttpProtobuf => None,
    };
    let _entered = runtime.as_ref().map(|rt| rt.enter());
    let handle = runtime.as_ref().map(|rt| rt.handle().clone());

    let tracer_provider = match &handle {
        Some(handle) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(signal_endpoint(config, "/v1/traces"))
                .with_timeout(config.otlp.timeout)
                .with_metadata(metadata(config, "traces")?)
                .build()
                .map_err(|e| build_error(config, "traces", e))?;
            let exporter = OnRuntime {
                inner: exporter,
                handle: handle.clone(),
            };
            exporting_tracer_provider(config, resource.clone(), exporter, redactor)
        }
        None => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(signal_endpoint(config, "/v1/traces"))
                .with_timeout(config.otlp.timeout)
                .with_headers(headers(config))
                .build()
                .map_err(|e| build_error(config, "traces", e))?;
            exporting_tracer_provider(config, resource.clone(), exporter, redactor)
        }
    };

    let meter_provider = if config.metrics.enabled {
        let provider = SdkMeterProvider::builder().with_resource(resource.clone());
        let provider = match &handle {
            Some(handle) => {
                let exporter = opentelemetry_otlp::MetricExporter::builder()
                    .with_tonic()
                    .with_endpoint(signal_endpoint(config, "/v1/metrics"))
                    .with_timeout(config.otlp.timeout)
                    .with_metadata(metadata(config, "metrics")?)
                    .build()
                    .map_err(|e| build_error(config, "metrics", e))?;
                let reader = PeriodicReader::builder(Accounted {
                    inner: OnRuntime {
                        inner: exporter,
                        handle: handle.clone(),
                    },
                })
                .with_interval(config.metrics.export_interval)
                .build();
                provider.with_reader(reader)
            }
            None => {
                let exporter = opentelemetry_otlp::MetricExporter::builder()
                    .with_http()
                    .with_endpoint(signal_endpoint(config, "/v1/metrics"))
                    .with_timeout(config.otlp.timeout)
                    .with_headers(headers(config))
                    .build()
                    .map_err(|e| build_error(config, "metrics", e))?;
                let reader = PeriodicReader::builder(Accounted { inner: exporter })
                    .with_interval(config.metrics.export_interval)
                    .build();
                provider.with_reader(reader)
            }
        };
        Some(provider.build())
    } else {
        None
    };

    let logger_provider = if config.logging.export_logs {
        let log_batch = opentelemetry_sdk::logs::BatchConfigBuilder::default()
            .with_max_queue_size(config.otlp.max_queue_size)
            .with_max_export_batch_size(config.otlp.batch_size.min(config.otlp.max_queue_size))
            .with_scheduled_delay(config.otlp.scheduled_delay)
            .build();
        let processor = match &handle {
            Some(handle) => {
                let exporter = opentelemetry_otlp::LogExporter::builder()
                    .with_tonic()
                    .with_endpoint(signal_endpoint(config, "/v1/logs"))
                    .with_timeout(config.otlp.timeout)
                    .with_metadata(metadata(config, "logs")?)
                    .build()
                    .map_err(|e| build_error(config, "logs", e))?;
                opentelemetry_sdk::logs::BatchLogProcessor::builder(Accounted {
                    inner: OnRuntime {
                        inner: exporter,
                        handle: handle.clone(),
                    },
                })
                .with_batch_config(log_batch)
                .build()
            }
            None => {
                let exporter = opentelemetry_otlp::LogExporter::builder()
                    .with_http()
                    .with_endpoint(signal_endpoint(config, "/v1/logs"))
                    .with_timeout(config.otlp.timeout)
                    .with_headers(headers(config))
                    .build()
                    .map_err(|e| build_error(config, "logs", e))?;
                opentelemetry_sdk::logs::BatchLogProcessor::builder(Accounted { inner: exporter })
                    .with_batch_config(log_batch)
                    .build()
            }
        };
        Some(
            SdkLoggerProvider::builder()
                .with_resource(resource)
                .with_log_processor(QueuedLogs {
                    inner: processor,
                    capacity: config.otlp.max_queue_size,
                })
                .build(),
        )
    } else {
        None
    };
    drop(_entered);
    stats::configure_reports(
        config.otlp.drop_warning_interval,
        config.otlp.endpoint.as_deref().unwrap_or_default(),
        config.otlp.max_queue_size,
    );
    Ok(Exporters {
        _dropped_metric: meter_provider.as_ref().map(dropped_metric),
        tracer_provider,
        meter_provider,
        logger_provider,
        runtime,
    })
}
