//! Counts of what this process handed to its exporters and what became of it: spans started
//! and ended, and the export books (queued, delivered, dropped and why), so that telemetry is
//! never lost silently and checks such as "the collector received every span the process
//! created" can be made (tests, the example orchestrator's report).
//!
//! The OpenTelemetry SDK's batch processors drop what does not fit their queue without telling
//! anyone. The core keeps its own books instead: a span (or log record) is *admitted* to the
//! export queue only while fewer than `telemetry.otlp.max_queue_size` are waiting, otherwise it
//! is dropped at once (the caller never waits) and counted; every export request counts what it
//! delivered or lost. The counts are:
//!
//! - readable in-process with [`stats`] (totals; the Ruby and Python bindings expose them too)
//!   and [`export_stats`] (per signal and reason, with the last export error);
//! - exported as the metric `tasker_telemetry_dropped_total{signal, reason}`
//!   (`signal` = `traces`, `metrics` or `logs`; `reason` = `queue_full`, `export_failed` or
//!   `shutdown`; for metrics also `instrument_limit` and `cardinality_limit`, see
//!   [`crate::metrics`]), and `{signal="attributes", reason="count_limit"}` for field keys
//!   dropped by the attribute count limit (see [`crate::fields`]);
//! - reported by one warning (target `tasker_telemetry::export`) at most every
//!   `telemetry.otlp.drop_warning_interval_ms`, never one per item;
//! - named in the error of a [`flush`](crate::flush) or [`shutdown`](crate::shutdown) that could
//!   not deliver everything.
//!
//! With cumulative metrics (the default), a failed metric export loses nothing for good: the
//! next successful export carries the totals. Metric streams are counted per export request.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;

use crate::config::Protocol;

// No locks below: a lock held by another thread when the process forks stays locked forever in
// the child, whose exporter threads would then hang on it.

static SPANS_STARTED: AtomicU64 = AtomicU64::new(0);
static SPANS_ENDED: AtomicU64 = AtomicU64::new(0);
static ATTRIBUTES_DROPPED: AtomicU64 = AtomicU64::new(0);
static ATTRIBUTES_TRUNCATED: AtomicU64 = AtomicU64::new(0);
static ATTRIBUTES_WARNED: AtomicBool = AtomicBool::new(false);

/// A snapshot of the process's export counters (since start; forked children start at zero).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TelemetryStats {
    /// Sampled spans started while export was configured.
    pub spans_started: u64,
    /// Sampled spans ended and handed to the export queue.
    pub spans_ended: u64,
    /// Spans the collector accepted.
    pub spans_exported: u64,
    /// Spans dropped (queue full, failed export request, or after shutdown).
    pub spans_dropped: u64,
    /// Spans queued or in an export request: not delivered yet.
    pub spans_pending: u64,
    /// Log records dropped (with `telemetry.logging.export_logs`).
    pub logs_dropped: u64,
    /// Metric streams in export requests that failed, plus measurements refused because
    /// `telemetry.metrics.max_instruments` distinct names were in use, plus measurements whose
    /// labels were folded into the `otel.metric.overflow` series because their instrument had
    /// [`crate::metrics::CARDINALITY_LIMIT`] label sets already.
    pub metrics_dropped: u64,
    /// Field keys (span, event and log attributes given by foreign callers) dropped because their
    /// value already had `telemetry.spans.attribute_count_limit` keys.
    pub attributes_dropped: u64,
    /// String field values cut to the value length limit.
    pub attributes_truncated: u64,
}

