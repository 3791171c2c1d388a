//! Ruby values → the core's fields. Every Ruby value converts (the README lists how); a `to_s`
//! that raises a `StandardError` becomes the core's unprintable marker. Anything else that
//! leaves `to_s` early (`throw`, `Thread#kill`, `Timeout.timeout`'s error, `Interrupt`,
//! `SystemExit`) is handed back to Ruby unchanged and ends the call. Depth and cycle limits and
//! their markers are the core's (`tasker_telemetry::fields`).
//!
//! GC safety: Ruby's collector sees values on the machine stack but not in Rust's heap, and a
//! `to_s` may run anything, including `GC.start` after emptying the hash being converted. So
//! the keys and values of a hash are copied into a Ruby array (itself held on the stack while
//! it is read), never into a Rust `Vec`. A hash whose keys and values are all plain (symbols,
//! strings in UTF-8, US-ASCII or binary, fixnums, floats, `true`, `false`, `nil`: the usual
//! keyword arguments) converts straight from `rb_hash_foreach`, which is safe because reading
//! them runs no Ruby code and keeps no Ruby value: only Rust copies of their contents.

use magnus::prelude::*;
use magnus::r_hash::ForEach;
use magnus::rb_sys::AsRawValue;
use magnus::value::{Qfalse, Qtrue};
use magnus::{
    Error, Fixnum, Float, Integer, KwArgs, RArray, RClass, RHash, RModule, RString, Ruby, Symbol,
    Time, Value,
};
use tasker_telemetry::fields::{
    max_fields, unprintable, FieldValue, Fields, CYCLE_MARKER, DEPTH_MARKER, MAX_CONVERT_DEPTH,
};

/// The keys and values of a hash, flat (`[k0, v0, k1, v1, …]`), in a Ruby array the GC marks.
/// The closure never returns an error, so no Ruby exception can be raised inside
/// `rb_hash_foreach`.
fn pairs(hash: RHash) -> RArray {
    let out = Ruby::get_with(hash).ary_new_capa(hash.len() * 2);
    let _ = hash.foreach(|k: Value, v: Value| {
        let _ = out.push(k);
        let _ = out.push(v);
        Ok(ForEach::Continue)
    });
    out
}

/// The pairs of a hash whose keys and values are all plain ([`plain_text`], [`plain_value`]),
/// read in one `rb_hash_foreach` without running Ruby code; `None` as soon as one is not (the
/// caller converts the hash the general way) or when the hash is empty.
fn plain_pairs(hash: RHash) -> Option<Vec<(String, FieldValue)>> {
    if hash.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(hash.len());
    let mut plain = true;
    // The closure never returns an error, so no Ruby exception is raised inside the iteration.
    let _ = hash.foreach(|k: Value, v: Value| match (plain_text(k), plain_value(v)) {
        (Some(k), Some(v)) => {
            out.push((k, v));
            Ok(ForEach::Continue)
        }
        _ => {
            plain = false;
            Ok(ForEach::Stop)
        }
    });
    plain.then_some(out)
}

/// A symbol's name or a string in UTF-8, US-ASCII or binary, read without running Ruby code.
fn plain_text(v: Value) -> Option<String> {
    if let Some(sym) = Symbol::from_value(v) {
        return sym.name().ok().map(std::borrow::Cow::into_owned);
    }
    let s = RString::from_value(v)?;
    let index = s.enc_get();
    let ruby = Ruby::get_with(s);
    (index == ruby.utf8_encindex()
        || index == ruby.usascii_encindex()
        || index == ruby.ascii8bit_encindex())
    .then(|| bytes(s))
}

/// `nil`, `true`, `false`, a fixnum, a float or [`plain_text`], read without running Ruby
/// code (the first cases of [`value`]).
fn plain_value(v: Value) -> Option<FieldValue> {
    if v.is_nil() {
        return Some(FieldValue::Null);
    }
    if Qtrue::from_value(v).is_some() {
        return Some(FieldValue::Bool(true));
    }
    if Qfalse::from_value(v).is_some() {
        return Some(FieldValue::Bool(false));
    }
    if let Some(i) = Fixnum::from_value(v) {
        return Some(FieldValue::Int(i.to_i64()));
    }
    if let Some(f) = Float::from_value(v) {
        return Some(FieldValue::Float(f.to_f64()));
    }
    plain_text(v).map(FieldValue::Str)
}

