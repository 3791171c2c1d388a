//! Which context formats cross process boundaries (`telemetry.propagators`, `OTEL_PROPAGATORS`):
//! the global OpenTelemetry propagator, and what [`crate::propagation`]'s own
//! [`inject`](crate::propagation::inject) and [`extract`](crate::propagation::extract) write
//! and read.

use std::sync::atomic::{AtomicU8, Ordering};

use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry_sdk::propagation::BaggagePropagator;

use crate::config::Propagator;
use crate::trace_context::W3cTraceContextPropagator;

const TRACE_CONTEXT: u8 = 1;
const BAGGAGE: u8 = 2;

/// Both formats until a configuration says otherwise (the OpenTelemetry default).
static ENABLED: AtomicU8 = AtomicU8::new(TRACE_CONTEXT | BAGGAGE);

/// The formats in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats {
    /// W3C Trace Context: `traceparent` and `tracestate`.
    pub trace_context: bool,
    /// W3C Baggage: `baggage` (which carries the correlation id across processes).
    pub baggage: bool,
}

/// The formats in force: those of the configuration given to `init` (or at a binding's
/// start-up); both before that.
///
/// ```
/// let formats = tasker_telemetry::propagators::enabled();
/// assert!(formats.trace_context && formats.baggage);
/// ```
pub fn enabled() -> Formats {
    let bits = ENABLED.load(Ordering::Relaxed);
    Formats {
        trace_context: bits & TRACE_CONTEXT != 0,
        baggage: bits & BAGGAGE != 0,
    }
}

/// Makes `propagators` the formats in force and installs the matching global OpenTelemetry
/// propagator (a composite of just those; none for an empty list).
pub(crate) fn install(propagators: &[Propagator]) {
    let mut bits = 0;
    let mut installed: Vec<Box<dyn TextMapPropagator + Send + Sync>> = Vec::new();
    for p in propagators {
        match p {
            Propagator::TraceContext => {
                bits |= TRACE_CONTEXT;
                // Ours: the validating parse (the SDK's accepts malformed headers).
                installed.push(Box::new(W3cTraceContextPropagator::new()));
            }
            Propagator::Baggage => {
                bits |= BAGGAGE;
                installed.push(Box::new(BaggagePropagator::new()));
            }
        }
    }
    ENABLED.store(bits, Ordering::Relaxed);
    opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(installed));
}
