//! A terminal view of OTLP-JSON trace files (the OpenTelemetry file-exporter format, one
//! `ExportTraceServiceRequest` per line, as written with `telemetry.otlp.file` or by the
//! Collector's `file` exporter): one waterfall per trace, one line per span, indented by
//! parent, with service, name, duration and a bar in proportion to the trace's time;
//! [`list_traces`] gives one line per trace, [`TraceFilter`] keeps the traces of a service, span name,
//! errors or minimum duration, and [`render_metrics`] prints the metrics of an OTLP-JSON
//! metrics file (`ExportMetricsServiceRequest` lines, as the Collector's file exporter writes)
//! as a table.
//!
//! ```
//! use tasker_telemetry::view::{read_spans, render, RenderOptions};
//!
//! let line = concat!(
//!     r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"orchestrator"}}]},"#,
//!     r#""scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","#,
//!     r#""name":"order_fulfillment","startTimeUnixNano":"1000000","endTimeUnixNano":"5000000"}]}]}]}"#,
//! );
//! let spans = read_spans(line.as_bytes()).unwrap();
//! let text = render(&spans, &RenderOptions::default());
//! assert!(text.contains("order_fulfillment") && text.contains("4.00ms"));
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::BufRead;

use serde_json::Value;

/// A file line that is not an OTLP-JSON trace request.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// The file could not be read.
    #[error("cannot read the trace file: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not JSON.
    #[error("line {line} is not JSON ({reason}); expected one OTLP-JSON ExportTraceServiceRequest per line")]
    NotJson {
        /// 1-based line number.
        line: usize,
        /// The parser's message.
        reason: String,
    },
}

/// One span read from the file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ViewSpan {
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// Empty for a root span.
    pub parent_id: String,
    /// Span name.
    pub name: String,
    /// `service.name` of its resource.
    pub service: String,
    /// Start, nanoseconds since the epoch.
    pub start_ns: u64,
    /// End, nanoseconds since the epoch.
    pub end_ns: u64,
    /// Status code error.
    pub error: bool,
    /// Status message (the error).
    pub status_message: String,
    /// String forms of the span's attributes.
    pub attributes: BTreeMap<String, String>,
    /// The span's events.
    pub events: Vec<ViewEvent>,
}

/// One span event read from the file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ViewEvent {
    /// Event name.
    pub name: String,
    /// String forms of its attributes.
    pub attributes: BTreeMap<String, String>,
}

/// One metric data point read from the file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ViewMetric {
    /// `service.name` of its resource.
    pub service: String,
    /// Metric name.
    pub name: String,
    /// Unit (may be empty).
    pub unit: String,
    /// `sum` (monotonic: `counter`), `gauge`, `histogram`, `exponential_histogram` or `summary`.
    pub kind: String,
    /// String forms of the data point's attributes.
    pub attributes: BTreeMap<String, String>,
    /// The value: a number, or `count=N sum=S` for histograms.
    pub value: String,
}

impl ViewSpan {
    fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }
}

fn get<'a>(v: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    v.get(camel).or_else(|| v.get(snake))
}

