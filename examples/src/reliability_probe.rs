//! Reliability probe for Rust, the twin of `tests/reliability/probes/probe.py` and `probe.rb`:
//! `reliability_probe soak` records `N` spans through the dynamic (foreign-span) path the
//! bindings use, each with an event and a span attribute, 20 span names, a counter every 1000,
//! exports them to `ENDPOINT` and prints resident memory sampled every `SAMPLE_EVERY` spans
//! (after a flush, so that it is what the process retains) as a `FIGURES {json}` line. Run by `tests/reliability/test_load.py`.

use std::time::{Duration, Instant};

use tasker_telemetry::dynamic::{self, DynSpan, EventArgs, Parent, SpanStart};
use tasker_telemetry::fields::{FieldValue, Fields, Scalar};
use tasker_telemetry::metrics::{self, InstrumentKind};
use tasker_telemetry::TelemetryConfig;
use tracing::Level;

type Error = Box<dyn std::error::Error>;

fn var(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn soak() -> Result<(), Error> {
    let total: usize = var("N")?.parse()?;
    let every: usize = var("SAMPLE_EVERY")?.parse()?;
    let mut config = TelemetryConfig::load()?;
    config.set(
        "service_name",
        &std::env::var("SERVICE").unwrap_or_else(|_| "rust-probe".into()),
    )?;
    config.set("otlp.endpoint", &var("ENDPOINT")?)?;
    config.set(
        "otlp.protocol",
        &std::env::var("PROTOCOL").unwrap_or_else(|_| "http/protobuf".into()),
    )?;
    config.set("otlp.max_queue_size", "65536")?;
    config.set("otlp.batch_size", "4096")?;
    config.set("otlp.scheduled_delay_ms", "200")?;
    config.set("metrics.export_interval_ms", "1000")?;
    let guard = tasker_telemetry::init(config)?;

    let names: Vec<String> = (0..20).map(|k| format!("soak_{k}")).collect();
    let mut samples = vec![rss_kib()];
    let callsites_before = dynamic::interned_callsites();
    let started = Instant::now();
    for i in 0..total {
        let fields: Fields = [
            ("i", FieldValue::Int(i as i64)),
            ("order", FieldValue::Str(format!("order-{i}"))),
            ("attempt", FieldValue::Int((i % 3) as i64)),
        ]
        .into_iter()
        .collect();
        let span = DynSpan::start(SpanStart {
            name: &names[i % 20],
            level: Level::INFO,
            target: "rust",
            fields: &fields,
            parent: Parent::Current,
            correlation: None,
        });
        let event_fields: Fields = [("i", FieldValue::Int(i as i64))].into_iter().collect();
        dynamic::event(EventArgs {
            level: Level::INFO,
            target: "rust",
            message: "soak step",
            fields: &event_fields,
            parent: Parent::Span(&span),
            correlation: None,
        });
        span.set("result", &Scalar::Str("ok".into()));
        span.end();
        if i % 1000 == 0 {
            metrics::record(
                InstrumentKind::Counter,
                "tasker_steps_claimed_total",
                1.0,
                &[opentelemetry::KeyValue::new("namespace", "soak")],
            )?;
        }
        if (i + 1) % every == 0 {
            // Sample what is retained, not what waits in the export queue.
            tasker_telemetry::flush(Duration::from_secs(120))?;
            samples.push(rss_kib());
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    tasker_telemetry::flush(Duration::from_secs(120))?;
    let stats = tasker_telemetry::stats::stats();
    println!(
        "FIGURES {}",
        serde_json::json!({
            "sent": total,
            "seconds": (seconds * 10.0).round() / 10.0,
            "rss_kib_samples": samples,
            "interned_callsites_before": callsites_before,
            "interned_callsites_after": dynamic::interned_callsites(),
            "stats": stats
                .pairs()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), serde_json::Value::from(v)))
                .collect::<serde_json::Map<_, _>>(),
        })
    );
    guard.shutdown(Duration::from_secs(30))?;
    Ok(())
}

fn main() -> Result<(), Error> {
    match std::env::args().nth(1).as_deref() {
        Some("soak") => soak(),
        other => Err(format!("unknown scenario {other:?}; expected soak").into()),
    }
}
