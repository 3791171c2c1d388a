//! Sampling, rate limits and filtered names of log events (`[telemetry.events]`): which events
//! are suppressed before every output (console, OTLP logs, the span-event copy), how they are
//! counted, and the one summary line per interval.
//!
//! The rules apply to every event that some layer would record, Rust `tracing` events and
//! foreign (Ruby, Python) events alike:
//!
//! - events at `telemetry.events.exempt_level` (default `error`) or more severe are never
//!   suppressed, nor are the core's own summary and reload lines;
//! - an event's **name** is its `event` field when it has one, else its message; a **target**
//!   key covers itself and the targets under it (`payments` covers `payments::charge` and
//!   `payments.charge`, Ruby's and Python's logger names);
//! - `telemetry.events.filtered` drops the events whose name or target it lists (`filtered`);
//! - `telemetry.events.sampling` keeps a share of the events per name or target (a name wins
//!   over a target, a longer target over a shorter one), `telemetry.events.sample_rate` of the
//!   others (`sampled`); the choice is a per-thread pseudo-random draw;
//! - `telemetry.events.rate_limit_per_s` lets each callsite (a Rust macro call, a foreign event
//!   shape) emit that many events per second, with bursts of `telemetry.events.rate_limit_burst`
//!   (a token bucket; `rate_limited`).
//!
//! Suppressed events are counted per reason: [`suppressed`], the metric
//! `tasker_telemetry_suppressed_total{reason}`, and one line (target [`TARGET`]) every
//! `telemetry.events.summary_interval_ms` that some were: "1,234 log events suppressed in the
//! last 10s (rate_limited: 1,200, most on payments::charge; sampled: 34, most on noisy)", at
//! the most severe level suppressed (info at least, warn at most).
//!
//! Without any rule (the default), the check costs one atomic load per event.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_core::callsite::Identifier;
use tracing_core::span;
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use crate::config::EventsConfig;

/// Target of the summary line (never suppressed).
pub const TARGET: &str = "tasker_telemetry::events";

/// Why an event was suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Not drawn by its sampling rate.
    Sampled,
    /// Over its callsite's rate limit.
    RateLimited,
    /// Named in `telemetry.events.filtered`.
    Filtered,
}

impl Reason {
    /// Every reason, in the order of [`Suppressed::pairs`].
    pub const ALL: [Reason; 3] = [Reason::Sampled, Reason::RateLimited, Reason::Filtered];

    /// `sampled`, `rate_limited` or `filtered`: the metric's `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Sampled => "sampled",
            Reason::RateLimited => "rate_limited",
            Reason::Filtered => "filtered",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Log events suppressed since the process started (a forked child starts at zero).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Suppressed {
    /// Not drawn by their sampling rate.
    pub sampled: u64,
    /// Over their callsite's rate limit.
    pub rate_limited: u64,
    /// Named in `telemetry.events.filtered`.
    pub filtered: u64,
}

impl Suppressed {
    /// All reasons together.
    pub fn total(&self) -> u64 {
        self.sampled + self.rate_limited + self.filtered
    }

