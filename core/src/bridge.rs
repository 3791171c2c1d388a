//! The OpenTelemetry API bridge: what the Ruby and Python bridges share.
//!
//! Libraries instrumented through the OpenTelemetry API (`opentelemetry-instrumentation-requests`,
//! `opentelemetry-instrumentation-net_http`, ...) start their spans through whatever
//! `TracerProvider` the process has set. The bindings install one whose spans are
//! [`ForeignSpan`](crate::foreign::ForeignSpan)s, so those spans take the same pipeline,
//! redaction, correlation, sampling, limits and export as the language's `tracing.span`, and
//! share its context both ways. This module holds the rules they share:
//!
//! - [`BridgeMode`]: `telemetry.opentelemetry_bridge` / `TASKER_OPENTELEMETRY_BRIDGE`
//!   (`auto`, `on`, `off`), and [`decide`], what a binding does at start-up or on an explicit
//!   call, with the one warning it prints;
//! - [`SpanKind`]: the OpenTelemetry span kinds by name and index;
//! - [`span_context`]: a span context from the ids an API hands over (for links and remote
//!   parents).
//!
//! A Rust service needs none of this: the core sets the `opentelemetry` crate's global tracer
//! provider and propagator at [`init`](crate::init), so `opentelemetry::global::tracer(...)`
//! spans are exported by the same pipeline; see the README's "Libraries instrumented with OpenTelemetry".

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

/// Target of the bridge's messages.
const TARGET: &str = "tasker_telemetry";

/// Whether the bindings install the OpenTelemetry API bridge
/// (`telemetry.opentelemetry_bridge`, `TASKER_OPENTELEMETRY_BRIDGE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BridgeMode {
    /// Install when the OpenTelemetry API is loadable and no other SDK provider is set; when
    /// one is, keep it and say so once.
    #[default]
    Auto,
    /// Install, replacing another provider (saying so).
    On,
    /// Never install at start-up (an explicit call still does).
    Off,
}

impl BridgeMode {
    /// Parses `auto`, `on` or `off` (also `true`/`false`, `1`/`0`, any case).
    pub fn parse(value: &str) -> Option<BridgeMode> {
        match value.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(BridgeMode::Auto),
            "on" | "true" | "1" | "yes" => Some(BridgeMode::On),
            "off" | "false" | "0" | "no" => Some(BridgeMode::Off),
            _ => None,
        }
    }

    /// Its name as configured.
    pub fn as_str(self) -> &'static str {
        match self {
            BridgeMode::Auto => "auto",
            BridgeMode::On => "on",
            BridgeMode::Off => "off",
        }
    }
}

static MODE: AtomicU8 = AtomicU8::new(0);
static WARNED: AtomicBool = AtomicBool::new(false);

/// The mode in force (from the configuration loaded at start-up or `init`).
pub fn mode() -> BridgeMode {
    match MODE.load(Ordering::Relaxed) {
        1 => BridgeMode::On,
        2 => BridgeMode::Off,
        _ => BridgeMode::Auto,
    }
}

pub(crate) fn set_mode(mode: BridgeMode) {
    let v = match mode {
        BridgeMode::Auto => 0,
        BridgeMode::On => 1,
        BridgeMode::Off => 2,
    };
    MODE.store(v, Ordering::Relaxed);
}

/// Who asks a binding to install the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// The binding's start-up (`require`, `import`): follows [`mode`].
    Startup,
    /// `install_opentelemetry_bridge` without `replace`: installs unless another SDK provider
    /// is set (then, as `auto`, keeps it and warns), whatever the mode.
    Explicit,
    /// `install_opentelemetry_bridge(replace: true)`: installs over another provider.
    Replace,
}

impl Request {
    /// The request a binding names: `startup`, `explicit` or `replace`.
    ///
    /// ```
    /// use tasker_telemetry::bridge::Request;
    /// assert_eq!(Request::from_name("replace"), Some(Request::Replace));
    /// assert_eq!(Request::from_name("later"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Request> {
        match name {
            "startup" => Some(Request::Startup),
            "explicit" => Some(Request::Explicit),
            "replace" => Some(Request::Replace),
            _ => None,
        }
    }
}

/// What the binding does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Install the bridge (a warning was printed when it replaces another provider).
    Install,
    /// Leave things as they are; the reason, when a warning was printed.
    Leave(Option<String>),
}

