//! Metrics: counters, up-down counters, histograms and gauges created by name, cached, and
//! exported over OTLP on `telemetry.metrics.export_interval_ms`.
//!
//! Instruments are `f64` so one API serves Rust, Ruby and Python. A name from the [`catalogue`]
//! gets its unit, description and (for histograms) bucket boundaries from there.
//!
//! `correlation_id`, `trace_id` and `span_id` labels are dropped unless
//! `telemetry.metrics.allow_correlation_labels` is on: every distinct label value is a new time
//! series in the backend, so a per-request id makes cardinality (and cost) unbounded. Put such
//! ids on spans and logs instead. Label values whose key looks secret are redacted.
//!
//! Before `init` (or with export off) instruments are no-ops.
//!
//! # Bounds
//!
//! Each distinct instrument name costs memory for the life of the process (about 8.6 KB with the
//! SDK's aggregation state), so at most `telemetry.metrics.max_instruments` (default 1000, all
//! kinds together; `TASKER_METRICS_MAX_INSTRUMENTS`) are created. A measurement on a further
//! name is refused: [`record`] returns `Ok` (a metric call never fails a handler for this) but
//! records nothing, counts it as dropped (`tasker_telemetry_dropped_total{signal="metrics",
//! reason="instrument_limit"}`, in `stats().metrics_dropped`) and the first refusal logs one
//! warning naming the limit and the setting. The default is far above the catalogue (21 names)
//! and what a service defines by hand, and bounds the cost at about 9 MB.
//!
//! The SDK keeps at most [`CARDINALITY_LIMIT`] label sets per instrument and folds the
//! measurements of further sets into one series labelled `otel.metric.overflow=true`, without
//! telling anyone. [`record`] keeps the same count (label sets after cleaning, sorted by key) and
//! counts each measurement that goes to the overflow series as dropped
//! (`reason="cardinality_limit"`), with one warning the first time. Instruments taken directly
//! with [`counter`], [`histogram`] etc. are bounded by `max_instruments` alike, but their label
//! sets are not counted (use [`record`]).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use arc_swap::ArcSwap;
use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter, MeterProvider as _, UpDownCounter};
use opentelemetry::KeyValue;

use crate::error::TelemetryError;
use crate::redaction::{Redactor, REDACTED};

/// The kind of an instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstrumentKind {
    /// Monotonic sum.
    Counter,
    /// Sum that goes up and down.
    UpDownCounter,
    /// Distribution with explicit buckets.
    Histogram,
    /// Last value.
    Gauge,
}

impl InstrumentKind {
    /// Every kind with its name as the bindings spell it.
    pub const NAMES: &'static [(&'static str, InstrumentKind)] = &[
        ("counter", InstrumentKind::Counter),
        ("up_down_counter", InstrumentKind::UpDownCounter),
        ("histogram", InstrumentKind::Histogram),
        ("gauge", InstrumentKind::Gauge),
    ];

    /// The kind named `name` (`counter`, `up_down_counter`, `histogram`, `gauge`).
    ///
    /// ```
    /// use tasker_telemetry::metrics::InstrumentKind;
    /// assert_eq!(InstrumentKind::from_name("gauge").unwrap(), InstrumentKind::Gauge);
    /// assert!(InstrumentKind::from_name("meter").unwrap_err().to_string().contains("up_down_counter"));
    /// ```
    pub fn from_name(name: &str) -> Result<Self, TelemetryError> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
            .ok_or_else(|| TelemetryError::InvalidInput {
                what: "instrument kind",
                message: format!(
                    "{name:?} is not one; expected counter, up_down_counter, histogram or gauge"
                ),
            })
    }
}

/// Metric labels from converted foreign fields (flat values as attributes).
pub fn labels(fields: &crate::fields::Fields) -> Vec<KeyValue> {
    fields
        .iter()
        .map(|(k, v)| KeyValue::new(k.to_owned(), v.to_otel()))
        .collect()
}

/// A metric of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricDef {
    /// Name as exported.
    pub name: &'static str,
    /// Instrument kind.
    pub kind: InstrumentKind,
    /// UCUM unit (`ms`, `{task}`, ...).
    pub unit: &'static str,
    /// What it measures.
    pub description: &'static str,
}

