//! [`TelemetryConfig`]: defaults, TOML files, the `TASKER_ENV` overlay and environment variables.
//!
//! Precedence, lowest first: built-in defaults, the base file (`TASKER_CONFIG` or an explicit
//! path), the environment overlay `<dir>/<TASKER_ENV>.toml` (where `<dir>` is the base file's
//! folder, or `./config` when there is no base file), then environment variables (the standard
//! `OTEL_*` ones and `TASKER_*`), then programmatic overrides ([`TelemetryConfig::set`]).
//!
//! Every key is described once, in [`SETTINGS`], which drives parsing of files, environment
//! variables and overrides alike, and the README's configuration reference.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{ConfigError, Origin};
use crate::redaction::DEFAULT_REDACT_KEYS;

/// OTLP wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP over gRPC (tonic); the core runs its own Tokio runtime for it.
    Grpc,
    /// OTLP protobuf over HTTP (blocking client on the exporter thread; no runtime needed).
    HttpProtobuf,
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

/// `[telemetry.otlp]`: where and how spans and metrics are exported.
#[derive(Debug, Clone, PartialEq)]
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
    /// String field values longer than this many bytes are truncated with a marker.
    pub max_attribute_length: usize,
    /// Distinct shapes (name, level, target, field names) of foreign spans and events that get
    /// their own `tracing` callsite; past this bound a shared fallback callsite is used.
    pub max_dynamic_callsites: usize,
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
    /// Key patterns whose values are replaced by `[REDACTED]` (case-insensitive substring match).
    pub redact_keys: Vec<String>,
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
/// assert_eq!(config.service_name, "orchestrator");
/// assert!(TelemetryConfig::from_toml_str("[telemetry.otlp]\nprotocol = \"udp\"")
///     .unwrap_err().to_string().contains("telemetry.otlp.protocol"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// `service.name` of every span, metric and log.
    pub service_name: String,
    /// `service.version`, when set.
    pub service_version: Option<String>,
    /// `deployment.environment.name`, from `TASKER_ENV`.
    pub environment: Option<String>,
    /// Master switch for OpenTelemetry export (`OTEL_SDK_DISABLED=true` turns it off).
    pub enabled: bool,
    /// Extra resource attributes.
    pub resource_attributes: BTreeMap<String, String>,
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
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            service_name: "tasker".to_owned(),
            service_version: None,
            environment: None,
            enabled: true,
            resource_attributes: BTreeMap::new(),
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
            },
            sampling: SamplingConfig {
                sampler: SamplerKind::ParentBasedAlwaysOn,
                ratio: 1.0,
            },
            spans: SpanConfig {
                max_attributes: 128,
                max_events: 128,
                max_attribute_length: 8192,
                max_dynamic_callsites: 4096,
            },
            metrics: MetricsConfig {
                enabled: true,
                export_interval: Duration::from_millis(60_000),
                allow_correlation_labels: false,
            },
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

/// A raw value before parsing: from TOML, or a string from the environment or an override.
#[derive(Debug, Clone, Copy)]
enum Raw<'a> {
    Toml(&'a toml::Value),
    Str(&'a str),
}

impl Raw<'_> {
    fn shown(&self, secret: bool) -> String {
        if secret {
            return "<hidden>".to_owned();
        }
        match self {
            Raw::Toml(v) => v.to_string(),
            Raw::Str(s) => format!("{s:?}"),
        }
    }
}

type Apply = fn(&mut TelemetryConfig, Raw<'_>) -> Result<(), String>;

/// One configuration key: its TOML path, environment variables, default and meaning.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// Full dotted key, e.g. `telemetry.otlp.endpoint`.
    pub key: &'static str,
    /// Environment variables that set it, highest precedence first.
    pub env: &'static [&'static str],
    /// The default, as documented.
    pub default: &'static str,
    /// What it does.
    pub meaning: &'static str,
    secret: bool,
    apply: Apply,
}

macro_rules! setting {
    ($key:literal, [$($env:literal),*], $default:literal, $meaning:literal, $apply:expr) => {
        Setting { key: $key, env: &[$($env),*], default: $default, meaning: $meaning, secret: false, apply: $apply }
    };
    (secret $key:literal, [$($env:literal),*], $default:literal, $meaning:literal, $apply:expr) => {
        Setting { key: $key, env: &[$($env),*], default: $default, meaning: $meaning, secret: true, apply: $apply }
    };
}

