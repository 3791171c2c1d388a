//! [`SETTINGS`]: every configuration key once, with its environment variables, default and
//! meaning. It drives files, environment variables, overrides and the README's reference.

use std::path::PathBuf;
use std::time::Duration;

use super::parse::{
    boolean, filter, float, integer, key_values, non_empty, string_list, text, Raw,
};
use super::{
    Compression, Headers, LogFormat, LogOutput, Propagator, Protocol, SamplerKind, TelemetryConfig,
};

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
    pub(crate) secret: bool,
    pub(crate) apply: Apply,
}

macro_rules! setting {
    ($key:literal, [$($env:literal),*], $default:literal, $meaning:literal, $apply:expr) => {
        Setting { key: $key, env: &[$($env),*], default: $default, meaning: $meaning, secret: false, apply: $apply }
    };
    (secret $key:literal, [$($env:literal),*], $default:literal, $meaning:literal, $apply:expr) => {
        Setting { key: $key, env: &[$($env),*], default: $default, meaning: $meaning, secret: true, apply: $apply }
    };
}

/// One row of `[telemetry.otlp.<signal>]` (`OTEL_EXPORTER_OTLP_<SIGNAL>_<SETTING>`): the
/// per-signal form of a generic `[telemetry.otlp]` setting.
macro_rules! per_signal {
    ($sig:ident, $SIG:literal, endpoint) => {
        per_signal!(@row $sig, $SIG, "endpoint", "ENDPOINT", false, "unset",
            "full URL of this signal's requests, used as is (e.g. `https://collector:4318/v1/traces`); wins over `telemetry.otlp.endpoint`, and alone starts export of this signal (of log events when `telemetry.logging.export_logs` is on)",
            |c, v| { c.otlp.$sig.endpoint = Some(url(v)?); Ok(()) })
    };
    ($sig:ident, $SIG:literal, protocol) => {
        per_signal!(@row $sig, $SIG, "protocol", "PROTOCOL", false, "unset",
            "this signal's protocol, like `telemetry.otlp.protocol`",
            |c, v| { c.otlp.$sig.protocol = Some(protocol(v)?); Ok(()) })
    };
    ($sig:ident, $SIG:literal, timeout_ms) => {
        per_signal!(@row $sig, $SIG, "timeout_ms", "TIMEOUT", false, "unset",
            "this signal's request timeout, milliseconds",
            |c, v| { c.otlp.$sig.timeout = Some(Duration::from_millis(integer(v, 1, 600_000)?)); Ok(()) })
    };
    ($sig:ident, $SIG:literal, headers) => {
        per_signal!(@row $sig, $SIG, "headers", "HEADERS", true, "unset",
            "this signal's request headers, instead of `telemetry.otlp.headers`; values are never logged",
            |c, v| {
                let mut all = c.otlp.$sig.headers.take().unwrap_or_default();
                all.0.extend(headers(v)?.0);
                c.otlp.$sig.headers = Some(all);
                Ok(())
            })
    };
    ($sig:ident, $SIG:literal, compression) => {
        per_signal!(@row $sig, $SIG, "compression", "COMPRESSION", false, "unset",
            "this signal's compression, `gzip` or `none`",
            |c, v| { c.otlp.$sig.compression = Some(compression(v)?); Ok(()) })
    };
    ($sig:ident, $SIG:literal, certificate) => {
        per_signal!(@row $sig, $SIG, "certificate", "CERTIFICATE", false, "unset",
            "this signal's CA certificates (PEM), instead of `telemetry.otlp.certificate`",
            |c, v| { c.otlp.$sig.tls.certificate = Some(certificate_file(v)?); Ok(()) })
    };
    ($sig:ident, $SIG:literal, client_certificate) => {
        per_signal!(@row $sig, $SIG, "client_certificate", "CLIENT_CERTIFICATE", false, "unset",
            "this signal's client certificate (PEM), for mutual TLS",
            |c, v| { c.otlp.$sig.tls.client_certificate = Some(certificate_file(v)?); Ok(()) })
    };
    ($sig:ident, $SIG:literal, client_key) => {
        per_signal!(@row $sig, $SIG, "client_key", "CLIENT_KEY", false, "unset",
            "this signal's client key (PEM), for mutual TLS; never printed",
            |c, v| { c.otlp.$sig.tls.client_key = Some(key_file(v)?); Ok(()) })
    };
    (@row $sig:ident, $SIG:literal, $key:literal, $VAR:literal, $secret:literal, $default:literal, $meaning:literal, $apply:expr) => {
        Setting {
            key: concat!("telemetry.otlp.", stringify!($sig), ".", $key),
            env: &[concat!("OTEL_EXPORTER_OTLP_", $SIG, "_", $VAR)],
            default: $default,
            meaning: $meaning,
            secret: $secret,
            apply: $apply,
        }
    };
}