fn list<'a>(v: &'a Value, camel: &str, snake: &str) -> impl Iterator<Item = &'a Value> {
    get(v, camel, snake)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn number(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// The string form of an OTLP `AnyValue`.
fn any_value(v: &Value) -> String {
    let Some((kind, inner)) = v.as_object().and_then(|o| o.iter().next()) else {
        return String::new();
    };
    match (kind.as_str(), inner) {
        (_, Value::String(s)) => s.clone(),
        ("arrayValue" | "array_value", arr) => {
            let items: Vec<String> = list(arr, "values", "values").map(any_value).collect();
            format!("[{}]", items.join(", "))
        }
        (_, other) => other.to_string(),
    }
}

fn attributes(v: &Value) -> BTreeMap<String, String> {
    list(v, "attributes", "attributes")
        .map(|kv| {
            (
                text(kv.get("key")),
                kv.get("value").map(any_value).unwrap_or_default(),
            )
        })
        .collect()
}

fn is_error(status: Option<&Value>) -> bool {
    match status.and_then(|s| s.get("code")) {
        Some(Value::Number(n)) => n.as_u64() == Some(2),
        Some(Value::String(s)) => s == "STATUS_CODE_ERROR" || s == "2",
        _ => false,
    }
}

/// Reads every span of an OTLP-JSON lines file. Lines without `resourceSpans` (metrics, logs)
/// and blank lines are skipped; a line that is not JSON is an error naming it (the viewer uses
/// [`read_span_file`], which skips such lines and says which).
pub fn read_spans(reader: impl BufRead) -> Result<Vec<ViewSpan>, ViewError> {
    let file = read_span_file(reader)?;
    match file.skipped.first() {
        Some(bad) => Err(ViewError::NotJson {
            line: bad.line,
            reason: bad.reason.clone(),
        }),
        None => Ok(file.spans),
    }
}

/// A line [`read_span_file`] skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLine {
    /// 1-based line number.
    pub line: usize,
    /// Why: the parser's message.
    pub reason: String,
}

/// The spans of a file, and the lines that could not be read as OTLP JSON.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanFile {
    /// Every span of the lines that could be read.
    pub spans: Vec<ViewSpan>,
    /// Every metric data point of the lines that could be read.
    pub metrics: Vec<ViewMetric>,
    /// The lines that are not OTLP JSON (truncated, not JSON, not UTF-8, not an object).
    pub skipped: Vec<SkippedLine>,
}

impl SpanFile {
    /// One line saying what was skipped, e.g. `skipped 1 line that is not OTLP JSON (line 7)`
    /// (`None` when nothing was). At most the first 10 line numbers are listed.
    ///
    /// ```
    /// use tasker_telemetry::view::read_span_file;
    /// let file = read_span_file("{\"resourceSpans\":[]}\n{\"resourceSp".as_bytes()).unwrap();
    /// assert_eq!(file.skipped_message().unwrap(), "skipped 1 line that is not OTLP JSON (line 2)");
    /// ```
    pub fn skipped_message(&self) -> Option<String> {
        let n = self.skipped.len();
        if n == 0 {
            return None;
        }
        let mut lines: Vec<String> = self
            .skipped
            .iter()
            .take(10)
            .map(|s| s.line.to_string())
            .collect();
        if n > 10 {
            lines.push("…".to_owned());
        }
        Some(format!(
            "skipped {n} {} not OTLP JSON ({} {})",
            if n == 1 {
                "line that is"
            } else {
                "lines that are"
            },
            if n == 1 { "line" } else { "lines" },
            lines.join(", ")
        ))
    }
}

/// Reads every span of an OTLP-JSON lines file, skipping (and listing) the lines that are not
/// OTLP JSON, such as a line cut short when a writer was killed. Lines without `resourceSpans`
/// (metrics, logs) and blank lines are not spans and are passed over without being listed.
/// Only a read error of the file itself is an error.
pub fn read_span_file(mut reader: impl BufRead) -> Result<SpanFile, ViewError> {
    let mut out = SpanFile::default();
    let mut buf = Vec::new();
    let mut i = 0usize;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        i += 1;
        let skip = |out: &mut SpanFile, reason: String| {
            out.skipped.push(SkippedLine { line: i, reason });
        };
        let Ok(line) = std::str::from_utf8(&buf) else {
            skip(&mut out, "not UTF-8".to_owned());
            continue;
        };
        if line.trim().is_empty() {
            continue;
        }
        let request: Value = match serde_json::from_str(line) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                skip(&mut out, "not a JSON object".to_owned());
                continue;
            }
            Err(e) => {
                skip(&mut out, e.to_string());
                continue;
            }
        };
        read_request(&request, &mut out.spans);
        read_metrics(&request, &mut out.metrics);
    }
    Ok(out)
}

/// A string or number as text (OTLP JSON writes 64-bit integers as strings, doubles as numbers).
fn scalar(v: Option<&Value>) -> String {
    match v {
        Some(Value::Number(n)) => n.to_string(),
        other => text(other),
    }
}

