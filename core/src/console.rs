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
    pub(crate) redactor: Redactor,
}

impl ConsoleSettings {
    pub(crate) fn from_config(logging: &LoggingConfig, writer: Option<ConsoleWriter>) -> Self {
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
            redactor: Redactor::new(&logging.redact_keys),
        }
    }
}

/// The layer itself.
pub(crate) struct ConsoleLayer {
    pub(crate) settings: Arc<ArcSwap<ConsoleSettings>>,
}

thread_local! {
    static BUF: RefCell<String> = RefCell::new(String::with_capacity(512));
}

impl<S> Layer<S> for ConsoleLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let settings = self.settings.load();
        BUF.with(|buf| {
            // A re-entrant event (e.g. from a writer) gets its own buffer.
            let mut fresh = String::new();
            let mut guard = buf.try_borrow_mut();
            let line: &mut String = match guard.as_deref_mut() {
                Ok(b) => b,
                Err(_) => &mut fresh,
            };
            line.clear();
            match settings.format {
                LogFormat::Json => format_json(line, event, &ctx, &settings),
                LogFormat::Pretty | LogFormat::Compact => format_text(line, event, &ctx, &settings),
            }
            line.push('\n');
            let _ = match &settings.writer {
                ConsoleWriter::Stdout => write_fd(1, line.as_bytes()),
                ConsoleWriter::Stderr => write_fd(2, line.as_bytes()),
                ConsoleWriter::Custom(w) => match w.lock() {
                    Ok(mut w) => w.write_all(line.as_bytes()),
                    Err(_) => Ok(()),
                },
            };
            if line.capacity() > 64 * 1024 {
                *line = String::with_capacity(512);
            }
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
    trace_id: Option<String>,
    span_id: Option<String>,
}

fn current_ids() -> Ids {
    OtelContext::map_current(|cx| {
        let (trace_id, span_id) = crate::propagation::ids(cx).unzip();
        Ids {
            correlation: Correlation::from_context(cx),
            trace_id,
            span_id,
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
    let mut obj = serde_json::Map::with_capacity(12);
    obj.insert("timestamp".into(), rfc3339(SystemTime::now(), 6).into());
    obj.insert("level".into(), level_str(meta.level()).into());
    obj.insert("target".into(), meta.target().into());
    obj.insert("message".into(), c.message.unwrap_or_default().into());
    if let Some(corr) = &ids.correlation {
        for (k, v) in corr.pairs() {
            obj.insert(k.into(), v.into());
        }
    }
    if let Some(t) = ids.trace_id {
        obj.insert("trace_id".into(), t.into());
    }
    if let Some(s) = ids.span_id {
        obj.insert("span_id".into(), s.into());
    }
    let spans = span_names(event, ctx);
    if !spans.is_empty() {
        obj.insert("spans".into(), spans.into());
    }
    if !c.fields.is_empty() {
        let fields: serde_json::Map<String, serde_json::Value> = c
            .fields
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        obj.insert("fields".into(), fields.into());
    }
    let _ = write!(line, "{}", serde_json::Value::Object(obj));
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
        if let Some(t) = ids.trace_id {
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
    if digits >= 6 {
        format!(
            "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:06}Z",
            d.subsec_micros()
        )
    } else {
        format!(
            "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:03}Z",
            d.subsec_millis()
        )
    }
}
