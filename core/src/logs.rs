//! Optional OTLP log export (`telemetry.logging.export_logs`): every event that passes the
//! export filter becomes an OTLP log record with its fields as attributes (redacted), the
//! correlation, and the trace/span ids of the current span. The body and string attributes
//! are scrubbed ([`Redactor::scrub_text`]).

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::{ArcSwap, ArcSwapOption};
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context as OtelContext;
use opentelemetry_sdk::logs::{SdkLogger, SdkLoggerProvider};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use crate::correlation::Correlation;
use crate::redaction::{Redactor, REDACTED};

/// The layer; holds no logger until export of logs is configured.
pub(crate) struct LogExportLayer {
    pub(crate) logger: Arc<ArcSwapOption<SdkLogger>>,
    pub(crate) redactor: Arc<ArcSwap<Redactor>>,
}

pub(crate) fn logger(provider: &SdkLoggerProvider) -> SdkLogger {
    provider.logger(crate::SCOPE)
}

fn severity(level: &Level) -> (Severity, &'static str) {
    match *level {
        Level::TRACE => (Severity::Trace, "TRACE"),
        Level::DEBUG => (Severity::Debug, "DEBUG"),
        Level::INFO => (Severity::Info, "INFO"),
        Level::WARN => (Severity::Warn, "WARN"),
        _ => (Severity::Error, "ERROR"),
    }
}

struct Attrs<'a, R> {
    record: &'a mut R,
    redactor: &'a Redactor,
}

impl<R: opentelemetry::logs::LogRecord> Attrs<'_, R> {
    fn add(&mut self, field: &Field, value: AnyValue) {
        if field.name() == "message" {
            self.record.set_body(value);
        } else if field.name() == crate::dynamic::FALLBACK_FIELDS {
            // A fallback shape's fields: one attribute each, as an interned shape's.
            if let AnyValue::String(json) = &value {
                for kv in crate::dynamic::expand_json(json.as_str()) {
                    if self.redactor.is_secret(kv.key.as_str()) {
                        self.record.add_attribute(kv.key, REDACTED);
                    } else {
                        let value = match kv.value {
                            opentelemetry::Value::I64(i) => AnyValue::Int(i),
                            opentelemetry::Value::F64(f) => AnyValue::Double(f),
                            opentelemetry::Value::Bool(b) => AnyValue::Boolean(b),
                            other => AnyValue::from(other.as_str().into_owned()),
                        };
                        self.record.add_attribute(kv.key, value);
                    }
                }
            }
        } else if self.redactor.is_secret(field.name()) {
            self.record.add_attribute(field.name(), REDACTED);
        } else {
            self.record.add_attribute(field.name(), value);
        }
    }
}

impl<R: opentelemetry::logs::LogRecord> Visit for Attrs<'_, R> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.add(field, AnyValue::Double(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.add(field, AnyValue::Int(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.add(
            field,
            i64::try_from(value).map_or_else(|_| AnyValue::from(value.to_string()), AnyValue::Int),
        );
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.add(field, AnyValue::Boolean(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        // A fallback shape's JSON was scrubbed value by value before it was encoded.
        let text = if field.name() == crate::dynamic::FALLBACK_FIELDS {
            value.to_owned()
        } else {
            self.redactor.scrub_text(value).into_owned()
        };
        self.add(field, AnyValue::from(text));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        let text = match self.redactor.scrub_text(&text) {
            std::borrow::Cow::Owned(clean) => clean,
            std::borrow::Cow::Borrowed(_) => text,
        };
        self.add(field, AnyValue::from(text));
    }
}

impl<S: Subscriber> Layer<S> for LogExportLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let guard = self.logger.load();
        let Some(logger) = guard.as_ref() else {
            return;
        };
        let meta = event.metadata();
        let mut record = logger.create_log_record();
        let (sev, text) = severity(meta.level());
        record.set_severity_number(sev);
        record.set_severity_text(text);
        record.set_target(meta.target().to_owned());
        record.set_timestamp(SystemTime::now());
        record.set_observed_timestamp(SystemTime::now());
        let redactor = self.redactor.load();
        event.record(&mut Attrs {
            record: &mut record,
            redactor: &redactor,
        });
        OtelContext::map_current(|cx| {
            if let Some(c) = Correlation::from_context(cx) {
                for (k, v) in c.pairs() {
                    record.add_attribute(k, v);
                }
            }
            let sc = cx.span().span_context().clone();
            if sc.is_valid() {
                record.set_trace_context(sc.trace_id(), sc.span_id(), Some(sc.trace_flags()));
            }
        });
        logger.emit(record);
    }
}
