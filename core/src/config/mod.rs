//! [`TelemetryConfig`]: defaults, TOML files, the `TASKER_ENV` overlay and environment variables.
//!
//! Precedence, lowest first: built-in defaults, the base file (`TASKER_CONFIG` or an explicit
//! path), the environment overlay `<dir>/<TASKER_ENV>.toml` (where `<dir>` is the base file's
//! folder; without a base file there is no overlay), then environment variables (the standard
//! `OTEL_*` ones and `TASKER_*`), then programmatic overrides ([`TelemetryConfig::set`]).
//!
//! A file may be an application's own: only its `[telemetry]` table is read, the other
//! top-level keys and tables are left to the application. An unknown key inside `[telemetry]`
//! (or an unknown override) is an error with the closest known key as a suggestion.
//!
//! Every key is described once, in [`SETTINGS`] (`settings.rs`), which drives parsing of files,
//! environment variables and overrides alike, and the README's configuration reference; the
//! value parsers are in `parse.rs`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{ConfigError, Origin};
use crate::fields::FieldValue;
use crate::redaction::DEFAULT_REDACT_KEYS;

mod parse;
mod settings;
mod suggest;

use parse::Raw;
use settings::find_setting;
pub use settings::{Setting, SETTINGS};

/// OTLP wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP over gRPC (tonic); the core runs its own Tokio runtime for it.
    Grpc,
    /// OTLP protobuf over HTTP (blocking client on the exporter thread; no runtime needed).
    HttpProtobuf,
    /// OTLP JSON over HTTP (as `HttpProtobuf`, with JSON bodies).
    HttpJson,
}

impl Protocol {
    /// The spelling of `OTEL_EXPORTER_OTLP_PROTOCOL`: `grpc`, `http/protobuf`, `http/json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
        }
    }

    /// The port OTLP receivers listen on for this protocol by convention (4317 for gRPC, 4318
    /// for HTTP).
    pub fn default_port(self) -> u16 {
        match self {
            Protocol::Grpc => 4317,
            Protocol::HttpProtobuf | Protocol::HttpJson => 4318,
        }
    }
}

/// Compression of OTLP export requests (`OTEL_EXPORTER_OTLP_COMPRESSION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Uncompressed (the default).
    None,
    /// gzip.
    Gzip,
}

/// PEM files of the TLS connection to a collector (`OTEL_EXPORTER_OTLP_CERTIFICATE`,
/// `..._CLIENT_CERTIFICATE`, `..._CLIENT_KEY`). Without a `certificate`, the system's roots are
/// trusted; with one, its certificates are trusted too (a private CA). A client certificate and
/// key (both or neither) authenticate this process to the collector (mutual TLS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificates (PEM) to trust besides the system's roots.
    pub certificate: Option<PathBuf>,
    /// This client's certificate chain (PEM), for mutual TLS.
    pub client_certificate: Option<PathBuf>,
    /// This client's private key (PEM, PKCS#8, PKCS#1 or SEC1), for mutual TLS. Never printed.
    pub client_key: Option<PathBuf>,
}

/// `[telemetry.otlp.traces]`, `[telemetry.otlp.metrics]`, `[telemetry.otlp.logs]`: the settings
/// of one signal's exporter (`OTEL_EXPORTER_OTLP_<SIGNAL>_*`). Each one set wins over the generic
/// one of `[telemetry.otlp]`; see [`OtlpConfig::resolve`].
#[derive(Clone, Default, PartialEq)]
pub struct SignalOtlpConfig {
    /// The full URL of this signal's requests, used as is (no `/v1/<signal>` appended).
    pub endpoint: Option<String>,
    /// Wire protocol.
    pub protocol: Option<Protocol>,
    /// Timeout of one export request.
    pub timeout: Option<Duration>,
    /// Request headers, instead of the generic ones.
    pub headers: Option<Headers>,
    /// Compression.
    pub compression: Option<Compression>,
    /// TLS files, each instead of the generic one.
    pub tls: TlsFiles,
}

impl fmt::Debug for SignalOtlpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalOtlpConfig")
            .field(
                "endpoint",
                &self.endpoint.as_deref().map(crate::redaction::display_url),
            )
            .field("protocol", &self.protocol)
            .field("timeout", &self.timeout)
            .field("headers", &self.headers)
            .field("compression", &self.compression)
            .field("tls", &self.tls)
            .finish()
    }
}

/// One TLS file as resolved for a signal, with the setting it came from (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFile {
    /// The file.
    pub path: PathBuf,
    /// The key and its variable, e.g. ``telemetry.otlp.traces.certificate` (OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE)``.
    pub setting: String,
}

/// The exporter of one signal after precedence: what [`OtlpConfig::resolve`] returns.
#[derive(Clone, PartialEq)]
pub struct SignalExport {
    /// The signal.
    pub signal: crate::stats::Signal,
    /// Where the requests go: the per-signal endpoint as given, else the generic one with
    /// `/v1/<signal>` appended for the HTTP protocols (as is for gRPC).
    pub url: String,
    /// Wire protocol.
    pub protocol: Protocol,
    /// Timeout of one export request (the per-signal or generic exporter timeout, capped by
    /// `OTEL_BSP_EXPORT_TIMEOUT` for traces and `OTEL_METRIC_EXPORT_TIMEOUT` for metrics).
    pub timeout: Duration,
    /// Request headers (values never printed).
    pub headers: Headers,
    /// Compression.
    pub compression: Compression,
    /// CA certificates to trust besides the system's roots.
    pub certificate: Option<TlsFile>,
    /// Client certificate (mutual TLS).
    pub client_certificate: Option<TlsFile>,
    /// Client key (mutual TLS).
    pub client_key: Option<TlsFile>,
    /// Set when the generic endpoint ended in `/v1/<signal>` and was read as its base URL: the
    /// warning to log.
    pub endpoint_note: Option<String>,
}