fn point_value(p: &Value) -> String {
    if let Some(v) = get(p, "asInt", "as_int") {
        return scalar(Some(v));
    }
    if let Some(v) = get(p, "asDouble", "as_double") {
        return scalar(Some(v));
    }
    let mut parts = vec![format!("count={}", scalar(p.get("count")))];
    for key in ["sum", "min", "max"] {
        if let Some(v) = p.get(key) {
            parts.push(format!("{key}={}", scalar(Some(v))));
        }
    }
    parts.join(" ")
}

fn read_metrics(request: &Value, metrics: &mut Vec<ViewMetric>) {
    for rm in list(request, "resourceMetrics", "resource_metrics") {
        let resource = rm.get("resource").map(attributes).unwrap_or_default();
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for sm in list(rm, "scopeMetrics", "scope_metrics") {
            for m in list(sm, "metrics", "metrics") {
                let kinds = [
                    ("sum", "sum"),
                    ("gauge", "gauge"),
                    ("histogram", "histogram"),
                    ("exponentialHistogram", "exponential_histogram"),
                    ("summary", "summary"),
                ];
                for (camel, snake) in kinds {
                    let Some(data) = get(m, camel, snake) else {
                        continue;
                    };
                    let monotonic = data
                        .get("isMonotonic")
                        .or_else(|| data.get("is_monotonic"))
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    let kind = if snake == "sum" && monotonic {
                        "counter"
                    } else {
                        snake
                    };
                    for p in list(data, "dataPoints", "data_points") {
                        metrics.push(ViewMetric {
                            service: service.clone(),
                            name: text(m.get("name")),
                            unit: text(m.get("unit")),
                            kind: kind.to_owned(),
                            attributes: attributes(p),
                            value: point_value(p),
                        });
                    }
                }
            }
        }
    }
}

/// Prints metric data points as a table (service, metric, kind, unit, attributes, value),
/// sorted by metric name.
///
/// ```
/// use tasker_telemetry::view::{read_span_file, render_metrics};
/// let line = concat!(
///     r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"tasker_steps_claimed_total","#,
///     r#""sum":{"isMonotonic":true,"dataPoints":[{"asInt":"3","attributes":[{"key":"namespace","value":{"stringValue":"payments"}}]}]}}]}]}]}"#,
/// );
/// let file = read_span_file(line.as_bytes()).unwrap();
/// let table = render_metrics(&file.metrics);
/// assert!(table.contains("tasker_steps_claimed_total") && table.contains("namespace=payments"));
/// ```
pub fn render_metrics(metrics: &[ViewMetric]) -> String {
    if metrics.is_empty() {
        return "no metrics\n".to_owned();
    }
    let mut rows: Vec<[String; 6]> = metrics
        .iter()
        .map(|m| {
            let attrs = m
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ");
            [
                m.service.clone(),
                m.name.clone(),
                m.kind.clone(),
                m.unit.clone(),
                attrs,
                m.value.clone(),
            ]
        })
        .collect();
    rows.sort_by(|a, b| (&a[1], &a[0], &a[4]).cmp(&(&b[1], &b[0], &b[4])));
    let header = ["service", "metric", "kind", "unit", "attributes", "value"].map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

/// Which traces [`list_traces`] and [`render`] keep: each condition that is set must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceFilter {
    /// A span of this service is in the trace.
    pub service: Option<String>,
    /// A span whose name contains this is in the trace.
    pub name: Option<String>,
    /// A span of the trace has the error status.
    pub errors_only: bool,
    /// The trace lasts at least this long (nanoseconds).
    pub min_duration_ns: u64,
}

impl TraceFilter {
    /// Whether the trace made of `spans` passes.
    pub fn keeps(&self, spans: &[&ViewSpan]) -> bool {
        let t0 = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
        let t1 = spans.iter().map(|s| s.end_ns).max().unwrap_or(t0);
        self.service
            .as_deref()
            .is_none_or(|svc| spans.iter().any(|s| s.service == svc))
            && self
                .name
                .as_deref()
                .is_none_or(|n| spans.iter().any(|s| s.name.contains(n)))
            && (!self.errors_only || spans.iter().any(|s| s.error))
            && t1.saturating_sub(t0) >= self.min_duration_ns
    }
}

