//! Python values → the core's field values. Anything unusual becomes a string; an `Exception`
//! raised by `__str__` (or by a broken mapping or iterator) becomes the `<unprintable TYPE>`
//! marker, and anything else raised meanwhile (`KeyboardInterrupt`, `SystemExit`,
//! `asyncio.CancelledError`) propagates unchanged.
//!
//! str, int (i64; bigger ones as their decimal string), float, bool and None map directly;
//! dicts (and other mappings) flatten to dotted keys and lists/tuples/sets become JSON lists (both
//! done by the core); `datetime`/`date`/`time` become ISO 8601 strings; bytes are decoded as
//! UTF-8 (lossily); anything else is `str(value)`, or `<unprintable TYPE>` when `__str__` raises.
//! Depth and cycle limits and their markers are the core's (`tasker_telemetry::fields`), as in
//! the Ruby glue.

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PyMapping, PySet,
    PyString, PyTuple, PyType,
};
use tasker_telemetry::fields::{
    max_fields, unprintable, FieldValue, Fields, CYCLE_MARKER, DEPTH_MARKER, MAX_CONVERT_DEPTH,
};

/// Keeps the containers being converted, to cut cycles.
struct Walk {
    path: Vec<usize>,
}

/// A name, message or key as the core takes it: a `str` (each lone surrogate replaced by one
/// U+FFFD), or `str(obj)` of anything else (`<unprintable TYPE>` when that raises an
/// `Exception`). Extraction fails only with what must propagate (`KeyboardInterrupt`…).
pub struct Text(pub String);

impl<'a, 'py> FromPyObject<'a, 'py> for Text {
    type Error = PyErr;

    fn extract(obj: pyo3::Borrowed<'a, 'py, PyAny>) -> Result<Self, Self::Error> {
        Ok(Text(text(&obj)?))
    }
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// `(str(key), str(value))` pairs of a mapping (W3C headers, configuration overrides).
pub fn text_pairs(dict: &Bound<'_, PyDict>) -> PyResult<Vec<(String, String)>> {
    let mut out = Vec::with_capacity(dict.len());
    each_item(dict, |k, v| {
        out.push((text(&k)?, text(&v)?));
        Ok(())
    })?;
    Ok(out)
}

/// Converts a `dict[str, Any]` (keyword arguments) to flattened fields. Past the attribute
/// count limit, the values of new keys are not even converted (they are counted as dropped).
pub fn fields(dict: Option<&Bound<'_, PyDict>>) -> PyResult<Fields> {
    let capacity = dict.map_or(0, |d| d.len()).min(max_fields());
    fill(Fields::with_capacity(capacity), dict)
}

/// A dict read by key (a step message, a handler's step context) as flattened fields, with no
/// count limit: other keys cannot crowd out `step_name` or `headers`.
pub fn message(dict: Option<&Bound<'_, PyDict>>) -> PyResult<Fields> {
    fill(Fields::unlimited(), dict)
}

fn fill(mut out: Fields, dict: Option<&Bound<'_, PyDict>>) -> PyResult<Fields> {
    let Some(dict) = dict else {
        return Ok(out);
    };
    let mut walk = Walk { path: Vec::new() };
    each_item(dict, |k, v| {
        let key = text(&k)?;
        if out.accepts(&key) {
            out.insert(key, walk.value(&v)?);
        } else {
            out.count_dropped(1);
        }
        Ok(())
    })?;
    Ok(out)
}

/// Calls `each(key, value)` for the items of `dict`, stopping at the first error. A `__str__`
/// run meanwhile may add or remove keys: that may skip or repeat an item but neither fails nor
/// panics (as iterating with `PyDict::iter` would).
fn each_item<'py>(
    dict: &Bound<'py, PyDict>,
    mut each: impl FnMut(Bound<'py, PyAny>, Bound<'py, PyAny>) -> PyResult<()>,
) -> PyResult<()> {
    let py = dict.py();
    let mut pos: pyo3::ffi::Py_ssize_t = 0;
    loop {
        let mut key = std::ptr::null_mut();
        let mut value = std::ptr::null_mut();
        // SAFETY: `dict` is a live dict and we hold the GIL; `PyDict_Next` checks `pos` against
        // the dict's current size and returns borrowed references, which are made owned (a new
        // reference each) before any Python code can run.
        let (key, value) = unsafe {
            if pyo3::ffi::PyDict_Next(dict.as_ptr(), &mut pos, &mut key, &mut value) == 0 {
                return Ok(());
            }
            (
                Bound::from_borrowed_ptr(py, key),
                Bound::from_borrowed_ptr(py, value),
            )
        };
        each(key, value)?;
    }
}

