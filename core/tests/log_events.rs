//! `telemetry.spans.log_events = false`: log lines are printed but not copied onto spans, except
//! errors (issue 15). Its own process: the setting is process-wide.

use tasker_telemetry::testing;
use tasker_telemetry::TelemetryConfig;

#[test]
fn log_lines_stay_off_spans_but_errors_are_copied() {
    let mut config = TelemetryConfig::default();
    config.spans.log_events = false;
    testing::install_limits(&config);
    let cap = testing::capture(&config);
    cap.run(|| {
        let span = tracing::info_span!("work");
        span.in_scope(|| {
            tracing::info!("a line");
            tracing::error!("boom");
        });
    });
    let span = cap.span("work").expect("the span");
    let names: Vec<String> = span.events.iter().map(|e| e.name.to_string()).collect();
    assert!(!names.iter().any(|n| n == "a line"), "{names:?}");
    assert!(names.iter().any(|n| n == "boom"), "{names:?}");
    let lines = cap.lines().join("\n");
    assert!(
        lines.contains("a line") && lines.contains("boom"),
        "{lines}"
    );

    // Back on: the log line is copied again.
    let mut on = config.clone();
    on.spans.log_events = true;
    testing::install_limits(&on);
    cap.run(|| tracing::info_span!("work2").in_scope(|| tracing::info!("another line")));
    let names: Vec<String> = cap
        .span("work2")
        .expect("the span")
        .events
        .iter()
        .map(|e| e.name.to_string())
        .collect();
    assert_eq!(names, ["another line"]);
}
