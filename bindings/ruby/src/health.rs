//! Operating it: the Prometheus text of the core's metrics, and the health components the
//! host pushes (`tasker_telemetry::exposition`, `tasker_telemetry::health`). The probe server
//! itself runs in the core on its own thread and never calls into Ruby.

use magnus::{Error, RArray, Ruby, Value};

use crate::convert::{opt_text, text};
use crate::errors::{foreign_error, guard};

/// The core's metrics in the Prometheus text format 0.0.4 (as `/metrics` serves them); `Error`
/// when `prometheus` is not among `OTEL_METRICS_EXPORTER`.
pub fn prometheus_text(ruby: &Ruby) -> Result<String, Error> {
    guard(ruby, "prometheus_text", || {
        tasker_telemetry::prometheus_text().map_err(|e| foreign_error(ruby, e))
    })
}

/// Sets a health component: `status` is `healthy`, `degraded` or `unhealthy`.
pub fn set_health(
    ruby: &Ruby,
    component: Value,
    status: Value,
    reason: Value,
) -> Result<(), Error> {
    let (component, status, reason) = (text(component)?, text(status)?, opt_text(reason)?);
    guard(ruby, "set_health", || {
        tasker_telemetry::foreign::set_health(&component, &status, reason.as_deref())
            .map_err(|e| foreign_error(ruby, e))
    })
}

/// `[ready, reasons]`: what `/health/ready` answers.
pub fn readiness(ruby: &Ruby) -> Result<RArray, Error> {
    guard(ruby, "readiness", || {
        let r = tasker_telemetry::health::readiness();
        let out = ruby.ary_new_capa(2);
        out.push(r.ready)?;
        out.push(r.reasons)?;
        Ok(out)
    })
}

/// The JSON document of `/health/detailed`.
pub fn health_detailed(ruby: &Ruby) -> Result<String, Error> {
    guard(ruby, "health_detailed", || {
        Ok(tasker_telemetry::health::detailed_json())
    })
}
