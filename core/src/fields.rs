//! Key/value fields given by foreign callers (Ruby, Python), converted once into what
//! `tracing` and OpenTelemetry can carry.
//!
//! Conversion rules, the same for every language:
//!
//! | value | becomes |
//! |---|---|
//! | string | string, cut to `telemetry.spans.max_attribute_length` bytes with `…[truncated N bytes]` |
//! | integer / float / bool | the same type (integers as `i64`; larger integers as strings) |
//! | null (`nil`, `None`) | the string `"null"` |
//! | map | one field per entry under dotted keys: `{"user" => {"id" => 1}}` → `user.id = 1` (up to 8 levels; deeper levels become a JSON string) |
//! | list | a JSON string: `[1,"a",true]` |
//! | any other object | its string form (`to_s`, `str()`), done by the binding |
//!
//! A key given twice keeps the last value. Keys (and the names of foreign spans, events and
//! targets) longer than [`MAX_NAME_LEN`] bytes are cut like long strings. Inside the JSON of a
//! list or of a map nested too deep, the values of secret-looking keys are already
//! `[REDACTED]` (see [`crate::redaction`]).
//!
//! # Limits
//!
//! One [`Fields`] keeps at most [`max_fields`] distinct keys (`telemetry.spans.attribute_count_limit`,
//! `OTEL_ATTRIBUTE_COUNT_LIMIT`, default 128): a new key past the limit is dropped, a key already
//! present still takes its new value. String values are cut to [`max_value_len`] bytes: the
//! smaller of `telemetry.spans.max_attribute_length` (default 8192) and
//! `telemetry.spans.attribute_value_length_limit` (`OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`, unset by
//! default). Both are counted, never silent: dropped keys in
//! [`TelemetryStats::attributes_dropped`](crate::stats::TelemetryStats::attributes_dropped) (and
//! `tasker_telemetry_dropped_total{signal="attributes", reason="count_limit"}`), cut values in
//! [`TelemetryStats::attributes_truncated`](crate::stats::TelemetryStats::attributes_truncated).
//!
//! A binding converting a large hash or dict asks [`Fields::accepts`] before converting each
//! value, skips the ones that would be dropped and reports them with [`Fields::count_dropped`],
//! so that a 1,000,000-entry dict costs 128 conversions, not 1,000,000. Inserting stays linear
//! however many keys come (a hash index past [`INDEX_THRESHOLD`] entries).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::redaction::{Redactor, REDACTED};

/// Deepest map nesting that is flattened to dotted keys.
pub const MAX_FLATTEN_DEPTH: usize = 8;

/// Longest key, span name, event name or target kept whole, in bytes; longer ones are cut with
/// the `…[truncated N bytes]` marker. (Each distinct span shape's names are kept for the life of
/// the process, so they must be small.)
pub const MAX_NAME_LEN: usize = 256;

/// `name` cut to [`MAX_NAME_LEN`] bytes (borrowed when it fits).
pub fn truncate_name(name: &str) -> std::borrow::Cow<'_, str> {
    truncate_str(name, MAX_NAME_LEN)
}

/// Deepest nesting a binding converts from a Ruby or Python value; a deeper container becomes
/// [`DEPTH_MARKER`].
pub const MAX_CONVERT_DEPTH: usize = 32;

/// What a container nested deeper than [`MAX_CONVERT_DEPTH`] becomes.
pub const DEPTH_MARKER: &str = "<nested deeper than 32 levels>";

/// What a container met again inside itself becomes.
pub const CYCLE_MARKER: &str = "[cycle]";

/// What a value whose string form cannot be had (`to_s` / `__str__` raised or returned a
/// non-string) becomes.
///
/// ```
/// assert_eq!(tasker_telemetry::fields::unprintable("Widget"), "<unprintable Widget>");
/// ```
pub fn unprintable(type_name: &str) -> String {
    format!("<unprintable {type_name}>")
}

/// Whether `s` is the [`unprintable`] marker of some type.
pub fn is_unprintable(s: &str) -> bool {
    s.strip_prefix("<unprintable ")
        .is_some_and(|rest| rest.ends_with('>') && !rest[..rest.len() - 1].contains(['<', '>']))
}

