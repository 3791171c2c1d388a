//! W3C Trace Context Level 2 (<https://www.w3.org/TR/trace-context-2/>): a validating parse
//! of `traceparent` and `tracestate`, and the [`W3cTraceContextPropagator`] that
//! [`propagation`](crate::propagation) uses for them.
//!
//! The upstream `opentelemetry_sdk` propagator and `TraceState` are not used for parsing: they
//! accept wrong-length fields (`0-…`, `…-001`, a 15-digit parent id, a leading `+`), drop the
//! random flag, keep the first 32 members of a longer `tracestate`, and pass control characters
//! (CR/LF) in `tracestate` values through to the outgoing header.
//!
//! What is checked here:
//!
//! - `traceparent`, version `00`: exactly `00-<32 hex>-<16 hex>-<2 hex>` (55 characters, lower
//!   case hex only) after trimming optional whitespace (space, tab); trace id and parent id not
//!   all zero.
//! - A higher version (`01`–`fe`): the first 55 characters as for `00`, then either the end or a
//!   `-` before any further (unread) fields. Version `ff` is invalid.
//! - Flags: the sampled (`0x01`) and random trace id (`0x02`, Level 2) bits are kept; the
//!   other, undefined bits are cleared as the spec asks.
//! - `tracestate` (only read when `traceparent` is valid): list-members separated by `,`,
//!   each trimmed of spaces and tabs; empty members skipped. A key is a lower-case letter or
//!   digit followed by at most 255 of `a-z 0-9 _ - * / @` (the Level 2 key grammar, which
//!   includes the Level 1 `tenant@system` keys); a value is 1 to 256 printable ASCII characters
//!   (0x20–0x7E) other than `,` and `=`, not ending in a space. Any invalid member (a control
//!   character such as CR or LF, an empty value, a bad key…) or more than
//!   [`MAX_TRACESTATE_MEMBERS`] members makes the whole `tracestate` invalid: it is dropped, the
//!   `traceparent` still used. A key given twice keeps its first (left-most) member.
//! - Several `traceparent` fields (a header given twice) are invalid: combined as HTTP does,
//!   they are not one valid value. Several `tracestate` fields are combined in order.

use std::fmt;
use std::sync::{Arc, OnceLock};

use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceState};
use opentelemetry::{Context, SpanId, TraceId};

/// `traceparent` header name.
pub const TRACEPARENT: &str = "traceparent";
/// `tracestate` header name.
pub const TRACESTATE: &str = "tracestate";

/// The `sampled` trace flag.
pub const FLAG_SAMPLED: u8 = 0x01;
/// The `random-trace-id` trace flag (Trace Context Level 2).
pub const FLAG_RANDOM: u8 = 0x02;
/// The flags this implementation knows; the others are cleared on the way in and out.
pub const KNOWN_FLAGS: u8 = FLAG_SAMPLED | FLAG_RANDOM;

/// The most list-members a `tracestate` may have; more make it invalid.
pub const MAX_TRACESTATE_MEMBERS: usize = 32;
/// The longest `tracestate` key.
pub const MAX_KEY_LEN: usize = 256;
/// The longest `tracestate` value.
pub const MAX_VALUE_LEN: usize = 256;

/// Length of a version `00` `traceparent`.
const TRACEPARENT_LEN: usize = 55;

/// Why a `traceparent` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TraceparentError {
    /// Not `2 lower-case hex digits` followed by `-`.
    #[error("version is not two lower-case hex digits followed by '-'")]
    Version,
    /// Version `ff`, forbidden by the spec.
    #[error("version ff is forbidden")]
    ForbiddenVersion,
    /// Version `00` with anything but exactly 55 characters, or a higher version with fewer
    /// than 55 or without a `-` after the flags.
    #[error("wrong length or trailing data")]
    Length,
    /// Not 32 lower-case hex digits followed by `-`, or all zero.
    #[error("invalid trace-id")]
    TraceId,
    /// Not 16 lower-case hex digits followed by `-`, or all zero.
    #[error("invalid parent-id")]
    ParentId,
    /// Not 2 lower-case hex digits.
    #[error("invalid trace-flags")]
    Flags,
    /// The header was given more than once.
    #[error("more than one traceparent header")]
    Repeated,
}

