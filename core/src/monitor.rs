//! Monitored operations: a named piece of work whose duration and process memory growth are
//! measured. On finish it records `tasker_monitored_operation_duration{operation}` (ms), emits
//! `slow_operation` (and counts `tasker_slow_operations_total`) when it took longer than the
//! threshold of its name ([`crate::slow_operations`]), and emits `memory_spike` at WARN (fields
//! `operation`, `memory_delta_mb`, `threshold_mb`, `correlation_id`) and counts
//! `tasker_memory_spikes_total{operation}` when the resident set size grew by more than
//! `telemetry.slow_operations.memory_threshold_mb` MiB.
//!
//! The memory delta is the process's resident set size after minus before (`/proc/self/statm`),
//! so other threads' allocations count too, and memory freed to the allocator but not returned to
//! the system still counts as resident. Off Linux it is `None` and no `memory_spike` is emitted.
//!
//! A guard in Rust, a start/finish pair with plain values for the bindings:
//!
//! ```
//! use tasker_telemetry::monitor::{self, Monitor};
//!
//! let _m = monitor::start("import_batch"); // reports when dropped
//!
//! let total = monitor::run("sum", || (1..=10).sum::<i32>());
//! assert_eq!(total, 55);
//!
//! let report = Monitor::start("resize_images").finish();
//! assert!(report.duration_ms >= 0.0);
//! assert_eq!(report.memory_delta_bytes.is_some(), cfg!(target_os = "linux"));
//! ```

use std::time::{Duration, Instant};

use opentelemetry::KeyValue;

use crate::correlation::Correlation;
use crate::metrics::{self, catalogue, InstrumentKind};
use crate::slow_operations::{self, TARGET};

/// Bytes in a MiB, the unit of `telemetry.slow_operations.memory_threshold_mb`.
const MIB: f64 = 1024.0 * 1024.0;

/// A monitored operation in progress; reports when [`finish`](Self::finish)ed or dropped.
#[derive(Debug)]
#[must_use = "the operation is measured until the monitor is finished or dropped"]
pub struct Monitor {
    name: String,
    started: Instant,
    rss_before: Option<u64>,
    done: bool,
}

/// What a finished [`Monitor`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonitorReport {
    /// Wall time, milliseconds.
    pub duration_ms: f64,
    /// Resident set size after minus before, bytes (`None` off Linux).
    pub memory_delta_bytes: Option<i64>,
    /// Over its slow-operation threshold (a `slow_operation` event was emitted).
    pub slow: bool,
    /// Over the memory threshold (a `memory_spike` event was emitted).
    pub memory_spike: bool,
}

/// Starts monitoring the operation `name`; see [`Monitor::start`].
pub fn start(name: impl Into<String>) -> Monitor {
    Monitor::start(name)
}

/// Runs `f` as the monitored operation `name` and returns its value (the report is emitted also
/// when `f` panics, as the monitor is dropped while unwinding).
pub fn run<T>(name: impl Into<String>, f: impl FnOnce() -> T) -> T {
    let _monitor = Monitor::start(name);
    f()
}

impl Monitor {
    /// Starts monitoring: notes the time and the resident set size.
    pub fn start(name: impl Into<String>) -> Monitor {
        let rss_before = crate::process::resident_bytes();
        Monitor {
            name: name.into(),
            started: Instant::now(),
            rss_before,
            done: false,
        }
    }

    /// The operation's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Ends the operation: records and reports it (see the [module](self)) and returns what
    /// was measured.
    pub fn finish(mut self) -> MonitorReport {
        self.report()
    }

    fn report(&mut self) -> MonitorReport {
        self.done = true;
        let elapsed = self.started.elapsed();
        let rss_after = self.rss_before.and(crate::process::resident_bytes());
        let memory_delta_bytes = self
            .rss_before
            .zip(rss_after)
            .map(|(before, after)| after as i64 - before as i64);
        let name = self.name.as_str();
        let duration_ms = slow_operations::millis(elapsed);
        let labels = [KeyValue::new("operation", name.to_owned())];
        let _ = metrics::record(
            InstrumentKind::Histogram,
            catalogue::MONITORED_OPERATION_DURATION.name,
            duration_ms,
            &labels,
        );
        let slow = slow_operations::slow_threshold(name, elapsed);
        let memory_threshold_mb = slow_operations::memory_threshold_mb();
        let spike = memory_delta_bytes.filter(|delta| {
            memory_threshold_mb > 0 && *delta as f64 > memory_threshold_mb as f64 * MIB
        });
        if slow.is_some() || spike.is_some() {
            let correlation = Correlation::current();
            if let Some(threshold) = slow {
                slow_operations::report_slow(name, elapsed, threshold, correlation.as_deref());
            }
            if let Some(delta) = spike {
                report_spike(name, delta, memory_threshold_mb, correlation.as_deref());
            }
        }
        MonitorReport {
            duration_ms,
            memory_delta_bytes,
            slow: slow.is_some(),
            memory_spike: spike.is_some(),
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        if !self.done {
            self.report();
        }
    }
}

fn report_spike(operation: &str, delta: i64, threshold_mb: u64, correlation: Option<&Correlation>) {
    slow_operations::reporting(|| {
        let memory_delta_mb = (delta as f64 / MIB * 1000.0).round() / 1000.0;
        let _ = metrics::record(
            InstrumentKind::Counter,
            catalogue::MEMORY_SPIKES_TOTAL.name,
            1.0,
            &[KeyValue::new("operation", operation.to_owned())],
        );
        tracing::warn!(
            name: "memory_spike",
            target: TARGET,
            operation,
            memory_delta_mb,
            threshold_mb,
            correlation_id = correlation.map(|c| tracing::field::display(c.correlation_id)),
            "memory_spike: {operation} grew resident memory by {memory_delta_mb} MiB (threshold {threshold_mb} MiB)"
        );
    });
}

impl MonitorReport {
    /// [`duration_ms`](Self::duration_ms) as a [`Duration`].
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration_ms.max(0.0) / 1000.0)
    }
}
