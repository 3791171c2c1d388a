//! The Prometheus and health-probe server under hostile or broken clients, over real sockets:
//! nothing a client sends (absurd `Content-Length`s, a body that never comes, nothing at all,
//! endless headers, pipelined requests never read) crashes the process or keeps `/health` from
//! answering for more than a few seconds, and shutdown returns at once with such clients
//! connected. Also the start-up policy of a port in use: at a binding's load (automatic start)
//! it is only logged and export goes on; an explicit `init` fails. Its own process (the global
//! pipeline, the process environment).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use tasker_telemetry::foreign;
use tasker_telemetry::{is_exporting, ConfigError};

const TOKEN: &str = "abuse-t0ken";

/// Sends `bytes` on a new connection and reads the whole answer (the server closes after it).
fn raw(port: u16, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may answer and close before all of a too long request is written.
    let _ = s.write_all(bytes);
    read_all(&mut s)
}

fn read_all(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            // A reset after the answer (the server did not read all that was sent).
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !out.is_empty() => break,
            Err(e) => panic!(
                "reading the answer: {e} (after {:?})",
                String::from_utf8_lossy(&out)
            ),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n{extra}\r\n")
}

/// `/health` answers 200, within `within`.
fn health_answers(port: u16, within: Duration, after: &str) {
    let t = Instant::now();
    let answer = raw(port, get("/health", "").as_bytes());
    assert_eq!(status(&answer), 200, "after {after}: {answer}");
    assert!(answer.ends_with("\r\n\r\nok\n"), "after {after}: {answer}");
    assert!(
        t.elapsed() < within,
        "after {after}: /health took {:?}",
        t.elapsed()
    );
}

