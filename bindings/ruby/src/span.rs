//! Spans and events started from Ruby: `Native::Span`, `start_span`, `start_otel_span` (the
//! OpenTelemetry API bridge's), `handler_span` and `event`.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use magnus::{Error, RArray, RHash, RString, Ruby, Value};
use opentelemetry::trace::SpanContext;
use tasker_telemetry::bridge::SpanKind;
use tasker_telemetry::fields::Exception;
use tasker_telemetry::foreign::{self, ForeignSpan, Start};
use tracing::Level;

use crate::context::{correlation_of, parent_of, RbCorrelation};
use crate::convert::{self, opt_text, text};
use crate::errors::{error, foreign_error, guard};

/// The core's level for an index 0 (trace) … 4 (error).
pub fn level(ruby: &Ruby, index: u8) -> Result<Level, Error> {
    tasker_telemetry::level::level_from_index(index).map_err(|e| foreign_error(ruby, e))
}

/// A span started from Ruby. Ended by `finish`, or when the Ruby object is collected.
#[magnus::wrap(class = "TaskerCore::Tracing::Native::Span", free_immediately, size)]
pub struct RbSpan(pub Arc<ForeignSpan>);

impl RbSpan {
    pub fn trace_id(&self) -> Option<String> {
        self.0.trace_id()
    }

    pub fn span_id(&self) -> Option<String> {
        self.0.span_id()
    }

    pub fn is_recording(&self) -> bool {
        self.0.is_recording()
    }

    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }

    pub fn set(ruby: &Ruby, rb_self: &Self, key: Value, value: Value) -> Result<(), Error> {
        let fields = convert::field(key, value)?;
        guard(ruby, "Span#set", || {
            rb_self.0.set(&fields);
            Ok(())
        })
    }

    pub fn add_event(
        ruby: &Ruby,
        rb_self: &Self,
        name: Value,
        fields: Option<RHash>,
    ) -> Result<(), Error> {
        let (name, fields) = (text(name)?, convert::fields(fields)?);
        guard(ruby, "Span#add_event", || {
            rb_self.0.add_event(&name, &fields);
            Ok(())
        })
    }

    pub fn record_exception(
        ruby: &Ruby,
        rb_self: &Self,
        kind: Value,
        message: Value,
        backtrace: Value,
    ) -> Result<(), Error> {
        let (kind, message, backtrace) = (text(kind)?, text(message)?, opt_text(backtrace)?);
        guard(ruby, "Span#record_exception", || {
            rb_self.0.record_exception(Exception {
                kind: &kind,
                message: &message,
                stacktrace: backtrace.as_deref(),
            });
            Ok(())
        })
    }

    pub fn set_error(ruby: &Ruby, rb_self: &Self, message: Value) -> Result<(), Error> {
        let message = text(message)?;
        guard(ruby, "Span#set_error", || {
            rb_self.0.set_error(&message);
            Ok(())
        })
    }

    pub fn finish(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        guard(ruby, "Span#finish", || {
            rb_self.0.end();
            Ok(())
        })
    }

    /// Ends the span at `ns` nanoseconds since the Unix epoch (the OpenTelemetry API's
    /// `finish(end_timestamp:)`; idempotent, as `finish`).
    pub fn finish_at(ruby: &Ruby, rb_self: &Self, ns: u64) -> Result<(), Error> {
        guard(ruby, "Span#finish_at", || {
            rb_self.0.end_at(UNIX_EPOCH + Duration::from_nanos(ns));
            Ok(())
        })
    }

    /// Sets the OK status.
    pub fn set_ok(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        guard(ruby, "Span#set_ok", || {
            rb_self.0.set_ok();
            Ok(())
        })
    }

    /// Renames the exported span.
    pub fn update_name(ruby: &Ruby, rb_self: &Self, name: Value) -> Result<(), Error> {
        let name = text(name)?;
        guard(ruby, "Span#update_name", || {
            rb_self.0.update_name(&name);
            Ok(())
        })
    }

    /// Adds a link to the span `trace_id`/`span_id` (16- and 8-byte binary Strings, as the
    /// OpenTelemetry API's `SpanContext` holds them) with its trace flags, `tracestate` header
    /// (or nil) and attributes; invalid (all-zero) ids are ignored.
    pub fn add_link(
        ruby: &Ruby,
        rb_self: &Self,
        trace_id: RString,
        span_id: RString,
        flags: u8,
        trace_state: Value,
        fields: Option<RHash>,
    ) -> Result<(), Error> {
        let trace_id = id_bytes::<16>(ruby, trace_id, "trace_id")?;
        let span_id = id_bytes::<8>(ruby, span_id, "span_id")?;
        let (trace_state, fields) = (opt_text(trace_state)?, convert::fields(fields)?);
        guard(ruby, "Span#add_link", || {
            let state = trace_state.as_deref().unwrap_or("");
            if let Some(to) =
                tasker_telemetry::bridge::span_context(trace_id, span_id, flags, state, false)
            {
                rb_self.0.add_link(to, &fields);
            }
            Ok(())
        })
    }

    /// `[trace_id, span_id, trace_flags, tracestate]`, the ids as binary Strings (all zero when
    /// the span is not recorded), as the OpenTelemetry API's `SpanContext` takes them.
    pub fn span_context(ruby: &Ruby, rb_self: &Self) -> Result<RArray, Error> {
        span_context_array(ruby, rb_self.0.span_context())
    }

    /// Whether the span is sampled for export.
    pub fn is_sampled(&self) -> bool {
        self.0.is_sampled()
    }
}

