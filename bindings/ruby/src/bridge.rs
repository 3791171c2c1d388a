//! The OpenTelemetry API bridge's decision (`tasker_telemetry::bridge`): whether the gem installs
//! its tracer provider, propagator and context into the `opentelemetry-api` gem. The bridge
//! itself (`tasker_core/tracing/opentelemetry_bridge.rb`) is Ruby code over the span functions of
//! [`crate::span`].

use magnus::{Error, Ruby, Value};
use tasker_telemetry::bridge::{self, Decision, Request};

use crate::convert::{opt_text, text};
use crate::errors::{error, guard};

/// Whether to install the bridge: `request` is `:startup`, `:explicit` or `:replace`,
/// `api_loaded` whether `require "opentelemetry"` succeeded, `other_provider` the class name of
/// a tracer provider another SDK set (nil for the API's proxy). Prints the warning the outcome
/// calls for.
pub fn bridge_decision(
    ruby: &Ruby,
    request: Value,
    api_loaded: bool,
    other_provider: Value,
) -> Result<bool, Error> {
    let request = text(request)?;
    let request = Request::from_name(&request)
        .ok_or_else(|| error(ruby, format!("unknown bridge request {request:?}")))?;
    let other_provider = opt_text(other_provider)?;
    guard(ruby, "install_opentelemetry_bridge", || {
        Ok(bridge::decide(request, api_loaded, other_provider.as_deref()) == Decision::Install)
    })
}

/// The configured mode: `"auto"`, `"on"` or `"off"`.
pub fn bridge_mode() -> &'static str {
    bridge::mode().as_str()
}

/// Whether the configured propagators include W3C Baggage (`telemetry.propagators`): the
/// bridge's propagator writes and reads the API's baggage only then.
pub fn propagates_baggage() -> bool {
    tasker_telemetry::propagators::enabled().baggage
}
