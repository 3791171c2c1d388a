//! The HTTP server of `OTEL_METRICS_EXPORTER=prometheus`: `/metrics` ([`crate::prometheus_text`])
//! and the health probes of [`crate::health`] (`/health`, `/health/ready`, `/health/detailed`)
//! on `telemetry.prometheus.host`:`telemetry.prometheus.port`.
//!
//! It runs on a thread of its own (a synchronous server, no async runtime asked of the host)
//! and only reads the core's state: it never calls into Ruby or Python. Only `GET` and `HEAD`
//! are answered (405 with `Allow: GET, HEAD` otherwise), other paths are 404. With
//! `telemetry.prometheus.bearer_token` every request needs `Authorization: Bearer <token>`,
//! compared in constant time (401 with `WWW-Authenticate: Bearer` otherwise); the token is never
//! logged.
//!
//! Threads do not survive `fork()`: a forked child does not serve (the port stays the
//! parent's); [`after_fork_in_child`] says so once, recommending OTLP push for pre-fork servers.

use std::net::{TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use subtle::ConstantTimeEq as _;

use crate::config::PrometheusConfig;
use crate::error::ConfigError;

/// What a running server was started with (a restart with the same settings keeps it).
#[derive(Clone, PartialEq, Eq)]
struct Settings {
    host: String,
    port: u16,
    token: Option<String>,
}

struct Running {
    settings: Settings,
    server: Arc<tiny_http::Server>,
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
/// use is [`ConfigError::Listen`] naming the address and the settings.
pub(crate) fn apply(config: &crate::TelemetryConfig) -> Result<(), ConfigError> {
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
        *slot = Some(start(settings)?);
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

fn stop_running(mut old: Running) {
    old.server.unblock();
    if let Some(thread) = old.thread.take() {
        let _ = thread.join();
    }
    // Dropping the last `Server` ends its accept thread and closes the socket.
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
        let reason = if e.kind() == std::io::ErrorKind::AddrInUse {
            format!(
                "the port is already in use ({e}): stop what listens there or choose another port"
            )
        } else {
            e.to_string()
        };
        listen_error(&settings, reason)
    })?;
    #[cfg(unix)]
    let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
    let server = Arc::new(
        tiny_http::Server::from_listener(listener, None)
            .map_err(|e| listen_error(&settings, e.to_string()))?,
    );
    let token = settings.token.clone().map(String::into_bytes);
    let serving = server.clone();
    let thread = std::thread::Builder::new()
        .name("tasker-telemetry-prometheus".into())
        .spawn(move || serve(&serving, token.as_deref()))
        .map_err(|e| listen_error(&settings, format!("cannot start the server thread: {e}")))?;
    Ok(Running {
        settings,
        server,
        thread: Some(thread),
        #[cfg(unix)]
        fd,
    })
}

fn serve(server: &tiny_http::Server, token: Option<&[u8]>) {
    // `recv` fails once `unblock` was called (shutdown).
    while let Ok(request) = server.recv() {
        let response = respond(
            request.method(),
            request.url(),
            request
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .map(|h| h.value.as_str()),
            token,
        );
        // A client that went away: nothing to do.
        let _ = request.respond(response);
    }
}

/// A response of `status` with `body` and `headers` (ASCII constants of this file, which
/// `tiny_http` accepts).
fn reply(status: u16, body: String, headers: &[(&str, &str)]) -> tiny_http::ResponseBox {
    let mut response = tiny_http::Response::from_string(body).with_status_code(status);
    for (name, value) in headers {
        if let Ok(h) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(h);
        }
    }
    response.boxed()
}

fn text(status: u16, body: String, content_type: &str) -> tiny_http::ResponseBox {
    reply(
        status,
        body,
        &[
            ("Content-Type", content_type),
            ("Cache-Control", "no-store"),
        ],
    )
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

/// The answer to one request.
fn respond(
    method: &tiny_http::Method,
    url: &str,
    authorization: Option<&str>,
    token: Option<&[u8]>,
) -> tiny_http::ResponseBox {
    const PLAIN: &str = "text/plain; charset=utf-8";
    if let Some(token) = token {
        if !authorized(authorization, token) {
            return reply(
                401,
                "unauthorized: send Authorization: Bearer <token>\n".to_owned(),
                &[("WWW-Authenticate", "Bearer"), ("Content-Type", PLAIN)],
            );
        }
    }
    if !matches!(method, tiny_http::Method::Get | tiny_http::Method::Head) {
        return reply(
            405,
            "method not allowed: only GET and HEAD\n".to_owned(),
            &[("Allow", "GET, HEAD"), ("Content-Type", PLAIN)],
        );
    }
    let path = url.split(['?', '#']).next().unwrap_or_default();
    match path {
        "/metrics" => match crate::exposition::prometheus_text() {
            Ok(body) => text(200, body, crate::exposition::CONTENT_TYPE),
            Err(e) => text(503, format!("{e}\n"), PLAIN),
        },
        "/health" => text(200, "ok\n".to_owned(), PLAIN),
        "/health/ready" => {
            let r = crate::health::readiness();
            if r.ready {
                text(200, "ready\n".to_owned(), PLAIN)
            } else {
                text(503, format!("not ready: {}\n", r.reasons.join("; ")), PLAIN)
            }
        }
        "/health/detailed" => text(
            200,
            crate::health::detailed_json(),
            "application/json; charset=utf-8",
        ),
        _ => text(
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
        // SAFETY: `fd` is the listening socket the parent's server owns; this process never
        // uses that server again (it is forgotten below: its threads are gone, joining or
        // dropping it would hang), so this copy of the descriptor is closed exactly once.
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

    #[test]
    fn ipv6_hosts_are_bracketed_in_messages() {
        assert_eq!(address("::1", 9464), "[::1]:9464");
        assert_eq!(address("localhost", 9464), "localhost:9464");
    }
}
