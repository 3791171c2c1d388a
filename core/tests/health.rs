//! Readiness follows the export: a collector that stays down past
//! `telemetry.health.export_failure_grace_ms` makes `/health/ready` fail, and a collector
//! coming up makes it pass again. Its own process (one `init`).

mod common;
#[path = "common/http.rs"]
mod http;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tasker_telemetry::health;
use tasker_telemetry::TelemetryConfig;

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tracing::info_span!("health_probe_work").in_scope(|| {});
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn readiness_fails_while_the_collector_stays_down_past_the_grace_and_recovers() {
    let (otlp_port, probe_port) = (common::free_port(), common::free_port());
    let env: BTreeMap<String, String> = [
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{otlp_port}"),
        ),
        ("OTEL_METRICS_EXPORTER", "otlp,prometheus".to_owned()),
        ("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1".to_owned()),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", probe_port.to_string()),
        ("OTEL_BSP_SCHEDULE_DELAY", "50".to_owned()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000".to_owned()),
        ("TASKER_LOG_LEVEL", "error".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut config = TelemetryConfig::load_from(None, &env).unwrap();
    config.set("health.export_failure_grace_ms", "300").unwrap();
    let _guard = tasker_telemetry::init(config).unwrap();
    assert!(tasker_telemetry::is_exporting());

    // Nothing listens on the OTLP port: the first failures are within the grace, then readiness
    // fails with the reason.
    wait_until("a failed export", Duration::from_secs(10), || {
        tasker_telemetry::stats::export_stats()
            .traces
            .failing_since_ms
            .is_some()
    });
    let failing_since = tasker_telemetry::stats::export_stats()
        .traces
        .failing_since_ms
        .unwrap();
    wait_until("readiness to fail", Duration::from_secs(10), || {
        !health::readiness().ready
    });
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        now_ms - failing_since > 300,
        "not before the grace has passed"
    );
    let r = http::get(probe_port, "/health/ready", None);
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.body.contains("traces export has failed for"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("telemetry.health.export_failure_grace_ms = 300"),
        "{}",
        r.body
    );
    assert_eq!(
        http::get(probe_port, "/health", None).status,
        200,
        "still alive"
    );
    let v: serde_json::Value =
        serde_json::from_str(&http::get(probe_port, "/health/detailed", None).body).unwrap();
    assert_eq!(v["status"], "unhealthy");
    let traces = &v["export"]["traces"];
    assert!(traces["failing_since"].is_string(), "{v}");
    assert!(traces["last_success"].is_null(), "{v}");
    assert!(traces["last_error"]["time"].is_string(), "{v}");
    assert!(
        !traces["last_error"]["message"].as_str().unwrap().is_empty(),
        "{v}"
    );
    assert!(traces["failed_exports"].as_u64().unwrap() >= 1, "{v}");
    assert!(traces["dropped"].as_u64().unwrap() >= 1, "{v}");

    // The collector comes up on that port: the next export succeeds and readiness is back.
    let collector = common::Collector::start_on(common::free_port(), otlp_port);
    wait_until("readiness to recover", Duration::from_secs(30), || {
        health::readiness().ready
    });
    let r = http::get(probe_port, "/health/ready", None);
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value =
        serde_json::from_str(&http::get(probe_port, "/health/detailed", None).body).unwrap();
    assert!(v["export"]["traces"]["last_success"].is_string(), "{v}");
    assert!(v["export"]["traces"]["failing_since"].is_null(), "{v}");

    // Down again, then nothing more to export: the failure goes stale after the grace (batch
    // processors never send an empty batch, so no success could ever clear it).
    drop(collector);
    wait_until("readiness to fail again", Duration::from_secs(20), || {
        !health::readiness().ready
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !health::readiness().ready {
        assert!(
            Instant::now() < deadline,
            "a failure with no attempt since stays: {:?}",
            health::readiness().reasons
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        tasker_telemetry::stats::export_stats()
            .traces
            .failing_since_ms
            .is_some(),
        "no success cleared it: it went stale"
    );
}
