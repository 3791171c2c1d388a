//! Slow operations: every span (Rust `tracing` spans and the bindings' foreign spans alike) that
//! ends later than its threshold after it started emits one `slow_operation` event at WARN
//! (fields `operation` = the span's name, `duration_ms`, `threshold_ms`, and `correlation_id` when
//! the span carries one) and counts in `tasker_slow_operations_total{operation}`.
//!
//! Thresholds: `telemetry.slow_operations.threshold_ms` (`TASKER_SLOW_THRESHOLD_MS`, default
//! 1000; `0` disables), per span name `telemetry.slow_operations.overrides`
//! (`{ execute_step = 5000 }`; `0` disables that name). They are installed from the
//! configuration by [`crate::init_logging`] and [`crate::init`] and can be changed at run time
//! ([`set_threshold_ms`], [`set_override`], [`configure`]); the check reads them from atomics
//! and an [`ArcSwap`] snapshot, never a lock.
//!
//! The duration is wall time from the span's creation to its close (when its last handle is
//! dropped), idle time included (an awaiting future's span counts the wait). A span that no
//! output records (below both the console and the export filter) is not timed: it does not exist
//! for the subscriber.
//!
//! Cost per span while a threshold is set: two reads of the coarse monotonic clock and one
//! 8-byte span extension (the start time); nothing else unless the threshold is passed. With
//! every threshold at `0`, one atomic load at the start and one at the end. On Linux the clock
//! is `CLOCK_MONOTONIC_COARSE`, whose resolution is the scheduler tick (1 to 4 ms): durations
//! are measured to within one tick, which matters only for thresholds of a few milliseconds.
//!
//! ```
//! use tasker_telemetry::slow_operations;
//!
//! slow_operations::set_threshold_ms(250);
//! slow_operations::set_override("execute_step", Some(5000));
//! assert_eq!(slow_operations::threshold_for("execute_step"), 5000);
//! assert_eq!(slow_operations::threshold_for("anything_else"), 250);
//! slow_operations::set_override("execute_step", None);
//! assert_eq!(slow_operations::threshold_for("execute_step"), 250);
//! ```

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Duration;
#[cfg(not(target_os = "linux"))]
use std::time::Instant;

use arc_swap::ArcSwap;
use opentelemetry::KeyValue;
use tracing::dispatcher::WeakDispatch;
use tracing::span::{Attributes, Id};
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::config::SlowOperationsConfig;
use crate::correlation::Correlation;
use crate::metrics::{self, catalogue, InstrumentKind};

/// The target of the `slow_operation` and `memory_spike` events (for filters:
/// `tasker_telemetry::slow_operations=off` silences them; the counter still counts).
pub const TARGET: &str = "tasker_telemetry::slow_operations";

/// The thresholds in force.
#[derive(Debug, Clone, Default)]
struct Thresholds {
    default_ms: u64,
    overrides: HashMap<String, u64>,
    memory_threshold_mb: u64,
}

impl Thresholds {
    fn for_name(&self, name: &str) -> u64 {
        self.overrides.get(name).copied().unwrap_or(self.default_ms)
    }
}

static THRESHOLDS: LazyLock<ArcSwap<Thresholds>> = LazyLock::new(|| {
    let defaults = SlowOperationsConfig::default();
    ArcSwap::from_pointee(Thresholds {
        default_ms: defaults.threshold_ms,
        overrides: HashMap::new(),
        memory_threshold_mb: defaults.memory_threshold_mb,
    })
});
/// The smallest threshold in force, in nanoseconds: a span that ends sooner is not slow under
/// any threshold. `u64::MAX` when every threshold is `0` (spans are not timed at all).
static GATE_NS: AtomicU64 = AtomicU64::new(1_000_000_000);
/// The default threshold is `0` but some names have one: only those spans are timed.
static NAMED_ONLY: AtomicBool = AtomicBool::new(false);
/// Serialises changes (read, modify, store the snapshot and the gate together).
static UPDATE: Mutex<()> = Mutex::new(());

thread_local! {
    /// Set while this thread reports a slow operation: nothing it does is reported again.
    static REPORTING: Cell<bool> = const { Cell::new(false) };
}

fn update(change: impl FnOnce(&mut Thresholds)) {
    let _lock = UPDATE.lock().unwrap_or_else(|e| e.into_inner());
    let mut next = Thresholds::clone(&THRESHOLDS.load());
    change(&mut next);
    let gate = std::iter::once(next.default_ms)
        .chain(next.overrides.values().copied())
        .filter(|ms| *ms > 0)
        .min()
        .map_or(u64::MAX, |ms| ms.saturating_mul(1_000_000));
    NAMED_ONLY.store(next.default_ms == 0 && gate != u64::MAX, Ordering::Relaxed);
    THRESHOLDS.store(Arc::new(next));
    GATE_NS.store(gate, Ordering::Relaxed);
}