impl fmt::Debug for SignalExport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalExport")
            .field("signal", &self.signal)
            .field("url", &crate::redaction::display_url(&self.url))
            .field("protocol", &self.protocol)
            .field("timeout", &self.timeout)
            .field("headers", &self.headers)
            .field("compression", &self.compression)
            .field("certificate", &self.certificate)
            .field("client_certificate", &self.client_certificate)
            .field("client_key", &self.client_key)
            .field("endpoint_note", &self.endpoint_note)
            .finish()
    }
}

/// Which traces are recorded and exported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerKind {
    /// Record every trace.
    AlwaysOn,
    /// Record nothing.
    AlwaysOff,
    /// Record a fraction (`ratio`) of traces, ignoring the parent's decision.
    TraceIdRatio,
    /// Follow the parent's decision; root spans are always recorded (the default).
    ParentBasedAlwaysOn,
    /// Follow the parent's decision; root spans are recorded with probability `ratio`.
    ParentBasedTraceIdRatio,
    /// Follow the parent's decision (a sampled remote parent's child is sampled); root spans
    /// are not recorded.
    ParentBasedAlwaysOff,
}

/// A context format carried across processes (`telemetry.propagators`, `OTEL_PROPAGATORS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagator {
    /// W3C Trace Context: `traceparent` and `tracestate`.
    TraceContext,
    /// W3C Baggage: `baggage`, which carries the correlation id.
    Baggage,
}

/// Console log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, coloured when writing to a terminal, fields on the same line.
    Pretty,
    /// One JSON object per line with stable keys (see the crate docs).
    Json,
    /// Like `Pretty` but terse: no span path, no colours by default.
    Compact,
}

/// Where console log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOutput {
    /// Standard output.
    Stdout,
    /// Standard error (the default: keeps stdout free for a worker's protocol or a program's data).
    Stderr,
}

/// OTLP request headers (e.g. an auth token). Their values are never printed, not even by `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(pub BTreeMap<String, String>);

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "[REDACTED]")))
            .finish()
    }
}

/// `[telemetry.otlp]`: where and how spans and metrics are exported. Its `Debug` form shows
/// the endpoint without credentials ([`crate::redaction::display_url`]).
#[derive(Clone, PartialEq)]
pub struct OtlpConfig {
    /// Collector endpoint, e.g. `http://127.0.0.1:4317`; `None` means no export.
    pub endpoint: Option<String>,
    /// OTLP-JSON file the spans are appended to when no endpoint is set.
    pub file: Option<PathBuf>,
    /// Wire protocol.
    pub protocol: Protocol,
    /// Timeout of one export request.
    pub timeout: Duration,
    /// Extra request headers.
    pub headers: Headers,
    /// Maximum spans per export request.
    pub batch_size: usize,
    /// Spans (and log records) buffered for export before new ones are dropped and counted.
    pub max_queue_size: usize,
    /// How often a partial batch is sent.
    pub scheduled_delay: Duration,
    /// Longest wait for delivery when the process ends (guard drop, Ruby `at_exit`, Python
    /// `atexit`).
    pub shutdown_timeout: Duration,
    /// Dropped telemetry is reported by one warning at most this often.
    pub drop_warning_interval: Duration,
    /// Compression of export requests.
    pub compression: Compression,
    /// TLS files (private CA, client certificate and key).
    pub tls: TlsFiles,
    /// Longest time one span export may take (`OTEL_BSP_EXPORT_TIMEOUT`): caps `timeout` for
    /// traces.
    pub traces_export_timeout: Duration,
    /// Export spans (`OTEL_TRACES_EXPORTER` other than `none`/`console`).
    pub export_traces: bool,
    /// `[telemetry.otlp.traces]`.
    pub traces: SignalOtlpConfig,
    /// `[telemetry.otlp.metrics]`.
    pub metrics: SignalOtlpConfig,
    /// `[telemetry.otlp.logs]`.
    pub logs: SignalOtlpConfig,
}

impl std::fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpConfig")
            .field(
                "endpoint",
                &self.endpoint.as_deref().map(crate::redaction::display_url),
            )
            .field("file", &self.file)
            .field("protocol", &self.protocol)
            .field("timeout", &self.timeout)
            .field("headers", &self.headers)
            .field("batch_size", &self.batch_size)
            .field("max_queue_size", &self.max_queue_size)
            .field("scheduled_delay", &self.scheduled_delay)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("drop_warning_interval", &self.drop_warning_interval)
            .field("compression", &self.compression)
            .field("tls", &self.tls)
            .field("traces_export_timeout", &self.traces_export_timeout)
            .field("export_traces", &self.export_traces)
            .field("traces", &self.traces)
            .field("metrics", &self.metrics)
            .field("logs", &self.logs)
            .finish()
    }
}

/// `[telemetry.sampling]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingConfig {
    /// The sampler.
    pub sampler: SamplerKind,
    /// The ratio for the ratio samplers, in `0.0..=1.0`.
    pub ratio: f64,
}

/// `[telemetry.spans]`: limits applied to every span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanConfig {
    /// Attributes kept per span.
    pub max_attributes: u32,
    /// Events kept per span.
    pub max_events: u32,
    /// Links kept per span.
    pub max_links: u32,
    /// Attributes kept per span event.
    pub max_event_attributes: u32,
    /// Attributes kept per span link.
    pub max_link_attributes: u32,
    /// String field values longer than this many bytes are truncated with a marker (unless
    /// [`attribute_value_length_limit`](Self::attribute_value_length_limit) is smaller).
    pub max_attribute_length: usize,
    /// `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`: when set, string values are cut to the smaller of
    /// this and [`max_attribute_length`](Self::max_attribute_length).
    pub attribute_value_length_limit: Option<usize>,
    /// Distinct keys kept in the fields of one foreign span, event or log (`OTEL_ATTRIBUTE_COUNT_LIMIT`).
    pub attribute_count_limit: usize,
    /// Distinct shapes (name, level, target, field names) of foreign spans and events that get
    /// their own `tracing` callsite; past this bound a shared fallback callsite is used.
    pub max_dynamic_callsites: usize,
    /// Bytes the interned shapes may hold (names, field names, callsites); past it, as past
    /// [`max_dynamic_callsites`](Self::max_dynamic_callsites).
    pub max_dynamic_callsite_bytes: usize,
    /// Copy each log event onto the current span as a span event (errors always are: they
    /// also set the span's status).
    pub log_events: bool,
}