/// Why a `tracestate` was refused (and dropped whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TracestateError {
    /// More than [`MAX_TRACESTATE_MEMBERS`] list-members.
    #[error("more than {MAX_TRACESTATE_MEMBERS} list-members")]
    TooManyMembers,
    /// A list-member without `=`.
    #[error("list-member #{0} has no '='")]
    NoEquals(usize),
    /// A key outside the grammar (position of the list-member, from 1).
    #[error("list-member #{0} has an invalid key")]
    Key(usize),
    /// A value outside the grammar: empty, too long, a control or non-ASCII character, `,`,
    /// `=`, or a trailing space (position of the list-member, from 1).
    #[error("list-member #{0} has an invalid value")]
    Value(usize),
}

/// A parsed `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traceparent {
    /// The trace id (never all zero).
    pub trace_id: TraceId,
    /// The caller's span id (never all zero).
    pub parent_id: SpanId,
    /// The trace flags, [`KNOWN_FLAGS`] only.
    pub flags: u8,
}

fn is_lower_hex(b: &[u8]) -> bool {
    b.iter()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// The value of lower-case hex digits already checked by [`is_lower_hex`].
fn hex_value(b: &[u8]) -> u128 {
    b.iter().fold(0u128, |acc, &c| {
        let d = if c.is_ascii_digit() {
            c - b'0'
        } else {
            c - b'a' + 10
        };
        (acc << 4) | u128::from(d)
    })
}

impl Traceparent {
    /// Parses a `traceparent` value (see the module docs for the rules).
    ///
    /// ```
    /// use tasker_telemetry::trace_context::{Traceparent, TraceparentError};
    ///
    /// let tp = Traceparent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03").unwrap();
    /// assert_eq!(tp.flags, 0x03);
    /// assert_eq!(Traceparent::parse("0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    ///            Err(TraceparentError::Version));
    /// ```
    pub fn parse(value: &str) -> Result<Traceparent, TraceparentError> {
        let b = value.trim_matches([' ', '\t']).as_bytes();
        let version = b.get(..2).ok_or(TraceparentError::Version)?;
        if !is_lower_hex(version) || b.get(2) != Some(&b'-') {
            return Err(TraceparentError::Version);
        }
        if version == b"ff" {
            return Err(TraceparentError::ForbiddenVersion);
        }
        if version == b"00" {
            if b.len() != TRACEPARENT_LEN {
                return Err(TraceparentError::Length);
            }
        } else if b.len() < TRACEPARENT_LEN
            || (b.len() > TRACEPARENT_LEN && b[TRACEPARENT_LEN] != b'-')
        {
            return Err(TraceparentError::Length);
        }
        let trace_id = &b[3..35];
        if !is_lower_hex(trace_id) || b[35] != b'-' {
            return Err(TraceparentError::TraceId);
        }
        let parent_id = &b[36..52];
        if !is_lower_hex(parent_id) || b[52] != b'-' {
            return Err(TraceparentError::ParentId);
        }
        let flags = &b[53..55];
        if !is_lower_hex(flags) {
            return Err(TraceparentError::Flags);
        }
        let (trace_id, parent_id) = (hex_value(trace_id), hex_value(parent_id));
        if trace_id == 0 {
            return Err(TraceparentError::TraceId);
        }
        // 16 hex digits fit in a u64.
        let parent_id = u64::try_from(parent_id).map_err(|_| TraceparentError::ParentId)?;
        if parent_id == 0 {
            return Err(TraceparentError::ParentId);
        }
        let flags = u8::try_from(hex_value(flags)).map_err(|_| TraceparentError::Flags)?;
        Ok(Traceparent {
            trace_id: TraceId::from(trace_id),
            parent_id: SpanId::from(parent_id),
            flags: flags & KNOWN_FLAGS,
        })
    }
}

impl fmt::Display for Traceparent {
    /// Version `00`, the only one this implementation writes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id,
            self.parent_id,
            self.flags & KNOWN_FLAGS
        )
    }
}

