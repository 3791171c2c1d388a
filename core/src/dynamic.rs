//! Spans and events whose name, level, target and fields are known only at run time: the API the
//! Ruby and Python bindings use.
//!
//! `tracing` needs a `'static` callsite per span or event shape. Each distinct shape (kind,
//! level, name, target, field names in order) gets one interned callsite, registered with
//! `tracing` like a macro's, so foreign spans and events go through exactly the same filters,
//! console/JSON formatting and OTLP export as Rust's own.
//!
//! Interned shapes are kept for the life of the process (their names are leaked), so they are
//! bounded twice: at most `telemetry.spans.max_dynamic_callsites` shapes (default 4096) holding
//! at most `telemetry.spans.max_dynamic_callsite_bytes` (default 4 MiB: names, target, field
//! names and the callsite itself), which a dict keyed by ids (every call a new shape) would
//! otherwise grow without end. Past either bound, shapes share one fallback callsite per kind
//! and level, whose span name is carried in `otel.name` (so OTLP still shows the right name) and
//! whose fields travel to the console as one JSON string field, [`FALLBACK_FIELDS`]; the span
//! exporter, span events and the log exporter expand it back into one attribute per key (see
//! [`expand_fallback_fields`]), so exported spans and logs look the same either way. The first
//! use of the fallback logs one warning; [`fallback_uses`] counts them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use opentelemetry::trace::{SpanContext, Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use tracing::{Level, Metadata};
use tracing_core::callsite::{Callsite, Identifier};
use tracing_core::field::FieldSet;
use tracing_core::subscriber::Interest;
use tracing_core::Kind;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::correlation::{Correlation, CorrelationValue};
use crate::fields::{truncate_name, Fields, Scalar};
use crate::propagation::RemoteContext;

/// Target of foreign spans and events when the caller gives none.
pub const DEFAULT_TARGET: &str = "tasker_telemetry::dynamic";

const INTEREST_UNKNOWN: u8 = 0;
const INTEREST_NEVER: u8 = 1;
const INTEREST_SOMETIMES: u8 = 2;
const INTEREST_ALWAYS: u8 = 3;

struct DynCallsite {
    meta: OnceLock<Metadata<'static>>,
    interest: AtomicU8,
}

impl Callsite for DynCallsite {
    fn set_interest(&self, interest: Interest) {
        let v = if interest.is_never() {
            INTEREST_NEVER
        } else if interest.is_always() {
            INTEREST_ALWAYS
        } else {
            INTEREST_SOMETIMES
        };
        self.interest.store(v, Ordering::Relaxed);
    }

    fn metadata(&self) -> &Metadata<'_> {
        // Always initialised before the callsite is registered or used.
        self.meta.get().unwrap_or(&FALLBACK_META)
    }
}

struct NeverCallsite;
impl Callsite for NeverCallsite {
    fn set_interest(&self, _: Interest) {}
    fn metadata(&self) -> &Metadata<'_> {
        &FALLBACK_META
    }
}
static NEVER_CALLSITE: NeverCallsite = NeverCallsite;
static FALLBACK_META: Metadata<'static> = Metadata::new(
    "uninitialised",
    DEFAULT_TARGET,
    Level::TRACE,
    None,
    None,
    None,
    FieldSet::new(&[], Identifier(&NEVER_CALLSITE)),
    Kind::SPAN,
);

impl DynCallsite {
    fn meta(&'static self) -> &'static Metadata<'static> {
        self.meta.get().unwrap_or(&FALLBACK_META)
    }

    fn enabled(&'static self) -> bool {
        match self.interest.load(Ordering::Relaxed) {
            INTEREST_NEVER => false,
            INTEREST_ALWAYS => true,
            _ => tracing::dispatcher::get_default(|d| d.enabled(self.meta())),
        }
    }

