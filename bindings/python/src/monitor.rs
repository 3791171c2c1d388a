//! `monitor(name)`: the duration and memory growth of an operation
//! (`tasker_telemetry::monitor`), with the `slow_operation` and `memory_spike` warnings.

use std::sync::Mutex;

use pyo3::prelude::*;

use crate::convert::Text;
use crate::errors::guard;

/// What `finish()` returns: `(duration_ms, memory_delta_bytes, slow, memory_spike)`.
type Report = (f64, Option<i64>, bool, bool);

/// A monitored operation, from its start to `finish()` (or until collected).
#[pyclass(frozen, module = "tasker_core._native")]
pub struct Monitor {
    inner: Mutex<Option<tasker_telemetry::monitor::Monitor>>,
}

#[pymethods]
impl Monitor {
    /// Starts monitoring the operation `name`.
    #[new]
    fn new(name: Text) -> PyResult<Self> {
        guard("monitor", || {
            Ok(Monitor {
                inner: Mutex::new(Some(tasker_telemetry::monitor::Monitor::start(name.0))),
            })
        })
    }

    /// Ends it: `(duration_ms, memory_delta_bytes, slow, memory_spike)`, or `None` when it had
    /// ended already.
    fn finish(&self) -> PyResult<Option<Report>> {
        guard("monitor.finish", || {
            let taken = self.inner.lock().unwrap_or_else(|e| e.into_inner()).take();
            Ok(taken.map(|m| {
                let r = m.finish();
                (r.duration_ms, r.memory_delta_bytes, r.slow, r.memory_spike)
            }))
        })
    }
}