/// The orchestrator and worker metric catalogue.
pub mod catalogue {
    use super::InstrumentKind::{Counter, Gauge, Histogram};
    use super::MetricDef;

    macro_rules! metric {
        ($id:ident, $name:literal, $kind:ident, $unit:literal, $desc:literal) => {
            #[doc = $desc]
            pub const $id: MetricDef = MetricDef {
                name: $name,
                kind: $kind,
                unit: $unit,
                description: $desc,
            };
        };
    }

    metric!(
        TASKS_REQUESTS_TOTAL,
        "tasker_tasks_requests_total",
        Counter,
        "{task}",
        "Task requests received by the orchestrator"
    );
    metric!(
        TASKS_COMPLETIONS_TOTAL,
        "tasker_tasks_completions_total",
        Counter,
        "{task}",
        "Tasks completed"
    );
    metric!(
        TASKS_FAILURES_TOTAL,
        "tasker_tasks_failures_total",
        Counter,
        "{task}",
        "Tasks failed"
    );
    metric!(
        STEPS_ENQUEUED_TOTAL,
        "tasker_steps_enqueued_total",
        Counter,
        "{step}",
        "Steps enqueued for workers"
    );
    metric!(
        STEP_RESULTS_PROCESSED_TOTAL,
        "tasker_step_results_processed_total",
        Counter,
        "{step}",
        "Step results processed by the orchestrator"
    );
    metric!(
        TASK_INITIALIZATION_DURATION,
        "tasker_task_initialization_duration",
        Histogram,
        "ms",
        "Time to initialise a task"
    );
    metric!(
        TASK_FINALIZATION_DURATION,
        "tasker_task_finalization_duration",
        Histogram,
        "ms",
        "Time to finalise a task"
    );
    metric!(
        STEP_RESULT_PROCESSING_DURATION,
        "tasker_step_result_processing_duration",
        Histogram,
        "ms",
        "Time to process a step result"
    );
    metric!(
        STEPS_EXECUTIONS_TOTAL,
        "tasker_steps_executions_total",
        Counter,
        "{step}",
        "Step executions started by workers"
    );
    metric!(
        STEPS_SUCCESSES_TOTAL,
        "tasker_steps_successes_total",
        Counter,
        "{step}",
        "Step executions that succeeded"
    );
    metric!(
        STEPS_FAILURES_TOTAL,
        "tasker_steps_failures_total",
        Counter,
        "{step}",
        "Step executions that failed (label error_type)"
    );
    metric!(
        STEPS_CLAIMED_TOTAL,
        "tasker_steps_claimed_total",
        Counter,
        "{step}",
        "Steps claimed by workers"
    );
    metric!(
        STEP_EXECUTION_DURATION,
        "tasker_step_execution_duration",
        Histogram,
        "ms",
        "Step handler execution time"
    );
    metric!(
        STEP_CLAIM_DURATION,
        "tasker_step_claim_duration",
        Histogram,
        "ms",
        "Time to claim a step"
    );
    metric!(
        STEP_RESULT_SUBMISSION_DURATION,
        "tasker_step_result_submission_duration",
        Histogram,
        "ms",
        "Time to submit a step result"
    );
    metric!(
        TASKS_ACTIVE,
        "tasker_tasks_active",
        Gauge,
        "{task}",
        "Tasks in progress"
    );
    metric!(
        STEPS_READY,
        "tasker_steps_ready",
        Gauge,
        "{step}",
        "Steps ready to run"
    );
    metric!(
        QUEUE_DEPTH,
        "tasker_queue_depth",
        Gauge,
        "{message}",
        "Messages waiting in a queue (label queue)"
    );

    metric!(
        SLOW_OPERATIONS_TOTAL,
        "tasker_slow_operations_total",
        Counter,
        "{operation}",
        "Spans and monitored operations slower than their threshold (label operation = the span or monitor name); see telemetry.slow_operations"
    );
    metric!(
        MONITORED_OPERATION_DURATION,
        "tasker_monitored_operation_duration",
        Histogram,
        "ms",
        "Duration of operations run under monitor (label operation)"
    );
    metric!(
        MEMORY_SPIKES_TOTAL,
        "tasker_memory_spikes_total",
        Counter,
        "{operation}",
        "Monitored operations whose resident memory grew past telemetry.slow_operations.memory_threshold_mb (label operation)"
    );