/// A valid `tracestate`: its list-members in order, keys unique.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tracestate {
    members: Vec<(String, String)>,
}

/// A key of the Level 2 grammar: `(lcalpha / DIGIT) 0*255(keychar)`.
fn valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit() => {}
        _ => return false,
    }
    b.len() <= MAX_KEY_LEN
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-*/@".contains(c))
}

/// A value of the grammar: `0*255(chr) nblk-chr`, `chr` printable ASCII but `,` and `=`.
fn valid_value(value: &str) -> bool {
    let b = value.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_VALUE_LEN
        && b.last() != Some(&b' ')
        && b.iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
}

impl Tracestate {
    /// Parses a `tracestate` value (several header fields joined with `,`): the whole value is
    /// refused when any list-member is invalid or when there are more than
    /// [`MAX_TRACESTATE_MEMBERS`]; a repeated key keeps its first member.
    ///
    /// ```
    /// use tasker_telemetry::trace_context::Tracestate;
    ///
    /// let ts = Tracestate::parse("rojo=00f067aa0ba902b7, ,congo=t61rcWkgMzE").unwrap();
    /// assert_eq!(ts.header(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    /// assert!(Tracestate::parse("foo=a\r\nx-evil: 1").is_err());
    /// ```
    pub fn parse(value: &str) -> Result<Tracestate, TracestateError> {
        Self::parse_fields([value])
    }

    /// Parses several `tracestate` header fields as one, in order (RFC 9110 field order).
    pub fn parse_fields<'a, I>(fields: I) -> Result<Tracestate, TracestateError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut members: Vec<(String, String)> = Vec::new();
        let mut count = 0;
        for raw in fields.into_iter().flat_map(|f| f.split(',')) {
            let member = raw.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            count += 1;
            if count > MAX_TRACESTATE_MEMBERS {
                return Err(TracestateError::TooManyMembers);
            }
            let (key, value) = member
                .split_once('=')
                .ok_or(TracestateError::NoEquals(count))?;
            if !valid_key(key) {
                return Err(TracestateError::Key(count));
            }
            if !valid_value(value) {
                return Err(TracestateError::Value(count));
            }
            if !members.iter().any(|(k, _)| k == key) {
                members.push((key.to_owned(), value.to_owned()));
            }
        }
        Ok(Tracestate { members })
    }

    /// Whether there is no list-member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The number of list-members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The list-members in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.members.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The header value: `key=value` members joined with `,`.
    pub fn header(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
        out
    }

    /// As an OpenTelemetry `TraceState` (what the SDK gives child spans and exports);
    /// `TraceState::NONE` when the upstream type refuses a key this grammar allows (a key with
    /// more than one `@`, or more than 14 characters after it): the outgoing header still
    /// carries it, see [`W3cTraceContextPropagator`].
    pub fn to_otel(&self) -> TraceState {
        TraceState::from_key_value(self.iter()).unwrap_or_default()
    }
}

/// What [`W3cTraceContextPropagator`] extracted, kept in the context so that spans created
/// under it (whose `SpanContext` the SDK builds) still inject the random flag and the exact
/// `tracestate` received for this trace.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    trace_id: TraceId,
    flags: u8,
    tracestate: Option<Arc<Tracestate>>,
}

/// The `traceparent` (version `00`) and `tracestate` to send for `cx`'s span, if it has a
/// valid one.
///
/// Flags: the span's sampled bit, and the random bit when the span has it or when the trace
/// was received with it. The OpenTelemetry SDK copies the parent's flags into a child span's
/// only when the sampler records the span; a dropped (not sampled) child gets flags `00`, so
/// the random bit is taken from what was received for the same trace id.
///
/// `tracestate`: the one received for this trace id, else the span's own `TraceState`
/// re-validated (dropped if invalid, so no control character is ever written).
pub fn outgoing(cx: &Context) -> Option<(String, Option<String>)> {
    let span = cx.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return None;
    }
    let received = cx.get::<Received>().filter(|r| r.trace_id == sc.trace_id());
    let mut flags = sc.trace_flags().to_u8() & KNOWN_FLAGS;
    if let Some(r) = received {
        flags |= r.flags & FLAG_RANDOM;
    }
    let traceparent = Traceparent {
        trace_id: sc.trace_id(),
        parent_id: sc.span_id(),
        flags,
    }
    .to_string();
    let tracestate = match received {
        Some(r) => r.tracestate.as_ref().map(|ts| ts.header()),
        None => {
            let header = sc.trace_state().header();
            Tracestate::parse(&header)
                .ok()
                .filter(|ts| !ts.is_empty())
                .map(|ts| ts.header())
        }
    };
    Some((traceparent, tracestate))
}