    fn leak(
        kind: Kind,
        level: Level,
        name: &str,
        target: &str,
        fields: Vec<&'static str>,
    ) -> &'static Self {
        let cs: &'static DynCallsite = Box::leak(Box::new(DynCallsite {
            meta: OnceLock::new(),
            interest: AtomicU8::new(INTEREST_UNKNOWN),
        }));
        let names: &'static [&'static str] = Box::leak(fields.into_boxed_slice());
        let meta = Metadata::new(
            leak_str(name),
            leak_str(target),
            level,
            None,
            None,
            None,
            FieldSet::new(names, Identifier(cs)),
            kind,
        );
        let _ = cs.meta.set(meta);
        tracing_core::callsite::register(cs);
        cs
    }
}

fn leak_str(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum ShapeKind {
    Span,
    Event,
}

struct Interner {
    shapes: RwLock<HashMap<u64, Vec<&'static DynCallsite>>>,
    count: AtomicUsize,
    limit: AtomicUsize,
    bytes: AtomicUsize,
    byte_limit: AtomicUsize,
    fallback_uses: AtomicU64,
    warned: std::sync::atomic::AtomicBool,
}

fn interner() -> &'static Interner {
    static INTERNER: OnceLock<Interner> = OnceLock::new();
    INTERNER.get_or_init(|| Interner {
        shapes: RwLock::new(HashMap::new()),
        count: AtomicUsize::new(0),
        limit: AtomicUsize::new(4096),
        bytes: AtomicUsize::new(0),
        byte_limit: AtomicUsize::new(DEFAULT_MAX_CALLSITE_BYTES),
        fallback_uses: AtomicU64::new(0),
        warned: std::sync::atomic::AtomicBool::new(false),
    })
}

/// The field of the fallback callsites that carries a shape's fields as one JSON object (on the
/// console); exporters expand it into one attribute per key.
pub const FALLBACK_FIELDS: &str = "tasker.fields";

/// What one interned shape keeps for good, in bytes: its strings and the callsite, metadata and
/// field-name table (an estimate of the allocations, not counting allocator rounding).
fn shape_bytes(name: &str, target: &str, field_names: usize, fields: &Fields) -> usize {
    name.len()
        + target.len()
        + fields.iter().map(|(k, _)| k.len()).sum::<usize>()
        + field_names * std::mem::size_of::<&str>()
        + std::mem::size_of::<DynCallsite>()
        + 64 // hash-table slot and vector of the shape
}

/// Calls that used a fallback callsite because an interner bound was reached (their fields are
/// still exported one attribute each).
pub fn fallback_uses() -> u64 {
    interner().fallback_uses.load(Ordering::Relaxed)
}

/// Bytes held by the interned shapes (an estimate; bounded by
/// `telemetry.spans.max_dynamic_callsite_bytes`).
pub fn interned_bytes() -> usize {
    interner().bytes.load(Ordering::Relaxed)
}

/// Replaces a [`FALLBACK_FIELDS`] attribute (a JSON object) by one attribute per key, in place
/// and in order; other attributes are left alone. Used by the span exporter (span and span
/// event attributes) and the log exporter.
pub(crate) fn expand_fallback_fields(attrs: &mut Vec<KeyValue>) {
    let Some(at) = attrs
        .iter()
        .position(|kv| kv.key.as_str() == FALLBACK_FIELDS)
    else {
        return;
    };
    let json = attrs.remove(at);
    let expanded = expand_json(&json.value.as_str());
    attrs.splice(at..at, expanded);
}

/// The entries of a [`FALLBACK_FIELDS`] JSON object as attributes (an unreadable value is kept
/// as it came, under its own key).
pub(crate) fn expand_json(json: &str) -> Vec<KeyValue> {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .map(|(k, v)| {
                let value = match v {
                    serde_json::Value::String(s) => opentelemetry::Value::from(s),
                    serde_json::Value::Bool(b) => opentelemetry::Value::Bool(b),
                    serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                        (Some(i), _) => opentelemetry::Value::I64(i),
                        (None, Some(f)) => opentelemetry::Value::F64(f),
                        _ => opentelemetry::Value::from(n.to_string()),
                    },
                    other => opentelemetry::Value::from(other.to_string()),
                };
                KeyValue::new(k, value)
            })
            .collect(),
        _ => vec![KeyValue::new(FALLBACK_FIELDS, json.to_owned())],
    }
}
/// The default of `telemetry.spans.max_dynamic_callsite_bytes`: 4 MiB.
pub const DEFAULT_MAX_CALLSITE_BYTES: usize = 4 * 1024 * 1024;