    metric!(
        TELEMETRY_DROPPED_TOTAL,
        "tasker_telemetry_dropped_total",
        Counter,
        "{item}",
        "Telemetry dropped before reaching the collector (labels signal = traces, metrics or logs; reason = queue_full, export_failed or shutdown, for metrics also instrument_limit or cardinality_limit; and signal = attributes, reason = count_limit for field keys past the attribute count limit); observed from the core's export accounting, not recorded through this API"
    );

    metric!(
        TELEMETRY_SUPPRESSED_TOTAL,
        "tasker_telemetry_suppressed_total",
        Counter,
        "{event}",
        "Log events suppressed by the event rules of telemetry.events (label reason = sampled, rate_limited or filtered); observed from the core's counts (crate::events), not recorded through this API"
    );

    /// Every metric above that callers record (all but the self-metrics
    /// [`TELEMETRY_DROPPED_TOTAL`] and [`TELEMETRY_SUPPRESSED_TOTAL`], which the core observes
    /// itself).
    pub const ALL: &[MetricDef] = &[
        TASKS_REQUESTS_TOTAL,
        TASKS_COMPLETIONS_TOTAL,
        TASKS_FAILURES_TOTAL,
        STEPS_ENQUEUED_TOTAL,
        STEP_RESULTS_PROCESSED_TOTAL,
        TASK_INITIALIZATION_DURATION,
        TASK_FINALIZATION_DURATION,
        STEP_RESULT_PROCESSING_DURATION,
        STEPS_EXECUTIONS_TOTAL,
        STEPS_SUCCESSES_TOTAL,
        STEPS_FAILURES_TOTAL,
        STEPS_CLAIMED_TOTAL,
        STEP_EXECUTION_DURATION,
        STEP_CLAIM_DURATION,
        STEP_RESULT_SUBMISSION_DURATION,
        TASKS_ACTIVE,
        STEPS_READY,
        QUEUE_DEPTH,
        SLOW_OPERATIONS_TOTAL,
        MONITORED_OPERATION_DURATION,
        MEMORY_SPIKES_TOTAL,
    ];

    /// Bucket boundaries of the millisecond histograms.
    pub const DURATION_MS_BUCKETS: &[f64] = &[
        1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
        30000.0, 60000.0,
    ];

    /// The definition of `name`, if it is in the catalogue.
    pub fn find(name: &str) -> Option<&'static MetricDef> {
        ALL.iter().find(|m| m.name == name)
    }
}

/// The default of `telemetry.metrics.max_instruments`.
pub const DEFAULT_MAX_INSTRUMENTS: usize = 1000;

/// Distinct label sets one instrument keeps (the OpenTelemetry SDK's default cardinality limit);
/// measurements with further label sets go to the SDK's `otel.metric.overflow` series and are
/// counted.
pub const CARDINALITY_LIMIT: usize = 2000;

/// Label keys dropped unless `allow_correlation_labels` is set.
pub const HIGH_CARDINALITY_LABELS: &[&str] = &[
    "correlation_id",
    "trace_id",
    "span_id",
    "parent_correlation_id",
];

/// One cached instrument and the label sets recorded on it so far.
struct Entry<I> {
    instrument: I,
    series: Arc<Series>,
}

impl<I: Clone> Clone for Entry<I> {
    fn clone(&self) -> Self {
        Self {
            instrument: self.instrument.clone(),
            series: self.series.clone(),
        }
    }
}

/// The label sets (hashes of the sorted labels) an instrument has seen, up to
/// [`CARDINALITY_LIMIT`].
#[derive(Default)]
struct Series {
    sets: RwLock<HashSet<u64>>,
}

impl Series {
    /// Whether a measurement with `labels` gets its own series (`false`: the SDK folds it into
    /// the overflow series).
    fn admit(&self, labels: &[KeyValue]) -> bool {
        if labels.is_empty() {
            return true; // the SDK keeps the empty set apart, outside its limit
        }
        let mut sorted: Vec<&KeyValue> = labels.iter().collect();
        sorted.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        sorted.dedup_by(|a, b| a.key == b.key);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        sorted.hash(&mut h);
        let hash = h.finish();
        if self.sets.read().map(|s| s.contains(&hash)).unwrap_or(true) {
            return true;
        }
        let Ok(mut sets) = self.sets.write() else {
            return true;
        };
        if sets.len() < CARDINALITY_LIMIT {
            sets.insert(hash);
            return true;
        }
        sets.contains(&hash)
    }
}

