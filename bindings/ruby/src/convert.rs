//! Ruby values → the core's fields. Never raises: every Ruby value converts (the README lists
//! how); a `to_s` that raises becomes the core's unprintable marker. Depth and cycle limits and
//! their markers are the core's (`tasker_telemetry::fields`).

use magnus::prelude::*;
use magnus::r_hash::ForEach;
use magnus::rb_sys::AsRawValue;
use magnus::value::{Qfalse, Qtrue};
use magnus::{Float, Integer, RArray, RHash, RString, Symbol, Time, Value};
use tasker_telemetry::fields::{
    unprintable, FieldValue, Fields, CYCLE_MARKER, DEPTH_MARKER, MAX_CONVERT_DEPTH,
};

/// The (key, value) pairs of a hash. The closure never returns an error, so no Ruby exception
/// can be raised inside `rb_hash_foreach`.
pub fn pairs(hash: RHash) -> Vec<(Value, Value)> {
    let mut out = Vec::with_capacity(hash.len());
    let _ = hash.foreach(|k: Value, v: Value| {
        out.push((k, v));
        Ok(ForEach::Continue)
    });
    out
}

/// A hash (or nil) as flattened fields.
pub fn fields(hash: Option<RHash>) -> Fields {
    let Some(hash) = hash else {
        return Fields::new();
    };
    let mut out = Fields::with_capacity(hash.len());
    let mut path = Vec::new();
    for (k, v) in pairs(hash) {
        out.insert(text(k), value(v, &mut path, 0));
    }
    out
}

/// One value under `key` as fields (a Hash value flattens to `key.sub` entries).
pub fn field(key: Value, v: Value) -> Fields {
    let mut out = Fields::with_capacity(1);
    out.insert(text(key), value(v, &mut Vec::new(), 0));
    out
}

/// A hash as `(key, native value)` pairs, not flattened (configuration overrides).
pub fn values(hash: Option<RHash>) -> Vec<(String, FieldValue)> {
    let mut path = Vec::new();
    hash.map(pairs)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (text(k), value(v, &mut path, 0)))
        .collect()
}

/// `(text, text)` pairs of a hash (W3C headers).
pub fn text_pairs(hash: Option<RHash>) -> Vec<(String, String)> {
    hash.map(pairs)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (text(k), text(v)))
        .collect()
}

/// A string from a Ruby string, lossily for binary or invalid UTF-8.
pub fn string(s: RString) -> String {
    // SAFETY: the slice is copied before any Ruby code can run and mutate the string.
    String::from_utf8_lossy(unsafe { s.as_slice() }).into_owned()
}

/// A name, message or key as the core takes it: Symbol and String as themselves, anything else
/// via `to_s` (the unprintable marker when that raises).
pub fn text(v: Value) -> String {
    if let Some(sym) = Symbol::from_value(v) {
        return sym
            .name()
            .map(|c| c.into_owned())
            .unwrap_or_else(|_| safe_to_s(v));
    }
    if let Some(s) = RString::from_value(v) {
        return string(s);
    }
    safe_to_s(v)
}

/// [`text`], with `nil` as none.
pub fn opt_text(v: Value) -> Option<String> {
    (!v.is_nil()).then(|| text(v))
}

/// `value.to_s`, or the unprintable marker if it raises or returns a non-string.
fn safe_to_s(v: Value) -> String {
    match v.funcall::<_, _, Value>("to_s", ()) {
        Ok(s) => match RString::from_value(s) {
            Some(s) => string(s),
            None => unprintable(&class_name(v)),
        },
        Err(_) => unprintable(&class_name(v)),
    }
}

fn class_name(v: Value) -> String {
    // SAFETY: `Class#name` reads a frozen string.
    unsafe { v.class().name() }.into_owned()
}

/// Any Ruby value as a field value.
pub fn value(v: Value, path: &mut Vec<usize>, depth: usize) -> FieldValue {
    if v.is_nil() {
        return FieldValue::Null;
    }
    if Qtrue::from_value(v).is_some() {
        return FieldValue::Bool(true);
    }
    if Qfalse::from_value(v).is_some() {
        return FieldValue::Bool(false);
    }
    if let Some(s) = RString::from_value(v) {
        return FieldValue::Str(string(s));
    }
    if let Some(i) = Integer::from_value(v) {
        return match i.to_i64() {
            Ok(i) => FieldValue::Int(i),
            Err(_) => FieldValue::Str(safe_to_s(v)),
        };
    }
    if let Some(f) = Float::from_value(v) {
        return FieldValue::Float(f.to_f64());
    }
    if Symbol::from_value(v).is_some() {
        return FieldValue::Str(text(v));
    }
    if Time::from_value(v).is_some() {
        return match v.funcall::<_, _, RString>("strftime", ("%Y-%m-%dT%H:%M:%S.%6N%:z",)) {
            Ok(s) => FieldValue::Str(string(s)),
            Err(_) => FieldValue::Str(safe_to_s(v)),
        };
    }
    let array = RArray::from_value(v);
    let hash = RHash::from_value(v);
    if array.is_none() && hash.is_none() {
        return FieldValue::Str(safe_to_s(v));
    }
    let id = v.as_raw() as usize;
    if path.contains(&id) {
        return FieldValue::Str(CYCLE_MARKER.to_owned());
    }
    if depth >= MAX_CONVERT_DEPTH {
        return FieldValue::Str(DEPTH_MARKER.to_owned());
    }
    path.push(id);
    let converted = match (array, hash) {
        (Some(array), _) => FieldValue::List(
            (0..array.len())
                .filter_map(|i| array.entry::<Value>(i as isize).ok())
                .map(|item| value(item, path, depth + 1))
                .collect(),
        ),
        (_, Some(hash)) => FieldValue::Map(
            pairs(hash)
                .into_iter()
                .map(|(k, v)| (text(k), value(v, path, depth + 1)))
                .collect(),
        ),
        _ => FieldValue::Null,
    };
    path.pop();
    converted
}