impl TelemetryStats {
    /// The counters by name (the field names), in the order above: what the bindings return
    /// as a Hash or dict.
    ///
    /// ```
    /// let now = tasker_telemetry::stats::stats();
    /// assert_eq!(now.pairs()[0], ("spans_started", now.spans_started));
    /// ```
    pub fn pairs(&self) -> [(&'static str, u64); 9] {
        [
            ("spans_started", self.spans_started),
            ("spans_ended", self.spans_ended),
            ("spans_exported", self.spans_exported),
            ("spans_dropped", self.spans_dropped),
            ("spans_pending", self.spans_pending),
            ("logs_dropped", self.logs_dropped),
            ("metrics_dropped", self.metrics_dropped),
            ("attributes_dropped", self.attributes_dropped),
            ("attributes_truncated", self.attributes_truncated),
        ]
    }
}

/// The counters now.
///
/// ```
/// let before = tasker_telemetry::stats::stats();
/// assert!(before.spans_ended <= before.spans_started);
/// assert!(before.spans_exported + before.spans_dropped + before.spans_pending <= before.spans_ended);
/// ```
pub fn stats() -> TelemetryStats {
    let traces = TRACES.snapshot();
    TelemetryStats {
        spans_started: SPANS_STARTED.load(Ordering::Relaxed),
        spans_ended: SPANS_ENDED.load(Ordering::Relaxed),
        spans_exported: traces.exported,
        spans_dropped: traces.dropped(),
        spans_pending: traces.pending(),
        logs_dropped: LOGS.snapshot().dropped(),
        metrics_dropped: METRICS.snapshot().dropped(),
        attributes_dropped: ATTRIBUTES_DROPPED.load(Ordering::Relaxed),
        attributes_truncated: ATTRIBUTES_TRUNCATED.load(Ordering::Relaxed),
    }
}

/// `n` field keys were dropped by the attribute count limit. The first time, one warning.
pub(crate) fn attributes_dropped(n: u64) {
    ATTRIBUTES_DROPPED.fetch_add(n, Ordering::Relaxed);
    if !ATTRIBUTES_WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            target: "tasker_telemetry::fields",
            limit = crate::fields::max_fields(),
            "a span, event or log was given more than {} distinct field keys: the keys past the limit are dropped (counted in stats() attributes_dropped and tasker_telemetry_dropped_total{{signal=\"attributes\"}}); raise telemetry.spans.attribute_count_limit (OTEL_ATTRIBUTE_COUNT_LIMIT) to keep more; this warning is not repeated",
            crate::fields::max_fields()
        );
    }
}

/// A string field value was cut to the value length limit.
pub(crate) fn attribute_truncated() {
    ATTRIBUTES_TRUNCATED.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn span_started() {
    SPANS_STARTED.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn span_ended() {
    SPANS_ENDED.fetch_add(1, Ordering::Relaxed);
}

/// Starts the books afresh: in a forked child (the parent's spans are the parent's to report),
/// or when a new export pipeline starts.
pub(crate) fn reset() {
    SPANS_STARTED.store(0, Ordering::Relaxed);
    SPANS_ENDED.store(0, Ordering::Relaxed);
    ATTRIBUTES_DROPPED.store(0, Ordering::Relaxed);
    ATTRIBUTES_TRUNCATED.store(0, Ordering::Relaxed);
    for s in Signal::ALL {
        counters(s).reset();
    }
    REPORT.last_ms.store(0, Ordering::Relaxed);
    for r in &REPORT.reported {
        r.store(0, Ordering::Relaxed);
    }
}

/// A telemetry signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metric streams.
    Metrics,
    /// Log records (with `telemetry.logging.export_logs`).
    Logs,
}

impl Signal {
    /// Every signal.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// `traces`, `metrics` or `logs` (the `signal` label).
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// What one item of this signal is called in messages.
    pub fn items(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "metric streams",
            Signal::Logs => "log records",
        }
    }
}

/// Live counters of one signal.
#[derive(Debug)]
pub(crate) struct Counters {
    queued: AtomicUsize,
    in_flight: AtomicUsize,
    exported: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_export_failed: AtomicU64,
    dropped_shutdown: AtomicU64,
    dropped_instrument_limit: AtomicU64,
    dropped_cardinality_limit: AtomicU64,
    failed_exports: AtomicU64,
    /// When the last export request succeeded (ms since the Unix epoch; 0 = never).
    last_success_ms: AtomicU64,
    /// When the last export request failed (ms since the Unix epoch; 0 = never).
    last_failure_ms: AtomicU64,
    /// When the current run of failures began: the first failure after the last success
    /// (ms since the Unix epoch; 0 = not failing).
    failing_since_ms: AtomicU64,
    /// Set once export has been shut down: later items are counted as dropped at once.
    closed: AtomicBool,
    last_error: ArcSwapOption<String>,
    /// The cause of the last failed HTTP request (TLS, connection), which the exporter's own
    /// error reduces to "network error".
    transport_error: ArcSwapOption<String>,
}