/// Calls `each(key, value)` for every pair of `hash` (nil: none), stopping at the first error.
fn each_pair(
    hash: Option<RHash>,
    mut each: impl FnMut(Value, Value) -> Result<(), Error>,
) -> Result<(), Error> {
    // No array for an empty Hash (most log calls without fields pass one).
    let Some(hash) = hash.filter(|h| !h.is_empty()) else {
        return Ok(());
    };
    let flat = pairs(hash);
    let mut i = 0;
    // `flat` is private, but read its length each time anyway: cheap, and safe whatever happens.
    while i + 1 < flat.len() {
        each(flat.entry(i as isize)?, flat.entry(i as isize + 1)?)?;
        i += 2;
    }
    Ok(())
}

/// A hash (or nil) as flattened fields. Past the attribute count limit, the values of new keys
/// are not even converted (they are counted as dropped).
pub fn fields(hash: Option<RHash>) -> Result<Fields, Error> {
    fill(
        Fields::with_capacity(hash.map_or(0, |h| h.len()).min(max_fields())),
        hash,
    )
}

/// A hash read by key (a step message, a handler's step context) as flattened fields, with no
/// count limit: other keys cannot crowd out `step_name` or `headers`.
pub fn message(hash: Option<RHash>) -> Result<Fields, Error> {
    fill(Fields::unlimited(), hash)
}

fn fill(mut out: Fields, hash: Option<RHash>) -> Result<Fields, Error> {
    if let Some(plain) = hash.and_then(plain_pairs) {
        for (key, value) in plain {
            if out.accepts(&key) {
                out.insert(key, value);
            } else {
                out.count_dropped(1);
            }
        }
        return Ok(out);
    }
    let mut path = Vec::new();
    each_pair(hash, |k, v| {
        let key = text(k)?;
        if out.accepts(&key) {
            out.insert(key, value(v, &mut path, 0)?);
        } else {
            out.count_dropped(1);
        }
        Ok(())
    })?;
    Ok(out)
}

/// One value under `key` as fields (a Hash value flattens to `key.sub` entries).
pub fn field(key: Value, v: Value) -> Result<Fields, Error> {
    let mut out = Fields::with_capacity(1);
    out.insert(text(key)?, value(v, &mut Vec::new(), 0)?);
    Ok(out)
}

/// A hash as `(key, native value)` pairs, not flattened (configuration overrides).
pub fn values(hash: Option<RHash>) -> Result<Vec<(String, FieldValue)>, Error> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    each_pair(hash, |k, v| {
        out.push((text(k)?, value(v, &mut path, 0)?));
        Ok(())
    })?;
    Ok(out)
}

/// `(text, text)` pairs of a hash (W3C headers).
pub fn text_pairs(hash: Option<RHash>) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    each_pair(hash, |k, v| {
        out.push((text(k)?, text(v)?));
        Ok(())
    })?;
    Ok(out)
}

/// A Ruby string as UTF-8 text: UTF-8, US-ASCII and binary strings as their bytes (invalid
/// sequences replaced), strings in any other encoding (UTF-16, Shift_JIS, ISO-8859-1…)
/// transcoded to UTF-8, characters without a UTF-8 form replaced by U+FFFD.
pub fn string(s: RString) -> Result<String, Error> {
    let index = s.enc_get();
    let ruby = Ruby::get_with(s);
    let as_bytes = index == ruby.utf8_encindex()
        || index == ruby.usascii_encindex()
        || index == ruby.ascii8bit_encindex();
    if as_bytes {
        return Ok(bytes(s));
    }
    let utf8 = ruby.utf8_encoding();
    let options = ruby.hash_new();
    options.aset(ruby.to_symbol("invalid"), ruby.to_symbol("replace"))?;
    options.aset(ruby.to_symbol("undef"), ruby.to_symbol("replace"))?;
    match s.funcall::<_, _, RString>("encode", (utf8, KwArgs(options))) {
        Ok(converted) => Ok(bytes(converted)),
        Err(e) => rescued(e).map(|()| bytes(s)),
    }
}

/// The bytes of `s` as text, invalid UTF-8 replaced.
fn bytes(s: RString) -> String {
    // SAFETY: the slice is copied before any Ruby code can run and mutate the string.
    String::from_utf8_lossy(unsafe { s.as_slice() }).into_owned()
}

/// A name, message or key as the core takes it: Symbol and String as themselves, anything else
/// via `to_s` (the unprintable marker when that raises a `StandardError`).
pub fn text(v: Value) -> Result<String, Error> {
    if let Some(sym) = Symbol::from_value(v) {
        return match sym.name() {
            Ok(name) => Ok(name.into_owned()),
            Err(_) => safe_to_s(v),
        };
    }
    if let Some(s) = RString::from_value(v) {
        return string(s);
    }
    safe_to_s(v)
}

