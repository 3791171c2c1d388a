//! `telemetry.otlp.file`: spans appended as OTLP-JSON lines, read back by the viewer (own
//! process: `init` is global).

use std::io::BufReader;
use std::time::Duration;

use tasker_telemetry::view::{read_spans, render, RenderOptions};
use tasker_telemetry::{stats, Correlation, TelemetryConfig};

#[test]
fn spans_are_appended_as_otlp_json_and_the_viewer_draws_them() {
    // `init` is once per process, so the failing case runs first, in the same test.
    let mut bad = TelemetryConfig::default();
    bad.set("otlp.file", "/nonexistent-dir/traces.jsonl")
        .expect("any path is accepted");
    let err = tasker_telemetry::init(bad)
        .expect_err("cannot open")
        .to_string();
    assert!(
        err.contains("telemetry.otlp.file") && err.contains("/nonexistent-dir/traces.jsonl"),
        "{err}"
    );

    let dir = std::env::temp_dir().join(format!("tasker-file-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("traces.jsonl");
    std::fs::write(&path, "").expect("empty file");
    let mut config = TelemetryConfig::default();
    config
        .set("otlp.file", path.to_str().expect("utf-8 path"))
        .expect("otlp.file");
    config
        .set("service_name", "file-test")
        .expect("service_name");
    assert!(config.exports());
    let guard = tasker_telemetry::init(config).expect("init");

    let correlation = Correlation::new();
    let id = correlation.correlation_id.to_string();
    let scope = correlation.enter();
    {
        let task = tracing::info_span!("task", password = "hunter2");
        let _t = task.enter();
        for step in ["validate", "charge"] {
            let s = tracing::info_span!("step", step_name = step);
            let _e = s.enter();
            if step == "charge" {
                tracing::error!(otel.status_code = "error", "declined");
            }
        }
    }
    drop(scope);
    let before = stats::stats();
    guard.shutdown(Duration::from_secs(5)).expect("shutdown");

    let file = std::fs::File::open(&path).expect("file written");
    let spans = read_spans(BufReader::new(file)).expect("OTLP-JSON lines");
    assert_eq!(
        spans.len() as u64,
        before.spans_ended,
        "every ended span is in the file"
    );
    assert_eq!(spans.len(), 3);
    let task = spans.iter().find(|s| s.name == "task").expect("task span");
    assert!(task.parent_id.is_empty());
    assert_eq!(task.service, "file-test");
    assert_eq!(
        task.attributes.get("password").map(String::as_str),
        Some("[REDACTED]")
    );
    for s in spans.iter().filter(|s| s.name == "step") {
        assert_eq!(s.trace_id, task.trace_id);
        assert_eq!(s.parent_id, task.span_id);
        assert_eq!(s.attributes.get("correlation_id"), Some(&id));
        assert!(s.end_ns >= s.start_ns && s.start_ns >= task.start_ns);
    }

    let text = render(&spans, &RenderOptions::default());
    assert!(
        text.starts_with(&format!(
            "trace {}\ncorrelation_id {id}\n3 spans",
            task.trace_id
        )),
        "{text}"
    );
    let lines: Vec<&str> = text.lines().filter(|l| l.contains('[')).collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].ends_with("task [file-test]"), "{text}");
    assert!(
        lines[1].contains("├─ step [file-test]") && lines[2].contains("└─ step [file-test]"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