impl Counters {
    const fn new() -> Self {
        Self {
            queued: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            exported: AtomicU64::new(0),
            dropped_queue_full: AtomicU64::new(0),
            dropped_export_failed: AtomicU64::new(0),
            dropped_shutdown: AtomicU64::new(0),
            dropped_instrument_limit: AtomicU64::new(0),
            dropped_cardinality_limit: AtomicU64::new(0),
            failed_exports: AtomicU64::new(0),
            last_success_ms: AtomicU64::new(0),
            last_failure_ms: AtomicU64::new(0),
            failing_since_ms: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            last_error: ArcSwapOption::const_empty(),
            transport_error: ArcSwapOption::const_empty(),
        }
    }

    fn reset(&self) {
        self.queued.store(0, Ordering::Relaxed);
        self.in_flight.store(0, Ordering::Relaxed);
        self.exported.store(0, Ordering::Relaxed);
        self.dropped_queue_full.store(0, Ordering::Relaxed);
        self.dropped_export_failed.store(0, Ordering::Relaxed);
        self.dropped_shutdown.store(0, Ordering::Relaxed);
        self.dropped_instrument_limit.store(0, Ordering::Relaxed);
        self.dropped_cardinality_limit.store(0, Ordering::Relaxed);
        self.failed_exports.store(0, Ordering::Relaxed);
        self.last_success_ms.store(0, Ordering::Relaxed);
        self.last_failure_ms.store(0, Ordering::Relaxed);
        self.failing_since_ms.store(0, Ordering::Relaxed);
        self.closed.store(false, Ordering::Relaxed);
        self.last_error.store(None);
        self.transport_error.store(None);
    }

