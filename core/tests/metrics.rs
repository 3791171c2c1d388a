//! Metric instruments: caching and label cleaning. Its own process: the registry is global and
//! other tests record metrics concurrently.

#[test]
fn metrics_instruments_are_cached_by_name() {
    use tasker_telemetry::metrics;
    let before = metrics::cached_instruments();
    let a = metrics::counter("test_cached_counter_total");
    let b = metrics::counter("test_cached_counter_total");
    a.add(1.0, &[]);
    b.add(1.0, &[]);
    metrics::histogram("test_cached_histogram");
    assert_eq!(metrics::cached_instruments(), before + 2);
    let labels = [
        opentelemetry::KeyValue::new("correlation_id", "x"),
        opentelemetry::KeyValue::new("namespace", "n"),
        opentelemetry::KeyValue::new("db_password", "p"),
    ];
    let cleaned = metrics::clean_labels(&labels);
    assert_eq!(cleaned.len(), 2, "correlation_id is dropped by default");
    assert_eq!(cleaned[1].value.to_string(), "[REDACTED]");
    let plain = [opentelemetry::KeyValue::new("namespace", "n")];
    assert!(matches!(
        metrics::clean_labels(&plain),
        std::borrow::Cow::Borrowed(_)
    ));
}