/// Attribute keys of a recorded exception (OpenTelemetry semantic conventions).
pub mod exception {
    /// The exception's class, qualified (`ZeroDivisionError`, `app.errors.Declined`).
    pub const TYPE: &str = "exception.type";
    /// Its message.
    pub const MESSAGE: &str = "exception.message";
    /// Its formatted backtrace.
    pub const STACKTRACE: &str = "exception.stacktrace";
}

/// An exception as a binding hands it over: class name, message and backtrace.
#[derive(Debug, Clone, Copy)]
pub struct Exception<'a> {
    /// The class name.
    pub kind: &'a str,
    /// The message.
    pub message: &'a str,
    /// The backtrace, when there is one.
    pub stacktrace: Option<&'a str>,
}

impl Exception<'_> {
    /// The `exception.*` fields (message and backtrace cut to the value length limit).
    pub fn fields(&self) -> Fields {
        let mut out = Fields::with_capacity(3);
        out.insert_scalar(exception::TYPE, Scalar::Str(self.kind.to_owned()));
        out.insert_scalar(exception::MESSAGE, Scalar::Str(self.message.to_owned()));
        if let Some(st) = self.stacktrace {
            out.insert_scalar(exception::STACKTRACE, Scalar::Str(st.to_owned()));
        }
        out
    }
}

static MAX_VALUE_LEN: AtomicUsize = AtomicUsize::new(8192);
static MAX_FIELDS: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_FIELDS);

/// The default of [`max_fields`] (`OTEL_ATTRIBUTE_COUNT_LIMIT`'s default).
pub const DEFAULT_MAX_FIELDS: usize = 128;

/// Number of entries past which a [`Fields`] keeps a hash index of its keys (below it, a scan
/// of a few keys is faster than hashing).
pub const INDEX_THRESHOLD: usize = 16;

/// Sets the string length limit (the smaller of `telemetry.spans.max_attribute_length` and
/// `telemetry.spans.attribute_value_length_limit`).
pub(crate) fn set_max_value_len(len: usize) {
    MAX_VALUE_LEN.store(len.max(16), Ordering::Relaxed);
}

/// The current string length limit in bytes.
pub fn max_value_len() -> usize {
    MAX_VALUE_LEN.load(Ordering::Relaxed)
}

/// Sets the number of distinct keys one [`Fields`] keeps (`telemetry.spans.attribute_count_limit`).
pub(crate) fn set_max_fields(n: usize) {
    MAX_FIELDS.store(n.max(1), Ordering::Relaxed);
}

/// The number of distinct keys one [`Fields`] keeps; new keys past it are dropped and counted.
pub fn max_fields() -> usize {
    MAX_FIELDS.load(Ordering::Relaxed)
}

/// A value as a foreign caller hands it over, before flattening.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// `nil` / `None`.
    Null,
    /// An array or list.
    List(Vec<FieldValue>),
    /// A hash or dict, in its own order.
    Map(Vec<(String, FieldValue)>),
}

impl From<&str> for FieldValue {
    fn from(v: &str) -> Self {
        FieldValue::Str(v.to_owned())
    }
}
impl From<String> for FieldValue {
    fn from(v: String) -> Self {
        FieldValue::Str(v)
    }
}
impl From<i64> for FieldValue {
    fn from(v: i64) -> Self {
        FieldValue::Int(v)
    }
}
impl From<f64> for FieldValue {
    fn from(v: f64) -> Self {
        FieldValue::Float(v)
    }
}
impl From<bool> for FieldValue {
    fn from(v: bool) -> Self {
        FieldValue::Bool(v)
    }
}