impl SpanConfig {
    /// The string value length limit in force: the smaller of
    /// [`max_attribute_length`](Self::max_attribute_length) and
    /// [`attribute_value_length_limit`](Self::attribute_value_length_limit).
    pub fn value_length_limit(&self) -> usize {
        self.attribute_value_length_limit
            .map_or(self.max_attribute_length, |l| {
                l.min(self.max_attribute_length)
            })
    }
}

/// `[telemetry.metrics]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    /// Export metrics when an endpoint is configured.
    pub enabled: bool,
    /// How often metrics are exported.
    pub export_interval: Duration,
    /// Keep `correlation_id`, `trace_id` and `span_id` labels (unbounded cardinality; off by default).
    pub allow_correlation_labels: bool,
    /// Distinct instrument names (all kinds together) the process creates; measurements on
    /// further names are refused and counted.
    pub max_instruments: usize,
    /// Longest time one metric export may take (`OTEL_METRIC_EXPORT_TIMEOUT`): caps the
    /// exporter timeout for metrics.
    pub export_timeout: Duration,
    /// Export the process's resource usage (`process.memory.usage`, `process.cpu.time`, ...)
    /// with the other metrics ([`crate::process`]).
    pub process_metrics: bool,
}

/// `[telemetry.slow_operations]`: when a span or a [`crate::monitor`] is reported as slow, and
/// when a monitored operation's memory growth is a spike ([`crate::slow_operations`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowOperationsConfig {
    /// Spans that take longer than this many milliseconds are reported; `0` disables.
    pub threshold_ms: u64,
    /// Per-span-name thresholds (milliseconds) over `threshold_ms`; `0` disables that name.
    pub overrides: BTreeMap<String, u64>,
    /// A monitored operation whose resident memory grows by more than this many MiB is
    /// reported; `0` disables.
    pub memory_threshold_mb: u64,
}

impl Default for SlowOperationsConfig {
    fn default() -> Self {
        Self {
            threshold_ms: 1000,
            overrides: BTreeMap::new(),
            memory_threshold_mb: 100,
        }
    }
}

/// `[telemetry.prometheus]`: the scrape endpoint of `OTEL_METRICS_EXPORTER=prometheus` and the
/// health probes served beside it ([`crate::probe_server`]). Its `Debug` form hides the token.
#[derive(Clone, PartialEq)]
pub struct PrometheusConfig {
    /// Metrics are kept for Prometheus (`prometheus` in `OTEL_METRICS_EXPORTER`): a pull reader
    /// on the meter provider, read by [`crate::prometheus_text`] and the server.
    pub enabled: bool,
    /// Serve `/metrics` and `/health*` over HTTP when `enabled` (off: only
    /// [`crate::prometheus_text`], for applications that serve HTTP themselves).
    pub serve: bool,
    /// Host or address the server listens on (`OTEL_EXPORTER_PROMETHEUS_HOST`).
    pub host: String,
    /// Port the server listens on (`OTEL_EXPORTER_PROMETHEUS_PORT`).
    pub port: u16,
    /// When set, every request needs `Authorization: Bearer <token>`; never printed.
    pub bearer_token: Option<String>,
}

impl fmt::Debug for PrometheusConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusConfig")
            .field("enabled", &self.enabled)
            .field("serve", &self.serve)
            .field("host", &self.host)
            .field("port", &self.port)
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

/// `[telemetry.health]`: when `/health/ready` ([`crate::health::readiness`]) says not ready.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthConfig {
    /// Not ready once an export has failed continuously (no success since) for longer.
    pub export_failure_grace: Duration,
    /// Not ready while an export queue is fuller than this fraction of
    /// `telemetry.otlp.max_queue_size`.
    pub max_queue_fill: f64,
}

/// `[telemetry.logging]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggingConfig {
    /// Console line format.
    pub format: LogFormat,
    /// Console filter in `RUST_LOG` syntax; decides what is printed, not what is exported.
    pub level: String,
    /// Export filter in `RUST_LOG` syntax; decides which spans and events are exported.
    pub export_level: String,
    /// Also export log events as OTLP logs.
    pub export_logs: bool,
    /// Console destination.
    pub output: LogOutput,
    /// Colours: `None` = when the output is a terminal.
    pub ansi: Option<bool>,
    /// Key patterns whose values are replaced by `[REDACTED]` (see [`crate::Redactor`]).
    pub redact_keys: Vec<String>,
    /// Scrub secrets inside text too ([`crate::Redactor::scrub_text`]).
    pub scrub_text: bool,
}

/// `[telemetry.events]`: sampling, rate limits and filtered names of log events (see
/// [`crate::events`]). The default suppresses nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct EventsConfig {
    /// Share of log events kept when no entry of [`sampling`](Self::sampling) matches, `0.0..=1.0`.
    pub sample_rate: f64,
    /// Share kept per event name (its `event` field, else its message) or target (a target
    /// matches itself and the targets under it: `payments` matches `payments::charge` and
    /// `payments.charge`). A name wins over a target, a longer target over a shorter one.
    pub sampling: BTreeMap<String, f64>,
    /// Events per second each callsite (event shape) may print or export; `0.0` = no limit.
    pub rate_limit_per_s: f64,
    /// Events a callsite may emit at once before the rate applies; `None` = the rate (at least 1).
    pub rate_limit_burst: Option<u32>,
    /// Event names or targets always dropped (matched as in [`sampling`](Self::sampling)).
    pub filtered: Vec<String>,
    /// Events at this level or more severe are never suppressed; `None` = none exempt.
    pub exempt_level: Option<tracing::Level>,
    /// How often one line summarises what was suppressed.
    pub summary_interval: Duration,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            sample_rate: 1.0,
            sampling: BTreeMap::new(),
            rate_limit_per_s: 0.0,
            rate_limit_burst: None,
            filtered: Vec::new(),
            exempt_level: Some(tracing::Level::ERROR),
            summary_interval: Duration::from_secs(10),
        }
    }
}

