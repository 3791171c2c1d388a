//! Command-line options of the example orchestrator.

use std::path::{Path, PathBuf};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The worker continues the trace from the headers.
    Workers,
    /// The worker hosts the handler in the core's Rust step path.
    InProcess,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Workers => "workers",
            Mode::InProcess => "in-process",
        }
    }
}

#[derive(Debug)]
pub struct Options {
    pub mode: Mode,
    pub fail_step: Option<String>,
    pub trace_file: PathBuf,
    pub view: bool,
    pub report: Option<PathBuf>,
    pub ruby: String,
    pub python: String,
    pub workers_dir: PathBuf,
}

pub fn parse_args(args: &[String]) -> Result<Options, String> {
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
