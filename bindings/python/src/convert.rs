//! Python values → the core's field values. Never fails: anything unusual becomes a string.
//!
//! str, int (i64; bigger ones as their decimal string), float, bool and None map directly;
//! dicts (and other mappings) flatten to dotted keys and lists/tuples/sets become JSON lists (both
//! done by the core); `datetime`/`date`/`time` become ISO 8601 strings; bytes are decoded as
//! UTF-8 (lossily); anything else is `str(value)`, or `<unprintable TYPE>` when `__str__` raises.
//! Depth and cycle limits and their markers are the core's (`tasker_telemetry::fields`), as in
//! the Ruby glue.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PyMapping, PySet,
    PyString, PyTuple, PyType,
};
use tasker_telemetry::fields::{
    unprintable, FieldValue, Fields, CYCLE_MARKER, DEPTH_MARKER, MAX_CONVERT_DEPTH,
};

/// Keeps the containers being converted, to cut cycles.
struct Walk {
    path: Vec<usize>,
}

/// A name, message or key as the core takes it: a `str` (lone surrogates replaced, never an
/// error), or `str(obj)` of anything else (`<unprintable TYPE>` when that raises). Extraction
/// never fails, so odd text reaches the core instead of failing the call.
pub struct Text(pub String);

impl<'a, 'py> FromPyObject<'a, 'py> for Text {
    type Error = PyErr;

    fn extract(obj: pyo3::Borrowed<'a, 'py, PyAny>) -> Result<Self, Self::Error> {
        Ok(Text(text(&obj)))
    }
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// `(str(key), str(value))` pairs of a mapping (W3C headers, configuration overrides).
pub fn text_pairs(dict: &Bound<'_, PyDict>) -> Vec<(String, String)> {
    dict.iter().map(|(k, v)| (text(&k), text(&v))).collect()
}

/// Converts a `dict[str, Any]` (keyword arguments) to flattened fields.
pub fn fields(dict: Option<&Bound<'_, PyDict>>) -> Fields {
    let mut out = Fields::new();
    if let Some(dict) = dict {
        let mut walk = Walk { path: Vec::new() };
        for (k, v) in dict.iter() {
            out.insert(text(&k), walk.value(&v));
        }
    }
    out
}

/// Converts one value under `key` (a dict value flattens to `key.sub` entries).
pub fn field(key: &str, value: &Bound<'_, PyAny>) -> Fields {
    let mut out = Fields::new();
    out.insert(key, Walk { path: Vec::new() }.value(value));
    out
}

/// A dict as `(key, native value)` pairs, not flattened (configuration overrides).
pub fn values(dict: Option<&Bound<'_, PyDict>>) -> Vec<(String, FieldValue)> {
    let mut walk = Walk { path: Vec::new() };
    dict.map(|d| d.iter().map(|(k, v)| (text(&k), walk.value(&v))).collect())
        .unwrap_or_default()
}

/// `str(obj)`, or `<unprintable TYPE>` when that raises.
pub fn text(obj: &Bound<'_, PyAny>) -> String {
    if let Ok(s) = obj.cast::<PyString>() {
        return s.to_string_lossy().into_owned();
    }
    match obj.str() {
        Ok(s) => s.to_string_lossy().into_owned(),
        Err(_) => {
            let name = obj
                .get_type()
                .qualname()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "object".to_owned());
            unprintable(&name)
        }
    }
}

fn is_instance(obj: &Bound<'_, PyAny>, cell: &'static PyOnceLock<Py<PyType>>, name: &str) -> bool {
    cell.import(obj.py(), "datetime", name)
        .and_then(|ty| obj.is_instance(ty))
        .unwrap_or(false)
}

impl Walk {
    fn value(&mut self, obj: &Bound<'_, PyAny>) -> FieldValue {
        static DATE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        static TIME: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        if obj.is_none() {
            return FieldValue::Null;
        }
        if let Ok(b) = obj.cast::<PyBool>() {
            return FieldValue::Bool(b.is_true());
        }
        if let Ok(s) = obj.cast::<PyString>() {
            return FieldValue::Str(s.to_string_lossy().into_owned());
        }
        if obj.cast::<PyInt>().is_ok() {
            return match obj.extract::<i64>() {
                Ok(i) => FieldValue::Int(i),
                Err(_) => FieldValue::Str(text(obj)),
            };
        }
        if let Ok(f) = obj.cast::<PyFloat>() {
            return FieldValue::Float(f.value());
        }
        if let Ok(b) = obj.cast::<PyBytes>() {
            return FieldValue::Str(String::from_utf8_lossy(b.as_bytes()).into_owned());
        }
        if let Ok(b) = obj.cast::<PyByteArray>() {
            return FieldValue::Str(String::from_utf8_lossy(&b.to_vec()).into_owned());
        }
        if is_instance(obj, &DATE, "date") || is_instance(obj, &TIME, "time") {
            return match obj.call_method0("isoformat") {
                Ok(s) => FieldValue::Str(text(&s)),
                Err(_) => FieldValue::Str(text(obj)),
            };
        }
        let is_container = obj.cast::<PyDict>().is_ok()
            || obj.cast::<PyList>().is_ok()
            || obj.cast::<PyTuple>().is_ok()
            || obj.cast::<PySet>().is_ok()
            || obj.cast::<PyFrozenSet>().is_ok()
            || obj.cast::<PyMapping>().is_ok();
        if !is_container {
            return FieldValue::Str(text(obj));
        }
        let id = obj.as_ptr() as usize;
        if self.path.contains(&id) {
            return FieldValue::Str(CYCLE_MARKER.to_owned());
        }
        if self.path.len() >= MAX_CONVERT_DEPTH {
            return FieldValue::Str(DEPTH_MARKER.to_owned());
        }
        self.path.push(id);
        let value = self.container(obj);
        self.path.pop();
        value
    }

    fn container(&mut self, obj: &Bound<'_, PyAny>) -> FieldValue {
        if let Ok(d) = obj.cast::<PyDict>() {
            return FieldValue::Map(d.iter().map(|(k, v)| (text(&k), self.value(&v))).collect());
        }
        if let Ok(m) = obj.cast::<PyMapping>() {
            let Ok(items) = m.items() else {
                return FieldValue::Str(text(obj));
            };
            let mut entries = Vec::new();
            for item in items.iter() {
                match item.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>() {
                    Ok((k, v)) => entries.push((text(&k), self.value(&v))),
                    Err(_) => return FieldValue::Str(text(obj)),
                }
            }
            return FieldValue::Map(entries);
        }
        match obj.try_iter() {
            Ok(iter) => FieldValue::List(
                iter.map(|item| match item {
                    Ok(v) => self.value(&v),
                    Err(_) => FieldValue::Null,
                })
                .collect(),
            ),
            Err(_) => FieldValue::Str(text(obj)),
        }
    }
}
