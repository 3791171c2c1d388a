//! The console layer: log events as `pretty`, `compact` or `json` lines, with correlation and
//! trace ids, redaction applied.
//!
//! JSON lines have these keys, in this order (absent keys are omitted):
//! `timestamp` (RFC 3339, UTC, microseconds), `level`, `target`, `message`, `correlation_id`,
//! `parent_correlation_id`, `task_uuid`, `step_uuid`, `namespace`, `trace_id`, `span_id`,
//! `spans` (names of the enclosing spans, outermost first) and `fields` (an object with the
//! event's other fields, so they never collide with the keys above).

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use opentelemetry::Context as OtelContext;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::config::{LogFormat, LogOutput, LoggingConfig};
use crate::correlation::Correlation;
use crate::redaction::{Redactor, REDACTED};

/// Where console lines are written.
#[derive(Clone)]
pub enum ConsoleWriter {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// Any writer (tests, embedding hosts).
    Custom(Arc<Mutex<dyn std::io::Write + Send>>),
}

impl std::fmt::Debug for ConsoleWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConsoleWriter::Stdout => "Stdout",
            ConsoleWriter::Stderr => "Stderr",
            ConsoleWriter::Custom(_) => "Custom",
        })
    }
}

/// The settings the console layer reads on every event; swapped atomically on re-configuration.
#[derive(Debug, Clone)]
pub(crate) struct ConsoleSettings {
    pub(crate) format: LogFormat,
    pub(crate) ansi: bool,
    pub(crate) writer: ConsoleWriter,
    pub(crate) redactor: Arc<Redactor>,
}

impl ConsoleSettings {
    pub(crate) fn from_config(
        logging: &LoggingConfig,
        writer: Option<ConsoleWriter>,
        redactor: Arc<Redactor>,
    ) -> Self {
        let writer = writer.unwrap_or(match logging.output {
            LogOutput::Stdout => ConsoleWriter::Stdout,
            LogOutput::Stderr => ConsoleWriter::Stderr,
        });
        let is_tty = match writer {
            ConsoleWriter::Stdout => std::io::IsTerminal::is_terminal(&std::io::stdout()),
            ConsoleWriter::Stderr => std::io::IsTerminal::is_terminal(&std::io::stderr()),
            ConsoleWriter::Custom(_) => false,
        };
        let ansi = logging
            .ansi
            .unwrap_or(is_tty && logging.format == LogFormat::Pretty);
        Self {
            format: logging.format,
            ansi,
            writer,
            redactor,
        }
    }
}

/// The layer itself.
pub(crate) struct ConsoleLayer {
    pub(crate) settings: Arc<ArcSwap<ConsoleSettings>>,
}

/// Per-thread buffers reused by every event: the line, and the JSON fields of the event being
/// formatted (values serialised into `scratch`, `fields` pointing into it), so that formatting a
/// line allocates nothing once they have grown.
#[derive(Default)]
struct Buffers {
    line: String,
    scratch: String,
    fields: Vec<(&'static str, usize, usize)>,
}

impl Buffers {
    fn new() -> Self {
        Self {
            line: String::with_capacity(512),
            scratch: String::with_capacity(256),
            fields: Vec::with_capacity(16),
        }
    }