/// The whole configuration. `TelemetryConfig::default()` is pretty console output and no export.
///
/// ```
/// use tasker_telemetry::TelemetryConfig;
///
/// let config = TelemetryConfig::from_toml_str(r#"
///     [telemetry]
///     service_name = "orchestrator"
///     [telemetry.otlp]
///     endpoint = "http://127.0.0.1:4318"
/// "#).unwrap();
/// assert_eq!(config.service_name.as_deref(), Some("orchestrator"));
/// assert!(TelemetryConfig::from_toml_str("[telemetry.otlp]\nprotocol = \"udp\"")
///     .unwrap_err().to_string().contains("telemetry.otlp.protocol"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// `service.name` of every span, metric and log, when configured; see
    /// [`resolved_service_name`](Self::resolved_service_name) for the one in force.
    pub service_name: Option<String>,
    /// `service.version`, when set.
    pub service_version: Option<String>,
    /// `deployment.environment.name`, from `TASKER_ENV`.
    pub environment: Option<String>,
    /// Master switch for OpenTelemetry export (`OTEL_SDK_DISABLED=true` turns it off).
    pub enabled: bool,
    /// Resource attributes over the detected ones ([`crate::resource`]).
    pub resource_attributes: BTreeMap<String, String>,
    /// Context formats injected and extracted across processes; empty for none.
    pub propagators: Vec<Propagator>,
    /// `[telemetry.otlp]`.
    pub otlp: OtlpConfig,
    /// `[telemetry.sampling]`.
    pub sampling: SamplingConfig,
    /// `[telemetry.spans]`.
    pub spans: SpanConfig,
    /// `[telemetry.metrics]`.
    pub metrics: MetricsConfig,
    /// `[telemetry.logging]`.
    pub logging: LoggingConfig,
    /// `[telemetry.prometheus]`.
    pub prometheus: PrometheusConfig,
    /// `[telemetry.health]`.
    pub health: HealthConfig,
    /// `[telemetry.slow_operations]`.
    pub slow_operations: SlowOperationsConfig,
    /// Whether the bindings install the OpenTelemetry API bridge ([`crate::bridge`]).
    pub opentelemetry_bridge: crate::bridge::BridgeMode,
    /// `[telemetry.events]`.
    pub events: EventsConfig,
    /// Re-read the configuration file on `SIGHUP` (when the host has not claimed the signal).
    pub reload_on_sighup: bool,
    /// The base file this configuration was read from (`TASKER_CONFIG` or the path given to
    /// [`load_from`](Self::load_from)): what a reload ([`crate::runtime::reload`]) reads again.
    pub config_file: Option<PathBuf>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            service_name: None,
            service_version: None,
            environment: None,
            enabled: true,
            resource_attributes: BTreeMap::new(),
            propagators: vec![Propagator::TraceContext, Propagator::Baggage],
            opentelemetry_bridge: crate::bridge::BridgeMode::Auto,
            events: EventsConfig::default(),
            reload_on_sighup: true,
            config_file: None,
            otlp: OtlpConfig {
                endpoint: None,
                file: None,
                protocol: Protocol::HttpProtobuf,
                timeout: Duration::from_secs(10),
                headers: Headers::default(),
                batch_size: 512,
                max_queue_size: 2048,
                scheduled_delay: Duration::from_millis(5000),
                shutdown_timeout: Duration::from_millis(5000),
                drop_warning_interval: Duration::from_millis(60_000),
                compression: Compression::None,
                tls: TlsFiles::default(),
                traces_export_timeout: Duration::from_millis(30_000),
                export_traces: true,
                traces: SignalOtlpConfig::default(),
                metrics: SignalOtlpConfig::default(),
                logs: SignalOtlpConfig::default(),
            },
            sampling: SamplingConfig {
                sampler: SamplerKind::ParentBasedAlwaysOn,
                ratio: 1.0,
            },
            spans: SpanConfig {
                max_attributes: 128,
                max_events: 128,
                max_links: 128,
                max_event_attributes: 128,
                max_link_attributes: 128,
                max_attribute_length: 8192,
                attribute_value_length_limit: None,
                attribute_count_limit: crate::fields::DEFAULT_MAX_FIELDS,
                max_dynamic_callsites: 4096,
                max_dynamic_callsite_bytes: crate::dynamic::DEFAULT_MAX_CALLSITE_BYTES,
                log_events: true,
            },
            metrics: MetricsConfig {
                enabled: true,
                export_interval: Duration::from_millis(60_000),
                allow_correlation_labels: false,
                max_instruments: crate::metrics::DEFAULT_MAX_INSTRUMENTS,
                export_timeout: Duration::from_millis(30_000),
                process_metrics: true,
            },
            slow_operations: SlowOperationsConfig::default(),
            logging: LoggingConfig {
                format: LogFormat::Pretty,
                level: "info".to_owned(),
                export_level: "info".to_owned(),
                export_logs: false,
                output: LogOutput::Stderr,
                ansi: None,
                redact_keys: DEFAULT_REDACT_KEYS
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect(),
                scrub_text: true,
            },
            prometheus: PrometheusConfig {
                enabled: false,
                serve: true,
                host: "localhost".to_owned(),
                port: 9464,
                bearer_token: None,
            },
            health: HealthConfig {
                export_failure_grace: Duration::from_millis(30_000),
                max_queue_fill: 0.9,
            },
        }
    }
}

