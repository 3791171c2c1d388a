//! Correlation and trace context as Ruby sees them: `Native::Correlation` and `Native::Remote`
//! objects (kept by the Ruby side in fiber-local state), parents, `current`, `inject` and
//! `extract`. The parent rule itself is the core's (`tasker_telemetry::foreign::resolve`).

use std::sync::Arc;

use magnus::prelude::*;
use magnus::{Error, RArray, RHash, Ruby, Value};
use tasker_telemetry::foreign::{self, ForeignParent};
use tasker_telemetry::propagation::{self, RemoteContext};
use tasker_telemetry::Correlation;

use crate::convert::{self, opt_text};
use crate::errors::{foreign_error, guard};
use crate::span::RbSpan;

/// A correlation scope's value, held by the Ruby side in fiber-local state.
#[magnus::wrap(
    class = "TaskerCore::Tracing::Native::Correlation",
    free_immediately,
    size
)]
pub struct RbCorrelation(pub Arc<Correlation>);

impl RbCorrelation {
    pub fn correlation_id(&self) -> String {
        self.0.correlation_id.to_string()
    }

    pub fn to_h(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        let h = ruby.hash_new();
        for (k, v) in rb_self.0.pairs() {
            h.aset(ruby.to_symbol(k), v)?;
        }
        Ok(h)
    }
}

/// A context extracted from headers.
#[magnus::wrap(class = "TaskerCore::Tracing::Native::Remote", free_immediately, size)]
pub struct RbRemote(pub Arc<RemoteContext>);

impl RbRemote {
    pub fn is_valid(&self) -> bool {
        self.0.is_valid()
    }
    pub fn trace_id(&self) -> Option<String> {
        self.0.trace_id()
    }
    pub fn span_id(&self) -> Option<String> {
        self.0.span_id()
    }
    pub fn correlation(&self) -> Option<RbCorrelation> {
        self.0.correlation().cloned().map(RbCorrelation)
    }
    /// `[trace_id, span_id, trace_flags, tracestate]`, the ids as binary Strings (all zero
    /// when the headers held none).
    pub fn span_context(ruby: &Ruby, rb_self: &Self) -> Result<RArray, Error> {
        crate::span::span_context_array(ruby, &rb_self.0.span_context())
    }
}

fn typed<T: magnus::TypedData>(v: Value) -> Option<&'static T> {
    if v.is_nil() {
        return None;
    }
    <&T as magnus::TryConvert>::try_convert(v).ok()
}

/// The Ruby side's current parent (a `Native::Span` or `Native::Remote`, or nil).
pub fn parent_of(v: Value) -> Option<ForeignParent> {
    if let Some(span) = typed::<RbSpan>(v) {
        return Some(ForeignParent::Span(span.0.clone()));
    }
    typed::<RbRemote>(v).map(|r| ForeignParent::Remote(r.0.clone()))
}

/// The Ruby side's current correlation (a `Native::Correlation`, or nil).
pub fn correlation_of(v: Value) -> Option<Arc<Correlation>> {
    typed::<RbCorrelation>(v).map(|c| c.0.clone())
}

pub fn new_correlation(
    ruby: &Ruby,
    correlation_id: Value,
    parent_correlation_id: Value,
    task_uuid: Value,
    step_uuid: Value,
    namespace: Value,
) -> Result<RbCorrelation, Error> {
    let [correlation_id, parent_correlation_id, task_uuid, step_uuid, namespace] = [
        opt_text(correlation_id)?,
        opt_text(parent_correlation_id)?,
        opt_text(task_uuid)?,
        opt_text(step_uuid)?,
        opt_text(namespace)?,
    ];
    guard(ruby, "correlation", || {
        foreign::correlation([
            correlation_id,
            parent_correlation_id,
            task_uuid,
            step_uuid,
            namespace,
        ])
        .map(|c| RbCorrelation(Arc::new(c)))
        .map_err(|e| foreign_error(ruby, e))
    })
}

/// Reads a remote context from headers (names case-insensitive; invalid headers ignored).
pub fn extract(ruby: &Ruby, headers: Option<RHash>) -> Result<RbRemote, Error> {
    let pairs = convert::text_pairs(headers)?;
    guard(ruby, "extract", || {
        Ok(RbRemote(Arc::new(propagation::extract(
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ))))
    })
}

/// W3C headers for the Ruby side's parent and correlation.
pub fn inject(ruby: &Ruby, parent: Value, correlation: Value) -> Result<RHash, Error> {
    let (parent, correlation) = (parent_of(parent), correlation_of(correlation));
    guard(ruby, "inject", || {
        let out = ruby.hash_new();
        for (k, v) in foreign::inject(parent.as_ref(), correlation.as_ref()) {
            out.aset(k, v)?;
        }
        Ok(out)
    })
}

/// What the OpenTelemetry API shows as the current span for the Ruby side's `parent` (the
/// core's parent rule: a Rust span that called into Ruby counts): `parent` itself when it
/// stands, another `Native::Span` or `Native::Remote`, a span-context Array for a Rust span,
/// or nil.
pub fn shown_parent(ruby: &Ruby, parent: Value) -> Result<Value, Error> {
    let given = parent_of(parent);
    let shown = guard(ruby, "current_span", || Ok(foreign::shown(given.as_ref())))?;
    let same = |shown: &ForeignParent| match (shown, &given) {
        (ForeignParent::Span(a), Some(ForeignParent::Span(b))) => Arc::ptr_eq(a, b),
        (ForeignParent::Remote(a), Some(ForeignParent::Remote(b))) => Arc::ptr_eq(a, b),
        _ => false,
    };
    Ok(match shown {
        foreign::Shown::Language(p) if same(&p) => parent,
        foreign::Shown::Language(ForeignParent::Span(inner)) => {
            ruby.obj_wrap(crate::span::RbSpan(inner)).as_value()
        }
        foreign::Shown::Language(ForeignParent::Remote(inner)) => {
            ruby.obj_wrap(RbRemote(inner)).as_value()
        }
        foreign::Shown::Rust(cx) => crate::span::span_context_array(ruby, &cx)?.as_value(),
        foreign::Shown::Nothing => ruby.qnil().as_value(),
    })
}

/// `[trace_id, span_id, correlation]` of the span a new span would get as its parent.
pub fn current(ruby: &Ruby, parent: Value, correlation: Value) -> Result<RArray, Error> {
    let (parent, correlation) = (parent_of(parent), correlation_of(correlation));
    guard(ruby, "current", || {
        let now = foreign::current(parent.as_ref(), correlation.as_ref());
        let out = ruby.ary_new_capa(3);
        out.push(now.trace_id)?;
        out.push(now.span_id)?;
        out.push(now.correlation.map(RbCorrelation))?;
        Ok(out)
    })
}