    fn trim(&mut self) {
        if self.line.capacity() > 64 * 1024 {
            self.line = String::with_capacity(512);
        }
        if self.scratch.capacity() > 64 * 1024 {
            self.scratch = String::with_capacity(256);
        }
    }
}

thread_local! {
    static BUF: RefCell<Buffers> = RefCell::new(Buffers::new());
    static MUTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with the console muted on this thread: events it emits are exported (spans, OTLP
/// logs) but not printed. For a host logging framework that prints its records itself (Python
/// `logging` with its own stream handler), so that no line is printed twice.
pub fn muted<R>(f: impl FnOnce() -> R) -> R {
    struct Unmute(bool);
    impl Drop for Unmute {
        fn drop(&mut self) {
            MUTED.with(|m| m.set(self.0));
        }
    }
    let _unmute = Unmute(MUTED.with(|m| m.replace(true)));
    f()
}

impl<S> Layer<S> for ConsoleLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if MUTED.with(|m| m.get()) {
            return;
        }
        let settings = self.settings.load();
        BUF.with(|buf| {
            // A re-entrant event (e.g. from a writer) gets its own buffer.
            let mut fresh = Buffers::default();
            let mut guard = buf.try_borrow_mut();
            let bufs: &mut Buffers = match guard.as_deref_mut() {
                Ok(b) => b,
                Err(_) => &mut fresh,
            };
            bufs.line.clear();
            match settings.format {
                LogFormat::Json => format_json(bufs, event, &ctx, &settings),
                LogFormat::Pretty | LogFormat::Compact => {
                    format_text(&mut bufs.line, event, &ctx, &settings)
                }
            }
            let line = &mut bufs.line;
            line.push('\n');
            let _ = match &settings.writer {
                ConsoleWriter::Stdout => write_fd(1, line.as_bytes()),
                ConsoleWriter::Stderr => write_fd(2, line.as_bytes()),
                ConsoleWriter::Custom(w) => match w.lock() {
                    Ok(mut w) => w.write_all(line.as_bytes()),
                    Err(_) => Ok(()),
                },
            };
            bufs.trim();
        });
    }
}

/// Writes a whole line to standard output (1) or error (2) with `write(2)`, bypassing the
/// standard library's stream locks: a lock held by another thread at `fork()` would stay locked
/// forever in the child (whose first log line, or exporter start-up, would then hang). One
/// `write` per line also keeps lines from different threads and processes from interleaving.
#[cfg(unix)]
fn write_fd(fd: std::os::fd::RawFd, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::fd::FromRawFd;
    // SAFETY: descriptors 1 and 2 are open for the life of the process and `ManuallyDrop`
    // never closes them.
    let mut file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_fd(fd: i32, bytes: &[u8]) -> std::io::Result<()> {
    if fd == 1 {
        std::io::stdout().lock().write_all(bytes)
    } else {
        std::io::stderr().lock().write_all(bytes)
    }
}

struct Ids {
    correlation: Option<Arc<Correlation>>,
    /// Trace and span id of the current span, when valid.
    span: Option<(TraceId, SpanId)>,
}

fn current_ids() -> Ids {
    OtelContext::map_current(|cx| {
        let span = cx.span();
        let sc = span.span_context();
        Ids {
            correlation: Correlation::from_context(cx),
            span: sc.is_valid().then(|| (sc.trace_id(), sc.span_id())),
        }
    })
}

fn span_names<S>(event: &Event<'_>, ctx: &Context<'_, S>) -> Vec<&'static str>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    ctx.event_scope(event)
        .map(|scope| {
            scope
                .from_root()
                .map(|s| display_name(s.metadata()))
                .collect()
        })
        .unwrap_or_default()
}

fn display_name(meta: &'static tracing::Metadata<'static>) -> &'static str {
    meta.name()
}

/// Collects an event's fields: the message apart, others as (key, JSON value).
struct Collect<'r> {
    redactor: &'r Redactor,
    message: Option<String>,
    fields: Vec<(&'static str, serde_json::Value)>,
}

impl Collect<'_> {
    fn push(&mut self, field: &Field, value: serde_json::Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            });
        } else if self.redactor.is_secret(field.name()) {
            self.fields
                .push((field.name(), serde_json::Value::from(REDACTED)));
        } else {
            self.fields.push((field.name(), value));
        }
    }
}

impl Visit for Collect<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let v = serde_json::Number::from_f64(value).map_or_else(
            || serde_json::Value::from(value.to_string()),
            serde_json::Value::Number,
        );
        self.push(field, v);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.push(field, format!("{value:?}").into());
    }
}

fn collect<'r>(event: &Event<'_>, redactor: &'r Redactor) -> Collect<'r> {
    let mut c = Collect {
        redactor,
        message: None,
        fields: Vec::new(),
    };
    event.record(&mut c);
    c
}

fn level_str(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => "INFO",
        Level::WARN => "WARN",
        _ => "ERROR",
    }
}