/// A source of environment variables; lets tests load configuration without touching the
/// process environment.
pub trait EnvSource {
    /// The variable's value, if set and not empty.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl EnvSource for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.trim().is_empty()).cloned()
    }
}

impl EnvSource for std::collections::HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.trim().is_empty()).cloned()
    }
}

impl TelemetryConfig {
    /// Loads the configuration the way a service does at start-up: the file named by
    /// `TASKER_CONFIG` (if any), the `TASKER_ENV` overlay, then environment variables.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from(None, &ProcessEnv)
    }

    /// Like [`load`](Self::load) with an explicit base file (which wins over `TASKER_CONFIG`)
    /// and an explicit environment.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use tasker_telemetry::{TelemetryConfig, config::Protocol};
    ///
    /// let env = BTreeMap::from([("OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(), "grpc".to_owned())]);
    /// let config = TelemetryConfig::load_from(None, &env).unwrap();
    /// assert_eq!(config.otlp.protocol, Protocol::Grpc);
    /// ```
    pub fn load_from(path: Option<&Path>, env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        let base = path
            .map(Path::to_path_buf)
            .or_else(|| env.var("TASKER_CONFIG").map(PathBuf::from));
        if let Some(base) = &base {
            let from = if path.is_some() {
                "the path given to TelemetryConfig::load_from"
            } else {
                "TASKER_CONFIG"
            };
            config.merge_toml(&read_config_file(base, from)?, base)?;
            config.config_file = Some(base.clone());
        }
        if let Some(tasker_env) = env.var("TASKER_ENV") {
            // Only next to a base file: never a file that happens to be in the working directory.
            if let Some(dir) = base.as_ref().and_then(|b| b.parent()) {
                let overlay = dir.join(format!("{}.toml", tasker_env.trim()));
                if overlay.is_file() {
                    config.merge_toml(
                        &read_config_file(&overlay, "the TASKER_ENV overlay")?,
                        &overlay,
                    )?;
                }
            }
            config.environment = Some(tasker_env.trim().to_owned());
        }
        config.apply_env(env)?;
        Ok(config)
    }

    /// Parses a TOML document (no environment variables applied).
    pub fn from_toml_str(toml: &str) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        config.merge_toml(toml, Path::new("<string>"))?;
        Ok(config)
    }

    /// Applies one TOML file over this configuration (a regular file of at most
    /// [`MAX_CONFIG_FILE_BYTES`]).
    pub fn merge_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = read_config_file(path, "TelemetryConfig::merge_file")?;
        self.merge_toml(&text, path)
    }

    fn merge_toml(&mut self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let origin = Origin::File(path.to_path_buf());
        // The application's own keys and tables are not ours; a near-miss of `telemetry` is.
        if let Some(typo) = table.keys().find(|k| suggest::is_telemetry_typo(k)) {
            return Err(ConfigError::UnknownKey {
                key: typo.clone(),
                origin,
                suggestion: Some("telemetry".to_owned()),
            });
        }
        let mut flat = Vec::new();
        match table.get("telemetry") {
            None => {}
            Some(toml::Value::Table(telemetry)) => flatten_toml("telemetry", telemetry, &mut flat),
            Some(_) => {
                return Err(ConfigError::Parse {
                    path: path.to_path_buf(),
                    message: "`telemetry` must be a table (`[telemetry]`)".to_owned(),
                })
            }
        }
        for (key, value) in flat {
            let setting =
                SETTINGS
                    .iter()
                    .find(|s| s.key == key)
                    .ok_or_else(|| ConfigError::UnknownKey {
                        suggestion: suggest::for_file_key(&key),
                        key: key.clone(),
                        origin: origin.clone(),
                    })?;
            self.apply(setting, Raw::Toml(value), origin.clone())?;
        }
        Ok(())
    }

    /// Applies the environment variables of [`SETTINGS`] (first set variable per key wins).
    pub fn apply_env(&mut self, env: &dyn EnvSource) -> Result<(), ConfigError> {
        for setting in SETTINGS {
            for name in setting.env {
                if let Some(value) = env.var(name) {
                    if *name == "RUST_LOG" {
                        // Set for other tools too: its own syntax stays valid here.
                        let normal =
                            parse::rust_log_filter(Raw::Str(&value)).map_err(|allowed| {
                                invalid(setting, Raw::Str(&value), Origin::Env(name), allowed)
                            })?;
                        self.logging.level = normal;
                        break;
                    }
                    let value = if *name == "OTEL_SDK_DISABLED" {
                        // The variable says "disabled"; the key says "enabled". The spec reads
                        // only `true` (any case) as disabling; `1` or `yes` would be read as
                        // false there, so they are refused here rather than guessed.
                        match value.trim().to_ascii_lowercase().as_str() {
                            "true" => "false".to_owned(),
                            "false" => "true".to_owned(),
                            _ => {
                                return Err(invalid(
                                    setting,
                                    Raw::Str(&value),
                                    Origin::Env(name),
                                    "true or false (any case; the OpenTelemetry specification reads only `true` as disabling)".to_owned(),
                                ))
                            }
                        }
                    } else {
                        value
                    };
                    self.apply(setting, Raw::Str(&value), Origin::Env(name))?;
                    break;
                }
            }
        }
        Ok(())
    }

    /// Sets one key from a string, as an environment variable would (`key` may omit the
    /// `telemetry.` prefix). This is how the Ruby and Python `init(**overrides)` work.
    ///
    /// ```
    /// let mut config = tasker_telemetry::TelemetryConfig::default();
    /// config.set("otlp.protocol", "grpc").unwrap();
    /// config.set("logging_format", "json").unwrap(); // keyword-argument spelling
    /// let err = config.set("otlp.timeout_ms", "soon").unwrap_err();
    /// assert!(err.to_string().contains("an integer"));
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let setting = find_override(key)?;
        self.apply_override(setting, Raw::Str(value))
    }

    /// Sets one key from a native value, as the Ruby and Python `init(**overrides)` pass them
    /// (`key` may omit the `telemetry.` prefix and use `_` after the section: `otlp_endpoint`).
    /// Strings, numbers and booleans are read as an environment variable's text would be; lists
    /// and tables as in a TOML file; [`FieldValue::Null`] (Ruby `nil`, Python `None`) leaves the
    /// key as configured.
    ///
    /// ```
    /// use tasker_telemetry::fields::FieldValue;
    /// let mut config = tasker_telemetry::TelemetryConfig::default();
    /// config.set_value("otlp_timeout_ms", &FieldValue::Int(250)).unwrap();
    /// config.set_value("logging_redact_keys", &FieldValue::List(vec!["pin".into()])).unwrap();
    /// config.set_value("service_name", &FieldValue::Null).unwrap();
    /// assert_eq!(config.otlp.timeout.as_millis(), 250);
    /// assert_eq!(config.logging.redact_keys, vec!["pin"]);
    /// assert_eq!(config.service_name, None);
    /// ```
    pub fn set_value(&mut self, key: &str, value: &FieldValue) -> Result<(), ConfigError> {
        let setting = find_override(key)?;
        let text = match value {
            FieldValue::Null => return Ok(()),
            FieldValue::Str(s) if crate::fields::is_unprintable(s) => {
                return Err(invalid(
                    setting,
                    Raw::Str(s),
                    Origin::Override,
                    "a value with a string form (its `to_s` / `__str__` raised)".to_owned(),
                ))
            }
            FieldValue::Str(s) => s.clone(),
            FieldValue::Int(i) => i.to_string(),
            FieldValue::Float(f) => f.to_string(),
            FieldValue::Bool(b) => b.to_string(),
            FieldValue::List(_) | FieldValue::Map(_) => {
                let toml = to_toml(value);
                return self.apply_override(setting, Raw::Toml(&toml));
            }
        };
        self.apply_override(setting, Raw::Str(&text))
    }

    /// Applies an override. An override of `resource_attributes` that names `service.name` is
    /// an explicit service name: it wins over `OTEL_SERVICE_NAME` as any override does.
    fn apply_override(
        &mut self,
        setting: &'static Setting,
        raw: Raw<'_>,
    ) -> Result<(), ConfigError> {
        let before = self.resource_attributes.get(SERVICE_NAME).cloned();
        self.apply(setting, raw, Origin::Override)?;
        let after = self.resource_attributes.get(SERVICE_NAME);
        if after.is_some() && after != before.as_ref() {
            self.service_name = after.cloned();
        }
        Ok(())
    }

    /// The `service.name` in force: `telemetry.service_name` (`OTEL_SERVICE_NAME`, a file, an
    /// override), else `service.name` in `telemetry.resource_attributes`
    /// (`OTEL_RESOURCE_ATTRIBUTES`), else `unknown_service:<executable name>` as the
    /// OpenTelemetry specification says.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use tasker_telemetry::TelemetryConfig;
    ///
    /// let env = BTreeMap::from([
    ///     ("OTEL_RESOURCE_ATTRIBUTES".to_owned(), "service.name=from-attributes".to_owned()),
    ///     ("OTEL_SERVICE_NAME".to_owned(), "from-variable".to_owned()),
    /// ]);
    /// let config = TelemetryConfig::load_from(None, &env).unwrap();
    /// assert_eq!(config.resolved_service_name(), "from-variable");
    /// assert!(TelemetryConfig::default().resolved_service_name().starts_with("unknown_service:"));
    /// ```
    pub fn resolved_service_name(&self) -> String {
        self.service_name
            .clone()
            .or_else(|| self.resource_attributes.get(SERVICE_NAME).cloned())
            .unwrap_or_else(crate::resource::default_service_name)
    }

    fn apply(
        &mut self,
        setting: &'static Setting,
        raw: Raw<'_>,
        origin: Origin,
    ) -> Result<(), ConfigError> {
        (setting.apply)(self, raw).map_err(|allowed| invalid(setting, raw, origin, allowed))
    }

    /// What a pipeline derives from this configuration once (see [`Snapshot`]).
    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            redactor: std::sync::Arc::new(
                crate::redaction::Redactor::new(&self.logging.redact_keys)
                    .with_text_scrubbing(self.logging.scrub_text),
            ),
            max_value_len: self.spans.value_length_limit(),
            max_fields: self.spans.attribute_count_limit,
            max_callsites: self.spans.max_dynamic_callsites,
            max_callsite_bytes: self.spans.max_dynamic_callsite_bytes,
            max_instruments: self.metrics.max_instruments,
            bridge: self.opentelemetry_bridge,
            slow_operations: self.slow_operations.clone(),
            log_events: self.spans.log_events,
        }
    }

    /// Whether anything leaves the process: a signal with an OTLP endpoint (generic or its
    /// own), or spans to the OTLP-JSON file.
    pub fn exports(&self) -> bool {
        self.enabled
            && (crate::stats::Signal::ALL
                .iter()
                .any(|s| self.otlp_export(*s).is_some())
                || (self.otlp.export_traces && self.otlp.file.is_some()))
    }

    /// Whether metrics are kept for Prometheus (`prometheus` in `OTEL_METRICS_EXPORTER`, export
    /// enabled): [`crate::prometheus_text`] works, and the server runs when
    /// `telemetry.prometheus.serve` is on.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// let env = BTreeMap::from([("OTEL_METRICS_EXPORTER".to_owned(), "prometheus".to_owned())]);
    /// let config = tasker_telemetry::TelemetryConfig::load_from(None, &env).unwrap();
    /// assert!(config.keeps_prometheus_metrics() && !config.metrics.enabled);
    /// ```
    pub fn keeps_prometheus_metrics(&self) -> bool {
        self.enabled && self.prometheus.enabled
    }

    /// The OTLP exporter of `signal`, when it is exported over OTLP: export is enabled, the
    /// signal is switched on (`OTEL_TRACES_EXPORTER`, `telemetry.metrics.enabled`,
    /// `telemetry.logging.export_logs`) and it has an endpoint (its own or the generic one).
    pub fn otlp_export(&self, signal: crate::stats::Signal) -> Option<SignalExport> {
        use crate::stats::Signal;
        let on = self.enabled
            && match signal {
                Signal::Traces => self.otlp.export_traces,
                Signal::Metrics => self.metrics.enabled,
                Signal::Logs => self.logging.export_logs,
            };
        if !on {
            return None;
        }
        let mut export = self.otlp.resolve(signal)?;
        let cap = match signal {
            Signal::Traces => Some(self.otlp.traces_export_timeout),
            Signal::Metrics => Some(self.metrics.export_timeout),
            Signal::Logs => None,
        };
        if let Some(cap) = cap {
            export.timeout = export.timeout.min(cap);
        }
        Some(export)
    }
}

