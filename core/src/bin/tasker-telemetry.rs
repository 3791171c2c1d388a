//! `tasker-telemetry`: command-line tools of the telemetry core.
//!
//! `tasker-telemetry view [--trace ID] [--width N] [--color auto|always|never] FILE...` draws
//! the traces of OTLP-JSON files (`telemetry.otlp.file`, or the Collector's file exporter) as
//! waterfalls in the terminal; `-` reads standard input. Lines that are not OTLP JSON (a line
//! cut short, say) are skipped and named in one line on stderr; the rest is drawn.

use std::io::{BufReader, IsTerminal, Write};
use std::process::ExitCode;

use tasker_telemetry::view::{read_span_file, render, RenderOptions};

const USAGE: &str = "usage: tasker-telemetry view [--trace TRACE_ID] [--width N] [--color auto|always|never] FILE...
  Draws the traces in OTLP-JSON lines files (one ExportTraceServiceRequest per line, as written
  with telemetry.otlp.file / TASKER_OTLP_FILE or by the OpenTelemetry Collector's file exporter)
  as waterfalls: one line per span, indented by parent, with service, duration and a bar.
  FILE may be - for standard input.";

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
    let mut spans = Vec::new();
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
    }
    let text = render(&spans, &options);
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    Ok(())
}
