//! W3C trace context and baggage across processes: [`inject`] the current context into a header
//! map, [`extract`] one into a [`RemoteContext`] that continues the trace elsewhere.
//!
//! `traceparent` and `tracestate` are parsed and written by [`crate::trace_context`] (W3C Trace
//! Context Level 2, validated strictly: a wrong-length field, upper-case hex or a `+` restarts
//! the trace; a `tracestate` with an invalid member, a control character or more than 32
//! members is dropped; the random flag is kept).
//!
//! `correlation_id` (and `parent_correlation_id`, `task_uuid`, `step_uuid`, `namespace` when
//! set) travel as W3C baggage. Invalid headers are ignored with a debug-level note; they never
//! fail the caller.
//!
//! Baggage follows W3C Baggage both ways: at most [`MAX_BAGGAGE_MEMBERS`] list-members and
//! [`MAX_BAGGAGE_BYTES`] bytes. On [`extract`], an invalid member is skipped (not the whole
//! header) and members past the limits are dropped, the earlier ones kept. On [`inject`], the
//! baggage received from upstream (`tenant=acme`) is forwarded, the current correlation's
//! entries replacing upstream correlation entries and coming first, so that the limits never
//! drop them.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use opentelemetry::baggage::{BaggageExt, KeyValueMetadata};
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, ContextGuard};

use crate::trace_context::W3cTraceContextPropagator;

use crate::correlation::{keys, Correlation};

/// W3C Baggage: the most list-members a `baggage` header carries.
pub const MAX_BAGGAGE_MEMBERS: usize = 64;
/// W3C Baggage: the most bytes a `baggage` header carries.
pub const MAX_BAGGAGE_BYTES: usize = 8192;

/// Header names this module reads and writes.
pub mod headers {
    /// `traceparent`
    pub const TRACEPARENT: &str = "traceparent";
    /// `tracestate`
    pub const TRACESTATE: &str = "tracestate";
    /// `baggage`
    pub const BAGGAGE: &str = "baggage";
}

/// `traceparent`/`tracestate`, validated by [`crate::trace_context`]; baggage is this
/// module's own (see the module docs).
fn propagator() -> &'static W3cTraceContextPropagator {
    static PROPAGATOR: W3cTraceContextPropagator = W3cTraceContextPropagator::new();
    &PROPAGATOR
}

const CORRELATION_KEYS: [&str; 5] = [
    keys::CORRELATION_ID,
    keys::PARENT_CORRELATION_ID,
    keys::TASK_UUID,
    keys::STEP_UUID,
    keys::NAMESPACE,
];