/// Slow-operation thresholds as settings that change at run time
/// ([`crate::runtime::set`], `SIGHUP` reload, the bindings' `set_runtime`).
pub(crate) const RELOADABLE: crate::runtime::Reloadable = crate::runtime::Reloadable {
    keys: &[
        "telemetry.slow_operations.threshold_ms",
        "telemetry.slow_operations.overrides",
        "telemetry.slow_operations.memory_threshold_mb",
    ],
    take: |from, into| into.slow_operations = from.slow_operations.clone(),
    apply: |old, new| {
        let (old, new) = (&old.slow_operations, &new.slow_operations);
        if old == new {
            return Vec::new();
        }
        configure(new);
        let mut changes = Vec::new();
        if old.threshold_ms != new.threshold_ms {
            changes.push(format!(
                "telemetry.slow_operations.threshold_ms: {} → {}",
                old.threshold_ms, new.threshold_ms
            ));
        }
        if old.overrides != new.overrides {
            changes.push(format!(
                "telemetry.slow_operations.overrides: {:?} → {:?}",
                old.overrides, new.overrides
            ));
        }
        if old.memory_threshold_mb != new.memory_threshold_mb {
            changes.push(format!(
                "telemetry.slow_operations.memory_threshold_mb: {} → {}",
                old.memory_threshold_mb, new.memory_threshold_mb
            ));
        }
        changes
    },
};

/// Applies a whole `[telemetry.slow_operations]` configuration (what `init_logging` and `init`
/// do with theirs): replaces the default threshold, every override and the memory threshold.
pub fn configure(config: &SlowOperationsConfig) {
    update(|t| {
        t.default_ms = config.threshold_ms;
        t.overrides = config
            .overrides
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        t.memory_threshold_mb = config.memory_threshold_mb;
    });
}

/// The thresholds in force, as a configuration.
pub fn current() -> SlowOperationsConfig {
    let t = THRESHOLDS.load();
    SlowOperationsConfig {
        threshold_ms: t.default_ms,
        overrides: t.overrides.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        memory_threshold_mb: t.memory_threshold_mb,
    }
}

/// Sets the default threshold in milliseconds (`telemetry.slow_operations.threshold_ms`);
/// `0` disables the check for every span without an override.
pub fn set_threshold_ms(ms: u64) {
    update(|t| t.default_ms = ms);
}

/// Sets the threshold of spans named `name` (`Some(0)` disables the check for them), or removes
/// it (`None`: the default threshold applies again).
pub fn set_override(name: &str, ms: Option<u64>) {
    update(|t| match ms {
        Some(ms) => {
            t.overrides.insert(name.to_owned(), ms);
        }
        None => {
            t.overrides.remove(name);
        }
    });
}

/// Sets the memory-spike threshold of [`crate::monitor`] in MiB
/// (`telemetry.slow_operations.memory_threshold_mb`); `0` disables it.
pub fn set_memory_threshold_mb(mb: u64) {
    update(|t| t.memory_threshold_mb = mb);
}

/// The default threshold in milliseconds (`0`: disabled).
pub fn threshold_ms() -> u64 {
    THRESHOLDS.load().default_ms
}

/// The threshold of spans named `name` in milliseconds: its override, else the default
/// (`0`: disabled).
pub fn threshold_for(name: &str) -> u64 {
    THRESHOLDS.load().for_name(name)
}

/// The memory-spike threshold in MiB (`0`: disabled).
pub fn memory_threshold_mb() -> u64 {
    THRESHOLDS.load().memory_threshold_mb
}

/// Milliseconds with microsecond precision, for the event and the metrics.
pub(crate) fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

/// Whether an operation named `name` that took `elapsed` is slow: its threshold when it is.
pub(crate) fn slow_threshold(name: &str, elapsed: Duration) -> Option<u64> {
    let threshold = threshold_for(name);
    (threshold > 0 && elapsed > Duration::from_millis(threshold)).then_some(threshold)
}

/// Runs `f` unless this thread is already reporting (an event or metric of a report that would
/// report again).
pub(crate) fn reporting(f: impl FnOnce()) {
    if REPORTING.with(|r| r.replace(true)) {
        return;
    }
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            REPORTING.with(|r| r.set(false));
        }
    }
    let _reset = Reset;
    f();
}

/// Emits the `slow_operation` event and counts it.
pub(crate) fn report_slow(
    operation: &str,
    elapsed: Duration,
    threshold_ms: u64,
    correlation: Option<&Correlation>,
) {
    reporting(|| {
        let duration_ms = millis(elapsed);
        let _ = metrics::record(
            InstrumentKind::Counter,
            catalogue::SLOW_OPERATIONS_TOTAL.name,
            1.0,
            &[KeyValue::new("operation", operation.to_owned())],
        );
        tracing::warn!(
            name: "slow_operation",
            target: TARGET,
            operation,
            duration_ms,
            threshold_ms,
            correlation_id = correlation.map(|c| tracing::field::display(c.correlation_id)),
            "slow_operation: {operation} took {duration_ms} ms (threshold {threshold_ms} ms)"
        );
    });
}