/// Every configuration key, in the order of the README's reference table.
pub const SETTINGS: &[Setting] = &[
    setting!("telemetry.service_name", ["OTEL_SERVICE_NAME"], "tasker", "`service.name` resource attribute", |c, v| {
        c.service_name = non_empty(v)?;
        Ok(())
    }),
    setting!("telemetry.service_version", [], "unset", "`service.version` resource attribute", |c, v| {
        c.service_version = Some(non_empty(v)?);
        Ok(())
    }),
    setting!("telemetry.enabled", ["OTEL_SDK_DISABLED"], "true", "master switch for OTLP export (`OTEL_SDK_DISABLED=true` turns it off)", |c, v| {
        c.enabled = boolean(v)?;
        Ok(())
    }),
    setting!("telemetry.resource_attributes", ["OTEL_RESOURCE_ATTRIBUTES"], "{}", "extra resource attributes (TOML table, or `k=v,k2=v2` in the variable)", |c, v| {
        c.resource_attributes.extend(key_values(v)?);
        Ok(())
    }),
    setting!("telemetry.otlp.endpoint", ["OTEL_EXPORTER_OTLP_ENDPOINT"], "unset (no export)", "collector URL, e.g. `http://127.0.0.1:4317` (grpc) or `http://127.0.0.1:4318` (http/protobuf)", |c, v| {
        let url = non_empty(v)?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err("an http:// or https:// URL".to_owned());
        }
        c.otlp.endpoint = Some(url);
        Ok(())
    }),
    setting!("telemetry.otlp.file", ["TASKER_OTLP_FILE"], "unset", "when no endpoint is set: append spans to this file as OTLP-JSON lines (the OpenTelemetry file-exporter format; `tasker-telemetry view FILE` draws them); traces only", |c, v| {
        c.otlp.file = Some(PathBuf::from(non_empty(v)?));
        Ok(())
    }),
    setting!("telemetry.otlp.protocol", ["OTEL_EXPORTER_OTLP_PROTOCOL"], "http/protobuf", "`grpc` or `http/protobuf`", |c, v| {
        c.otlp.protocol = match text(v)?.as_str() {
            "grpc" => Protocol::Grpc,
            "http/protobuf" | "http" => Protocol::HttpProtobuf,
            _ => return Err("one of grpc, http/protobuf".to_owned()),
        };
        Ok(())
    }),
    setting!("telemetry.otlp.timeout_ms", ["OTEL_EXPORTER_OTLP_TIMEOUT"], "10000", "timeout of one export request, milliseconds", |c, v| {
        c.otlp.timeout = Duration::from_millis(integer(v, 1, 600_000)?);
        Ok(())
    }),
    setting!(secret "telemetry.otlp.headers", ["OTEL_EXPORTER_OTLP_HEADERS"], "{}", "request headers (TOML table, or `k=v,k2=v2` in the variable); values are never logged", |c, v| {
        let headers = key_values(v)?;
        for (name, value) in &headers {
            let token = |ch: char| ch.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(ch);
            if !name.chars().all(token) {
                return Err(format!("header names made of letters, digits and !#$%&'*+-.^_`|~ (`{name}` is not one)"));
            }
            if !value.chars().all(|ch| ch == '\t' || (' '..='~').contains(&ch)) {
                return Err(format!("header values of printable ASCII (the value of `{name}` is not; value hidden)"));
            }
        }
        c.otlp.headers.0.extend(headers);
        Ok(())
    }),
    setting!("telemetry.otlp.batch_size", ["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"], "512", "maximum spans per export request", |c, v| {
        c.otlp.batch_size = integer(v, 1, 1_000_000)? as usize;
        Ok(())
    }),
    setting!("telemetry.otlp.max_queue_size", ["OTEL_BSP_MAX_QUEUE_SIZE"], "2048", "spans (and exported log records) buffered for export; past it new ones are dropped and counted in `tasker_telemetry_dropped_total` (never blocks the caller)", |c, v| {
        c.otlp.max_queue_size = integer(v, 1, 100_000_000)? as usize;
        Ok(())
    }),
    setting!("telemetry.otlp.scheduled_delay_ms", ["OTEL_BSP_SCHEDULE_DELAY"], "5000", "how often a partial batch is exported, milliseconds", |c, v| {
        c.otlp.scheduled_delay = Duration::from_millis(integer(v, 1, 3_600_000)?);
        Ok(())
    }),
    setting!("telemetry.otlp.shutdown_timeout_ms", ["TASKER_SHUTDOWN_TIMEOUT_MS"], "5000", "longest wait for delivery when the process ends (dropping the Rust guard, Ruby `at_exit`, Python `atexit`), milliseconds; exit is never held longer", |c, v| {
        c.otlp.shutdown_timeout = Duration::from_millis(integer(v, 0, 600_000)?);
        Ok(())
    }),
    setting!("telemetry.otlp.drop_warning_interval_ms", [], "60000", "dropped spans, log records or failed exports are reported by one warning at most this often, milliseconds", |c, v| {
        c.otlp.drop_warning_interval = Duration::from_millis(integer(v, 0, 86_400_000)?);
        Ok(())
    }),
    setting!("telemetry.sampling.sampler", ["OTEL_TRACES_SAMPLER"], "parent_based_always_on", "`parent_based_always_on`, `parent_based_trace_id_ratio`, `always_on`, `always_off` or `trace_id_ratio` (the OTel spellings `parentbased_traceidratio` etc. work too)", |c, v| {
        c.sampling.sampler = match text(v)?.as_str() {
            "parent_based_always_on" | "parentbased_always_on" => SamplerKind::ParentBasedAlwaysOn,
            "parent_based_trace_id_ratio" | "parentbased_traceidratio" => SamplerKind::ParentBasedTraceIdRatio,
            "always_on" => SamplerKind::AlwaysOn,
            "always_off" | "parentbased_always_off" => SamplerKind::AlwaysOff,
            "trace_id_ratio" | "traceidratio" => SamplerKind::TraceIdRatio,
            _ => return Err("one of parent_based_always_on, parent_based_trace_id_ratio, always_on, always_off, trace_id_ratio".to_owned()),
        };
        Ok(())
    }),
    setting!("telemetry.sampling.ratio", ["OTEL_TRACES_SAMPLER_ARG"], "1.0", "sampling ratio for the ratio samplers", |c, v| {
        let ratio = float(v)?;
        if !(0.0..=1.0).contains(&ratio) {
            return Err("a number from 0.0 to 1.0".to_owned());
        }
        c.sampling.ratio = ratio;
        Ok(())
    }),
    setting!("telemetry.spans.max_attributes", ["OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT"], "128", "attributes kept per span", |c, v| {
        c.spans.max_attributes = integer(v, 1, 65_536)? as u32;
        Ok(())
    }),
    setting!("telemetry.spans.max_events", ["OTEL_SPAN_EVENT_COUNT_LIMIT"], "128", "events kept per span", |c, v| {
        c.spans.max_events = integer(v, 1, 65_536)? as u32;
        Ok(())
    }),
    setting!("telemetry.spans.max_attribute_length", ["OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"], "8192", "string field values longer than this (bytes) are cut and marked `…[truncated N bytes]`", |c, v| {
        c.spans.max_attribute_length = integer(v, 16, 64 * 1024 * 1024)? as usize;
        Ok(())
    }),
    setting!("telemetry.spans.max_dynamic_callsites", [], "4096", "distinct shapes of foreign spans/events given their own callsite; past it a shared fallback callsite is used", |c, v| {
        c.spans.max_dynamic_callsites = integer(v, 0, 1_000_000)? as usize;
        Ok(())
    }),
    setting!("telemetry.metrics.enabled", [], "true", "export metrics when an endpoint is set", |c, v| {
        c.metrics.enabled = boolean(v)?;
        Ok(())
    }),
    setting!("telemetry.metrics.export_interval_ms", ["OTEL_METRIC_EXPORT_INTERVAL"], "60000", "metrics export interval, milliseconds", |c, v| {
        c.metrics.export_interval = Duration::from_millis(integer(v, 10, 86_400_000)?);
        Ok(())
    }),
    setting!("telemetry.metrics.allow_correlation_labels", [], "false", "keep `correlation_id`/`trace_id`/`span_id` metric labels (unbounded cardinality)", |c, v| {
        c.metrics.allow_correlation_labels = boolean(v)?;
        Ok(())
    }),
    setting!("telemetry.logging.format", ["TASKER_LOG_FORMAT"], "pretty", "console format: `pretty`, `json` or `compact`", |c, v| {
        c.logging.format = match text(v)?.as_str() {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            "compact" => LogFormat::Compact,
            _ => return Err("one of pretty, json, compact".to_owned()),
        };
        Ok(())
    }),
    setting!("telemetry.logging.level", ["TASKER_LOG_LEVEL", "RUST_LOG"], "info", "console filter, `RUST_LOG` syntax (e.g. `info,my_crate=debug`); does not affect export", |c, v| {
        c.logging.level = filter(v)?;
        Ok(())
    }),
    setting!("telemetry.logging.export_level", ["TASKER_EXPORT_LEVEL"], "info", "export filter for spans and events, `RUST_LOG` syntax", |c, v| {
        c.logging.export_level = filter(v)?;
        Ok(())
    }),
    setting!("telemetry.logging.export_logs", ["TASKER_EXPORT_LOGS"], "false", "also export log events as OTLP logs", |c, v| {
        c.logging.export_logs = boolean(v)?;
        Ok(())
    }),
    setting!("telemetry.logging.output", ["TASKER_LOG_OUTPUT"], "stderr", "console destination: `stderr` or `stdout`", |c, v| {
        c.logging.output = match text(v)?.as_str() {
            "stderr" => LogOutput::Stderr,
            "stdout" => LogOutput::Stdout,
            _ => return Err("one of stderr, stdout".to_owned()),
        };
        Ok(())
    }),
    setting!("telemetry.logging.ansi", [], "auto", "colours: `auto` (when a terminal), `true` or `false`", |c, v| {
        c.logging.ansi = match text(v)?.as_str() {
            "auto" => None,
            "true" => Some(true),
            "false" => Some(false),
            _ => return Err("one of auto, true, false".to_owned()),
        };
        Ok(())
    }),
    setting!("telemetry.logging.redact_keys", ["TASKER_REDACT_KEYS"], "password, passwd, secret, token, api_key, apikey, authorization, cookie, credit_card, ssn, private_key", "field-name patterns whose values become `[REDACTED]` (case-insensitive substring; replaces the default list)", |c, v| {
        c.logging.redact_keys = string_list(v)?;
        Ok(())
    }),
];