/// An RFC 7230 token character (what a baggage key is made of).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `s` percent-decoded as UTF-8; `None` when it is not.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Appends `s` percent-encoded where W3C baggage values need it (controls, space, `"`, `,`,
/// `;`, `\`, `%` and every non-ASCII byte).
fn percent_encode(out: &mut String, s: &str) {
    for &b in s.as_bytes() {
        if b > 0x20 && b < 0x7f && !matches!(b, b'"' | b',' | b';' | b'\\' | b'%') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// The list-members of a `baggage` header: invalid members (no `=`, a key that is not a
/// token, a value that is not percent-encoded UTF-8) skipped, members past
/// [`MAX_BAGGAGE_MEMBERS`] or [`MAX_BAGGAGE_BYTES`] dropped, earlier ones kept. Each member
/// as (key, decoded value, properties).
pub(crate) fn parse_baggage(header: &str) -> Vec<(String, String, String)> {
    let mut members = Vec::new();
    let mut bytes = 0;
    for raw in header.split(',') {
        if members.len() == MAX_BAGGAGE_MEMBERS {
            break;
        }
        let raw = raw.trim_matches([' ', '\t']);
        if raw.is_empty() {
            continue;
        }
        let (pair, props) = raw.split_once(';').unwrap_or((raw, ""));
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        let key = key.trim_matches([' ', '\t']);
        if key.is_empty() || !key.bytes().all(is_token_byte) {
            continue;
        }
        let Some(value) = percent_decode(value.trim_matches([' ', '\t'])) else {
            continue;
        };
        let cost = raw.len() + usize::from(!members.is_empty());
        if bytes + cost > MAX_BAGGAGE_BYTES {
            continue;
        }
        bytes += cost;
        members.push((
            key.to_owned(),
            value,
            props.trim_matches([' ', '\t']).to_owned(),
        ));
    }
    members
}

/// The `baggage` header for `cx`: the correlation's entries first, then the other entries of
/// the context's baggage (upstream correlation entries replaced when there is a correlation),
/// within the W3C limits; `None` when empty.
fn baggage_header(cx: &Context, correlation: Option<&Correlation>) -> Option<String> {
    let ours = correlation.map(Correlation::pairs).unwrap_or_default();
    let baggage = cx.baggage();
    let upstream = baggage
        .iter()
        .filter(|(k, _)| ours.is_empty() || !CORRELATION_KEYS.contains(&k.as_str()))
        .map(|(k, (v, meta))| (k.as_str(), v.as_str(), meta.as_str()));
    let mut header = String::new();
    let mut count = 0;
    let mut member = String::new();
    for (key, value, meta) in ours
        .iter()
        .map(|(k, v)| (*k, v.as_str(), ""))
        .chain(upstream)
    {
        if count == MAX_BAGGAGE_MEMBERS {
            break;
        }
        member.clear();
        member.push_str(key);
        member.push('=');
        percent_encode(&mut member, value);
        if !meta.trim().is_empty() {
            member.push(';');
            member.push_str(meta.trim());
        }
        let sep = usize::from(count > 0);
        if header.len() + sep + member.len() > MAX_BAGGAGE_BYTES {
            continue;
        }
        if sep == 1 {
            header.push(',');
        }
        header.push_str(&member);
        count += 1;
    }
    (!header.is_empty()).then_some(header)
}

/// Injects the current context (the current span, or an attached remote context) and the
/// current correlation into a new header map.
///
/// ```
/// let headers = tasker_telemetry::propagation::inject();
/// // With no span and no correlation there is nothing to propagate.
/// assert!(headers.get("traceparent").is_none());
/// ```
pub fn inject() -> HashMap<String, String> {
    Context::map_current(inject_context)
}

/// Injects `cx` (its span, baggage and correlation) into a new header map.
pub fn inject_context(cx: &Context) -> HashMap<String, String> {
    let mut out = HashMap::with_capacity(3);
    let formats = crate::propagators::enabled();
    if formats.trace_context {
        propagator().inject_context(cx, &mut out);
    }
    if !formats.baggage {
        return out;
    }
    let correlation = Correlation::from_context(cx);
    if let Some(baggage) = baggage_header(cx, correlation.as_deref()) {
        out.insert(headers::BAGGAGE.to_owned(), baggage);
    }
    out
}

/// The trace id (32 hex digits) and span id (16 hex digits) of the span in `cx`, if valid.
///
/// ```
/// assert_eq!(tasker_telemetry::propagation::ids(&opentelemetry::Context::new()), None);
/// ```
pub fn ids(cx: &Context) -> Option<(String, String)> {
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid()
        .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
}

/// A context received from another process: its span context (the remote parent), baggage
/// and correlation.
#[derive(Clone)]
pub struct RemoteContext {
    cx: Context,
    correlation: Option<Arc<Correlation>>,
}

impl fmt::Debug for RemoteContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteContext")
            .field("trace_id", &self.trace_id())
            .field("span_id", &self.span_id())
            .field("correlation", &self.correlation)
            .finish()
    }
}

/// Extracts a remote context from headers (names are matched case-insensitively).
///
/// ```
/// use tasker_telemetry::propagation::extract;
///
/// let remote = extract([
///     ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
///     ("baggage", "correlation_id=0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b11"),
/// ]);
/// assert_eq!(remote.trace_id().as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
/// assert_eq!(remote.correlation().unwrap().correlation_id.to_string(), "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b11");
///
/// let garbage = extract([("traceparent", "not a header")]);
/// assert!(!garbage.is_valid());
/// ```
pub fn extract<'a, I>(headers: I) -> RemoteContext
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    extract_from(&Pairs(headers.into_iter().collect()))
}