/// When a span started, [`now_ns`] (a span extension, inserted at creation while a threshold
/// is set).
struct Started(u64);

/// A monotonic clock in nanoseconds for spans. On Linux the kernel's coarse monotonic clock
/// (`CLOCK_MONOTONIC_COARSE`: a read of the vDSO page, no TSC read; resolution one scheduler
/// tick, 1 to 4 ms), elsewhere [`Instant`].
#[cfg(target_os = "linux")]
fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill; the clock id is a constant.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

#[cfg(not(target_os = "linux"))]
fn now_ns() -> u64 {
    static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);
    u64::try_from(EPOCH.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The slow-operation layer's filter: `F`'s decision for spans, never an event. Only the
/// decisions are asked; `F`'s per-span bookkeeping (`on_new_span`, `on_enter`, `on_exit`,
/// `on_close`: two lock reads per call in an `EnvFilter`, which the console and export layers'
/// filters pay already) is skipped. So with span-scoped filter directives
/// (`[request]=debug`), a span enabled only inside another span is not timed.
#[derive(Debug)]
pub(crate) struct SpansOf<F>(pub(crate) F);

impl<S, F: tracing_subscriber::layer::Filter<S>> tracing_subscriber::layer::Filter<S>
    for SpansOf<F>
{
    fn enabled(&self, meta: &tracing::Metadata<'_>, cx: &Context<'_, S>) -> bool {
        meta.is_span() && self.0.enabled(meta, cx)
    }

    fn callsite_enabled(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if meta.is_span() {
            self.0.callsite_enabled(meta)
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        self.0.max_level_hint()
    }
}

/// The layer that times spans; in the pipeline's stack under a filter that lets it see every
/// span another layer records (so it enables no span by itself).
#[derive(Debug, Default)]
pub(crate) struct SlowOperationLayer {
    /// The subscriber this layer is part of: the span's OpenTelemetry context (and so its
    /// correlation) is read through it when a span is slow.
    dispatch: OnceLock<WeakDispatch>,
}

impl SlowOperationLayer {
    /// The correlation the span `id` carries: the one of its OpenTelemetry context when the
    /// export layer records it, else (a span only printed) the thread's current one.
    fn correlation(&self, id: &Id) -> Option<Arc<Correlation>> {
        let dispatch = self.dispatch.get().and_then(WeakDispatch::upgrade);
        match dispatch.and_then(|d| tracing_opentelemetry::get_otel_context(id, &d)) {
            Some(cx) => Correlation::from_context(&cx),
            None => Correlation::current(),
        }
    }
}

impl<S> Layer<S> for SlowOperationLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if GATE_NS.load(Ordering::Relaxed) == u64::MAX {
            return;
        }
        if NAMED_ONLY.load(Ordering::Relaxed)
            && THRESHOLDS.load().for_name(attrs.metadata().name()) == 0
        {
            return;
        }
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Started(now_ns()));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let gate = GATE_NS.load(Ordering::Relaxed);
        if gate == u64::MAX {
            return;
        }
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(started) = span.extensions().get::<Started>().map(|s| s.0) else {
            return;
        };
        let elapsed_ns = now_ns().saturating_sub(started);
        if elapsed_ns <= gate {
            return;
        }
        let elapsed = Duration::from_nanos(elapsed_ns);
        let name = span.metadata().name();
        drop(span);
        if let Some(threshold) = slow_threshold(name, elapsed) {
            if REPORTING.with(Cell::get) {
                return;
            }
            let correlation = self.correlation(&id);
            report_slow(name, elapsed, threshold, correlation.as_deref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_is_the_smallest_threshold_in_force() {
        let saved = current();
        configure(&SlowOperationsConfig {
            threshold_ms: 0,
            overrides: [("a".to_owned(), 0), ("b".to_owned(), 70_000)].into(),
            memory_threshold_mb: 1,
        });
        assert_eq!(GATE_NS.load(Ordering::Relaxed), 70_000_000_000);
        assert!(NAMED_ONLY.load(Ordering::Relaxed));
        assert_eq!(
            slow_threshold("b", Duration::from_millis(70_001)),
            Some(70_000)
        );
        assert_eq!(slow_threshold("b", Duration::from_millis(70_000)), None);
        assert_eq!(slow_threshold("a", Duration::from_secs(60)), None);
        set_override("b", None);
        assert_eq!(GATE_NS.load(Ordering::Relaxed), u64::MAX);
        set_threshold_ms(30_000);
        assert_eq!(GATE_NS.load(Ordering::Relaxed), 30_000_000_000);
        assert!(!NAMED_ONLY.load(Ordering::Relaxed));
        configure(&saved);
    }
}
