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

mod options;
mod worker;
mod workflow;

use std::io::BufReader;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;
use tasker_telemetry::fields::Fields;
use tasker_telemetry::lifecycle::LifecycleEvent;
use tasker_telemetry::view::{read_span_file, render, RenderOptions};
use tasker_telemetry::{propagation, stats, Correlation, TelemetryConfig};
use tracing::{info, info_span, warn};
use uuid::Uuid;

use options::{parse_args, Options};
use worker::{worker_command, Worker};
use workflow::{Run, NAMESPACE};

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

fn orchestrate(o: &Options) -> Result<(), String> {
    let mut config = TelemetryConfig::load().map_err(|e| e.to_string())?;
    if config.service_name.is_none() {
        config.service_name = Some("orchestrator".into());
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
        let read = read_span_file(BufReader::new(reader)).map_err(|e| e.to_string())?;
        if let Some(skipped) = read.skipped_message() {
            eprintln!("{skipped}");
        }
        let spans = read.spans;
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