/// Header pairs looked up case-insensitively where they are (no map, no copies). A name given
/// twice: `get` keeps its last value (baggage), `get_all` gives every value in order, so that
/// `tracestate` fields are combined and a repeated `traceparent` is refused, as W3C Trace
/// Context asks.
struct Pairs<'a>(Vec<(&'a str, &'a str)>);

impl Extractor for Pairs<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rfind(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| *k).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let all: Vec<&str> = self
            .0
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
            .collect();
        (!all.is_empty()).then_some(all)
    }
}

/// Like [`extract`], from a map whose keys are already lower-case.
pub fn extract_map(map: &HashMap<String, String>) -> RemoteContext {
    extract_from(map)
}

fn extract_from(headers: &dyn Extractor) -> RemoteContext {
    let formats = crate::propagators::enabled();
    let cx = if formats.trace_context {
        propagator().extract_with_context(&Context::new(), headers)
    } else {
        Context::new()
    };
    let baggage = headers
        .get(headers::BAGGAGE)
        .filter(|_| formats.baggage)
        .map(parse_baggage);
    let cx = match baggage {
        Some(members) if !members.is_empty() => cx.with_baggage(
            members
                .into_iter()
                .map(|(k, v, props)| KeyValueMetadata::new(k, v, props.as_str())),
        ),
        _ => cx,
    };
    if let Some(tp) = headers
        .get(headers::TRACEPARENT)
        .filter(|_| formats.trace_context)
    {
        if !cx.span().span_context().is_valid() {
            tracing::debug!(target: "tasker_telemetry::propagation", traceparent = %tp, "ignoring invalid traceparent header");
        }
    }
    let correlation = Correlation::from_pairs(
        cx.baggage()
            .iter()
            .map(|(k, (v, _))| (k.as_str(), v.as_str())),
    )
    .map(Arc::new);
    if correlation.is_none() && cx.baggage().get("correlation_id").is_some() {
        tracing::debug!(target: "tasker_telemetry::propagation", "ignoring invalid correlation_id in baggage");
    }
    let cx = match &correlation {
        Some(c) => cx.with_value(crate::correlation::CorrelationValue(c.clone())),
        None => cx,
    };
    RemoteContext { cx, correlation }
}

impl RemoteContext {
    /// Whether a valid remote span context was found.
    pub fn is_valid(&self) -> bool {
        self.cx.span().span_context().is_valid()
    }

    /// The remote trace id (32 hex digits), if valid.
    pub fn trace_id(&self) -> Option<String> {
        crate::propagation::ids(&self.cx).map(|(t, _)| t)
    }

    /// The remote (parent) span id (16 hex digits), if valid.
    pub fn span_id(&self) -> Option<String> {
        crate::propagation::ids(&self.cx).map(|(_, s)| s)
    }

    /// The remote span's context (ids, trace flags, `tracestate`); invalid when the headers
    /// held none.
    pub fn span_context(&self) -> opentelemetry::trace::SpanContext {
        self.context().span().span_context().clone()
    }

    /// The correlation carried in baggage.
    pub fn correlation(&self) -> Option<&Arc<Correlation>> {
        self.correlation.as_ref()
    }

    /// The OpenTelemetry context.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Replaces (or sets) the correlation, e.g. when the message carries it outside baggage.
    pub fn with_correlation(mut self, correlation: Correlation) -> Self {
        let c = Arc::new(correlation);
        self.cx = self
            .cx
            .with_value(crate::correlation::CorrelationValue(c.clone()));
        self.correlation = Some(c);
        self
    }