fn format_json<S>(
    bufs: &mut Buffers,
    event: &Event<'_>,
    ctx: &Context<'_, S>,
    settings: &ConsoleSettings,
) where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Buffers {
        line,
        scratch,
        fields,
    } = bufs;
    scratch.clear();
    fields.clear();
    let mut visitor = JsonFields {
        redactor: &settings.redactor,
        scratch,
        fields,
        message: None,
    };
    event.record(&mut visitor);
    let message = visitor.message;
    let meta = event.metadata();
    let ids = current_ids();

    line.push_str("{\"timestamp\":\"");
    write_rfc3339(line, SystemTime::now(), 6);
    line.push_str("\",\"level\":\"");
    line.push_str(level_str(meta.level()));
    line.push_str("\",\"target\":");
    push_json_str(line, meta.target());
    line.push_str(",\"message\":");
    match message {
        Some((start, end)) => line.push_str(&scratch[start..end]),
        None => line.push_str("\"\""),
    }
    if let Some(corr) = &ids.correlation {
        let _ = write!(line, ",\"correlation_id\":\"{}\"", corr.correlation_id);
        if let Some(p) = &corr.parent_correlation_id {
            let _ = write!(line, ",\"parent_correlation_id\":\"{p}\"");
        }
        if let Some(t) = &corr.task_uuid {
            let _ = write!(line, ",\"task_uuid\":\"{t}\"");
        }
        if let Some(s) = &corr.step_uuid {
            let _ = write!(line, ",\"step_uuid\":\"{s}\"");
        }
        if let Some(n) = &corr.namespace {
            line.push_str(",\"namespace\":");
            push_json_str(line, n);
        }
    }
    if let Some((trace_id, span_id)) = ids.span {
        let _ = write!(
            line,
            ",\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\""
        );
    }
    if let Some(scope) = ctx.event_scope(event) {
        let mut first = true;
        for span in scope.from_root() {
            line.push_str(if first { ",\"spans\":[" } else { "," });
            push_json_str(line, display_name(span.metadata()));
            first = false;
        }
        if !first {
            line.push(']');
        }
    }
    if !fields.is_empty() {
        line.push_str(",\"fields\":{");
        for (i, (key, start, end)) in fields.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            push_json_str(line, key);
            line.push(':');
            line.push_str(&scratch[*start..*end]);
        }
        line.push('}');
    }
    line.push('}');
}

/// Serialises an event's fields as JSON into a scratch buffer: the message apart (always a JSON
/// string), the others as `(key, range)` in order, secret ones as `"[REDACTED]"`. A key
/// recorded twice keeps its first position and its last value.
struct JsonFields<'b> {
    redactor: &'b Redactor,
    scratch: &'b mut String,
    fields: &'b mut Vec<(&'static str, usize, usize)>,
    message: Option<(usize, usize)>,
}

impl JsonFields<'_> {
    /// Where the value of `field` starts, or `None` when it is secret (then already written).
    fn start(&mut self, field: &Field) -> Option<usize> {
        let start = self.scratch.len();
        if field.name() != "message" && self.redactor.is_secret(field.name()) {
            push_json_str(self.scratch, REDACTED);
            self.finish(field, start);
            return None;
        }
        Some(start)
    }

    fn finish(&mut self, field: &Field, start: usize) {
        let end = self.scratch.len();
        let name = field.name();
        if name == "message" {
            self.message = Some((start, end));
        } else if let Some(slot) = self.fields.iter_mut().find(|(k, _, _)| *k == name) {
            slot.1 = start;
            slot.2 = end;
        } else {
            self.fields.push((name, start, end));
        }
    }

    /// A number or boolean (a JSON string when it is the message).
    fn raw(&mut self, field: &Field, value: std::fmt::Arguments<'_>) {
        if field.name() == "message" {
            return self.text(field, value);
        }
        if let Some(start) = self.start(field) {
            let _ = self.scratch.write_fmt(value);
            self.finish(field, start);
        }
    }

    /// A JSON string of formatted text.
    fn text(&mut self, field: &Field, value: std::fmt::Arguments<'_>) {
        if let Some(start) = self.start(field) {
            self.scratch.push('"');
            let _ = JsonEscape(self.scratch).write_fmt(value);
            self.scratch.push('"');
            self.finish(field, start);
        }
    }
}

impl Visit for JsonFields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        match serde_json::Number::from_f64(value) {
            Some(n) => self.raw(field, format_args!("{n}")),
            None => self.text(field, format_args!("{value}")),
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(start) = self.start(field) {
            push_json_str(self.scratch, value);
            self.finish(field, start);
        }
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.text(field, format_args!("{value}"));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.text(field, format_args!("{value:?}"));
    }
}

/// Appends `s` as a JSON string (quoted, escaped as `serde_json` does).
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    escape_json(out, s);
    out.push('"');
}

/// Appends the JSON escape of `s` (without quotes).
fn escape_json(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut done = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // `i` is at an ASCII byte, so a character boundary.
        out.push_str(&s[done..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        done = i + 1;
    }
    out.push_str(&s[done..]);
}

/// A `fmt::Write` that JSON-escapes what is written through it.
struct JsonEscape<'a>(&'a mut String);

impl std::fmt::Write for JsonEscape<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        escape_json(self.0, s);
        Ok(())
    }
}