#[derive(Default)]
struct Cache {
    counters: HashMap<String, Entry<Counter<f64>>>,
    up_down: HashMap<String, Entry<UpDownCounter<f64>>>,
    histograms: HashMap<String, Entry<Histogram<f64>>>,
    gauges: HashMap<String, Entry<Gauge<f64>>>,
}

impl Cache {
    fn len(&self) -> usize {
        self.counters.len() + self.up_down.len() + self.histograms.len() + self.gauges.len()
    }
}

struct Registry {
    meter: Meter,
    cache: RwLock<Cache>,
    allow_correlation_labels: bool,
    redactor: Arc<Redactor>,
    /// An SDK meter aggregates (and caps label sets): count them as it does.
    counts_series: bool,
}

static MAX_INSTRUMENTS: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_INSTRUMENTS);
static INSTRUMENT_LIMIT_WARNED: AtomicBool = AtomicBool::new(false);
static CARDINALITY_WARNED: AtomicBool = AtomicBool::new(false);

/// Sets `telemetry.metrics.max_instruments`.
pub(crate) fn set_max_instruments(n: usize) {
    MAX_INSTRUMENTS.store(n.max(1), Ordering::Relaxed);
}

/// The number of distinct instruments the process creates (`telemetry.metrics.max_instruments`).
pub fn max_instruments() -> usize {
    MAX_INSTRUMENTS.load(Ordering::Relaxed)
}

/// Counts a measurement refused for the instrument limit; the first time, one warning.
fn refused(name: &str) {
    crate::stats::counters(crate::stats::Signal::Metrics).instrument_limit();
    if !INSTRUMENT_LIMIT_WARNED.swap(true, Ordering::Relaxed) {
        let limit = max_instruments();
        tracing::warn!(
            target: "tasker_telemetry::metrics",
            limit,
            "{limit} distinct metric names are in use, the limit: measurements on further names (first: {:?}) are not recorded; counted in tasker_telemetry_dropped_total{{signal=\"metrics\", reason=\"instrument_limit\"}}; use fewer names (labels for what varies) or raise telemetry.metrics.max_instruments (TASKER_METRICS_MAX_INSTRUMENTS); this warning is not repeated",
            crate::fields::truncate(name.to_owned(), 80)
        );
    }
}

/// Counts a measurement folded into the SDK's overflow series; the first time, one warning.
fn overflowed(name: &str) {
    crate::stats::counters(crate::stats::Signal::Metrics).cardinality_limit();
    if !CARDINALITY_WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            target: "tasker_telemetry::metrics",
            limit = CARDINALITY_LIMIT,
            "metric {name} has {CARDINALITY_LIMIT} label sets, the limit: measurements with further label values are added to its series labelled otel.metric.overflow=true; counted in tasker_telemetry_dropped_total{{signal=\"metrics\", reason=\"cardinality_limit\"}}; keep per-request values (ids) out of metric labels; this warning is not repeated"
        );
    }
}

fn registry() -> &'static ArcSwap<Registry> {
    static REGISTRY: OnceLock<ArcSwap<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        ArcSwap::from_pointee(Registry {
            meter: noop_meter(),
            cache: RwLock::new(Cache::default()),
            allow_correlation_labels: false,
            redactor: Arc::new(Redactor::default()),
            counts_series: false,
        })
    })
}

/// Points the registry at a new meter (at init, after fork, or back to no-op at shutdown).
pub(crate) fn install(
    meter: Option<Meter>,
    allow_correlation_labels: bool,
    redactor: Arc<Redactor>,
) {
    registry().store(Arc::new(Registry {
        counts_series: meter.is_some(),
        meter: meter.unwrap_or_else(noop_meter),
        cache: RwLock::new(Cache::default()),
        allow_correlation_labels,
        redactor,
    }));
}

