//! Memory measurements (not checks): resident memory after many distinct metric names and many
//! distinct span shapes. Run in release, one at a time:
//! `cargo test --release -p tasker-telemetry --features testing --test memory_bounds -- --ignored --nocapture --test-threads 1`

use tasker_telemetry::dynamic::{DynSpan, Parent, SpanStart};
use tasker_telemetry::fields::{FieldValue, Fields};
use tasker_telemetry::metrics::{record, InstrumentKind};
use tasker_telemetry::testing::BenchPipeline;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[test]
#[ignore = "a measurement, not a check"]
fn rss_after_100k_distinct_metric_names() {
    let pipeline = BenchPipeline::json().unwrap();
    let before = rss_mib();
    pipeline.run(|| {
        for i in 0..100_000 {
            let _ = record(
                InstrumentKind::Counter,
                &format!("app_metric_{i}_total"),
                1.0,
                &[],
            );
        }
    });
    eprintln!(
        "metric names: RSS {before:.1} MiB before, {:.1} MiB after 100,000 distinct names ({} cached)",
        rss_mib(),
        tasker_telemetry::metrics::cached_instruments()
    );
}

#[test]
#[ignore = "a measurement, not a check"]
fn rss_after_100k_distinct_span_shapes() {
    let pipeline = BenchPipeline::json().unwrap();
    let before = rss_mib();
    pipeline.run(|| {
        for i in 0..100_000u64 {
            // A dict keyed by ids: every call a new shape of 100 long keys.
            let mut fields = Fields::new();
            for j in 0..100u64 {
                fields.insert(
                    format!("record_{:0>180}_{i}_{j}", 0),
                    FieldValue::Int(j as i64),
                );
            }
            let span = DynSpan::start(SpanStart {
                name: "by_id",
                level: tracing::Level::INFO,
                target: "bench",
                fields: &fields,
                parent: Parent::Root,
                correlation: None,
            });
            span.end();
        }
    });
    eprintln!(
        "span shapes: RSS {before:.1} MiB before, {:.1} MiB after 100,000 distinct shapes ({} interned)",
        rss_mib(),
        tasker_telemetry::dynamic::interned_callsites()
    );
}
