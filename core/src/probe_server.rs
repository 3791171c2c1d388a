//! The HTTP server of `OTEL_METRICS_EXPORTER=prometheus`: `/metrics` ([`crate::prometheus_text`])
//! and the health probes of [`crate::health`] (`/health`, `/health/ready`, `/health/detailed`)
//! on `telemetry.prometheus.host`:`telemetry.prometheus.port`.
//!
//! A small HTTP/1.1 server on `std` only (no async runtime asked of the host), built so that
//! nothing a client sends can crash or freeze the host process: one accept thread hands each
//! connection to a fixed pool of [`WORKERS`] handler threads (a connection that finds them all
//! busy and [`QUEUE`] connections waiting is answered 503 at once); every connection has read and
//! write deadlines ([`READ_DEADLINE`], [`WRITE_DEADLINE`]); the request head is read up to
//! [`MAX_HEAD`] bytes (431 beyond); a request with a body is answered 400 without reading it;
//! every response is `Connection: close` and the connection is closed after it. It only reads the
//! core's state: it never calls into Ruby or Python. Only `GET` and `HEAD` are answered (405 with
//! `Allow: GET, HEAD` otherwise), other paths are 404. With `telemetry.prometheus.bearer_token`
//! every request needs `Authorization: Bearer <token>`, compared in constant time (401 with
//! `WWW-Authenticate: Bearer` otherwise); the token is never logged.
//!
//! Stopping never waits on a client: the accept thread polls a non-blocking listener every
//! [`POLL`], sees the stop flag and ends, and the listening socket is closed when [`stop`] (or a
//! restart by [`apply`]) returns, so the same port can be bound again at once. A handler still
//! busy with a client finishes within its deadlines on its own.
//!
//! Threads do not survive `fork()`: a forked child does not serve (the port stays the
//! parent's); [`after_fork_in_child`] says so once, recommending OTLP push for pre-fork servers.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq as _;

use crate::config::PrometheusConfig;
use crate::error::ConfigError;

/// Handler threads of one server: connections served at the same time.
const WORKERS: usize = 4;
/// Accepted connections waiting for a handler; beyond, a connection is answered 503 at once.
const QUEUE: usize = 16;
/// How long a client has to send its request head, from the handler taking the connection.
const READ_DEADLINE: Duration = Duration::from_secs(2);
/// How long a client has to take the whole response (each write waits at most
/// [`WRITE_TIMEOUT`] of it).
const WRITE_DEADLINE: Duration = Duration::from_secs(5);
/// The longest a single write waits for the client to read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest request head (request line and headers) read.
const MAX_HEAD: usize = 8 * 1024;
/// How often the idle accept thread looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);
/// What is discarded of a request's unread bytes (already received) before closing, so that
/// closing does not reset the connection under the response.
const MAX_DISCARD: usize = 64 * 1024;

/// What a running server was started with (a restart with the same settings keeps it).
#[derive(Clone, PartialEq, Eq)]
struct Settings {
    host: String,
    port: u16,
    token: Option<String>,
}

struct Running {
    settings: Settings,
    /// Set to stop the accept thread and make the handlers drop what is still queued.
    stopping: Arc<AtomicBool>,
    /// The accept thread; it owns the listening socket, closed when it ends.
    thread: Option<std::thread::JoinHandle<()>>,
    /// The listening socket, closed by a forked child (which never serves).
    #[cfg(unix)]
    fd: std::os::fd::RawFd,
}

static SERVER: Mutex<Option<Running>> = Mutex::new(None);

/// Set in a fork child whose copy of [`SERVER`] was locked at the fork: never touched again.
static LOST_IN_FORK: AtomicBool = AtomicBool::new(false);

/// Set once a fork child has said that it does not serve.
static FORK_WARNED: AtomicBool = AtomicBool::new(false);

