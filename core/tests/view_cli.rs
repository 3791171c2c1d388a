//! The `tasker-telemetry view` command on files: the trace list, its filters, span details,
//! and the metrics table (issue 14, item 6).

use std::path::PathBuf;
use std::process::Command;

#[allow(clippy::too_many_arguments)]
fn span(
    trace: &str,
    id: &str,
    parent: &str,
    name: &str,
    service: &str,
    start_ms: u64,
    end_ms: u64,
    error: bool,
) -> String {
    let status = if error {
        r#","status":{"code":2,"message":"card declined"}"#
    } else {
        ""
    };
    format!(
        concat!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"{service}"}}}}]}},"#,
            r#""scopeSpans":[{{"spans":[{{"traceId":"{trace}","spanId":"{id}","parentSpanId":"{parent}","name":"{name}","#,
            r#""startTimeUnixNano":"{start}","endTimeUnixNano":"{end}"{status},"#,
            r#""attributes":[{{"key":"order_id","value":{{"intValue":"42"}}}}],"#,
            r#""events":[{{"name":"step.completed","attributes":[{{"key":"attempt","value":{{"intValue":"1"}}}}]}}]}}]}}]}}]}}"#
        ),
        service = service,
        trace = trace,
        id = id,
        parent = parent,
        name = name,
        start = start_ms * 1_000_000,
        end = end_ms * 1_000_000,
        status = status,
    )
}

const T1: &str = "0af7651916cd43dd8448eb211c80319c";
const T2: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn file() -> PathBuf {
    let lines = [
        span(T1, "b7ad6b7169203331", "", "order_fulfillment", "orchestrator", 0, 120, false),
        span(T1, "00f067aa0ba902b7", "b7ad6b7169203331", "charge_payment", "python-worker", 10, 100, true),
        span(T2, "53995c3f42cd8ad8", "", "nightly_report", "ruby-worker", 1000, 1005, false),
        concat!(
            r#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"orchestrator"}}]},"#,
            r#""scopeMetrics":[{"metrics":[{"name":"tasker_steps_claimed_total","unit":"1","sum":{"isMonotonic":true,"#,
            r#""dataPoints":[{"asInt":"3","attributes":[{"key":"namespace","value":{"stringValue":"payments"}}]}]}},"#,
            r#"{"name":"tasker_step_execution_duration","unit":"ms","histogram":{"dataPoints":[{"count":"2","sum":25.5,"attributes":[]}]}}]}]}]}"#
        )
        .to_owned(),
    ];
    let dir = std::env::temp_dir().join(format!("tasker-view-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn view(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tasker-telemetry"))
        .arg("view")
        .args(["--color", "never"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn lists_filters_details_and_metrics() {
    let path = file();
    let path = path.to_str().unwrap();

    let listing = view(&["--list", path]);
    let rows: Vec<&str> = listing
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(rows.len(), 2, "{listing}");
    assert!(
        rows[0].starts_with(T1) && rows[0].contains("order_fulfillment"),
        "{listing}"
    );
    assert!(
        rows[0].contains("orchestrator, python-worker") && rows[0].contains("120.00ms"),
        "{listing}"
    );
    let cols: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!(
        &cols[1..4],
        ["2", "120.00ms", "1"],
        "spans, duration, errors: {listing}"
    );
    assert!(
        rows[1].starts_with(T2) && rows[1].contains("nightly_report"),
        "{listing}"
    );

    let only = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["--list"];
        all.extend_from_slice(args);
        all.push(path);
        view(&all)
            .lines()
            .skip(1)
            .take_while(|l| !l.is_empty())
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect()
    };
    assert_eq!(only(&["--service", "ruby-worker"]), [T2]);
    assert_eq!(only(&["--name", "charge"]), [T1]);
    assert_eq!(only(&["--errors"]), [T1]);
    assert_eq!(only(&["--min-duration", "50"]), [T1]);
    assert!(only(&["--min-duration", "5000"]).is_empty(), "no traces");

    let waterfall = view(&["--trace", T1, "--details", path]);
    assert!(waterfall.contains("order_id = 42"), "{waterfall}");
    assert!(
        waterfall.contains("• step.completed attempt=1"),
        "{waterfall}"
    );
    assert!(!waterfall.contains("nightly_report"), "{waterfall}");
    assert!(
        waterfall.contains("tasker_steps_claimed_total"),
        "metrics follow the traces: {waterfall}"
    );

    let metrics = view(&["--metrics", path]);
    let claimed = metrics
        .lines()
        .find(|l| l.contains("tasker_steps_claimed_total"))
        .unwrap();
    assert!(
        claimed.contains("counter")
            && claimed.contains("namespace=payments")
            && claimed.trim_end().ends_with('3'),
        "{metrics}"
    );
    let hist = metrics
        .lines()
        .find(|l| l.contains("tasker_step_execution_duration"))
        .unwrap();
    assert!(
        hist.contains("histogram") && hist.contains("count=2 sum=25.5"),
        "{metrics}"
    );
    assert!(!metrics.contains("order_fulfillment"), "{metrics}");
}

#[test]
fn a_bad_min_duration_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_tasker-telemetry"))
        .args(["view", "--min-duration", "soon", "x.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--min-duration \"soon\""));
}
