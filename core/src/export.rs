//! The OTLP side: tracer, meter and logger providers built from [`TelemetryConfig`], the
//! processor that stamps correlation attributes and redacts secrets, the export accounting of
//! [`crate::stats`] (queue admission and per-request counts), and the Tokio runtime the core
//! owns for gRPC (so hosts never need one).

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

use crate::config::{Compression, Protocol, SamplerKind, SignalExport, TelemetryConfig};
use crate::correlation::Correlation;
use crate::error::ConfigError;
use crate::file_export::FileSpanExporter;
use crate::redaction::{display_url, Redactor};
use crate::stats::{self, Signal};

pub(crate) use crate::SCOPE;

pub(crate) mod tls;

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
    /// The registry of the meter provider's Prometheus reader (`OTEL_METRICS_EXPORTER`
    /// with `prometheus`), read by [`crate::exposition`].
    pub(crate) prometheus: Option<Arc<prometheus::Registry>>,
    /// `tasker_telemetry_dropped_total`, observed from [`crate::stats`] at each collection.
    pub(crate) _dropped_metric: Option<opentelemetry::metrics::ObservableCounter<u64>>,
    pub(crate) _suppressed_metric: Option<opentelemetry::metrics::ObservableCounter<u64>>,
    /// `process.*` ([`crate::process`]), with `telemetry.metrics.process_metrics`.
    pub(crate) _process_metrics: Option<crate::process::ProcessInstruments>,
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

/// The gRPC metadata of `export`'s headers.
fn metadata(export: &SignalExport) -> Result<tonic::metadata::MetadataMap, ConfigError> {
    let mut map = tonic::metadata::MetadataMap::new();
    for (k, v) in &export.headers.0 {
        let key = tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes());
        let value = tonic::metadata::MetadataValue::try_from(v.as_str());
        match (key, value) {
            (Ok(key), Ok(value)) => {
                map.insert(key, value);
            }
            _ => {
                return Err(build_error(
                    export,
                    format!("header `{k}` is not a valid gRPC metadata name/value (value hidden)"),
                ))
            }
        }
    }
    Ok(map)
}

fn build_error(export: &SignalExport, e: impl std::fmt::Display) -> ConfigError {
    ConfigError::Exporter {
        signal: export.signal.as_str(),
        endpoint: display_url(&export.url),
        reason: display_url(&e.to_string()),
    }
}

/// An error before any signal's exporter exists (the runtime, the construction thread).
fn setup_error(config: &TelemetryConfig, e: impl std::fmt::Display) -> ConfigError {
    ConfigError::Exporter {
        signal: "traces",
        endpoint: display_url(config.otlp.endpoint.as_deref().unwrap_or_default()),
        reason: e.to_string(),
    }
}

fn is_https(export: &SignalExport) -> bool {
    export
        .url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

/// The blocking HTTP client of an http/protobuf or http/json exporter: rustls with the TLS
/// settings of `export` and its request timeout. Built on a thread of its own (the blocking
/// client must not be built inside the gRPC runtime, which may be entered here).
fn http_client(export: &SignalExport) -> Result<reqwest::blocking::Client, ConfigError> {
    let tls_config = if is_https(export) {
        tls::rustls_config(export).map_err(|e| build_error(export, e))?
    } else {
        // Never used for http://, but the client needs a TLS backend.
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| build_error(export, e))?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
    };
    let timeout = export.timeout;
    let https = is_https(export);
    std::thread::Builder::new()
        .name("tasker-telemetry-http-client".into())
        .spawn(move || {
            // No redirects: reqwest would re-send custom headers (API keys) to the new host.
            reqwest::blocking::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .https_only(https)
                .tls_backend_preconfigured(tls_config)
                .build()
        })
        .map_err(|e| build_error(export, e))?
        .join()
        .map_err(|_| build_error(export, "building the HTTP client panicked"))?
        .map_err(|e| build_error(export, format!("cannot build the HTTP client: {e}")))
}