fn noop_meter() -> Meter {
    opentelemetry::metrics::NoopMeterProvider::new().meter(crate::SCOPE)
}

pub(crate) fn meter_from(provider: &opentelemetry_sdk::metrics::SdkMeterProvider) -> Meter {
    provider.meter(crate::SCOPE)
}

macro_rules! cached {
    ($fn:ident, $entry:ident, $field:ident, $ty:ty, $build:ident) => {
        /// The instrument named `name`, created on first use and cached (a second lookup is one
        /// hash lookup under a read lock). Past `telemetry.metrics.max_instruments` distinct
        /// names, a new name gets an instrument that records nothing (counted as dropped once
        /// per call, see [Bounds](self#bounds)).
        pub fn $fn(name: &str) -> $ty {
            match $entry(name) {
                Some(e) => e.instrument,
                None => $build(&noop_meter(), name, None),
            }
        }

        fn $entry(name: &str) -> Option<Entry<$ty>> {
            let reg = registry().load();
            if let Ok(cache) = reg.cache.read() {
                if let Some(e) = cache.$field.get(name) {
                    return Some(e.clone());
                }
            }
            let def = catalogue::find(name);
            let mut cache = match reg.cache.write() {
                Ok(cache) => cache,
                // A poisoned lock: serve an uncached instrument rather than fail.
                Err(_) => {
                    return Some(Entry {
                        instrument: $build(&reg.meter, name, def),
                        series: Arc::default(),
                    })
                }
            };
            if let Some(e) = cache.$field.get(name) {
                return Some(e.clone());
            }
            if cache.len() >= max_instruments() {
                drop(cache);
                refused(name);
                return None;
            }
            let entry = Entry {
                instrument: $build(&reg.meter, name, def),
                series: Arc::default(),
            };
            cache.$field.insert(name.to_owned(), entry.clone());
            Some(entry)
        }
    };
}

fn build_counter(meter: &Meter, name: &str, def: Option<&MetricDef>) -> Counter<f64> {
    let mut b = meter.f64_counter(name.to_owned());
    if let Some(d) = def {
        b = b.with_unit(d.unit).with_description(d.description);
    }
    b.build()
}

fn build_up_down(meter: &Meter, name: &str, def: Option<&MetricDef>) -> UpDownCounter<f64> {
    let mut b = meter.f64_up_down_counter(name.to_owned());
    if let Some(d) = def {
        b = b.with_unit(d.unit).with_description(d.description);
    }
    b.build()
}

fn build_histogram(meter: &Meter, name: &str, def: Option<&MetricDef>) -> Histogram<f64> {
    let mut b = meter.f64_histogram(name.to_owned());
    if let Some(d) = def {
        b = b.with_unit(d.unit).with_description(d.description);
    }
    if def.is_none_or(|d| d.unit == "ms") {
        b = b.with_boundaries(catalogue::DURATION_MS_BUCKETS.to_vec());
    }
    b.build()
}

fn build_gauge(meter: &Meter, name: &str, def: Option<&MetricDef>) -> Gauge<f64> {
    let mut b = meter.f64_gauge(name.to_owned());
    if let Some(d) = def {
        b = b.with_unit(d.unit).with_description(d.description);
    }
    b.build()
}

cached!(
    counter,
    counter_entry,
    counters,
    Counter<f64>,
    build_counter
);
cached!(
    up_down_counter,
    up_down_entry,
    up_down,
    UpDownCounter<f64>,
    build_up_down
);
cached!(
    histogram,
    histogram_entry,
    histograms,
    Histogram<f64>,
    build_histogram
);
cached!(gauge, gauge_entry, gauges, Gauge<f64>, build_gauge);

/// Cleans labels: drops high-cardinality ids (unless allowed) and redacts secrets. Borrows
/// when nothing needs changing.
pub fn clean_labels(labels: &[KeyValue]) -> Cow<'_, [KeyValue]> {
    let reg = registry().load();
    let drop = |k: &str| !reg.allow_correlation_labels && HIGH_CARDINALITY_LABELS.contains(&k);
    if !labels
        .iter()
        .any(|kv| drop(kv.key.as_str()) || reg.redactor.is_secret(kv.key.as_str()))
    {
        return Cow::Borrowed(labels);
    }
    Cow::Owned(
        labels
            .iter()
            .filter(|kv| !drop(kv.key.as_str()))
            .map(|kv| {
                if reg.redactor.is_secret(kv.key.as_str()) {
                    KeyValue::new(kv.key.clone(), REDACTED)
                } else {
                    kv.clone()
                }
            })
            .collect(),
    )
}