fn address(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Starts, keeps, restarts or stops the server so that it matches `config` (running when
/// metrics are kept for Prometheus and `telemetry.prometheus.serve` is on). A port already in
/// use is [`ConfigError::Listen`] naming the address and the settings when
/// `bind_failure_is_error` (an explicit `init`); otherwise (export started automatically at a
/// binding's load, where pre-fork servers start one server per worker and only the first can
/// bind) it is one error line on the log and `Ok`: export goes on without the server.
pub(crate) fn apply(
    config: &crate::TelemetryConfig,
    bind_failure_is_error: bool,
) -> Result<(), ConfigError> {
    if LOST_IN_FORK.load(Ordering::Relaxed) {
        return Ok(());
    }
    let wanted = (config.keeps_prometheus_metrics() && config.prometheus.serve).then(|| {
        let PrometheusConfig {
            host,
            port,
            bearer_token,
            ..
        } = &config.prometheus;
        Settings {
            host: host.clone(),
            port: *port,
            token: bearer_token.clone(),
        }
    });
    let mut slot = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    if slot.as_ref().map(|r| &r.settings) == wanted.as_ref() {
        return Ok(());
    }
    if let Some(old) = slot.take() {
        stop_running(old);
    }
    if let Some(settings) = wanted {
        match start(settings) {
            Ok(running) => *slot = Some(running),
            Err(e) if bind_failure_is_error => return Err(e),
            Err(e) => tracing::error!(
                target: "tasker_telemetry::prometheus",
                "{e}; export goes on without this server (with a pre-fork server, another process may already serve this port)"
            ),
        }
    }
    Ok(())
}

/// Stops the server (at shutdown): it answers nothing more and its port is free again.
pub(crate) fn stop() {
    if LOST_IN_FORK.load(Ordering::Relaxed) {
        return;
    }
    let old = SERVER.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(old) = old {
        stop_running(old);
    }
}

/// Ends the accept thread (within [`POLL`]) and closes the listening socket before returning;
/// handlers busy with a client end on their own, within their deadlines.
fn stop_running(mut old: Running) {
    old.stopping.store(true, Ordering::SeqCst);
    if let Some(thread) = old.thread.take() {
        let _ = thread.join();
    }
}

fn listen_error(settings: &Settings, reason: String) -> ConfigError {
    ConfigError::Listen {
        address: address(&settings.host, settings.port),
        reason,
    }
}

fn start(settings: Settings) -> Result<Running, ConfigError> {
    let addrs: Vec<_> = (settings.host.as_str(), settings.port)
        .to_socket_addrs()
        .map_err(|e| listen_error(&settings, format!("the host cannot be resolved: {e}")))?
        .collect();
    let listener = TcpListener::bind(&addrs[..]).map_err(|e| {
        let reason = if e.kind() == ErrorKind::AddrInUse {
            format!(
                "the port is already in use ({e}): stop what listens there or choose another port"
            )
        } else {
            e.to_string()
        };
        listen_error(&settings, reason)
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| listen_error(&settings, e.to_string()))?;
    #[cfg(unix)]
    let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
    let token: Option<Arc<[u8]>> = settings.token.as_deref().map(|t| t.as_bytes().into());
    let stopping = Arc::new(AtomicBool::new(false));
    let (queue, waiting) = std::sync::mpsc::sync_channel::<TcpStream>(QUEUE);
    let waiting = Arc::new(Mutex::new(waiting));
    for _ in 0..WORKERS {
        let (waiting, token, stopping) = (waiting.clone(), token.clone(), stopping.clone());
        // A handler that cannot start leaves the others (the accept thread answers 503 when
        // none can take a connection).
        let _ = std::thread::Builder::new()
            .name("tasker-telemetry-prometheus-handler".into())
            .spawn(move || handle_queued(&waiting, token.as_deref(), &stopping));
    }
    let accepting = stopping.clone();
    let thread = std::thread::Builder::new()
        .name("tasker-telemetry-prometheus".into())
        .spawn(move || accept_loop(listener, queue, &accepting))
        .map_err(|e| listen_error(&settings, format!("cannot start the server thread: {e}")))?;
    Ok(Running {
        settings,
        stopping,
        thread: Some(thread),
        #[cfg(unix)]
        fd,
    })
}

/// The accept thread: hands connections to the handlers until `stopping`; owns (and so closes,
/// when it returns) the listening socket. It never reads from or waits on a client.
fn accept_loop(listener: TcpListener, queue: SyncSender<TcpStream>, stopping: &AtomicBool) {
    while !stopping.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(TrySendError::Full(stream) | TrySendError::Disconnected(stream)) =
                    queue.try_send(stream)
                {
                    busy(stream);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Out of descriptors, a connection reset before it was accepted...: try again later.
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// Answers 503 to a connection no handler can take, without waiting on the client (the short
/// answer fits the socket's send buffer; when it does not, the client gets nothing).
fn busy(stream: TcpStream) {
    let _ = stream.set_nonblocking(true);
    let response = Response::text(
        503,
        "busy: too many connections, try again\n".to_owned(),
        PLAIN,
    );
    let _ = (&stream).write_all(&response.to_bytes(false));
    close(stream);
}

/// A handler thread: serves the queued connections one at a time, until the server stops.
fn handle_queued(
    waiting: &Mutex<Receiver<TcpStream>>,
    token: Option<&[u8]>,
    stopping: &AtomicBool,
) {
    loop {
        // The lock is held only while waiting for the next connection, not while serving it.
        let next = waiting.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok(stream) = next else {
            return; // The accept thread has ended.
        };
        if stopping.load(Ordering::SeqCst) {
            drop(stream);
            continue;
        }
        handle(stream, token);
    }
}

/// Serves one connection: one request, one response, then the connection is closed.
fn handle(stream: TcpStream, token: Option<&[u8]>) {
    // Accepted sockets inherit the listener's non-blocking mode on some systems.
    if stream.set_nonblocking(false).is_err() {
        return;
    }
    let response = match read_head(&stream) {
        Head::Complete(head) => match parse(&head) {
            Ok(request) => {
                let head_only = request.method == "HEAD";
                Some((respond(&request, token), head_only))
            }
            Err(response) => Some((response, false)),
        },
        Head::TooLong => Some((
            Response::text(
                431,
                format!("request header fields too large: at most {MAX_HEAD} bytes\n"),
                PLAIN,
            ),
            false,
        )),
        Head::Timeout(true) => Some((
            Response::text(
                408,
                "request timeout: the request head was not sent in time\n".to_owned(),
                PLAIN,
            ),
            false,
        )),
        Head::Timeout(false) | Head::Closed => None,
    };
    if let Some((response, head_only)) = response {
        write_deadlined(&stream, &response.to_bytes(head_only));
    }
    close(stream);
}

enum Head {
    /// The request head, up to and without the empty line that ends it.
    Complete(Vec<u8>),
    /// More than [`MAX_HEAD`] bytes without the end of the head.
    TooLong,
    /// The client did not send the head in time (`true` when it had sent part of it).
    Timeout(bool),
    /// The client closed the connection (or it failed) before the end of the head.
    Closed,
}

/// Reads the request head within [`READ_DEADLINE`], at most [`MAX_HEAD`] bytes; bytes after it
/// (a body) are never asked for.
fn read_head(mut stream: &TcpStream) -> Head {
    let deadline = Instant::now() + READ_DEADLINE;
    let mut buf = vec![0u8; MAX_HEAD];
    let mut len = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Head::Timeout(len > 0);
        }
        match stream.read(&mut buf[len..]) {
            Ok(0) => return Head::Closed,
            Ok(n) => {
                // Search from just before the new bytes (the end may straddle two reads).
                let from = len.saturating_sub(3);
                len += n;
                if let Some(end) = find_head_end(&buf[from..len]) {
                    buf.truncate(from + end);
                    return Head::Complete(buf);
                }
                if len == MAX_HEAD {
                    return Head::TooLong;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Head::Timeout(len > 0)
            }
            Err(_) => return Head::Closed,
        }
    }
}

/// Where the head ends in `bytes` (the offset of its empty line), `\r\n\r\n` or `\n\n`.
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    (0..bytes.len())
        .find(|&i| bytes[i..].starts_with(b"\r\n\r\n") || bytes[i..].starts_with(b"\n\n"))
}

/// One parsed request head.
#[derive(Debug)]
struct Request<'a> {
    method: &'a str,
    target: &'a str,
    authorization: Option<&'a str>,
    /// `Content-Length` above 0 or a `Transfer-Encoding`: a body follows (never read).
    has_body: bool,
}

fn bad_request(why: &str) -> Response {
    Response::text(400, format!("bad request: {why}\n"), PLAIN)
}

/// Parses a request head (request line and header lines); a malformed one is 400.
fn parse(head: &[u8]) -> Result<Request<'_>, Response> {
    let head = std::str::from_utf8(head).map_err(|_| bad_request("the head is not UTF-8"))?;
    // Empty lines before the request line are ignored (RFC 9112, 2.2).
    let head = head.trim_start_matches(['\r', '\n']);
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad_request("malformed request line"));
    };
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err(bad_request("malformed method"));
    }
    if target.is_empty() || target.bytes().any(|b| b.is_ascii_control()) {
        return Err(bad_request("malformed request target"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(bad_request("only HTTP/1.0 and HTTP/1.1 are served"));
    }
    let mut request = Request {
        method,
        target,
        authorization: None,
        has_body: false,
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad_request("malformed header line"));
        };
        // No whitespace before the colon nor folded lines (RFC 9112, 5.1 and 5.2).
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(bad_request("malformed header name"));
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("authorization") {
            request.authorization.get_or_insert(value);
        } else if name.eq_ignore_ascii_case("content-length") {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad_request("malformed Content-Length"));
            }
            if value.bytes().any(|b| b != b'0') {
                request.has_body = true;
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            request.has_body = true;
        }
    }
    Ok(request)
}