    /// Admits one item to a queue of `capacity`, or counts it as dropped. Never blocks.
    ///
    /// An admitted item saw fewer than `capacity` others counted before it, so the admitted
    /// items waiting never exceed `capacity` and the SDK's queue (of the same size) never has
    /// to drop one silently.
    pub(crate) fn admit(&self, capacity: usize) -> bool {
        if self.closed.load(Ordering::Relaxed) {
            self.dropped_shutdown.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        if self.queued.fetch_add(1, Ordering::AcqRel) >= capacity {
            sub(&self.queued, 1);
            self.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// `n` queued items were handed to an export request.
    pub(crate) fn sending(&self, n: usize, from_queue: bool) {
        if self.closed.load(Ordering::Relaxed) {
            // Counted as dropped when export was shut down.
            return;
        }
        if from_queue {
            sub(&self.queued, n);
        }
        self.in_flight.fetch_add(n, Ordering::AcqRel);
    }

    /// The export request of `n` items finished with `result`.
    pub(crate) fn sent(&self, n: usize, result: &opentelemetry_sdk::error::OTelSdkResult) {
        if self.closed.load(Ordering::Relaxed) {
            // A request that outlived the shutdown: its items were counted as dropped then.
            return;
        }
        sub(&self.in_flight, n);
        match result {
            Ok(()) => {
                self.exported.fetch_add(n as u64, Ordering::Relaxed);
                self.last_success_ms.store(now_ms(), Ordering::Relaxed);
                self.failing_since_ms.store(0, Ordering::Relaxed);
            }
            Err(e) => {
                let now = now_ms();
                self.last_failure_ms.store(now, Ordering::Relaxed);
                let _ = self.failing_since_ms.compare_exchange(
                    0,
                    now,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                self.dropped_export_failed
                    .fetch_add(n as u64, Ordering::Relaxed);
                self.failed_exports.fetch_add(1, Ordering::Relaxed);
                let mut message = e.to_string();
                if message.contains("network error") {
                    if let Some(cause) = self.transport_error.swap(None) {
                        message = format!("{message} ({cause})");
                    }
                }
                self.last_error.store(Some(Arc::new(message)));
            }
        }
    }

    /// A measurement was refused: its instrument would have been past
    /// `telemetry.metrics.max_instruments`.
    pub(crate) fn instrument_limit(&self) {
        self.dropped_instrument_limit
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A measurement's labels were folded into the `otel.metric.overflow` series.
    pub(crate) fn cardinality_limit(&self) {
        self.dropped_cardinality_limit
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Export is over: whatever is still queued or in flight will not be delivered, and later
    /// items are dropped at once.
    pub(crate) fn close(&self) -> u64 {
        self.closed.store(true, Ordering::Relaxed);
        let lost = self.queued.swap(0, Ordering::AcqRel) + self.in_flight.swap(0, Ordering::AcqRel);
        self.dropped_shutdown
            .fetch_add(lost as u64, Ordering::Relaxed);
        lost as u64
    }

    fn snapshot(&self) -> SignalStats {
        SignalStats {
            queued: self.queued.load(Ordering::Relaxed) as u64,
            in_flight: self.in_flight.load(Ordering::Relaxed) as u64,
            exported: self.exported.load(Ordering::Relaxed),
            dropped_queue_full: self.dropped_queue_full.load(Ordering::Relaxed),
            dropped_export_failed: self.dropped_export_failed.load(Ordering::Relaxed),
            dropped_shutdown: self.dropped_shutdown.load(Ordering::Relaxed),
            dropped_instrument_limit: self.dropped_instrument_limit.load(Ordering::Relaxed),
            dropped_cardinality_limit: self.dropped_cardinality_limit.load(Ordering::Relaxed),
            failed_exports: self.failed_exports.load(Ordering::Relaxed),
            last_error: self.last_error.load_full().map(|e| (*e).clone()),
            last_success_ms: nonzero(self.last_success_ms.load(Ordering::Relaxed)),
            last_error_ms: nonzero(self.last_failure_ms.load(Ordering::Relaxed)),
            failing_since_ms: nonzero(self.failing_since_ms.load(Ordering::Relaxed)),
        }
    }
}

fn nonzero(ms: u64) -> Option<u64> {
    (ms != 0).then_some(ms)
}

fn sub(counter: &AtomicUsize, n: usize) {
    let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
        Some(v.saturating_sub(n))
    });
}

static TRACES: Counters = Counters::new();
static METRICS: Counters = Counters::new();
static LOGS: Counters = Counters::new();

pub(crate) fn counters(signal: Signal) -> &'static Counters {
    match signal {
        Signal::Traces => &TRACES,
        Signal::Metrics => &METRICS,
        Signal::Logs => &LOGS,
    }
}

/// The cause of a failed HTTP request of `signal` (the error chain, URL credentials hidden),
/// added to the export error that follows it.
pub(crate) fn transport_error(signal: Signal, chain: String) {
    counters(signal)
        .transport_error
        .store(Some(Arc::new(chain)));
}

/// The counts of one signal at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignalStats {
    /// Waiting in the export queue now.
    pub queued: u64,
    /// In an export request that has not finished yet.
    pub in_flight: u64,
    /// Delivered (the collector accepted the request).
    pub exported: u64,
    /// Dropped because the queue was full (`telemetry.otlp.max_queue_size`).
    pub dropped_queue_full: u64,
    /// Lost in an export request that failed (collector down, refused, timed out).
    pub dropped_export_failed: u64,
    /// Still queued or in flight when export was shut down, or recorded afterwards.
    pub dropped_shutdown: u64,
    /// Metrics only: measurements refused because `telemetry.metrics.max_instruments` distinct
    /// instruments were in use.
    pub dropped_instrument_limit: u64,
    /// Metrics only: measurements whose labels were folded into the `otel.metric.overflow`
    /// series ([`crate::metrics::CARDINALITY_LIMIT`] label sets per instrument).
    pub dropped_cardinality_limit: u64,
    /// Export requests that failed.
    pub failed_exports: u64,
    /// The error of the last failed export request.
    pub last_error: Option<String>,
    /// When an export request last succeeded, milliseconds since the Unix epoch.
    pub last_success_ms: Option<u64>,
    /// When an export request last failed, milliseconds since the Unix epoch.
    pub last_error_ms: Option<u64>,
    /// When the current run of failed export requests began (the first failure after the last
    /// success), milliseconds since the Unix epoch; `None` while the last request succeeded.
    pub failing_since_ms: Option<u64>,
}

impl SignalStats {
    /// Everything dropped, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full
            + self.dropped_export_failed
            + self.dropped_shutdown
            + self.dropped_instrument_limit
            + self.dropped_cardinality_limit
    }

    /// Queued or in flight: not delivered yet.
    pub fn pending(&self) -> u64 {
        self.queued + self.in_flight
    }
}

/// The counts of every signal, see [`export_stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Spans.
    pub traces: SignalStats,
    /// Metric streams (counted per export request).
    pub metrics: SignalStats,
    /// Log records.
    pub logs: SignalStats,
}