/// The blocking client of an HTTP exporter, keeping the cause of a failed request (TLS,
/// connection) in [`crate::stats`]: the exporter reports every transport failure only as
/// "network error", which says nothing a user can act on.
///
/// It also sends exactly the resolved headers: the exporter adds the ones of
/// `OTEL_EXPORTER_OTLP_HEADERS` (or the per-signal variable) on its own, which would put the
/// environment's headers over an `init` override or a per-signal table (and send a generic API
/// key to a per-signal endpoint elsewhere).
#[derive(Debug)]
struct DiagnosedClient {
    inner: reqwest::blocking::Client,
    signal: Signal,
    headers: reqwest::header::HeaderMap,
}

/// The resolved headers of `export` as HTTP headers (names and values were checked when the
/// configuration was loaded; an invalid one is an error naming the header, never its value).
fn http_headers(export: &SignalExport) -> Result<reqwest::header::HeaderMap, ConfigError> {
    let mut map = reqwest::header::HeaderMap::new();
    for (k, v) in &export.headers.0 {
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes());
        let value = reqwest::header::HeaderValue::from_str(v);
        match (name, value) {
            (Ok(name), Ok(mut value)) => {
                value.set_sensitive(true);
                map.insert(name, value);
            }
            _ => {
                return Err(build_error(
                    export,
                    format!("header `{k}` is not a valid HTTP header name/value (value hidden)"),
                ))
            }
        }
    }
    Ok(map)
}

/// gRPC metadata set to exactly the resolved headers, for the reason given on
/// [`DiagnosedClient`] (runs after the exporter has added the environment's).
#[derive(Clone)]
struct ExactMetadata(tonic::metadata::MetadataMap);