    /// The counts by reason label, as the bindings return them.
    pub fn pairs(&self) -> [(&'static str, u64); 3] {
        [
            ("sampled", self.sampled),
            ("rate_limited", self.rate_limited),
            ("filtered", self.filtered),
        ]
    }
}

/// The counts now.
///
/// ```
/// let now = tasker_telemetry::events::suppressed();
/// assert_eq!(now.total(), now.sampled + now.rate_limited + now.filtered);
/// ```
pub fn suppressed() -> Suppressed {
    Suppressed {
        sampled: TOTALS[0].load(Ordering::Relaxed),
        rate_limited: TOTALS[1].load(Ordering::Relaxed),
        filtered: TOTALS[2].load(Ordering::Relaxed),
    }
}

/// Labels (`reason`) and values of `tasker_telemetry_suppressed_total`.
pub(crate) fn suppressed_series() -> [(&'static str, u64); 3] {
    suppressed().pairs()
}

static TOTALS: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

/// Whether any rule is configured: the one load of the common path.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// The rules in force, compiled from [`EventsConfig`].
#[derive(Debug)]
struct Rules {
    default_rate: f64,
    /// Keys of `sampling`, longest first (a longer target wins).
    rates: Vec<(String, f64)>,
    filtered: Vec<String>,
    /// Per second and burst.
    limit: Option<(f64, f64)>,
    exempt: Option<Level>,
    interval: Duration,
}

impl Rules {
    fn from_config(c: &EventsConfig) -> Self {
        let mut rates: Vec<(String, f64)> = c
            .sampling
            .iter()
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        rates.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        let limit = (c.rate_limit_per_s > 0.0).then(|| {
            let burst = c
                .rate_limit_burst
                .map_or(c.rate_limit_per_s.ceil().max(1.0), f64::from);
            (c.rate_limit_per_s, burst)
        });
        Self {
            default_rate: c.sample_rate,
            rates,
            filtered: c.filtered.clone(),
            limit,
            exempt: c.exempt_level,
            interval: c.summary_interval,
        }
    }

    fn active(&self) -> bool {
        self.default_rate < 1.0
            || self.rates.iter().any(|(_, r)| *r < 1.0)
            || !self.filtered.is_empty()
            || self.limit.is_some()
    }

    fn needs_name(&self) -> bool {
        !self.rates.is_empty() || !self.filtered.is_empty()
    }

    /// The sampling rate of an event: its name's, else its longest matching target's, else the
    /// default.
    fn rate(&self, name: Option<&str>, target: &str) -> f64 {
        if let Some(name) = name {
            if let Some((_, r)) = self.rates.iter().find(|(k, _)| k == name) {
                return *r;
            }
        }
        self.rates
            .iter()
            .find(|(k, _)| covers(k, target))
            .map_or(self.default_rate, |(_, r)| *r)
    }

    fn is_filtered(&self, name: Option<&str>, target: &str) -> bool {
        self.filtered
            .iter()
            .any(|k| Some(k.as_str()) == name || covers(k, target))
    }
}

/// Whether target key `key` covers `target`: itself, or a target under it (`::` or `.`).
fn covers(key: &str, target: &str) -> bool {
    match target.strip_prefix(key) {
        Some("") => true,
        Some(rest) => rest.starts_with("::") || rest.starts_with('.'),
        None => false,
    }
}

/// What changes as events are suppressed: the token buckets and the tally of the current
/// interval. Replaced whole after a fork (a lock held by a thread that did not survive would
/// stay locked) and when the rate limit changes.
#[derive(Default)]
struct Books {
    buckets: RwLock<HashMap<Identifier, Mutex<Bucket>>>,
    tally: Mutex<Tally>,
}

#[derive(Default)]
struct Tally {
    counts: HashMap<(&'static str, Reason), u64>,
    since: Option<Instant>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Global {
    rules: ArcSwap<Rules>,
    books: ArcSwap<Books>,
    /// The summary thread, once started.
    reporter: Mutex<Option<std::thread::Thread>>,
    reporter_started: AtomicBool,
    worst: AtomicU8,
}

fn global() -> &'static Global {
    static GLOBAL: OnceLock<Global> = OnceLock::new();
    GLOBAL.get_or_init(|| Global {
        rules: ArcSwap::from_pointee(Rules::from_config(&EventsConfig::default())),
        books: ArcSwap::from_pointee(Books::default()),
        reporter: Mutex::new(None),
        reporter_started: AtomicBool::new(false),
        worst: AtomicU8::new(0),
    })
}

/// Makes `config` the rules in force (at `init_logging`, `init` and runtime changes).
pub(crate) fn configure(config: &EventsConfig) {
    let g = global();
    let rules = Rules::from_config(config);
    let active = rules.active();
    let old = g.rules.swap(Arc::new(rules));
    if old.limit != g.rules.load().limit {
        // New limits start with full buckets.
        if let Ok(mut buckets) = g.books.load().buckets.write() {
            buckets.clear();
        }
    }
    ACTIVE.store(active, Ordering::Release);
    if active {
        start_reporter();
    }
    if let Ok(r) = g.reporter.lock() {
        if let Some(t) = r.as_ref() {
            // The interval may have changed.
            t.unpark();
        }
    }
}

thread_local! {
    /// Set while an event that was suppressed passes through the layers, which skip it.
    static SUPPRESSING: Cell<bool> = const { Cell::new(false) };
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = nanos ^ NEXT.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    // splitmix64: a well-mixed, never-zero start for xorshift.
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (x ^ (x >> 31)) | 1
}

/// A uniform draw in `[0, 1)` from this thread's xorshift64* generator.
fn draw() -> f64 {
    RNG.with(|r| {
        let mut x = r.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r.set(x);
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// The name of an event: its `event` field, else its message.
#[derive(Default)]
struct NameVisitor {
    event: Option<String>,
    message: Option<String>,
}

impl Visit for NameVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "event" => self.event = Some(value.to_owned()),
            "message" => self.message = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "event" if self.event.is_none() => self.event = Some(format!("{value:?}")),
            "message" if self.message.is_none() => self.message = Some(format!("{value:?}")),
            _ => {}
        }
    }
}

fn event_name(event: &Event<'_>) -> Option<String> {
    let fields = event.metadata().fields();
    if fields.field("event").is_none() && fields.field("message").is_none() {
        return None;
    }
    let mut v = NameVisitor::default();
    event.record(&mut v);
    v.event.or(v.message)
}

fn exempt(rules: &Rules, meta: &Metadata<'_>) -> bool {
    rules.exempt.is_some_and(|l| *meta.level() <= l)
        || meta.target() == TARGET
        || meta.target() == crate::runtime::TARGET
}

/// Whether `event` is to be suppressed, and why; counts it.
fn decide(event: &Event<'_>) -> Option<Reason> {
    let g = global();
    let rules = g.rules.load();
    let meta = event.metadata();
    if exempt(&rules, meta) {
        return None;
    }
    let name = if rules.needs_name() {
        event_name(event)
    } else {
        None
    };
    let target = meta.target();
    let reason = if rules.is_filtered(name.as_deref(), target) {
        Some(Reason::Filtered)
    } else {
        let rate = rules.rate(name.as_deref(), target);
        if rate < 1.0 && (rate <= 0.0 || draw() >= rate) {
            Some(Reason::Sampled)
        } else if let Some((per_s, burst)) = rules.limit {
            (!take_token(&g.books.load(), meta, per_s, burst)).then_some(Reason::RateLimited)
        } else {
            None
        }
    }?;
    count(reason, meta);
    Some(reason)
}

fn take_token(books: &Books, meta: &'static Metadata<'static>, per_s: f64, burst: f64) -> bool {
    let id = meta.callsite();
    let now = Instant::now();
    let take = |b: &Mutex<Bucket>| {
        let mut b = b.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * per_s).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    };
    if let Ok(buckets) = books.buckets.read() {
        if let Some(b) = buckets.get(&id) {
            return take(b);
        }
    }
    let mut buckets = books.buckets.write().unwrap_or_else(|e| e.into_inner());
    let b = buckets.entry(id).or_insert_with(|| {
        Mutex::new(Bucket {
            tokens: burst,
            at: now,
        })
    });
    take(b)
}

fn count(reason: Reason, meta: &'static Metadata<'static>) {
    TOTALS[reason.index()].fetch_add(1, Ordering::Relaxed);
    let g = global();
    let level = crate::level::level_index(*meta.level()) + 1;
    g.worst.fetch_max(level, Ordering::Relaxed);
    let books = g.books.load();
    let mut tally = books.tally.lock().unwrap_or_else(|e| e.into_inner());
    *tally.counts.entry((meta.target(), reason)).or_insert(0) += 1;
    tally.since.get_or_insert_with(Instant::now);
}

/// A number with thousands separators: `1,234`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Logs the summary line of what was suppressed since the last one, if anything was; returns
/// how many events it covered. The summary thread calls it every interval; tests may too.
pub fn report() -> u64 {
    let g = global();
    let (counts, since) = {
        let books = g.books.load();
        let mut tally = books.tally.lock().unwrap_or_else(|e| e.into_inner());
        (std::mem::take(&mut tally.counts), tally.since.take())
    };
    let worst = g.worst.swap(0, Ordering::Relaxed);
    if counts.is_empty() {
        return 0;
    }
    let mut per_reason = [0u64; 3];
    let mut top: [Option<(&str, u64)>; 3] = [None; 3];
    for ((target, reason), n) in &counts {
        let i = reason.index();
        per_reason[i] += n;
        if top[i].is_none_or(|(t, m)| *n > m || (*n == m && *target < t)) {
            top[i] = Some((target, *n));
        }
    }
    let total: u64 = per_reason.iter().sum();
    let parts: Vec<String> = Reason::ALL
        .iter()
        .filter(|r| per_reason[r.index()] > 0)
        .map(|r| {
            let i = r.index();
            let n = thousands(per_reason[i]);
            match top[i] {
                Some((target, m)) if m < per_reason[i] => {
                    format!("{}: {n}, most on {target}", r.as_str())
                }
                Some((target, _)) => format!("{}: {n} on {target}", r.as_str()),
                None => format!("{}: {n}", r.as_str()),
            }
        })
        .collect();
    let secs = since.map_or(0, |s| s.elapsed().as_secs().max(1));
    let line = format!(
        "{} log events suppressed in the last {secs}s ({}); see telemetry.events in the configuration",
        thousands(total),
        parts.join("; ")
    );
    let [sampled, rate_limited, filtered] = per_reason;
    // At the most severe level suppressed: info at least, warn at most.
    if worst >= 4 {
        tracing::warn!(target: TARGET, suppressed = total, sampled, rate_limited, filtered, "{line}");
    } else {
        tracing::info!(target: TARGET, suppressed = total, sampled, rate_limited, filtered, "{line}");
    }
    total
}

fn start_reporter() {
    let g = global();
    if g.reporter_started.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("tasker-telemetry-events".to_owned())
        .spawn(|| loop {
            let started = Instant::now();
            // Unparked when the interval changes: the new one counts from the same start.
            loop {
                let interval = global().rules.load().interval;
                let elapsed = started.elapsed();
                if elapsed >= interval {
                    break;
                }
                std::thread::park_timeout(interval - elapsed);
            }
            report();
        });
    match spawned {
        Ok(handle) => {
            if let Ok(mut r) = g.reporter.lock() {
                *r = Some(handle.thread().clone());
            }
        }
        Err(_) => g.reporter_started.store(false, Ordering::Release),
    }
}

/// In a fork child: fresh books (a lock may have been held by a thread that is gone), counts
/// from zero, and the summary thread started again if the parent had one.
pub(crate) fn after_fork_in_child() {
    let g = global();
    let old = g.books.swap(Arc::new(Books::default()));
    std::mem::forget(old);
    for t in &TOTALS {
        t.store(0, Ordering::Relaxed);
    }
    g.worst.store(0, Ordering::Relaxed);
    if g.reporter_started.swap(false, Ordering::AcqRel) {
        match g.reporter.try_lock() {
            Ok(mut r) => *r = None,
            Err(_) => return,
        }
        if ACTIVE.load(Ordering::Acquire) {
            start_reporter();
        }
    }
}

/// The subscriber around the pipeline's layers: decides per event whether it is suppressed and,
/// when it is, passes it through the layers marked so that each ([`Gated`]) skips it (the
/// per-layer filters still see the event go by, so their state stays right).
pub(crate) struct Suppressing<S> {
    pub(crate) inner: S,
}

impl<S: Subscriber> Subscriber for Suppressing<S> {
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.inner.on_register_dispatch(subscriber)
    }
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> tracing_core::Interest {
        self.inner.register_callsite(meta)
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        self.inner.max_level_hint()
    }
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        self.inner.enabled(meta)
    }
    fn new_span(&self, span: &span::Attributes<'_>) -> span::Id {
        self.inner.new_span(span)
    }
    fn record(&self, span: &span::Id, values: &span::Record<'_>) {
        self.inner.record(span, values)
    }
    fn record_follows_from(&self, span: &span::Id, follows: &span::Id) {
        self.inner.record_follows_from(span, follows)
    }
    fn event_enabled(&self, event: &Event<'_>) -> bool {
        self.inner.event_enabled(event)
    }
    fn event(&self, event: &Event<'_>) {
        if !ACTIVE.load(Ordering::Relaxed) {
            return self.inner.event(event);
        }
        let suppressed = decide(event).is_some();
        let _restore = Marked(SUPPRESSING.with(|s| s.replace(suppressed)));
        self.inner.event(event);
    }
    fn enter(&self, span: &span::Id) {
        self.inner.enter(span)
    }
    fn exit(&self, span: &span::Id) {
        self.inner.exit(span)
    }
    fn clone_span(&self, id: &span::Id) -> span::Id {
        self.inner.clone_span(id)
    }
    fn try_close(&self, id: span::Id) -> bool {
        self.inner.try_close(id)
    }
    fn current_span(&self) -> span::Current {
        self.inner.current_span()
    }
    unsafe fn downcast_raw(&self, id: std::any::TypeId) -> Option<*const ()> {
        if id == std::any::TypeId::of::<Self>() {
            return Some(self as *const Self as *const ());
        }
        // SAFETY: forwarded to the inner subscriber, which upholds the contract.
        unsafe { self.inner.downcast_raw(id) }
    }
}

/// Puts the thread's suppression mark back when dropped, also when an output layer panics (a
/// binding catches the panic and the thread goes on: its later events must not stay marked).
struct Marked(bool);

impl Drop for Marked {
    fn drop(&mut self) {
        let before = self.0;
        let _ = SUPPRESSING.try_with(|s| s.set(before));
    }
}

/// One output layer that skips events marked suppressed by [`Suppressing`]; everything else is
/// passed on. `span_copy`: this layer copies events onto spans (the OpenTelemetry layer), which
/// `telemetry.spans.log_events = false` limits to error events.
pub(crate) struct Gated<L> {
    pub(crate) inner: L,
    pub(crate) span_copy: bool,
}

static LOG_EVENTS: AtomicBool = AtomicBool::new(true);

/// `telemetry.spans.log_events`: whether log events below ERROR are copied onto spans.
pub(crate) fn set_log_events(on: bool) {
    LOG_EVENTS.store(on, Ordering::Relaxed);
}

impl<L, S> Layer<S> for Gated<L>
where
    L: Layer<S>,
    S: Subscriber,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.inner.on_register_dispatch(subscriber)
    }
    fn on_layer(&mut self, subscriber: &mut S) {
        self.inner.on_layer(subscriber)
    }
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> tracing_core::Interest {
        self.inner.register_callsite(meta)
    }
    fn enabled(&self, meta: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.enabled(meta, ctx)
    }
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_new_span(attrs, id, ctx)
    }
    fn on_record(&self, span: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        self.inner.on_record(span, values, ctx)
    }
    fn on_follows_from(&self, span: &span::Id, follows: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_follows_from(span, follows, ctx)
    }
    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.event_enabled(event, ctx)
    }
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if ACTIVE.load(Ordering::Relaxed) && SUPPRESSING.with(Cell::get) {
            return;
        }
        if self.span_copy
            && *event.metadata().level() != tracing::Level::ERROR
            && !LOG_EVENTS.load(Ordering::Relaxed)
        {
            return;
        }
        self.inner.on_event(event, ctx)
    }
    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_enter(id, ctx)
    }
    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_exit(id, ctx)
    }
    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        self.inner.on_close(id, ctx)
    }
    fn on_id_change(&self, old: &span::Id, new: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_id_change(old, new, ctx)
    }
    unsafe fn downcast_raw(&self, id: std::any::TypeId) -> Option<*const ()> {
        if id == std::any::TypeId::of::<Self>() {
            return Some(self as *const Self as *const ());
        }
        // SAFETY: forwarded to the inner layer, which upholds the contract.
        unsafe { self.inner.downcast_raw(id) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_key_covers_itself_and_what_is_under_it() {
        assert!(covers("payments", "payments"));
        assert!(covers("payments", "payments::charge"));
        assert!(covers("payments", "payments.charge"));
        assert!(!covers("payments", "payments_v2"));
        assert!(!covers("payments::charge", "payments"));
    }

    #[test]
    fn a_name_wins_over_a_target_and_a_longer_target_over_a_shorter_one() {
        let config = EventsConfig {
            sample_rate: 0.9,
            sampling: [
                ("a".to_owned(), 0.5),
                ("a::b".to_owned(), 0.25),
                ("hello".to_owned(), 0.0),
            ]
            .into_iter()
            .collect(),
            ..EventsConfig::default()
        };
        let rules = Rules::from_config(&config);
        assert_eq!(rules.rate(None, "a::b::c"), 0.25);
        assert_eq!(rules.rate(None, "a::x"), 0.5);
        assert_eq!(rules.rate(Some("hello"), "a::b"), 0.0);
        assert_eq!(rules.rate(Some("other"), "z"), 0.9);
        assert!(rules.active());
        assert!(!Rules::from_config(&EventsConfig::default()).active());
    }

    #[test]
    fn draws_are_uniform_enough() {
        let n = 100_000;
        let below = (0..n).filter(|_| draw() < 0.3).count() as f64 / n as f64;
        assert!((below - 0.3).abs() < 0.01, "{below}");
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
