//! The example orchestrator: runs the `order_fulfillment` workflow the way a Tasker orchestrator
//! does, with step handlers in three languages, as ONE trace with ONE correlation id.
//!
//! ```text
//! validate_order (Rust) → charge_payment (Ruby) → reserve_inventory ┐ (Python, concurrent)
//!                                                  send_confirmation ┘ → finalize (Rust)
//! ```
//!
//! The Ruby and Python steps run in worker processes (`examples/workers/`, ordinary scripts that
//! use only the installed gem and Python package). Each step is sent as one JSON line on the
//! worker's stdin with `correlation_id`, `task_uuid`, `step_uuid`, `namespace` and the W3C
//! headers of the orchestrator's step span; the reply is one JSON line on its stdout.
//!
//! Two handler modes (`--mode`):
//! - `workers` (default): the worker continues the trace itself (`with_remote_context` /
//!   `remote_context`, then `handler_span`);
//! - `in-process`: the worker hands the step to the core's Rust step path (`run_step`, through
//!   the extension), which opens the Rust `execute_step` span and calls the handler inside it,
//!   so the handler's spans nest under the current Rust span with no headers at all.
//!
//! Export: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, every process sends to that collector;
//! otherwise all of them append to one OTLP-JSON file (`--trace-file`), which `--view` draws as
//! a waterfall when the run ends. `--report FILE` writes what each process created (for the
//! integration tests). `--fail-step NAME` makes that step's first attempt fail (it is retried
//! once). Run `order_fulfillment --help` for every option.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tasker_telemetry::fields::Fields;
use tasker_telemetry::lifecycle::LifecycleEvent;
use tasker_telemetry::step::{run_step, StepMessage};
use tasker_telemetry::view::{read_spans, render, RenderOptions};
use tasker_telemetry::{propagation, stats, Correlation, TelemetryConfig};
use tracing::{info, info_span, warn, Span};
use uuid::Uuid;

const USAGE: &str = "usage: order_fulfillment [options]
  --mode workers|in-process   how Ruby/Python handlers run (default workers)
  --fail-step STEP            the first attempt of STEP fails and is retried once
  --trace-file PATH           OTLP-JSON file used when OTEL_EXPORTER_OTLP_ENDPOINT is unset
                              (default order_fulfillment.traces.jsonl; truncated at start)
  --view                      draw the trace file as a waterfall at the end
  --report PATH               write a JSON report (trace id, correlation id, spans per process)
  --ruby PATH                 Ruby interpreter (default ruby)
  --python PATH               Python interpreter with the package installed (default python3)
  --workers-dir DIR           folder of ruby_worker.rb / python_worker.py (default: the one
                              next to this example's sources)";

const NAMESPACE: &str = "order_fulfillment";
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Workers,
    InProcess,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Workers => "workers",
            Mode::InProcess => "in-process",
        }
    }
}

#[derive(Debug)]
struct Options {
    mode: Mode,
    fail_step: Option<String>,
    trace_file: PathBuf,
    view: bool,
    report: Option<PathBuf>,
    ruby: String,
    python: String,
    workers_dir: PathBuf,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        mode: Mode::Workers,
        fail_step: None,
        trace_file: PathBuf::from("order_fulfillment.traces.jsonl"),
        view: false,
        report: None,
        ruby: "ruby".into(),
        python: "python3".into(),
        workers_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("workers"),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--mode" => {
                o.mode = match value()?.as_str() {
                    "workers" => Mode::Workers,
                    "in-process" => Mode::InProcess,
                    other => {
                        return Err(format!("--mode {other:?}: expected workers or in-process"))
                    }
                }
            }
            "--fail-step" => o.fail_step = Some(value()?),
            "--trace-file" => o.trace_file = PathBuf::from(value()?),
            "--view" => o.view = true,
            "--report" => o.report = Some(PathBuf::from(value()?)),
            "--ruby" => o.ruby = value()?,
            "--python" => o.python = value()?,
            "--workers-dir" => o.workers_dir = PathBuf::from(value()?),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    Ok(o)
}

/// A worker process and the replies it sends, matched to requests by id.
struct Worker {
    service: &'static str,
    child: Mutex<Child>,
    stdin: Mutex<ChildStdin>,
    pending: Arc<Mutex<HashMap<u64, Sender<Value>>>>,
    next_id: Mutex<u64>,
}