/// Sets the bounds on interned shapes (`telemetry.spans.max_dynamic_callsites` and
/// `telemetry.spans.max_dynamic_callsite_bytes`).
pub(crate) fn set_max_callsites(limit: usize, bytes: usize) {
    interner().limit.store(limit, Ordering::Relaxed);
    interner().byte_limit.store(bytes, Ordering::Relaxed);
}

/// Number of interned callsites so far (for leak checks and tests).
pub fn interned_callsites() -> usize {
    interner().count.load(Ordering::Relaxed)
}

fn fnv(hash: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *hash ^= u64::from(*b);
        *hash = hash.wrapping_mul(0x100_0000_01b3);
    }
    *hash ^= 0xff;
    *hash = hash.wrapping_mul(0x100_0000_01b3);
}

fn level_byte(level: Level) -> u8 {
    crate::level::level_index(level)
}

/// The user field names of a shape: events get `message` first, and a user field that collides
/// with it is renamed `fields.message`.
fn field_name(kind: ShapeKind, key: &str) -> &str {
    if kind == ShapeKind::Event && key == "message" {
        "fields.message"
    } else {
        key
    }
}

fn lookup(
    kind: ShapeKind,
    level: Level,
    name: &str,
    target: &str,
    fields: &Fields,
) -> Option<&'static DynCallsite> {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    fnv(&mut hash, &[kind as u8, level_byte(level)]);
    fnv(&mut hash, name.as_bytes());
    fnv(&mut hash, target.as_bytes());
    for (k, _) in fields.iter() {
        fnv(&mut hash, field_name(kind, k).as_bytes());
    }
    let offset = usize::from(kind == ShapeKind::Event);
    let matches = |cs: &'static DynCallsite| {
        let meta = cs.meta();
        meta.name() == name
            && meta.is_span() == (kind == ShapeKind::Span)
            && meta.target() == target
            && *meta.level() == level
            && meta.fields().len() == fields.len() + offset
            && meta
                .fields()
                .iter()
                .skip(offset)
                .zip(fields.iter())
                .all(|(f, (k, _))| f.name() == field_name(kind, k))
    };
    let table = interner();
    if let Ok(shapes) = table.shapes.read() {
        if let Some(cs) = shapes
            .get(&hash)
            .and_then(|v| v.iter().copied().find(|cs| matches(cs)))
        {
            return Some(cs);
        }
    }
    let mut shapes = table.shapes.write().ok()?;
    if let Some(cs) = shapes
        .get(&hash)
        .and_then(|v| v.iter().copied().find(|cs| matches(cs)))
    {
        return Some(cs);
    }
    let bytes = shape_bytes(name, target, fields.len() + offset, fields);
    let over_count = table.count.load(Ordering::Relaxed) >= table.limit.load(Ordering::Relaxed);
    let over_bytes = table.bytes.load(Ordering::Relaxed).saturating_add(bytes)
        > table.byte_limit.load(Ordering::Relaxed);
    if over_count || over_bytes {
        drop(shapes);
        table.fallback_uses.fetch_add(1, Ordering::Relaxed);
        if !table.warned.swap(true, Ordering::Relaxed) {
            let (setting, limit) = if over_count {
                (
                    "telemetry.spans.max_dynamic_callsites",
                    table.limit.load(Ordering::Relaxed),
                )
            } else {
                (
                    "telemetry.spans.max_dynamic_callsite_bytes",
                    table.byte_limit.load(Ordering::Relaxed),
                )
            };
            tracing::warn!(
                target: "tasker_telemetry::dynamic",
                limit,
                "{setting} ({limit}) reached: further new span/event shapes (name and field names) share a fallback callsite: exported spans and logs still carry each field as its own attribute, the console shows them as one JSON field {FALLBACK_FIELDS}; vary field names less (a dict keyed by ids makes every call a new shape) or raise the limit; this warning is not repeated (count: tasker_telemetry::dynamic::fallback_uses)"
            );
        }
        return None;
    }
    let mut names: Vec<&'static str> = Vec::with_capacity(fields.len() + offset);
    if kind == ShapeKind::Event {
        names.push("message");
    }
    names.extend(fields.iter().map(|(k, _)| leak_str(field_name(kind, k))));
    let tkind = if kind == ShapeKind::Span {
        Kind::SPAN
    } else {
        Kind::EVENT
    };
    let cs = DynCallsite::leak(tkind, level, name, target, names);
    shapes.entry(hash).or_default().push(cs);
    table.count.fetch_add(1, Ordering::Relaxed);
    table.bytes.fetch_add(bytes, Ordering::Relaxed);
    Some(cs)
}

