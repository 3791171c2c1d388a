//! Readiness fails while the span export queue is fuller than `telemetry.health.max_queue_fill`:
//! a collector that accepts connections but never answers holds one batch in flight while the
//! queue fills up. Its own process (one `init`).

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use tasker_telemetry::health;
use tasker_telemetry::TelemetryConfig;

#[test]
fn readiness_fails_while_the_span_queue_is_too_full() {
    // Accepts connections (the kernel's backlog) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let env: BTreeMap<String, String> = [
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        ),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "10".to_owned()),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "5".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "60000".to_owned()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "20000".to_owned()),
        ("TASKER_SHUTDOWN_TIMEOUT_MS", "100".to_owned()),
        ("TASKER_LOG_LEVEL", "error".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = TelemetryConfig::load_from(None, &env).unwrap();
    assert_eq!(config.health.max_queue_fill, 0.9);
    let _guard = tasker_telemetry::init(config).unwrap();
    assert!(health::readiness().ready);

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        tracing::info_span!("queued_work").in_scope(|| {});
        let r = health::readiness();
        if !r.ready {
            assert_eq!(r.reasons.len(), 1, "{:?}", r.reasons);
            assert!(
                r.reasons[0].contains("the traces export queue holds 10 of 10 spans"),
                "{:?}",
                r.reasons
            );
            assert!(r.reasons[0].contains("telemetry.health.max_queue_fill = 0.9"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the queue never filled: {:?}",
            tasker_telemetry::stats::export_stats().traces
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let books = tasker_telemetry::stats::export_stats().traces;
    assert_eq!(
        books.in_flight, 5,
        "one batch waits for the silent collector"
    );
    let v: serde_json::Value = serde_json::from_str(&health::detailed_json()).unwrap();
    assert_eq!(v["status"], "unhealthy");
    assert_eq!(v["export"]["traces"]["queue_capacity"], 10);
    drop(silent);
}