impl Worker {
    fn start(service: &'static str, mut command: Command) -> Result<Worker, String> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .env("OTEL_SERVICE_NAME", service)
            .spawn()
            .map_err(|e| format!("cannot start the {service} ({command:?}): {e}"))?;
        let stdin = child.stdin.take().ok_or("worker stdin")?;
        let stdout = child.stdout.take().ok_or("worker stdout")?;
        let pending: Arc<Mutex<HashMap<u64, Sender<Value>>>> = Arc::default();
        let replies = pending.clone();
        std::thread::Builder::new()
            .name(format!("{service}-replies"))
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let Ok(reply) = serde_json::from_str::<Value>(&line) else {
                        eprintln!("[{service}] not a reply: {line}");
                        continue;
                    };
                    let id = reply.get("id").and_then(Value::as_u64).unwrap_or(0);
                    let waiter = replies
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&id);
                    if let Some(tx) = waiter {
                        let _ = tx.send(reply);
                    }
                }
                // The worker is gone: every waiting call fails now instead of timing out.
                let mut pending = replies.lock().unwrap_or_else(|e| e.into_inner());
                pending.clear();
                pending.insert(u64::MAX, mpsc::channel().0); // marks the worker closed
            })
            .map_err(|e| format!("reader thread: {e}"))?;
        let worker = Worker {
            service,
            child: Mutex::new(child),
            stdin: Mutex::new(stdin),
            pending,
            next_id: Mutex::new(1),
        };
        // Wait until it has loaded its packages, so interpreter start-up is not in the trace.
        worker.call(json!({"type": "ping"}))?;
        Ok(worker)
    }

    /// Sends `message` (an `id` is added) and waits for the reply with that id.
    fn call(&self, mut message: Value) -> Result<Value, String> {
        let id = {
            let mut next = self.next_id.lock().unwrap_or_else(|e| e.into_inner());
            *next += 1;
            *next
        };
        message["id"] = json!(id);
        let (tx, rx): (Sender<Value>, Receiver<Value>) = mpsc::channel();
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if pending.contains_key(&u64::MAX) {
                return Err(self.exited());
            }
            pending.insert(id, tx);
        }
        {
            let mut stdin = self.stdin.lock().unwrap_or_else(|e| e.into_inner());
            writeln!(stdin, "{message}")
                .and_then(|()| stdin.flush())
                .map_err(|e| format!("{} is gone (write: {e})", self.service))?;
        }
        rx.recv_timeout(REPLY_TIMEOUT).map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => {
                format!("{} did not answer within {REPLY_TIMEOUT:?}", self.service)
            }
            mpsc::RecvTimeoutError::Disconnected => self.exited(),
        })
    }

    fn exited(&self) -> String {
        let status = self
            .child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .wait()
            .map(|s| s.to_string())
            .unwrap_or_else(|e| e.to_string());
        format!(
            "the {} exited ({status}) before answering; its error is printed above",
            self.service
        )
    }

    /// Asks the worker to flush and exit; returns the span count it reports.
    fn stop(&self) -> Result<Value, String> {
        let reply = self.call(json!({"type": "shutdown"}))?;
        let status = self
            .child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .wait()
            .map_err(|e| format!("{}: {e}", self.service))?;
        if !status.success() {
            return Err(format!("{} exited with {status}", self.service));
        }
        Ok(reply)
    }
}

/// What the orchestrator knows about one step attempt.
#[derive(Debug, Clone)]
struct Attempt {
    step: &'static str,
    attempt: i64,
    service: &'static str,
    step_span_id: String,
    ok: bool,
    reply: Value,
}

struct Run {
    mode: Mode,
    fail_step: Option<String>,
    correlation: Correlation,
    task: Span,
    ruby: Worker,
    python: Worker,
    attempts: Mutex<Vec<Attempt>>,
}

fn current_span_id() -> String {
    propagation::ids(&opentelemetry::Context::current())
        .map(|(_, span)| span)
        .unwrap_or_default()
}

impl Run {
    fn message(&self, step: &str, handler: &str, attempt: i64) -> Value {
        json!({
            "step_name": step,
            "handler": handler,
            "attempt": attempt,
            "retry_limit": 2,
            "correlation_id": self.correlation.correlation_id.to_string(),
            "task_uuid": self.correlation.task_uuid.map(|u| u.to_string()),
            "step_uuid": Uuid::now_v7().to_string(),
            "namespace": NAMESPACE,
            "task_name": NAMESPACE,
        })
    }

    fn fails(&self, step: &str, attempt: i64) -> bool {
        attempt == 1 && self.fail_step.as_deref() == Some(step)
    }