fn fallback(kind: ShapeKind, level: Level) -> &'static DynCallsite {
    static SLOTS: [OnceLock<&'static DynCallsite>; 10] = [const { OnceLock::new() }; 10];
    let i = level_byte(level) as usize + if kind == ShapeKind::Span { 0 } else { 5 };
    SLOTS[i].get_or_init(|| match kind {
        ShapeKind::Span => DynCallsite::leak(
            Kind::SPAN,
            level,
            "dynamic_span",
            DEFAULT_TARGET,
            vec!["otel.name", FALLBACK_FIELDS],
        ),
        ShapeKind::Event => DynCallsite::leak(
            Kind::EVENT,
            level,
            "dynamic_event",
            DEFAULT_TARGET,
            vec!["message", FALLBACK_FIELDS],
        ),
    })
}

/// Where a foreign span or event attaches.
#[derive(Debug, Clone, Copy)]
pub enum Parent<'a> {
    /// The span current on this thread (a Rust span when a handler runs in-process), or none.
    Current,
    /// An explicit span (the binding's own stack).
    Span(&'a DynSpan),
    /// A context extracted from another process's headers.
    Remote(&'a RemoteContext),
    /// An OpenTelemetry context, e.g. that of a span that has ended (its children still
    /// belong to it, as the OpenTelemetry API has it).
    Context(&'a Context),
    /// No parent: a new trace.
    Root,
}

/// What a foreign span starts with. `P` is where it attaches: a [`Parent`] here, the
/// language's current parent for [`crate::foreign::ForeignSpan::start`].
#[derive(Debug, Clone, Copy)]
pub struct SpanStart<'a, P = Parent<'a>> {
    /// Span name (becomes the OTLP span name).
    pub name: &'a str,
    /// Level, used by filters.
    pub level: Level,
    /// Target (module or logger name), used by filters; [`DEFAULT_TARGET`] when empty.
    pub target: &'a str,
    /// Fields, recorded as span attributes.
    pub fields: &'a Fields,
    /// The parent.
    pub parent: P,
    /// The binding's current correlation, when it keeps its own scope (fiber/contextvar).
    pub correlation: Option<&'a Arc<Correlation>>,
}

/// A span started through the dynamic API. Ends when [`end`](DynSpan::end) is called or the
/// value is dropped.
#[derive(Debug, Clone)]
pub struct DynSpan {
    span: tracing::Span,
    cx: Context,
    /// Whether the OpenTelemetry layer records it (`cx` is its own span's context): a child
    /// started under it then gets that context from the layer, without setting it again.
    recorded: bool,
}

/// Whether `cx` carries `correlation` (the same one, not an equal copy), or none is asked for.
fn carries(cx: &Context, correlation: Option<&Arc<Correlation>>) -> bool {
    correlation
        .is_none_or(|c| Correlation::from_context(cx).is_some_and(|have| Arc::ptr_eq(&have, c)))
}

fn parent_context(parent: Parent<'_>, correlation: Option<&Arc<Correlation>>) -> (Context, bool) {
    let (cx, own) = match parent {
        Parent::Current => (Context::current(), false),
        Parent::Span(p) => (p.cx.clone(), true),
        Parent::Remote(r) => (r.context().clone(), true),
        Parent::Context(cx) => (cx.clone(), true),
        Parent::Root => (Context::new(), true),
    };
    match correlation {
        Some(c) if !carries(&cx, correlation) => (cx.with_value(CorrelationValue(c.clone())), true),
        _ => (cx, own),
    }
}

impl DynSpan {
    /// Starts a span.
    ///
    /// ```
    /// use tasker_telemetry::dynamic::{DynSpan, Parent, SpanStart};
    /// use tasker_telemetry::fields::Fields;
    ///
    /// let fields: Fields = [("order_id", 7i64)].into_iter().collect();
    /// let span = DynSpan::start(SpanStart {
    ///     name: "charge_payment", level: tracing::Level::INFO, target: "ruby",
    ///     fields: &fields, parent: Parent::Current, correlation: None,
    /// });
    /// span.end();
    /// ```
    pub fn start(args: SpanStart<'_>) -> DynSpan {
        let target = if args.target.is_empty() {
            DEFAULT_TARGET
        } else {
            args.target
        };
        let name = truncate_name(args.name);
        let target = truncate_name(target);
        let args = SpanStart {
            name: &name,
            target: &target,
            ..args
        };
        let target = args.target;
        let (parent_cx, mut override_parent) = parent_context(args.parent, args.correlation);
        if let Parent::Span(p) = args.parent {
            // The layer gives a child of a span it records that span's context (the same one as
            // `p.cx`): setting it again would cost a registry lookup and a context copy per span.
            if p.recorded && carries(&p.cx, args.correlation) {
                override_parent = false;
            }
        }
        let interned = lookup(ShapeKind::Span, args.level, args.name, target, args.fields);
        let cs = interned.unwrap_or_else(|| fallback(ShapeKind::Span, args.level));
        if !cs.enabled() {
            return DynSpan {
                span: tracing::Span::none(),
                cx: parent_cx,
                recorded: false,
            };
        }
        let meta = cs.meta();
        let tracing_parent = match args.parent {
            Parent::Current => None,
            Parent::Span(p) => Some(p.span.id()),
            Parent::Remote(_) | Parent::Context(_) | Parent::Root => Some(None),
        };
        let span = if interned.is_some() {
            let values: Vec<Option<&dyn tracing::Value>> = args
                .fields
                .iter()
                .map(|(_, v)| Some(v.as_value()))
                .collect();
            new_span(meta, tracing_parent, &meta.fields().value_set_all(&values))
        } else {
            let json = args.fields.to_json().to_string();
            let values: [Option<&dyn tracing::Value>; 2] = [Some(&args.name), Some(&json)];
            new_span(meta, tracing_parent, &meta.fields().value_set_all(&values))
        };
        if override_parent {
            let _ = span.set_parent(parent_cx.clone());
        }
        let own = span.context();
        let recorded = own.span().span_context().is_valid();
        let cx = if recorded || !parent_cx.span().span_context().is_valid() {
            own
        } else {
            // Not seen by the export layer (filtered out): children attach to our parent.
            parent_cx
        };
        DynSpan { span, cx, recorded }
    }

    /// A span that records nothing (for disabled levels).
    pub fn none() -> DynSpan {
        DynSpan {
            span: tracing::Span::none(),
            cx: Context::current(),
            recorded: false,
        }
    }

    /// Whether no layer records this span.
    pub fn is_disabled(&self) -> bool {
        self.span.is_disabled()
    }

    /// The underlying `tracing` span.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// The OpenTelemetry context of this span (its parent's, if it is not exported).
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// The correlation this span carries.
    pub fn correlation(&self) -> Option<Arc<Correlation>> {
        Correlation::from_context(&self.cx)
    }

    /// Trace id, 32 lowercase hex digits.
    pub fn trace_id(&self) -> Option<String> {
        crate::propagation::ids(&self.cx).map(|(t, _)| t)
    }

    /// Span id, 16 lowercase hex digits.
    pub fn span_id(&self) -> Option<String> {
        crate::propagation::ids(&self.cx).map(|(_, s)| s)
    }

    /// Makes this span current on this thread (Rust code called meanwhile nests under it) until
    /// the guard drops. Bindings that cannot hold a guard use [`enter_raw`](Self::enter_raw).
    pub fn enter(&self) -> tracing::span::Entered<'_> {
        self.span.enter()
    }

    /// Enters the span without a guard; pair with [`exit_raw`](Self::exit_raw) on the same thread.
    pub fn enter_raw(&self) {
        self.span
            .with_subscriber(|(id, dispatch)| dispatch.enter(id));
    }

    /// Exits a span entered with [`enter_raw`](Self::enter_raw).
    pub fn exit_raw(&self) {
        self.span
            .with_subscriber(|(id, dispatch)| dispatch.exit(id));
    }

    /// Sets an attribute after the start (exported; redacted like any field).
    pub fn set(&self, key: &str, value: &Scalar) {
        if !self.span.is_disabled() {
            self.span
                .set_attribute(truncate_name(key).into_owned(), value.to_otel());
        }
    }

    /// Adds a span event (exported with the span, not printed on the console).
    pub fn add_event(&self, name: &str, fields: &Fields) {
        if !self.span.is_disabled() {
            let attrs = fields
                .iter()
                .map(|(k, v)| KeyValue::new(k.to_owned(), v.to_otel()))
                .collect();
            self.span.add_event(truncate_name(name).into_owned(), attrs);
        }
    }

    /// Records an exception: an `exception` event and `exception.*` attributes (type, message,
    /// stacktrace), and error status with the message.
    pub fn record_exception(&self, kind: &str, message: &str, stacktrace: Option<&str>) {
        if self.span.is_disabled() {
            return;
        }
        let fields = crate::fields::Exception {
            kind,
            message,
            stacktrace,
        }
        .fields();
        let attrs: Vec<KeyValue> = fields
            .iter()
            .map(|(k, v)| KeyValue::new(k.to_owned(), v.to_otel()))
            .collect();
        for kv in &attrs {
            self.span.set_attribute(kv.key.clone(), kv.value.clone());
        }
        self.span.add_event("exception", attrs);
        self.set_error(&format!("{kind}: {message}"));
    }

    /// Sets error status with a description.
    pub fn set_error(&self, description: &str) {
        if !self.span.is_disabled() {
            self.span.set_status(Status::error(description.to_owned()));
        }
    }

    /// Sets the OK status (the OpenTelemetry API's `StatusCode.OK`; final, as the API has it).
    pub fn set_ok(&self) {
        if !self.span.is_disabled() {
            self.span.set_status(Status::Ok);
        }
    }

    /// Renames the exported span (the console keeps the name it started with).
    pub fn update_name(&self, name: &str) {
        if !self.span.is_disabled() {
            self.span
                .context()
                .span()
                .update_name(truncate_name(name).into_owned());
        }
    }

    /// Adds a link to another span, with attributes.
    pub fn add_link(&self, to: SpanContext, fields: &Fields) {
        if !self.span.is_disabled() {
            let attrs = fields
                .iter()
                .map(|(k, v)| KeyValue::new(k.to_owned(), v.to_otel()))
                .collect();
            self.span.add_link_with_attributes(to, attrs);
        }
    }

    /// Ends the span with an explicit end time (the OpenTelemetry API's `end(end_time)`).
    pub fn end_at(self, time: std::time::SystemTime) {
        if !self.span.is_disabled() {
            self.span.context().span().end_with_timestamp(time);
        }
    }

    /// Ends the span (it is exported when the last clone is ended or dropped).
    pub fn end(self) {
        drop(self);
    }
}

fn new_span(
    meta: &'static Metadata<'static>,
    parent: Option<Option<tracing::Id>>,
    values: &tracing::field::ValueSet<'_>,
) -> tracing::Span {
    match parent {
        None => tracing::Span::new(meta, values),
        Some(p) => tracing::Span::child_of(p, meta, values),
    }
}

/// What a foreign log event carries.
#[derive(Debug, Clone, Copy)]
pub struct EventArgs<'a> {
    /// Level.
    pub level: Level,
    /// Target (logger name); [`DEFAULT_TARGET`] when empty.
    pub target: &'a str,
    /// The message.
    pub message: &'a str,
    /// Fields.
    pub fields: &'a Fields,
    /// The span it belongs to.
    pub parent: Parent<'a>,
    /// The binding's current correlation, when it keeps its own scope.
    pub correlation: Option<&'a Arc<Correlation>>,
}

