//! `OTEL_METRICS_EXPORTER=prometheus`: the scrape endpoint and the health probes over real
//! HTTP, with a bearer token; a port in use fails `init`. Its own process (one `init`).

mod common;
#[path = "common/http.rs"]
mod http;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use tasker_telemetry::health::{self, HealthStatus};
use tasker_telemetry::metrics::{record, InstrumentKind};
use tasker_telemetry::{ConfigError, ConsoleWriter, TelemetryConfig};

#[path = "common/sink.rs"]
mod sink;
use sink::Sink;

const TOKEN: &str = "pr0m-t0ken-s3cret";

fn config(port: u16) -> TelemetryConfig {
    let env: BTreeMap<String, String> = [
        ("OTEL_METRICS_EXPORTER", "prometheus"),
        ("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", &port.to_string()),
        ("TASKER_PROMETHEUS_TOKEN", TOKEN),
        ("OTEL_SERVICE_NAME", "prom-test"),
        ("TASKER_LOG_LEVEL", "debug"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    TelemetryConfig::load_from(None, &env).unwrap()
}

#[test]
fn metrics_and_health_probes_are_served_over_http_behind_the_token() {
    let sink = Sink::default();
    let writer = || -> Option<ConsoleWriter> {
        Some(ConsoleWriter::Custom(Arc::new(Mutex::new(sink.clone()))))
    };

    // A port already in use is a clear error at init, naming the address and the settings.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let err = tasker_telemetry::init_with_writer(config(taken_port), writer()).unwrap_err();
    assert!(matches!(err, ConfigError::Listen { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("127.0.0.1:{taken_port}")),
        "{message}"
    );
    assert!(
        message.contains("OTEL_EXPORTER_PROMETHEUS_PORT"),
        "{message}"
    );
    assert!(message.contains("already in use"), "{message}");
    drop(taken);

    // The token is hidden wherever the configuration is shown.
    let port = common::free_port();
    let config = config(port);
    assert!(!format!("{config:?}").contains(TOKEN));
    let guard =
        tasker_telemetry::init_with_writer(config, writer()).expect("init after the failed one");
    assert!(
        !tasker_telemetry::is_exporting(),
        "Prometheus pulls: nothing is pushed"
    );

    record(
        InstrumentKind::Counter,
        "tasker_steps_claimed_total",
        3.0,
        &[KeyValue::new("namespace", "pay\"ments\nline2\\x")],
    )
    .unwrap();
    record(InstrumentKind::Counter, "jobs_done", 2.0, &[]).unwrap();
    record(
        InstrumentKind::Histogram,
        "tasker_step_execution_duration",
        12.0,
        &[KeyValue::new("namespace", "payments")],
    )
    .unwrap();

    // Without the token, or with a wrong one: 401 on every path.
    for path in [
        "/metrics",
        "/health",
        "/health/ready",
        "/health/detailed",
        "/nope",
    ] {
        let r = http::get(port, path, None);
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        assert_eq!(
            http::get(port, path, Some("pr0m-t0ken-s3creT")).status,
            401,
            "{path}"
        );
        assert_eq!(http::get(port, path, Some("pr0m")).status, 401, "{path}");
    }

    let scraped = http::get(port, "/metrics", Some(TOKEN));
    assert_eq!(scraped.status, 200, "{}", scraped.body);
    assert_eq!(
        scraped.header("connection"),
        Some("close"),
        "one request per connection"
    );
    assert_eq!(
        scraped.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = &scraped.body;
    // Counters: `_total` once, added only when missing; label values escaped by the encoder.
    assert!(
        text.contains("# TYPE tasker_steps_claimed_total counter\n"),
        "{text}"
    );
    assert!(!text.contains("_total_total"), "{text}");
    assert!(
        text.contains(r#"namespace="pay\"ments\nline2\\x""#),
        "quotes, newline and backslash escaped: {text}"
    );
    assert!(text.contains("# TYPE jobs_done_total counter\n"), "{text}");
    assert!(text.contains("jobs_done_total{"), "{text}");
    // Units as suffixes: `ms` is `_milliseconds`.
    assert!(
        text.contains("# TYPE tasker_step_execution_duration_milliseconds histogram\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "tasker_step_execution_duration_milliseconds_bucket{namespace=\"payments\",otel_scope_name=\"tasker-telemetry\",le=\"25\"} 1\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("tasker_step_execution_duration_milliseconds_count{"),
        "{text}"
    );
    // The resource as target_info; the core's own counter.
    assert!(text.contains("# TYPE target_info gauge\n"), "{text}");
    assert!(text.contains("service_name=\"prom-test\""), "{text}");
    assert!(
        text.contains("# TYPE tasker_telemetry_dropped_total counter\n"),
        "{text}"
    );

    // prometheus_text() is what the server serves (but the process.* readings, which move
    // between two reads).
    let steady = |text: &str| -> String {
        text.lines()
            .filter(|l| !l.contains("process_"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        steady(&tasker_telemetry::prometheus_text().unwrap()),
        steady(&scraped.body)
    );

    // A scraper asking for OpenMetrics gets the text format 0.0.4 (content negotiation).
    let om = http::request(
        port,
        "GET",
        "/metrics",
        &[
            ("Authorization", &format!("Bearer {TOKEN}")),
            (
                "Accept",
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
            ),
        ],
    );
    assert_eq!(om.status, 200);
    assert!(om
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));

    // Only GET and HEAD.
    let auth = format!("Bearer {TOKEN}");
    let post = http::request(port, "POST", "/metrics", &[("Authorization", &auth)]);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    // A GET with a body is refused without reading it.
    let with_body = http::request(
        port,
        "GET",
        "/health",
        &[
            ("Authorization", &auth),
            ("Content-Length", "100000000000000"),
        ],
    );
    assert_eq!(with_body.status, 400, "{}", with_body.body);
    let head = http::request(port, "HEAD", "/health", &[("Authorization", &auth)]);
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    assert_eq!(http::get(port, "/nope", Some(TOKEN)).status, 404);

    // Liveness and readiness; readiness flips on a pushed unhealthy component and back.
    assert_eq!(http::get(port, "/health", Some(TOKEN)).status, 200);
    let ready = http::get(port, "/health/ready", Some(TOKEN));
    assert_eq!((ready.status, ready.body.as_str()), (200, "ready\n"));
    health::set(
        "database",
        "unhealthy".parse().unwrap(),
        Some("cannot reach postgres://app:hunter2@db:5432/app"),
    )
    .unwrap();
    health::set("cache", HealthStatus::Degraded, Some("evicting")).unwrap();
    let not_ready = http::get(port, "/health/ready", Some(TOKEN));
    assert_eq!(not_ready.status, 503);
    assert!(
        not_ready.body.contains("component database is unhealthy"),
        "{}",
        not_ready.body
    );
    assert!(!not_ready.body.contains("hunter2"), "{}", not_ready.body);
    let detailed = http::get(port, "/health/detailed", Some(TOKEN));
    assert_eq!(detailed.status, 200);
    assert!(detailed
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let v: serde_json::Value = serde_json::from_str(&detailed.body).unwrap();
    assert_eq!(v["status"], "unhealthy");
    assert_eq!(v["ready"], false);
    assert_eq!(v["components"]["database"]["status"], "unhealthy");
    assert_eq!(v["components"]["cache"]["status"], "degraded");
    assert_eq!(v["components"]["cache"]["reason"], "evicting");
    assert!(v["components"]["database"]["since"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["uptime_seconds"].as_f64().unwrap() >= 0.0);
    for signal in ["traces", "metrics", "logs"] {
        assert!(v["export"][signal]["exported"].is_u64(), "{v}");
        assert!(v["export"][signal]["dropped"].is_u64(), "{v}");
    }
    assert_eq!(v["export"]["traces"]["queued"], 0);
    health::set("database", HealthStatus::Healthy, None).unwrap();
    assert_eq!(http::get(port, "/health/ready", Some(TOKEN)).status, 200);
    let v: serde_json::Value =
        serde_json::from_str(&http::get(port, "/health/detailed", Some(TOKEN)).body).unwrap();
    assert_eq!(
        v["status"], "degraded",
        "a degraded component is reported, still ready"
    );
    assert!(HealthStatus::parse("poorly").is_err());

    // A forked child does not serve (the port is the parent's): it says so once, keeps its own
    // metrics for prometheus_text(), and closing its copy of the socket leaves the parent serving.
    #[cfg(unix)]
    {
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let rebuilt = tasker_telemetry::after_fork_in_child().is_ok();
            let console = String::from_utf8_lossy(&sink.0.lock().unwrap()).into_owned();
            let warned = console
                .matches("does not serve Prometheus metrics or health probes")
                .count()
                == 1
                && console.contains("OTLP push");
            let own_text = tasker_telemetry::prometheus_text().is_ok();
            unsafe { libc::_exit(if rebuilt && warned && own_text { 0 } else { 1 }) }
        }
        let mut status = 0;
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child: {status}"
        );
        assert_eq!(
            http::get(port, "/health", Some(TOKEN)).status,
            200,
            "the parent still serves"
        );
    }

    // Shutdown stops the server and frees the port.
    guard.shutdown(Duration::from_secs(2)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the server still accepts after shutdown"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "the port is free again"
    );
    assert!(tasker_telemetry::prometheus_text().is_err());

    let console = String::from_utf8_lossy(&sink.0.lock().unwrap()).into_owned();
    assert!(!console.contains(TOKEN), "the token is never logged");
}