    /// Runs one step (retrying once on failure) under a `step <name>` span per attempt.
    fn step(
        &self,
        step: &'static str,
        service: &'static str,
        input: Value,
    ) -> Result<Value, String> {
        for attempt in 1..=2 {
            let span = info_span!(parent: &self.task, "step", otel.name = format!("step {step}"),
                step_name = step, attempt, service, otel.status_code = tracing::field::Empty);
            let _entered = span.enter();
            let fields = Fields::new();
            LifecycleEvent::StepEnqueued.emit(None, &[], &fields);
            let reply = match service {
                "orchestrator" => self.rust_step(step, attempt),
                _ => {
                    let mut message = self.message(step, handler_of(step), attempt);
                    message["headers"] = json!(propagation::inject());
                    let worker = if service == "ruby-worker" {
                        &self.ruby
                    } else {
                        &self.python
                    };
                    worker.call(json!({
                        "type": "step",
                        "mode": self.mode.name(),
                        "step": message,
                        "input": input,
                        "fail": self.fails(step, attempt),
                    }))?
                }
            };
            let ok = reply.get("ok").and_then(Value::as_bool).unwrap_or(false);
            self.attempts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Attempt {
                    step,
                    attempt,
                    service,
                    step_span_id: current_span_id(),
                    ok,
                    reply: reply.clone(),
                });
            if ok {
                info!(step, attempt, "step completed");
                return Ok(reply.get("result").cloned().unwrap_or(Value::Null));
            }
            let error = reply
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("unknown error");
            span.record("otel.status_code", "error");
            warn!(step, attempt, error, "step failed");
            if attempt == 1 {
                LifecycleEvent::StepRetryScheduled.emit(None, &[], &fields);
            }
        }
        Err(format!("step {step} failed twice"))
    }

    /// A Rust step handler, run through the same per-step path the workers use.
    fn rust_step(&self, step: &str, attempt: i64) -> Value {
        let message = StepMessage {
            step_name: step.to_owned(),
            handler: handler_of(step).to_owned(),
            attempt,
            correlation: self.correlation.clone().with_step(Uuid::now_v7()),
            headers: HashMap::new(),
        };
        let fail = self.fails(step, attempt);
        let result = run_step(&message, || -> Result<Value, String> {
            let span = info_span!("rust_handler", otel.name = format!("{step}_handler"));
            let _e = span.enter();
            if fail {
                return Err(format!("{step}: simulated failure"));
            }
            let total: i64 = (1..=100).sum();
            std::thread::sleep(Duration::from_millis(3));
            info!(step, total, "rust handler done");
            Ok(json!({"checked": true, "total": total}))
        });
        match result {
            Ok(v) => json!({"ok": true, "result": v}),
            Err(e) => json!({"ok": false, "error": e}),
        }
    }
}

fn handler_of(step: &str) -> &'static str {
    match step {
        "validate_order" => "ValidateOrder",
        "charge_payment" => "PaymentHandler",
        "reserve_inventory" => "ReserveInventoryHandler",
        "send_confirmation" => "SendConfirmationHandler",
        _ => "FinalizeOrder",
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse_args(&args) {
        Ok(o) => o,
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::from(2);
        }
    };
    match orchestrate(&options) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("order_fulfillment: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn worker_command(interpreter: &str, script: &Path, file: Option<&Path>) -> Command {
    let mut c = Command::new(interpreter);
    c.arg(script).env("TASKER_TRACING_AUTO_INIT", "0");
    if let Some(file) = file {
        c.env("TASKER_OTLP_FILE", file);
    }
    c
}