/// `traceparent`/`tracestate` propagation with the validation of this module (the
/// replacement for `opentelemetry_sdk::propagation::TraceContextPropagator`).
#[derive(Debug, Default, Clone, Copy)]
pub struct W3cTraceContextPropagator;

fn fields() -> &'static [String] {
    static FIELDS: OnceLock<[String; 2]> = OnceLock::new();
    FIELDS.get_or_init(|| [TRACEPARENT.to_owned(), TRACESTATE.to_owned()])
}

impl W3cTraceContextPropagator {
    /// The propagator.
    pub const fn new() -> Self {
        W3cTraceContextPropagator
    }

    /// The remote span context in `extractor`: `Err` when `traceparent` is missing or invalid;
    /// the `tracestate` (if any) when valid.
    pub fn extract_parts(
        extractor: &dyn Extractor,
    ) -> Result<(Traceparent, Option<Tracestate>), Option<TraceparentError>> {
        let values = extractor.get_all(TRACEPARENT).unwrap_or_default();
        let tp = match values.as_slice() {
            [] => return Err(None),
            [one] => Traceparent::parse(one).map_err(Some)?,
            _ => return Err(Some(TraceparentError::Repeated)),
        };
        let fields = extractor.get_all(TRACESTATE).unwrap_or_default();
        let ts = match Tracestate::parse_fields(fields.iter().copied()) {
            Ok(ts) if !ts.is_empty() => Some(ts),
            Ok(_) => None,
            Err(e) => {
                tracing::debug!(target: "tasker_telemetry::propagation", error = %e, "ignoring invalid tracestate header");
                None
            }
        };
        Ok((tp, ts))
    }
}

impl TextMapPropagator for W3cTraceContextPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        if let Some((traceparent, tracestate)) = outgoing(cx) {
            injector.set(TRACEPARENT, traceparent);
            if let Some(ts) = tracestate {
                injector.set(TRACESTATE, ts);
            }
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Ok((tp, ts)) = Self::extract_parts(extractor) else {
            return cx.clone();
        };
        let sc = SpanContext::new(
            tp.trace_id,
            tp.parent_id,
            TraceFlags::new(tp.flags),
            true,
            ts.as_ref().map(Tracestate::to_otel).unwrap_or_default(),
        );
        cx.with_remote_span_context(sc).with_value(Received {
            trace_id: tp.trace_id,
            flags: tp.flags,
            tracestate: ts.map(Arc::new),
        })
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(fields())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT: &str = "00f067aa0ba902b7";

    fn tp(version: &str, trace: &str, parent: &str, flags: &str) -> String {
        format!("{version}-{trace}-{parent}-{flags}")
    }

    fn ok(value: &str) -> Traceparent {
        Traceparent::parse(value).unwrap_or_else(|e| panic!("{value:?}: {e}"))
    }

    #[test]
    fn a_valid_traceparent_parses_and_prints_back() {
        let v = tp("00", TRACE, PARENT, "01");
        let p = ok(&v);
        assert_eq!(p.trace_id.to_string(), TRACE);
        assert_eq!(p.parent_id.to_string(), PARENT);
        assert_eq!(p.flags, FLAG_SAMPLED);
        assert_eq!(p.to_string(), v);
        // optional whitespace around the value
        assert_eq!(ok(&format!(" \t{v}\t ")), p);
    }