/// Converts one value under `key` (a dict value flattens to `key.sub` entries).
pub fn field(key: &str, value: &Bound<'_, PyAny>) -> PyResult<Fields> {
    let mut out = Fields::new();
    out.insert(key, Walk { path: Vec::new() }.value(value)?);
    Ok(out)
}

/// A dict as `(key, native value)` pairs, not flattened (configuration overrides).
pub fn values(dict: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<(String, FieldValue)>> {
    let mut walk = Walk { path: Vec::new() };
    let mut out = Vec::new();
    if let Some(dict) = dict {
        each_item(dict, |k, v| {
            out.push((text(&k)?, walk.value(&v)?));
            Ok(())
        })?;
    }
    Ok(out)
}

/// `str(obj)`, or `<unprintable TYPE>` when that raises an `Exception`.
pub fn text(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(string(s));
    }
    match obj.str() {
        Ok(s) => Ok(string(&s)),
        Err(e) => rescued(e).map(|()| marker(obj)),
    }
}

/// `<unprintable TYPE>` for `obj`.
fn marker(obj: &Bound<'_, PyAny>) -> String {
    let name = obj
        .get_type()
        .qualname()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".to_owned());
    unprintable(&name)
}

/// `Ok` when `error` is an `Exception`, which a conversion turns into a marker; a
/// `BaseException` that is not one (`KeyboardInterrupt`, `SystemExit`, `GeneratorExit`,
/// `asyncio.CancelledError`) is returned, to propagate.
fn rescued(error: PyErr) -> PyResult<()> {
    Python::attach(|py| {
        if error.is_instance_of::<PyException>(py) {
            Ok(())
        } else {
            Err(error)
        }
    })
}

/// A `str` as UTF-8 text, each lone surrogate replaced by one U+FFFD (as Python's
/// `errors="replace"` does), not the three a byte-wise replacement would give.
pub fn string(s: &Bound<'_, PyString>) -> String {
    if let Ok(text) = s.to_cow() {
        return text.into_owned();
    }
    // With "surrogatepass" a lone surrogate is the three bytes ED [A0-BF] [80-BF], which valid
    // UTF-8 never contains; everything else is valid UTF-8.
    let Ok(encoded) = s
        .call_method1("encode", ("utf-8", "surrogatepass"))
        .and_then(|b| b.cast_into::<PyBytes>().map_err(PyErr::from))
    else {
        return s.to_string_lossy().into_owned();
    };
    let bytes = encoded.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0xED && bytes.get(i + 1).is_some_and(|b| (0xA0..=0xBF).contains(b)) {
            out.push_str(&String::from_utf8_lossy(&bytes[start..i]));
            out.push(char::REPLACEMENT_CHARACTER);
            i = (i + 3).min(bytes.len());
            start = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&String::from_utf8_lossy(&bytes[start..]));
    out
}

fn is_instance(obj: &Bound<'_, PyAny>, cell: &'static PyOnceLock<Py<PyType>>, name: &str) -> bool {
    cell.import(obj.py(), "datetime", name)
        .and_then(|ty| obj.is_instance(ty))
        .unwrap_or(false)
}