/// A flat field value: what a span attribute or a log field holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A string (already truncated).
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl Scalar {
    /// This value as `tracing` sees it.
    pub fn as_value(&self) -> &dyn tracing::Value {
        match self {
            Scalar::Str(s) => s,
            Scalar::Int(i) => i,
            Scalar::Float(f) => f,
            Scalar::Bool(b) => b,
        }
    }

    /// This value as an OpenTelemetry attribute value.
    pub fn to_otel(&self) -> opentelemetry::Value {
        match self {
            Scalar::Str(s) => opentelemetry::Value::from(s.clone()),
            Scalar::Int(i) => opentelemetry::Value::I64(*i),
            Scalar::Float(f) => opentelemetry::Value::F64(*f),
            Scalar::Bool(b) => opentelemetry::Value::Bool(*b),
        }
    }

    /// The value as JSON. A float that is not finite becomes the string the OTLP JSON mapping
    /// uses for it: `"NaN"`, `"Infinity"` or `"-Infinity"` (JSON has no such numbers).
    ///
    /// ```
    /// use tasker_telemetry::fields::Scalar;
    /// assert_eq!(Scalar::Float(f64::NEG_INFINITY).to_json(), "-Infinity");
    /// assert_eq!(Scalar::Float(1.5).to_json(), 1.5);
    /// ```
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Scalar::Str(s) => serde_json::Value::from(s.as_str()),
            Scalar::Int(i) => serde_json::Value::from(*i),
            Scalar::Float(f) => float_json(*f),
            Scalar::Bool(b) => serde_json::Value::from(*b),
        }
    }
}

/// A float as JSON: a number when finite, else `"NaN"`, `"Infinity"` or `"-Infinity"` (the
/// spelling of the protobuf JSON mapping that OTLP JSON uses).
pub fn float_json(f: f64) -> serde_json::Value {
    match serde_json::Number::from_f64(f) {
        Some(n) => serde_json::Value::Number(n),
        None => serde_json::Value::from(non_finite_name(f)),
    }
}

/// `"NaN"`, `"Infinity"` or `"-Infinity"` for a float that is not finite (`"NaN"` for any NaN).
pub fn non_finite_name(f: f64) -> &'static str {
    if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// Cuts `s` to at most `max` bytes (on a character boundary) and appends a marker.
pub fn truncate(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    let dropped = s.len() - cut;
    s.truncate(cut);
    let _ = write!(s, "…[truncated {dropped} bytes]");
    s
}

/// `s` cut to at most `max` bytes with the marker (borrowed when it fits).
pub fn truncate_str(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(truncate(s.to_owned(), max))
    }
}

/// Flattened fields, in insertion order, keys unique, at most [`max_fields`] of them (see
/// [Limits](self#limits)).
///
/// ```
/// use tasker_telemetry::fields::{Fields, FieldValue, Scalar};
///
/// let mut fields = Fields::new();
/// fields.insert("order", FieldValue::Map(vec![
///     ("id".into(), FieldValue::Int(7)),
///     ("tags".into(), FieldValue::List(vec!["a".into(), FieldValue::Bool(true)])),
/// ]));
/// let flat: Vec<_> = fields.iter().collect();
/// assert_eq!(flat[0], ("order.id", &Scalar::Int(7)));
/// assert_eq!(flat[1], ("order.tags", &Scalar::Str(r#"["a",true]"#.into())));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Fields {
    entries: Vec<(String, Scalar)>,
    /// Key → position in `entries`, once there are more than [`INDEX_THRESHOLD`] entries.
    index: Option<HashMap<String, usize>>,
    /// Keys dropped by the count limit (including those a binding skipped).
    dropped: usize,
    /// The count limit of this value when not the process's ([`max_fields`]).
    limit: Option<usize>,
}

impl PartialEq for Fields {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Fields {
    /// No fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `n` fields (at most [`max_fields`] are reserved).
    pub fn with_capacity(n: usize) -> Self {
        Self {
            entries: Vec::with_capacity(n.min(max_fields())),
            ..Self::default()
        }
    }

