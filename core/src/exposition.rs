//! Prometheus exposition of the core's metrics (`OTEL_METRICS_EXPORTER=prometheus`): a pull
//! reader on the meter provider and the text that [`prometheus_text`] returns and the server of
//! [`crate::probe_server`] serves at `/metrics`.
//!
//! The conversion is the OpenTelemetry Prometheus exporter's (`opentelemetry-prometheus`):
//! names sanitised, the unit as a suffix (`ms` → `_milliseconds`, `By` → `_bytes`; annotations
//! such as `{step}` add none), `otel_scope_name` labels, and the resource as `target_info`. One
//! rule of the OpenTelemetry–Prometheus compatibility specification is applied here instead:
//! a counter gets `_total` only when its name does not already end in `_total` (the exporter
//! would turn `tasker_steps_claimed_total` into `tasker_steps_claimed_total_total`). The text is
//! written by the Prometheus client's encoder (text format 0.0.4, its label escaping).
//!
//! OpenMetrics is not offered: the encoder writes only the text format 0.0.4, which every
//! Prometheus-compatible scraper accepts (Prometheus lists it in its `Accept` header), so a
//! scraper asking for OpenMetrics gets 0.0.4 with that content type.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use prometheus::Encoder as _;

use crate::error::{ConfigError, TelemetryError};

/// The content type of [`prometheus_text`]'s answer over HTTP.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The registry of the running meter provider's Prometheus reader; `None` when metrics are not
/// kept for Prometheus (or after shutdown).
static REGISTRY: ArcSwapOption<prometheus::Registry> = ArcSwapOption::const_empty();

/// A Prometheus reader for a meter provider, and the registry it fills.
pub(crate) fn reader() -> Result<
    (
        opentelemetry_prometheus::PrometheusExporter,
        Arc<prometheus::Registry>,
    ),
    ConfigError,
> {
    let registry = prometheus::Registry::new();
    let exporter = opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        // `_total` is added below, only where the name lacks it.
        .without_counter_suffixes()
        .build()
        .map_err(|e| ConfigError::Exporter {
            signal: "metrics",
            endpoint: "prometheus".to_owned(),
            reason: e.to_string(),
        })?;
    Ok((exporter, Arc::new(registry)))
}

/// The Prometheus name of a counter as the OpenTelemetry–Prometheus compatibility rules have it:
/// `_total` last, once. The exporter has appended the unit to the name as given, so a counter
/// named `jobs_total` with unit `ms` arrives as `jobs_total_milliseconds`: the `_total` moves
/// after the unit.
fn counter_name(name: &str) -> String {
    const UNITS: &[&str] = &[
        "seconds",
        "milliseconds",
        "microseconds",
        "nanoseconds",
        "minutes",
        "hours",
        "days",
        "bytes",
        "kilobytes",
        "megabytes",
        "gigabytes",
        "kibibytes",
        "mebibytes",
        "gibibytes",
        "ratio",
        "percent",
        "meters",
        "volts",
        "amperes",
        "joules",
        "grams",
        "celsius",
        "hertz",
    ];
    if name.ends_with("_total") {
        return name.to_owned();
    }
    if let Some(pos) = name.rfind("_total_") {
        let unit = &name[pos + "_total_".len()..];
        if UNITS
            .iter()
            .any(|u| unit == *u || unit.starts_with(&format!("{u}_per_")))
        {
            return format!("{}_{unit}_total", &name[..pos]);
        }
    }
    format!("{name}_total")
}

/// Makes `registry` the one [`prometheus_text`] reads (at `init`, after a fork, `None` at
/// shutdown).
pub(crate) fn install(registry: Option<Arc<prometheus::Registry>>) {
    REGISTRY.store(registry);
}

/// The core's metrics in the Prometheus text format 0.0.4 (what the server answers at
/// `/metrics`), for applications that serve HTTP themselves (with the content type
/// [`CONTENT_TYPE`]).
///
/// Errors: `prometheus` is not among the metrics exporters (`OTEL_METRICS_EXPORTER`), telemetry
/// is not initialised or was shut down, or the encoder refused the metrics.
///
/// ```no_run
/// let text = tasker_telemetry::prometheus_text()?;
/// assert!(text.contains("# TYPE"));
/// # Ok::<(), tasker_telemetry::TelemetryError>(())
/// ```
pub fn prometheus_text() -> Result<String, TelemetryError> {
    let Some(registry) = REGISTRY.load_full() else {
        return Err(TelemetryError::Unavailable {
            what: "prometheus_text()",
            reason: "metrics are not kept for Prometheus: set OTEL_METRICS_EXPORTER=prometheus (or otlp,prometheus; telemetry.otlp.metrics.exporter) and call init (after shutdown there are none)".to_owned(),
        });
    };
    let mut families = registry.gather();
    for family in &mut families {
        if family.get_field_type() == prometheus::proto::MetricType::COUNTER {
            let name = counter_name(family.name());
            family.set_name(name);
        }
    }
    let mut out = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&families, &mut out)
        .map_err(|e| TelemetryError::Unavailable {
            what: "prometheus_text()",
            reason: format!("the Prometheus encoder refused the metrics: {e}"),
        })?;
    String::from_utf8(out).map_err(|e| TelemetryError::Unavailable {
        what: "prometheus_text()",
        reason: format!("the Prometheus encoder wrote invalid UTF-8: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::counter_name;

    #[test]
    fn total_comes_last_once() {
        assert_eq!(counter_name("jobs_done"), "jobs_done_total");
        assert_eq!(
            counter_name("tasker_steps_claimed_total"),
            "tasker_steps_claimed_total"
        );
        assert_eq!(
            counter_name("jobs_total_milliseconds"),
            "jobs_milliseconds_total"
        );
        assert_eq!(counter_name("wait_milliseconds"), "wait_milliseconds_total");
        assert_eq!(counter_name("grand_total_count"), "grand_total_count_total");
    }
}