/// The traces of `spans` (those `trace_id` and `filter` keep), in start order.
fn traces<'a>(
    spans: &'a [ViewSpan],
    trace_id: Option<&str>,
    filter: &TraceFilter,
) -> Vec<(&'a str, Vec<&'a ViewSpan>)> {
    let mut by_trace: HashMap<&str, Vec<&ViewSpan>> = HashMap::new();
    for s in spans {
        if trace_id.is_none_or(|t| t == s.trace_id) {
            by_trace.entry(s.trace_id.as_str()).or_default().push(s);
        }
    }
    // By start time, then trace id (a stable order for traces that start together).
    let mut traces: Vec<(u64, &str, Vec<&ViewSpan>)> = by_trace
        .into_iter()
        .filter(|(_, members)| filter.keeps(members))
        .map(|(id, members)| {
            let start = members.iter().map(|s| s.start_ns).min().unwrap_or(0);
            (start, id, members)
        })
        .collect();
    traces.sort_unstable_by_key(|(start, id, _)| (*start, *id));
    traces.into_iter().map(|(_, id, m)| (id, m)).collect()
}

/// One line per trace that `filter` keeps: trace id, root span name, services, span count,
/// duration and errors.
///
/// ```
/// use tasker_telemetry::view::{list_traces, read_spans, TraceFilter};
/// let line = concat!(
///     r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","#,
///     r#""spanId":"b7ad6b7169203331","name":"order_fulfillment","startTimeUnixNano":"0","endTimeUnixNano":"3000000"}]}]}]}"#,
/// );
/// let spans = read_spans(line.as_bytes()).unwrap();
/// let text = list_traces(&spans, &TraceFilter::default());
/// assert!(text.contains("0af7651916cd43dd8448eb211c80319c") && text.contains("order_fulfillment"));
/// ```
pub fn list_traces(spans: &[ViewSpan], filter: &TraceFilter) -> String {
    let kept = traces(spans, None, filter);
    if kept.is_empty() {
        return "no traces\n".to_owned();
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<32}  {:>5}  {:>9}  {:>6}  {:<24}  services",
        "trace", "spans", "duration", "errors", "root"
    );
    for (id, members) in kept {
        let t0 = members.iter().map(|s| s.start_ns).min().unwrap_or(0);
        let t1 = members.iter().map(|s| s.end_ns).max().unwrap_or(t0);
        let ids: HashSet<&str> = members.iter().map(|s| s.span_id.as_str()).collect();
        let root = members
            .iter()
            .filter(|s| s.parent_id.is_empty() || !ids.contains(s.parent_id.as_str()))
            .min_by_key(|s| s.start_ns)
            .map_or("", |s| s.name.as_str());
        let mut services: Vec<&str> = members.iter().map(|s| s.service.as_str()).collect();
        services.sort_unstable();
        services.dedup();
        let errors = members.iter().filter(|s| s.error).count();
        let _ = writeln!(
            out,
            "{id:<32}  {:>5}  {:>9}  {errors:>6}  {root:<24}  {}",
            members.len(),
            format_duration(t1.saturating_sub(t0)),
            services.join(", ")
        );
    }
    out
}