impl OtlpConfig {
    /// The settings of `signal`.
    pub fn signal(&self, signal: crate::stats::Signal) -> &SignalOtlpConfig {
        use crate::stats::Signal;
        match signal {
            Signal::Traces => &self.traces,
            Signal::Metrics => &self.metrics,
            Signal::Logs => &self.logs,
        }
    }

    /// The exporter settings of `signal` after the OpenTelemetry precedence: each per-signal
    /// setting (`OTEL_EXPORTER_OTLP_<SIGNAL>_*`, `[telemetry.otlp.<signal>]`) wins over the
    /// generic one. The per-signal endpoint is used as is; the generic one is a base URL, to
    /// which the HTTP protocols append `/v1/<signal>` (a generic endpoint that already ends in
    /// `/v1/traces`, `/v1/metrics` or `/v1/logs` is read as the URL before that suffix, and
    /// [`SignalExport::endpoint_note`] says so). `None` when the signal has no endpoint.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use tasker_telemetry::{stats::Signal, TelemetryConfig};
    ///
    /// let env = BTreeMap::from([
    ///     ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), "https://collector:4318".to_owned()),
    ///     ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT".to_owned(), "https://logs:9000/ingest".to_owned()),
    /// ]);
    /// let c = TelemetryConfig::load_from(None, &env).unwrap();
    /// assert_eq!(c.otlp.resolve(Signal::Metrics).unwrap().url, "https://collector:4318/v1/metrics");
    /// assert_eq!(c.otlp.resolve(Signal::Logs).unwrap().url, "https://logs:9000/ingest");
    /// ```
    pub fn resolve(&self, signal: crate::stats::Signal) -> Option<SignalExport> {
        let own = self.signal(signal);
        let name = signal.as_str();
        let upper = name.to_ascii_uppercase();
        let protocol = own.protocol.unwrap_or(self.protocol);
        let (url, endpoint_note) = match (&own.endpoint, &self.endpoint) {
            (Some(url), _) => (url.clone(), None),
            (None, Some(base)) => match protocol {
                Protocol::Grpc => (base.clone(), None),
                Protocol::HttpProtobuf | Protocol::HttpJson => signal_url(base, name),
            },
            (None, None) => return None,
        };
        let tls_file = |own: &Option<PathBuf>, generic: &Option<PathBuf>, key: &str, var: &str| {
            own.as_ref()
                .map(|p| TlsFile {
                    path: p.clone(),
                    setting: format!(
                        "`telemetry.otlp.{name}.{key}` (OTEL_EXPORTER_OTLP_{upper}_{var})"
                    ),
                })
                .or_else(|| {
                    generic.as_ref().map(|p| TlsFile {
                        path: p.clone(),
                        setting: format!("`telemetry.otlp.{key}` (OTEL_EXPORTER_OTLP_{var})"),
                    })
                })
        };
        Some(SignalExport {
            signal,
            url,
            protocol,
            timeout: own.timeout.unwrap_or(self.timeout),
            headers: own.headers.clone().unwrap_or_else(|| self.headers.clone()),
            compression: own.compression.unwrap_or(self.compression),
            certificate: tls_file(
                &own.tls.certificate,
                &self.tls.certificate,
                "certificate",
                "CERTIFICATE",
            ),
            client_certificate: tls_file(
                &own.tls.client_certificate,
                &self.tls.client_certificate,
                "client_certificate",
                "CLIENT_CERTIFICATE",
            ),
            client_key: tls_file(
                &own.tls.client_key,
                &self.tls.client_key,
                "client_key",
                "CLIENT_KEY",
            ),
            endpoint_note,
        })
    }
}

