//! Faults, with figures: a collector that is down and comes back, a collector that accepts
//! connections and never answers, the bound on process exit, OTLP header values never printed,
//! and no span lost when a binary drops its guard. Over gRPC and HTTP/protobuf.
//!
//! Telemetry is initialised once per process, so every scenario runs in a child process: each
//! test re-runs this test binary with `TASKER_FAULT_SCENARIO=<name>`; the child runs the
//! scenario in `scenario` (its assertions fail the child) and prints a `FIGURES {json}` line,
//! which the parent echoes (`cargo test --test faults -- --nocapture` shows them).

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tasker_telemetry::config::{LogFormat, Protocol};
use tasker_telemetry::stats::export_stats as stats;
use tasker_telemetry::{ConsoleWriter, TelemetryConfig, TelemetryGuard};

const SCENARIO: &str = "TASKER_FAULT_SCENARIO";

/// Runs scenario `name` in a child process with `env`; returns its output and wall time.
fn run(name: &str, env: &[(&str, &str)]) -> (String, Duration) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["scenario", "--exact", "--nocapture", "--test-threads=1"]);
    for (k, _) in std::env::vars() {
        if k.starts_with("OTEL_") || k.starts_with("TASKER_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env(SCENARIO, name).envs(env.iter().copied());
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let elapsed = started.elapsed();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "scenario {name} failed:\n{}",
        tail(&text)
    );
    for line in text.lines() {
        if let Some(at) = line.find("FIGURES ") {
            println!("{}", &line[at..]);
        }
    }
    (text, elapsed)
}

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(20_000);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    &text[start..]
}

#[test]
fn scenario() {
    let Ok(name) = std::env::var(SCENARIO) else {
        return;
    };
    let protocol = if name.ends_with("_grpc") {
        Protocol::Grpc
    } else {
        Protocol::HttpProtobuf
    };
    match name.trim_end_matches("_grpc").trim_end_matches("_http") {
        "down_then_up" => down_then_up(protocol),
        "hung" => hung(protocol),
        "exit_bounded" => exit_bounded(protocol),
        "guard_drop_delivers" => guard_drop_delivers(protocol),
        "secrets" => secrets(protocol),
        other => panic!("unknown scenario {other}"),
    }
}

#[test]
fn collector_down_costs_the_caller_nothing_drops_are_counted_and_export_resumes_over_http() {
    run("down_then_up_http", &[]);
}

#[test]
fn collector_down_costs_the_caller_nothing_drops_are_counted_and_export_resumes_over_grpc() {
    run("down_then_up_grpc", &[]);
}

#[test]
fn hung_collector_flush_and_shutdown_return_in_time_and_say_what_was_not_delivered_http() {
    run("hung_http", &[]);
}

#[test]
fn hung_collector_flush_and_shutdown_return_in_time_and_say_what_was_not_delivered_grpc() {
    run("hung_grpc", &[]);
}

#[test]
fn process_exit_is_never_held_longer_than_the_shutdown_timeout() {
    for protocol in ["http", "grpc"] {
        let (text, _) = run(&format!("exit_bounded_{protocol}"), &[]);
        let exited = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let started: u128 = text
            .lines()
            .find_map(|l| l.split_once("EXIT_STARTED_AT_MS ").map(|(_, t)| t))
            .expect("the child printed when it started to exit")
            .trim()
            .parse()
            .unwrap();
        let exit_ms = exited - started;
        println!(
            "FIGURES {}",
            serde_json::json!({
                "test": format!("exit_bounded_{protocol}"),
                "lang": build(),
                "load": "10 spans in a hanging export",
                "faults": "collector hung at exit; export timeout 60 s, shutdown timeout 1 s",
                "bad_inputs": "-",
                "lost": "10 (named on stderr)",
                "exit_ms": exit_ms,
            })
        );
        assert!(
            exit_ms < 1000 + 2000,
            "{protocol}: exit took {exit_ms} ms with a 1000 ms shutdown timeout"
        );
        assert!(
            text.contains("did not finish within 1s"),
            "the guard says what was not delivered:\n{}",
            tail(&text)
        );
        assert!(
            text.contains("10 spans not delivered yet"),
            "{}",
            tail(&text)
        );
    }
}

