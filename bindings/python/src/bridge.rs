//! The OpenTelemetry API bridge's decision (`tasker_telemetry::bridge`): whether the package
//! installs its tracer provider, meter provider, propagator and context into the
//! `opentelemetry-api` package. The bridge itself (`tasker_core._bridge`) is Python code over
//! the span functions of [`crate::span`].

use pyo3::prelude::*;
use tasker_telemetry::bridge::{self, Decision, Request};

use crate::convert::Text;
use crate::errors::{guard, tracing_error};

/// Whether to install the bridge: `request` is `"startup"`, `"explicit"` or `"replace"`,
/// `api_loaded` whether `opentelemetry.trace` imports, `other_provider` the class name of a
/// provider another SDK set. Prints the warning the outcome calls for.
#[pyfunction]
#[pyo3(signature = (request, api_loaded, other_provider=None))]
pub fn bridge_decision(
    request: &str,
    api_loaded: bool,
    other_provider: Option<Text>,
) -> PyResult<bool> {
    let request = Request::from_name(request)
        .ok_or_else(|| tracing_error(format!("unknown bridge request {request:?}")))?;
    guard("install_opentelemetry_bridge", || {
        Ok(bridge::decide(request, api_loaded, other_provider.as_deref()) == Decision::Install)
    })
}

/// The configured mode: `"auto"`, `"on"` or `"off"`.
#[pyfunction]
pub fn bridge_mode() -> &'static str {
    bridge::mode().as_str()
}

/// Whether the configured propagators include W3C Baggage (`telemetry.propagators`): the
/// bridge's propagator writes and reads the API's baggage only then.
#[pyfunction]
pub fn propagates_baggage() -> bool {
    tasker_telemetry::propagators::enabled().baggage
}