#[test]
fn the_probe_server_survives_hostile_clients_and_a_port_in_use_at_load_is_only_logged() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = std::env::temp_dir().join(format!("probe-abuse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("spans.jsonl").to_string_lossy().into_owned();
    for (k, v) in [
        ("OTEL_METRICS_EXPORTER", "prometheus"),
        ("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", &port.to_string()),
        ("TASKER_PROMETHEUS_TOKEN", TOKEN),
        ("TASKER_OTLP_FILE", &file),
        ("OTEL_SERVICE_NAME", "probe-abuse"),
        ("TASKER_LOG_LEVEL", "error"),
    ] {
        std::env::set_var(k, v);
    }

    // Export started at a binding's load with the port taken (a pre-fork server's second
    // worker): one error line, no problem reported, export goes on.
    let started = foreign::startup();
    assert_eq!(started.problem, None);
    assert!(started.exporting && is_exporting());
    assert!(tasker_telemetry::prometheus_text().is_ok());

    // An explicit init with the port still taken fails, naming the address and the settings;
    // what ran goes on.
    let err = foreign::init("init", None, &[]).unwrap_err().to_string();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("OTEL_EXPORTER_PROMETHEUS_PORT"), "{err}");
    assert!(err.contains("already in use"), "{err}");
    assert!(is_exporting());
    assert!(matches!(
        tasker_telemetry::init(tasker_telemetry::TelemetryConfig::default()),
        Err(ConfigError::AlreadyInitialized { .. })
    ));

    // The port freed, the explicit init (retried) serves.
    drop(taken);
    foreign::init("init", None, &[]).expect("init once the port is free");
    health_answers(port, Duration::from_secs(3), "init");

    // The token comes first: no token, 401 whatever else is wrong.
    let answer = raw(
        port,
        b"GET /health HTTP/1.1\r\nContent-Length: 100000000000000\r\n\r\n",
    );
    assert_eq!(status(&answer), 401, "{answer}");

    // Absurd body lengths: 400 at once, nothing allocated or read.
    for length in [
        "100000000000000",
        "18446744073709551615",
        "99999999999999999999999999",
    ] {
        let answer = raw(
            port,
            get("/health", &format!("Content-Length: {length}\r\n")).as_bytes(),
        );
        assert_eq!(status(&answer), 400, "{length}: {answer}");
        assert!(answer.contains("Connection: close\r\n"), "{answer}");
        health_answers(port, Duration::from_secs(3), length);
    }
    let answer = raw(
        port,
        get("/metrics", "Transfer-Encoding: chunked\r\n").as_bytes(),
    );
    assert_eq!(status(&answer), 400, "{answer}");

    // A body announced that never comes, the client staying connected without reading: it gets
    // 400 and /health is not held up.
    let mut waiting = TcpStream::connect(("127.0.0.1", port)).unwrap();
    waiting
        .write_all(get("/health", "Content-Length: 2000\r\n").as_bytes())
        .unwrap();
    health_answers(
        port,
        Duration::from_secs(3),
        "Content-Length: 2000 and no body",
    );
    waiting
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(status(&read_all(&mut waiting)), 400);

    // A client that connects and sends nothing, another that sends half a request line.
    let idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut half = TcpStream::connect(("127.0.0.1", port)).unwrap();
    half.write_all(b"GET /hea").unwrap();
    health_answers(
        port,
        Duration::from_secs(4),
        "an idle and a half-sent client",
    );
    drop((idle, half));

    // Many idle connections: /health still gets an answer (200, or 503 while all handlers and
    // the queue are taken) within a few seconds, and 200 once they are gone.
    let idle: Vec<_> = (0..40)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let t = Instant::now();
    let answer = raw(port, get("/health", "").as_bytes());
    assert!(
        matches!(status(&answer), 200 | 503),
        "under many idle connections: {answer}"
    );
    assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
    drop(idle);
    health_answers(port, Duration::from_secs(4), "many idle connections");

    // Over-long heads: a long header line, a line that never ends.
    let long = get("/health", &format!("X-Long: {}\r\n", "a".repeat(10_000)));
    for (what, request) in [
        ("a long header", long.into_bytes()),
        ("an endless line", vec![b'G'; 20_000]),
    ] {
        let answer = raw(port, &request);
        assert_eq!(status(&answer), 431, "{what}: {answer}");
        health_answers(port, Duration::from_secs(3), what);
    }
    // Just under the limit is served.
    let answer = raw(
        port,
        get("/health", &format!("X-Long: {}\r\n", "a".repeat(7_000))).as_bytes(),
    );
    assert_eq!(status(&answer), 200, "{answer}");

    // Malformed requests.
    for bad in [
        &b"\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"GET /health\r\n\r\n",
        b"GET /health HTTP/1.1 x\r\n\r\n",
        b"GET /health HTTP/9.9\r\n\r\n",
        b"GET /health HTTP/1.1\r\nno colon here\r\n\r\n",
        b"GET /health HTTP/1.1\r\nContent-Length: 12x\r\n\r\n",
        b"GET /he\xffalth HTTP/1.1\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    ] {
        let answer = raw(port, bad);
        assert_eq!(
            status(&answer),
            400,
            "{:?}: {answer}",
            String::from_utf8_lossy(bad)
        );
    }
    health_answers(port, Duration::from_secs(3), "malformed requests");

    // Pipelined requests never read: one answer, then the connection is closed; /health is
    // not held up.
    let mut pipelined = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let many = get("/metrics", "").repeat(2_000);
    pipelined
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = pipelined.write_all(many.as_bytes());
    health_answers(
        port,
        Duration::from_secs(3),
        "pipelined requests never read",
    );
    drop(pipelined);

    // HEAD has the headers and no body; the connection is closed after every answer.
    let answer = raw(
        port,
        format!("HEAD /health HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n").as_bytes(),
    );
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("Content-Length: 3\r\n"), "{answer}");
    assert!(answer.ends_with("Connection: close\r\n\r\n"), "{answer}");

    // Shutdown returns at once with hostile clients connected, and frees the port.
    let idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut stalled = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stalled
        .write_all(get("/health", "Content-Length: 2000\r\n").as_bytes())
        .unwrap();
    let t = Instant::now();
    tasker_telemetry::shutdown(Duration::from_secs(2)).unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        t.elapsed()
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the server still accepts after shutdown"
    );
    assert!(
        TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "the port is free again"
    );
    drop((idle, stalled));
    let _ = std::fs::remove_dir_all(&dir);
}