impl ExportStats {
    /// The counts of `signal`.
    pub fn get(&self, signal: Signal) -> &SignalStats {
        match signal {
            Signal::Traces => &self.traces,
            Signal::Metrics => &self.metrics,
            Signal::Logs => &self.logs,
        }
    }
}

/// The export books of this process so far, per signal (all zero before `init` or without
/// export).
///
/// ```
/// let books = tasker_telemetry::stats::export_stats();
/// assert_eq!(books.traces.dropped(), 0);
/// ```
pub fn export_stats() -> ExportStats {
    ExportStats {
        traces: TRACES.snapshot(),
        metrics: METRICS.snapshot(),
        logs: LOGS.snapshot(),
    }
}

/// Closes the books of every signal at shutdown; returns what was lost, per signal.
pub(crate) fn close() -> [u64; 3] {
    Signal::ALL.map(|s| counters(s).close())
}

/// Labels (`signal`, `reason`) and values of the `tasker_telemetry_dropped_total` series.
pub(crate) fn dropped_series() -> Vec<(&'static str, &'static str, u64)> {
    let s = export_stats();
    let mut out = Vec::with_capacity(10);
    for signal in Signal::ALL {
        let c = s.get(signal);
        let name = signal.as_str();
        if signal != Signal::Metrics {
            out.push((name, "queue_full", c.dropped_queue_full));
        }
        out.push((name, "export_failed", c.dropped_export_failed));
        if signal == Signal::Metrics {
            out.push((name, "instrument_limit", c.dropped_instrument_limit));
            out.push((name, "cardinality_limit", c.dropped_cardinality_limit));
        } else {
            out.push((name, "shutdown", c.dropped_shutdown));
        }
    }
    out.push((
        "attributes",
        "count_limit",
        ATTRIBUTES_DROPPED.load(Ordering::Relaxed),
    ));
    out
}

/// One line describing what is pending and what was dropped, for flush/shutdown errors.
pub(crate) fn describe(before: &ExportStats, after: &ExportStats, include_pending: bool) -> String {
    let mut parts = Vec::new();
    for signal in Signal::ALL {
        let (b, a) = (before.get(signal), after.get(signal));
        if include_pending && a.pending() > 0 {
            parts.push(format!(
                "{} {} not delivered yet ({} queued, {} in an export request)",
                a.pending(),
                signal.items(),
                a.queued,
                a.in_flight
            ));
        }
        let failed = a
            .dropped_export_failed
            .saturating_sub(b.dropped_export_failed);
        if failed > 0 {
            parts.push(format!(
                "{failed} {} lost in failed export requests ({})",
                signal.items(),
                a.last_error.as_deref().unwrap_or("unknown error")
            ));
        }
    }
    parts.join("; ")
}

struct Report {
    /// When the last warning was logged (milliseconds since the Unix epoch; 0 = never).
    last_ms: AtomicU64,
    /// Dropped totals per signal at the last warning.
    reported: [AtomicU64; 3],
    interval_ms: AtomicU64,
    queue_size: AtomicUsize,
    /// Where each signal goes (traces, metrics, logs), when it is exported over OTLP.
    targets: [ArcSwapOption<ReportTarget>; 3],
    /// The OTLP-JSON file of the spans, when they go to one.
    file: ArcSwapOption<String>,
}

/// Where one signal is exported, for the drop warning.
#[derive(Debug, Clone)]
pub(crate) struct ReportTarget {
    /// The URL, fit to print ([`crate::redaction::display_url`]).
    pub(crate) url: String,
    /// The protocol.
    pub(crate) protocol: Protocol,
}

static REPORT: Report = Report {
    last_ms: AtomicU64::new(0),
    reported: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
    interval_ms: AtomicU64::new(60_000),
    queue_size: AtomicUsize::new(0),
    targets: [
        ArcSwapOption::const_empty(),
        ArcSwapOption::const_empty(),
        ArcSwapOption::const_empty(),
    ],
    file: ArcSwapOption::const_empty(),
};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(1)
        .max(1)
}

/// Sets how often drops are reported and what the warning names: where each signal goes
/// (traces, metrics, logs), the spans' file, the queue size.
pub(crate) fn configure_reports(
    interval: Duration,
    targets: [Option<ReportTarget>; 3],
    file: Option<String>,
    queue_size: usize,
) {
    REPORT
        .interval_ms
        .store(interval.as_millis() as u64, Ordering::Relaxed);
    for (slot, target) in REPORT.targets.iter().zip(targets) {
        slot.store(target.map(Arc::new));
    }
    REPORT.file.store(file.map(Arc::new));
    REPORT.queue_size.store(queue_size, Ordering::Relaxed);
}