fn orchestrate(o: &Options) -> Result<(), String> {
    let mut config = TelemetryConfig::load().map_err(|e| e.to_string())?;
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        config.service_name = "orchestrator".into();
    }
    let file = if config.otlp.endpoint.is_none() {
        if let Some(dir) = o.trace_file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&o.trace_file, "")
            .map_err(|e| format!("{}: {e}", o.trace_file.display()))?;
        let path = std::fs::canonicalize(&o.trace_file).map_err(|e| e.to_string())?;
        config.otlp.file = Some(path.clone());
        Some(path)
    } else {
        None
    };
    let destination = match &file {
        Some(f) => format!("OTLP-JSON file {}", f.display()),
        None => format!(
            "collector {}",
            config.otlp.endpoint.clone().unwrap_or_default()
        ),
    };
    let guard = tasker_telemetry::init(config).map_err(|e| e.to_string())?;

    let ruby = Worker::start(
        "ruby-worker",
        worker_command(
            &o.ruby,
            &o.workers_dir.join("ruby_worker.rb"),
            file.as_deref(),
        ),
    )?;
    let python = Worker::start(
        "python-worker",
        worker_command(
            &o.python,
            &o.workers_dir.join("python_worker.py"),
            file.as_deref(),
        ),
    )?;

    let correlation = Correlation::new()
        .with_namespace(NAMESPACE)
        .with_task(Uuid::now_v7());
    let scope = correlation.clone().enter();
    let task = info_span!(
        "task",
        otel.name = "order_fulfillment",
        task_name = NAMESPACE,
        mode = o.mode.name(),
        otel.status_code = tracing::field::Empty
    );
    let (trace_id, _) = task
        .in_scope(|| propagation::ids(&opentelemetry::Context::current()))
        .unwrap_or_default();
    let run = Run {
        mode: o.mode,
        fail_step: o.fail_step.clone(),
        correlation,
        task,
        ruby,
        python,
        attempts: Mutex::new(Vec::new()),
    };
    let started = Instant::now();
    let outcome = run.task.in_scope(|| -> Result<(), String> {
        LifecycleEvent::TaskInitialized.emit(None, &[], &Fields::new());
        info!(destination, mode = o.mode.name(), "order_fulfillment started");
        let order = json!({"order_id": 1042, "items": [{"sku": "TEA-01", "qty": 2}, {"sku": "MUG-07", "qty": 1}],
                           "amount_cents": 4200, "email": "ada@example.com"});
        run.step("validate_order", "orchestrator", order.clone())?;
        let payment = run.step("charge_payment", "ruby-worker", order.clone())?;
        LifecycleEvent::TaskStepsEnqueued.emit(None, &[], &Fields::new());
        let parallel = std::thread::scope(|s| {
            let handles: Vec<_> = ["reserve_inventory", "send_confirmation"]
                .into_iter()
                .map(|step| {
                    let input = json!({"order": order, "payment": payment});
                    let correlation = run.correlation.clone();
                    let run = &run;
                    s.spawn(move || correlation.in_scope(|| run.step(step, "python-worker", input)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("step thread panicked".into())))
                .collect::<Result<Vec<_>, _>>()
        });
        parallel?;
        LifecycleEvent::TaskFinalizationReady.emit(None, &[], &Fields::new());
        run.step("finalize", "orchestrator", json!({"order_id": 1042}))?;
        LifecycleEvent::TaskCompleted.emit(Some(started.elapsed()), &[], &Fields::new());
        Ok(())
    });
    if let Err(e) = &outcome {
        run.task.record("otel.status_code", "error");
        LifecycleEvent::TaskFailed.emit(Some(started.elapsed()), &[], &Fields::new());
        warn!(error = %e, "order_fulfillment failed");
    }
    info!(correlation_id = %run.correlation.correlation_id, trace_id, "order_fulfillment finished");

    let Run {
        task,
        ruby,
        python,
        attempts,
        correlation,
        ..
    } = run;
    drop(task);
    drop(scope);
    let ruby_stats = ruby.stop()?;
    let python_stats = python.stop()?;
    guard
        .shutdown(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let own = stats::stats();
    outcome?;

    if let Some(path) = &o.report {
        let attempts = attempts.into_inner().unwrap_or_else(|e| e.into_inner());
        let report = json!({
            "mode": o.mode.name(),
            "trace_id": trace_id,
            "correlation_id": correlation.correlation_id.to_string(),
            "spans": {
                "orchestrator": own.spans_ended,
                "ruby-worker": ruby_stats.get("spans_ended"),
                "python-worker": python_stats.get("spans_ended"),
            },
            "attempts": attempts.iter().map(|a| json!({
                "step": a.step, "attempt": a.attempt, "service": a.service,
                "step_span_id": a.step_span_id, "ok": a.ok, "reply": a.reply,
            })).collect::<Vec<_>>(),
        });
        std::fs::write(path, format!("{report:#}\n"))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let (true, Some(file)) = (o.view, &file) {
        let reader = std::fs::File::open(file).map_err(|e| e.to_string())?;
        let spans = read_spans(BufReader::new(reader)).map_err(|e| e.to_string())?;
        let color = std::io::IsTerminal::is_terminal(&std::io::stdout());
        print!(
            "{}",
            render(
                &spans,
                &RenderOptions {
                    color,
                    ..RenderOptions::default()
                }
            )
        );
        println!(
            "(all {} spans of the run are in {}; draw it again with `tasker-telemetry view {}`)",
            spans.len(),
            file.display(),
            file.display()
        );
    }
    Ok(())
}