/// `[trace_id, span_id, trace_flags, tracestate]` of a span context, the ids as binary Strings.
pub fn span_context_array(ruby: &Ruby, cx: &SpanContext) -> Result<RArray, Error> {
    let out = ruby.ary_new_capa(4);
    out.push(ruby.str_from_slice(&cx.trace_id().to_bytes()))?;
    out.push(ruby.str_from_slice(&cx.span_id().to_bytes()))?;
    out.push(cx.trace_flags().to_u8())?;
    out.push(cx.trace_state().header())?;
    Ok(out)
}

/// An id as `N` bytes from a binary String; `Error` for another length.
fn id_bytes<const N: usize>(ruby: &Ruby, id: RString, what: &str) -> Result<[u8; N], Error> {
    // SAFETY: the bytes are copied before any Ruby code can run.
    let bytes = unsafe { id.as_slice() };
    bytes.try_into().map_err(|_| {
        error(
            ruby,
            format!(
                "{what} must be a {N}-byte binary String, got {} bytes",
                bytes.len()
            ),
        )
    })
}

pub fn start_span(
    ruby: &Ruby,
    level_index: u8,
    name: Value,
    target: Value,
    fields: Option<RHash>,
    parent: Value,
    correlation: Value,
) -> Result<RbSpan, Error> {
    let (name, target, fields) = (text(name)?, text(target)?, convert::fields(fields)?);
    let (parent, correlation) = (parent_of(parent), correlation_of(correlation));
    guard(ruby, "span", || {
        let span = ForeignSpan::start(Start {
            name: &name,
            level: level(ruby, level_index)?,
            target: &target,
            fields: &fields,
            parent: parent.as_ref(),
            correlation: correlation.as_ref(),
        });
        Ok(RbSpan(Arc::new(span)))
    })
}

/// Starts a span of an OpenTelemetry span `kind` (`:internal`, `:server`, `:client`,
/// `:producer`, `:consumer`; nil is internal) at level index `level_index` under the Ruby
/// side's `parent`: the OpenTelemetry API bridge's spans.
#[allow(clippy::too_many_arguments)]
pub fn start_otel_span(
    ruby: &Ruby,
    level_index: u8,
    name: Value,
    target: Value,
    fields: Option<RHash>,
    parent: Value,
    correlation: Value,
    kind: Value,
) -> Result<RbSpan, Error> {
    let kind = match opt_text(kind)? {
        None => SpanKind::Internal,
        Some(k) => SpanKind::from_name(&k).ok_or_else(|| {
            error(
                ruby,
                format!("invalid span kind {k:?}: expected :internal, :server, :client, :producer or :consumer"),
            )
        })?,
    };
    let (name, target, fields) = (text(name)?, text(target)?, convert::fields(fields)?);
    let (parent, correlation) = (parent_of(parent), correlation_of(correlation));
    guard(ruby, "start_span", || {
        let start = Start {
            name: &name,
            level: level(ruby, level_index)?,
            target: &target,
            fields: &fields,
            parent: parent.as_ref(),
            correlation: correlation.as_ref(),
        };
        Ok(RbSpan(Arc::new(ForeignSpan::start_with_kind(start, kind))))
    })
}

/// `[span, correlation]`: the `handler_execution` span and the step's correlation.
pub fn handler_span(
    ruby: &Ruby,
    handler_name: Value,
    context: Option<RHash>,
    parent: Value,
    correlation: Value,
) -> Result<RArray, Error> {
    let (handler_name, context) = (text(handler_name)?, convert::message(context)?);
    let (parent, correlation) = (parent_of(parent), correlation_of(correlation));
    guard(ruby, "handler_span", || {
        let (span, correlation) = ForeignSpan::handler(
            &handler_name,
            &context,
            parent.as_ref(),
            correlation.as_ref(),
        )
        .map_err(|e| foreign_error(ruby, e))?;
        let out = ruby.ary_new_capa(2);
        out.push(RbSpan(Arc::new(span)))?;
        out.push(RbCorrelation(correlation))?;
        Ok(out)
    })
}

/// A log event; `exception` is nil or `[class name, message, backtrace]`.
#[allow(clippy::too_many_arguments)]
pub fn event(
    ruby: &Ruby,
    level_index: u8,
    target: Value,
    message: Value,
    fields: Option<RHash>,
    parent: Value,
    correlation: Value,
    exception: Option<RArray>,
) -> Result<(), Error> {
    let (target, message, fields) = (text(target)?, text(message)?, convert::fields(fields)?);
    let (parent, correlation) = (parent_of(parent), correlation_of(correlation));
    let exception = match exception {
        Some(a) => Some([text(a.entry(0)?)?, text(a.entry(1)?)?, text(a.entry(2)?)?]),
        None => None,
    };
    guard(ruby, "event", || {
        foreign::event(foreign::Event {
            level: level(ruby, level_index)?,
            target: &target,
            message: &message,
            fields: &fields,
            exception: exception.as_ref().map(|[kind, message, stack]| Exception {
                kind,
                message,
                stacktrace: Some(stack.as_str()).filter(|s| !s.is_empty()),
            }),
            console: true,
            parent: parent.as_ref(),
            correlation: correlation.as_ref(),
        });
        Ok(())
    })
}
