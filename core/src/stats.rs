//! Counts of what this process handed to its exporters, for checks such as "the collector
//! received every span the process created" (tests, the example orchestrator's report).

use std::sync::atomic::{AtomicU64, Ordering};

static SPANS_STARTED: AtomicU64 = AtomicU64::new(0);
static SPANS_ENDED: AtomicU64 = AtomicU64::new(0);

/// A snapshot of the process's export counters (since start; forked children start at zero).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TelemetryStats {
    /// Sampled spans started while export was configured.
    pub spans_started: u64,
    /// Sampled spans ended and handed to the export queue.
    pub spans_ended: u64,
}

/// The counters now.
///
/// ```
/// let before = tasker_telemetry::stats::stats();
/// assert!(before.spans_ended <= before.spans_started);
/// ```
pub fn stats() -> TelemetryStats {
    TelemetryStats {
        spans_started: SPANS_STARTED.load(Ordering::Relaxed),
        spans_ended: SPANS_ENDED.load(Ordering::Relaxed),
    }
}

pub(crate) fn span_started() {
    SPANS_STARTED.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn span_ended() {
    SPANS_ENDED.fetch_add(1, Ordering::Relaxed);
}

/// Called in a forked child: the parent's spans are the parent's to report.
pub(crate) fn reset() {
    SPANS_STARTED.store(0, Ordering::Relaxed);
    SPANS_ENDED.store(0, Ordering::Relaxed);
}
