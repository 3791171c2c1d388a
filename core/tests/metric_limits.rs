//! The metric bounds: distinct instruments (`telemetry.metrics.max_instruments`) and label sets
//! per instrument (the SDK's cardinality limit), both counted as dropped. Its own process: the
//! registry and the limits are global.

use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use tasker_telemetry::metrics::{self, record, InstrumentKind, CARDINALITY_LIMIT};
use tasker_telemetry::stats::export_stats;
use tasker_telemetry::TelemetryConfig;

#[test]
fn instruments_past_the_limit_and_label_sets_past_the_cardinality_limit_are_counted() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let mut config = TelemetryConfig::default();
    config.metrics.max_instruments = 3;
    tasker_telemetry::testing::install_meter(&config, &provider);

    // Three names fit; the fourth and later are refused, counted once per call.
    for name in ["m_one_total", "m_two_total", "m_three_total"] {
        record(InstrumentKind::Counter, name, 1.0, &[]).unwrap();
    }
    for i in 0..10 {
        record(InstrumentKind::Counter, &format!("m_extra_{i}"), 1.0, &[]).unwrap();
    }
    record(InstrumentKind::Histogram, "m_extra_histogram", 1.0, &[]).unwrap();
    record(InstrumentKind::Counter, "m_one_total", 1.0, &[]).unwrap(); // a known name still works
    assert_eq!(metrics::cached_instruments(), 3);
    let books = export_stats().metrics;
    assert_eq!(books.dropped_instrument_limit, 11);
    assert_eq!(tasker_telemetry::stats::stats().metrics_dropped, 11);

    // Label sets: the first CARDINALITY_LIMIT get their own series, the rest overflow.
    for i in 0..CARDINALITY_LIMIT + 5 {
        let labels = [KeyValue::new("user", i as i64)];
        record(InstrumentKind::Counter, "m_two_total", 1.0, &labels).unwrap();
    }
    // A label set already seen is not an overflow.
    record(
        InstrumentKind::Counter,
        "m_two_total",
        1.0,
        &[KeyValue::new("user", 7i64)],
    )
    .unwrap();
    assert_eq!(export_stats().metrics.dropped_cardinality_limit, 5);

    // The SDK agrees: one overflow series holding the five measurements.
    provider.force_flush().unwrap();
    let exported = exporter.get_finished_metrics().unwrap();
    let metric = exported
        .iter()
        .flat_map(|rm| rm.scope_metrics())
        .flat_map(|sm| sm.metrics())
        .find(|m| m.name() == "m_two_total")
        .expect("m_two_total exported");
    let AggregatedMetrics::F64(MetricData::Sum(sum)) = metric.data() else {
        panic!("a sum")
    };
    let overflow: Vec<_> = sum
        .data_points()
        .filter(|p| {
            p.attributes()
                .any(|kv| kv.key.as_str() == "otel.metric.overflow")
        })
        .collect();
    assert_eq!(overflow.len(), 1);
    assert_eq!(overflow[0].value(), 5.0);
    let _ = provider.shutdown();
}