impl tonic::service::Interceptor for ExactMetadata {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        *request.metadata_mut() = self.0.clone();
        Ok(request)
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for DiagnosedClient {
    async fn send_bytes(
        &self,
        request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> Result<
        opentelemetry_http::Response<opentelemetry_http::Bytes>,
        opentelemetry_http::HttpError,
    > {
        let mut request = request;
        let headers = request.headers_mut();
        let kept: Vec<_> = [
            reqwest::header::CONTENT_TYPE,
            reqwest::header::CONTENT_ENCODING,
            reqwest::header::CONTENT_LENGTH,
            reqwest::header::USER_AGENT,
        ]
        .into_iter()
        .filter_map(|name| headers.get(&name).cloned().map(|value| (name, value)))
        .collect();
        headers.clear();
        headers.extend(kept);
        headers.extend(self.headers.clone());
        let result = self.inner.send_bytes(request).await;
        if let Err(e) = &result {
            let mut chain = e.to_string();
            let mut source = e.source();
            while let Some(cause) = source {
                chain.push_str(": ");
                chain.push_str(&cause.to_string());
                source = cause.source();
            }
            stats::transport_error(self.signal, display_url(&chain));
        }
        result
    }
}

/// Builds the OTLP exporter of one signal from `$builder` (`SpanExporter::builder()` etc.)
/// with the resolved settings of `$export`: gRPC (tonic, TLS from [`tls::tonic_config`] for
/// `https://`) or HTTP (our own blocking client, see [`http_client`]).
macro_rules! otlp_exporter {
    ($builder:expr, $export:expr) => {{
        let export: &SignalExport = $export;
        let gzip = export.compression == Compression::Gzip;
        match export.protocol {
            Protocol::Grpc => {
                let mut b = $builder
                    .with_tonic()
                    .with_protocol(opentelemetry_otlp::Protocol::Grpc)
                    .with_endpoint(export.url.clone())
                    .with_timeout(export.timeout)
                    .with_metadata(metadata(export)?)
                    .with_interceptor(ExactMetadata(metadata(export)?));
                if is_https(export) {
                    b = b.with_tls_config(
                        tls::tonic_config(export).map_err(|e| build_error(export, e))?,
                    );
                }
                if gzip {
                    b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
                }
                b.build()
            }
            Protocol::HttpProtobuf | Protocol::HttpJson => {
                let wire = if export.protocol == Protocol::HttpJson {
                    opentelemetry_otlp::Protocol::HttpJson
                } else {
                    opentelemetry_otlp::Protocol::HttpBinary
                };
                let mut b = $builder
                    .with_http()
                    .with_protocol(wire)
                    .with_endpoint(export.url.clone())
                    .with_timeout(export.timeout)
                    .with_headers(export.headers.0.clone().into_iter().collect())
                    .with_http_client(DiagnosedClient {
                        inner: http_client(export)?,
                        signal: export.signal,
                        headers: http_headers(export)?,
                    });
                if gzip {
                    b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
                }
                b.build()
            }
        }
        .map_err(|e| build_error(export, e))
    }};
}

/// Warnings about settings that are accepted but probably not what was meant.
fn warn_about(export: &SignalExport) {
    if let Some(note) = &export.endpoint_note {
        tracing::warn!(target: "tasker_telemetry::export", "{note}");
    }
    let tls_files = [
        &export.certificate,
        &export.client_certificate,
        &export.client_key,
    ];
    if !is_https(export) {
        if let Some(file) = tls_files.into_iter().flatten().next() {
            tracing::warn!(
                target: "tasker_telemetry::export",
                "{} is set but the {} endpoint {} is not https://: the connection is not encrypted and the file is not used",
                file.setting,
                export.signal.as_str(),
                display_url(&export.url)
            );
        }
    }
    if let Some(hint) = stats::port_hint(&export.url, export.protocol) {
        tracing::warn!(target: "tasker_telemetry::export", "{} export: {hint}", export.signal.as_str());
    }
}

/// Runs an exporter's futures on the core's runtime when it has one (gRPC needs Tokio; the
/// SDK's batch threads are plain threads); HTTP exporters run as they are.
#[derive(Debug)]
struct OnRuntime<E> {
    inner: E,
    handle: Option<tokio::runtime::Handle>,
}

impl<E> OnRuntime<E> {
    fn enter(&self) -> Option<tokio::runtime::EnterGuard<'_>> {
        self.handle.as_ref().map(|h| h.enter())
    }
}

/// `fut` driven to completion on `handle` (blocking this plain thread), else as it is.
async fn on_runtime<F: std::future::Future>(
    handle: Option<tokio::runtime::Handle>,
    fut: F,
) -> F::Output {
    match handle {
        Some(handle) => handle.block_on(fut),
        None => fut.await,
    }
}

impl<E: SpanExporter> SpanExporter for OnRuntime<E> {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        on_runtime(self.handle.clone(), self.inner.export(batch))
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let _g = self.enter();
        self.inner.shutdown_with_timeout(timeout)
    }
    fn force_flush(&self) -> OTelSdkResult {
        let _g = self.enter();
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
        on_runtime(self.handle.clone(), self.inner.export(metrics))
    }
    fn force_flush(&self) -> OTelSdkResult {
        let _g = self.enter();
        self.inner.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let _g = self.enter();
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
        on_runtime(self.handle.clone(), self.inner.export(batch))
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let _g = self.enter();
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

/// Registers `tasker_telemetry_suppressed_total{reason}` on `provider`.
fn suppressed_metric(
    provider: &SdkMeterProvider,
) -> opentelemetry::metrics::ObservableCounter<u64> {
    use opentelemetry::metrics::MeterProvider as _;
    let def = crate::metrics::catalogue::TELEMETRY_SUPPRESSED_TOTAL;
    provider
        .meter(SCOPE)
        .u64_observable_counter(def.name)
        .with_unit(def.unit)
        .with_description(def.description)
        .with_callback(|observer| {
            for (reason, value) in crate::events::suppressed_series() {
                observer.observe(value, &[KeyValue::new("reason", reason)]);
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
        .map_err(|e| setup_error(config, e))?
        .join()
        .map_err(|_| setup_error(config, "exporter construction panicked"))?
}

fn build_on_this_thread(
    config: &TelemetryConfig,
    redactor: Arc<Redactor>,
) -> Result<Exporters, ConfigError> {
    let resource = resource(config);
    let [traces, metrics, logs] = Signal::ALL.map(|s| config.otlp_export(s));
    if logs.is_none() && config.otlp.logs.endpoint.is_some() {
        tracing::warn!(
            target: "tasker_telemetry::export",
            "a logs endpoint is set (telemetry.otlp.logs.endpoint / OTEL_EXPORTER_OTLP_LOGS_ENDPOINT) but log events are not exported: set OTEL_LOGS_EXPORTER=otlp or TASKER_EXPORT_LOGS=true (telemetry.logging.export_logs) to send them"
        );
    }
    let exports = [&traces, &metrics, &logs];
    for export in exports.iter().copied().flatten() {
        warn_about(export);
    }
    let runtime = if exports
        .iter()
        .any(|e| e.as_ref().is_some_and(|e| e.protocol == Protocol::Grpc))
    {
        Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("tasker-telemetry-grpc")
                .enable_all()
                .build()
                .map_err(|e| setup_error(config, e))?,
        )
    } else {
        None
    };
    let _entered = runtime.as_ref().map(|rt| rt.enter());
    let handle_for = |export: &SignalExport| match export.protocol {
        Protocol::Grpc => runtime.as_ref().map(|rt| rt.handle().clone()),
        Protocol::HttpProtobuf | Protocol::HttpJson => None,
    };

    let tracer_provider = match (&traces, &config.otlp.file) {
        (Some(export), _) => {
            let exporter = OnRuntime {
                inner: otlp_exporter!(opentelemetry_otlp::SpanExporter::builder(), export)?,
                handle: handle_for(export),
            };
            exporting_tracer_provider(config, resource.clone(), exporter, redactor)
        }
        (None, Some(path)) if config.otlp.export_traces => exporting_tracer_provider(
            config,
            resource.clone(),
            FileSpanExporter::open(path)?,
            redactor,
        ),
        (None, _) => local_tracer_provider(config),
    };

    let otlp_reader = match &metrics {
        Some(export) => {
            let exporter = OnRuntime {
                inner: otlp_exporter!(opentelemetry_otlp::MetricExporter::builder(), export)?,
                handle: handle_for(export),
            };
            Some(
                PeriodicReader::builder(Accounted { inner: exporter })
                    .with_interval(config.metrics.export_interval)
                    .build(),
            )
        }
        None => None,
    };
    let prometheus_reader = if config.keeps_prometheus_metrics() {
        Some(crate::exposition::reader()?)
    } else {
        None
    };
    let prometheus = prometheus_reader.as_ref().map(|(_, r)| r.clone());
    let meter_provider = if otlp_reader.is_some() || prometheus_reader.is_some() {
        let mut builder = SdkMeterProvider::builder().with_resource(resource.clone());
        if let Some(reader) = otlp_reader {
            builder = builder.with_reader(reader);
        }
        if let Some((reader, _)) = prometheus_reader {
            builder = builder.with_reader(reader);
        }
        Some(builder.build())
    } else {
        None
    };

    let logger_provider = match &logs {
        Some(export) => {
            let log_batch = opentelemetry_sdk::logs::BatchConfigBuilder::default()
                .with_max_queue_size(config.otlp.max_queue_size)
                .with_max_export_batch_size(config.otlp.batch_size.min(config.otlp.max_queue_size))
                .with_scheduled_delay(config.otlp.scheduled_delay)
                .build();
            let exporter = OnRuntime {
                inner: otlp_exporter!(opentelemetry_otlp::LogExporter::builder(), export)?,
                handle: handle_for(export),
            };
            let processor =
                opentelemetry_sdk::logs::BatchLogProcessor::builder(Accounted { inner: exporter })
                    .with_batch_config(log_batch)
                    .build();
            Some(
                SdkLoggerProvider::builder()
                    .with_resource(resource)
                    .with_log_processor(QueuedLogs {
                        inner: processor,
                        capacity: config.otlp.max_queue_size,
                    })
                    .build(),
            )
        }
        None => None,
    };
    drop(_entered);
    let targets = [&traces, &metrics, &logs].map(|e| {
        e.as_ref().map(|e| stats::ReportTarget {
            url: display_url(&e.url),
            protocol: e.protocol,
        })
    });
    let file_target = match (&targets[0], &config.otlp.file) {
        (None, Some(path)) if config.otlp.export_traces => Some(path.display().to_string()),
        _ => None,
    };
    stats::configure_reports(
        config.otlp.drop_warning_interval,
        targets,
        file_target,
        config.otlp.max_queue_size,
    );
    Ok(Exporters {
        _dropped_metric: meter_provider.as_ref().map(dropped_metric),
        _suppressed_metric: meter_provider.as_ref().map(suppressed_metric),
        _process_metrics: meter_provider
            .as_ref()
            .filter(|_| config.metrics.process_metrics)
            .map(crate::process::register),
        tracer_provider,
        meter_provider,
        logger_provider,
        runtime,
        prometheus,
    })
}
