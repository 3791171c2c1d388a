//! Secure export against real parts: a rotel collector behind a TLS-terminating proxy
//! (`tests/harness/tls_proxy.py`) with certificates made by the test. gRPC and HTTP/protobuf,
//! a private CA trusted with `OTEL_EXPORTER_OTLP_CERTIFICATE`, mutual TLS with a client
//! certificate, the error for an untrusted certificate (names the endpoint, never the headers),
//! a deployment configured only with per-signal variables, and the advice for a refused
//! request (401, 404) or a protocol that does not match the port.
//!
//! Telemetry starts once per process, so each case runs in a child process: the test re-runs
//! this binary with `TASKER_TLS_SCENARIO=1` and the case's environment; the child starts the
//! way a Ruby or Python binding does (`foreign::startup`, from the process environment), sends
//! a span, a metric and a log record, flushes and prints `FLUSH ok` or `FLUSH error: ...`.

mod common;
#[path = "common/tls.rs"]
mod tls;

use std::process::Command;
use std::time::Duration;

use tls::{Certs, TlsProxy};

const SCENARIO: &str = "TASKER_TLS_SCENARIO";
const SECRET: &str = "s3cr3t-header-value";

#[test]
fn scenario() {
    if std::env::var(SCENARIO).is_err() {
        return;
    }
    let started = tasker_telemetry::foreign::startup();
    println!(
        "STARTUP exporting={} problem={:?}",
        started.exporting, started.problem
    );
    {
        let span = tracing::info_span!("tls_span", order_id = 7_i64);
        let _entered = span.enter();
        tracing::info!("tls log line");
        tasker_telemetry::metrics::record(
            tasker_telemetry::metrics::InstrumentKind::Counter,
            "tls_metric_total",
            1.0,
            &[],
        )
        .unwrap();
    }
    match tasker_telemetry::flush(Duration::from_secs(5)) {
        Ok(()) => println!("FLUSH ok"),
        Err(e) => println!("FLUSH error: {e}"),
    }
    let _ = tasker_telemetry::shutdown(Duration::from_secs(5));
}

/// Runs the child with `env` (and nothing else of OTEL_*/TASKER_*); its stdout and stderr.
fn run(env: &[(&str, String)]) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["scenario", "--exact", "--nocapture", "--test-threads=1"]);
    for (k, _) in std::env::vars() {
        if k.starts_with("OTEL_") || k.starts_with("TASKER_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env(SCENARIO, "1")
        .env("TASKER_LOG_LEVEL", "warn")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("OTEL_METRIC_EXPORT_INTERVAL", "300")
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "3000")
        .env("OTEL_LOGS_EXPORTER", "otlp")
        .env("OTEL_EXPORTER_OTLP_HEADERS", format!("x-api-key={SECRET}"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the child failed:\n{text}");
    assert!(
        !text.contains(SECRET),
        "a header value was printed:\n{text}"
    );
    text
}

/// The collector got the child's span, metric and log record.
fn assert_delivered(collector: &common::Collector, output: &str) {
    assert!(output.contains("FLUSH ok"), "{output}");
    collector.wait_for(Duration::from_secs(20), |r| {
        r.span("tls_span").is_some() && r.metric("tls_metric_total").is_some()
    });
    collector.wait_for(Duration::from_secs(20), |_| {
        collector.output().contains("tls log line")
    });
    assert!(
        !collector.output().contains("ERROR"),
        "{}",
        collector.output()
    );
}

fn trusted(protocol: &str, mtls: bool) {
    let certs = Certs::make(&format!("{}-{mtls}", protocol.replace('/', "-")));
    let collector = common::Collector::start();
    let proxy = TlsProxy::start(&certs, collector.grpc_port, collector.http_port, mtls);
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", proxy.url()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", certs.path("ca.pem")),
    ];
    if mtls {
        env.push((
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            certs.path("client.pem"),
        ));
        env.push(("OTEL_EXPORTER_OTLP_CLIENT_KEY", certs.path("client.key")));
    }
    let output = run(&env);
    assert!(
        output.contains("STARTUP exporting=true problem=None"),
        "{output}"
    );
    assert_delivered(&collector, &output);
}