/// The URL of `signal`'s requests under the generic (base) endpoint `base`, for HTTP: `base`
/// with `/v1/<signal>` appended. A base that ends in `/v1/<some signal>` already (a common
/// mistake: a traces URL given as the generic endpoint) is read as the URL before that suffix,
/// with a note for a warning, so that metrics never go to `/v1/traces/v1/metrics`.
fn signal_url(base: &str, signal: &str) -> (String, Option<String>) {
    let trimmed = base.trim_end_matches('/');
    for suffix in ["/v1/traces", "/v1/metrics", "/v1/logs"] {
        if let Some(root) = trimmed.strip_suffix(suffix) {
            let url = format!("{root}/v1/{signal}");
            let note = format!(
                "the generic OTLP endpoint {} (telemetry.otlp.endpoint / OTEL_EXPORTER_OTLP_ENDPOINT) ends in {suffix}, but it is a base URL to which /v1/<signal> is appended: {signal} go to {}; give the base URL ({}), or a full URL per signal in OTEL_EXPORTER_OTLP_{}_ENDPOINT",
                crate::redaction::display_url(base),
                crate::redaction::display_url(&url),
                crate::redaction::display_url(if root.is_empty() { "/" } else { root }),
                signal.to_ascii_uppercase(),
            );
            return (url, Some(note));
        }
    }
    (format!("{trimmed}/v1/{signal}"), None)
}

