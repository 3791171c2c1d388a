//! A real OTLP collector for tests: `rotel-agent` (from the `rotel` PyPI package) started on
//! free loopback ports, printing every span and metric it receives; plus a parser for that
//! output.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where `rotel-agent` is: `$ROTEL_AGENT`, the project's `.venv`, or `PATH`.
pub fn rotel_agent() -> PathBuf {
    if let Some(p) = std::env::var_os("ROTEL_AGENT") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    if let Ok(entries) = std::fs::read_dir(root.join(".venv/lib")) {
        for e in entries.flatten() {
            let candidate = e.path().join("site-packages/rotel/rotel-agent");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("rotel-agent").is_file() {
                return dir.join("rotel-agent");
            }
        }
    }
    panic!("rotel-agent not found: run `bash scripts/test.sh` (installs it into .venv) or set ROTEL_AGENT");
}

/// A free loopback port (nothing listens on it once this returns).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running collector; killed on drop.
pub struct Collector {
    child: Child,
    out: PathBuf,
    pub grpc_port: u16,
    pub http_port: u16,
}

impl Collector {
    pub fn start() -> Collector {
        Self::start_on(free_port(), free_port())
    }

    /// Starts a collector on the given ports (e.g. where an exporter already sends).
    pub fn start_on(grpc_port: u16, http_port: u16) -> Collector {
        let out =
            std::env::temp_dir().join(format!("rotel-{}-{grpc_port}.log", std::process::id()));
        let file = std::fs::File::create(&out).unwrap();
        let child = Command::new(rotel_agent())
            .args([
                "start",
                "--otlp-grpc-endpoint",
                &format!("127.0.0.1:{grpc_port}"),
            ])
            .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http_port}")])
            .args([
                "--debug-log",
                "traces",
                "--debug-log",
                "metrics",
                "--debug-log",
                "logs",
            ])
            .args([
                "--debug-log-verbosity",
                "detailed",
                "--exporter",
                "blackhole",
            ])
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .expect("start rotel-agent");
        let c = Collector {
            child,
            out,
            grpc_port,
            http_port,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", http_port)).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", grpc_port)).is_err()
        {
            assert!(
                Instant::now() < deadline,
                "rotel-agent did not start: {}",
                c.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        c
    }

    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    pub fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Waits until `done(parsed output)` or panics after `timeout` with the output.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&Received) -> bool) -> Received {
        let deadline = Instant::now() + timeout;
        loop {
            let received = parse(&self.output());
            if done(&received) {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "collector never received what was expected; it printed:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.out);
    }
}

/// One span as the collector printed it.
#[derive(Debug, Clone, Default)]
pub struct Span {
    pub service: String,
    pub trace_id: String,
    pub parent_id: String,
    pub span_id: String,
    pub name: String,
    pub status: String,
    pub attributes: BTreeMap<String, String>,
    pub events: Vec<String>,
}

/// One metric data point as printed.
#[derive(Debug, Clone, Default)]
pub struct Metric {
    pub service: String,
    pub name: String,
    pub values: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Received {
    pub spans: Vec<Span>,
    pub metrics: Vec<Metric>,
}

impl Received {
    pub fn span(&self, name: &str) -> Option<&Span> {
        self.spans.iter().find(|s| s.name == name)
    }
    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().rev().find(|m| m.name == name)
    }
}

/// `-> key: Str(value)` → (key, value)
fn attribute(line: &str) -> Option<(String, String)> {
    let rest = line.trim().strip_prefix("-> ")?;
    let (key, value) = rest.split_once(": ")?;
    let value = value
        .split_once('(')
        .map(|(_, v)| v.strip_suffix(')').unwrap_or(v))
        .unwrap_or(value);
    Some((key.to_owned(), value.to_owned()))
}

pub fn parse(text: &str) -> Received {
    let mut received = Received::default();
    let mut service = String::new();
    let mut span: Option<Span> = None;
    let mut metric: Option<Metric> = None;
    #[derive(PartialEq)]
    enum Section {
        Resource,
        Attributes,
        Events,
        Other,
    }
    let mut section = Section::Other;
    let flush_span = |span: &mut Option<Span>, received: &mut Received| {
        if let Some(s) = span.take() {
            received.spans.push(s);
        }
    };
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("ResourceSpans #")
            || t.starts_with("ResourceMetrics #")
            || t.starts_with("ResourceLogs #")
        {
            flush_span(&mut span, &mut received);
            if let Some(m) = metric.take() {
                received.metrics.push(m);
            }
            section = Section::Other;
        } else if t == "Resource attributes:" {
            section = Section::Resource;
        } else if t.starts_with("Span #") {
            flush_span(&mut span, &mut received);
            span = Some(Span {
                service: service.clone(),
                ..Span::default()
            });
            section = Section::Other;
        } else if t.starts_with("Metric #") {
            if let Some(m) = metric.take() {
                received.metrics.push(m);
            }
            metric = Some(Metric {
                service: service.clone(),
                ..Metric::default()
            });
            section = Section::Other;
        } else if t == "Attributes:" {
            section = Section::Attributes;
        } else if t == "Events:" {
            section = Section::Events;
        } else if let (Some(s), Some((k, v))) = (span.as_mut(), t.split_once(" : ")) {
            match k.trim() {
                "Trace ID" => s.trace_id = v.trim().to_owned(),
                "Parent ID" => s.parent_id = v.trim().to_owned(),
                "ID" => s.span_id = v.trim().to_owned(),
                "Name" => s.name = v.trim().to_owned(),
                "Status code" => s.status = v.trim().to_owned(),
                _ => {}
            }
        } else if let Some((k, v)) = attribute(line) {
            match section {
                Section::Resource if k == "service.name" => service = v,
                Section::Attributes => {
                    if let Some(s) = span.as_mut() {
                        s.attributes.insert(k, v);
                    }
                }
                Section::Events if k == "Name" => {
                    if let Some(s) = span.as_mut() {
                        s.events.push(v);
                    }
                }
                _ => {
                    if let (Some(m), "Name") = (metric.as_mut(), k.as_str()) {
                        m.name = v;
                    }
                }
            }
        } else if let (Some(m), Some(v)) = (
            metric.as_mut(),
            t.strip_prefix("Value: ")
                .or_else(|| t.strip_prefix("Count: ")),
        ) {
            m.values.push(v.to_owned());
        }
    }
    flush_span(&mut span, &mut received);
    if let Some(m) = metric.take() {
        received.metrics.push(m);
    }
    received
}