fn text(v: Raw<'_>) -> Result<String, String> {
    match v {
        Raw::Toml(toml::Value::String(s)) => Ok(s.trim().to_ascii_lowercase()),
        Raw::Str(s) => Ok(s.trim().to_ascii_lowercase()),
        Raw::Toml(_) => Err("a string".to_owned()),
    }
}

fn non_empty(v: Raw<'_>) -> Result<String, String> {
    let s = match v {
        Raw::Toml(toml::Value::String(s)) => s.trim(),
        Raw::Str(s) => s.trim(),
        Raw::Toml(_) => return Err("a non-empty string".to_owned()),
    };
    if s.is_empty() {
        return Err("a non-empty string".to_owned());
    }
    Ok(s.to_owned())
}

fn boolean(v: Raw<'_>) -> Result<bool, String> {
    match v {
        Raw::Toml(toml::Value::Boolean(b)) => Ok(*b),
        Raw::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err("true or false".to_owned()),
        },
        Raw::Toml(_) => Err("true or false".to_owned()),
    }
}

fn integer(v: Raw<'_>, min: u64, max: u64) -> Result<u64, String> {
    let allowed = || format!("an integer from {min} to {max}");
    let n: i64 = match v {
        Raw::Toml(toml::Value::Integer(i)) => *i,
        Raw::Str(s) => s.trim().parse().map_err(|_| allowed())?,
        Raw::Toml(_) => return Err(allowed()),
    };
    u64::try_from(n)
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(allowed)
}