fn format_text<S>(
    line: &mut String,
    event: &Event<'_>,
    ctx: &Context<'_, S>,
    settings: &ConsoleSettings,
) where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let meta = event.metadata();
    let c = collect(event, &settings.redactor);
    let ids = current_ids();
    let pretty = settings.format == LogFormat::Pretty;
    let (dim, bold, reset) = if settings.ansi {
        ("\x1b[2m", "\x1b[1m", "\x1b[0m")
    } else {
        ("", "", "")
    };
    let color = if settings.ansi {
        match *meta.level() {
            Level::TRACE => "\x1b[35m",
            Level::DEBUG => "\x1b[34m",
            Level::INFO => "\x1b[32m",
            Level::WARN => "\x1b[33m",
            _ => "\x1b[31m",
        }
    } else {
        ""
    };
    let _ = write!(
        line,
        "{dim}{}{reset} {color}{:>5}{reset} ",
        rfc3339(SystemTime::now(), if pretty { 6 } else { 3 }),
        level_str(meta.level())
    );
    if pretty {
        let spans = span_names(event, ctx);
        if !spans.is_empty() {
            let _ = write!(line, "{bold}{}{reset}: ", spans.join(" > "));
        }
    }
    let _ = write!(
        line,
        "{dim}{}:{reset} {}",
        meta.target(),
        c.message.as_deref().unwrap_or("")
    );
    for (k, v) in &c.fields {
        match v {
            serde_json::Value::String(s) => {
                let _ = write!(line, " {bold}{k}{reset}={s:?}");
            }
            other => {
                let _ = write!(line, " {bold}{k}{reset}={other}");
            }
        }
    }
    if let Some(corr) = &ids.correlation {
        let _ = write!(line, " {dim}correlation_id={}{reset}", corr.correlation_id);
        if pretty {
            for (k, v) in corr.pairs().into_iter().skip(1) {
                let _ = write!(line, " {dim}{k}={v}{reset}");
            }
        }
    }
    if pretty {
        if let Some((t, _)) = ids.span {
            let _ = write!(line, " {dim}trace_id={t}{reset}");
        }
    }
}

/// Formats a time as RFC 3339 in UTC with `digits` fractional digits (3 or 6).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
/// assert_eq!(tasker_telemetry::console::rfc3339(t, 6), "2023-11-14T22:13:20.123456Z");
/// ```
pub fn rfc3339(t: SystemTime, digits: u8) -> String {
    let mut out = String::with_capacity(27);
    write_rfc3339(&mut out, t, digits);
    out
}

/// Appends `t` as [`rfc3339`] formats it.
fn write_rfc3339(out: &mut String, t: SystemTime, digits: u8) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let _ = if digits >= 6 {
        write!(
            out,
            "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:06}Z",
            d.subsec_micros()
        )
    } else {
        write!(
            out,
            "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:03}Z",
            d.subsec_millis()
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escaping_matches_serde_json() {
        let mut all: String = (0u8..0x80).map(char::from).collect();
        all.push_str("é ☃ 𝄞 \u{7f} \u{2028}");
        for s in [all.as_str(), "", "plain", "\"quoted\"\n", "a\\b"] {
            let mut out = String::new();
            push_json_str(&mut out, s);
            assert_eq!(out, serde_json::Value::from(s).to_string());
        }
    }

    #[test]
    fn json_lines_are_valid_json_with_the_documented_keys() {
        let mut config = crate::TelemetryConfig::default();
        config.logging.format = LogFormat::Json;
        let cap = crate::testing::capture(&config);
        let err = std::io::Error::other("disk \"full\"");
        cap.run(|| {
            let _c = Correlation::new().with_namespace("ns \"x\"").enter();
            tracing::info_span!("outer").in_scope(|| {
                tracing::info!(
                    n = -3i64,
                    u = 7u64,
                    f = 1.5f64,
                    nan = f64::NAN,
                    b = true,
                    s = "tab\there",
                    d = ?vec![1, 2],
                    e = &err as &(dyn std::error::Error + 'static),
                    api_key = "sk_live",
                    "say \"hi\"\n"
                );
            });
        });
        let lines = cap.json_lines();
        let line = lines.last().unwrap();
        let keys: Vec<&str> = line
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "timestamp",
                "level",
                "target",
                "message",
                "correlation_id",
                "namespace",
                "trace_id",
                "span_id",
                "spans",
                "fields"
            ]
        );
        assert_eq!(line["message"], "say \"hi\"\n");
        assert_eq!(line["namespace"], "ns \"x\"");
        assert_eq!(line["spans"], serde_json::json!(["outer"]));
        assert_eq!(
            line["fields"],
            serde_json::json!({
                "n": -3, "u": 7, "f": 1.5, "nan": "NaN", "b": true, "s": "tab\there",
                "d": "[1, 2]", "e": "disk \"full\"", "api_key": "[REDACTED]"
            })
        );
        assert_eq!(line["trace_id"].as_str().unwrap().len(), 32);
        assert_eq!(line["timestamp"].as_str().unwrap().len(), 27);
    }
}
