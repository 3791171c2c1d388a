//! Operating it: the Prometheus text of the core's metrics, and the health components the
//! host pushes (`tasker_telemetry::exposition`, `tasker_telemetry::health`). The probe server
//! itself runs in the core on its own thread and never calls into Python.

use pyo3::prelude::*;

use crate::convert::Text;
use crate::errors::{foreign_error, guard};

/// The core's metrics in the Prometheus text format 0.0.4 (as `/metrics` serves them);
/// `TracingError` when `prometheus` is not among `OTEL_METRICS_EXPORTER`.
#[pyfunction]
pub fn prometheus_text(py: Python<'_>) -> PyResult<String> {
    let text = py.detach(|| {
        tasker_telemetry::foreign::catch_panic("prometheus_text", tasker_telemetry::prometheus_text)
    });
    match text {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(foreign_error(e)),
        Err(e) => Err(foreign_error(e)),
    }
}

/// Sets a health component: `status` is `healthy`, `degraded` or `unhealthy`.
#[pyfunction]
#[pyo3(signature = (component, status, reason=None))]
pub fn set_health(component: Text, status: Text, reason: Option<Text>) -> PyResult<()> {
    guard("set_health", || {
        tasker_telemetry::foreign::set_health(&component, &status, reason.as_deref())
            .map_err(foreign_error)
    })
}

/// `(ready, reasons)`: what `/health/ready` answers.
#[pyfunction]
pub fn readiness() -> PyResult<(bool, Vec<String>)> {
    guard("readiness", || {
        let r = tasker_telemetry::health::readiness();
        Ok((r.ready, r.reasons))
    })
}

/// The JSON document of `/health/detailed`.
#[pyfunction]
pub fn health_detailed() -> PyResult<String> {
    guard("health_detailed", || {
        Ok(tasker_telemetry::health::detailed_json())
    })
}