    #[test]
    fn wrong_length_fields_are_refused() {
        use TraceparentError as E;
        for (value, why) in [
            (tp("0", TRACE, PARENT, "01"), E::Version),
            (tp("000", TRACE, PARENT, "01"), E::Version),
            (tp("00", TRACE, PARENT, "1"), E::Length),
            (tp("00", TRACE, PARENT, "001"), E::Length),
            (tp("00", TRACE, &PARENT[1..], "01"), E::Length),
            (tp("00", &TRACE[1..], PARENT, "01"), E::Length),
            (tp("00", &format!("{TRACE}0"), PARENT, "01"), E::Length),
            (tp("00", TRACE, &format!("{PARENT}0"), "01"), E::Length),
            // same total length, a field one digit short and its neighbour one longer
            (
                tp("00", &TRACE[1..], &format!("{PARENT}0"), "01"),
                E::TraceId,
            ),
            (tp("00", TRACE, &PARENT[1..], "001"), E::ParentId),
        ] {
            assert_eq!(Traceparent::parse(&value), Err(why), "{value}");
        }
    }

    #[test]
    fn a_31_digit_trace_id_is_not_continued_zero_padded() {
        let value = tp("00", &TRACE[..31], PARENT, "01");
        assert!(Traceparent::parse(&value).is_err());
        let cx = extract_map(&[("traceparent", value.as_str())]);
        assert!(!cx.span().span_context().is_valid());
    }

    #[test]
    fn signs_upper_case_and_other_characters_are_refused() {
        let plus_trace = format!("+{}", &TRACE[1..]);
        let plus_parent = format!("+{}", &PARENT[1..]);
        for value in [
            tp("00", &plus_trace, PARENT, "01"),
            tp("00", TRACE, &plus_parent, "01"),
            tp("00", TRACE, PARENT, "+1"),
            tp("+0", TRACE, PARENT, "01"),
            tp("00", &TRACE.to_uppercase(), PARENT, "01"),
            tp("00", TRACE, &PARENT.to_uppercase(), "01"),
            tp("00", TRACE, PARENT, "0A"),
            tp("0A", TRACE, PARENT, "01"),
            tp("00", TRACE, PARENT, ".0"),
            tp("00", &format!("{}.", &TRACE[..31]), PARENT, "01"),
            tp("00", &format!("-{}", &TRACE[1..]), PARENT, "01"),
            tp("00", TRACE, PARENT, "0é"),
            format!("00-{TRACE}-{PARENT}-01\r\n"),
            String::new(),
            "00".to_owned(),
        ] {
            assert!(Traceparent::parse(&value).is_err(), "{value:?}");
        }
    }

    #[test]
    fn all_zero_ids_and_version_ff_are_refused() {
        assert_eq!(
            Traceparent::parse(&tp("00", &"0".repeat(32), PARENT, "01")),
            Err(TraceparentError::TraceId)
        );
        assert_eq!(
            Traceparent::parse(&tp("00", TRACE, &"0".repeat(16), "01")),
            Err(TraceparentError::ParentId)
        );
        assert_eq!(
            Traceparent::parse(&tp("ff", TRACE, PARENT, "01")),
            Err(TraceparentError::ForbiddenVersion)
        );
    }

    #[test]
    fn future_versions_read_the_first_four_fields() {
        let base = tp("cc", TRACE, PARENT, "03");
        assert_eq!(ok(&base).flags, 0x03);
        let more = ok(&format!("{base}-what-the-future-will-be-like"));
        assert_eq!(more.trace_id.to_string(), TRACE);
        assert_eq!(more.to_string(), tp("00", TRACE, PARENT, "03"));
        for bad in [
            format!("{base}.what-the-future-will-be-like"),
            format!("{base}1"),
            base[..54].to_owned(),
        ] {
            assert_eq!(
                Traceparent::parse(&bad),
                Err(TraceparentError::Length),
                "{bad}"
            );
        }
        // version 00 allows nothing after the flags
        for bad in [
            format!("{}-extra", tp("00", TRACE, PARENT, "01")),
            format!("{}.", tp("00", TRACE, PARENT, "01")),
        ] {
            assert_eq!(Traceparent::parse(&bad), Err(TraceparentError::Length));
        }
    }

