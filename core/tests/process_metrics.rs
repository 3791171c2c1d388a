//! The process metrics (`process.*`, OpenTelemetry semantic-convention names) and the
//! slow-operation counter reach a real collector with the other metrics. Its own process:
//! `init` is global.

mod common;

use std::time::Duration;

use tasker_telemetry::TelemetryConfig;

#[test]
fn process_metrics_and_slow_operations_reach_the_collector() {
    let collector = common::Collector::start();
    let mut config = TelemetryConfig {
        service_name: Some("process-metrics-test".into()),
        ..TelemetryConfig::default()
    };
    config.otlp.endpoint = Some(collector.http_endpoint());
    config.metrics.export_interval = Duration::from_millis(200);
    config.logging.level = "error".into();
    config.slow_operations.threshold_ms = 5;
    let guard = tasker_telemetry::init(config).unwrap();

    tracing::info_span!("slow_import").in_scope(|| std::thread::sleep(Duration::from_millis(20)));
    tasker_telemetry::flush(Duration::from_secs(10)).unwrap();

    let names = [
        "process.memory.usage",
        "process.memory.virtual",
        "process.cpu.time",
        "process.open_file_descriptor.count",
        "process.thread.count",
        "tasker_slow_operations_total",
    ];
    let received = collector.wait_for(Duration::from_secs(20), |r| {
        names.iter().all(|n| r.metric(n).is_some())
    });
    guard.shutdown(Duration::from_secs(10)).unwrap();

    let value = |name: &str| -> f64 {
        let m = received.metric(name).unwrap();
        assert_eq!(m.service, "process-metrics-test");
        m.values[0].parse().unwrap()
    };
    assert!(value("process.memory.usage") > 1_000_000.0);
    assert!(value("process.memory.virtual") >= value("process.memory.usage"));
    assert!(value("process.thread.count") >= 2.0);
    assert!(value("process.open_file_descriptor.count") >= 3.0);
    assert_eq!(received.metric("process.cpu.time").unwrap().values.len(), 2); // user, system
    assert_eq!(value("tasker_slow_operations_total"), 1.0);
    let output = collector.output();
    assert!(output.contains("cpu.mode"), "{output}");
    assert!(output.contains("slow_import"), "{output}");
}
