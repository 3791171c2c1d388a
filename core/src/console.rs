//! The console layer: log events as `pretty`, `compact` or `json` lines, with correlation and
//! trace ids, redaction applied.
//!
//! JSON lines have these keys, in this order (absent keys are omitted):
//! `timestamp` (RFC 3339, UTC, microseconds), `level`, `target`, `message`, `correlation_id`,
//! `parent_correlation_id`, `task_uuid`, `step_uuid`, `namespace`, `trace_id`, `span_id`,
//! `spans` (names of the enclosing spans, outermost first) and `fields` (an object with the
//! event's other fields, so they never collide with the keys above).
//!
//! Messages and string values are [scrubbed](crate::Redactor::scrub_text), values of secret
//! keys redacted. In `pretty` and `compact` lines, text that comes from the program (messages,
//! targets, span names, field keys and values, the correlation's namespace) cannot break the
//! line or reach the terminal: control characters are escaped (see [`escape_text`]).

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
    /// Formatted text before it is scrubbed and escaped into `scratch`.
    tmp: String,
    fields: Vec<(&'static str, usize, usize)>,
}

impl Buffers {
    fn new() -> Self {
        Self {
            line: String::with_capacity(512),
            scratch: String::with_capacity(256),
            tmp: String::with_capacity(256),
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
        if self.tmp.capacity() > 64 * 1024 {
            self.tmp = String::with_capacity(256);
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
    fn push(&mut self, field: &Field, mut value: serde_json::Value) {
        if let serde_json::Value::String(s) = &mut value {
            if let std::borrow::Cow::Owned(clean) = self.redactor.scrub_text(s) {
                *s = clean;
            }
        }
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
        tmp,
        fields,
    } = bufs;
    scratch.clear();
    fields.clear();
    let mut visitor = JsonFields {
        redactor: &settings.redactor,
        scratch,
        tmp,
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
    tmp: &'b mut String,
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

    /// A JSON string of formatted text (scrubbed).
    fn text(&mut self, field: &Field, value: std::fmt::Arguments<'_>) {
        if let Some(start) = self.start(field) {
            self.tmp.clear();
            let _ = self.tmp.write_fmt(value);
            push_json_str(self.scratch, &self.redactor.scrub_text(self.tmp));
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
            push_json_str(self.scratch, &self.redactor.scrub_text(value));
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

/// Appends `s` to a `pretty`/`compact` line with control characters escaped, so that text
/// from the program can neither start a new line nor send escape sequences to a terminal.
///
/// Escaped: C0 controls (`\n`, `\r`, `\t`, others as `\u{1b}`), DEL, C1 controls
/// (U+0080–U+009F), the line and paragraph separators U+2028/U+2029 and the bidirectional
/// controls (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069), all as `\u{…}`. The escaping
/// is reversible: a backslash that would read as the start of an escape (before `n`, `r`,
/// `t`, `u`, `\` or `"`) is doubled; other backslashes (`C:\Users`) are kept. `quoted`
/// wraps the text in double quotes and escapes `"` and every backslash (the form of string
/// values, as Rust's `{:?}`).
///
/// ```
/// let mut out = String::new();
/// tasker_telemetry::console::escape_text(&mut out, "ok\nFAKE \x1b]0;t\x07 C:\\Users", false);
/// assert_eq!(out, r"ok\nFAKE \u{1b}]0;t\u{7} C:\Users");
/// ```
pub fn escape_text(out: &mut String, s: &str, quoted: bool) {
    if quoted {
        out.push('"');
    }
    let clean = !s.bytes().any(|b| {
        b < 0x20
            || b == 0x7f
            || b == b'\\'
            || (quoted && b == b'"')
            || matches!(b, 0xc2 | 0xd8 | 0xe2)
    });
    if clean {
        out.push_str(s);
    } else {
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '"' if quoted => out.push_str("\\\""),
                '\\' => {
                    let escape_like =
                        matches!(chars.peek(), Some('n' | 'r' | 't' | 'u' | '\\' | '"'));
                    out.push_str(if quoted || escape_like { "\\\\" } else { "\\" });
                }
                '\0'..='\x1f'
                | '\x7f'..='\u{9f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{61c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}' => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
    }
    if quoted {
        out.push('"');
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
            line.push_str(bold);
            for (i, name) in spans.iter().enumerate() {
                if i > 0 {
                    line.push_str(" > ");
                }
                escape_text(line, name, false);
            }
            let _ = write!(line, "{reset}: ");
        }
    }
    line.push_str(dim);
    escape_text(line, meta.target(), false);
    let _ = write!(line, ":{reset} ");
    escape_text(line, c.message.as_deref().unwrap_or(""), false);
    for (k, v) in &c.fields {
        let _ = write!(line, " {bold}");
        escape_text(line, k, false);
        let _ = write!(line, "{reset}=");
        match v {
            serde_json::Value::String(s) => escape_text(line, s, true),
            other => {
                let _ = write!(line, "{other}");
            }
        }
    }
    if let Some(corr) = &ids.correlation {
        let _ = write!(line, " {dim}correlation_id={}{reset}", corr.correlation_id);
        if pretty {
            for (k, v) in corr.pairs().into_iter().skip(1) {
                let _ = write!(line, " {dim}{k}=");
                escape_text(line, &v, false);
                line.push_str(reset);
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

    fn forged_lines(format: LogFormat) -> Vec<String> {
        use crate::dynamic::{event, DynSpan, EventArgs, Parent, SpanStart};
        use crate::fields::{FieldValue, Fields};
        let mut config = crate::TelemetryConfig::default();
        config.logging.format = format;
        let cap = crate::testing::capture(&config);
        let evil = [
            "ok\nFAKE ERROR line",
            "\x1b]0;pwned\x07",
            "a\r\u{85}\u{2028}\u{202e}b\x7f",
        ];
        cap.run(|| {
            for bad in evil {
                let no_fields = Fields::new();
                let span = DynSpan::start(SpanStart {
                    name: bad,
                    level: Level::INFO,
                    target: "ruby",
                    fields: &no_fields,
                    parent: Parent::Current,
                    correlation: None,
                });
                let _e = span.enter();
                let mut fields = Fields::new();
                fields.insert(bad, FieldValue::Str(bad.to_owned()));
                event(EventArgs {
                    level: Level::INFO,
                    target: bad,
                    message: bad,
                    fields: &fields,
                    parent: Parent::Current,
                    correlation: None,
                });
            }
        });
        cap.lines()
    }

    #[test]
    fn text_lines_cannot_be_forged_nor_reach_the_terminal() {
        for format in [LogFormat::Pretty, LogFormat::Compact] {
            let lines = forged_lines(format);
            assert_eq!(lines.len(), 3, "{format:?}: one line per event: {lines:#?}");
            for line in &lines {
                assert!(
                    !line.chars().any(
                        |c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202e}')
                    ),
                    "{format:?}: {line:?}"
                );
            }
            assert!(lines[0].contains(r"ok\nFAKE ERROR line"), "{}", lines[0]);
            assert!(
                lines[0].contains(r#"="ok\nFAKE ERROR line""#),
                "{}",
                lines[0]
            );
            assert!(lines[1].contains(r"\u{1b}]0;pwned\u{7}"), "{}", lines[1]);
            assert!(
                lines[2].contains(r"a\r\u{85}\u{2028}\u{202e}b\u{7f}"),
                "{}",
                lines[2]
            );
            if format == LogFormat::Pretty {
                // the span name too
                assert!(lines[0].contains(r"ok\nFAKE ERROR line: "), "{}", lines[0]);
            }
        }
    }

    #[test]
    fn escaping_is_reversible_and_keeps_plain_backslashes() {
        let cases = [
            ("C:\\Users\\x", false, "C:\\Users\\x"),
            ("a\\nb", false, "a\\\\nb"),
            ("tab\there", false, "tab\\there"),
            ("say \"hi\" \\o", true, "\"say \\\"hi\\\" \\\\o\""),
            ("plain é ☃", false, "plain é ☃"),
        ];
        for (input, quoted, want) in cases {
            let mut out = String::new();
            escape_text(&mut out, input, quoted);
            assert_eq!(out, want, "{input:?}");
        }
    }

    #[test]
    fn messages_and_string_values_are_scrubbed_in_every_format() {
        for format in [LogFormat::Pretty, LogFormat::Compact, LogFormat::Json] {
            let mut config = crate::TelemetryConfig::default();
            config.logging.format = format;
            let cap = crate::testing::capture(&config);
            cap.run(|| {
                let url = "https://bob:hunter3@db/x?token=t0k";
                tracing::info!(
                    detail = "retry with password=hunter2",
                    url,
                    "login failed password=hunter1"
                );
                tracing::info!(err = ?"api_key: sk_live_9", "{}", "Authorization: Bearer abc123");
            });
            let text = cap.lines().join("\n");
            for secret in [
                "hunter1",
                "hunter2",
                "hunter3",
                "t0k",
                "sk_live_9",
                "abc123",
            ] {
                assert!(!text.contains(secret), "{format:?}: {secret} in {text}");
            }
            assert!(text.contains("login failed password=[REDACTED]"), "{text}");
            assert!(
                text.contains("https://bob:[REDACTED]@db/x?token=[REDACTED]"),
                "{text}"
            );
        }
        let mut config = crate::TelemetryConfig::default();
        config.logging.scrub_text = false;
        let cap = crate::testing::capture(&config);
        cap.run(|| tracing::info!("login failed password=hunter1"));
        assert!(cap.lines()[0].contains("password=hunter1"));
    }

    #[test]
    fn exported_spans_scrub_string_attributes_events_and_exceptions() {
        use crate::dynamic::{DynSpan, Parent, SpanStart};
        use crate::fields::{Fields, Scalar};
        let cap = crate::testing::capture(&crate::TelemetryConfig::default());
        cap.run(|| {
            let fields = Fields::new();
            let span = DynSpan::start(SpanStart {
                name: "connect",
                level: Level::INFO,
                target: "python",
                fields: &fields,
                parent: Parent::Root,
                correlation: None,
            });
            span.set("dsn", &Scalar::Str("postgres://app:pw1@db/x".into()));
            span.set("X-Api-Key", &Scalar::Str("k1".into()));
            span.record_exception("AuthError", "bad login password=pw2", None);
            span.end();
        });
        let span = cap.span("connect").expect("exported");
        let all = format!("{span:?}");
        for secret in ["pw1", "pw2", "\"k1\""] {
            assert!(!all.contains(secret), "{secret} in {all}");
        }
        assert_eq!(
            crate::testing::attr(&span, "exception.message").as_deref(),
            Some("bad login password=[REDACTED]")
        );
        assert_eq!(
            crate::testing::attr(&span, "X-Api-Key").as_deref(),
            Some("[REDACTED]")
        );
    }
}