/// The capacity of the span and log export queues (`telemetry.otlp.max_queue_size`) of the
/// running export; 0 before it starts.
pub(crate) fn queue_capacity() -> usize {
    REPORT.queue_size.load(Ordering::Relaxed)
}

/// Milliseconds since the Unix epoch (never 0).
pub(crate) fn now_unix_ms() -> u64 {
    now_ms()
}

/// The port of an `http(s)://host:port/...` URL, when it is given.
fn port_of(url: &str) -> Option<u16> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = host_port.rsplit_once(':')?;
    if host.ends_with(']') || !host.contains(']') {
        port.parse().ok()
    } else {
        None
    }
}

/// A likely port/protocol mismatch: gRPC to 4318 or HTTP to 4317 (the OTLP conventions).
pub(crate) fn port_hint(url: &str, protocol: Protocol) -> Option<String> {
    let port = port_of(url)?;
    let other = match protocol {
        Protocol::Grpc => Protocol::HttpProtobuf,
        Protocol::HttpProtobuf | Protocol::HttpJson => Protocol::Grpc,
    };
    (port == other.default_port() && port != protocol.default_port()).then(|| {
        format!(
            "port {port} is the OTLP {} port but the protocol is {}: set OTEL_EXPORTER_OTLP_PROTOCOL={} (telemetry.otlp.protocol) or use port {}",
            if other == Protocol::Grpc { "gRPC" } else { "HTTP" },
            protocol.as_str(),
            other.as_str(),
            protocol.default_port(),
        )
    })
}

/// What to do about the export error `error` of requests to `url` with `protocol`: a sentence
/// for the drop warning. Header values are never part of it.
pub(crate) fn advice(error: &str, url: &str, protocol: Protocol) -> String {
    // URLs in the error (the request's, with its port) must not read as status codes: a port
    // such as 40349 holds "403".
    let e = without_urls(&error.to_ascii_lowercase());
    let has = |needles: &[&str]| {
        needles.iter().any(|n| {
            if n.bytes().all(|b| b.is_ascii_digit()) {
                has_number(&e, n)
            } else {
                e.contains(n)
            }
        })
    };
    if has(&[
        "unknownissuer",
        "unknown issuer",
        "invalid peer certificate",
        "certificate verify",
        "self-signed",
        "self signed",
        "notvalidforname",
        "not valid for name",
        "expired",
    ]) {
        return format!(
            "the collector's TLS certificate at {url} is not trusted: set OTEL_EXPORTER_OTLP_CERTIFICATE (telemetry.otlp.certificate, or the per-signal variable) to the PEM file of the CA that signed it, and check that the host name matches the certificate"
        );
    }
    if has(&[
        "certificaterequired",
        "certificate required",
        "handshake failure",
        "handshakefailure",
        "bad certificate",
        "badcertificate",
        "unknown ca",
        "unknownca",
    ]) {
        return format!(
            "the collector at {url} refused the TLS handshake, probably this client's certificate: set OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY (telemetry.otlp.client_certificate / client_key) to a certificate the collector trusts"
        );
    }
    if has(&[
        "401",
        "403",
        "unauthenticated",
        "permission denied",
        "permissiondenied",
        "unauthorized",
        "forbidden",
    ]) {
        return format!(
            "the collector at {url} refused the credentials (401/403): check the headers of OTEL_EXPORTER_OTLP_HEADERS (telemetry.otlp.headers, or the per-signal ones; values are not shown)"
        );
    }
    if protocol == Protocol::Grpc && has(&["unimplemented"]) {
        return format!(
            "the server at {url} does not serve OTLP over gRPC (Unimplemented), probably an HTTP receiver: check that OTEL_EXPORTER_OTLP_PROTOCOL matches the port (gRPC listens on 4317, HTTP on 4318 by convention)"
        );
    }
    if has(&["404", "not found"]) {
        return format!(
            "the collector at {url} has nothing at that path (404): check the endpoint's path (OTEL_EXPORTER_OTLP_ENDPOINT is a base URL to which /v1/<signal> is appended; a per-signal OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT is used as is)"
        );
    }
    if let Some(hint) = port_hint(url, protocol) {
        return format!(
            "the collector at {url} did not answer in {}: {hint}",
            protocol.as_str()
        );
    }
    if has(&[
        "invalid http version",
        "received unexpected message from connection",
        "h2 protocol",
        "frame with invalid size",
        "http2 error",
        "invalid compression flag",
        "protocol error",
        "content-type",
        "invalid content type",
    ]) && !has(&["connection refused", "timed out", "timeout", "deadline"])
    {
        return format!(
            "the collector at {url} did not answer in {}: check that OTEL_EXPORTER_OTLP_PROTOCOL matches the port (gRPC listens on 4317, HTTP on 4318 by convention)",
            protocol.as_str()
        );
    }
    format!("the collector at {url} is unreachable or too slow")
}