    #[test]
    fn flags_keep_sampled_and_random_and_clear_the_rest() {
        assert_eq!(ok(&tp("00", TRACE, PARENT, "02")).flags, FLAG_RANDOM);
        assert_eq!(ok(&tp("00", TRACE, PARENT, "03")).flags, KNOWN_FLAGS);
        assert_eq!(ok(&tp("00", TRACE, PARENT, "ff")).flags, KNOWN_FLAGS);
        assert_eq!(ok(&tp("00", TRACE, PARENT, "08")).flags, 0);
        assert_eq!(
            ok(&tp("00", TRACE, PARENT, "09")).to_string(),
            tp("00", TRACE, PARENT, "01")
        );
    }

    #[test]
    fn tracestate_grammar() {
        let value: String = (0x20u8..=0x7e)
            .filter(|c| *c != b',' && *c != b'=')
            .map(char::from)
            .collect();
        let key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
        for good in [
            format!("{key}={value}"),
            format!("{key}@a-z0-9_-*/={value}"),
            "foo@=1".to_owned(),
            "foo@@bar=1".to_owned(),
            "foo@bar@baz=1".to_owned(),
            "1foo=1".to_owned(),
            format!("{}=1", "z".repeat(256)),
            format!("{}@{}=1", "t".repeat(241), "v".repeat(14)),
            format!("t@{}=1", "v".repeat(14)),
            format!("k={}", "v".repeat(256)),
            "k= leading spaces kept".to_owned(),
        ] {
            let ts = Tracestate::parse(&good).unwrap_or_else(|e| panic!("{good}: {e}"));
            assert_eq!(ts.header(), good);
        }
        for bad in [
            "@foo=1".to_owned(),
            "FOO=1".to_owned(),
            "foo.bar=1".to_owned(),
            "foo =1".to_owned(),
            "_foo=1".to_owned(),
            format!("{}=1", "z".repeat(257)),
            "foo=".to_owned(),
            "foo=bar=baz".to_owned(),
            format!("k={}", "v".repeat(257)),
            "foo=a\tb".to_owned(),
            "foo=\u{e9}".to_owned(),
            "foo=a\u{7f}".to_owned(),
            "foo".to_owned(),
            "=1".to_owned(),
        ] {
            assert!(Tracestate::parse(&bad).is_err(), "{bad:?}");
            // one bad member drops the whole header
            assert!(
                Tracestate::parse(&format!("ok=1,{bad}")).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn control_characters_make_the_tracestate_invalid() {
        for bad in [
            "foo=a\r\nx-evil: 1",
            "foo=a\nb",
            "foo=a\rb",
            "foo=a\u{0}b",
            "foo=a\r\n",
            "foo=1,\r\nx-evil: 1",
        ] {
            assert!(Tracestate::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tracestate_members_are_counted_empty_ones_skipped() {
        let members =
            |n: usize| -> Vec<String> { (1..=n).map(|i| format!("k{i:02}={i}")).collect() };
        let ts = Tracestate::parse(&members(32).join(",")).unwrap();
        assert_eq!(ts.len(), 32);
        assert_eq!(
            Tracestate::parse(&members(33).join(",")),
            Err(TracestateError::TooManyMembers)
        );
        // split across fields
        let m = members(33);
        assert_eq!(
            Tracestate::parse_fields(m.iter().map(String::as_str)),
            Err(TracestateError::TooManyMembers)
        );
        // empty and whitespace-only members do not count
        let padded = format!("{}, ,\t,,", members(32).join(", ,"));
        assert_eq!(Tracestate::parse(&padded).unwrap().len(), 32);
        assert!(Tracestate::parse("").unwrap().is_empty());
        assert!(Tracestate::parse(" , \t ").unwrap().is_empty());
        let ows = Tracestate::parse("foo=1 \t , \t bar=2,\t baz=3 ").unwrap();
        assert_eq!(ows.header(), "foo=1,bar=2,baz=3");
    }

    #[test]
    fn a_repeated_tracestate_key_keeps_its_first_member() {
        let ts = Tracestate::parse("foo=1,bar=2,foo=3").unwrap();
        assert_eq!(ts.header(), "foo=1,bar=2");
        assert_eq!(ts.get("foo"), Some("1"));
    }

    /// An extractor like [`crate::propagation`]'s: several values per name.
    struct Multi<'a>(&'a [(&'a str, &'a str)]);

    impl Extractor for Multi<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.iter().rfind(|(k, _)| *k == key).map(|(_, v)| *v)
        }
        fn keys(&self) -> Vec<&str> {
            self.0.iter().map(|(k, _)| *k).collect()
        }
        fn get_all(&self, key: &str) -> Option<Vec<&str>> {
            let all: Vec<&str> = self
                .0
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, v)| *v)
                .collect();
            (!all.is_empty()).then_some(all)
        }
    }

    fn extract_map(pairs: &[(&str, &str)]) -> Context {
        W3cTraceContextPropagator::new().extract(&Multi(pairs))
    }

    fn inject_map(cx: &Context) -> HashMap<String, String> {
        let mut out = HashMap::new();
        W3cTraceContextPropagator::new().inject_context(cx, &mut out);
        out
    }

    #[test]
    fn extract_then_inject_round_trips_flags_and_tracestate() {
        let v = tp("00", TRACE, PARENT, "02");
        let cx = extract_map(&[("traceparent", &v), ("tracestate", "foo@@bar=1,rojo=2")]);
        let sc = cx.span().span_context().clone();
        assert!(sc.is_remote());
        assert_eq!(sc.trace_flags().to_u8(), FLAG_RANDOM);
        // the upstream TraceState cannot hold `foo@@bar`; the header still carries it
        assert_eq!(sc.trace_state().header(), "");
        let out = inject_map(&cx);
        assert_eq!(out["traceparent"], v);
        assert_eq!(out["tracestate"], "foo@@bar=1,rojo=2");
    }

    #[test]
    fn tracestate_fields_are_combined_and_a_repeated_traceparent_refused() {
        let v = tp("00", TRACE, PARENT, "01");
        let cx = extract_map(&[
            ("traceparent", &v),
            ("tracestate", "foo=1,bar=2"),
            ("tracestate", ""),
            ("tracestate", "rojo=1"),
        ]);
        assert_eq!(inject_map(&cx)["tracestate"], "foo=1,bar=2,rojo=1");

        let cx = extract_map(&[("traceparent", &v), ("traceparent", &v)]);
        assert!(!cx.span().span_context().is_valid());
        assert!(inject_map(&cx).is_empty());
    }

    #[test]
    fn an_invalid_tracestate_keeps_the_traceparent() {
        let v = tp("00", TRACE, PARENT, "01");
        for ts in ["foo=a\r\nx-evil: 1", "foo=,bar=3", "@foo=1,bar=2"] {
            let cx = extract_map(&[("traceparent", &v), ("tracestate", ts)]);
            let out = inject_map(&cx);
            assert_eq!(out["traceparent"], v);
            assert!(!out.contains_key("tracestate"), "{ts:?}: {out:?}");
        }
    }

    #[test]
    fn a_tracestate_without_a_valid_traceparent_is_ignored() {
        let cx = extract_map(&[("tracestate", "foo=1")]);
        assert!(cx.get::<Received>().is_none());
        let cx = extract_map(&[("traceparent", "00-zz"), ("tracestate", "foo=1")]);
        assert!(inject_map(&cx).is_empty());
    }

    #[test]
    fn a_span_context_with_control_characters_in_its_state_injects_no_tracestate() {
        // Built elsewhere (the upstream `TraceState` lets CR/LF through): never written out.
        let state = TraceState::from_key_value([("foo", "a\r\nx-evil: 1")]).unwrap();
        let sc = SpanContext::new(
            TraceId::from(1u128),
            SpanId::from(2u64),
            TraceFlags::SAMPLED,
            false,
            state,
        );
        let out = inject_map(&Context::new().with_remote_span_context(sc));
        assert_eq!(
            out["traceparent"],
            "00-00000000000000000000000000000001-0000000000000002-01"
        );
        assert!(!out.contains_key("tracestate"), "{out:?}");
    }
}