    /// Whether a value under `key` would be kept: `key` (cut as keys are) is already present, or
    /// there is room for one more key. A binding asks before converting a value and skips the
    /// ones that would be dropped, counting them with [`count_dropped`](Self::count_dropped).
    ///
    /// For a map value this answers for the map's own key: its flattened entries may still be
    /// dropped one by one when they do not fit.
    ///
    /// ```
    /// use tasker_telemetry::fields::{max_fields, Fields, FieldValue};
    ///
    /// let mut fields = Fields::new();
    /// for i in 0..max_fields() + 5 {
    ///     let key = format!("k{i}");
    ///     if fields.accepts(&key) {
    ///         fields.insert(key, FieldValue::Int(i as i64)); // only now convert the value
    ///     } else {
    ///         fields.count_dropped(1);
    ///     }
    /// }
    /// assert_eq!(fields.len(), max_fields());
    /// assert_eq!(fields.dropped(), 5);
    /// assert!(fields.accepts("k0"), "a present key is still updated");
    /// ```
    pub fn accepts(&self, key: &str) -> bool {
        self.entries.len() < self.limit() || self.position(&truncate_name(key)).is_some()
    }

    /// Counts `n` keys that a binding did not insert because [`accepts`](Self::accepts) said
    /// they would be dropped (reported in the process's statistics like the drops of
    /// [`insert`](Self::insert)).
    pub fn count_dropped(&mut self, n: usize) {
        if n > 0 {
            self.dropped = self.dropped.saturating_add(n);
            crate::stats::attributes_dropped(n as u64);
        }
    }

    /// Keys dropped from this value by the count limit so far.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// No fields and no count limit: for a message that is read by key (a step message, a
    /// handler's step context), whose known keys must not be crowded out by others. Where such
    /// fields become span attributes, the SDK's span limits still apply.
    pub fn unlimited() -> Self {
        Self {
            limit: Some(usize::MAX),
            ..Self::default()
        }
    }

    /// No fields, keeping at most `limit` keys whatever the process's limit.
    #[cfg(test)]
    fn limited(limit: usize) -> Self {
        Self {
            limit: Some(limit),
            ..Self::default()
        }
    }

    fn limit(&self) -> usize {
        self.limit.unwrap_or_else(max_fields)
    }

    fn position(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| k == key),
        }
    }

    /// Number of flat fields.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `(key, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Scalar)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The text under `key`, when it is a string that is neither empty nor `"null"` (how a step
    /// context or message leaves a value unset).
    pub(crate) fn text(&self, key: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| match v {
                Scalar::Str(s) if !s.is_empty() && s != "null" => Some(s.as_str()),
                _ => None,
            })
    }

    /// Inserts a value under `key`, flattening maps and lists as documented on the module.
    pub fn insert(&mut self, key: impl Into<String>, value: FieldValue) {
        self.insert_at(key.into(), value, 0);
    }

    /// Inserts an already flat value (a new key past [`max_fields`] is dropped and counted).
    pub fn insert_scalar(&mut self, key: impl Into<String>, value: Scalar) {
        let mut key = key.into();
        if key.len() > MAX_NAME_LEN {
            key = truncate(key, MAX_NAME_LEN);
        }
        let slot = self.position(&key);
        if slot.is_none() && self.entries.len() >= self.limit() {
            self.count_dropped(1);
            return;
        }
        let value = match value {
            Scalar::Str(s) => {
                let max = max_value_len();
                if s.len() > max {
                    crate::stats::attribute_truncated();
                }
                Scalar::Str(truncate(s, max))
            }
            other => other,
        };
        match slot {
            Some(i) => self.entries[i].1 = value,
            None => {
                let at = self.entries.len();
                if let Some(index) = &mut self.index {
                    index.insert(key.clone(), at);
                }
                self.entries.push((key, value));
                if self.index.is_none() && self.entries.len() > INDEX_THRESHOLD {
                    self.index = Some(
                        self.entries
                            .iter()
                            .enumerate()
                            .map(|(i, (k, _))| (k.clone(), i))
                            .collect(),
                    );
                }
            }
        }
    }

    /// Inserts every field of `other` (a key already present takes the new value).
    pub fn extend(&mut self, other: Fields) {
        for (k, v) in other.entries {
            self.insert_scalar(k, v);
        }
    }

    fn insert_at(&mut self, key: String, value: FieldValue, depth: usize) {
        match value {
            FieldValue::Str(s) => self.insert_scalar(key, Scalar::Str(s)),
            FieldValue::Int(i) => self.insert_scalar(key, Scalar::Int(i)),
            FieldValue::Float(f) => self.insert_scalar(key, Scalar::Float(f)),
            FieldValue::Bool(b) => self.insert_scalar(key, Scalar::Bool(b)),
            FieldValue::Null => self.insert_scalar(key, Scalar::Str("null".to_owned())),
            FieldValue::List(_) if !self.accepts(&key) => {
                // Not turned into JSON only to be dropped.
                self.count_dropped(1);
            }
            FieldValue::List(items) => {
                let redactor = crate::redaction::current();
                let mut items: Vec<_> = items.iter().map(|i| to_json(i, &redactor)).collect();
                redactor.redact_pairs(&mut items);
                let json = serde_json::Value::Array(items);
                self.insert_scalar(key, Scalar::Str(json.to_string()));
            }
            FieldValue::Map(entries) if depth < MAX_FLATTEN_DEPTH => {
                for (k, v) in entries {
                    self.insert_at(format!("{key}.{k}"), v, depth + 1);
                }
            }
            FieldValue::Map(_) if !self.accepts(&key) => self.count_dropped(1),
            map @ FieldValue::Map(_) => {
                let redactor = crate::redaction::current();
                self.insert_scalar(key, Scalar::Str(to_json(&map, &redactor).to_string()))
            }
        }
    }

    /// The fields as a JSON object (used by the fallback callsite, whose single `fields` value
    /// is not redacted by key later: secret-looking keys are redacted here, and string values
    /// [scrubbed](crate::Redactor::scrub_text) before they are encoded, as scrubbing the
    /// encoded text would miss secrets behind its escapes).
    pub fn to_json(&self) -> serde_json::Value {
        let redactor = crate::redaction::current();
        serde_json::Value::Object(
            self.entries
                .iter()
                .map(|(k, v)| {
                    let value = match v {
                        _ if redactor.is_secret(k) => serde_json::Value::from(REDACTED),
                        Scalar::Str(s) => serde_json::Value::from(redactor.scrub_text(s)),
                        other => other.to_json(),
                    };
                    (k.clone(), value)
                })
                .collect(),
        )
    }
}