fn float(v: Raw<'_>) -> Result<f64, String> {
    let allowed = || "a number from 0.0 to 1.0".to_owned();
    match v {
        Raw::Toml(toml::Value::Float(f)) => Ok(*f),
        Raw::Toml(toml::Value::Integer(i)) => Ok(*i as f64),
        Raw::Str(s) => s.trim().parse::<f64>().map_err(|_| allowed()),
        Raw::Toml(_) => Err(allowed()),
    }
    .and_then(|f| if f.is_finite() { Ok(f) } else { Err(allowed()) })
}

fn filter(v: Raw<'_>) -> Result<String, String> {
    let s = match v {
        Raw::Toml(toml::Value::String(s)) => s.trim().to_owned(),
        Raw::Str(s) => s.trim().to_owned(),
        Raw::Toml(_) => return Err("a filter string in RUST_LOG syntax".to_owned()),
    };
    tracing_subscriber::EnvFilter::builder()
        .parse(&s)
        .map_err(|e| {
            format!("a filter in RUST_LOG syntax such as `info` or `warn,my_crate=debug` ({e})")
        })?;
    Ok(s)
}

fn string_list(v: Raw<'_>) -> Result<Vec<String>, String> {
    let allowed = || "a list of strings (comma-separated in the variable)".to_owned();
    let items: Vec<String> = match v {
        Raw::Toml(toml::Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(allowed))
            .collect::<Result<_, _>>()?,
        Raw::Str(s) => s.split(',').map(str::to_owned).collect(),
        Raw::Toml(_) => return Err(allowed()),
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect())
}