/// Checks an instrument name as OpenTelemetry requires it: 1 to 255 ASCII characters, a letter
/// first, then letters, digits, `_`, `.`, `-` or `/`. (The SDK would otherwise log an error and
/// hand out an instrument that records nothing.)
///
/// ```
/// use tasker_telemetry::metrics::validate_name;
///
/// assert!(validate_name("tasker_steps_claimed_total").is_ok());
/// assert!(validate_name("9lives").unwrap_err().to_string().contains("start with a letter"));
/// ```
pub fn validate_name(name: &str) -> Result<(), TelemetryError> {
    let problem = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > 255 {
        Some("it is longer than 255 characters")
    } else if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        Some("it must start with a letter")
    } else if name.contains(|c: char| !(c.is_ascii_alphanumeric() || "_.-/".contains(c))) {
        Some("only ASCII letters, digits, '_', '.', '-' and '/' are allowed")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(why) => Err(TelemetryError::InvalidInput {
            what: "metric name",
            message: format!("{:?}: {why}", crate::fields::truncate(name.to_owned(), 80)),
        }),
    }
}

/// Records `value` on the instrument of `kind` named `name` (the entry point of the bindings).
///
/// Errors (nothing is recorded): an invalid name ([`validate_name`]), a value that is not a
/// finite number, a negative value for a counter (use an up-down counter), or the name of the
/// core's own [`catalogue::TELEMETRY_DROPPED_TOTAL`].
///
/// ```
/// use tasker_telemetry::metrics::{record, InstrumentKind};
/// use opentelemetry::KeyValue;
///
/// record(InstrumentKind::Counter, "tasker_steps_claimed_total", 1.0, &[KeyValue::new("namespace", "payments")]).unwrap();
/// assert!(record(InstrumentKind::Counter, "tasker_steps_claimed_total", -1.0, &[]).is_err());
/// ```
pub fn record(
    kind: InstrumentKind,
    name: &str,
    value: f64,
    labels: &[KeyValue],
) -> Result<(), TelemetryError> {
    validate_name(name)?;
    let invalid = |message: String| TelemetryError::InvalidInput {
        what: "metric value",
        message,
    };
    if !value.is_finite() {
        return Err(invalid(format!("{name}: {value} is not a finite number")));
    }
    if kind == InstrumentKind::Counter && value < 0.0 {
        return Err(invalid(format!(
            "{name}: a counter only goes up, got {value}; use an up-down counter for values that go down"
        )));
    }
    if name == catalogue::TELEMETRY_DROPPED_TOTAL.name {
        return Err(TelemetryError::InvalidInput {
            what: "metric name",
            message: format!("{name} is reported by tasker-telemetry itself"),
        });
    }
    let labels = clean_labels(labels);
    let counts_series = registry().load().counts_series;
    let admit = |series: &Series| {
        if counts_series && !series.admit(&labels) {
            overflowed(name);
        }
    };
    // `None`: refused (instrument limit), already counted.
    match kind {
        InstrumentKind::Counter => {
            if let Some(e) = counter_entry(name) {
                admit(&e.series);
                e.instrument.add(value, &labels);
            }
        }
        InstrumentKind::UpDownCounter => {
            if let Some(e) = up_down_entry(name) {
                admit(&e.series);
                e.instrument.add(value, &labels);
            }
        }
        InstrumentKind::Histogram => {
            if let Some(e) = histogram_entry(name) {
                admit(&e.series);
                e.instrument.record(value, &labels);
            }
        }
        InstrumentKind::Gauge => {
            if let Some(e) = gauge_entry(name) {
                admit(&e.series);
                e.instrument.record(value, &labels);
            }
        }
    }
    Ok(())
}

/// Number of cached instruments (all kinds).
pub fn cached_instruments() -> usize {
    let reg = registry().load();
    reg.cache.read().map(|c| c.len()).unwrap_or(0)
}