/// Every configuration key, in the order of the README's reference table.
pub const SETTINGS: &[Setting] = &[
    setting!("telemetry.service_name", ["OTEL_SERVICE_NAME"], "`unknown_service:<executable name>`", "`service.name` resource attribute; wins over a `service.name` in `telemetry.resource_attributes` (`OTEL_RESOURCE_ATTRIBUTES`), which wins over the default", |c, v| {
        c.service_name = Some(non_empty(v)?);
        Ok(())
    }),
    setting!("telemetry.service_version", [], "unset", "`service.version` resource attribute (wins over one in `telemetry.resource_attributes`)", |c, v| {
        c.service_version = Some(non_empty(v)?);
        Ok(())
    }),
    setting!("telemetry.enabled", ["OTEL_SDK_DISABLED"], "true", "master switch for OpenTelemetry export: when off nothing is exported (traces, metrics, logs); `OTEL_SDK_DISABLED=true` (any case) turns it off, `false` leaves it on, another value is an error", |c, v| {
        c.enabled = boolean(v)?;
        Ok(())
    }),
    setting!("telemetry.resource_attributes", ["OTEL_RESOURCE_ATTRIBUTES"], "{}", "resource attributes over the detected ones (TOML table, or `k=v,k2=v2` with percent-encoded values in the variable); see Resource", |c, v| {
        c.resource_attributes.extend(key_values(v)?);
        Ok(())
    }),
    setting!("telemetry.propagators", ["OTEL_PROPAGATORS"], "tracecontext, baggage", "context formats injected and extracted across processes: `tracecontext` (`traceparent`/`tracestate`), `baggage` (`baggage`, which carries the correlation id), or `none` (list, comma-separated in the variable); another value is an error", |c, v| {
        c.propagators = propagators(v)?;
        Ok(())
    }),
    setting!("telemetry.opentelemetry_bridge", ["TASKER_OPENTELEMETRY_BRIDGE"], "auto", "whether the Ruby gem and the Python package make the OpenTelemetry API's tracer provider, meter provider, propagator and context theirs, so libraries instrumented through the API join the trace: `auto` (when the API can be loaded and no other SDK provider is set; otherwise keep that one and warn once), `on` (also over another provider), `off`", |c, v| {
        c.opentelemetry_bridge = crate::bridge::BridgeMode::parse(&text(v)?).ok_or_else(|| "auto, on or off".to_owned())?;
        Ok(())
    }),
    setting!("telemetry.otlp.endpoint", ["OTEL_EXPORTER_OTLP_ENDPOINT"], "unset (no export)", "collector URL, e.g. `http://127.0.0.1:4317` (grpc) or `http://127.0.0.1:4318` (http/protobuf)", |c, v| {
        c.otlp.endpoint = Some(url(v)?);
        Ok(())
    }),
    setting!("telemetry.otlp.file", ["TASKER_OTLP_FILE"], "unset", "when no endpoint is set: append spans to this file as OTLP-JSON lines (the OpenTelemetry file-exporter format; `tasker-telemetry view FILE` draws them); traces only", |c, v| {
        c.otlp.file = Some(PathBuf::from(non_empty(v)?));
        Ok(())
    }),
    setting!("telemetry.otlp.protocol", ["OTEL_EXPORTER_OTLP_PROTOCOL"], "http/protobuf", "`grpc`, `http/protobuf` or `http/json` (gRPC receivers listen on 4317, HTTP ones on 4318 by convention)", |c, v| {
        c.otlp.protocol = protocol(v)?;
        Ok(())
    }),
    setting!("telemetry.otlp.timeout_ms", ["OTEL_EXPORTER_OTLP_TIMEOUT"], "10000", "timeout of one export request, milliseconds", |c, v| {
        c.otlp.timeout = Duration::from_millis(integer(v, 1, 600_000)?);
        Ok(())
    }),
    setting!(secret "telemetry.otlp.headers", ["OTEL_EXPORTER_OTLP_HEADERS"], "{}", "request headers (TOML table, or `k=v,k2=v2` in the variable); values are never logged", |c, v| {
        c.otlp.headers.0.extend(headers(v)?.0);
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
    setting!("telemetry.otlp.compression", ["OTEL_EXPORTER_OTLP_COMPRESSION"], "none", "`gzip` or `none`: compression of export requests", |c, v| {
        c.otlp.compression = compression(v)?;
        Ok(())
    }),
    setting!("telemetry.otlp.certificate", ["OTEL_EXPORTER_OTLP_CERTIFICATE"], "unset (system roots)", "PEM file of CA certificates trusted for an `https://` endpoint besides the system's roots (a private CA)", |c, v| {
        c.otlp.tls.certificate = Some(certificate_file(v)?);
        Ok(())
    }),
    setting!("telemetry.otlp.client_certificate", ["OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"], "unset", "PEM file of this client's certificate chain, for mutual TLS (with `client_key`)", |c, v| {
        c.otlp.tls.client_certificate = Some(certificate_file(v)?);
        Ok(())
    }),
    setting!("telemetry.otlp.client_key", ["OTEL_EXPORTER_OTLP_CLIENT_KEY"], "unset", "PEM file of this client's private key, for mutual TLS (with `client_certificate`); never printed", |c, v| {
        c.otlp.tls.client_key = Some(key_file(v)?);
        Ok(())
    }),
    setting!("telemetry.otlp.export_timeout_ms", ["OTEL_BSP_EXPORT_TIMEOUT"], "30000", "longest time one span export may take, milliseconds (caps the traces request timeout)", |c, v| {
        c.otlp.traces_export_timeout = Duration::from_millis(integer(v, 1, 600_000)?);
        Ok(())
    }),
    setting!("telemetry.otlp.traces.exporter", ["OTEL_TRACES_EXPORTER"], "otlp", "`otlp` exports spans; `none` or `console` does not (`console`: only the console log lines of `telemetry.logging`, spans are not printed); a comma-separated list is accepted", |c, v| {
        c.otlp.export_traces = exporter(v)?;
        Ok(())
    }),
    setting!("telemetry.otlp.metrics.exporter", ["OTEL_METRICS_EXPORTER"], "otlp", "`otlp` exports metrics over OTLP (sets `telemetry.metrics.enabled`), `prometheus` serves them for scraping (see Prometheus and health probes; needs no OTLP endpoint), `none` or `console` neither; a comma-separated list such as `otlp,prometheus` is accepted", |c, v| {
        let (otlp, prometheus) = metrics_exporters(v)?;
        c.metrics.enabled = otlp;
        c.prometheus.enabled = prometheus;
        Ok(())
    }),
    setting!("telemetry.otlp.logs.exporter", ["OTEL_LOGS_EXPORTER"], "unset", "`otlp` exports log events as OTLP logs, `none` or `console` does not: sets `telemetry.logging.export_logs` (which `TASKER_EXPORT_LOGS`, when set too, overrides)", |c, v| {
        c.logging.export_logs = exporter(v)?;
        Ok(())
    }),
    per_signal!(traces, "TRACES", endpoint),
    per_signal!(traces, "TRACES", protocol),
    per_signal!(traces, "TRACES", timeout_ms),
    per_signal!(traces, "TRACES", headers),
    per_signal!(traces, "TRACES", compression),
    per_signal!(traces, "TRACES", certificate),
    per_signal!(traces, "TRACES", client_certificate),
    per_signal!(traces, "TRACES", client_key),
    per_signal!(metrics, "METRICS", endpoint),
    per_signal!(metrics, "METRICS", protocol),
    per_signal!(metrics, "METRICS", timeout_ms),
    per_signal!(metrics, "METRICS", headers),
    per_signal!(metrics, "METRICS", compression),
    per_signal!(metrics, "METRICS", certificate),
    per_signal!(metrics, "METRICS", client_certificate),
    per_signal!(metrics, "METRICS", client_key),
    per_signal!(logs, "LOGS", endpoint),
    per_signal!(logs, "LOGS", protocol),
    per_signal!(logs, "LOGS", timeout_ms),
    per_signal!(logs, "LOGS", headers),
    per_signal!(logs, "LOGS", compression),
    per_signal!(logs, "LOGS", certificate),
    per_signal!(logs, "LOGS", client_certificate),
    per_signal!(logs, "LOGS", client_key),
    setting!("telemetry.sampling.sampler", ["OTEL_TRACES_SAMPLER"], "parentbased_always_on", "`always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off` or `parentbased_traceidratio`, as the OpenTelemetry specification defines them (`parentbased_*`: a child follows its parent's decision, remote parents included; the named sampler decides for roots); the spellings `parent_based_always_on`, `trace_id_ratio` etc. work too; `jaeger_remote`, `parentbased_jaeger_remote` and `xray` are not supported (an error)", |c, v| {
        c.sampling.sampler = sampler_kind(v)?;
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
    setting!("telemetry.spans.max_attributes", ["OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT"], "128", "attributes kept per span by the SDK (the ones past it are dropped and counted in the span's `dropped_attributes_count`)", |c, v| {
        c.spans.max_attributes = integer(v, 1, 65_536)? as u32;
        Ok(())
    }),
    setting!("telemetry.spans.max_events", ["OTEL_SPAN_EVENT_COUNT_LIMIT"], "128", "events kept per span", |c, v| {
        c.spans.max_events = integer(v, 1, 65_536)? as u32;
        Ok(())
    }),
    setting!("telemetry.spans.max_links", ["OTEL_SPAN_LINK_COUNT_LIMIT"], "128", "links kept per span", |c, v| {
        c.spans.max_links = integer(v, 1, 65_536)? as u32;
        Ok(())
    }),
    setting!("telemetry.spans.max_event_attributes", ["OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT"], "128", "attributes kept per span event", |c, v| {
        c.spans.max_event_attributes = integer(v, 1, 65_536)? as u32;
        Ok(())
    }),
    setting!("telemetry.spans.max_link_attributes", ["OTEL_LINK_ATTRIBUTE_COUNT_LIMIT"], "128", "attributes kept per span link", |c, v| {
        c.spans.max_link_attributes = integer(v, 1, 65_536)? as u32;
        Ok(())
    }),
    setting!("telemetry.spans.attribute_count_limit", ["OTEL_ATTRIBUTE_COUNT_LIMIT"], "128", "distinct field keys kept per foreign span, event or log (a new key past it is dropped, a present key still updated; counted in `attributes_dropped`)", |c, v| {
        c.spans.attribute_count_limit = integer(v, 1, 1_000_000)? as usize;
        Ok(())
    }),
    setting!("telemetry.spans.max_attribute_length", [], "8192", "string field values longer than this (bytes) are cut and marked `…[truncated N bytes]` (counted in `attributes_truncated`)", |c, v| {
        c.spans.max_attribute_length = integer(v, 16, 64 * 1024 * 1024)? as usize;
        Ok(())
    }),
    setting!("telemetry.spans.attribute_value_length_limit", ["OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"], "unset", "when set, string values are cut to the smaller of this and `telemetry.spans.max_attribute_length` (so it lowers the limit; raising it past 8192 takes `max_attribute_length` too)", |c, v| {
        c.spans.attribute_value_length_limit = Some(integer(v, 16, 64 * 1024 * 1024)? as usize);
        Ok(())
    }),
    setting!("telemetry.spans.max_dynamic_callsites", [], "4096", "distinct shapes of foreign spans/events given their own callsite; past it a shared fallback callsite is used (fields still exported one attribute each)", |c, v| {
        c.spans.max_dynamic_callsites = integer(v, 0, 1_000_000)? as usize;
        Ok(())
    }),
    setting!("telemetry.spans.log_events", ["TASKER_SPANS_LOG_EVENTS"], "true", "copy each log event (Rust, Ruby, Python) onto the current span as a span event, so the trace shows the log lines; `false` keeps spans lean (each log line is still printed and, with `telemetry.logging.export_logs`, exported as a log record with the span's ids); error events are always copied (they set the span's error status)", |c, v| {
        c.spans.log_events = boolean(v)?;
        Ok(())
    }),
    setting!("telemetry.spans.max_dynamic_callsite_bytes", [], "4194304", "bytes the shapes of `max_dynamic_callsites` may hold (names and field names kept for the life of the process); past it, the fallback callsite as well", |c, v| {
        c.spans.max_dynamic_callsite_bytes = integer(v, 0, 1 << 30)? as usize;
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
    setting!("telemetry.metrics.export_timeout_ms", ["OTEL_METRIC_EXPORT_TIMEOUT"], "30000", "longest time one metrics export may take, milliseconds (caps the metrics request timeout)", |c, v| {
        c.metrics.export_timeout = Duration::from_millis(integer(v, 1, 600_000)?);
        Ok(())
    }),
    setting!("telemetry.metrics.allow_correlation_labels", [], "false", "keep `correlation_id`/`trace_id`/`span_id` metric labels (unbounded cardinality)", |c, v| {
        c.metrics.allow_correlation_labels = boolean(v)?;
        Ok(())
    }),
    setting!("telemetry.metrics.max_instruments", ["TASKER_METRICS_MAX_INSTRUMENTS"], "1000", "distinct metric names (all kinds together) the process creates; measurements on further names are refused, counted in `tasker_telemetry_dropped_total{signal=metrics, reason=instrument_limit}` and warned about once", |c, v| {
        c.metrics.max_instruments = integer(v, 1, 1_000_000)? as usize;
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
    setting!("telemetry.logging.level", ["TASKER_LOG_LEVEL", "RUST_LOG"], "info", "console filter: a level (`trace`, `debug`, `info`, `warn`/`warning`, `error`, `critical`/`fatal`, any case) or comma-separated `target=level` directives (e.g. `info,my_crate=debug`); a word that is neither is an error (`RUST_LOG`, set for other tools too, keeps its own syntax); does not affect export", |c, v| {
        c.logging.level = filter(v)?;
        Ok(())
    }),
    setting!("telemetry.logging.export_level", ["TASKER_EXPORT_LEVEL"], "info", "export filter for spans and events, written like `telemetry.logging.level`", |c, v| {
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
    setting!("telemetry.logging.redact_keys", ["TASKER_REDACT_KEYS"], "password, passwd, pwd, passphrase, secret, token, api_key, access_key, private_key, auth, authorization, bearer, credential, session, cookie, csrf, xsrf, jwt, ssn, social_security, credit_card", "field-name patterns whose values become `[REDACTED]` (case, `-`, `_` and `.` ignored; patterns of up to 4 characters match whole words; replaces the default list)", |c, v| {
        c.logging.redact_keys = string_list(v)?;
        Ok(())
    }),
    setting!("telemetry.logging.scrub_text", ["TASKER_SCRUB_TEXT"], "true", "also hide secrets inside messages, string values and exception messages (`password=…`, `token: …`, URL passwords, secret query parameters); see Redaction", |c, v| {
        c.logging.scrub_text = boolean(v)?;
        Ok(())
    }),
    setting!("telemetry.prometheus.host", ["OTEL_EXPORTER_PROMETHEUS_HOST"], "localhost", "host or address the Prometheus scrape and health-probe server listens on (`0.0.0.0` for every interface, e.g. in a container)", |c, v| {
        c.prometheus.host = non_empty(v)?;
        Ok(())
    }),
    setting!("telemetry.prometheus.port", ["OTEL_EXPORTER_PROMETHEUS_PORT"], "9464", "port of the Prometheus scrape and health-probe server; a port already in use is an error at an explicit `init`, and one error line when export starts at a binding's load (export goes on)", |c, v| {
        c.prometheus.port = integer(v, 1, 65_535)? as u16;
        Ok(())
    }),
    setting!("telemetry.prometheus.serve", ["TASKER_PROMETHEUS_SERVE"], "true", "run the server when `prometheus` is among the metrics exporters; `false` keeps the metrics for `prometheus_text()` only (applications that serve HTTP themselves)", |c, v| {
        c.prometheus.serve = boolean(v)?;
        Ok(())
    }),
    setting!(secret "telemetry.prometheus.bearer_token", ["TASKER_PROMETHEUS_TOKEN"], "unset", "when set, every request to the server (metrics and health probes) needs `Authorization: Bearer <token>` (compared in constant time; 401 otherwise); never logged", |c, v| {
        c.prometheus.bearer_token = Some(non_empty(v)?);
        Ok(())
    }),
    setting!("telemetry.health.export_failure_grace_ms", [], "30000", "`/health/ready` fails once an export has failed continuously (no success since) for longer than this, milliseconds", |c, v| {
        c.health.export_failure_grace = Duration::from_millis(integer(v, 0, 86_400_000)?);
        Ok(())
    }),
    setting!("telemetry.health.max_queue_fill", [], "0.9", "`/health/ready` fails while a span or log export queue holds more than this fraction of `telemetry.otlp.max_queue_size`", |c, v| {
        let fill = float(v)?;
        if !(0.0..=1.0).contains(&fill) {
            return Err("a number from 0.0 to 1.0".to_owned());
        }
        c.health.max_queue_fill = fill;
        Ok(())
    }),
    setting!("telemetry.events.sample_rate", ["TASKER_EVENTS_SAMPLE_RATE"], "1.0", "share of log events kept (printed and exported) when no `telemetry.events.sampling` entry matches them, 0.0 to 1.0; the rest are counted in `tasker_telemetry_suppressed_total{reason=sampled}`; see Sampling, rate limits and runtime changes", |c, v| {
        c.events.sample_rate = rate(v)?;
        Ok(())
    }),
    setting!("telemetry.events.sampling", ["TASKER_EVENTS_SAMPLING"], "{}", "share of log events kept per event name (an `event` field, else the message) or target (which covers the targets under it: `payments` covers `payments::charge` and `payments.charge`): a TOML table `{ \"payments::charge\" = 0.1 }`, or `name=0.1,other=0.5` in the variable", |c, v| {
        c.events.sampling = rates(v)?;
        Ok(())
    }),
    setting!("telemetry.events.rate_limit_per_s", ["TASKER_EVENTS_RATE_LIMIT_PER_S"], "0 (no limit)", "log events per second each callsite (event shape) may emit, a token bucket; past it they are counted in `tasker_telemetry_suppressed_total{reason=rate_limited}`", |c, v| {
        c.events.rate_limit_per_s = non_negative(v)?;
        Ok(())
    }),
    setting!("telemetry.events.rate_limit_burst", ["TASKER_EVENTS_RATE_LIMIT_BURST"], "unset (the rate, at least 1)", "log events a callsite may emit at once before `telemetry.events.rate_limit_per_s` applies", |c, v| {
        c.events.rate_limit_burst = Some(integer(v, 1, 1_000_000_000)? as u32);
        Ok(())
    }),
    setting!("telemetry.events.filtered", ["TASKER_EVENTS_FILTERED"], "[]", "event names or targets (matched as in `telemetry.events.sampling`) always dropped, counted in `tasker_telemetry_suppressed_total{reason=filtered}` (list, comma-separated in the variable)", |c, v| {
        c.events.filtered = string_list(v)?;
        Ok(())
    }),
    setting!("telemetry.events.exempt_level", ["TASKER_EVENTS_EXEMPT_LEVEL"], "error", "log events at this level or more severe are never sampled, rate-limited or filtered; `off` exempts none", |c, v| {
        let name = text(v)?;
        c.events.exempt_level = match name.as_str() {
            "off" | "none" => None,
            _ => Some(crate::level::parse_level(&name).map_err(|_| {
                format!("a level ({}) or off", crate::level::LEVEL_NAMES_TEXT)
            })?),
        };
        Ok(())
    }),
    setting!("telemetry.events.summary_interval_ms", ["TASKER_EVENTS_SUMMARY_INTERVAL_MS"], "10000", "how often one line (target `tasker_telemetry::events`) summarises the log events suppressed meanwhile, milliseconds", |c, v| {
        c.events.summary_interval = Duration::from_millis(integer(v, 10, 86_400_000)?);
        Ok(())
    }),
    setting!("telemetry.reload_on_sighup", ["TASKER_RELOAD_ON_SIGHUP"], "true", "when the configuration came from a file and the host has not claimed `SIGHUP` (Puma, Unicorn, gunicorn do), re-read it on `SIGHUP` and apply what can change at run time (levels, event sampling and rate limits)", |c, v| {
        c.reload_on_sighup = boolean(v)?;
        Ok(())
    }),
    setting!("telemetry.metrics.process_metrics", ["TASKER_PROCESS_METRICS"], "true", "export the process's resource usage with the metrics (`process.memory.usage`, `process.memory.virtual`, `process.cpu.time`, `process.open_file_descriptor.count`, `process.thread.count`; read from `/proc`, Linux only)", |c, v| {
        c.metrics.process_metrics = boolean(v)?;
        Ok(())
    }),
    setting!("telemetry.slow_operations.threshold_ms", ["TASKER_SLOW_THRESHOLD_MS"], "1000", "a span (Rust, Ruby, Python) or monitored operation that takes longer than this many milliseconds emits a `slow_operation` warning and counts in `tasker_slow_operations_total`; `0` disables", |c, v| {
        c.slow_operations.threshold_ms = integer(v, 0, 86_400_000)?;
        Ok(())
    }),
    setting!("telemetry.slow_operations.overrides", ["TASKER_SLOW_THRESHOLD_OVERRIDES"], "{}", "thresholds per span name, milliseconds, over `threshold_ms` (TOML table such as `{ execute_step = 5000 }`, or `name=ms,name2=ms` in the variable, which adds to the file's); `0` disables that name", |c, v| {
        c.slow_operations.overrides.extend(thresholds(v)?);
        Ok(())
    }),
    setting!("telemetry.slow_operations.memory_threshold_mb", ["TASKER_MEMORY_THRESHOLD_MB"], "100", "a monitored operation whose resident memory grows by more than this many MiB emits a `memory_spike` warning; `0` disables", |c, v| {
        c.slow_operations.memory_threshold_mb = integer(v, 0, 1 << 30)?;
        Ok(())
    }),
];

/// A share from 0.0 to 1.0.
fn rate(v: Raw<'_>) -> Result<f64, String> {
    let r = float(v)?;
    if !(0.0..=1.0).contains(&r) {
        return Err("a number from 0.0 to 1.0".to_owned());
    }
    Ok(r)
}

/// A finite number of at least 0.
fn non_negative(v: Raw<'_>) -> Result<f64, String> {
    let allowed = || "a number of at least 0 (0 = no limit)".to_owned();
    let f = match v {
        Raw::Toml(toml::Value::Float(f)) => *f,
        Raw::Toml(toml::Value::Integer(i)) => *i as f64,
        Raw::Str(s) => s.trim().parse::<f64>().map_err(|_| allowed())?,
        Raw::Toml(_) => return Err(allowed()),
    };
    if !f.is_finite() || f < 0.0 {
        return Err(allowed());
    }
    Ok(f)
}

/// `telemetry.events.sampling`: a table of shares, or `name=0.1,other=0.5`.
fn rates(v: Raw<'_>) -> Result<std::collections::BTreeMap<String, f64>, String> {
    let allowed = |why: String| {
        format!("a table of names or targets to shares from 0.0 to 1.0, or `name=0.1,target=0.5` ({why})")
    };
    let mut out = std::collections::BTreeMap::new();
    match v {
        Raw::Toml(toml::Value::Table(t)) => {
            for (k, value) in t {
                let r = rate(Raw::Toml(value)).map_err(|_| allowed(format!("`{k}` is {value}")))?;
                out.insert(k.trim().to_owned(), r);
            }
        }
        Raw::Str(s) => {
            for pair in s.split(',').filter(|p| !p.trim().is_empty()) {
                let (k, value) = pair
                    .rsplit_once('=')
                    .ok_or_else(|| allowed(format!("`{}` has no `=`", pair.trim())))?;
                let r = rate(Raw::Str(value))
                    .map_err(|_| allowed(format!("`{}` is {:?}", k.trim(), value.trim())))?;
                out.insert(k.trim().to_owned(), r);
            }
        }
        Raw::Toml(_) => return Err(allowed("not a table".to_owned())),
    }
    if out.keys().any(String::is_empty) {
        return Err(allowed("an empty name".to_owned()));
    }
    Ok(out)
}

/// `telemetry.sampling.sampler`: the OpenTelemetry names and this crate's older snake-case ones.
fn sampler_kind(v: Raw<'_>) -> Result<SamplerKind, String> {
    const ALLOWED: &str = "one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio";
    Ok(match text(v)?.as_str() {
        "always_on" => SamplerKind::AlwaysOn,
        "always_off" => SamplerKind::AlwaysOff,
        "traceidratio" | "trace_id_ratio" => SamplerKind::TraceIdRatio,
        "parentbased_always_on" | "parent_based_always_on" => SamplerKind::ParentBasedAlwaysOn,
        "parentbased_always_off" | "parent_based_always_off" => SamplerKind::ParentBasedAlwaysOff,
        "parentbased_traceidratio" | "parent_based_trace_id_ratio" => {
            SamplerKind::ParentBasedTraceIdRatio
        }
        unsupported @ ("jaeger_remote" | "parentbased_jaeger_remote" | "xray") => {
            return Err(format!(
                "{ALLOWED} (`{unsupported}` is an OpenTelemetry sampler that tasker-telemetry does not support)"
            ))
        }
        _ => return Err(ALLOWED.to_owned()),
    })
}

/// `telemetry.propagators`: a list of `tracecontext`, `baggage`, or `none` alone.
fn propagators(v: Raw<'_>) -> Result<Vec<Propagator>, String> {
    const ALLOWED: &str = "a list of tracecontext, baggage (or none alone)";
    let mut out = Vec::new();
    let names = string_list(v).map_err(|_| ALLOWED.to_owned())?;
    for name in &names {
        let p = match name.to_ascii_lowercase().as_str() {
            "tracecontext" => Propagator::TraceContext,
            "baggage" => Propagator::Baggage,
            "none" if names.len() == 1 => return Ok(Vec::new()),
            "none" => return Err(format!("{ALLOWED} (`none` cannot be combined with others)")),
            other @ ("b3" | "b3multi" | "jaeger" | "xray" | "ottrace") => {
                return Err(format!(
                    "{ALLOWED} (`{other}` is an OpenTelemetry propagator that tasker-telemetry does not support)"
                ))
            }
            other => return Err(format!("{ALLOWED} (`{other}` is not one)")),
        };
        if !out.contains(&p) {
            out.push(p);
        }
    }
    if out.is_empty() {
        return Err(ALLOWED.to_owned());
    }
    Ok(out)
}

/// `telemetry.slow_operations.overrides`: span names and millisecond thresholds, a TOML table of
/// integers or `name=ms,name2=ms` (the last `=` splits, so a name may hold one).
fn thresholds(v: Raw<'_>) -> Result<Vec<(String, u64)>, String> {
    let allowed = || {
        "a table of span names and thresholds in milliseconds from 0 to 86400000 (`name=ms,name2=ms` in the variable)".to_owned()
    };
    let ms = |v: Raw<'_>| integer(v, 0, 86_400_000).map_err(|_| allowed());
    let mut out = Vec::new();
    match v {
        Raw::Toml(toml::Value::Table(t)) => {
            for (name, value) in t {
                out.push((name.trim().to_owned(), ms(Raw::Toml(value))?));
            }
        }
        Raw::Str(s) => {
            for pair in s.split(',').filter(|p| !p.trim().is_empty()) {
                let (name, value) = pair.rsplit_once('=').ok_or_else(allowed)?;
                out.push((name.trim().to_owned(), ms(Raw::Str(value))?));
            }
        }
        Raw::Toml(_) => return Err(allowed()),
    }
    if out.iter().any(|(name, _)| name.is_empty()) {
        return Err(allowed());
    }
    Ok(out)
}

pub(crate) fn find_setting(key: &str) -> Option<&'static Setting> {
    let full = if key.starts_with("telemetry.") {
        key.to_owned()
    } else {
        format!("telemetry.{key}")
    };
    SETTINGS.iter().find(|s| s.key == full).or_else(|| {
        // Keyword-argument spelling: `_` for every dot (`otlp_endpoint`, a per-signal
        // `otlp_traces_endpoint`, `slow_operations_threshold_ms`); no two keys spell alike.
        let wanted = full.replace('.', "_");
        SETTINGS
            .iter()
            .find(|s| s.key.len() == wanted.len() && s.key.replace('.', "_") == wanted)
    })
}

/// An `http://` or `https://` URL.
fn url(v: Raw<'_>) -> Result<String, String> {
    let url = non_empty(v)?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err("an http:// or https:// URL".to_owned());
    }
    Ok(url)
}

fn protocol(v: Raw<'_>) -> Result<Protocol, String> {
    Ok(match text(v)?.as_str() {
        "grpc" => Protocol::Grpc,
        "http/protobuf" | "http" => Protocol::HttpProtobuf,
        "http/json" => Protocol::HttpJson,
        _ => return Err("one of grpc, http/protobuf, http/json".to_owned()),
    })
}

fn compression(v: Raw<'_>) -> Result<Compression, String> {
    Ok(match text(v)?.as_str() {
        "gzip" => Compression::Gzip,
        "none" => Compression::None,
        _ => return Err("one of gzip, none".to_owned()),
    })
}

/// OTLP request headers; names are HTTP tokens, values printable ASCII.
fn headers(v: Raw<'_>) -> Result<Headers, String> {
    let headers = key_values(v)?;
    for (name, value) in &headers {
        let token = |ch: char| ch.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(ch);
        if !name.chars().all(token) {
            return Err(format!(
                "header names made of letters, digits and !#$%&'*+-.^_`|~ (`{name}` is not one)"
            ));
        }
        if !value
            .chars()
            .all(|ch| ch == '\t' || (' '..='~').contains(&ch))
        {
            return Err(format!(
                "header values of printable ASCII (the value of `{name}` is not; value hidden)"
            ));
        }
    }
    Ok(Headers(headers))
}

/// `OTEL_{TRACES,METRICS,LOGS}_EXPORTER`: a comma-separated list of `otlp`, `console`, `none`
/// (or a TOML list); whether OTLP export is on. `none` cannot be combined with another.
fn exporter(v: Raw<'_>) -> Result<bool, String> {
    let allowed = "`otlp`, `console` or `none` (a comma-separated list of otlp and console; none alone): `console` means the console log lines of telemetry.logging, which are always on";
    let v = match v {
        Raw::Toml(toml::Value::String(s)) => Raw::Str(s),
        other => other,
    };
    let items = super::parse::string_list(v).map_err(|_| allowed.to_owned())?;
    if items.is_empty() {
        return Err(allowed.to_owned());
    }
    let mut otlp = false;
    for item in &items {
        match item.to_ascii_lowercase().as_str() {
            "otlp" => otlp = true,
            "console" => {}
            "none" if items.len() == 1 => {}
            _ => return Err(allowed.to_owned()),
        }
    }
    Ok(otlp)
}

/// `OTEL_METRICS_EXPORTER`: a comma-separated list (or TOML list) of `otlp`, `prometheus`,
/// `console`, or `none` alone; whether metrics go over OTLP, and whether they are kept for
/// Prometheus.
fn metrics_exporters(v: Raw<'_>) -> Result<(bool, bool), String> {
    let allowed = "`otlp`, `prometheus`, `console` or `none` (a comma-separated list such as otlp,prometheus; none alone)";
    let v = match v {
        Raw::Toml(toml::Value::String(s)) => Raw::Str(s),
        other => other,
    };
    let items = super::parse::string_list(v).map_err(|_| allowed.to_owned())?;
    if items.is_empty() {
        return Err(allowed.to_owned());
    }
    let (mut otlp, mut prometheus) = (false, false);
    for item in &items {
        match item.to_ascii_lowercase().as_str() {
            "otlp" => otlp = true,
            "prometheus" => prometheus = true,
            "console" => {}
            "none" if items.len() == 1 => {}
            _ => return Err(allowed.to_owned()),
        }
    }
    Ok((otlp, prometheus))
}

/// A PEM file of certificates, checked now so that a bad one names its key and variable.
fn certificate_file(v: Raw<'_>) -> Result<PathBuf, String> {
    let path = PathBuf::from(non_empty(v)?);
    crate::export::tls::certificates(&path)
        .map_err(|e| format!("a readable PEM file of certificates ({e})"))?;
    Ok(path)
}

/// A PEM file of a private key, checked now (its contents are never shown).
fn key_file(v: Raw<'_>) -> Result<PathBuf, String> {
    let path = PathBuf::from(non_empty(v)?);
    crate::export::tls::private_key(&path)
        .map_err(|e| format!("a readable PEM file of a private key ({e})"))?;
    Ok(path)
}
