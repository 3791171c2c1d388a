//! `tasker-telemetry`: command-line tools of the telemetry core.
//!
//! `tasker-telemetry view [OPTIONS] FILE...` draws the traces of OTLP-JSON files
//! (`telemetry.otlp.file`, or the Collector's file exporter) as waterfalls in the terminal,
//! lists them one line each (`--list`), filters them, and prints metrics files as a table; `-`
//! reads standard input. Lines that are not OTLP JSON (a line
//! cut short, say) are skipped and named in one line on stderr; the rest is drawn.

use std::io::{BufReader, IsTerminal, Write};
use std::process::ExitCode;

use tasker_telemetry::view::{list_traces, read_span_file, render, render_metrics, RenderOptions};

const USAGE: &str = "usage: tasker-telemetry view [OPTIONS] FILE...
  Draws the traces in OTLP-JSON lines files (one ExportTraceServiceRequest per line, as written
  with telemetry.otlp.file / TASKER_OTLP_FILE or by the OpenTelemetry Collector's file exporter)
  as waterfalls: one line per span, indented by parent, with service, duration and a bar.
  Metric lines (ExportMetricsServiceRequest, the file exporter's metrics) are printed as a table
  after the traces. FILE may be - for standard input.
options:
  --list                one line per trace: id, spans, duration, errors, root span, services
  --service NAME        only traces with a span of this service
  --name TEXT           only traces with a span whose name contains TEXT
  --errors              only traces with a span in error
  --min-duration MS     only traces lasting at least MS milliseconds
  --trace TRACE_ID      only this trace
  --details             each span's attributes and events under its line
  --metrics             only the metrics table
  --width N             width of the timeline column (10 to 400, default 40)
  --color auto|always|never";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tasker-telemetry: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let Some((command, rest)) = args.split_first() else {
        return Err(format!("no command given\n{USAGE}"));
    };
    match command.as_str() {
        "view" => view(rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n{USAGE}")),
    }
}

fn view(args: &[String]) -> Result<(), String> {
    let mut options = RenderOptions {
        color: std::io::stdout().is_terminal(),
        ..RenderOptions::default()
    };
    let mut files = Vec::new();
    let (mut listing, mut metrics_only) = (false, false);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--trace" => options.trace_id = Some(value("--trace")?.to_lowercase()),
            "--width" => {
                let v = value("--width")?;
                options.bar_width = v
                    .parse()
                    .ok()
                    .filter(|w| (10..=400).contains(w))
                    .ok_or_else(|| format!("--width {v:?}: expected a number from 10 to 400"))?;
            }
            "--color" => {
                options.color = match value("--color")?.as_str() {
                    "always" => true,
                    "never" => false,
                    "auto" => std::io::stdout().is_terminal(),
                    other => {
                        return Err(format!("--color {other:?}: expected auto, always or never"))
                    }
                }
            }
            "--list" => listing = true,
            "--metrics" => metrics_only = true,
            "--details" => options.details = true,
            "--errors" => options.filter.errors_only = true,
            "--service" => options.filter.service = Some(value("--service")?),
            "--name" => options.filter.name = Some(value("--name")?),
            "--min-duration" => {
                let v = value("--min-duration")?;
                let ms: f64 = v
                    .parse()
                    .ok()
                    .filter(|ms: &f64| ms.is_finite() && *ms >= 0.0)
                    .ok_or_else(|| {
                        format!("--min-duration {v:?}: expected milliseconds (a number, 0 or more)")
                    })?;
                options.filter.min_duration_ns = (ms * 1e6) as u64;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            flag if flag.starts_with("--") => {
                return Err(format!("unknown option {flag}\n{USAGE}"))
            }
            file => files.push(file.to_owned()),
        }
    }
    if files.is_empty() {
        return Err(format!("no file given\n{USAGE}"));
    }
    let (mut spans, mut metrics) = (Vec::new(), Vec::new());
    for file in &files {
        let read = if file == "-" {
            read_span_file(std::io::stdin().lock())
        } else {
            let f = std::fs::File::open(file).map_err(|e| format!("cannot open {file}: {e}"))?;
            read_span_file(BufReader::new(f))
        };
        let read = read.map_err(|e| format!("{file}: {e}"))?;
        // A truncated or foreign line costs that line, not the file: said once, on stderr.
        if let Some(message) = read.skipped_message() {
            eprintln!("tasker-telemetry: {file}: {message}");
        }
        spans.extend(read.spans);
        metrics.extend(read.metrics);
    }
    let text = if metrics_only {
        render_metrics(&metrics)
    } else {
        let mut text = if spans.is_empty() && !metrics.is_empty() {
            String::new()
        } else if listing {
            list_traces(&spans, &options.filter)
        } else {
            render(&spans, &options)
        };
        if !metrics.is_empty() {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&render_metrics(&metrics));
        }
        text
    };
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    Ok(())
}