/// Whether an event or span at `level` for `target` would be recorded by any layer
/// (console or export). Cheap after the first call for a given shape.
pub fn enabled(level: Level, target: &str) -> bool {
    if tracing::level_filters::LevelFilter::current() < level {
        return false;
    }
    let target = if target.is_empty() {
        DEFAULT_TARGET
    } else {
        target
    };
    lookup(ShapeKind::Event, level, "event", target, &Fields::new()).is_none_or(|cs| cs.enabled())
}

/// The most verbose level any layer may record, as an index (0 = TRACE … 4 = ERROR, 5 = off).
/// Bindings cache it to answer `enabled?` without crossing into Rust; it changes only when the
/// configuration does (`init_logging`, `init`).
pub fn max_level_index() -> u8 {
    match tracing::level_filters::LevelFilter::current().into_level() {
        Some(level) => crate::level::level_index(level),
        None => 5,
    }
}

/// Emits a log event: printed by the console layer, attached to the parent span as a span
/// event, exported as an OTLP log when enabled.
///
/// ```
/// use tasker_telemetry::dynamic::{event, EventArgs, Parent};
/// use tasker_telemetry::fields::Fields;
///
/// event(EventArgs {
///     level: tracing::Level::INFO, target: "python.handlers", message: "charged",
///     fields: &Fields::new(), parent: Parent::Current, correlation: None,
/// });
/// ```
pub fn event(args: EventArgs<'_>) {
    let target = if args.target.is_empty() {
        DEFAULT_TARGET
    } else {
        args.target
    };
    let target = truncate_name(target);
    let target: &str = &target;
    let message = crate::fields::truncate_str(args.message, crate::fields::max_value_len());
    let args = EventArgs {
        message: &message,
        ..args
    };
    let interned = lookup(ShapeKind::Event, args.level, "event", target, args.fields);
    let cs = interned.unwrap_or_else(|| fallback(ShapeKind::Event, args.level));
    if !cs.enabled() {
        return;
    }
    let meta = cs.meta();
    let (cx, attach) = parent_context(args.parent, args.correlation);
    let _guard = attach.then(|| cx.attach());
    let dispatch = |values: &tracing::field::ValueSet<'_>| match args.parent {
        Parent::Current => tracing::Event::dispatch(meta, values),
        Parent::Span(p) => tracing::Event::child_of(p.span.id(), meta, values),
        Parent::Remote(_) | Parent::Context(_) | Parent::Root => {
            tracing::Event::child_of(None::<tracing::Id>, meta, values)
        }
    };
    if interned.is_some() {
        let mut values: Vec<Option<&dyn tracing::Value>> =
            Vec::with_capacity(args.fields.len() + 1);
        values.push(Some(&args.message));
        values.extend(args.fields.iter().map(|(_, v)| Some(v.as_value())));
        dispatch(&meta.fields().value_set_all(&values));
    } else {
        let json = args.fields.to_json().to_string();
        let values: [Option<&dyn tracing::Value>; 2] = [Some(&args.message), Some(&json)];
        dispatch(&meta.fields().value_set_all(&values));
    }
}