/// A character of an HTTP token (method, header name; RFC 9110, 5.6.2).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Writes all of `bytes` within [`WRITE_DEADLINE`] (each write waiting at most
/// [`WRITE_TIMEOUT`]); a client that does not read in time gets the rest no more.
fn write_deadlined(mut stream: &TcpStream, mut bytes: &[u8]) {
    let deadline = Instant::now() + WRITE_DEADLINE;
    while !bytes.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero()
            || stream
                .set_write_timeout(Some(left.min(WRITE_TIMEOUT)))
                .is_err()
        {
            return;
        }
        match stream.write(bytes) {
            Ok(0) => return,
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Closes a connection after its response: the end of the response is signalled, and what the
/// client sent that is already here (at most [`MAX_DISCARD`] bytes, never waited for) is
/// discarded, so that closing does not reset the connection under the response.
fn close(stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    if stream.set_nonblocking(true).is_ok() {
        let mut scratch = [0u8; 4096];
        let mut discarded = 0;
        while discarded < MAX_DISCARD {
            match (&stream).read(&mut scratch) {
                Ok(0) | Err(_) => break,
                Ok(n) => discarded += n,
            }
        }
    }
}

const PLAIN: &str = "text/plain; charset=utf-8";

/// One response (always `Connection: close`).
struct Response {
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    body: String,
}

impl Response {
    fn new(status: u16, body: String, headers: &[(&'static str, &'static str)]) -> Response {
        Response {
            status,
            headers: headers.to_vec(),
            body,
        }
    }

    fn text(status: u16, body: String, content_type: &'static str) -> Response {
        Response::new(
            status,
            body,
            &[
                ("Content-Type", content_type),
                ("Cache-Control", "no-store"),
            ],
        )
    }

    /// The response on the wire; without the body (but with its length) for `HEAD`.
    fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            431 => "Request Header Fields Too Large",
            503 => "Service Unavailable",
            _ => "",
        };
        let mut out = format!("HTTP/1.1 {} {reason}\r\n", self.status);
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut out = out.into_bytes();
        if !head_only {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

/// Whether `authorization` (the header's value) carries `token` as a bearer token; the token is
/// compared in constant time (its length is not hidden).
fn authorized(authorization: Option<&str>, token: &[u8]) -> bool {
    let Some(value) = authorization else {
        return false;
    };
    let value = value.trim();
    let Some((scheme, given)) = value.split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer") && bool::from(given.trim().as_bytes().ct_eq(token))
}

/// The answer to one well-formed request: the token first (401), then the method (405), then a
/// body (400, never read), then the path.
fn respond(request: &Request<'_>, token: Option<&[u8]>) -> Response {
    if let Some(token) = token {
        if !authorized(request.authorization, token) {
            return Response::new(
                401,
                "unauthorized: send Authorization: Bearer <token>\n".to_owned(),
                &[("WWW-Authenticate", "Bearer"), ("Content-Type", PLAIN)],
            );
        }
    }
    if !matches!(request.method, "GET" | "HEAD") {
        return Response::new(
            405,
            "method not allowed: only GET and HEAD\n".to_owned(),
            &[("Allow", "GET, HEAD"), ("Content-Type", PLAIN)],
        );
    }
    if request.has_body {
        return bad_request(
            "GET and HEAD requests have no body here (Content-Length or Transfer-Encoding)",
        );
    }
    let path = request.target.split(['?', '#']).next().unwrap_or_default();
    match path {
        "/metrics" => match crate::exposition::prometheus_text() {
            Ok(body) => Response::text(200, body, crate::exposition::CONTENT_TYPE),
            Err(e) => Response::text(503, format!("{e}\n"), PLAIN),
        },
        "/health" => Response::text(200, "ok\n".to_owned(), PLAIN),
        "/health/ready" => {
            let r = crate::health::readiness();
            if r.ready {
                Response::text(200, "ready\n".to_owned(), PLAIN)
            } else {
                Response::text(503, format!("not ready: {}\n", r.reasons.join("; ")), PLAIN)
            }
        }
        "/health/detailed" => Response::text(
            200,
            crate::health::detailed_json(),
            "application/json; charset=utf-8",
        ),
        _ => Response::text(
            404,
            "not found: /metrics, /health, /health/ready, /health/detailed\n".to_owned(),
            PLAIN,
        ),
    }
}

/// In a forked child: the server's thread did not survive the fork and its port belongs to the
/// parent, so the child does not serve. Its copy of the listening socket is closed, and the
/// child says so once (warn level), recommending OTLP push for pre-fork servers.
pub(crate) fn after_fork_in_child() {
    let running = match SERVER.try_lock() {
        Ok(mut slot) => slot.take(),
        Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner().take(),
        Err(std::sync::TryLockError::WouldBlock) => {
            LOST_IN_FORK.store(true, Ordering::Relaxed);
            None
        }
    };
    let Some(running) = running else {
        return;
    };
    let address = address(&running.settings.host, running.settings.port);
    #[cfg(unix)]
    {
        use std::os::fd::FromRawFd as _;
        // SAFETY: `fd` is the listening socket the parent's accept thread owns; that thread is
        // gone in this process, so nothing here closes or uses the socket but this line (the
        // server is forgotten below: joining its thread would hang), and this copy of the
        // descriptor is closed exactly once.
        drop(unsafe { std::os::fd::OwnedFd::from_raw_fd(running.fd) });
    }
    std::mem::forget(running);
    if !FORK_WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            target: "tasker_telemetry::prometheus",
            "this forked process (pid {}) does not serve Prometheus metrics or health probes: the server on {address} runs in the parent process only (threads do not survive fork), and the metrics recorded here are not scraped there; for pre-fork servers (Puma, Unicorn, gunicorn) export metrics with OTLP push (OTEL_METRICS_EXPORTER=otlp), or serve prometheus_text() from each worker",
            std::process::id()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_token_is_checked_with_its_scheme() {
        let token = b"s3cret";
        assert!(authorized(Some("Bearer s3cret"), token));
        assert!(authorized(Some("bearer  s3cret "), token));
        assert!(!authorized(Some("Bearer s3cre"), token));
        assert!(!authorized(Some("Bearer s3cretX"), token));
        assert!(!authorized(Some("Basic s3cret"), token));
        assert!(!authorized(Some("s3cret"), token));
        assert!(!authorized(None, token));
    }

    fn parsed(head: &str) -> Result<Request<'_>, u16> {
        parse(head.as_bytes()).map_err(|r| r.status)
    }

    #[test]
    fn request_heads_are_parsed_strictly() {
        let r = parsed("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nauthorization:  Bearer t \r\nContent-Length: 000").unwrap();
        assert_eq!(
            (r.method, r.target, r.authorization),
            ("GET", "/metrics?x=1", Some("Bearer t"))
        );
        assert!(!r.has_body);
        assert!(
            parsed("\r\nHEAD / HTTP/1.0").is_ok(),
            "a leading empty line is ignored"
        );
        assert!(parsed("GET / HTTP/1.1\nX: y").is_ok(), "bare LF line ends");
        for body in [
            "Content-Length: 1",
            "Content-Length: 100000000000000",
            "content-length: 18446744073709551615",
            "Content-Length: 99999999999999999999999999999",
            "Transfer-Encoding: chunked",
        ] {
            assert!(
                parsed(&format!("GET / HTTP/1.1\r\n{body}"))
                    .unwrap()
                    .has_body,
                "{body}"
            );
        }
        for bad in [
            "",
            "GET",
            "GET /",
            "GET / HTTP/1.1 extra",
            "GET  / HTTP/1.1",
            "GET / HTTP/2.0",
            "GET / FTP/1.1",
            "G(T / HTTP/1.1",
            "GET /\x01 HTTP/1.1",
            "GET / HTTP/1.1\r\nno colon",
            "GET / HTTP/1.1\r\nBad Name: x",
            "GET / HTTP/1.1\r\n folded: x",
            "GET / HTTP/1.1\r\nContent-Length: -1",
            "GET / HTTP/1.1\r\nContent-Length: 1, 1",
            "GET / HTTP/1.1\r\nContent-Length:",
        ] {
            assert_eq!(parsed(bad).unwrap_err(), 400, "{bad:?}");
        }
        assert_eq!(parse(b"GET /\xff HTTP/1.1").unwrap_err().status, 400);
    }

    #[test]
    fn the_end_of_the_head_is_found_across_reads() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(14));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\n"), Some(14));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r"), None);
    }

    #[test]
    fn responses_close_the_connection_and_head_has_no_body() {
        let r = Response::text(200, "ok\n".to_owned(), PLAIN);
        let get = String::from_utf8(r.to_bytes(false)).unwrap();
        assert!(get.starts_with("HTTP/1.1 200 OK\r\n"), "{get}");
        assert!(
            get.contains("\r\nContent-Length: 3\r\nConnection: close\r\n\r\n"),
            "{get}"
        );
        assert!(get.ends_with("\r\n\r\nok\n"), "{get}");
        let head = String::from_utf8(r.to_bytes(true)).unwrap();
        assert!(
            head.ends_with("Content-Length: 3\r\nConnection: close\r\n\r\n"),
            "{head}"
        );
    }

    fn get_health(port: u16) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// A server started and stopped on the same port again and again, with clients that hold
    /// connections open: every stop returns at once and frees the port.
    #[test]
    fn the_server_stops_promptly_and_restarts_on_the_same_port() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let settings = Settings {
            host: "127.0.0.1".to_owned(),
            port,
            token: None,
        };
        for round in 0..10 {
            let running = start(settings.clone()).unwrap_or_else(|e| panic!("round {round}: {e}"));
            let reply = get_health(port);
            assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
            assert!(reply.contains("Connection: close\r\n"), "{reply}");
            assert!(reply.ends_with("\r\n\r\nok\n"), "{reply}");
            // Clients that send nothing, or half a head, while the server stops.
            let idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let mut half = TcpStream::connect(("127.0.0.1", port)).unwrap();
            half.write_all(b"GET /health HTT").unwrap();
            let t = Instant::now();
            stop_running(running);
            assert!(
                t.elapsed() < Duration::from_millis(500),
                "stop took {:?}",
                t.elapsed()
            );
            assert!(
                TcpStream::connect(("127.0.0.1", port)).is_err(),
                "round {round}: still accepting after stop"
            );
            drop((idle, half));
        }
    }

    #[test]
    fn ipv6_hosts_are_bracketed_in_messages() {
        assert_eq!(address("::1", 9464), "[::1]:9464");
        assert_eq!(address("localhost", 9464), "localhost:9464");
    }
}