/// [`text`], with `nil` as none.
pub fn opt_text(v: Value) -> Result<Option<String>, Error> {
    if v.is_nil() {
        Ok(None)
    } else {
        text(v).map(Some)
    }
}

/// `Ok` when `error` is one a conversion turns into a marker: a `StandardError` other than
/// `Timeout::Error` (which `Timeout.timeout` raises into the thread it interrupts). Every other
/// exception and every non-local exit (`throw`, `Thread#kill`) is returned, to be re-raised.
fn rescued(error: Error) -> Result<(), Error> {
    // A non-local exit (`throw`, `Thread#kill`) has no exception value.
    let Some(raised) = error.value() else {
        return Err(error);
    };
    let ruby = Ruby::get_with(raised);
    if !error.is_kind_of(ruby.exception_standard_error()) || is_timeout(&ruby, &error) {
        return Err(error);
    }
    Ok(())
}

fn is_timeout(ruby: &Ruby, error: &Error) -> bool {
    ruby.class_object()
        .const_get::<_, RModule>("Timeout")
        .and_then(|timeout| timeout.const_get::<_, RClass>("Error"))
        .is_ok_and(|class| error.is_kind_of(class))
}

/// `value.to_s`, or the unprintable marker if it raises a `StandardError` or returns a
/// non-string.
fn safe_to_s(v: Value) -> Result<String, Error> {
    match v.funcall::<_, _, Value>("to_s", ()) {
        Ok(s) => match RString::from_value(s) {
            Some(s) => string(s),
            None => Ok(unprintable(&class_name(v))),
        },
        Err(e) => rescued(e).map(|()| unprintable(&class_name(v))),
    }
}

fn class_name(v: Value) -> String {
    // SAFETY: `Class#name` reads a frozen string, copied at once.
    unsafe { v.class().name() }.into_owned()
}

/// Any Ruby value as a field value.
pub fn value(v: Value, path: &mut Vec<usize>, depth: usize) -> Result<FieldValue, Error> {
    if let Some(plain) = plain_value(v) {
        return Ok(plain);
    }
    if let Some(s) = RString::from_value(v) {
        return string(s).map(FieldValue::Str);
    }
    if let Some(i) = Integer::from_value(v) {
        return match i.to_i64() {
            Ok(i) => Ok(FieldValue::Int(i)),
            Err(_) => safe_to_s(v).map(FieldValue::Str),
        };
    }
    if let Some(f) = Float::from_value(v) {
        return Ok(FieldValue::Float(f.to_f64()));
    }
    if Symbol::from_value(v).is_some() {
        return text(v).map(FieldValue::Str);
    }
    if Time::from_value(v).is_some() {
        return match v.funcall::<_, _, RString>("strftime", ("%Y-%m-%dT%H:%M:%S.%6N%:z",)) {
            Ok(s) => string(s).map(FieldValue::Str),
            Err(e) => rescued(e).and_then(|()| safe_to_s(v).map(FieldValue::Str)),
        };
    }
    let array = RArray::from_value(v);
    let hash = RHash::from_value(v);
    if array.is_none() && hash.is_none() {
        return safe_to_s(v).map(FieldValue::Str);
    }
    // `v` stays on this frame's stack while its items are converted, so the id cannot be
    // reused by another object meanwhile.
    let id = v.as_raw() as usize;
    if path.contains(&id) {
        return Ok(FieldValue::Str(CYCLE_MARKER.to_owned()));
    }
    if depth >= MAX_CONVERT_DEPTH {
        return Ok(FieldValue::Str(DEPTH_MARKER.to_owned()));
    }
    path.push(id);
    let converted = match (array, hash) {
        (Some(array), _) => list(array, path, depth),
        (_, Some(hash)) => {
            let mut entries = Vec::new();
            each_pair(Some(hash), |k, v| {
                entries.push((text(k)?, value(v, path, depth + 1)?));
                Ok(())
            })
            .map(|()| FieldValue::Map(entries))
        }
        _ => Ok(FieldValue::Null),
    };
    path.pop();
    converted
}

/// An array's items, read by index from the live array (a `to_s` that shortens it ends the list
/// early, one that lengthens it does not lengthen the list; one that frees items cannot, as the
/// array marks them).
fn list(array: RArray, path: &mut Vec<usize>, depth: usize) -> Result<FieldValue, Error> {
    let len = array.len();
    let mut items = Vec::with_capacity(len);
    let mut i = 0;
    // Never past the starting length: a `to_s` that appends to the array cannot make it endless.
    while i < len.min(array.len()) {
        items.push(value(array.entry(i as isize)?, path, depth + 1)?);
        i += 1;
    }
    Ok(FieldValue::List(items))
}