fn read_request(request: &Value, spans: &mut Vec<ViewSpan>) {
    for rs in list(request, "resourceSpans", "resource_spans") {
        let resource = rs.get("resource").map(attributes).unwrap_or_default();
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for ss in list(rs, "scopeSpans", "scope_spans") {
            for s in list(ss, "spans", "spans") {
                let status = s.get("status");
                spans.push(ViewSpan {
                    trace_id: text(get(s, "traceId", "trace_id")),
                    span_id: text(get(s, "spanId", "span_id")),
                    parent_id: text(get(s, "parentSpanId", "parent_span_id")),
                    name: text(s.get("name")),
                    service: service.clone(),
                    start_ns: number(get(s, "startTimeUnixNano", "start_time_unix_nano")),
                    end_ns: number(get(s, "endTimeUnixNano", "end_time_unix_nano")),
                    error: is_error(status),
                    status_message: text(status.and_then(|st| st.get("message"))),
                    attributes: attributes(s),
                    events: list(s, "events", "events")
                        .map(|e| ViewEvent {
                            name: text(e.get("name")),
                            attributes: attributes(e),
                        })
                        .collect(),
                });
            }
        }
    }
}

/// How [`render`] draws.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Only this trace (32 hex digits); all traces when `None`.
    pub trace_id: Option<String>,
    /// Width of the bar column, in characters.
    pub bar_width: usize,
    /// ANSI colours (service colours, errors in red).
    pub color: bool,
    /// Which traces to draw.
    pub filter: TraceFilter,
    /// Each span's attributes and events under its line.
    pub details: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            trace_id: None,
            bar_width: 40,
            color: false,
            filter: TraceFilter::default(),
            details: false,
        }
    }
}

/// `1.23ms`, `456µs`, `2.50s`.
pub fn format_duration(ns: u64) -> String {
    match ns {
        n if n >= 1_000_000_000 => format!("{:.2}s", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.2}ms", n as f64 / 1e6),
        n => format!("{}µs", n / 1000),
    }
}

const COLORS: &[&str] = &["36", "35", "33", "32", "34", "96", "95", "93"];

struct Painter {
    color: bool,
    services: HashMap<String, &'static str>,
}