impl Walk {
    fn value(&mut self, obj: &Bound<'_, PyAny>) -> PyResult<FieldValue> {
        static DATE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        static TIME: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        if obj.is_none() {
            return Ok(FieldValue::Null);
        }
        if let Ok(b) = obj.cast::<PyBool>() {
            return Ok(FieldValue::Bool(b.is_true()));
        }
        if let Ok(s) = obj.cast::<PyString>() {
            return Ok(FieldValue::Str(string(s)));
        }
        if obj.cast::<PyInt>().is_ok() {
            return match obj.extract::<i64>() {
                Ok(i) => Ok(FieldValue::Int(i)),
                Err(_) => text(obj).map(FieldValue::Str),
            };
        }
        if let Ok(f) = obj.cast::<PyFloat>() {
            return Ok(FieldValue::Float(f.value()));
        }
        if let Ok(b) = obj.cast::<PyBytes>() {
            return Ok(FieldValue::Str(
                String::from_utf8_lossy(b.as_bytes()).into_owned(),
            ));
        }
        if let Ok(b) = obj.cast::<PyByteArray>() {
            return Ok(FieldValue::Str(
                String::from_utf8_lossy(&b.to_vec()).into_owned(),
            ));
        }
        if is_instance(obj, &DATE, "date") || is_instance(obj, &TIME, "time") {
            return match obj.call_method0("isoformat") {
                Ok(s) => text(&s).map(FieldValue::Str),
                Err(e) => rescued(e).and_then(|()| text(obj).map(FieldValue::Str)),
            };
        }
        let is_container = obj.cast::<PyDict>().is_ok()
            || obj.cast::<PyList>().is_ok()
            || obj.cast::<PyTuple>().is_ok()
            || obj.cast::<PySet>().is_ok()
            || obj.cast::<PyFrozenSet>().is_ok()
            || obj.cast::<PyMapping>().is_ok();
        if !is_container {
            return text(obj).map(FieldValue::Str);
        }
        let id = obj.as_ptr() as usize;
        if self.path.contains(&id) {
            return Ok(FieldValue::Str(CYCLE_MARKER.to_owned()));
        }
        if self.path.len() >= MAX_CONVERT_DEPTH {
            return Ok(FieldValue::Str(DEPTH_MARKER.to_owned()));
        }
        self.path.push(id);
        let value = self.container(obj);
        self.path.pop();
        value
    }

    fn container(&mut self, obj: &Bound<'_, PyAny>) -> PyResult<FieldValue> {
        if let Ok(d) = obj.cast::<PyDict>() {
            let mut entries = Vec::with_capacity(d.len());
            each_item(d, |k, v| {
                entries.push((text(&k)?, self.value(&v)?));
                Ok(())
            })?;
            return Ok(FieldValue::Map(entries));
        }
        if let Ok(m) = obj.cast::<PyMapping>() {
            let items = match m.items() {
                Ok(items) => items,
                Err(e) => return rescued(e).and_then(|()| text(obj).map(FieldValue::Str)),
            };
            let mut entries = Vec::new();
            for item in items.iter() {
                match item.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>() {
                    Ok((k, v)) => entries.push((text(&k)?, self.value(&v)?)),
                    Err(e) => return rescued(e).and_then(|()| text(obj).map(FieldValue::Str)),
                }
            }
            return Ok(FieldValue::Map(entries));
        }
        let iter = match obj.try_iter() {
            Ok(iter) => iter,
            Err(e) => return rescued(e).and_then(|()| text(obj).map(FieldValue::Str)),
        };
        let mut items = Vec::new();
        for item in iter {
            match item {
                Ok(v) => items.push(self.value(&v)?),
                Err(e) => {
                    // An iterator that raised is done (one that kept raising would never end):
                    // the items so far, then null for the failure.
                    rescued(e)?;
                    items.push(FieldValue::Null);
                    break;
                }
            }
        }
        Ok(FieldValue::List(items))
    }
}
