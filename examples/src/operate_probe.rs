//! Probe for the operations features (Prometheus scrape, health probes), the Rust twin of the
//! Ruby and Python scripts in `tests/integration/test_operate.py`: starts telemetry from the
//! environment (`OTEL_METRICS_EXPORTER=prometheus`, `OTEL_EXPORTER_PROMETHEUS_PORT`, ...),
//! records a counter and a histogram, marks the `database` component unhealthy and prints
//! `READY`; each line on standard input then advances one step (`database` healthy, then exit).

use std::io::BufRead;
use std::time::Duration;

use opentelemetry::KeyValue;
use tasker_telemetry::metrics::{self, InstrumentKind};
use tasker_telemetry::{health, TelemetryConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guard = tasker_telemetry::init(TelemetryConfig::load()?)?;
    let label = [KeyValue::new("namespace", "pay\"ments")];
    metrics::record(
        InstrumentKind::Counter,
        "tasker_steps_claimed_total",
        3.0,
        &label,
    )?;
    metrics::record(
        InstrumentKind::Histogram,
        "tasker_step_execution_duration",
        12.5,
        &[],
    )?;
    health::set(
        "database",
        health::HealthStatus::Unhealthy,
        Some("connection refused"),
    )?;
    println!("READY");
    let mut lines = std::io::stdin().lock().lines();
    let _ = lines.next();
    health::set("database", health::HealthStatus::Healthy, None)?;
    println!("HEALTHY");
    let _ = lines.next();
    guard.shutdown(Duration::from_secs(5))?;
    Ok(())
}
