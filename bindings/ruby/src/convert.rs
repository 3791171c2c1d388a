//! Ruby values → the core's fields. Never raises: every Ruby value converts (documented in the
//! README); a `to_s` that raises becomes a placeholder string naming the class and the error.

use magnus::prelude::*;
use magnus::r_hash::ForEach;
use magnus::rb_sys::AsRawValue;
use magnus::value::{Qfalse, Qtrue};
use magnus::{Float, Integer, RArray, RHash, RString, Symbol, Time, Value};
use tasker_telemetry::fields::{FieldValue, Fields};

/// Deepest nesting converted; deeper values become a marker string.
const MAX_DEPTH: usize = 32;

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

/// A hash (or nil) as fields.
pub fn fields(hash: Option<RHash>) -> Fields {
    let Some(hash) = hash else {
        return Fields::new();
    };
    let mut out = Fields::with_capacity(hash.len());
    let mut path = Vec::new();
    for (k, v) in pairs(hash) {
        out.insert(key(k), value(v, &mut path, 0));
    }
    out
}

/// A string from a Ruby string, lossily for binary or invalid UTF-8.
pub fn string(s: RString) -> String {
    // SAFETY: the slice is copied before any Ruby code can run and mutate the string.
    String::from_utf8_lossy(unsafe { s.as_slice() }).into_owned()
}

/// A hash key as a string: Symbol and String as themselves, anything else via `to_s`.
pub fn key(k: Value) -> String {
    if let Some(sym) = Symbol::from_value(k) {
        return sym
            .name()
            .map(|c| c.into_owned())
            .unwrap_or_else(|_| safe_to_s(k));
    }
    if let Some(s) = RString::from_value(k) {
        return string(s);
    }
    safe_to_s(k)
}

/// `value.to_s`, or a placeholder if it raises or returns a non-string.
pub fn safe_to_s(v: Value) -> String {
    match v.funcall::<_, _, Value>("to_s", ()) {
        Ok(s) => match RString::from_value(s) {
            Some(s) => string(s),
            None => format!("#<{} (to_s returned a non-String)>", class_name(v)),
        },
        Err(e) => {
            // Only the first line: Ruby 3.1 appends a source snippet to NoMethodError messages.
            let message = e.to_string();
            let first = message.lines().next().unwrap_or_default().trim_end();
            format!("#<{} (to_s raised {first})>", class_name(v))
        }
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
    if let Some(sym) = Symbol::from_value(v) {
        return FieldValue::Str(
            sym.name()
                .map(|c| c.into_owned())
                .unwrap_or_else(|_| safe_to_s(v)),
        );
    }
    if Time::from_value(v).is_some() {
        return match v.funcall::<_, _, RString>("strftime", ("%Y-%m-%dT%H:%M:%S.%6N%:z",)) {
            Ok(s) => FieldValue::Str(string(s)),
            Err(_) => FieldValue::Str(safe_to_s(v)),
        };
    }
    let id = v.as_raw() as usize;
    if let Some(array) = RArray::from_value(v) {
        if depth >= MAX_DEPTH || path.contains(&id) {
            return FieldValue::Str(marker(depth));
        }
        path.push(id);
        let items = (0..array.len())
            .filter_map(|i| array.entry::<Value>(i as isize).ok())
            .map(|item| value(item, path, depth + 1))
            .collect();
        path.pop();
        return FieldValue::List(items);
    }
    if let Some(hash) = RHash::from_value(v) {
        if depth >= MAX_DEPTH || path.contains(&id) {
            return FieldValue::Str(marker(depth));
        }
        path.push(id);
        let entries = pairs(hash)
            .into_iter()
            .map(|(k, v)| (key(k), value(v, path, depth + 1)))
            .collect();
        path.pop();
        return FieldValue::Map(entries);
    }
    FieldValue::Str(safe_to_s(v))
}

fn marker(depth: usize) -> String {
    if depth >= MAX_DEPTH {
        "[nested too deep]".to_owned()
    } else {
        "[cycle]".to_owned()
    }
}