/// `k=v,k2=v2` (values percent-decoded, as the OTel spec says) or a TOML table of strings.
fn key_values(v: Raw<'_>) -> Result<BTreeMap<String, String>, String> {
    let allowed = || "a table of strings, or `key=value` pairs separated by commas".to_owned();
    let mut out = BTreeMap::new();
    match v {
        Raw::Toml(toml::Value::Table(t)) => {
            for (k, v) in t {
                out.insert(k.clone(), v.as_str().ok_or_else(allowed)?.to_owned());
            }
        }
        Raw::Str(s) => {
            for pair in s.split(',').filter(|p| !p.trim().is_empty()) {
                let (k, v) = pair.split_once('=').ok_or_else(allowed)?;
                let k = k.trim();
                if k.is_empty() {
                    return Err(allowed());
                }
                out.insert(k.to_owned(), percent_decode(v.trim()));
            }
        }
        Raw::Toml(_) => return Err(allowed()),
    }
    Ok(out)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn find_setting(key: &str) -> Option<&'static Setting> {
    let full = if key.starts_with("telemetry.") {
        key.to_owned()
    } else {
        format!("telemetry.{key}")
    };
    SETTINGS.iter().find(|s| s.key == full).or_else(|| {
        // Keyword-argument spelling: `otlp_endpoint` for `otlp.endpoint`.
        let (section, rest) = key.trim_start_matches("telemetry.").split_once('_')?;
        let dotted = format!("telemetry.{section}.{rest}");
        SETTINGS.iter().find(|s| s.key == dotted)
    })
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
            config.merge_file(base)?;
        }
        if let Some(tasker_env) = env.var("TASKER_ENV") {
            let dir = base
                .as_ref()
                .and_then(|b| b.parent().map(Path::to_path_buf))
                .unwrap_or_else(|| PathBuf::from("config"));
            let overlay = dir.join(format!("{}.toml", tasker_env.trim()));
            if overlay.is_file() {
                config.merge_file(&overlay)?;
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

    /// Applies one TOML file over this configuration.
    pub fn merge_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
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
        let mut flat = Vec::new();
        flatten_toml("", &table, &mut flat);
        for (key, value) in flat {
            let setting =
                SETTINGS
                    .iter()
                    .find(|s| s.key == key)
                    .ok_or_else(|| ConfigError::UnknownKey {
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
                    let value = if *name == "OTEL_SDK_DISABLED" {
                        // The variable says "disabled"; the key says "enabled".
                        match boolean(Raw::Str(&value)) {
                            Ok(disabled) => (!disabled).to_string(),
                            Err(allowed) => {
                                return Err(invalid(
                                    setting,
                                    Raw::Str(&value),
                                    Origin::Env(name),
                                    allowed,
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
        let setting = find_setting(key).ok_or_else(|| ConfigError::UnknownKey {
            key: key.to_owned(),
            origin: Origin::Override,
        })?;
        self.apply(setting, Raw::Str(value), Origin::Override)
    }

    fn apply(
        &mut self,
        setting: &'static Setting,
        raw: Raw<'_>,
        origin: Origin,
    ) -> Result<(), ConfigError> {
        (setting.apply)(self, raw).map_err(|allowed| invalid(setting, raw, origin, allowed))
    }

    /// Whether spans leave the process (to the endpoint, else to the OTLP-JSON file).
    pub fn exports(&self) -> bool {
        self.enabled && (self.otlp.endpoint.is_some() || self.otlp.file.is_some())
    }
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
    fn percent_decoding_handles_escapes_and_stray_percent() {
        assert_eq!(percent_decode("Bearer%20abc"), "Bearer abc");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
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