/// `text` with every `scheme://…` token (up to whitespace, a quote or a closing bracket) removed.
fn without_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let start = rest[..at]
            .rfind(|c: char| !c.is_ascii_alphanumeric() && c != '+' && c != '-' && c != '.')
            .map_or(0, |i| i + 1);
        out.push_str(&rest[..start]);
        let after = &rest[at + 3..];
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | ']' | '"' | '\'' | '>'))
            .unwrap_or(after.len());
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Whether `text` holds `number` as a number of its own (not inside a longer one).
fn has_number(text: &str, number: &str) -> bool {
    let bytes = text.as_bytes();
    text.match_indices(number).any(|(i, m)| {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + m.len()).copied();
        !before.is_some_and(|b| b.is_ascii_digit()) && !after.is_some_and(|b| b.is_ascii_digit())
    })
}

/// Logs one warning if something was dropped since the last warning and the last one is at
/// least `telemetry.otlp.drop_warning_interval_ms` old. Called after each export request (on
/// the exporters' threads, never on the caller's).
pub(crate) fn maybe_report() {
    let interval = REPORT.interval_ms.load(Ordering::Relaxed);
    let last = REPORT.last_ms.load(Ordering::Acquire);
    let now = now_ms();
    if last != 0 && now < last.saturating_add(interval) {
        return;
    }
    let s = export_stats();
    let totals = Signal::ALL.map(|sig| s.get(sig).dropped());
    let new: Vec<u64> = totals
        .iter()
        .zip(&REPORT.reported)
        .map(|(t, seen)| t.saturating_sub(seen.load(Ordering::Relaxed)))
        .collect();
    if new.iter().all(|n| *n == 0) {
        return;
    }
    // One thread reports; the others see the new time and return.
    if REPORT
        .last_ms
        .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    for (seen, total) in REPORT.reported.iter().zip(totals) {
        seen.store(total, Ordering::Relaxed);
    }
    let queue_size = REPORT.queue_size.load(Ordering::Relaxed);
    let mut what = Vec::new();
    let mut why = Vec::new();
    let mut endpoints = Vec::new();
    for ((signal, n), target) in Signal::ALL.iter().zip(&new).zip(&REPORT.targets) {
        if *n == 0 {
            continue;
        }
        what.push(format!("{n} {}", signal.items()));
        let target = target.load_full();
        let file = REPORT.file.load_full();
        let url = match (&target, &file) {
            (Some(t), _) => t.url.clone(),
            (None, Some(f)) if *signal == Signal::Traces => f.to_string(),
            _ => continue,
        };
        if !endpoints.contains(&url) {
            endpoints.push(url.clone());
        }
        let stats = s.get(*signal);
        match (&stats.last_error, &target) {
            (Some(e), Some(t)) => why.push(format!(
                "{}: {} (last error: {e})",
                signal.as_str(),
                advice(e, &t.url, t.protocol)
            )),
            (Some(e), None) => why.push(format!("{}: {url}: {e}", signal.as_str())),
            (None, _) if stats.dropped_queue_full > 0 => why.push(format!(
                "{}: the collector at {url} is too slow for the load",
                signal.as_str()
            )),
            (None, _) => {}
        }
    }
    tracing::warn!(
        target: "tasker_telemetry::export",
        dropped_spans = new[0],
        dropped_metric_streams = new[1],
        dropped_log_records = new[2],
        total_dropped_spans = totals[0],
        endpoint = %endpoints.join(", "),
        "telemetry dropped since the last report: {}; {}; or telemetry.otlp.max_queue_size ({queue_size}) is too small for the load (counted in tasker_telemetry_dropped_total; next report in {}s at the earliest)",
        what.join(", "),
        if why.is_empty() { format!("the collector at {} is unreachable or too slow", endpoints.join(", ")) } else { why.join("; ") },
        interval as f64 / 1000.0,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_admits_up_to_capacity_and_counts_the_rest() {
        let c = Counters::new();
        let admitted = (0..10).filter(|_| c.admit(4)).count();
        assert_eq!(admitted, 4);
        let s = c.snapshot();
        assert_eq!((s.queued, s.dropped_queue_full), (4, 6));
        c.sending(3, true);
        assert_eq!(c.snapshot().queued, 1);
        assert!(c.admit(4), "room again once a batch left the queue");
        c.sent(3, &Ok(()));
        c.sending(2, true);
        c.sent(
            2,
            &Err(opentelemetry_sdk::error::OTelSdkError::InternalFailure(
                "refused".into(),
            )),
        );
        let s = c.snapshot();
        assert_eq!(
            (s.exported, s.dropped_export_failed, s.failed_exports),
            (3, 2, 1)
        );
        assert_eq!(s.last_error.as_deref(), Some("Operation failed: refused"));
        assert_eq!(s.pending(), 0);
        assert!(c.admit(4));
        assert_eq!(c.close(), 1, "the queued item is lost at shutdown");
        assert!(!c.admit(4), "nothing is admitted after shutdown");
        let s = c.snapshot();
        assert_eq!(s.dropped_shutdown, 2);
        assert_eq!(s.dropped(), 6 + 2 + 2);
    }

    #[test]
    fn export_errors_get_advice_a_user_can_act_on() {
        let http = Protocol::HttpProtobuf;
        let url = "https://collector:4318/v1/traces";
        let cases: &[(&str, &str, Protocol, &str)] = &[
            ("HTTP export failed: network error (error sending request for url (https://collector:4318/v1/traces): client error (Connect): invalid peer certificate: UnknownIssuer)", url, http, "is not trusted: set OTEL_EXPORTER_OTLP_CERTIFICATE"),
            ("TonicTracesClient export failed: transport error: invalid peer certificate: UnknownIssuer", url, Protocol::Grpc, "is not trusted"),
            ("HTTP export failed with status 401", url, http, "refused the credentials (401/403)"),
            // A port holding "403" is not a status (the test that found it used a random port).
            ("HTTP export failed: network error (error sending request for url (http://127.0.0.1:40349/v1/traces): client error (SendRequest): received unexpected message from connection)", "http://127.0.0.1:40349/v1/traces", http, "OTEL_EXPORTER_OTLP_PROTOCOL matches the port"),
            ("TonicTracesClient export failed with gRPC code: Unauthenticated", url, Protocol::Grpc, "refused the credentials"),
            ("HTTP export failed with status 404", url, http, "has nothing at that path (404)"),
            ("TonicTracesClient export failed with gRPC code: Unimplemented", url, Protocol::Grpc, "does not serve OTLP over gRPC"),
            ("network error (client error (SendRequest): invalid HTTP version parsed)", "http://c:9999", http, "check that OTEL_EXPORTER_OTLP_PROTOCOL matches the port"),
            ("network error (Connection refused)", "http://c:4317", http, "port 4317 is the OTLP gRPC port but the protocol is http/protobuf"),
            ("transport error", "http://c:4318", Protocol::Grpc, "port 4318 is the OTLP HTTP port but the protocol is grpc"),
            ("network error (Connection refused)", "http://c:9999", http, "is unreachable or too slow"),
        ];
        for (error, url, protocol, expected) in cases {
            let advice = advice(error, url, *protocol);
            assert!(advice.contains(expected), "{error}: {advice}");
        }
        assert_eq!(port_of("https://user:pw@[::1]:4317/x"), Some(4317));
        assert_eq!(port_of("http://host/v1/traces"), None);
        assert!(port_hint("http://c:4318", Protocol::HttpJson).is_none());
    }

    #[test]
    fn concurrent_admission_never_exceeds_capacity() {
        let c = std::sync::Arc::new(Counters::new());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || (0..1000).filter(|_| c.admit(100)).count())
            })
            .collect();
        let admitted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(admitted, 100);
        assert_eq!(c.snapshot().dropped_queue_full, 8000 - 100);
    }
}