#[test]
fn grpc_over_tls_with_a_private_ca() {
    trusted("grpc", false);
}

#[test]
fn http_protobuf_over_tls_with_a_private_ca() {
    trusted("http/protobuf", false);
}

#[test]
fn grpc_over_mutual_tls() {
    trusted("grpc", true);
}

#[test]
fn http_protobuf_over_mutual_tls() {
    trusted("http/protobuf", true);
}

fn untrusted(protocol: &str) -> String {
    let certs = Certs::make(&format!("untrusted-{}", protocol.replace('/', "-")));
    let collector = common::Collector::start();
    let proxy = TlsProxy::start(&certs, collector.grpc_port, collector.http_port, false);
    let output = run(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", proxy.url()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        // A CA, but not the one that signed the server's certificate.
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", certs.path("other-ca.pem")),
    ]);
    assert!(output.contains("FLUSH error"), "{output}");
    assert!(
        output.contains("TLS certificate at https://127.0.0.1:")
            && output.contains(&proxy.port.to_string())
            && output.contains("is not trusted: set OTEL_EXPORTER_OTLP_CERTIFICATE"),
        "the warning names the endpoint and what to do:\n{output}"
    );
    output
}

#[test]
fn an_untrusted_certificate_over_grpc_is_a_clear_error_naming_the_endpoint() {
    untrusted("grpc");
}

#[test]
fn an_untrusted_certificate_over_http_is_a_clear_error_naming_the_endpoint() {
    untrusted("http/protobuf");
}

#[test]
fn a_deployment_with_only_per_signal_variables_over_tls_exports_every_signal() {
    let certs = Certs::make("per-signal");
    let collector = common::Collector::start();
    let proxy = TlsProxy::start(&certs, collector.grpc_port, collector.http_port, false);
    let output = run(&[
        // Traces over gRPC, metrics and logs over HTTP with full URLs; no generic endpoint.
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", proxy.url()),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc".to_owned()),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            certs.path("ca.pem"),
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            format!("{}/v1/metrics", proxy.url()),
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
            certs.path("ca.pem"),
        ),
        (
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            format!("{}/v1/logs", proxy.url()),
        ),
        (
            "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
            "http/protobuf".to_owned(),
        ),
        ("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", certs.path("ca.pem")),
    ]);
    assert!(
        output.contains("STARTUP exporting=true problem=None"),
        "{output}"
    );
    assert_delivered(&collector, &output);
}

#[test]
fn an_unreadable_certificate_file_names_the_file_and_the_variable() {
    let output = run(&[
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://127.0.0.1:9".to_owned(),
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
            "/nonexistent/ca.pem".to_owned(),
        ),
    ]);
    assert!(output.contains("STARTUP exporting=false"), "{output}");
    assert!(
        output.contains("/nonexistent/ca.pem")
            && output.contains("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE")
            && output.contains("telemetry.otlp.metrics.certificate"),
        "{output}"
    );
}

/// A tiny HTTP server answering every request with `status`.
struct Answering {
    child: std::process::Child,
    port: u16,
}

impl Answering {
    fn start(status: u16) -> Answering {
        let port = common::free_port();
        let code = format!(
            "import http.server\n\
             class H(http.server.BaseHTTPRequestHandler):\n\
             \x20   def do_POST(self):\n\
             \x20       self.rfile.read(int(self.headers.get('content-length', 0)))\n\
             \x20       self.send_response({status}); self.send_header('content-length', '0'); self.end_headers()\n\
             \x20   def log_message(self, *a): pass\n\
             http.server.ThreadingHTTPServer(('127.0.0.1', {port}), H).serve_forever()\n"
        );
        let child = Command::new("python3").args(["-c", &code]).spawn().unwrap();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            std::thread::sleep(Duration::from_millis(50));
        }
        Answering { child, port }
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tiny HTTP server that writes the headers of each request it gets (one JSON object a line)
/// to a file and answers `status` (with `Location: location` when given).
struct Recording {
    child: std::process::Child,
    port: u16,
    file: std::path::PathBuf,
}

impl Recording {
    fn start(status: u16, location: Option<&str>) -> Recording {
        let port = common::free_port();
        let file = std::env::temp_dir().join(format!("tasker-headers-{port}.jsonl"));
        let _ = std::fs::remove_file(&file);
        let location = location.map_or("None".to_owned(), |l| format!("{l:?}"));
        let code = format!(
            "import http.server, json\n\
             class H(http.server.BaseHTTPRequestHandler):\n\
             \x20   def do_POST(self):\n\
             \x20       self.rfile.read(int(self.headers.get('content-length', 0)))\n\
             \x20       open({file:?}, 'a').write(json.dumps({{k.lower(): v for k, v in self.headers.items()}}) + '\\n')\n\
             \x20       self.send_response({status})\n\
             \x20       if {location} is not None: self.send_header('location', {location})\n\
             \x20       self.send_header('content-length', '0'); self.end_headers()\n\
             \x20   def log_message(self, *a): pass\n\
             http.server.ThreadingHTTPServer(('127.0.0.1', {port}), H).serve_forever()\n",
            file = file.display().to_string(),
        );
        let child = Command::new("python3").args(["-c", &code]).spawn().unwrap();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            std::thread::sleep(Duration::from_millis(50));
        }
        Recording { child, port, file }
    }

    fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.file);
    }
}

#[test]
fn per_signal_headers_from_a_file_are_not_joined_by_the_generic_variable() {
    // Before: the exporter added OTEL_EXPORTER_OTLP_HEADERS on its own, so the generic API key
    // went to a per-signal endpoint configured with headers of its own.
    let server = Recording::start(200, None);
    let dir = std::env::temp_dir().join(format!("tasker-headers-cfg-{}", server.port));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("telemetry.toml");
    std::fs::write(
        &config,
        format!(
            "[telemetry.otlp.traces]\nendpoint = \"http://127.0.0.1:{}/v1/traces\"\nheaders = {{ x-trace-key = \"t1\" }}\n",
            server.port
        ),
    )
    .unwrap();
    let output = run(&[
        ("TASKER_CONFIG", config.display().to_string()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
    ]);
    assert!(output.contains("FLUSH ok"), "{output}");
    let requests = server.requests();
    assert!(!requests.is_empty(), "{output}");
    for headers in &requests {
        assert_eq!(headers["x-trace-key"], "t1", "{headers}");
        assert!(
            headers.get("x-api-key").is_none(),
            "the generic key leaked: {headers}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_redirect_is_not_followed_with_the_headers() {
    // reqwest followed redirects and re-sent custom headers (API keys) to the new host.
    let elsewhere = Recording::start(200, None);
    let redirecting = Recording::start(
        307,
        Some(&format!("http://127.0.0.1:{}/v1/traces", elsewhere.port)),
    );
    let output = run(&[
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("http://127.0.0.1:{}/v1/traces", redirecting.port),
        ),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
    ]);
    assert!(!redirecting.requests().is_empty(), "{output}");
    assert!(
        elsewhere.requests().is_empty(),
        "the redirect was followed ({} requests)",
        elsewhere.requests().len()
    );
}

#[test]
fn a_401_says_to_check_the_headers_without_showing_them() {
    let server = Answering::start(401);
    let output = run(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        format!("http://127.0.0.1:{}", server.port),
    )]);
    assert!(output.contains("FLUSH error"), "{output}");
    assert!(
        output.contains("refused the credentials (401/403): check the headers"),
        "{output}"
    );
}

#[test]
fn a_404_says_to_check_the_path() {
    let server = Answering::start(404);
    let output = run(&[(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        format!("http://127.0.0.1:{}/wrong/path", server.port),
    )]);
    assert!(output.contains("FLUSH error"), "{output}");
    assert!(
        output.contains("has nothing at that path (404)"),
        "{output}"
    );
}

#[test]
fn a_protocol_that_does_not_match_the_port_says_so() {
    let collector = common::Collector::start();
    for (protocol, port) in [
        ("http/protobuf", collector.grpc_port),
        ("grpc", collector.http_port),
    ] {
        let output = run(&[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{port}"),
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        ]);
        assert!(output.contains("FLUSH error"), "{output}");
        println!("{protocol} to the other port:\n{output}");
        assert!(
            output.contains("check that OTEL_EXPORTER_OTLP_PROTOCOL matches the port"),
            "{protocol}: {output}"
        );
    }
}