#[test]
fn a_binary_that_drops_its_guard_delivers_every_span() {
    run("guard_drop_delivers_http", &[]);
    run("guard_drop_delivers_grpc", &[]);
}

#[test]
fn otlp_header_values_never_reach_the_console_even_at_trace_level() {
    for protocol in ["http", "grpc"] {
        let (text, _) = run(
            &format!("secrets_{protocol}"),
            &[
                (
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "authorization=Bearer%20SECRET-TOKEN-123,x-api-key=SECRET-KEY-456",
                ),
                ("TASKER_LOG_LEVEL", "trace,opentelemetry=trace"),
                ("TASKER_LOG_FORMAT", "json"),
            ],
        );
        assert!(
            text.lines().count() > 50,
            "{protocol}: trace level printed the exporters' own lines"
        );
        assert!(
            !text.contains("SECRET-"),
            "{protocol}: a header value was printed:\n{}",
            text.lines()
                .filter(|l| l.contains("SECRET-"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

// --- helpers of the scenarios (run in the child) ------------------------------------------

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink {
    fn writer(&self) -> ConsoleWriter {
        ConsoleWriter::Custom(Arc::new(Mutex::new(self.clone())))
    }
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}; stats: {:?}",
            stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

/// Records `n` spans named `name`, each with an event; returns nanoseconds per span.
fn record(name: &'static str, n: usize) -> f64 {
    let started = Instant::now();
    for i in 0..n {
        let span = match name {
            "warmup" => tracing::info_span!("warmup", i),
            "down" => tracing::info_span!("down", i),
            "up" => tracing::info_span!("up", i),
            _ => tracing::info_span!("span", i),
        };
        let _entered = span.enter();
        tracing::info!(i, "work");
        if i % 100 == 0 {
            tasker_telemetry::metrics::record(
                tasker_telemetry::metrics::InstrumentKind::Counter,
                "tasker_steps_claimed_total",
                1.0,
                &[],
            )
            .unwrap();
        }
    }
    started.elapsed().as_nanos() as f64 / n as f64
}

fn endpoint(protocol: Protocol, grpc_port: u16, http_port: u16) -> String {
    match protocol {
        Protocol::Grpc => format!("http://127.0.0.1:{grpc_port}"),
        Protocol::HttpProtobuf | Protocol::HttpJson => format!("http://127.0.0.1:{http_port}"),
    }
}

fn base_config(name: &str, protocol: Protocol, endpoint: String) -> TelemetryConfig {
    let mut config = TelemetryConfig {
        service_name: Some(name.to_owned()),
        ..TelemetryConfig::default()
    };
    config.otlp.endpoint = Some(endpoint);
    config.otlp.protocol = protocol;
    config.logging.format = LogFormat::Json;
    config.logging.level = "warn".into();
    config
}

/// The language column of the figures: debug builds' nanoseconds are not the product's.
fn build() -> &'static str {
    if cfg!(debug_assertions) {
        "rust (debug build)"
    } else {
        "rust"
    }
}

fn label(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Grpc => "grpc",
        Protocol::HttpProtobuf | Protocol::HttpJson => "http",
    }
}

/// A server that accepts connections and never reads or answers.
fn hung_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

// --- the scenarios -------------------------------------------------------------------------

fn down_then_up(protocol: Protocol) {
    const QUEUE: usize = 1000;
    const WARMUP: usize = 1000;
    const DOWN: usize = 100_000;
    const UP_CHUNKS: usize = 5;
    const UP_CHUNK: usize = 800;
    let (grpc_port, http_port) = (common::free_port(), common::free_port());
    let endpoint = endpoint(protocol, grpc_port, http_port);
    let mut config = base_config("faults-down-then-up", protocol, endpoint.clone());
    config.otlp.max_queue_size = QUEUE;
    config.otlp.batch_size = 200;
    config.otlp.scheduled_delay = Duration::from_millis(50);
    config.otlp.timeout = Duration::from_millis(1000);
    config.otlp.drop_warning_interval = Duration::from_millis(500);
    config.metrics.export_interval = Duration::from_millis(200);
    config.logging.export_logs = true;
    let sink = Sink::default();
    let guard = tasker_telemetry::init_with_writer(config, Some(sink.writer())).unwrap();
    let phase_started = Instant::now();

    // Nothing listens: recording goes on at full speed, the queue stays bounded, drops counted.
    record("warmup", WARMUP);
    let rss_before = rss_kib();
    let down_ns = record("down", DOWN);
    let rss_after = rss_kib();
    let waited = wait_until(
        "failed span and metric exports",
        Duration::from_secs(30),
        || {
            let s = stats();
            s.traces.failed_exports > 0 && s.metrics.failed_exports > 0
        },
    );
    let down = stats();
    assert!(
        down.traces.queued <= QUEUE as u64,
        "queue bounded: {down:?}"
    );
    assert!(down.traces.dropped_queue_full > 0, "{down:?}");
    assert!(down.traces.dropped_export_failed > 0, "{down:?}");
    assert!(down.logs.dropped() > 0, "log records dropped too: {down:?}");
    assert!(
        rss_after.saturating_sub(rss_before) < 32 * 1024,
        "memory stays bounded: {rss_before} KiB -> {rss_after} KiB"
    );
    let down_secs = phase_started.elapsed().as_secs_f64();

    // The collector comes back on the same port: export resumes without a restart.
    let collector = common::Collector::start_on(grpc_port, http_port);
    let resumed = wait_until("export to resume", Duration::from_secs(30), || {
        tasker_telemetry::flush(Duration::from_secs(5)).is_ok()
    });
    let mut up_ns = 0.0;
    for _ in 0..UP_CHUNKS {
        up_ns += record("up", UP_CHUNK) / UP_CHUNKS as f64;
        tasker_telemetry::flush(Duration::from_secs(10)).unwrap();
    }
    let shutdown_result = guard.shutdown(Duration::from_secs(10));
    assert!(shutdown_result.is_ok(), "{shutdown_result:?}");

    // Every span is either at the collector or counted as dropped; none of the last ones lost.
    let end = stats();
    let sent = (WARMUP + DOWN + UP_CHUNKS * UP_CHUNK) as u64;
    let expected = sent - end.traces.dropped();
    let received = collector.wait_for(Duration::from_secs(60), |r| {
        r.spans.len() as u64 >= expected
    });
    let up_received = received.spans.iter().filter(|s| s.name == "up").count();
    assert_eq!(
        up_received,
        UP_CHUNKS * UP_CHUNK,
        "every span after the return arrived"
    );
    assert_eq!(
        received.spans.len() as u64,
        expected,
        "received + dropped == sent, exactly ({end:?})"
    );
    assert_eq!(end.traces.pending(), 0);
    assert!(
        received.metric("tasker_telemetry_dropped_total").is_some(),
        "the self-metric reached the collector"
    );

    // One warning per interval at most, none from the SDK itself.
    let lines = sink.lines();
    let warnings = lines
        .iter()
        .filter(|l| l.contains("telemetry dropped since the last report"))
        .count();
    let allowed = 2 + (down_secs / 0.5).ceil() as usize;
    assert!(
        (1..=allowed).contains(&warnings),
        "{warnings} drop warnings in {down_secs:.1}s (at most {allowed}):\n{}",
        lines.join("\n")
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("\"target\":\"opentelemetry")),
        "SDK diagnostics stay off the console:\n{}",
        lines.join("\n")
    );
    assert!(
        down_ns < 4.0 * up_ns + 5_000.0,
        "recording while the collector is down ({down_ns:.0} ns/span) costs about what it costs while it is up ({up_ns:.0} ns/span)"
    );
    println!(
        "FIGURES {}",
        serde_json::json!({
            "test": format!("collector_down_then_up_{}", label(protocol)),
            "lang": build(),
            "load": format!("{WARMUP} + {DOWN} spans with events while down, {} after; queue {QUEUE}", UP_CHUNKS * UP_CHUNK),
            "faults": "collector down, then started on the same port",
            "bad_inputs": "-",
            "lost": format!("{} spans dropped and counted (received + dropped == sent); 0 of the {} sent after the return", end.traces.dropped(), UP_CHUNKS * UP_CHUNK),
            "sent_spans": sent,
            "received_spans": received.spans.len(),
            "dropped_spans": end.traces.dropped(),
            "dropped_queue_full": end.traces.dropped_queue_full,
            "dropped_export_failed": end.traces.dropped_export_failed,
            "dropped_log_records": end.logs.dropped(),
            "failed_metric_exports": end.metrics.failed_exports,
            "ns_per_span_down": down_ns.round(),
            "ns_per_span_up": up_ns.round(),
            "rss_kib_before": rss_before,
            "rss_kib_after_100k_down": rss_after,
            "first_failure_after_ms": waited.as_millis(),
            "resumed_after_ms": resumed.as_millis(),
            "warnings": warnings,
            "queue": QUEUE,
        })
    );
}

fn hung(protocol: Protocol) {
    let port = hung_server();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut config = base_config("faults-hung", protocol, endpoint.clone());
    config.otlp.timeout = Duration::from_millis(500);
    config.otlp.scheduled_delay = Duration::from_secs(3600);
    config.metrics.enabled = false;
    let guard = tasker_telemetry::init_with_writer(config, Some(Sink::default().writer())).unwrap();
    let spans = |n: usize| {
        for i in 0..n {
            let _s = tracing::info_span!("hung", i).entered();
        }
    };

    // A flush shorter than the export timeout returns on time and names what is pending.
    spans(10);
    let started = Instant::now();
    let err = tasker_telemetry::flush(Duration::from_millis(200))
        .unwrap_err()
        .to_string();
    let short_flush = started.elapsed();
    assert!(short_flush < Duration::from_secs(1), "{short_flush:?}");
    assert!(err.contains("did not finish within 200ms"), "{err}");
    assert!(err.contains(&endpoint), "{err}");
    assert!(err.contains("10 spans not delivered yet"), "{err}");

    // The export request gives up after telemetry.otlp.timeout_ms; the spans are counted.
    let gave_up = wait_until("the export to time out", Duration::from_secs(10), || {
        stats().traces.dropped_export_failed == 10
    }) + short_flush;
    assert!(gave_up < Duration::from_secs(3), "{gave_up:?}");

    // A flush longer than the export timeout reports the failed request.
    spans(10);
    let started = Instant::now();
    let err = tasker_telemetry::flush(Duration::from_secs(5))
        .unwrap_err()
        .to_string();
    let long_flush = started.elapsed();
    assert!(long_flush < Duration::from_secs(3), "{long_flush:?}");
    assert!(
        err.contains("10 spans lost in failed export requests"),
        "{err}"
    );

    // Shutdown is bounded too, and says what it leaves behind.
    spans(10);
    let started = Instant::now();
    let err = guard
        .shutdown(Duration::from_millis(300))
        .unwrap_err()
        .to_string();
    let shutdown = started.elapsed();
    assert!(shutdown < Duration::from_secs(1), "{shutdown:?}");
    // The processor's own 300 ms and ours race; over gRPC stopping the core's runtime fails
    // the request at once. Whichever wins, the message names the 10 spans.
    assert!(
        err.contains("10 spans not delivered yet")
            || err.contains("10 spans lost in failed export requests"),
        "{err}"
    );
    let end = stats();
    assert_eq!(end.traces.dropped(), 30, "{end:?}");
    assert_eq!(end.traces.exported, 0, "{end:?}");
    println!(
        "FIGURES {}",
        serde_json::json!({
            "test": format!("collector_hung_{}", label(protocol)),
            "lang": build(),
            "load": "3 x 10 spans",
            "faults": "collector accepts and never answers; export timeout 500 ms",
            "bad_inputs": "-",
            "lost": "30 (all; each flush/shutdown names them)",
            "sent_spans": 30,
            "received_spans": 0,
            "dropped_spans": end.traces.dropped(),
            "export_timeout_ms": 500,
            "flush_200ms_returned_after_ms": short_flush.as_millis(),
            "export_gave_up_after_ms": gave_up.as_millis(),
            "flush_5s_returned_after_ms": long_flush.as_millis(),
            "shutdown_300ms_returned_after_ms": shutdown.as_millis(),
            "flush_error": err,
        })
    );
}

fn exit_bounded(protocol: Protocol) {
    let port = hung_server();
    let mut config = base_config("faults-exit", protocol, format!("http://127.0.0.1:{port}"));
    config.otlp.timeout = Duration::from_secs(60);
    config.otlp.shutdown_timeout = Duration::from_millis(1000);
    let guard: TelemetryGuard = tasker_telemetry::init(config).unwrap();
    for i in 0..10 {
        let _s = tracing::info_span!("exit", i).entered();
    }
    // Let the batch processor start its (hanging) export, as a busy service would have.
    tasker_telemetry::flush(Duration::from_millis(100)).unwrap_err();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    println!("EXIT_STARTED_AT_MS {now}");
    drop(guard);
}

fn guard_drop_delivers(protocol: Protocol) {
    const SPANS: usize = 2000;
    let collector = common::Collector::start();
    let endpoint = endpoint(protocol, collector.grpc_port, collector.http_port);
    let mut config = base_config("faults-guard-drop", protocol, endpoint);
    // One batch, sent by the timer (5 s) or a flush: nothing leaves before the guard drops.
    config.otlp.max_queue_size = SPANS * 2;
    config.otlp.batch_size = SPANS * 2;
    let guard = tasker_telemetry::init(config).unwrap();
    for i in 0..SPANS {
        let _s = tracing::info_span!("before_exit", i).entered();
        tracing::info!(i, "work");
    }
    assert_eq!(
        stats().traces.exported,
        0,
        "nothing delivered before the guard drops"
    );
    drop(guard);
    let received = collector.wait_for(Duration::from_secs(30), |r| r.spans.len() >= SPANS);
    assert_eq!(received.spans.len(), SPANS);
    println!(
        "FIGURES {}",
        serde_json::json!({
            "test": format!("rust_guard_drop_{}", label(protocol)),
            "lang": build(),
            "load": format!("{SPANS} spans with events, none exported before exit"),
            "faults": "process exit (guard dropped)",
            "bad_inputs": "-",
            "lost": SPANS - received.spans.len(),
            "sent_spans": SPANS,
            "received_spans": received.spans.len(),
            "dropped_spans": stats().traces.dropped(),
        })
    );
}

fn secrets(protocol: Protocol) {
    let collector = common::Collector::start();
    let mut config = TelemetryConfig::load().unwrap();
    config.otlp.endpoint = Some(endpoint(protocol, collector.grpc_port, collector.http_port));
    config.otlp.protocol = protocol;
    config.logging.export_logs = true;
    assert!(!format!("{config:?}").contains("SECRET"));
    let guard = tasker_telemetry::init(config).unwrap();
    for i in 0..5 {
        let _s = tracing::info_span!("with_auth_header", i).entered();
        tracing::info!(i, "work");
    }
    tasker_telemetry::flush(Duration::from_secs(10)).unwrap();
    collector.wait_for(Duration::from_secs(20), |r| r.spans.len() >= 5);
    guard.shutdown(Duration::from_secs(10)).unwrap();
}
