//! [`SETTINGS`]: every configuration key once, with its environment variables, default and
//! meaning. It drives files, environment variables, overrides and the README's reference.

use std::path::PathBuf;
use std::time::Duration;

use super::parse::{
    boolean, filter, float, integer, key_values, non_empty, string_list, text, Raw,
};
use super::{LogFormat, LogOutput, Propagator, Protocol, SamplerKind, TelemetryConfig};

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
];

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

pub(crate) fn find_setting(key: &str) -> Option<&'static Setting> {
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