impl<K: Into<String>, V: Into<FieldValue>> FromIterator<(K, V)> for Fields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut fields = Fields::new();
        for (k, v) in iter {
            fields.insert(k, v.into());
        }
        fields
    }
}

/// `value` as JSON, with the values of secret-looking map keys redacted.
fn to_json(value: &FieldValue, redactor: &Redactor) -> serde_json::Value {
    match value {
        FieldValue::Str(s) => serde_json::Value::from(s.as_str()),
        FieldValue::Int(i) => serde_json::Value::from(*i),
        FieldValue::Float(f) => Scalar::Float(*f).to_json(),
        FieldValue::Bool(b) => serde_json::Value::from(*b),
        FieldValue::Null => serde_json::Value::Null,
        FieldValue::List(items) => {
            let mut items: Vec<_> = items.iter().map(|i| to_json(i, redactor)).collect();
            redactor.redact_pairs(&mut items);
            serde_json::Value::Array(items)
        }
        FieldValue::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let value = if redactor.is_secret(k) {
                        serde_json::Value::from(REDACTED)
                    } else {
                        to_json(v, redactor)
                    };
                    (k.clone(), value)
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_limit_drops_new_keys_counts_them_and_stays_linear() {
        let before = crate::stats::stats().attributes_dropped;

        // A million distinct keys: the first 128 kept in order, the rest dropped and counted.
        let mut f = Fields::limited(DEFAULT_MAX_FIELDS);
        for i in 0..1_000_000i64 {
            f.insert_scalar(format!("k{i}"), Scalar::Int(i));
        }
        assert_eq!(f.len(), DEFAULT_MAX_FIELDS);
        assert_eq!(f.dropped(), 1_000_000 - DEFAULT_MAX_FIELDS);
        let kept: Vec<_> = f.iter().map(|(k, _)| k.to_owned()).collect();
        assert_eq!(kept[0], "k0");
        assert_eq!(kept[127], "k127");
        assert!(
            crate::stats::stats().attributes_dropped - before >= (1_000_000 - 128) as u64,
            "drops are counted in the process's statistics"
        );

        // A key already present is still updated once the limit is reached.
        f.insert_scalar("k5", Scalar::Str("new".into()));
        assert_eq!(f.iter().nth(5), Some(("k5", &Scalar::Str("new".into()))));
        assert_eq!(f.len(), DEFAULT_MAX_FIELDS);
        assert!(f.accepts("k5") && !f.accepts("k128"));
        // A long key is compared as it is kept (cut).
        let long = "x".repeat(MAX_NAME_LEN + 10);
        let mut g = Fields::limited(1);
        g.insert_scalar(long.clone(), Scalar::Int(1));
        assert!(g.accepts(&long) && !g.accepts("other"));
        // A list past the limit is not turned into JSON, a map not flattened: both counted.
        g.insert("list", FieldValue::List(vec![FieldValue::Int(1)]));
        g.insert(
            "map",
            FieldValue::Map(vec![("a".into(), 1i64.into()), ("b".into(), 2i64.into())]),
        );
        assert_eq!(g.len(), 1);
        assert_eq!(g.dropped(), 3);
        g.count_dropped(10);
        assert_eq!(g.dropped(), 13);

        // With a limit past a million, a million keys (every tenth given twice) insert in linear
        // time: the index finds duplicates; order is kept and the last value wins.
        let mut big = Fields::limited(2_000_000);
        for i in 0..1_000_000i64 {
            big.insert_scalar(format!("k{i}"), Scalar::Int(i));
        }
        for i in (0..1_000_000i64).step_by(10) {
            big.insert_scalar(format!("k{i}"), Scalar::Int(-i));
        }
        assert_eq!(big.len(), 1_000_000);
        assert_eq!(big.dropped(), 0);
        assert_eq!(big.iter().nth(10), Some(("k10", &Scalar::Int(-10))));
        assert_eq!(big.iter().nth(11), Some(("k11", &Scalar::Int(11))));
        assert_eq!(big.text("k999999"), None);
        let mut merged = Fields::limited(2_000_000);
        merged.insert_scalar("k3", Scalar::Int(0));
        merged.insert_scalar("new", Scalar::Int(1));
        merged.extend(big.clone());
        assert_eq!(merged.len(), 1_000_001);
        assert_eq!(merged.iter().next(), Some(("k3", &Scalar::Int(3))));
        assert_eq!(merged.iter().nth(1), Some(("new", &Scalar::Int(1))));
    }

    #[test]
    fn cut_values_are_counted() {
        let before = crate::stats::stats().attributes_truncated;
        let mut f = Fields::new();
        f.insert("long", FieldValue::Str("x".repeat(max_value_len() + 1)));
        f.insert("short", FieldValue::Str("x".into()));
        assert!(crate::stats::stats().attributes_truncated > before);
    }

    #[test]
    fn non_finite_floats_use_the_otlp_json_spelling() {
        assert_eq!(Scalar::Float(f64::NAN).to_json(), "NaN");
        assert_eq!(Scalar::Float(f64::INFINITY).to_json(), "Infinity");
        assert_eq!(Scalar::Float(f64::NEG_INFINITY).to_json(), "-Infinity");
        let mut f = Fields::new();
        f.insert(
            "l",
            FieldValue::List(vec![f64::NAN.into(), f64::INFINITY.into()]),
        );
        assert_eq!(
            f.iter().next(),
            Some(("l", &Scalar::Str(r#"["NaN","Infinity"]"#.into())))
        );
    }

    /// Time to build fields from a million distinct keys (release build:
    /// `cargo test --release -p tasker-telemetry --lib fields::tests::million -- --ignored --nocapture`).
    #[test]
    #[ignore = "a measurement, not a check"]
    fn million_distinct_keys_timing() {
        for limit in [DEFAULT_MAX_FIELDS, 2_000_000] {
            let keys: Vec<String> = (0..1_000_000).map(|i| format!("key_{i}")).collect();
            let start = std::time::Instant::now();
            let mut f = Fields::limited(limit);
            for (i, k) in keys.into_iter().enumerate() {
                f.insert_scalar(k, Scalar::Int(i as i64));
            }
            eprintln!(
                "limit {limit}: 1,000,000 distinct keys in {:?} ({} kept)",
                start.elapsed(),
                f.len()
            );
        }
    }

    #[test]
    fn truncation_respects_char_boundaries_and_marks_the_cut() {
        let s = "é".repeat(20); // 40 bytes
        let t = truncate(s, 21);
        assert!(t.starts_with(&"é".repeat(10)));
        assert!(t.ends_with("…[truncated 20 bytes]"), "{t}");
        assert_eq!(truncate("short".into(), 10), "short");
    }

    #[test]
    fn nested_maps_flatten_and_duplicates_keep_the_last_value() {
        let mut f = Fields::new();
        f.insert(
            "a",
            FieldValue::Map(vec![(
                "b".into(),
                FieldValue::Map(vec![("c".into(), 1i64.into())]),
            )]),
        );
        f.insert("a.b.c", FieldValue::Int(2));
        f.insert("n", FieldValue::Null);
        assert_eq!(
            f.iter().collect::<Vec<_>>(),
            vec![
                ("a.b.c", &Scalar::Int(2)),
                ("n", &Scalar::Str("null".into()))
            ]
        );
    }

    #[test]
    fn secrets_inside_lists_and_deep_maps_are_redacted_in_their_json() {
        let user = |pw: &str| {
            FieldValue::Map(vec![
                ("name".into(), "ann".into()),
                ("password".into(), pw.into()),
                (
                    "login".into(),
                    FieldValue::Map(vec![("api_key".into(), "k".into())]),
                ),
            ])
        };
        let mut deep = user("deep-secret");
        for _ in 0..MAX_FLATTEN_DEPTH {
            deep = FieldValue::Map(vec![("k".into(), deep)]);
        }
        let mut f = Fields::new();
        f.insert("users", FieldValue::List(vec![user("list-secret")]));
        f.insert("deep", deep);
        let text = format!("{:?}", f);
        assert!(!text.contains("secret\""), "{text}");
        assert!(
            !text.contains("list-secret") && !text.contains("deep-secret"),
            "{text}"
        );
        let (_, users) = f.iter().next().unwrap();
        assert_eq!(
            users,
            &Scalar::Str(
                r#"[{"name":"ann","password":"[REDACTED]","login":{"api_key":"[REDACTED]"}}]"#
                    .into()
            )
        );
        let fallback = Fields::from_iter([("token", "t"), ("order", "o")]).to_json();
        assert_eq!(
            fallback.to_string(),
            r#"{"token":"[REDACTED]","order":"o"}"#
        );
    }

    #[test]
    fn the_fallback_json_scrubs_values_before_encoding_them() {
        // Scrubbing the encoded text saw `password=\"hunter2\"` and hid only the backslash.
        let fields = Fields::from_iter([
            ("detail", r#"password="hunter2" for ann"#),
            ("nested", r#"{"token":"abc"}"#),
        ]);
        let json = fields.to_json().to_string();
        assert!(!json.contains("hunter2") && !json.contains("abc"), "{json}");
        assert!(json.contains("[REDACTED]"), "{json}");
    }

    #[test]
    fn long_keys_and_names_are_cut() {
        let mut f = Fields::new();
        f.insert("k".repeat(10_000), FieldValue::Int(1));
        let (key, _) = f.iter().next().unwrap();
        assert!(key.len() < MAX_NAME_LEN + 32, "{}", key.len());
        assert!(key.ends_with("…[truncated 9744 bytes]"), "{key}");
        assert_eq!(truncate_name("short"), "short");
        assert!(matches!(
            truncate_name("short"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn maps_deeper_than_the_limit_become_json() {
        let mut v = FieldValue::Int(1);
        for _ in 0..(MAX_FLATTEN_DEPTH + 2) {
            v = FieldValue::Map(vec![("k".into(), v)]);
        }
        let mut f = Fields::new();
        f.insert("root", v);
        let (key, value) = f.iter().next().unwrap();
        assert_eq!(key.matches(".k").count(), MAX_FLATTEN_DEPTH);
        assert_eq!(value, &Scalar::Str(r#"{"k":{"k":1}}"#.into()));
    }
}