    /// Makes this context current on this thread: spans created while the guard lives are
    /// children of the remote span and carry its correlation.
    pub fn attach(&self) -> ContextGuard {
        self.cx.clone().attach()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_only_context_injects_baggage_without_traceparent() {
        let c = Correlation::new().with_namespace("ns");
        let id = c.correlation_id.to_string();
        let _g = c.enter();
        let headers = inject();
        assert!(!headers.contains_key("traceparent"));
        assert!(
            headers["baggage"].contains(&format!("correlation_id={id}")),
            "{headers:?}"
        );
        let back = extract(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(back.correlation().unwrap().correlation_id.to_string(), id);
        assert_eq!(back.correlation().unwrap().namespace.as_deref(), Some("ns"));
    }

    #[test]
    fn garbage_headers_are_ignored() {
        for (k, v) in [
            ("traceparent", ""),
            (
                "traceparent",
                "00-00000000000000000000000000000000-0000000000000000-01",
            ),
            (
                "traceparent",
                "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            ("baggage", "correlation_id=%%%"),
            ("baggage", ";;;==,,"),
            (
                "TRACEPARENT",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            ),
        ] {
            let r = extract([(k, v)]);
            assert!(!r.is_valid(), "{k}: {v}");
            assert!(r.correlation().is_none());
        }
    }

    #[test]
    fn header_names_are_case_insensitive() {
        let r = extract([(
            "TraceParent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )]);
        assert_eq!(r.span_id().as_deref(), Some("00f067aa0ba902b7"));
    }

    const ID: &str = "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b11";
    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn members(header: &str) -> Vec<(String, String)> {
        let mut m: Vec<_> = header
            .split(',')
            .map(|m| {
                let (k, v) = m.split_once('=').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect();
        m.sort();
        m
    }

    #[test]
    fn an_oversized_baggage_header_keeps_its_first_members() {
        let header = format!("correlation_id={ID},big={},tenant=acme", "x".repeat(9000));
        let r = extract([("traceparent", TP), ("baggage", header.as_str())]);
        assert_eq!(r.correlation().unwrap().correlation_id.to_string(), ID);
        assert_eq!(
            r.context().baggage().get("tenant").map(|v| v.as_str()),
            Some("acme")
        );
        assert!(r.context().baggage().get("big").is_none());

        let many: Vec<String> = std::iter::once(format!("correlation_id={ID}"))
            .chain((0..100).map(|i| format!("k{i}=v")))
            .collect();
        let r = extract([("baggage", many.join(",").as_str())]);
        assert_eq!(r.context().baggage().len(), MAX_BAGGAGE_MEMBERS);
        assert!(r.correlation().is_some());
        assert!(r.context().baggage().get("k62").is_some());
        assert!(r.context().baggage().get("k63").is_none());
    }

    #[test]
    fn invalid_members_are_skipped_not_the_header() {
        let header =
            format!("bad key=1,noequals,,=empty,v=%zz,correlation_id={ID},tenant = acme ;p=1");
        let got = parse_baggage(&header);
        let keys: Vec<_> = got.iter().map(|m| m.0.as_str()).collect();
        assert_eq!(keys, ["correlation_id", "tenant"]);
        assert_eq!(got[1].1, "acme");
        assert_eq!(got[1].2, "p=1");
        assert!(extract([("baggage", header.as_str())])
            .correlation()
            .is_some());
    }

    #[test]
    fn inject_forwards_upstream_baggage_with_our_correlation() {
        let upstream =
            "correlation_id=0190e7c4-0000-7000-8000-000000000000,tenant=acme,note=a%2Cb%20c";
        let remote = extract([("traceparent", TP), ("baggage", upstream)]);
        let ours = Correlation::with_id(ID.parse().unwrap()).with_namespace("ns");
        let remote = remote.with_correlation(ours);
        let headers = inject_context(remote.context());
        assert_eq!(
            members(&headers["baggage"]),
            members(&format!(
                "correlation_id={ID},namespace=ns,note=a%2Cb%20c,tenant=acme"
            ))
        );
        assert!(headers["traceparent"].contains("4bf92f3577b34da6a3ce929d0e0e4736"));
        // attached: the current context (and spans under it) forwards it too
        let _g = remote.attach();
        let headers = inject();
        assert!(headers["baggage"].contains("tenant=acme"), "{headers:?}");
        let back = extract(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(
            back.context().baggage().get("note").map(|v| v.as_str()),
            Some("a,b c")
        );
    }

    #[test]
    fn inject_applies_the_limits_and_keeps_the_correlation() {
        let many: Vec<String> = (0..64)
            .map(|i| format!("k{i}={}", "v".repeat(200)))
            .collect();
        let remote = extract([("traceparent", TP), ("baggage", many.join(",").as_str())]);
        let remote = remote.with_correlation(Correlation::with_id(ID.parse().unwrap()));
        let header = inject_context(remote.context())["baggage"].clone();
        assert!(header.len() <= MAX_BAGGAGE_BYTES, "{}", header.len());
        assert!(header.split(',').count() <= MAX_BAGGAGE_MEMBERS);
        assert!(
            header.starts_with(&format!("correlation_id={ID}")),
            "{header}"
        );
    }

    #[test]
    fn a_span_under_a_remote_parent_forwards_its_baggage() {
        let header = format!("correlation_id={ID},tenant=acme");
        let remote = extract([("traceparent", TP), ("baggage", header.as_str())]);
        let headers = child_headers(&remote);
        assert_eq!(
            members(&headers["baggage"]),
            members(&format!("correlation_id={ID},tenant=acme"))
        );
        assert!(
            !headers["traceparent"].contains("00f067aa0ba902b7"),
            "a child span id"
        );
    }

    /// A child span under `remote`, and the headers it injects.
    fn child_headers(remote: &RemoteContext) -> HashMap<String, String> {
        use crate::dynamic::{DynSpan, Parent, SpanStart};
        let cap = crate::testing::capture(&crate::TelemetryConfig::default());
        cap.run(|| {
            let fields = crate::fields::Fields::new();
            let span = DynSpan::start(SpanStart {
                name: "work",
                level: tracing::Level::INFO,
                target: "python",
                fields: &fields,
                parent: Parent::Remote(remote),
                correlation: None,
            });
            let headers = inject_context(span.context());
            span.end();
            headers
        })
    }

    #[test]
    fn the_random_flag_survives_extract_child_span_inject() {
        // 02: random, not sampled: the parent-based sampler drops the child, and the SDK gives
        // a dropped span flags 00; 03: sampled, the SDK copies the parent's flags.
        for flags in ["02", "03", "00", "01"] {
            let tp = format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags}");
            let remote = extract([("traceparent", tp.as_str()), ("tracestate", "rojo=1")]);
            assert!(remote.is_valid());
            let out = child_headers(&remote);
            let sent = &out["traceparent"];
            assert!(
                sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
                "{sent}"
            );
            assert!(
                !sent.contains("00f067aa0ba902b7"),
                "a new parent id: {sent}"
            );
            let random = u8::from_str_radix(&sent[53..], 16).unwrap() & 0x02;
            assert_eq!(
                random != 0,
                flags == "02" || flags == "03",
                "{flags} -> {sent}"
            );
            assert_eq!(out["tracestate"], "rojo=1");
        }
    }

    #[test]
    fn strict_traceparent_and_tracestate_through_extract() {
        for bad in [
            "+0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "000-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-001",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
        ] {
            let r = extract([("traceparent", bad)]);
            assert!(!r.is_valid(), "{bad}");
            assert!(!inject_context(r.context()).contains_key("traceparent"));
        }
        let ok =
            |ts: &str| inject_context(extract([("traceparent", TP), ("tracestate", ts)]).context());
        let out = ok("foo=a\r\nx-evil: 1");
        assert_eq!(out["traceparent"], TP);
        assert!(!out.contains_key("tracestate"), "{out:?}");
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert!(!ok(&many.join(",")).contains_key("tracestate"));
        assert_eq!(
            ok(&many[..32].join(","))["tracestate"],
            many[..32].join(",")
        );
        let vendor = format!("t@{}=1", "v".repeat(14));
        assert_eq!(ok(&vendor)["tracestate"], vendor);
        // a header given twice: tracestate combined, traceparent refused
        let r = extract([
            ("traceparent", TP),
            ("tracestate", "a=1"),
            ("TraceState", "b=2"),
        ]);
        assert_eq!(inject_context(r.context())["tracestate"], "a=1,b=2");
        assert!(!extract([("traceparent", TP), ("TRACEPARENT", TP)]).is_valid());
    }
}