/// What a pipeline derives from a configuration, built once ([`TelemetryConfig::snapshot`]):
/// the one redactor that the console, log export, span export and metric labels share, and the
/// limits applied to foreign values. [`Snapshot::install`] makes it the process's current one.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) redactor: std::sync::Arc<crate::redaction::Redactor>,
    pub(crate) max_value_len: usize,
    pub(crate) max_fields: usize,
    pub(crate) max_callsites: usize,
    pub(crate) max_callsite_bytes: usize,
    pub(crate) max_instruments: usize,
    pub(crate) bridge: crate::bridge::BridgeMode,
    pub(crate) slow_operations: SlowOperationsConfig,
    pub(crate) log_events: bool,
}

impl Snapshot {
    /// Makes this snapshot the one that code without a pipeline at hand reads: the value
    /// length and count limits (`fields`), the interner bounds (`dynamic`), the instrument bound
    /// (`metrics`), the redactor (`redaction`), the slow-operation thresholds
    /// (`slow_operations`).
    pub(crate) fn install(&self) {
        crate::slow_operations::configure(&self.slow_operations);
        crate::fields::set_max_value_len(self.max_value_len);
        crate::fields::set_max_fields(self.max_fields);
        crate::dynamic::set_max_callsites(self.max_callsites, self.max_callsite_bytes);
        crate::metrics::set_max_instruments(self.max_instruments);
        crate::bridge::set_mode(self.bridge);
        crate::events::set_log_events(self.log_events);
        crate::redaction::set_current(self.redactor.clone());
    }
}

const SERVICE_NAME: &str = "service.name";

/// The setting an override names; an unknown one is an error with the closest known key.
fn find_override(key: &str) -> Result<&'static Setting, ConfigError> {
    find_setting(key).ok_or_else(|| ConfigError::UnknownKey {
        key: key.to_owned(),
        origin: Origin::Override,
        suggestion: suggest::for_override(key),
    })
}

/// A list or table override as the TOML value a file would hold (`nil`/`None` entries dropped).
fn to_toml(value: &FieldValue) -> toml::Value {
    match value {
        FieldValue::Str(s) => toml::Value::String(s.clone()),
        FieldValue::Int(i) => toml::Value::Integer(*i),
        FieldValue::Float(f) => toml::Value::Float(*f),
        FieldValue::Bool(b) => toml::Value::Boolean(*b),
        FieldValue::Null => toml::Value::String(String::new()),
        FieldValue::List(items) => toml::Value::Array(
            items
                .iter()
                .filter(|v| !matches!(v, FieldValue::Null))
                .map(to_toml)
                .collect(),
        ),
        FieldValue::Map(entries) => toml::Value::Table(
            entries
                .iter()
                .filter(|(_, v)| !matches!(v, FieldValue::Null))
                .map(|(k, v)| (k.clone(), to_toml(v)))
                .collect(),
        ),
    }
}

/// The largest configuration file read (4 MiB); a larger one is refused.
pub const MAX_CONFIG_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// What a path is when it is not a regular file, for messages.
fn file_kind(file_type: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// Reads a configuration file named by `from` (the variable or call, for messages): only a
/// regular file (so `/dev/zero` or a FIFO cannot hang or exhaust the process), of at most
/// [`MAX_CONFIG_FILE_BYTES`] (checked while reading too, for a file that grows meanwhile).
/// The path's type is checked before opening (opening a FIFO for reading would block) and
/// the opened handle's again.
fn read_config_file(path: &Path, from: &'static str) -> Result<String, ConfigError> {
    use std::io::Read as _;
    let read_err = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let refuse = |reason: String| ConfigError::NotReadable {
        path: path.to_path_buf(),
        from,
        reason,
    };
    let check = |meta: std::fs::Metadata| {
        if !meta.is_file() {
            return Err(refuse(format!(
                "not a regular file ({})",
                file_kind(meta.file_type())
            )));
        }
        if meta.len() > MAX_CONFIG_FILE_BYTES {
            return Err(refuse(format!(
                "larger than 4 MiB ({} bytes); a telemetry configuration is a few kilobytes",
                meta.len()
            )));
        }
        Ok(())
    };
    check(std::fs::metadata(path).map_err(read_err)?)?;
    let file = std::fs::File::open(path).map_err(read_err)?;
    check(file.metadata().map_err(read_err)?)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_CONFIG_FILE_BYTES {
        return Err(refuse(
            "larger than 4 MiB (it grew while being read)".to_owned(),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        read_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text ({e})"),
        ))
    })
}

fn invalid(
    setting: &'static Setting,
    raw: Raw<'_>,
    origin: Origin,
    allowed: String,
) -> ConfigError {
    ConfigError::InvalidValue {
        key: setting.key,
        origin,
        value: raw.shown(setting.secret),
        allowed,
    }
}

/// Flattens nested tables to dotted keys, stopping at tables that are values of a setting
/// (`resource_attributes`, `headers`).
fn flatten_toml<'a>(
    prefix: &str,
    table: &'a toml::Table,
    out: &mut Vec<(String, &'a toml::Value)>,
) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) if !SETTINGS.iter().any(|s| s.key == key) => {
                flatten_toml(&key, t, out)
            }
            _ => out.push((key, v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_overrides_refuse_an_unprintable_value_naming_the_key() {
        let mut config = TelemetryConfig::default();
        let err = config
            .set_value("service_name", &FieldValue::from("<unprintable Widget>"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("telemetry.service_name") && err.contains("__str__"),
            "{err}"
        );
        config
            .set_value("service_name", &FieldValue::from("<unprintable>"))
            .unwrap();
    }

    #[test]
    fn every_setting_key_is_unique_and_under_telemetry() {
        let mut keys: Vec<_> = SETTINGS.iter().map(|s| s.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), SETTINGS.len());
        assert!(keys.iter().all(|k| k.starts_with("telemetry.")));
    }
}