impl Painter {
    fn paint(&mut self, text: &str, service: &str) -> String {
        if !self.color {
            return text.to_owned();
        }
        let next = COLORS[self.services.len() % COLORS.len()];
        let code = *self.services.entry(service.to_owned()).or_insert(next);
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    fn red(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[31;1m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// Draws every trace (or the one asked for) as a waterfall.
pub fn render(spans: &[ViewSpan], options: &RenderOptions) -> String {
    let traces = traces(spans, options.trace_id.as_deref(), &options.filter);
    let mut painter = Painter {
        color: options.color,
        services: HashMap::new(),
    };
    let mut out = String::new();
    if traces.is_empty() {
        out.push_str("no spans\n");
    }
    for (id, members) in traces {
        render_trace(&mut out, id, &members, options, &mut painter);
    }
    out
}

fn render_trace(
    out: &mut String,
    trace_id: &str,
    spans: &[&ViewSpan],
    options: &RenderOptions,
    painter: &mut Painter,
) {
    let t0 = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let t1 = spans.iter().map(|s| s.end_ns).max().unwrap_or(t0);
    let total = t1.saturating_sub(t0).max(1);
    let mut correlations: Vec<&str> = spans
        .iter()
        .filter_map(|s| s.attributes.get("correlation_id").map(String::as_str))
        .collect();
    correlations.sort_unstable();
    correlations.dedup();
    let mut services: Vec<&str> = spans.iter().map(|s| s.service.as_str()).collect();
    services.sort_unstable();
    services.dedup();
    let errors = spans.iter().filter(|s| s.error).count();
    let _ = writeln!(out, "trace {trace_id}");
    let _ = writeln!(
        out,
        "correlation_id {}",
        if correlations.is_empty() {
            "(none)".to_owned()
        } else {
            correlations.join(", ")
        }
    );
    let _ = writeln!(
        out,
        "{} spans, {} services ({}), {}{}",
        spans.len(),
        services.len(),
        services.join(", "),
        format_duration(t1.saturating_sub(t0)),
        if errors > 0 {
            painter.red(&format!(", {errors} with errors"))
        } else {
            String::new()
        }
    );

    let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut children: HashMap<&str, Vec<&ViewSpan>> = HashMap::new();
    let mut roots = Vec::new();
    for s in spans {
        if s.parent_id.is_empty() || !ids.contains(s.parent_id.as_str()) {
            roots.push(*s);
        } else {
            children.entry(s.parent_id.as_str()).or_default().push(*s);
        }
    }
    let order = |v: &mut Vec<&ViewSpan>| v.sort_by_key(|s| (s.start_ns, s.end_ns));
    order(&mut roots);
    for v in children.values_mut() {
        order(v);
    }
    let width = options.bar_width.max(10);
    let _ = writeln!(
        out,
        "{:>9}  {:>9}  {:<width$}  span",
        "start", "duration", "timeline"
    );
    let mut stack: Vec<(&ViewSpan, String, bool)> = roots
        .iter()
        .rev()
        .enumerate()
        .map(|(i, s)| (*s, String::new(), i == 0))
        .collect();
    while let Some((span, prefix, last)) = stack.pop() {
        let offset = span.start_ns.saturating_sub(t0);
        let begin = ((offset as u128 * width as u128) / total as u128) as usize;
        let len = ((span.duration_ns() as u128 * width as u128).div_ceil(total as u128) as usize)
            .max(1)
            .min(width - begin.min(width - 1));
        let begin = begin.min(width - 1);
        let bar = format!(
            "{}{}{}",
            "·".repeat(begin),
            "█".repeat(len),
            "·".repeat(width - begin - len)
        );
        let is_root = span.parent_id.is_empty() || !ids.contains(span.parent_id.as_str());
        let branch = if is_root && prefix.is_empty() {
            ""
        } else if last {
            "└─ "
        } else {
            "├─ "
        };
        let mut label = format!("{prefix}{branch}{} [{}]", span.name, span.service);
        if span.error {
            let why = if span.status_message.is_empty() {
                "error".to_owned()
            } else {
                span.status_message
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            };
            label.push_str(&painter.red(&format!("  ✗ {why}")));
        }
        let _ = writeln!(
            out,
            "{:>9}  {:>9}  {}  {}",
            format_duration(offset),
            format_duration(span.duration_ns()),
            painter.paint(&bar, &span.service),
            label
        );
        let child_prefix = if is_root && prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}{}", if last { "   " } else { "│  " })
        };
        if options.details {
            let indent = format!("{:>9}  {:>9}  {:width$}  {child_prefix}   ", "", "", "");
            for (k, v) in &span.attributes {
                let _ = writeln!(out, "{indent}{k} = {v}");
            }
            for e in &span.events {
                let attrs: Vec<String> = e
                    .attributes
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let _ = writeln!(out, "{indent}• {} {}", e.name, attrs.join(" "));
            }
        }
        if let Some(kids) = children.get(span.span_id.as_str()) {
            for (i, kid) in kids.iter().enumerate().rev() {
                stack.push((kid, child_prefix.clone(), i == kids.len() - 1));
            }
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span_line(name: &str) -> String {
        format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"{name}","startTimeUnixNano":"1000","endTimeUnixNano":"2000"}}]}}]}}]}}"#
        )
    }

    #[test]
    fn a_bad_line_is_skipped_and_named_and_the_rest_is_read() {
        let good = span_line("first");
        let cut = &good[..good.len() / 2];
        let mut bytes = format!("{good}\n{cut}\n").into_bytes();
        bytes.extend_from_slice(b"\xff\xfe\n42\n\n");
        bytes.extend_from_slice(span_line("last").as_bytes()); // no final newline
        let file = read_span_file(&bytes[..]).unwrap();
        let names: Vec<_> = file.spans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["first", "last"]);
        let lines: Vec<_> = file.skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, [2, 3, 4]);
        assert_eq!(
            file.skipped_message().unwrap(),
            "skipped 3 lines that are not OTLP JSON (lines 2, 3, 4)"
        );
        // The strict reader still names the first bad line.
        let err = read_spans(&bytes[..]).unwrap_err().to_string();
        assert!(err.starts_with("line 2 is not JSON"), "{err}");
        assert_eq!(
            read_span_file(good.as_bytes()).unwrap().skipped_message(),
            None
        );
    }
}
