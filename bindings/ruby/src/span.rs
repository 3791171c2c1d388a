//! Spans and events started from Ruby: `Native::Span`, `start_span`, `handler_span` and
//! `event`.

use std::sync::Arc;

use magnus::{Error, RArray, RHash, Ruby, Value};
use tasker_telemetry::fields::Exception;
use tasker_telemetry::foreign::{self, ForeignSpan, Start};
use tracing::Level;

use crate::context::{correlation_of, parent_of, RbCorrelation};
use crate::convert::{self, opt_text, text};
use crate::errors::{foreign_error, guard};

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