/// Decides what a binding does about the bridge: `api_loaded` is whether the OpenTelemetry API
/// could be loaded, `other_provider` the class name of a tracer provider another SDK has set
/// (`None` when the API's default proxy is in place, or the bridge itself). Prints the one
/// warning the outcome calls for (at most once per process for a kept provider).
pub fn decide(request: Request, api_loaded: bool, other_provider: Option<&str>) -> Decision {
    if !api_loaded {
        return Decision::Leave(None);
    }
    let replace = match request {
        Request::Startup => match mode() {
            BridgeMode::Off => return Decision::Leave(None),
            BridgeMode::Auto => false,
            BridgeMode::On => true,
        },
        Request::Explicit => false,
        Request::Replace => true,
    };
    match other_provider {
        None => Decision::Install,
        Some(other) if replace => {
            tracing::warn!(
                target: TARGET,
                "the OpenTelemetry API's tracer provider {other} is replaced by tasker-telemetry's (telemetry.opentelemetry_bridge = on, or replace): libraries instrumented from now on go through tasker-telemetry, but tracers the other SDK handed out before keep exporting there; install the bridge before instrumenting"
            );
            Decision::Install
        }
        Some(other) => {
            let line = format!(
                "another OpenTelemetry SDK's tracer provider ({other}) is already set, so the tasker-telemetry bridge was not installed: spans of instrumented libraries go to that SDK and do not join tasker-telemetry's traces; set TASKER_OPENTELEMETRY_BRIDGE=on to replace it, or off to keep it without this warning"
            );
            if !WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(target: TARGET, "{line}");
            }
            Decision::Leave(Some(line))
        }
    }
}

/// The OpenTelemetry span kinds, in the order of their index in the Python API
/// (`SpanKind.INTERNAL` is 0 … `CONSUMER` 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpanKind {
    /// An operation inside the application (the default).
    #[default]
    Internal,
    /// The server side of a synchronous request.
    Server,
    /// The client side of a synchronous request.
    Client,
    /// The sender of an asynchronous message.
    Producer,
    /// The receiver of an asynchronous message.
    Consumer,
}

impl SpanKind {
    const ALL: [SpanKind; 5] = [
        SpanKind::Internal,
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ];

    /// The kind with the Python API's index.
    pub fn from_index(index: u8) -> Option<SpanKind> {
        Self::ALL.get(usize::from(index)).copied()
    }

    /// The kind with this name (`internal`, `server`, `client`, `producer`, `consumer`; the
    /// Ruby API's symbols).
    pub fn from_name(name: &str) -> Option<SpanKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Its name, as `tracing-opentelemetry`'s `otel.kind` field takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// A span context from the ids an OpenTelemetry API hands over (big-endian bytes), its trace
/// flags and `tracestate` header; `None` when the ids are invalid (all zero). An unparsable
/// `tracestate` is dropped, as the W3C specification has it.
///
/// ```
/// let cx = tasker_telemetry::bridge::span_context([1; 16], [2; 8], 1, "k=v", true).unwrap();
/// assert!(cx.is_sampled() && cx.is_remote());
/// assert_eq!(cx.trace_state().header(), "k=v");
/// ```
pub fn span_context(
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
    trace_state: &str,
    remote: bool,
) -> Option<SpanContext> {
    let state = if trace_state.is_empty() {
        TraceState::default()
    } else {
        crate::trace_context::Tracestate::parse(trace_state)
            .map(|t| t.to_otel())
            .unwrap_or_default()
    };
    let cx = SpanContext::new(
        TraceId::from_bytes(trace_id),
        SpanId::from_bytes(span_id),
        TraceFlags::new(flags),
        remote,
        state,
    );
    cx.is_valid().then_some(cx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_name() {
        assert_eq!(BridgeMode::parse(" AUTO "), Some(BridgeMode::Auto));
        assert_eq!(BridgeMode::parse("on"), Some(BridgeMode::On));
        assert_eq!(BridgeMode::parse("0"), Some(BridgeMode::Off));
        assert_eq!(BridgeMode::parse("sometimes"), None);
        assert_eq!(BridgeMode::On.as_str(), "on");
    }

    #[test]
    fn decisions() {
        assert_eq!(
            decide(Request::Explicit, false, None),
            Decision::Leave(None)
        );
        assert_eq!(decide(Request::Explicit, true, None), Decision::Install);
        assert!(matches!(
            decide(Request::Explicit, true, Some("SdkProvider")),
            Decision::Leave(Some(line)) if line.contains("SdkProvider") && line.contains("TASKER_OPENTELEMETRY_BRIDGE=on")
        ));
        assert_eq!(
            decide(Request::Replace, true, Some("SdkProvider")),
            Decision::Install
        );
    }

    #[test]
    fn kinds() {
        assert_eq!(SpanKind::from_index(2), Some(SpanKind::Client));
        assert_eq!(SpanKind::from_index(5), None);
        assert_eq!(SpanKind::from_name("consumer"), Some(SpanKind::Consumer));
        assert_eq!(SpanKind::from_name("sideways"), None);
    }

    #[test]
    fn invalid_ids_give_no_context() {
        assert!(span_context([0; 16], [2; 8], 1, "", false).is_none());
        let cx = span_context([1; 16], [2; 8], 0, "not a state!", false).unwrap();
        assert!(!cx.is_sampled());
        assert_eq!(cx.trace_state().header(), "");
    }
}
